#!/usr/bin/env python3
"""Make the project's own object detection set: scenes drawn with Pillow, a Pascal VOC file per scene.

    python scripts/make_detection.py                 # writes images/detection/train/ and images/detection/test/
    python scripts/make_detection.py --seed 7 --out /tmp/detection --train 20 --test 5

Each scene (160x120 to 320x240 pixels, JPEG) shows 0 to 4 objects of three classes, each with the
shape a sliding-window detector expects of it: ``car`` (side view, about twice as wide as tall),
``bottle`` (upright, about two fifths as wide as tall) and ``clock`` (round). Objects vary in size
(2x), place, colour and shading, never overlap and never leave the picture; the background is a
blend of two colours with clutter (bars, lines, blobs) and grain. About one scene in ten is empty.
Beside each ``scene_NNN.jpg`` is ``scene_NNN.xml`` (Pascal VOC) whose boxes are the objects'
extents in pixels from the top-left corner (``xmax``/``ymax`` one past the last pixel drawn).

The same seed gives byte-identical files: every scene draws from its own random generator seeded
by (seed, split, index); it is first planned (``plan_scene``: every random choice), then drawn
(``render``), and nothing depends on the clock or the machine.
"""
from __future__ import annotations

import argparse
import colorsys
import math
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, ImageChops, ImageDraw

#: The seed used when none is given: images/detection in the repository is made with it.
DEFAULT_SEED = 2034
DEFAULT_TRAIN = 96
DEFAULT_TEST = 40
CLASSES = ("car", "bottle", "clock")
#: Scenes are drawn this many times larger, then scaled down, for smooth edges.
SUPERSAMPLE = 3
JPEG_QUALITY = 82
#: Scene widths to choose from (height is three quarters of the width).
WIDTHS = (160, 192, 224, 256, 288, 320)
#: Weights of 0, 1, 2, 3 and 4 objects in a scene.
OBJECT_COUNTS = (0.1, 0.2, 0.3, 0.24, 0.16)
#: Each class's smallest size (width, height) in pixels and its aspect range (width / height).
BASE_SIZE = {"car": 64.0, "bottle": 64.0, "clock": 40.0}
ASPECT = {"car": (1.9, 2.3), "bottle": (0.36, 0.44), "clock": (0.94, 1.06)}

Colour = tuple[int, int, int]
Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Thing:
    """One drawn object: its class, its box (xmin, ymin, xmax, ymax), and its look's random choices."""

    label: str
    box: Box
    colour: Colour
    accent: Colour
    mirrored: bool
    detail: float  # class-specific: a hand's angle, a label band's place, a window's split


@dataclass(frozen=True)
class Clutter:
    """A background distraction: "bar" (a filled rectangle), "line", "blob" (an elongated ellipse), or a
    look-alike: "ring" (a plain ring, no clock face) or "box" (a rounded box with a band, wide or tall)."""

    kind: str
    points: tuple[float, float, float, float]
    colour: Colour
    width: int


@dataclass(frozen=True)
class Scene:
    """Every random choice of one scene; ``render`` draws it."""

    width: int
    height: int
    top: Colour
    bottom: Colour
    horizontal: bool
    clutter: tuple[Clutter, ...]
    things: tuple[Thing, ...]
    grain: int
    grain_seed: int


def _colour(rng: random.Random, lightness: tuple[float, float] = (0.15, 0.85)) -> Colour:
    r, g, b = colorsys.hls_to_rgb(rng.random(), rng.uniform(*lightness), rng.uniform(0.2, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def _luminance(colour: Colour) -> float:
    r, g, b = colour
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting(rng: random.Random, against: Colour, minimum: float) -> Colour:
    for _ in range(100):
        colour = _colour(rng)
        if abs(_luminance(colour) - _luminance(against)) >= minimum:
            return colour
    return (245, 245, 245) if _luminance(against) < 128 else (15, 15, 15)


def _overlaps(a: Box, b: Box, margin: int) -> bool:
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1] or b[3] + margin <= a[1])


def scene_rng(seed: int, split: str, index: int) -> random.Random:
    """The generator of one scene: independent of every other scene and of the counts asked for."""
    return random.Random(f"detection/{seed}/{split}/{index}")


