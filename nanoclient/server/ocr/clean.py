"""Scans and photos made readable before the text engine reads them, with the way back to the upload.

A page as users upload it may be turned (0, 90, 180 or 270 degrees), skewed by a few degrees, lit
unevenly (a phone's shadow or vignette), photographed at an angle on a table (the page a quadrilateral
on a darker background), or set in text too small for Tesseract. ``clean_page`` finds all of that on a
downscaled copy (tens of milliseconds) and, when something is to be mended, makes one projective warp of
the full page (flattening, turning, deskewing and scaling at once) and evens its lighting. A page that is
already upright, flat, evenly lit and legible is returned untouched: thresholds keep a margin, so that
clean pages read exactly as before.

``Cleaned.to_upload`` maps boxes found on the cleaned page back into the uploaded page's pixels (the
axis-aligned box of the box's corners mapped through the inverse warp).

How each thing is found:

- The page of a photo: text closed away (a grey closing), Otsu's threshold, the largest bright region,
  its four corners; taken only if it is darker around on at least three sides and clearly darker.
- The direction of the text lines (any angle): each character's nearest neighbours point along its line
  (the "docstrum"); the peak of their directions, refined to 0.1 degree by the sharpest projection of
  the ink across the lines.
- Which way is up: in Latin text, more strokes cross the rows above a word's x-height band (ascenders,
  capitals, digits beside small letters) than the rows below it (descenders); summed over the page's
  words, once its lines are level (looked at again on a larger copy when the characters are small and
  the answer weak). When that is not clear (a page of capitals and digits), ``Cleaned.unsure`` says so,
  and the engine reads a poorly read page turned over too. (Tesseract's orientation detection, OSD, was
  tried for this: 0.4-0.9 s a page, more than reading it, and unsure or wrong on sparse invoice pages.)
- The text's size: the median height of character blobs across the lines.
- The lighting: the paper's brightness on a coarse grid, a quadratic upper envelope through it, the page
  divided by that surface (a smooth surface: dark banners and pictures on the page stay as they are).
- Shadows (a hand's, a phone's; sharper than a quadratic): where the paper, found by a grey closing that
  takes the text away, is 15-75% darker than its brightest and has ink on it, over 10% of the page; then
  the page is divided by that paper locally.
- Ruled lines, on every page: long thin straight ink runs (a morphological opening), away from banners,
  bars and pictures, taken out so that Tesseract reads the text they frame (a total in its box).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

# The server reads pages in parallel threads already (one Tesseract each): one thread per page here too.
cv2.setNumThreads(1)

#: The longer side of the copy on which the page, the angle and the text size are found.
ANALYSIS_SIDE = 1000
#: Characters smaller than this on that copy (median height across the lines, pixels) are looked at again
#: on a larger copy, where they are this tall, to tell which way is up when the copy does not say it plainly
#: (a phone photo's small serif text read upside down at 9 pixels, right at 13).
DETAIL_TEXT = 14.0
#: Skew below this (degrees) is left alone: Tesseract reads it as well, and clean pages stay untouched.
SKEW_MIN = 0.5
#: Text whose x-height (the median height of the words' x-height bands, pixels; capitals are some 40%
#: taller) is below this is scaled up to an x-height of SMALL_TARGET (capitals about 20 pixels): measured
#: with DejaVuSans, Tesseract reads every word of a clean page from an x-height of 7, 97% at 6, 84% at 5;
#: of a poor scan (blur, noise, JPEG q40) 78% at 7, 91% at 8, 95% at 8.5, all at 9, and scaled 1.5 times
#: 89% at 7, all at 8. A page scaled by 2 costs Tesseract some 30-50% more time; the project's invoices
#: (x-heights 8.8 to 12) are not scaled.
SMALL_TEXT, SMALL_TARGET = 8.5, 14.0
#: Text larger than this is scaled down to LARGE_TARGET (capitals about 30 pixels): read as well, faster.
LARGE_TEXT, LARGE_TARGET = 45.0, 22.0
#: The longest side of a cleaned page.
MAX_SIDE = 4000
#: Lighting whose smooth surface varies by less than this share of its brightest is left alone.
LIGHTING_MIN = 0.12
#: A shadow (paper 15-75% darker than the page's brightest, with ink on it) over at least this share of the
#: page is evened locally (measured: 0 on 132 generated and 80 project pages once photos are flattened and
#: lit, 0.20-0.35 under a phone-like shadow; a grey table header across the page, 6%, is left alone: a grey
#: fill with dark text on it looks like a shadow, and lifting it would change a clean page).
SHADE_MIN = 0.10
#: The side (pixels of the analysis copy) of the grey closing that takes text away to leave the paper.
SHADE_KERNEL = 31
#: How many more strokes above the words' x-height band than below it, as a share of all their strokes,
#: tell which way is up (measured: 0.018-0.06 on the project's 80 invoices, 0.05-0.09 on running text,
#: within 0.002 of 0 on pages of capitals and digits).
UPRIGHT_CLEAR = 0.008

Gray = NDArray[np.uint8]
Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class Cleaned:
    """A page ready to read, and how it was made from the uploaded one.

    ``matrix`` maps uploaded pixels to cleaned ones (3 x 3, projective); None when the page is the
    upload itself. ``steps`` says what was done, for logs and tests (``flattened``, ``turned 90``,
    ``deskewed -3.1``, ``scaled 2.00``, ``lit``, ``shade lifted``, ``unruled``).
    """

    image: Image.Image
    width: int
    height: int
    matrix: Matrix | None = None
    steps: tuple[str, ...] = ()
    #: Which way is up was not clear from the page: the caller may read it turned over too.
    unsure: bool = False
    #: Degrees the page was turned clockwise (right angles and deskew together), 0 when it was not.
    turn: float = 0.0
    #: The text lines' angle as found (degrees clockwise from horizontal, in (-90, 90]).
    angle: float = 0.0
    text_height: float | None = None

    def to_upload(self, boxes: NDArray[np.float64]) -> NDArray[np.int64]:
        """Boxes (n x 4: xmin, ymin, xmax, ymax) on the cleaned page as boxes on the uploaded page: the
        axis-aligned box of the four corners mapped back, within the page."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if self.matrix is None:
            return np.round(boxes).astype(np.int64)
        inverse = np.asarray(np.linalg.inv(self.matrix), dtype=np.float64)
        x0, y0, x1, y1 = boxes.T
        corners = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                            np.stack([x0, y1], 1), np.stack([x1, y1], 1)], 1)  # n x 4 x 2
        mapped = _apply(inverse, corners.reshape(-1, 2)).reshape(-1, 4, 2)
        low, high = mapped.min(axis=1), mapped.max(axis=1)
        out = np.stack([np.floor(low[:, 0]), np.floor(low[:, 1]), np.ceil(high[:, 0]), np.ceil(high[:, 1])], 1)
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out.astype(np.int64)


