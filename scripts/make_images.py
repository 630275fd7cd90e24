#!/usr/bin/env python3
"""Make the project's own labelled image set: shapes drawn with Pillow.

    python scripts/make_images.py                  # writes images/shapes/train/<shape>/ and images/shapes/test/<shape>/
    python scripts/make_images.py --seed 7 --out /tmp/shapes --train 30 --test 5

Each image is one shape (circle, square, triangle, star or cross) with a random size,
position, rotation and colour, on a random two-colour background, with grain and now and
then a stray line across it, so that a classifier learns it well but not trivially.

The same seed gives byte-identical files: every image draws from its own random generator
seeded by (seed, split, category, index), and nothing depends on the clock or the machine.
The whole default set (5 categories x 50 images, 64x64 palette PNG) is about 400 KB.
"""
from __future__ import annotations

import argparse
import colorsys
import math
import random
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

#: The seed used when none is given: the images/ folder in the repository is made with it.
DEFAULT_SEED = 2024
DEFAULT_SIZE = 64
DEFAULT_TRAIN = 40
DEFAULT_TEST = 10
#: Colours kept per image when saving (palette PNG keeps the folder small).
PALETTE_COLOURS = 64
#: Shapes are drawn this many times larger, then scaled down, for smooth edges.
SUPERSAMPLE = 4

Point = tuple[float, float]
Colour = tuple[int, int, int]


def _regular_polygon(sides: int, radius: float, angle: float) -> list[Point]:
    return [
        (radius * math.cos(angle + 2 * math.pi * k / sides), radius * math.sin(angle + 2 * math.pi * k / sides))
        for k in range(sides)
    ]


def _star(radius: float, angle: float, rng: random.Random) -> list[Point]:
    inner = radius * rng.uniform(0.38, 0.5)
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else inner
        a = angle + math.pi * k / 5
        points.append((r * math.cos(a), r * math.sin(a)))
    return points


def _cross(radius: float, angle: float, rng: random.Random) -> list[Point]:
    arm = radius * rng.uniform(0.28, 0.4)  # half the width of each bar
    outline = [
        (arm, -radius), (arm, -arm), (radius, -arm), (radius, arm), (arm, arm), (arm, radius),
        (-arm, radius), (-arm, arm), (-radius, arm), (-radius, -arm), (-arm, -arm), (-arm, -radius),
    ]
    return _rotate(outline, angle)


def _ellipse(radius: float, angle: float, rng: random.Random) -> list[Point]:
    squash = rng.uniform(0.85, 1.0)  # nearly round: a circle seen a little askew
    outline = [(radius * math.cos(2 * math.pi * k / 48), squash * radius * math.sin(2 * math.pi * k / 48))
               for k in range(48)]
    return _rotate(outline, angle)


def _rectangle(radius: float, angle: float, rng: random.Random) -> list[Point]:
    ratio = rng.uniform(0.8, 1.0)  # nearly square
    h = radius / math.sqrt(1 + ratio * ratio)
    w = h * ratio
    return _rotate([(-h, -w), (h, -w), (h, w), (-h, w)], angle)


def _rotate(points: Sequence[Point], angle: float) -> list[Point]:
    c, s = math.cos(angle), math.sin(angle)
    return [(x * c - y * s, x * s + y * c) for x, y in points]


#: Category name -> outline maker (radius, rotation, rng) -> points around (0, 0).
SHAPES: dict[str, Callable[[float, float, random.Random], list[Point]]] = {
    "Circle": _ellipse,
    "Cross": _cross,
    "Square": _rectangle,
    "Star": _star,
    "Triangle": lambda radius, angle, rng: _regular_polygon(3, radius, angle),
}


def _random_colour(rng: random.Random) -> Colour:
    hue, lightness, saturation = rng.random(), rng.uniform(0.15, 0.85), rng.uniform(0.2, 1.0)
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return int(r * 255), int(g * 255), int(b * 255)


def _luminance(colour: Colour) -> float:
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting_colour(rng: random.Random, background: Colour, minimum: float) -> Colour:
    """A random colour whose luminance differs from the background's by at least ``minimum``."""
    for _ in range(100):
        colour = _random_colour(rng)
        if abs(_luminance(colour) - _luminance(background)) >= minimum:
            return colour
    return (255, 255, 255) if _luminance(background) < 128 else (0, 0, 0)


def _background(rng: random.Random, size: int) -> Image.Image:
    """A vertical or horizontal blend of two random colours."""
    top, bottom = _random_colour(rng), _random_colour(rng)
    ramp = Image.linear_gradient("L").resize((size, size))
    if rng.random() < 0.5:
        ramp = ramp.transpose(Image.Transpose.ROTATE_90)
    return Image.composite(Image.new("RGB", (size, size), bottom), Image.new("RGB", (size, size), top), ramp)


