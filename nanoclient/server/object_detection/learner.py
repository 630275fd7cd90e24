"""Object detection's learner: HOG sliding-window detectors trained from tens of images on a CPU.

No downloaded weights: each class gets a max-margin HOG detector (dlib's ``simple_object_detector``)
trained from the images given, with the images that show none of the class (other classes' objects
included) as its negatives. A class whose boxes have too different shapes (aspect ratios spanning more
than ``MAX_ASPECT_SPAN``) gets one detector per group of similar shapes; a group with fewer than
``MIN_BOXES`` boxes is painted out of the images (neither object nor background) while the others train.

Scores are calibrated: dlib's raw detection score means nothing on its own, so the images are split in
two folds, detectors trained on one fold score the other, and a logistic curve per class (Platt's
method) maps a raw score to the probability that the detection matches a true box (IoU >= 0.5). A
threshold of 0.5 on ``Detection.score`` then keeps the detections more likely right than wrong. The same
held-out matches give each class the median offset of each box edge (a sliding window's box is coarse:
8-pixel cells, one aspect ratio), which moves the final detector's boxes.
Detections of every class go through one non-maximum suppression (``NMS_IOU``), highest score first.

Interface: ``train_detector(images, boxes, labels) -> Detector``; ``Detector.detect(image) ->
list[Detection]``; ``Detector.save(path)`` / ``Detector.load(path)`` (one zip file) and
``to_bytes`` / ``from_bytes``. Boxes are ``(label, xmin, ymin, xmax, ymax)`` in pixels from the
image's top-left corner, ``xmax``/``ymax`` one past the last pixel (the API's ``bndbox``).
No HTTP, no SQL, no API rules here.
"""
from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dlib  # type: ignore[import-untyped]
import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "Detection",
    "Detector",
    "LabelledBox",
    "MIN_BOXES",
    "train_detector",
]

#: One true box of an image: (label, xmin, ymin, xmax, ymax), pixels, xmax/ymax exclusive.
LabelledBox = tuple[str, int, int, int, int]

#: The fewest boxes a class (and each group of similar shapes within it) needs to train a detector.
MIN_BOXES = 5
#: Boxes whose aspect ratios (width / height) differ by more than this factor go to separate detectors.
MAX_ASPECT_SPAN = 1.6
#: The detection window's area (pixels) is the smallest box's area times this, within the two bounds:
#: a larger window sees more detail; dlib upsamples the images when boxes are smaller than the window.
WINDOW_FRACTION = 0.8
MIN_WINDOW_AREA = 1600
MAX_WINDOW_AREA = 6400
#: Images are scaled down so that their longer side is at most this (and boxes with them), for speed.
MAX_SIDE = 800
#: dlib's SVM regularisation (larger: fits the training boxes harder).
SVM_C = 5.0
#: How far below dlib's own threshold (0) raw detections are kept before calibration.
ADJUST_THRESHOLD = -0.8
#: Detections whose calibrated score is below this are not returned at all.
MIN_SCORE = 0.02
#: Two detections overlapping more than this (IoU), of any classes, keep only the higher score.
NMS_IOU = 0.5
#: A detection matches a true box of its class at this IoU or more (for the calibration).
MATCH_IOU = 0.5
FORMAT = "nanoclient-detector/1"


@dataclass(frozen=True)
class Detection:
    """One detected object: its class, its box (pixels, xmax/ymax exclusive), the calibrated score in [0, 1]."""

    label: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int
    score: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(xmin, ymin, xmax, ymax)."""
        return self.xmin, self.ymin, self.xmax, self.ymax

    def to_json(self) -> dict[str, object]:
        """The detection as an entry of the API's ``prediction`` list."""
        return {"label": self.label, "xmin": self.xmin, "ymin": self.ymin, "xmax": self.xmax,
                "ymax": self.ymax, "score": round(self.score, 4)}