def _apply(matrix: Matrix, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """Points (n x 2) through a projective matrix."""
    homogeneous = np.c_[points, np.ones(len(points))] @ matrix.T
    return np.asarray(homogeneous[:, :2] / homogeneous[:, 2:3], dtype=np.float64)


def _translate(x: float, y: float) -> Matrix:
    return np.array([[1.0, 0, x], [0, 1.0, y], [0, 0, 1.0]])


def _scale(factor: float) -> Matrix:
    return np.array([[factor, 0, 0], [0, factor, 0], [0, 0, 1.0]])


def _rotate(degrees: float) -> Matrix:
    """Turns content by ``degrees`` clockwise on screen (y down), about the origin; exact at right angles."""
    turns = degrees / 90
    if abs(turns - round(turns)) < 1e-9:
        cos, sin = [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][round(turns) % 4]
    else:
        cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1.0]])


# ---------------------------------------------------------------------------------------------- the page


def find_page(small: Gray) -> NDArray[np.float64] | None:
    """The corners (top-left, top-right, bottom-right, bottom-left; x, y) of a page photographed on a darker
    background, in ``small``'s pixels, or None when the image is the page itself."""
    height, width = small.shape
    side = max(9, round(max(height, width) / 60)) | 1
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    closed = cv2.GaussianBlur(closed, (5, 5), 0)
    threshold, mask = cv2.threshold(closed, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    inside, outside = closed[mask > 0], closed[mask == 0]
    if outside.size < 0.04 * closed.size or inside.size < 0.2 * closed.size:
        return None
    if float(np.median(inside)) - float(np.median(outside)) < 40:
        return None
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    largest = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(largest)
    if area < 0.2 * height * width or area > 0.96 * height * width:
        return None
    hull = cv2.convexHull(largest)
    perimeter = cv2.arcLength(hull, True)
    quad = None
    for epsilon in (0.01, 0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, epsilon * perimeter, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float64)
            break
    points = hull.reshape(-1, 2).astype(np.float64)
    if quad is None:  # rounded or cut corners: the extreme points along the diagonals
        sums, diffs = points.sum(1), points[:, 0] - points[:, 1]
        quad = points[[np.argmin(sums), np.argmax(diffs), np.argmax(sums), np.argmin(diffs)]]
    # order: top-left, top-right, bottom-right, bottom-left (by angle about the centre, clockwise from top-left)
    centre = quad.mean(0)
    angles = np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0])
    quad = quad[np.argsort(angles)]  # from -pi: top-left first for a page not turned by 45 degrees
    if cv2.contourArea(quad.astype(np.float32)) < 0.85 * area:
        return None
    margin = 0.01 * max(height, width)
    sides_free = sum([quad[:, 0].min() > margin, quad[:, 1].min() > margin,
                      quad[:, 0].max() < width - 1 - margin, quad[:, 1].max() < height - 1 - margin])
    if sides_free < 3:
        return None
    return quad