def _grain(rng: random.Random, size: int, amplitude: int) -> Image.Image:
    """Luminance noise in a few coarse steps (fine noise would bloat the PNG files)."""
    steps = (-amplitude, 0, 0, amplitude)
    cells = size // 2
    values = bytes(128 + rng.choice(steps) for _ in range(cells * cells))
    return Image.frombytes("L", (cells, cells), values).resize((size, size), Image.Resampling.NEAREST)


def draw_image(category: str, rng: random.Random, size: int = DEFAULT_SIZE) -> Image.Image:
    """One RGB image of ``category``'s shape, all of its variation drawn from ``rng``."""
    make_outline = SHAPES[category]
    big = size * SUPERSAMPLE
    background = _background(rng, big)
    bg_colour = background.getpixel((big // 2, big // 2))
    fill = _contrasting_colour(rng, bg_colour, minimum=rng.uniform(35, 90))

    radius = rng.uniform(0.26, 0.42) * big
    shift = (big / 2 - radius * 0.9) * 0.6  # off centre, but never cut by the edge
    cx, cy = big / 2 + rng.uniform(-shift, shift), big / 2 + rng.uniform(-shift, shift)
    outline = make_outline(radius, rng.uniform(0, 2 * math.pi), rng)
    draw = ImageDraw.Draw(background)
    draw.polygon([(cx + x, cy + y) for x, y in outline], fill=fill)
    if rng.random() < 0.35:  # a stray line that crosses part of the picture
        line_colour = _contrasting_colour(rng, bg_colour, minimum=40)
        draw.line(
            [(rng.uniform(0, big), rng.uniform(0, big)), (rng.uniform(0, big), rng.uniform(0, big))],
            fill=line_colour,
            width=int(rng.uniform(0.02, 0.05) * big),
        )

    image = background.resize((size, size), Image.Resampling.LANCZOS)
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    grain = _grain(rng, size, amplitude=int(rng.uniform(6, 22)))
    # The same grain on every channel: band + grain - 128, clipped once at the end.
    return Image.merge("RGB", [ImageChops.add(band, grain, 1.0, -128) for band in image.split()])


def to_palette(image: Image.Image) -> Image.Image:
    """The image as a 64-colour palette PNG: a third of the RGB file's size, and hardly different."""
    return image.quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def image_rng(seed: int, split: str, category: str, index: int) -> random.Random:
    """The generator of one image: independent of every other image and of the counts asked for."""
    return random.Random(f"{seed}/{split}/{category}/{index}")


def make_images(
    out: Path,
    *,
    seed: int = DEFAULT_SEED,
    train: int = DEFAULT_TRAIN,
    test: int = DEFAULT_TEST,
    size: int = DEFAULT_SIZE,
    categories: Sequence[str] = tuple(SHAPES),
) -> list[Path]:
    """Write ``out/train/<category>/*.png`` and ``out/test/<category>/*.png``; return the files.

    The train/ and test/ folders are replaced as a whole, so no file of an earlier run remains.
    """
    unknown = [c for c in categories if c not in SHAPES]
    if unknown:
        raise ValueError(f"unknown categories {unknown}; choose from {sorted(SHAPES)}")
    written: list[Path] = []
    for split, count in (("train", train), ("test", test)):
        split_dir = out / split
        if split_dir.exists():
            shutil.rmtree(split_dir)
        for category in categories:
            folder = split_dir / category
            folder.mkdir(parents=True)
            for index in range(count):
                image = draw_image(category, image_rng(seed, split, category, index), size)
                path = folder / f"{category.lower()}_{index:03d}.png"
                to_palette(image).save(path, format="PNG", optimize=True)
                written.append(path)
    return written


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "images" / "shapes",
                        help="folder to write train/ and test/ into (default: the repository's images/)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="images per category for training")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help="images per category for testing")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="width and height in pixels")
    parser.add_argument("--categories", nargs="+", default=list(SHAPES), metavar="NAME",
                        help=f"shapes to draw (default: all of {', '.join(SHAPES)})")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0 or args.size < 8:
        parser.error("--train and --test must be >= 0 and --size >= 8")
    try:
        written = make_images(args.out, seed=args.seed, train=args.train, test=args.test,
                              size=args.size, categories=args.categories)
    except ValueError as exc:
        parser.error(str(exc))
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} images ({total / 1024:.0f} KiB) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
