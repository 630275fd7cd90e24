"""The local server's classifier: it learns, it keeps, it takes any image, it says when it cannot."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from nanoclient.server.image_categorization import trainer


def bars(direction: str, seed: int, *, size: int = 40, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A noisy image with one bar, horizontal or vertical, at a random place, in random colours."""
    rng = random.Random(f"{direction}/{seed}")
    background = tuple(rng.randrange(0, 110) for _ in range(3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    long, short = rng.randrange(size // 2, size - 4), rng.randrange(4, 8)
    x, y = rng.randrange(0, size - long), rng.randrange(0, size - short)
    box = (x, y, x + long, y + short) if direction == "horizontal" else (y, x, y + short, x + long)
    draw.rectangle(box, fill=tuple(rng.randrange(150, 256) for _ in range(3)))
    pixels = np.asarray(image, dtype=np.int16) + np.random.default_rng(seed).integers(-15, 16, (size, size, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def dataset(per_class: int, start: int = 0) -> tuple[list[bytes], list[str]]:
    images, labels = [], []
    for i in range(start, start + per_class):
        for direction in ("horizontal", "vertical"):
            images.append(bars(direction, i))
            labels.append(direction)
    return images, labels


@pytest.fixture(scope="module")
def fitted():
    images, labels = dataset(30)
    return trainer.train(images, labels)


def test_learns_what_it_is_shown_and_measures_it_on_held_out_images(fitted):
    classifier, accuracy, held_out = fitted
    assert classifier.labels == ["horizontal", "vertical"]
    assert held_out == 12 and accuracy is not None and accuracy >= 0.8  # 12 held-out images of 60
    images, labels = dataset(20, start=1000)  # never seen
    probabilities = classifier.predict_proba(images)
    assert probabilities.shape == (40, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5) and (probabilities >= 0).all()
    predicted = [classifier.labels[i] for i in probabilities.argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, labels, strict=True)]) >= 0.85


def test_saved_classifier_loads_without_pickle_and_predicts_the_same(fitted, tmp_path):
    classifier = fitted.classifier
    path = tmp_path / "model.clf"
    classifier.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.clf"]  # no temporary file left
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert "labels" in data.files
    loaded = trainer.Classifier.load(path)
    probe = dataset(3, start=500)[0]
    assert loaded.labels == classifier.labels
    assert np.allclose(loaded.predict_proba(probe), classifier.predict_proba(probe), atol=1e-6)


def test_any_size_mode_and_format_is_accepted(fitted, tmp_path):
    classifier = fitted.classifier
    path = tmp_path / "vertical.jpg"
    path.write_bytes(bars("vertical", 7, size=97, fmt="JPEG"))
    images = [bars("horizontal", 3, size=13, mode="L"), bars("vertical", 4, size=200, mode="RGBA"),
              bars("horizontal", 5, mode="P"), bars("vertical", 6, mode="1"), str(path)]
    probabilities = classifier.predict_proba(images)
    assert probabilities.shape == (5, 2) and np.isfinite(probabilities).all()


def test_colour_alone_can_separate_categories():
    def solid(colour, seed):
        noise = np.random.default_rng(seed).integers(-20, 21, (16, 16, 3))
        out = io.BytesIO()
        Image.fromarray(np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)).save(out, "PNG")
        return out.getvalue()

    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
    images = [solid(c, i) for name, c in colours.items() for i in range(4)]
    labels = [name for name in colours for _ in range(4)]
    classifier = trainer.train(images, labels).classifier
    probe = [solid(c, 100 + i) for i, c in enumerate(colours.values())]
    assert [classifier.labels[i] for i in classifier.predict_proba(probe).argmax(axis=1)] == list(colours)


def test_same_seed_same_classifier():
    images, labels = dataset(8)
    first, a1, _ = trainer.train(images, labels, seed=3)
    second, a2, _ = trainer.train(images, labels, seed=3)
    assert a1 == a2 and np.array_equal(first.weights, second.weights)


def test_too_few_images_to_hold_out_gives_no_accuracy():
    images, labels = dataset(1)
    classifier, accuracy, held_out = trainer.train(images + [bars("vertical", 99)], labels + ["vertical"])
    assert accuracy is None and held_out == 0 and classifier.labels == ["horizontal", "vertical"]


def test_one_category_cannot_train():
    with pytest.raises(ValueError, match="at least 2 categories"):
        trainer.train([bars("vertical", i) for i in range(5)], ["vertical"] * 5)


def test_cross_validation_gives_one_score_per_fold():
    images, labels = dataset(10)
    result = trainer.cross_validate(images, labels, folds=4)
    assert len(result.scores) == 4 and all(0.0 <= s <= 1.0 for s in result.scores)
    assert np.mean(result.scores) >= 0.7
    # every image was held out once: its top probability and whether it was right
    assert result.confidence.shape == (20,) and ((0.5 <= result.confidence) & (result.confidence <= 1)).all()
    assert result.correct.mean() == pytest.approx(np.mean(result.scores))
    assert 0.0 <= result.calibration_error <= 0.5


def test_calibration_error_is_the_gap_between_confidence_and_accuracy():
    def ece(confidence, correct):
        return trainer.calibration_error(np.array(confidence), np.array(correct, dtype=bool))

    assert ece([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)  # "90 %" right 9 times in 10
    assert ece([1.0] * 4, [True, False, True, False]) == pytest.approx(0.5)  # sure, and right half the time
    # bins weigh by their images: 3 of 4 in a perfect bin, 1 overconfident by 0.95
    assert ece([0.5, 0.5, 0.5, 0.95], [True, False, True, False]) == pytest.approx((3 * (2 / 3 - 0.5) + 0.95) / 4)


def test_fewer_images_than_columns_gives_the_same_fit_as_the_columns_themselves():
    """The softmax layer is fitted in the images' coordinates when they are fewer than the columns:
    the same optimum as scikit-learn's own fit on the columns (the L2 optimum lies in their span)."""
    from sklearn.linear_model import LogisticRegression

    images, labels = dataset(12)
    features = trainer.Features.fit(trainer.load_pixels(images), atoms=16)
    x = features.transform(trainer.load_pixels(images))
    assert len(x) < x.shape[1]
    fitted = trainer.Classifier.fit(features, x, labels, spectrum_weight=1.0)
    direct = LogisticRegression(C=trainer.REGULARISATION, solver="newton-cg", max_iter=300, tol=1e-6)
    direct.fit((x - fitted.centre) / fitted.scale, labels)
    assert np.allclose(fitted.weights[1] - fitted.weights[0], direct.coef_[0], atol=2e-3 * abs(direct.coef_).max())
    assert np.allclose(fitted.predict_proba_features(x)[:, 1],
                       direct.predict_proba((x - fitted.centre) / fitted.scale)[:, 1], atol=2e-3)


def polygon(sides: int, seed: int, size: int = 48) -> bytes:
    """A filled regular polygon at a random angle, size and place."""
    import math

    rng = random.Random(f"{sides}/{seed}")
    image = Image.new("L", (size, size), rng.randrange(0, 90))
    radius, angle = rng.uniform(0.28, 0.4) * size, rng.uniform(0, 2 * math.pi)
    cx, cy = (size / 2 + rng.uniform(-5, 5) for _ in range(2))
    ImageDraw.Draw(image).polygon([(cx + radius * math.cos(angle + 2 * math.pi * k / sides),
                                    cy + radius * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)],
                                  fill=rng.randrange(160, 256))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_shapes_at_any_angle_are_told_apart():
    """Triangles from squares, each turned at random: the rotation-invariant spectrum's job."""
    images = [polygon(sides, i) for sides in (3, 4) for i in range(30)]
    labels = [name for name in ("triangle", "square") for _ in range(30)]
    classifier = trainer.train(images, labels).classifier
    probe = [polygon(sides, 1000 + i) for sides in (3, 4) for i in range(15)]
    predicted = [classifier.labels[i] for i in classifier.predict_proba(probe).argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, ["triangle"] * 15 + ["square"] * 15, strict=True)]) >= 0.85


def test_spectrum_weight_is_chosen_by_validation():
    images = [polygon(sides, i) for sides in (3, 4) for i in range(30)]
    labels = [name for name in ("triangle", "square") for _ in range(30)]
    features = trainer.Features.fit(trainer.load_pixels(images))
    x = features.transform(trainer.load_pixels(images))
    assert trainer.choose_spectrum_weight(features, x, labels) > 0
    few = [0, 1, 30, 31]  # too few to split: the middle weight
    assert trainer.choose_spectrum_weight(features, x[few], [labels[i] for i in few]) == trainer.SPECTRUM_WEIGHTS[1]


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    """``image`` saved as ``fmt`` (Pillow's save options), as bytes."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_images_are_seen_as_viewers_show_them_turned_by_their_exif_orientation():
    stored = Image.new("L", (40, 40), 230)
    stored.paste(20, (0, 0, 20, 40))  # stored: left half dark
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: turn 90 degrees clockwise to show
    shown = trainer.load_pixels([encoded(stored, "JPEG", exif=exif.tobytes(), quality=95)])[0].mean(axis=2)
    half = trainer.SIZE // 2
    top, bottom = shown[:half - 1].mean(), shown[half + 1:].mean()  # shown: top half dark
    left, right = shown[:, :half - 1].mean(), shown[:, half + 1:].mean()
    assert top < 0.2 < 0.8 < bottom and abs(left - right) < 0.05


def png48(values: np.ndarray) -> bytes:
    """A 48-bit PNG (16 bits per channel) of these (h, w, 3) values, written by hand: Pillow writes none."""
    import struct
    import zlib

    height, width = values.shape[:2]
    rows = b"".join(b"\0" + values[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)  # 16 bits, colour type 2: RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_images_are_scaled_to_8_bits_not_clipped_to_white():
    grey = Image.fromarray(np.full((30, 30), 128 * 257, dtype=np.uint16))  # mid-grey
    assert grey.mode == "I;16"
    colour = np.full((30, 30, 3), (128 * 257, 65535, 0), dtype=np.uint16)  # 48-bit RGB
    pixels = trainer.load_pixels([encoded(grey, "PNG"), png48(colour)]) * 255
    assert np.allclose(pixels[0], 128, atol=0.5) and np.allclose(pixels[1], (128, 255, 0), atol=0.5)
    wide = Image.fromarray(np.full((2, 2), 128 * 257, dtype=np.int32))  # mode I: how older Pillows read 16-bit PNGs
    assert wide.mode == "I" and np.asarray(trainer._eight_bits(wide)).tolist() == [[128, 128], [128, 128]]


def test_edges_are_seen_in_colour_even_where_brightness_is_equal():
    """A shape that differs from its background in hue alone still has an outline (the spectrum's
    and the edge histograms' input), which grey levels would lose."""
    left, right = (200, 50, 100), (0, 150, 108)  # both of luma about 100.5
    pixels = np.zeros((1, 12, 12, 3), dtype=np.float32)
    pixels[0, :, :6], pixels[0, :, 6:] = np.array(left) / 255, np.array(right) / 255
    grey = trainer._grey(pixels)
    assert np.ptp(grey) < 0.002  # grey: no edge at all
    magnitude, direction = trainer._gradients(pixels)
    assert magnitude[0, :, 5:7].min() > 0.5 and np.allclose(direction[0, 1:-1, 5:7], 0.0)  # a vertical edge


def star_or_cross(kind: str, seed: int, size: int = 56) -> bytes:
    """A five-pointed star or a plus-shaped cross at a random angle, on a background of another hue."""
    import math

    rng = random.Random(f"{kind}/{seed}")
    image = Image.new("RGB", (size, size), tuple(rng.randrange(0, 256) for _ in range(3)))
    radius, angle = rng.uniform(0.3, 0.42) * size, rng.uniform(0, 2 * math.pi)
    if kind == "star":
        outline = [(radius * (1 if k % 2 == 0 else 0.45), angle + math.pi * k / 5) for k in range(10)]
    else:
        arm = math.atan2(0.33, 1.0)  # the corners of a plus, as (radius, angle) pairs
        inner = radius * 0.33 * math.sqrt(2)
        outline = [pair for q in range(4) for pair in ((radius * math.hypot(1, 0.33), angle + q * math.pi / 2 - arm),
                                                        (radius * math.hypot(1, 0.33), angle + q * math.pi / 2 + arm),
                                                        (inner, angle + q * math.pi / 2 + math.pi / 4))]
    centre = size / 2
    fill = tuple(rng.randrange(0, 256) for _ in range(3))
    ImageDraw.Draw(image).polygon([(centre + r * math.cos(a), centre + r * math.sin(a)) for r, a in outline], fill=fill)
    noise = np.random.default_rng(seed).integers(-12, 13, (size, size, 3))
    return encoded(Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8)), "PNG")


