"""Pages for the clean-up's tests and bench, made here: a text page drawn with Pillow, then turned, skewed,
blurred, noised, JPEG-compressed or photographed (pasted in perspective on a dark textured table under
uneven light). Every change is a known 3 x 3 matrix, so each word's true box on the changed page is known
(the axis-aligned box of its corners mapped through the matrix)."""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LINES = (
    "Invoice number INV-20417 issued on 14 March 2024",
    "Bill to Harbour Supply Company, 12 Quayside Road",
    "Description of the goods delivered this month",
    "Printer paper, recycled, boxes of five reams",
    "Toner cartridges for the office laser printer",
    "Shipping and handling charged at the flat rate",
    "Subtotal before tax was calculated as shown",
    "Total amount due within thirty days 1,284.50",
    "Please quote the invoice number with payment",
    "Thank you for your business and kind regards",
    "Questions about this bill go to our billing desk",
    "Bank transfer to the account given overleaf",
)


@dataclass
class Sample:
    """A page and the true box (xmin, ymin, xmax, ymax) of each of its words, in its own pixels."""

    image: Image.Image
    boxes: dict[str, tuple[float, float, float, float]]


def text_page(size: int = 26, width: int = 1100, height: int = 1000, lines: tuple[str, ...] = LINES) -> Sample:
    """A white page of text lines (DejaVuSans, ``size`` pixels), each word's ink box known."""
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), size)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    y = 2.5 * size
    for line in lines:
        x = 2.5 * size
        for word in line.split():
            draw.text((x, y), word, fill=0, font=font)
            box = draw.textbbox((x, y), word, font=font)
            boxes.setdefault(word.strip(",."), tuple(float(v) for v in box))  # type: ignore[arg-type]
            x = box[2] + font.getlength(" ")
        y += 1.8 * size
    return Sample(image, boxes)


def warp(sample: Sample, matrix: np.ndarray, size: tuple[int, int], background: np.ndarray | None = None) -> Sample:
    """The page through a projective matrix onto a canvas of ``size`` (white, or ``background``)."""
    page = np.asarray(sample.image)
    out = cv2.warpPerspective(page, matrix, size, flags=cv2.INTER_LINEAR, borderValue=255)
    if background is not None:
        inside = cv2.warpPerspective(np.full_like(page, 255), matrix, size, flags=cv2.INTER_LINEAR, borderValue=0)
        alpha = inside.astype(np.float32) / 255
        out = (out * alpha + background * (1 - alpha)).astype(np.uint8)
    boxes = {}
    for word, (x0, y0, x1, y1) in sample.boxes.items():
        corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], dtype=np.float64)
        mapped = cv2.perspectiveTransform(corners, matrix)[0]
        boxes[word] = (*mapped.min(0), *mapped.max(0))
    return Sample(Image.fromarray(out), boxes)  # type: ignore[arg-type]


def turned(sample: Sample, degrees: float) -> Sample:
    """The page turned ``degrees`` clockwise about its centre, on a canvas holding all of it."""
    width, height = sample.image.size
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    if abs(degrees / 90 - round(degrees / 90)) < 1e-9:
        cos, sin = round(cos), round(sin)
    rotation = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1.0]])
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], dtype=np.float64) @ rotation.T
    low, high = corners[:, :2].min(0), corners[:, :2].max(0)
    move = np.array([[1, 0, -low[0]], [0, 1, -low[1]], [0, 0, 1.0]])
    size = np.ceil(high - low - 1e-6).astype(int)
    return warp(sample, move @ rotation, (int(size[0]), int(size[1])))


def photo(sample: Sample, seed: int = 0) -> Sample:
    """The page photographed: in perspective on a dark textured table, lit from one side."""
    rng = np.random.default_rng(seed)
    width, height = sample.image.size
    canvas = (round(width * 1.35), round(height * 1.3))
    texture = rng.normal(0, 1, (canvas[1] // 8, canvas[0] // 8)).astype(np.float32)
    texture = cv2.resize(cv2.GaussianBlur(texture, (0, 0), 1.5), canvas, interpolation=cv2.INTER_LINEAR)
    grain = np.linspace(0, 12 * math.pi, canvas[0])[None, :]
    background = np.clip(70 + 18 * texture + 8 * np.sin(grain), 0, 255)
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    cx, cy = canvas[0] * 0.5, canvas[1] * 0.5
    half_w, half_h = width * 0.42, height * 0.44
    target = np.array([[cx - half_w * 0.86, cy - half_h], [cx + half_w * 0.92, cy - half_h * 0.97],
                       [cx + half_w * 1.05, cy + half_h], [cx - half_w * 1.04, cy + half_h * 1.02]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    shot = warp(sample, matrix, canvas, background)
    light = np.linspace(1.0, 0.55, canvas[0])[None, :] * np.linspace(1.0, 0.85, canvas[1])[:, None]
    lit = np.asarray(shot.image).astype(np.float32) * light + rng.normal(0, 4, (canvas[1], canvas[0]))
    return Sample(Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8)), shot.boxes)


def scanned(sample: Sample, seed: int = 0) -> Sample:
    """The page as a poor scan: blurred, noisy, saved as JPEG at quality 40."""
    rng = np.random.default_rng(seed)
    blurred = np.asarray(sample.image.filter(ImageFilter.GaussianBlur(0.8))).astype(np.float32)
    noisy = np.clip(blurred + rng.normal(0, 10, blurred.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=40)
    return Sample(Image.open(io.BytesIO(buffer.getvalue())).convert("L"), sample.boxes)




def shadowed(sample: Sample, depth: float = 0.45) -> Sample:
    """The page under a soft-edged shadow (a hand's, a phone's) over its lower left, down to ``depth`` of its
    light."""
    pixels = np.asarray(sample.image).astype(np.float32)
    height, width = pixels.shape
    mask = np.zeros((height, width), np.float32)
    corners = np.array([[0, int(height * 0.35)], [int(width * 0.55), int(height * 0.2)], [int(width * 0.7), height],
                        [0, height]], np.int32)
    cv2.fillPoly(mask, [corners], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), 12)
    dimmed = pixels * (1 - (1 - depth) * mask)
    return Sample(Image.fromarray(np.clip(dimmed, 0, 255).astype(np.uint8)), sample.boxes)