@dataclass(frozen=True)
class _Part:
    """One trained sliding-window detector: the class it finds and how much dlib upsamples for it."""

    label: str
    detector: object  # dlib.fhog_object_detector
    upsample: int


@dataclass(frozen=True)
class _Calibration:
    """Platt's curve for one class: score = 1 / (1 + exp(-(a * raw + b))); ``pairs``: how many fitted it."""

    a: float
    b: float
    pairs: int
    matched: int

    def __call__(self, raw: float) -> float:
        z = self.a * raw + self.b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


#: The curve used for a class nothing could calibrate: dlib's threshold (raw 0) is 0.5.
_UNCALIBRATED = _Calibration(4.0, 0.0, 0, 0)


@dataclass
class Detector:
    """A trained detector: one or more HOG detectors per class, their calibration, and what training saw.

    ``info`` says per class the boxes trained on, the detectors (window sizes, upsampling), the boxes
    painted out for having a rare shape, the calibration's figures and the edges' shift; it is JSON.
    """

    labels: tuple[str, ...]
    _parts: list[_Part]
    _calibration: dict[str, _Calibration]
    info: dict[str, object] = field(default_factory=dict)
    _shift: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def detect(self, image: bytes, *, min_score: float = MIN_SCORE) -> list[Detection]:
        """The objects found in an encoded image (JPEG, PNG...), highest score first, with score >= min_score.

        ValueError if the bytes are not an image Pillow reads.
        """
        pixels, scale = _decode(image)
        height, width = pixels.shape[:2]
        return self._detect_pixels(pixels, scale, width, height, min_score)

    def _detect_pixels(self, pixels: np.ndarray, scale: float, width: int, height: int,
                       min_score: float) -> list[Detection]:
        found: list[Detection] = []
        full_w, full_h = round(width / scale), round(height / scale)
        for label, raw, box in _raw_detections(self._parts, pixels):
            score = self._calibration.get(label, _UNCALIBRATED)(raw)
            if score < min_score:
                continue
            xmin, ymin, xmax, ymax = _shifted(box, self._shift.get(label))
            xmin, ymin, xmax, ymax = xmin / scale, ymin / scale, xmax / scale, ymax / scale
            found.append(Detection(label, max(0, math.floor(xmin)), max(0, math.floor(ymin)),
                                   min(full_w, math.ceil(xmax)), min(full_h, math.ceil(ymax)), score))
        found = [d for d in found if d.xmax > d.xmin and d.ymax > d.ymin]
        return _suppress(found, NMS_IOU)

    # ------------------------------------------------------------------ one file

    def to_bytes(self) -> bytes:
        """The detector as one zip file: ``manifest.json`` and each HOG detector in dlib's own format."""
        buffer = io.BytesIO()
        manifest: dict[str, object] = {
            "format": FORMAT, "labels": list(self.labels), "info": self.info,
            "parts": [{"label": part.label, "upsample": part.upsample, "file": f"detector_{i}.svm"}
                      for i, part in enumerate(self._parts)],
            "calibration": {label: [c.a, c.b, c.pairs, c.matched] for label, c in self._calibration.items()},
            "shift": {label: list(shift) for label, shift in self._shift.items()},
        }
        with tempfile.TemporaryDirectory(prefix="nanoclient-detector-") as folder, \
                zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, indent=1, sort_keys=True))
            for i, part in enumerate(self._parts):
                path = os.path.join(folder, f"detector_{i}.svm")
                part.detector.save(path)  # type: ignore[attr-defined]
                archive.write(path, f"detector_{i}.svm")
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Detector:
        """A detector from ``to_bytes``' output; ValueError if it is not one."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive, \
                    tempfile.TemporaryDirectory(prefix="nanoclient-detector-") as folder:
                manifest = json.loads(archive.read("manifest.json"))
                if manifest.get("format") != FORMAT:
                    raise ValueError(f"not a saved detector of this version (format {manifest.get('format')!r})")
                parts = []
                for entry in manifest["parts"]:
                    path = os.path.join(folder, os.path.basename(entry["file"]))
                    Path(path).write_bytes(archive.read(entry["file"]))
                    parts.append(_Part(entry["label"], dlib.fhog_object_detector(path), int(entry["upsample"])))
        except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, RuntimeError) as exc:
            raise ValueError(f"not a saved detector: {exc}") from None
        calibration = {label: _Calibration(float(a), float(b), int(n), int(m))
                       for label, (a, b, n, m) in manifest["calibration"].items()}
        shift = {label: (float(a), float(b), float(c), float(d))
                 for label, (a, b, c, d) in manifest.get("shift", {}).items()}
        return cls(tuple(manifest["labels"]), parts, calibration, manifest.get("info", {}), shift)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the detector to one file (a zip; see ``to_bytes``)."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Detector:
        """A detector ``save`` wrote."""
        return cls.from_bytes(Path(path).read_bytes())


# ---------------------------------------------------------------------- images and boxes


def _decode(data: bytes) -> tuple[np.ndarray, float]:
    """RGB pixels (scaled down to MAX_SIDE at most) and the scale applied."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not an image: {exc}") from None
    scale = min(1.0, MAX_SIDE / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8)), scale


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _shifted(box: tuple[float, float, float, float], shift: tuple[float, float, float, float] | None
             ) -> tuple[float, float, float, float]:
    """A detected box with each edge moved by its class's learnt shift (a fraction of the box's width or height)."""
    if shift is None:
        return box
    xmin, ymin, xmax, ymax = box
    w, h = xmax - xmin, ymax - ymin
    return xmin + shift[0] * w, ymin + shift[1] * h, xmax + shift[2] * w, ymax + shift[3] * h


