#!/usr/bin/env python3
"""Make the project's own multi-label image set: several shapes per picture, drawn with Pillow.

    python scripts/make_multilabel.py              # writes images/multilabel/train/ and images/multilabel/test/
    python scripts/make_multilabel.py --seed 7 --out /tmp/ml --train 40 --test 10

Each 96x96 image holds a random subset of the five labels (circle, cross, square, star, triangle;
usually 1 to 3 of them, now and then none or 4): each shape at its own place, size, turn and colour,
on a two-colour background, with stray lines and specks as clutter and grain over all. Beside each
image ``<name>.txt`` names its labels, one per line (empty for a picture with none), as Nanonets'
own multi-label sample has them.

The same seed gives byte-identical files: every image draws from its own random generator seeded by
(seed, split, index), and nothing depends on the clock or the machine. The shapes are those of
``make_images.py`` (one way to draw each). The default set (180 train, 50 test images) is about 1 MB.
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_images import SHAPES, _background, _contrasting_colour, _grain  # noqa: E402

DEFAULT_SEED = 2026
DEFAULT_SIZE = 96
DEFAULT_TRAIN = 180
DEFAULT_TEST = 50
#: The labels, as the .txt files name them: make_images' shapes, in lower case.
LABELS = tuple(name.lower() for name in SHAPES)
#: How many labels an image holds: (count, weight).
COUNTS = ((0, 0.05), (1, 0.30), (2, 0.35), (3, 0.24), (4, 0.06))
PALETTE_COLOURS = 48
SUPERSAMPLE = 4
#: A shape's radius as a fraction of the image's side (before any shrinking to make room).
RADIUS = (0.12, 0.2)


def image_rng(seed: int, split: str, index: int) -> random.Random:
    """The generator of one image: independent of every other image and of the counts asked for."""
    return random.Random(f"{seed}/multilabel/{split}/{index}")


def choose_labels(rng: random.Random) -> tuple[str, ...]:
    """A random subset of LABELS (its size drawn from COUNTS), sorted."""
    count = rng.choices([c for c, _ in COUNTS], weights=[w for _, w in COUNTS])[0]
    return tuple(sorted(rng.sample(LABELS, count)))


def _places(rng: random.Random, count: int, big: int) -> list[tuple[float, float, float]]:
    """(cx, cy, radius) of ``count`` shapes that do not overlap and stay inside the picture."""
    scale = 1.0
    while True:
        placed: list[tuple[float, float, float]] = []
        for _ in range(count):
            for _attempt in range(60):
                radius = rng.uniform(*RADIUS) * big * scale
                margin = radius * 1.05
                cx, cy = rng.uniform(margin, big - margin), rng.uniform(margin, big - margin)
                if all(math.hypot(cx - x, cy - y) > (radius + r) * 1.1 for x, y, r in placed):
                    placed.append((cx, cy, radius))
                    break
            else:
                break
        if len(placed) == count:
            return placed
        scale *= 0.9  # no room: smaller shapes, and try again


def draw_image(labels: Sequence[str], rng: random.Random, size: int = DEFAULT_SIZE) -> Image.Image:
    """One RGB image holding one shape of each of ``labels``, all of its variation drawn from ``rng``."""
    big = size * SUPERSAMPLE
    background = _background(rng, big)
    draw = ImageDraw.Draw(background)
    order = list(labels)
    rng.shuffle(order)
    for label, (cx, cy, radius) in zip(order, _places(rng, len(order), big), strict=True):
        below = background.getpixel((int(cx), int(cy)))
        fill = _contrasting_colour(rng, below, minimum=rng.uniform(45, 100))
        outline = SHAPES[label.capitalize()](radius, rng.uniform(0, 2 * math.pi), rng)
        draw.polygon([(cx + x, cy + y) for x, y in outline], fill=fill)
    for _ in range(rng.choice((0, 1, 1, 2))):  # stray lines across part of the picture
        colour = _contrasting_colour(rng, background.getpixel((big // 2, big // 2)), minimum=30)
        draw.line([(rng.uniform(0, big), rng.uniform(0, big)), (rng.uniform(0, big), rng.uniform(0, big))],
                  fill=colour, width=int(rng.uniform(0.01, 0.03) * big))
    for _ in range(rng.randint(0, 5)):  # specks: too small to be any shape
        x, y, r = rng.uniform(0, big), rng.uniform(0, big), rng.uniform(0.01, 0.025) * big
        colour = _contrasting_colour(rng, background.getpixel((int(x) % big, int(y) % big)), minimum=30)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    image = background.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.25:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    grain = _grain(rng, size, amplitude=int(rng.uniform(6, 18)))
    return Image.merge("RGB", [ImageChops.add(band, grain, 1.0, -128) for band in image.split()])


def make_multilabel(out: Path, *, seed: int = DEFAULT_SEED, train: int = DEFAULT_TRAIN, test: int = DEFAULT_TEST,
                    size: int = DEFAULT_SIZE) -> list[Path]:
    """Write ``out/train/`` and ``out/test/``: ``ml_NNN.png`` with ``ml_NNN.txt`` beside each; return the
    images. The two folders are replaced as a whole, so no file of an earlier run remains."""
    written: list[Path] = []
    for split, count in (("train", train), ("test", test)):
        folder = out / split
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for index in range(count):
            rng = image_rng(seed, split, index)
            labels = choose_labels(rng)
            image = draw_image(labels, rng, size)
            path = folder / f"ml_{index:03d}.png"
            image.quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                path, format="PNG", optimize=True)
            path.with_suffix(".txt").write_text("".join(f"{label}\n" for label in labels), encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "images" / "multilabel",
                        help="folder to write train/ and test/ into (default: the repository's images/multilabel)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="training images")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help="test images")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="width and height in pixels")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0 or args.size < 32:
        parser.error("--train and --test must be >= 0 and --size >= 32")
    written = make_multilabel(args.out, seed=args.seed, train=args.train, test=args.test, size=args.size)
    total = sum(p.stat().st_size + p.with_suffix(".txt").stat().st_size for p in written)
    print(f"wrote {len(written)} images ({total / 1024:.0f} KiB) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
