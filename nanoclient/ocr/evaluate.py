"""Scoring an OCR model on annotated documents: per field, precision, recall and exact-text accuracy.

For each labelled field of a page, the model's answer for that field (its best-scored box) is
- *found* when its box overlaps the labelled box (intersection over union at least ``MIN_IOU``),
- *exact* when its text is the labelled text (whitespace runs count as one space).
Per field: recall = found / labelled, exact-text accuracy = exact / labelled, precision = found /
answered (an answer on a page where the field is not labelled counts against precision).

The suggested auto-accept threshold (``auto_accept_threshold``) is the lowest score t such that at
least 99% of the held-out answers scored t or more are exact: answers at or above it can go without
a person's check, the others to review. Its share is the fraction of the fields compared (every
labelled value, and every answer where nothing is labelled) that it accepts.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..annotations import Annotation, FieldBox
from .types import OcrField, OcrPage
from .values import same_value

#: Overlap at which a predicted box counts as the labelled one.
MIN_IOU = 0.5
#: The share of the answers at or above the auto-accept threshold that must be exact.
AUTO_ACCEPT_PRECISION = 0.99


def same_text(a: str, b: str) -> bool:
    """Whether two texts are the same value (whitespace runs count as one space)."""
    return " ".join(a.split()) == " ".join(b.split())


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass
class FieldScore:
    """The counts of one field over the documents scored."""

    field: str
    labelled: int = 0
    answered: int = 0
    found: int = 0
    exact: int = 0

    @property
    def precision(self) -> float | None:
        return self.found / self.answered if self.answered else None

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def accuracy(self) -> float | None:
        """Exact-text accuracy: labelled values read exactly."""
        return self.exact / self.labelled if self.labelled else None

    def to_json(self) -> dict[str, object]:
        return {"field": self.field, "labelled": self.labelled, "answered": self.answered, "found": self.found,
                "exact": self.exact, "precision": self.precision, "recall": self.recall,
                "exact_text_accuracy": self.accuracy}


@dataclass(frozen=True)
class Comparison:
    """One labelled or answered field of a page: the truth, the answer, and whether they agree."""

    field: str
    page: int
    truth: FieldBox | None
    answer: OcrField | None

    @property
    def found(self) -> bool:
        """The answer is where the truth is (for a value labelled without a box: it is that value)."""
        if self.truth is None or self.answer is None:
            return False
        if not self.truth.has_box:
            return self.exact
        return iou((self.truth.xmin, self.truth.ymin, self.truth.xmax, self.truth.ymax),
                   (self.answer.xmin, self.answer.ymin, self.answer.xmax, self.answer.ymax)) >= MIN_IOU

    @property
    def exact(self) -> bool:
        """The answer's text is the truth's; for a value labelled without a box (as an accounting system has
        it: ``4904.94`` for the page's ``€4.904,94``), the same value in any of its forms."""
        if self.truth is None or self.answer is None or self.truth.text is None:
            return False
        if not self.truth.has_box:
            return same_value(self.answer.text, self.truth.text)
        return same_text(self.answer.text, self.truth.text)


@dataclass(frozen=True)
class AutoAccept:
    """A suggested auto-accept threshold: the lowest score at which at least ``target`` of the answers scored
    that or more are exact (``threshold`` None when there is no such score: no scored answer, or never
    that exact), how many answers it accepts and how many of those are exact, out of ``fields`` compared."""

    target: float
    threshold: float | None
    accepted: int
    exact: int
    fields: int
    #: Answers with a score (answers without one, as a service may give, are never accepted).
    answers: int

    @property
    def share(self) -> float | None:
        """The share of the fields compared that the threshold accepts (None when none were compared)."""
        return self.accepted / self.fields if self.fields else None

    @property
    def precision(self) -> float | None:
        """The share of accepted answers that are exact."""
        return self.exact / self.accepted if self.accepted else None

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "threshold": self.threshold, "accepted": self.accepted, "exact": self.exact,
                "fields": self.fields, "answers": self.answers, "share": self.share, "precision": self.precision}