def _flatten(quad: NDArray[np.float64]) -> tuple[Matrix, int, int]:
    """The perspective matrix taking a page's corners to an upright rectangle of its own size, and that size."""
    top, right = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    bottom, left = np.linalg.norm(quad[2] - quad[3]), np.linalg.norm(quad[3] - quad[0])
    width, height = round(max(top, bottom)), round(max(left, right))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return np.asarray(matrix, dtype=np.float64), width, height


# ---------------------------------------------------------------------------------------------- lighting


def lighting(small: Gray) -> NDArray[np.float64] | None:
    """The paper's brightness across ``small`` as a smooth surface (its shape), or None when even (or when
    the page is no light paper)."""
    if float(np.median(small)) < 100:  # mostly dark: not a page of light paper (white on black, a table)
        return None
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 7)))
    grid = cv2.resize(paper, (24, 24), interpolation=cv2.INTER_AREA).astype(np.float64)
    ys, xs = np.mgrid[0:24, 0:24] / 23.0 - 0.5
    design = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], -1).reshape(-1, 6)
    values = grid.reshape(-1)
    keep = values > 0.5 * values.max()
    for _ in range(4):  # an upper envelope: cells below the fit are ink, pictures or banners, never paper
        if keep.sum() < 24:
            return None
        coefficients = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        keep = values > design @ coefficients - 10
    paper_cells = values[keep]
    brightest = float(paper_cells.max())
    if float(np.median(paper_cells)) < 100 or (brightest - float(paper_cells.min())) / brightest < LIGHTING_MIN:
        return None
    return np.asarray((design @ coefficients).reshape(24, 24), dtype=np.float64)