def plan_scene(rng: random.Random) -> Scene:
    """Every random choice of one scene: its size, background, clutter, objects and grain."""
    width = rng.choice(WIDTHS)
    height = width * 3 // 4
    top, bottom = _colour(rng), _colour(rng)
    horizontal = rng.random() < 0.5
    middle = tuple((a + b) // 2 for a, b in zip(top, bottom, strict=True))
    clutter = []
    for _ in range(rng.randint(2, 8)):
        kind = rng.choice(("bar", "line", "line", "blob", "ring", "box"))
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        if kind == "line":
            x1, y1 = rng.uniform(0, width), rng.uniform(0, height)
        elif kind in ("ring", "box"):  # look-alikes: a plain ring, a rounded box with a band
            w = rng.uniform(24, 80)
            h = w * rng.uniform(0.8, 1.25) if kind == "ring" else w * rng.choice((0.45, 2.4)) * rng.uniform(0.8, 1.2)
            x1, y1 = x0 + w, y0 + h
        else:
            long, short = rng.uniform(20, 90), rng.uniform(4, 14)
            w, h = (long, short) if rng.random() < 0.5 else (short, long)
            x1, y1 = x0 + w, y0 + h
        clutter.append(Clutter(kind, (x0, y0, x1, y1), _contrasting(rng, middle, 20), rng.randint(1, 3)))

    count = rng.choices(range(len(OBJECT_COUNTS)), weights=OBJECT_COUNTS)[0]
    things: list[Thing] = []
    for _ in range(count):
        label = rng.choice(CLASSES)
        scale = rng.uniform(1.0, 2.0)
        aspect = rng.uniform(*ASPECT[label])
        if label == "car":
            w = BASE_SIZE[label] * scale
            h = w / aspect
        else:
            h = BASE_SIZE[label] * scale
            w = h * aspect
        w, h = round(min(w, width - 4)), round(min(h, height - 4))
        placed = None
        for _ in range(40):
            x, y = rng.randint(1, width - w - 1), rng.randint(1, height - h - 1)
            box = (x, y, x + w, y + h)
            if not any(_overlaps(box, other.box, 3) for other in things):
                placed = box
                break
        if placed is None:
            continue
        colour = _contrasting(rng, middle, 45)
        accent = _contrasting(rng, colour, 60)
        things.append(Thing(label, placed, colour, accent, rng.random() < 0.5, rng.random()))
    return Scene(width, height, top, bottom, horizontal, tuple(clutter), tuple(things),
                 rng.randint(4, 16), rng.getrandbits(32))


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(max(0, min(255, int(c * factor))) for c in colour)  # type: ignore[return-value]


def _draw_car(draw: ImageDraw.ImageDraw, thing: Thing, k: int) -> None:
    x0, y0, x1, y1 = (v * k for v in thing.box)
    w, h = x1 - x0, y1 - y0

    def px(fx: float) -> float:  # mirrored cars face the other way
        return x0 + (1 - fx if thing.mirrored else fx) * w

    wheel_r = 0.2 * h
    body_top, body_bottom = y0 + 0.38 * h, y1 - wheel_r
    outline = _shade(thing.colour, 0.45)
    cabin = [(px(0.2), body_top + 1), (px(0.3), y0), (px(0.68), y0), (px(0.8), body_top + 1)]
    draw.polygon(cabin, fill=thing.colour, outline=outline, width=k)
    draw.rounded_rectangle((x0, body_top, x1 - 1, body_bottom), radius=0.12 * h, fill=thing.colour,
                           outline=outline, width=k)
    draw.rectangle((x0 + 2 * k, body_bottom - 0.35 * (body_bottom - body_top), x1 - 2 * k, body_bottom - k),
                   fill=_shade(thing.colour, 0.75))  # the lower half of the body in shadow
    split = 0.45 + 0.1 * thing.detail
    glass = (170, 200, 225)
    inset = 0.08 * h
    left = [(px(0.24), body_top), (px(0.32), y0 + inset), (px(split - 0.02), y0 + inset), (px(split - 0.02), body_top)]
    right = [(px(split + 0.02), body_top), (px(split + 0.02), y0 + inset), (px(0.66), y0 + inset), (px(0.76), body_top)]
    draw.polygon(left, fill=glass)
    draw.polygon(right, fill=glass)
    for fx in (0.22, 0.78):
        cx, cy = px(fx), y1 - wheel_r
        draw.ellipse((cx - wheel_r, cy - wheel_r, cx + wheel_r, cy + wheel_r), fill=(25, 25, 25))
        hub = 0.45 * wheel_r
        draw.ellipse((cx - hub, cy - hub, cx + hub, cy + hub), fill=(160, 160, 165))


def _draw_bottle(draw: ImageDraw.ImageDraw, thing: Thing, k: int) -> None:
    x0, y0, x1, y1 = (v * k for v in thing.box)
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    neck = 0.2 * w
    outline = _shade(thing.colour, 0.45)
    shoulder_top, body_top = y0 + 0.2 * h, y0 + 0.38 * h
    draw.rounded_rectangle((x0, body_top - 0.05 * h, x1 - 1, y1 - 1), radius=0.18 * w, fill=thing.colour,
                           outline=outline, width=k)
    draw.polygon([(cx - neck, shoulder_top), (cx + neck, shoulder_top), (x1 - 1, body_top), (x0, body_top)],
                 fill=thing.colour, outline=outline)
    draw.rectangle((cx - neck, y0 + 0.08 * h, cx + neck, shoulder_top + k), fill=thing.colour, outline=outline)
    draw.rectangle((cx - neck - k, y0, cx + neck + k, y0 + 0.1 * h), fill=thing.accent)  # the cap
    band = 0.5 + 0.12 * thing.detail
    draw.rectangle((x0 + k, y0 + band * h, x1 - 1 - k, y0 + (band + 0.2) * h), fill=thing.accent)
    shine = x0 + (0.72 if thing.mirrored else 0.22) * w
    draw.line((shine, body_top, shine, y0 + (band - 0.04) * h), fill=_shade(thing.colour, 1.6),
              width=max(k, int(0.08 * w)))


def _draw_clock(draw: ImageDraw.ImageDraw, thing: Thing, k: int) -> None:
    x0, y0, x1, y1 = (v * k for v in thing.box)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=thing.colour)
    rim = 0.09 * min(w, h)
    face = (240, 236, 225) if _luminance(thing.colour) < 140 else (45, 45, 55)
    draw.ellipse((x0 + rim, y0 + rim, x1 - 1 - rim, y1 - 1 - rim), fill=face)
    hand = (20, 20, 20) if face[0] > 128 else (235, 235, 235)
    rx, ry = w / 2 - rim, h / 2 - rim
    for hour in range(12):
        a = 2 * math.pi * hour / 12
        inner = 0.75 if hour % 3 else 0.62
        draw.line((cx + inner * rx * math.cos(a), cy + inner * ry * math.sin(a),
                   cx + 0.9 * rx * math.cos(a), cy + 0.9 * ry * math.sin(a)), fill=hand, width=k)
    big, small = 2 * math.pi * thing.detail, 2 * math.pi * ((thing.detail * 7.3) % 1)
    draw.line((cx, cy, cx + 0.75 * rx * math.sin(big), cy - 0.75 * ry * math.cos(big)), fill=hand, width=2 * k)
    draw.line((cx, cy, cx + 0.5 * rx * math.sin(small), cy - 0.5 * ry * math.cos(small)), fill=hand, width=3 * k)
    dot = 0.07 * w
    draw.ellipse((cx - dot, cy - dot, cx + dot, cy + dot), fill=thing.accent)


