"""Scoring an object detection model on annotated images: AP per class, mAP, COCO mAP, the count error.

Matching, for one class in one image: predictions are taken highest score first (a prediction without
a score counts as 1), and each is a true positive when it overlaps a true box of its class not matched
before with IoU (intersection over union) at least the threshold, the one it overlaps most; otherwise it
is a false positive (a second detection of a matched object is one). Across the images, the class's
predictions ranked by score give the precision/recall curve.

- **AP@0.5** (Pascal VOC, all points): the area under the precision envelope (precision made
  non-increasing in recall) at IoU 0.5, every recall step counted. ``map50`` is its mean over the
  classes that have true boxes; a class with no true box has no AP and is left out of every mean
  (its predictions are all false positives, seen in its precision and the count error).
- **COCO mAP@[.5:.95]**: the same matching at IoU 0.50, 0.55 ... 0.95, the envelope read at 101
  recall points (0, 0.01 ... 1; 0 beyond the highest recall reached), averaged over the ten IoUs and
  the classes.
- **Count error**: per image, the absolute difference between the objects predicted with score at
  or above ``threshold`` (default ``COUNT_THRESHOLD``) and the true boxes; its mean over images.
- At ``threshold`` too: per class precision and recall at IoU 0.5, and per image the errors the report
  shows (``ImageOutcome``: false positives with their kind, and missed true boxes).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..annotations import Annotation
from .types import DetectedObject

__all__ = [
    "COUNT_THRESHOLD",
    "ClassScore",
    "DetectionEvaluation",
    "ImageOutcome",
    "Miss",
    "TrueBox",
    "average_precision",
    "coco_average_precision",
    "evaluate",
    "iou",
    "true_boxes",
]

#: The score at or above which a prediction counts as an answer for the count error and the per-image errors.
COUNT_THRESHOLD = 0.5
#: The IoU at which a prediction matches a true box for AP@0.5, precision, recall and the report.
MATCH_IOU = 0.5
COCO_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))

#: A true box: (label, xmin, ymin, xmax, ymax), pixels.
TrueBox = tuple[str, int, int, int, int]
Box = tuple[float, float, float, float]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes (0 when either is empty)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def true_boxes(annotation: Annotation) -> list[TrueBox]:
    """An annotation's boxes (``nanoclient.annotations``: the field name is the class) as true boxes."""
    return [(box.field, box.xmin, box.ymin, box.xmax, box.ymax) for box in annotation.boxes if box.has_box]


def _score(obj: DetectedObject) -> float:
    return 1.0 if obj.score is None else obj.score


def _match(predictions: Sequence[DetectedObject], truths: Sequence[Box], threshold: float) -> list[bool]:
    """Whether each of one class's predictions in one image (in the given order, highest score first) is a
    true positive at IoU ``threshold``."""
    used: set[int] = set()
    hits = []
    for obj in predictions:
        best, best_iou = -1, threshold
        for j, truth in enumerate(truths):
            overlap = iou(obj.box, truth)
            if j not in used and overlap >= best_iou:
                best, best_iou = j, overlap
        if best >= 0:
            used.add(best)
        hits.append(best >= 0)
    return hits


def _ranked(images: Sequence[tuple[Sequence[Box], Sequence[DetectedObject]]], threshold: float
            ) -> tuple[list[bool], int]:
    """One class's predictions over all images ranked by score (ties: image order) as hit/miss, and its truths."""
    scored: list[tuple[float, int, bool]] = []
    truths = 0
    order = 0
    for image_truths, image_predictions in images:
        truths += len(image_truths)
        ranked = sorted(image_predictions, key=lambda o: -_score(o))
        for obj, hit in zip(ranked, _match(ranked, image_truths, threshold), strict=True):
            scored.append((-_score(obj), order, hit))
            order += 1
    scored.sort()
    return [hit for _, _, hit in scored], truths


def _curve(hits: Sequence[bool], truths: int) -> tuple[list[float], list[float]]:
    """(precision, recall) after each ranked prediction."""
    precision, recall, tp = [], [], 0
    for rank, hit in enumerate(hits, start=1):
        tp += hit
        precision.append(tp / rank)
        recall.append(tp / truths)
    return precision, recall