def _even(image: Gray, surface: NDArray[np.float64]) -> Gray:
    """The page divided by its lighting surface (paper white again; 0.97: noise on the paper stays below
    white)."""
    height, width = image.shape
    light = cv2.resize(surface.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    gain = (255.0 * 0.97) / np.maximum(light, 8.0)
    return np.asarray(cv2.multiply(image, gain, dtype=cv2.CV_8U))


def _pooled(image: Gray, keep: int) -> Gray:
    """The image a quarter the size, each pixel the brightest (``cv2.MORPH_DILATE``) or the darkest
    (``cv2.MORPH_ERODE``) of its 4 x 4 block."""
    pooled = cv2.morphologyEx(image, keep, np.ones((4, 4), np.uint8), anchor=(0, 0))
    return np.ascontiguousarray(pooled[::4, ::4])


def _paper(small: Gray) -> tuple[NDArray[np.float32], float]:
    """The paper's brightness across ``small``, a quarter its size (text closed away, smoothed), and its
    brightest."""
    side = SHADE_KERNEL // 4 | 1
    closed = cv2.morphologyEx(_pooled(small, cv2.MORPH_DILATE), cv2.MORPH_CLOSE,
                              cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    paper = np.asarray(cv2.GaussianBlur(closed, (0, 0), side / 3), dtype=np.float32)
    return paper, float(np.percentile(paper, 95))


def shaded(small: Gray) -> bool:
    """Whether a shadow lies on the page: paper 15-75% darker than its brightest, with ink on it (a grey
    fill's white text has none), over SHADE_MIN of the page."""
    paper, brightest = _paper(small)
    ratio = paper / max(brightest, 1.0)
    dim = (ratio < 0.85) & (ratio > 0.25)
    ink = (_pooled(small, cv2.MORPH_ERODE).astype(np.float32) < paper * 0.7).astype(np.uint8)
    side = SHADE_KERNEL // 4 | 1
    near_ink = cv2.dilate(ink, np.ones((side, side), np.uint8)) > 0
    # mostly paper there, as under a shadow (not light text on a dark ground, whose "paper" is the text)
    mean = cv2.resize(small, (paper.shape[1], paper.shape[0]), interpolation=cv2.INTER_AREA)
    papery = mean.astype(np.float32) > 0.75 * paper
    return float((dim & near_ink & papery).mean()) >= SHADE_MIN


def _unshade(image: Gray) -> Gray:
    """The page divided by its paper's brightness found locally (shadows lifted); paper darker than a
    quarter of the brightest (black fills) is left as it is."""
    height, width = image.shape
    look = min(1.0, ANALYSIS_SIDE / max(height, width))
    paper, brightest = _paper(image if look == 1.0 else _shrunk(image, look))
    paper = np.asarray(cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)
    gain = np.where(paper > 0.25 * brightest, (255.0 * 0.97) / np.maximum(paper, 1.0), 1.0).astype(np.float32)
    return np.asarray(cv2.multiply(image, gain, dtype=cv2.CV_8U))


def _shrunk(image: Gray, factor: float) -> Gray:
    """The image scaled down by ``factor`` (< 1), averaging: first by a whole factor (fast), then the rest."""
    height, width = image.shape
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    if factor > 0.6:  # averaging at a fraction's step costs more than the small loss in sharpness is worth
        return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))
    whole = int(1 / factor)
    if whole >= 2:
        image = np.asarray(Image.fromarray(image).reduce(whole))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


# ---------------------------------------------------------------------------------------------- text


@dataclass(frozen=True)
class _Text:
    """What the characters on the analysis copy say: lines' angle, which way is up, character height."""

    angle: float  # of the text lines, degrees clockwise from the x axis, in (-90, 90]
    up: float  # > 0: upright once the lines are horizontal; < 0: upside down; near 0: not clear
    height: float  # median character height across the lines, analysis pixels
    count: int
    core: float | None = None  # median height of the words' x-height bands (blur that joins letters aside)


def _binary(image: Gray) -> Gray:
    """Ink as 255 on 0 (Otsu's threshold)."""
    _, ink = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return np.asarray(ink)


def _boxes(binary: Gray) -> NDArray[np.float64]:
    """The bounding boxes (x, y, width, height) of the ink's blobs: their outer contours' (five times faster
    than OpenCV's connected components with their statistics, here)."""
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return np.array([cv2.boundingRect(contour) for contour in contours], dtype=np.float64).reshape(-1, 4)