def auto_accept_threshold(outcomes: Iterable[tuple[float | None, bool]], *, fields: int | None = None,
                          target: float = AUTO_ACCEPT_PRECISION) -> AutoAccept:
    """The lowest score t such that at least ``target`` of the answers scored t or more are exact.

    ``outcomes``: one (the answer's score, None when there is no answer or it has no score; whether it is
    exact) per field compared. ``fields``: how many fields the share is of (default: the outcomes).
    Answers of equal score are accepted or not together. No scored answer, or none of the candidate
    scores reaching ``target``: ``threshold`` None and nothing accepted.
    """
    if not 0 < target <= 1:
        raise ValueError("target must be in (0, 1]")
    listed = list(outcomes)
    total = len(listed) if fields is None else fields
    scored = sorted(((score, exact) for score, exact in listed if score is not None), key=lambda o: -o[0])
    best: tuple[float, int, int] | None = None
    accepted = exact_count = 0
    for index, (score, exact) in enumerate(scored):
        accepted += 1
        exact_count += exact
        if index + 1 < len(scored) and scored[index + 1][0] == score:
            continue  # ties go together
        if exact_count >= target * accepted - 1e-9:
            best = (score, accepted, exact_count)
    if best is None:
        return AutoAccept(target, None, 0, 0, total, len(scored))
    return AutoAccept(target, best[0], best[1], best[2], total, len(scored))


@dataclass
class OcrEvaluation:
    """Scores per field and in all, and every comparison by document (for a report)."""

    fields: list[FieldScore]
    documents: list[tuple[str, list[Comparison]]] = field(default_factory=list)
    #: How many pages the model read of each document.
    pages: dict[str, int] = field(default_factory=dict)

    @property
    def labelled(self) -> int:
        return sum(f.labelled for f in self.fields)

    @property
    def accuracy(self) -> float | None:
        """Field-level exact-text accuracy over every labelled value."""
        return sum(f.exact for f in self.fields) / self.labelled if self.labelled else None

    @property
    def auto_accept(self) -> AutoAccept:
        """The suggested auto-accept threshold over every comparison (``auto_accept_threshold``)."""
        return auto_accept_threshold((c.answer.score if c.answer is not None else None, c.exact)
                                     for _, comparisons in self.documents for c in comparisons)

    def to_json(self) -> dict[str, object]:
        return {"documents": len(self.documents), "labelled": self.labelled, "exact_text_accuracy": self.accuracy,
                "fields": [f.to_json() for f in self.fields], "auto_accept": self.auto_accept.to_json()}


def evaluate(results: Iterable[tuple[str, Annotation, Sequence[OcrPage]]], fields: Sequence[str]) -> OcrEvaluation:
    """Score (document, its annotation, the pages the model read) triples over the model's ``fields``."""
    scores = {name: FieldScore(name) for name in fields}
    evaluation = OcrEvaluation(list(scores.values()))
    for document, annotation, pages in results:
        comparisons = []
        by_page = {page.page: page for page in pages}
        labelled_pages = {box.page for box in annotation.boxes} | set(by_page)
        for number in sorted(labelled_pages):
            truths = {box.field: box for box in annotation.boxes if box.page == number}
            page = by_page.get(number)
            answers = {name: answer for name in fields
                       if page is not None and (answer := page.field(name)) is not None}
            for name in fields:
                truth, answer = truths.get(name), answers.get(name)
                if truth is None and answer is None:
                    continue
                comparison = Comparison(name, number, truth, answer)
                score = scores[name]
                score.labelled += truth is not None
                score.answered += answer is not None
                score.found += comparison.found
                score.exact += comparison.exact
                comparisons.append(comparison)
        evaluation.documents.append((document, comparisons))
        evaluation.pages[document] = len(by_page)
    return evaluation


__all__ = ["AUTO_ACCEPT_PRECISION", "AutoAccept", "Comparison", "FieldScore", "MIN_IOU", "OcrEvaluation",
           "auto_accept_threshold", "evaluate", "iou", "same_text"]
