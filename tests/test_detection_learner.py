"""nanoclient.server.object_detection.learner: HOG detectors trained on generated scenes find the objects,
with scores that mean something, and survive a save and a load."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers import load_script
from PIL import Image

from nanoclient.object_detection.evaluate import evaluate
from nanoclient.object_detection.types import DetectedObject
from nanoclient.server.object_detection import learner

ROOT = Path(__file__).resolve().parent.parent
make_detection = load_script(ROOT / "scripts" / "make_detection.py")
LABELS = ["car", "bottle", "clock"]


def scenes(split: str, count: int, seed: int = 77) -> list[tuple[bytes, list[tuple[str, int, int, int, int]]]]:
    out = []
    for index in range(count):
        scene = make_detection.plan_scene(make_detection.scene_rng(seed, split, index))
        buffer = io.BytesIO()
        make_detection.render(scene).save(buffer, format="JPEG", quality=make_detection.JPEG_QUALITY)
        out.append((buffer.getvalue(), [(t.label, *t.box) for t in scene.things]))
    return out


def score(detector: learner.Detector, test, labels=LABELS):
    predictions = [[DetectedObject(d.label, d.xmin, d.ymin, d.xmax, d.ymax, d.score) for d in detector.detect(image)]
                   for image, _ in test]
    pairs = enumerate(zip(test, predictions, strict=True))
    return evaluate([(str(i), truths, found) for i, ((_, truths), found) in pairs], labels), predictions


@pytest.fixture(scope="module")
def trained():
    train = scenes("train", 48)
    told: list[float] = []
    detector = learner.train_detector([image for image, _ in train], [boxes for _, boxes in train], LABELS,
                                      progress=told.append)
    return detector, told


def test_detectors_find_the_objects_of_unseen_scenes_with_scores_that_mean_something(trained, tmp_path):
    detector, told = trained
    assert told == sorted(told) and told[-1] == 1.0 and len(told) >= 3
    test = scenes("test", 24)
    result, predictions = score(detector, test)
    assert result.map50 is not None and result.map50 >= 0.8, result.format_text()
    assert all(c.ap50 is not None and c.ap50 >= 0.6 for c in result.classes), result.format_text()
    assert result.count_error is not None and result.count_error < 0.6
    everything = [d for found in predictions for d in found]
    assert all(0.0 <= d.score <= 1.0 for d in everything)
    # calibrated: the detections scored 0.5 or more are right far more often than those below
    right = {(o.label, o.box, o.score) for image in result.images for o in image.predictions} - {
        (m.label, (m.xmin, m.ymin, m.xmax, m.ymax), m.score) for image in result.images for m in image.errors}
    high = [d for d in everything if d.score >= 0.5]
    low = [d for d in everything if d.score < 0.5]
    precision_high = sum((d.label, d.box, d.score) in right for d in high) / len(high)
    assert precision_high >= 0.8
    if low:  # below the threshold, every detection counts as wrong in the per-image errors: judge by IoU
        matched_low = sum(any(t[0] == d.label and _iou(d.box, t[1:]) >= 0.5 for t in test[i][1])
                          for i, found in enumerate(predictions) for d in found if d.score < 0.5)
        assert matched_low / len(low) < precision_high
    info = detector.info["classes"]
    assert {label: info[label]["boxes"] for label in LABELS} == {
        label: sum(b[0] == label for _, boxes in scenes("train", 48) for b in boxes) for label in LABELS}

    path = tmp_path / "detector.zip"
    detector.save(path)
    again = learner.Detector.load(path)
    assert again.labels == detector.labels and again.info == detector.info
    for image, _ in test[:6]:
        assert again.detect(image) == detector.detect(image)


def _iou(a, b):
    from nanoclient.object_detection.evaluate import iou

    return iou(a, b)


def test_an_empty_scene_and_a_large_photo_are_answered_in_their_own_pixels(trained):
    detector, _ = trained
    blank = io.BytesIO()
    Image.new("RGB", (200, 150), (120, 130, 140)).save(blank, format="PNG")
    assert [d for d in detector.detect(blank.getvalue()) if d.score >= 0.5] == []
    # a scene scaled up past MAX_SIDE is read scaled down, its boxes answered in the photo's pixels
    image, truths = next((image, truths) for image, truths in scenes("test", 12, seed=5) if truths)
    with Image.open(io.BytesIO(image)) as opened:
        factor = 4
        big = opened.resize((opened.width * factor, opened.height * factor))
        width, height = big.size
    data = io.BytesIO()
    big.save(data, format="JPEG", quality=90)
    found = detector.detect(data.getvalue())
    assert all(0 <= d.xmin < d.xmax <= width and 0 <= d.ymin < d.ymax <= height for d in found)
    big_truths = [(t[0], *(v * factor for v in t[1:])) for t in truths]
    hits = sum(any(d.label == t[0] and _iou(d.box, t[1:]) >= 0.5 for d in found if d.score >= 0.3)
               for t in big_truths)
    assert hits >= len(big_truths) - 1


def test_a_class_of_two_shapes_gets_a_detector_per_shape():
    train = [(image, [("thing" if b[0] != "clock" else "clock", *b[1:]) for b in boxes])
             for image, boxes in scenes("train", 40, seed=8)]
    detector = learner.train_detector([i for i, _ in train], [b for _, b in train], ["thing", "clock"],
                                      calibrate=False)
    windows = [d["window"] for d in detector.info["classes"]["thing"]["detectors"]]
    assert len(windows) == 2 and {w[0] > w[1] for w in windows} == {True, False}  # one wide, one tall
    test = [(image, [("thing" if b[0] != "clock" else "clock", *b[1:]) for b in boxes])
            for image, boxes in scenes("test", 16, seed=8)]
    result, _ = score(detector, test, ["thing", "clock"])
    assert result.classes[0].ap50 is not None and result.classes[0].ap50 >= 0.7, result.format_text()


def test_bad_inputs_are_refused_with_what_to_do():
    train = scenes("train", 6, seed=3)
    images, boxes = [i for i, _ in train], [b for _, b in train]
    with pytest.raises(ValueError, match="class 'car' has .* at least 5"):
        learner.train_detector(images[:2], boxes[:2], LABELS)
    with pytest.raises(ValueError, match="'car' is not one of the labels"):
        learner.train_detector(images, [[("car", 1, 1, 30, 20)]] * len(images), ["clock"])
    with pytest.raises(ValueError, match="outside the"):
        learner.train_detector(images[:1], [[("car", 0, 0, 5000, 20)]], ["car"])
    with pytest.raises(ValueError, match="image 0: not an image"):
        learner.train_detector([b"not an image"], [[]], ["car"])
    with pytest.raises(ValueError, match="1 images but 2"):
        learner.train_detector(images[:1], boxes[:2], ["car"])
    with pytest.raises(ValueError, match="not a saved detector"):
        learner.Detector.from_bytes(b"PK junk")


def test_aspect_groups_split_shapes_beyond_the_span():
    assert learner._aspect_groups([1.0, 1.2, 0.9]) == [[2, 0, 1]]
    assert learner._aspect_groups([2.0, 0.4, 2.2, 0.45]) == [[1, 3], [0, 2]]