def _suppress(detections: list[Detection], threshold: float) -> list[Detection]:
    """Greedy non-maximum suppression over every class: highest score first."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        box = (d.xmin, d.ymin, d.xmax, d.ymax)
        if all(_iou(box, (k.xmin, k.ymin, k.xmax, k.ymax)) <= threshold for k in kept):
            kept.append(d)
    return kept


def _raw_detections(parts: Sequence[_Part], pixels: np.ndarray
                    ) -> list[tuple[str, float, tuple[float, float, float, float]]]:
    """(label, dlib's raw score, box in the pixels' coordinates) of every part, dlib's own threshold lowered."""
    out = []
    for part in parts:
        rects, scores, _ = part.detector.run(pixels, part.upsample, ADJUST_THRESHOLD)  # type: ignore[attr-defined]
        for rect, raw in zip(rects, scores, strict=True):
            out.append((part.label, float(raw),
                        (float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1))))
    return out


@dataclass
class _Image:
    """One training image at its working scale and its true boxes in that scale."""

    pixels: np.ndarray
    boxes: list[tuple[str, float, float, float, float]]


def _prepare(images: Sequence[bytes], boxes: Sequence[Sequence[LabelledBox]],
             labels: Sequence[str]) -> list[_Image]:
    if len(images) != len(boxes):
        raise ValueError(f"{len(images)} images but {len(boxes)} lists of boxes: give one list per image")
    known = set(labels)
    prepared = []
    for index, (data, image_boxes) in enumerate(zip(images, boxes, strict=True)):
        try:
            pixels, scale = _decode(data)
        except ValueError as exc:
            raise ValueError(f"image {index}: {exc}") from None
        height, width = round(pixels.shape[0] / scale), round(pixels.shape[1] / scale)
        scaled = []
        for label, xmin, ymin, xmax, ymax in image_boxes:
            if label not in known:
                raise ValueError(f"image {index}: box label {label!r} is not one of the labels "
                                 f"({', '.join(labels)})")
            if not (0 <= xmin < xmax <= width and 0 <= ymin < ymax <= height):
                raise ValueError(f"image {index}: box {label!r} ({xmin}, {ymin}, {xmax}, {ymax}) is empty or "
                                 f"outside the {width}x{height} image")
            scaled.append((label, xmin * scale, ymin * scale, xmax * scale, ymax * scale))
        prepared.append(_Image(pixels, scaled))
    return prepared