def test_crosses_are_not_read_as_stars():
    """Crosses and stars in random colours and angles, on grainy backgrounds (the project's shapes had
    crosses read as stars: grey levels hid some outlines, and grain spread the edge directions)."""
    images = [star_or_cross(kind, i) for kind in ("cross", "star") for i in range(25)]
    labels = [kind for kind in ("cross", "star") for _ in range(25)]
    classifier = trainer.train(images, labels).classifier
    probe = [star_or_cross(kind, 500 + i) for kind in ("cross", "star") for i in range(20)]
    predicted = [classifier.labels[i] for i in classifier.predict_proba(probe).argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, ["cross"] * 20 + ["star"] * 20, strict=True)]) >= 0.9


def test_a_fit_started_from_another_reaches_the_same_classifier():
    """``start`` saves solver steps, never changes the answer: another subset's fit, on other
    standardisation, is carried over to these columns and the optimum is the same."""
    images = [polygon(sides, seed) for sides in (3, 4, 5) for seed in range(14)]
    labels = [str(sides) for sides in (3, 4, 5) for _ in range(14)]
    pixels = trainer.load_pixels(images)
    features = trainer.Features.fit(pixels, atoms=16)
    x = features.transform(pixels)
    subset = np.arange(len(x)) % 3 != 0
    start = trainer.Classifier.fit(features, x[subset], np.asarray(labels)[subset], spectrum_weight=2.0)
    cold = trainer.Classifier.fit(features, x, labels, spectrum_weight=1.0)
    warm = trainer.Classifier.fit(features, x, labels, spectrum_weight=1.0, start=start)
    carried = start._weights_for(cold.labels, cold.centre, cold.scale)
    assert carried is not None  # the start's scores, exactly, on the new standardisation
    assert np.allclose(((x - cold.centre) / cold.scale) @ carried[0].T + carried[1],
                       ((x - start.centre) / start.scale) @ start.weights.T + start.bias, atol=1e-4)
    assert not np.allclose(start.predict_proba_features(x), cold.predict_proba_features(x), atol=1e-3)
    assert np.allclose(warm.predict_proba_features(x), cold.predict_proba_features(x), atol=2e-3)