DRAW = {"car": _draw_car, "bottle": _draw_bottle, "clock": _draw_clock}


def render(scene: Scene, *, objects: bool = True) -> Image.Image:
    """The scene as an RGB image (``objects=False``: the same scene without its objects)."""
    k = SUPERSAMPLE
    big = (scene.width * k, scene.height * k)
    ramp = Image.linear_gradient("L").resize(big)
    if scene.horizontal:
        ramp = ramp.transpose(Image.Transpose.ROTATE_90).resize(big)
    image = Image.composite(Image.new("RGB", big, scene.bottom), Image.new("RGB", big, scene.top), ramp)
    draw = ImageDraw.Draw(image)
    for item in scene.clutter:
        points = [v * k for v in item.points]
        if item.kind == "line":
            draw.line(points, fill=item.colour, width=item.width * k)
        elif item.kind == "bar":
            draw.rectangle((min(points[0], points[2]), min(points[1], points[3]),
                            max(points[0], points[2]), max(points[1], points[3])), fill=item.colour)
        elif item.kind == "blob":
            draw.ellipse((min(points[0], points[2]), min(points[1], points[3]),
                          max(points[0], points[2]), max(points[1], points[3])), fill=item.colour)
        elif item.kind == "ring":
            draw.ellipse(points, outline=item.colour, width=(item.width + 2) * k)
        else:
            x0, y0, x1, y1 = points
            draw.rounded_rectangle(points, radius=0.15 * min(x1 - x0, y1 - y0), fill=item.colour,
                                   outline=_shade(item.colour, 0.5), width=k)
            if x1 - x0 > y1 - y0:
                draw.rectangle((x0 + 0.3 * (x1 - x0), y0, x0 + 0.45 * (x1 - x0), y1), fill=_shade(item.colour, 1.5))
            else:
                draw.rectangle((x0, y0 + 0.5 * (y1 - y0), x1, y0 + 0.7 * (y1 - y0)), fill=_shade(item.colour, 1.5))
    if objects:
        for thing in scene.things:
            DRAW[thing.label](draw, thing, k)
    small = image.resize((scene.width, scene.height), Image.Resampling.BOX)
    grain_rng = random.Random(scene.grain_seed)
    steps = (-scene.grain, 0, 0, scene.grain)
    cells = ((scene.width + 1) // 2, (scene.height + 1) // 2)
    values = bytes(128 + grain_rng.choice(steps) for _ in range(cells[0] * cells[1]))
    grain = Image.frombytes("L", cells, values).resize((cells[0] * 2, cells[1] * 2), Image.Resampling.NEAREST)
    grain = grain.crop((0, 0, scene.width, scene.height))
    return Image.merge("RGB", [ImageChops.add(band, grain, 1.0, -128) for band in small.split()])


def voc_xml(filename: str, scene: Scene) -> str:
    """The Pascal VOC annotation of a scene saved as ``filename``."""
    lines = ["<annotation>", f"  <filename>{escape(filename)}</filename>",
             f"  <size><width>{scene.width}</width><height>{scene.height}</height><depth>3</depth></size>"]
    for thing in scene.things:
        xmin, ymin, xmax, ymax = thing.box
        lines += ["  <object>", f"    <name>{thing.label}</name>",
                  f"    <bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>",
                  "  </object>"]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def make_detection(out: Path, *, seed: int = DEFAULT_SEED, train: int = DEFAULT_TRAIN,
                   test: int = DEFAULT_TEST) -> list[Path]:
    """Write ``out/train/scene_NNN.{jpg,xml}`` and ``out/test/scene_NNN.{jpg,xml}``; return the files.

    The train/ and test/ folders are replaced as a whole, so no file of an earlier run remains.
    """
    written: list[Path] = []
    for split, count in (("train", train), ("test", test)):
        folder = out / split
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for index in range(count):
            scene = plan_scene(scene_rng(seed, split, index))
            image_path = folder / f"scene_{index:03d}.jpg"
            render(scene).save(image_path, format="JPEG", quality=JPEG_QUALITY)
            xml_path = image_path.with_suffix(".xml")
            xml_path.write_text(voc_xml(image_path.name, scene), encoding="utf-8")
            written += [image_path, xml_path]
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parent.parent / "images" / "detection",
                        help="folder to write train/ and test/ into (default: the repository's images/detection)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN, help="training scenes")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help="test scenes")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0:
        parser.error("--train and --test must be >= 0")
    written = make_detection(args.out, seed=args.seed, train=args.train, test=args.test)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written) // 2} scenes ({total / 1024:.0f} KiB) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