def _aspect_groups(aspects: Sequence[float]) -> list[list[int]]:
    """Indexes of ``aspects`` grouped so that within a group the largest is at most MAX_ASPECT_SPAN x the least."""
    order = sorted(range(len(aspects)), key=lambda i: aspects[i])
    groups: list[list[int]] = []
    for i in order:
        if groups and aspects[i] <= aspects[groups[-1][0]] * MAX_ASPECT_SPAN:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


@dataclass(frozen=True)
class _Plan:
    """What one HOG detector trains on: its class, its boxes (image index, box) and the boxes painted out."""

    label: str
    boxes: tuple[tuple[int, tuple[float, float, float, float]], ...]
    ignored: tuple[tuple[int, tuple[float, float, float, float]], ...]


def _plans(prepared: Sequence[_Image], labels: Sequence[str]) -> tuple[list[_Plan], dict[str, int]]:
    """The detectors to train, and per class the boxes painted out for a rare shape; ValueError for a class
    with too few boxes."""
    plans, dropped = [], {}
    for label in labels:
        found = [(i, box[1:]) for i, image in enumerate(prepared) for box in image.boxes if box[0] == label]
        if len(found) < MIN_BOXES:
            raise ValueError(f"class {label!r} has {len(found)} box{'es' if len(found) != 1 else ''}: a detector "
                             f"needs at least {MIN_BOXES}; label more images with it, or leave the class out")
        aspects = [(b[2] - b[0]) / (b[3] - b[1]) for _, b in found]
        groups = _aspect_groups(aspects)
        big = [g for g in groups if len(g) >= MIN_BOXES]
        if not big:
            low, high = min(aspects), max(aspects)
            raise ValueError(f"class {label!r}: its {len(found)} boxes have too different shapes (width / height "
                             f"from {low:.2f} to {high:.2f}) and no {MIN_BOXES} of them are alike: label more "
                             "images, or split the class by shape")
        small = [i for g in groups if len(g) < MIN_BOXES for i in g]
        dropped[label] = len(small)
        for group in big:
            members = set(group)
            plans.append(_Plan(label, tuple(found[i] for i in group),
                               tuple(found[i] for i in range(len(found)) if i not in members)))
    return plans, dropped