def _characters(ink: Gray) -> NDArray[np.float64]:
    """Character-like blobs: rows of x, y (centre), width, height."""
    boxes = _boxes(ink)
    widths, heights = boxes[:, 2], boxes[:, 3]
    longer, shorter = np.maximum(widths, heights), np.minimum(widths, heights)
    keep = (longer >= 4) & (longer <= 0.06 * max(ink.shape)) & (longer <= 6 * np.maximum(shorter, 1))
    if keep.sum() > 8:  # dots, commas and noise are no characters
        keep &= longer >= 0.45 * np.median(longer[keep])
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    return np.asarray(np.c_[centres[keep], widths[keep], heights[keep]], dtype=np.float64)


def _line_angle(chars: NDArray[np.float64]) -> float | None:
    """The direction of the text lines, degrees in (-90, 90], from characters' nearest neighbours."""
    from scipy.spatial import cKDTree

    if len(chars) < 12:
        return None
    points = chars[:, :2]
    size = float(np.median(np.maximum(chars[:, 2], chars[:, 3])))
    distances, indices = cKDTree(points).query(points, k=3)
    vectors = points[indices[:, 1:]] - points[:, None, :]
    near = (distances[:, 1:] < 2.5 * size) & (distances[:, 1:] > 0)
    vectors = vectors[near]
    if len(vectors) < 12:
        return None
    angles = np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0])) % 180
    histogram = np.bincount(np.round(angles).astype(int) % 180, minlength=180).astype(np.float64)
    smooth = np.convolve(np.r_[histogram[-3:], histogram, histogram[:3]], np.ones(5) / 5, "same")[3:-3]
    peak = int(np.argmax(smooth))
    near_peak = np.abs((angles - peak + 90) % 180 - 90) <= 4
    centre = peak + float(np.mean((angles[near_peak] - peak + 90) % 180 - 90))
    return (centre + 90) % 180 - 90 if centre % 180 != 90 else 90.0


def _refine(ink: Gray, angle: float) -> float:
    """The line angle near ``angle`` (within 2 degrees, to 0.1) at which the ink's projection across the
    lines is sharpest: half-degree steps, then tenths about the best."""
    ys, xs = np.nonzero(ink)
    stride = max(1, len(xs) // 30000)
    xs, ys = xs[::stride].astype(np.float64), ys[::stride].astype(np.float64)

    def sharpness(candidate: float) -> float:
        radians = math.radians(candidate)
        across = -xs * math.sin(radians) + ys * math.cos(radians)
        counts = np.bincount((across - across.min()).astype(np.int64))
        return float(np.dot(counts, counts))

    coarse = max(np.arange(angle - 2, angle + 2.01, 0.5), key=sharpness)
    return float(max(np.arange(coarse - 0.4, coarse + 0.41, 0.1), key=sharpness))


def _upright(ink: Gray, size: float) -> tuple[float, float | None]:
    """How clearly the lines (horizontal in ``ink``) are upright, from -1 (upside down) to 1: the strokes
    above each word's x-height band (ascenders, capitals, digits beside small letters) minus the strokes
    below it (descenders), as a share of all the words' strokes; and the median height of those bands
    (the x-height, or the capitals' height in words of capitals), None without words."""
    reach = max(3, round(0.9 * size))
    words: Gray = np.asarray(cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_RECT, (reach, 1))))
    above = below = total = 0.0
    cores = []
    for left, top, width, height in _boxes(words).astype(int):
        if height < 0.7 * size or height > 3 * size or width < 2.5 * height:
            continue
        box = ink[top:top + height, left:left + width] > 127
        # strokes crossed by each row (not ink: a capital's bar is one stroke, as wide as it is)
        profile = np.count_nonzero(box[:, 1:] & ~box[:, :-1], axis=1).astype(np.float64) + box[:, 0]
        peak = int(np.argmax(profile))
        dense = profile >= 0.5 * profile[peak]
        start = peak
        while start > 0 and dense[start - 1]:
            start -= 1
        end = peak
        while end < height - 1 and dense[end + 1]:
            end += 1
        above += float(profile[:start].sum())
        below += float(profile[end + 1:].sum())
        total += float(profile.sum())
        cores.append(end - start + 1)
    core = float(np.median(cores)) if cores else None
    return (0.0 if total == 0 else (above - below) / total), core