def moved(image: bytes, seed: int, most: int = 4) -> bytes:
    """``image`` moved by up to ``most`` pixels each way, the uncovered edge in its corner's colour."""
    rng = random.Random(seed)
    with Image.open(io.BytesIO(image)) as shape:
        canvas = Image.new("RGB", shape.size, shape.getpixel((0, 0)))
        canvas.paste(shape, (rng.randint(-most, most), rng.randint(-most, most)))
    return encoded(canvas, "PNG")


def test_edges_around_the_centre_tell_a_crosss_four_arms_from_a_stars_five_points():
    """The edge-direction spectrum sees a cross as a square (two directions); where the edges lie
    around the centre repeats every quarter turn for a cross, every fifth or tenth for a star, at any
    angle and any place in the image."""
    for kind in ("cross", "star"):
        for seed in range(12):
            image = star_or_cross(kind, seed)
            for shown in (image, moved(image, seed)):
                terms = trainer._around_centre(trainer._gradients(trainer._blur(trainer._blur(
                    trainer.load_pixels([shown]))))[0])[0]
                fourfold, fivefold = terms[[3, 7]].max(), terms[[4, 9]].max()  # terms 4, 8 and 5, 10
                assert (fourfold > 2 * fivefold) if kind == "cross" else (fivefold > 2 * fourfold), (
                    kind, seed, np.round(terms, 2))


def test_a_classifier_saved_before_the_edges_around_the_centre_still_predicts(tmp_path):
    """A file of format 3 (no around-the-centre terms) loads, and predicts as it did when saved."""
    images, labels = dataset(10)
    pixels = trainer.load_pixels(images)
    fitted = trainer.Features.fit(pixels, atoms=16)
    features = trainer.Features(fitted.mean, fitted.whiten, fitted.atoms, around_centre=False)
    x = features.transform(pixels)
    assert x.shape[1] == features.width == trainer.Features(fitted.mean, fitted.whiten, fitted.atoms).width - 12
    old = trainer.Classifier.fit(features, x, labels)
    old.save(tmp_path / "old.npz")
    with np.load(tmp_path / "old.npz") as data:
        assert int(data["format"]) == 3
    loaded = trainer.Classifier.load(tmp_path / "old.npz")
    assert not loaded.features.around_centre
    assert np.allclose(loaded.predict_proba(images), old.predict_proba(images), atol=1e-6)