def _painted(pixels: np.ndarray, boxes: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    """The pixels with each box filled with its mean colour: a flat patch, neither object nor background."""
    if not boxes:
        return pixels
    out: np.ndarray = pixels.copy()
    for xmin, ymin, xmax, ymax in boxes:
        x0, y0, x1, y1 = int(xmin), int(ymin), math.ceil(xmax), math.ceil(ymax)
        patch = out[y0:y1, x0:x1]
        if patch.size:
            patch[...] = patch.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def _train_part(plan: _Plan, prepared: Sequence[_Image], subset: Sequence[int], threads: int) -> _Part | None:
    """One HOG detector trained on the images ``subset``; None if the subset holds too few of its boxes."""
    by_image: dict[int, list[tuple[float, float, float, float]]] = {}
    for i, box in plan.boxes:
        by_image.setdefault(i, []).append(box)
    ignored: dict[int, list[tuple[float, float, float, float]]] = {}
    for i, box in plan.ignored:
        ignored.setdefault(i, []).append(box)
    images, rects = [], []
    count = 0
    for i in subset:
        images.append(_painted(prepared[i].pixels, ignored.get(i, [])))
        own = by_image.get(i, [])
        count += len(own)
        rects.append([dlib.rectangle(round(b[0]), round(b[1]), max(round(b[0]), round(b[2]) - 1),
                                     max(round(b[1]), round(b[3]) - 1)) for b in own])
    if count < MIN_BOXES // 2 + 1:
        return None
    areas = sorted((b[2] - b[0]) * (b[3] - b[1]) for _, b in plan.boxes)
    options = dlib.simple_object_detector_training_options()
    options.C = SVM_C
    options.num_threads = threads
    options.add_left_right_image_flips = True
    area = min(MAX_WINDOW_AREA, max(MIN_WINDOW_AREA, areas[0] * WINDOW_FRACTION))
    trained = None
    # dlib refuses a window its sliding positions cannot fit every box with (IoU 0.5): try larger windows,
    # then let it upsample the images (slower: four times the pixels per step).
    for window, upsample_limit in ((area, 0), (area * 1.3, 0), (area * 1.7, 0), (area * 1.7, 2), (6400, 2)):
        options.detection_window_size = int(min(MAX_WINDOW_AREA, window))
        options.upsample_limit = upsample_limit
        try:
            trained = dlib.train_simple_object_detector(images, rects, options)
            break
        except RuntimeError as exc:
            if "impossible" not in str(exc):
                raise
    if trained is None:
        raise ValueError(f"class {plan.label!r}: no detection window fits its boxes (they may be too small, "
                         "under about 20x20 pixels, or cut by the image's edge)")
    upsample = int(trained.upsampling_amount)
    with tempfile.TemporaryDirectory(prefix="nanoclient-detector-") as folder:
        path = os.path.join(folder, "detector.svm")
        trained.save(path)
        detector = dlib.fhog_object_detector(path)
    return _Part(plan.label, detector, upsample)


def _matches(found: Sequence[tuple[float, tuple[float, float, float, float]]],
             truths: Sequence[tuple[float, float, float, float]]
             ) -> list[tuple[float, bool, tuple[float, float, float, float] | None]]:
    """(raw score, whether it matched a true box not matched before, the shift of each edge from the detected
    box to that true box as a fraction of the detected box's width or height), highest score first."""
    used: set[int] = set()
    out: list[tuple[float, bool, tuple[float, float, float, float] | None]] = []
    for raw, box in sorted(found, key=lambda f: -f[0]):
        best, best_iou = -1, MATCH_IOU
        for j, truth in enumerate(truths):
            iou = _iou(box, truth)
            if j not in used and iou >= best_iou:
                best, best_iou = j, iou
        shift = None
        if best >= 0:
            used.add(best)
            w, h = box[2] - box[0], box[3] - box[1]
            t = truths[best]
            shift = ((t[0] - box[0]) / w, (t[1] - box[1]) / h, (t[2] - box[2]) / w, (t[3] - box[3]) / h)
        out.append((raw, best >= 0, shift))
    return out


def _platt(pairs: Sequence[tuple[float, bool]]) -> _Calibration:
    """Platt's fit of P(match | raw score), with his smoothed targets (never 0 or 1: separable data stays finite)."""
    if not pairs:
        return _UNCALIBRATED
    raw = np.array([p[0] for p in pairs], dtype=float)
    hit = np.array([p[1] for p in pairs], dtype=bool)
    positives, negatives = int(hit.sum()), int((~hit).sum())
    target = np.where(hit, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 4.0, 0.0
    for _ in range(100):  # Newton's method with a little ridge on the slope
        z = np.clip(a * raw + b, -30, 30)
        p = 1 / (1 + np.exp(-z))
        w = np.maximum(p * (1 - p), 1e-9)
        grad = np.array([np.sum((p - target) * raw) + 1e-3 * a, np.sum(p - target)])
        hess = np.array([[np.sum(w * raw * raw) + 1e-3, np.sum(w * raw)], [np.sum(w * raw), np.sum(w) + 1e-9]])
        step = np.linalg.solve(hess, grad)
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-8:
            break
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:  # a higher raw score must never score lower
        return _Calibration(_UNCALIBRATED.a, _UNCALIBRATED.b, len(pairs), positives)
    return _Calibration(a, b, len(pairs), positives)


def train_detector(images: Sequence[bytes], boxes: Sequence[Sequence[LabelledBox]], labels: Sequence[str], *,
                   progress: Callable[[float], None] | None = None, threads: int = 2,
                   calibrate: bool = True) -> Detector:
    """A Detector for ``labels`` trained on ``images`` (encoded JPEG, PNG...) and each image's true boxes.

    ``boxes[i]`` lists image i's boxes as ``(label, xmin, ymin, xmax, ymax)``; an image with no boxes is a
    negative for every class. ``progress`` is told the fraction done (0 to 1) after each step; ``threads``
    is how many threads dlib trains with. ``calibrate=False`` skips the two folds (three times faster; the
    scores are then dlib's raw scores through a fixed curve, 0.5 at dlib's own threshold).

    ValueError, saying what to do, for: no labels, a box whose label is not in ``labels``, a box empty or
    outside its image, a class with fewer than MIN_BOXES boxes (or whose boxes have no MIN_BOXES of one
    shape), an image Pillow cannot read.
    """
    if not labels:
        raise ValueError("no labels: give the classes to detect")
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels {list(labels)} name a class twice: name each class once")
    prepared = _prepare(images, boxes, labels)
    plans, dropped = _plans(prepared, labels)
    everything = list(range(len(prepared)))
    folds = [everything[0::2], everything[1::2]] if calibrate else []
    weight_full, weight_fold = 1.0, 0.5
    total = len(plans) * (weight_full + weight_fold * len(folds))
    done = 0.0

    def step(amount: float) -> None:
        nonlocal done
        done += amount
        if progress is not None:
            progress(min(1.0, done / total))

    pairs: dict[str, list[tuple[float, bool]]] = {label: [] for label in labels}
    shifts: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label in labels}
    for held_out in folds:
        held = set(held_out)
        trained_on = [i for i in everything if i not in held]
        parts = []
        for plan in plans:
            part = _train_part(plan, prepared, trained_on, threads)
            if part is not None:
                parts.append(part)
            step(weight_fold)
        for i in held_out:
            raw = _raw_detections(parts, prepared[i].pixels)
            for label in labels:
                truths = [b[1:] for b in prepared[i].boxes if b[0] == label]
                for r, hit, shift in _matches([(r, box) for name, r, box in raw if name == label], truths):
                    pairs[label].append((r, hit))
                    if shift is not None:
                        shifts[label].append(shift)
    final = []
    for plan in plans:
        part = _train_part(plan, prepared, everything, threads)
        if part is None:  # cannot happen: _plans checked the counts
            raise ValueError(f"class {plan.label!r} has too few boxes to train")
        final.append(part)
        step(weight_full)
    calibration = {label: _platt(pairs[label]) for label in labels} if calibrate else {}
    # the median shift of each edge, where enough held-out detections matched to know it
    edge_shift = {label: [float(v) for v in np.median(np.array(shifts[label]), axis=0)]
                  for label in labels if len(shifts[label]) >= MIN_BOXES}
    info: dict[str, object] = {
        "images": len(prepared),
        "classes": {
            label: {
                "boxes": sum(1 for image in prepared for b in image.boxes if b[0] == label),
                "painted_out": dropped[label],
                "detectors": [{"window": [int(p.detector.detection_window_width),  # type: ignore[attr-defined]
                                          int(p.detector.detection_window_height)],  # type: ignore[attr-defined]
                               "upsample": p.upsample} for p in final if p.label == label],
                "calibration": ({"a": round(calibration[label].a, 4), "b": round(calibration[label].b, 4),
                                 "pairs": calibration[label].pairs, "matched": calibration[label].matched}
                                if label in calibration else None),
            } for label in labels},
    }
    for label, edges in edge_shift.items():
        info_classes = info["classes"]
        assert isinstance(info_classes, dict)
        info_classes[label]["box_shift"] = [round(v, 4) for v in edges]
    return Detector(tuple(labels), final, calibration, info,
                    {label: (e[0], e[1], e[2], e[3]) for label, e in edge_shift.items()})