def average_precision(hits: Sequence[bool], truths: int) -> float | None:
    """All-point interpolated AP of ranked predictions (True: a true positive) against ``truths`` true boxes;
    None when there is no true box."""
    if truths == 0:
        return None
    precision, recall = _curve(hits, truths)
    envelope = precision[:]
    for i in range(len(envelope) - 2, -1, -1):
        envelope[i] = max(envelope[i], envelope[i + 1])
    area, previous = 0.0, 0.0
    for p, r in zip(envelope, recall, strict=True):
        area += (r - previous) * p
        previous = r
    return area


def coco_average_precision(hits: Sequence[bool], truths: int) -> float | None:
    """AP read at the 101 recall points 0, 0.01 ... 1 of the precision envelope (COCO's); None without truths."""
    if truths == 0:
        return None
    precision, recall = _curve(hits, truths)
    envelope = precision[:]
    for i in range(len(envelope) - 2, -1, -1):
        envelope[i] = max(envelope[i], envelope[i + 1])
    total, k = 0.0, 0
    for point in range(101):
        r = point / 100
        while k < len(recall) and recall[k] < r - 1e-12:
            k += 1
        total += envelope[k] if k < len(recall) else 0.0
    return total / 101


@dataclass(frozen=True)
class ClassScore:
    """One class over the images: its true boxes, predictions, AP@0.5, COCO AP, precision and recall at the
    threshold (None where undefined: no true box, or no prediction at the threshold)."""

    label: str
    truths: int
    predictions: int
    ap50: float | None
    coco_ap: float | None
    precision: float | None
    recall: float | None

    def to_json(self) -> dict[str, object]:
        return {"label": self.label, "truths": self.truths, "predictions": self.predictions, "ap50": self.ap50,
                "coco_ap": self.coco_ap, "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class Miss:
    """A wrong prediction at the threshold (``kind``: "wrong class" where it overlaps a true box of another class,
    "duplicate" over an object already found, "background" elsewhere) or a true box not found (kind "missed")."""

    kind: str
    label: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int
    score: float | None

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "label": self.label, "xmin": self.xmin, "ymin": self.ymin, "xmax": self.xmax,
                "ymax": self.ymax, "score": self.score}


@dataclass(frozen=True)
class ImageOutcome:
    """One image at the threshold: its true boxes, predictions (all), and the errors (wrong and missed)."""

    name: str
    truths: tuple[TrueBox, ...]
    predictions: tuple[DetectedObject, ...]
    errors: tuple[Miss, ...]
    count_error: int

    @property
    def correct(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "truths": [list(t) for t in self.truths],
                "predictions": [p.to_json() for p in self.predictions],
                "errors": [e.to_json() for e in self.errors], "count_error": self.count_error}


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