def _read_text(small: Gray) -> _Text | None:
    ink = _binary(small)
    chars = _characters(ink)
    rough = _line_angle(chars)
    if rough is None:
        return None
    angle = _refine(ink, rough)
    radians = math.radians(angle)
    # character height across the lines: the extent of each box along the lines' normal
    across = np.abs(chars[:, 2] * math.sin(radians)) + np.abs(chars[:, 3] * math.cos(radians))
    height = float(np.median(across))
    up, core = _way_up(ink, angle, height)
    return _Text(angle=angle, up=up, height=height, count=len(chars), core=core)


def _way_up(ink: Gray, angle: float, height: float) -> tuple[float, float | None]:
    """``_upright`` of ink whose lines run at ``angle``, once level."""
    return _upright(ink if abs(angle) < 0.05 else _rotate_image(ink, -angle, border=0), height)


def _unline(image: Gray, text_height: float) -> Gray | None:
    """The page without its ruled lines (straight ink runs longer than four text heights, across or down),
    or None when it has none.

    Tesseract's sparse-text mode loses text framed by a level box (a total in its frame, a grid's cell): on
    12 scanned pages made level by the deskew, 82 of 90 values were read with the lines, 87 without; on 30
    generated clean pages and PDFs as uploaded, 167 of 177 with the lines, 172 without (framed totals on the
    second page of PDFs). It costs about 11 ms on a 150 dpi page.
    """
    _, ink = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    if np.count_nonzero(ink) > ink.size // 2:  # light text on a dark page: its "ink" is the page
        return None
    step = 2 if min(image.shape) > 1200 else 1  # found at half size on large pages (a quarter of the work)
    if step == 2:  # a pixel of the half is ink when any of its four is
        ink = np.ascontiguousarray(cv2.dilate(ink, np.ones((2, 2), np.uint8), anchor=(0, 0))[::2, ::2])
    length = max(20, round(4 * text_height / step))
    # ink thicker than a stroke (banners, bars, pictures) and what lies near it are no ruled lines: between
    # the letters of light text on a dark banner run dark columns as long and thin as a rule
    thick = max(3, round(0.8 * text_height / step))
    solid = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (thick, thick)))
    near_solid = cv2.dilate(solid, cv2.getStructuringElement(cv2.MORPH_RECT, (length, length)))
    across = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    tall = max(20, round(2.5 * text_height / step))  # a frame's sides: taller than any letter
    down = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, tall)))
    lines = cv2.bitwise_and(cv2.bitwise_or(across, down), cv2.bitwise_not(near_solid))
    if not lines.any():
        return None
    if step == 2:
        lines = cv2.resize(lines, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    out: Gray = image.copy()
    out[cv2.dilate(lines, np.ones((3, 3), np.uint8)) > 0] = 255
    return out


# ---------------------------------------------------------------------------------------------- the whole


@dataclass(frozen=True)
class _Look:
    """What the analysis copy says of a page: the photographed page's flattening (None: the upload is the
    page), the frame it gives (width, height, in uploaded pixels), the lighting, the text."""

    flat: Matrix | None
    frame: tuple[float, float]
    surface: NDArray[np.float64] | None
    shade: bool
    text: _Text | None
    shrink: float


def _look(gray: Gray) -> _Look:
    """Finds the page, the lighting and the text on a copy of at most ANALYSIS_SIDE pixels."""
    height, width = gray.shape
    shrink = min(1.0, ANALYSIS_SIDE / max(height, width))
    small: Gray = gray if shrink == 1.0 else _shrunk(gray, shrink)
    flat, frame = None, (float(width), float(height))
    quad = find_page(small)
    if quad is not None:
        flat, frame_w, frame_h = _flatten(quad / shrink)
        frame = (float(frame_w), float(frame_h))
        small = np.asarray(cv2.warpPerspective(small, _scale(shrink) @ flat @ _scale(1 / shrink),
                                               (round(frame_w * shrink), round(frame_h * shrink)),
                                               flags=cv2.INTER_LINEAR, borderValue=255))
    surface = lighting(small)
    if surface is not None:
        small = _even(small, surface)
    shade = shaded(small)
    if shade:
        small = _unshade(small)
    text = _read_text(small)
    detail = 1.0 if text is None else min(1.0, shrink * DETAIL_TEXT / text.height)
    if text is not None and detail > 1.1 * shrink and (text.height < 5 or abs(text.up) < 3 * UPRIGHT_CLEAR):
        # small on the copy: which way is up, when not plain (and, when tiny, all of it), looked at again on a
        # larger copy (on 72 generated pages the small copy's answer, when plain, was the larger one's)
        size = (round(frame[0] * detail), round(frame[1] * detail))
        larger: Gray = (np.asarray(cv2.warpPerspective(gray, _scale(detail) @ flat, size, borderValue=255))
                        if flat is not None else gray if detail == 1.0 else _shrunk(gray, detail))
        if surface is not None:
            larger = _even(larger, surface)
        if shade:
            larger = _unshade(larger)
        back = shrink / detail  # larger copy's pixels -> small copy's
        if text.height < 5:
            again = _read_text(larger)
            if again is not None:
                text = _Text(again.angle, again.up, again.height * back, again.count,
                             None if again.core is None else again.core * back)
        else:
            up, core = _way_up(_binary(larger), text.angle, text.height / back)
            text = _Text(text.angle, up, text.height, text.count, None if core is None else core * back)
    return _Look(flat=flat, frame=frame, surface=surface, shade=shade, text=text, shrink=shrink)


def _turn(text: _Text | None, turn_over: bool) -> tuple[float, bool]:
    """Degrees to turn the page clockwise (in [-180, 180), right angles exact when the rest is below
    SKEW_MIN), and whether which way is up was unclear.

    The lines are turned level, then upright: by the page's own evidence when it is clear; when it is not, a
    page with vertical lines is turned by the evidence's sign, and either way the caller is told (the engine
    then reads a poorly read page turned over too and keeps the better read).
    """
    turn, unsure = 0.0, False
    if text is not None:
        unsure = abs(text.up) < UPRIGHT_CLEAR
        turn = -text.angle + (180 if text.up < 0 and (not unsure or abs(text.angle) > 45) else 0)
    if turn_over:
        turn += 180
    turn = (turn + 180) % 360 - 180
    right = 90 * round(turn / 90)
    return (float(right) if abs(turn - right) < SKEW_MIN else turn), unsure


def _factor(text_height: float | None, frame: tuple[float, float]) -> float:
    """The scale at which the text is legible to Tesseract (1: as it is), the page within MAX_SIDE."""
    factor = 1.0
    if text_height is not None and text_height < SMALL_TEXT:
        factor = SMALL_TARGET / text_height
    elif text_height is not None and text_height > LARGE_TEXT:
        factor = LARGE_TARGET / text_height
    factor = min(factor, MAX_SIDE / max(frame))
    return 1.0 if abs(factor - 1) <= 0.05 else factor


def clean_page(page: Image.Image, *, turn_over: bool = False) -> Cleaned:
    """The page flattened, turned upright, deskewed, evenly lit and scaled to legible text, as needed.

    ``page`` is greyscale ("L"; other modes are converted). ``turn_over``: the page turned the other way up
    from what its evidence says (a second try when the way up was not clear and the first read is poor).
    """
    gray: Gray = np.asarray(page.convert("L") if page.mode != "L" else page, dtype=np.uint8)
    height, width = gray.shape
    if min(height, width) < 32:
        return Cleaned(image=page, width=width, height=height)
    look = _look(gray)
    text = look.text
    turn, unsure = _turn(text, turn_over)
    text_height = None if text is None else (text.core or text.height) / look.shrink
    factor = _factor(text_height, look.frame)
    right = 90 * round(turn / 90)
    steps = []
    if look.flat is not None:
        steps.append("flattened")
    if right % 360:
        steps.append(f"turned {right % 360}")
    if turn != right:
        steps.append(f"deskewed {turn - right:+.1f}")
    if factor != 1.0:
        steps.append(f"scaled {factor:.2f}")
    angle = 0.0 if text is None else text.angle
    if not steps and look.surface is None and not look.shade:
        unlined = _unline(gray, text_height or SMALL_TARGET)
        if unlined is None:
            return Cleaned(image=page, width=width, height=height, unsure=unsure, angle=angle,
                           text_height=text_height)
        return Cleaned(image=Image.fromarray(unlined), width=width, height=height, matrix=np.eye(3),
                       steps=("unruled",), unsure=unsure, angle=angle, text_height=text_height)

    # one warp: flattened, turned and scaled, onto a canvas that holds all of the page
    frame_w, frame_h = look.frame
    place = _scale(factor) @ _rotate(turn)
    corners = _apply(place, np.array([[0, 0], [frame_w, 0], [frame_w, frame_h], [0, frame_h]], dtype=np.float64))
    low = corners.min(0)
    out_w, out_h = (int(math.ceil(v - 1e-6)) for v in corners.max(0) - low)
    matrix = _translate(-low[0], -low[1]) @ place @ (look.flat if look.flat is not None else np.eye(3))
    if np.allclose(matrix, np.eye(3)):
        cleaned = gray
    else:
        source, before = gray, np.eye(3)
        if factor < 0.8:  # a warp samples: averaged down first, thin strokes stay
            source = _shrunk(gray, factor)
            before = np.diag([width / source.shape[1], height / source.shape[0], 1.0])
        flags = cv2.INTER_CUBIC if factor > 1.2 else cv2.INTER_LINEAR
        cleaned = np.asarray(cv2.warpPerspective(source, matrix @ before, (out_w, out_h), flags=flags,
                                                 borderValue=255))
    if look.surface is not None:  # the light measured again on the page as it now lies
        seen = min(1.0, ANALYSIS_SIDE / max(cleaned.shape))
        surface = lighting(cleaned if seen == 1.0 else _shrunk(cleaned, seen))
        if surface is not None:
            cleaned = _even(cleaned, surface)
            steps.append("lit")
    if look.shade:
        cleaned = _unshade(cleaned)
        steps.append("shade lifted")
    unlined = _unline(cleaned, factor * (text_height or SMALL_TARGET))  # lines framing text lose it
    if unlined is not None:
        cleaned = unlined
        steps.append("unruled")
    if not steps:
        return Cleaned(image=page, width=width, height=height, unsure=unsure, angle=angle, text_height=text_height)
    return Cleaned(image=Image.fromarray(cleaned), width=width, height=height, matrix=matrix, steps=tuple(steps),
                   unsure=unsure, turn=turn, angle=angle, text_height=text_height)


def _rotate_image(image: Gray, degrees: float, border: int = 255) -> Gray:
    """The image turned by ``degrees`` clockwise on a canvas that holds all of it (white around)."""
    height, width = image.shape
    rotation = _rotate(degrees)
    corners = _apply(rotation, np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64))
    low = corners.min(0)
    size = np.ceil(corners.max(0) - low - 1e-6).astype(int)
    matrix = (_translate(-low[0], -low[1]) @ rotation)[:2]
    return np.asarray(cv2.warpAffine(image, matrix, (int(size[0]), int(size[1])), borderValue=border))


__all__ = ["Cleaned", "clean_page", "find_page", "lighting"]