@dataclass(frozen=True)
class DetectionEvaluation:
    """The scores of a detection model on annotated images; ``threshold`` is the score the count error,
    precision, recall and per-image errors are taken at."""

    classes: tuple[ClassScore, ...]
    images: tuple[ImageOutcome, ...]
    threshold: float

    @property
    def map50(self) -> float | None:
        """Mean AP@0.5 over the classes with true boxes."""
        return _mean(c.ap50 for c in self.classes)

    @property
    def coco_map(self) -> float | None:
        """COCO mAP@[.5:.95] over the classes with true boxes."""
        return _mean(c.coco_ap for c in self.classes)

    @property
    def count_error(self) -> float | None:
        """Mean absolute difference of object counts per image at the threshold (None with no image)."""
        return _mean(float(i.count_error) for i in self.images)

    def to_json(self) -> dict[str, object]:
        return {"map50": self.map50, "coco_map": self.coco_map, "count_error": self.count_error,
                "threshold": self.threshold, "iou": MATCH_IOU, "images": len(self.images),
                "images_correct": sum(i.correct for i in self.images),
                "classes": [c.to_json() for c in self.classes], "per_image": [i.to_json() for i in self.images]}

    def format_text(self) -> str:
        """A table per class and the summary lines, as the CLI prints them."""
        def shown(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        width = max([5, *(len(c.label) for c in self.classes)])
        lines = [f"{'class':<{width}}  {'boxes':>5}  {'found':>5}  {'AP@0.5':>6}  {'COCO AP':>7}  "
                 f"{'precision':>9}  {'recall':>6}"]
        for c in self.classes:
            lines.append(f"{c.label:<{width}}  {c.truths:>5}  {c.predictions:>5}  {shown(c.ap50):>6}  "
                         f"{shown(c.coco_ap):>7}  {shown(c.precision):>9}  {shown(c.recall):>6}")
        correct = sum(i.correct for i in self.images)
        lines += ["",
                  f"mAP@0.5 {shown(self.map50)}; COCO mAP@[.5:.95] {shown(self.coco_map)}",
                  f"count error {shown(self.count_error)} objects per image; {correct} of {len(self.images)} images "
                  f"without error (score threshold {self.threshold:g}, IoU {MATCH_IOU:g})"]
        return "\n".join(lines)


def _errors(truths: Sequence[TrueBox], predictions: Sequence[DetectedObject], threshold: float) -> list[Miss]:
    kept = sorted((p for p in predictions if _score(p) >= threshold), key=lambda p: -_score(p))
    found: set[int] = set()
    errors: list[Miss] = []
    for p in kept:
        best, best_iou = -1, MATCH_IOU
        for j, t in enumerate(truths):
            overlap = iou(p.box, t[1:])
            if j not in found and t[0] == p.label and overlap >= best_iou:
                best, best_iou = j, overlap
        if best >= 0:
            found.add(best)
            continue
        if any(t[0] == p.label and iou(p.box, t[1:]) >= MATCH_IOU for t in truths):
            kind = "duplicate"
        elif any(t[0] != p.label and iou(p.box, t[1:]) >= MATCH_IOU for t in truths):
            kind = "wrong class"
        else:
            kind = "background"
        errors.append(Miss(kind, p.label, *p.box, p.score))
    errors += [Miss("missed", t[0], *t[1:], None) for j, t in enumerate(truths) if j not in found]
    return errors


def evaluate(images: Iterable[tuple[str, Sequence[TrueBox], Sequence[DetectedObject]]],
             labels: Sequence[str] | None = None, *, threshold: float = COUNT_THRESHOLD) -> DetectionEvaluation:
    """Score predictions against true boxes: ``images`` gives, per image, its name, its true boxes
    ``(label, xmin, ymin, xmax, ymax)`` and the model's predictions (all of them: AP needs the low scores).

    ``labels`` are the classes to score, in their order (default: every class met, sorted); predictions of
    other classes count only in the per-image errors and the count error.
    """
    items = [(name, tuple(truths), tuple(predictions)) for name, truths, predictions in images]
    if labels is None:
        labels = sorted({t[0] for _, truths, _ in items for t in truths}
                        | {p.label for _, _, predictions in items for p in predictions})
    classes = []
    for label in labels:
        per_image = [([t[1:] for t in truths if t[0] == label], [p for p in predictions if p.label == label])
                     for _, truths, predictions in items]
        hits, count = _ranked(per_image, MATCH_IOU)
        coco = [coco_average_precision(*_ranked(per_image, t)) for t in COCO_IOUS]
        answered = [(t, [p for p in ps if _score(p) >= threshold]) for t, ps in per_image]
        kept_hits, _ = _ranked(answered, MATCH_IOU)
        predicted = len(kept_hits)
        classes.append(ClassScore(
            label, count, sum(len(ps) for _, ps in per_image), average_precision(hits, count),
            None if count == 0 else sum(a for a in coco if a is not None) / len(COCO_IOUS),
            sum(kept_hits) / predicted if predicted else None, sum(kept_hits) / count if count else None))
    outcomes = tuple(
        ImageOutcome(name, truths, predictions, tuple(_errors(truths, predictions, threshold)),
                     abs(sum(_score(p) >= threshold for p in predictions) - len(truths)))
        for name, truths, predictions in items)
    return DetectionEvaluation(tuple(classes), outcomes, threshold)
