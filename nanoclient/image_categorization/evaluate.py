"""How well a model does on a labelled folder: accuracy, per-class scores, confusion matrix.

    from nanoclient import Client
    from nanoclient.image_categorization.evaluate import run_evaluation, format_text
    with Client() as client:
        result = run_evaluation(client, model_id, "images")   # images/test/<label>/*.png
    print(format_text(result))

The metrics are plain Python (no numpy) and follow scikit-learn's definitions:
precision of a class that is never predicted, and recall of a class that never occurs,
are 0.0 (``zero_division=0``). ``run_evaluation`` is the body of ``nanoclient evaluate``;
the command itself only formats what it returns.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._tuning import DEFAULT_PREDICT_BATCH_SIZE, DEFAULT_PREDICT_WORKERS
from ..images import find_labelled_images
from ..types import FileError, PathLike, Prediction

if TYPE_CHECKING:  # the client is only annotated: evaluating needs no import of requests
    from ..client import Client



@dataclass(frozen=True)
class ClassScores:
    """Precision, recall, F1 and support (number of true items) of one label."""

    precision: float
    recall: float
    f1: float
    support: int

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


@dataclass(frozen=True)
class Mistake:
    """One misclassified item: where it is, what it is, what the model said and how sure it was."""

    file: str
    label: str
    predicted: str
    probability: float
    #: Every (label, probability) the model gave, highest first.
    scores: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "label": self.label, "predicted": self.predicted, "probability": self.probability}


@dataclass
class EvaluationResult:
    """Everything ``nanoclient evaluate`` reports about one labelled set."""

    n: int
    accuracy: float
    #: Labels of the confusion matrix: the union of true and predicted labels, sorted.
    labels: list[str]
    #: ``matrix[i][j]``: items whose true label is ``labels[i]`` predicted as ``labels[j]``.
    matrix: list[list[int]]
    per_class: dict[str, ClassScores]
    mistakes: list[Mistake] = field(default_factory=list)
    #: The model evaluated, when known (shown in the report).
    model_id: str | None = None
    #: Files found under the folder but not predicted, with the reason.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    #: Of those, the files that were tried and failed (not an image, refused, an error).
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def correct(self) -> int:
        """Number of items predicted right (the matrix diagonal)."""
        return sum(self.matrix[i][i] for i in range(len(self.labels)))

    @property
    def macro(self) -> ClassScores:
        """Unweighted mean of the per-class scores over the labels (support = n)."""
        return _average(self.per_class, self.n, weighted=False)

    @property
    def weighted(self) -> ClassScores:
        """Mean of the per-class scores weighted by support (support = n)."""
        return _average(self.per_class, self.n, weighted=True)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` form of issue 7 (plus ``macro`` and ``weighted`` averages)."""
        return {
            "accuracy": self.accuracy,
            "n": self.n,
            "per_class": {label: scores.to_json() for label, scores in self.per_class.items()},
            "macro": self.macro.to_json(),
            "weighted": self.weighted.to_json(),
            "confusion": {"labels": list(self.labels), "matrix": [list(row) for row in self.matrix]},
            "mistakes": [m.to_json() for m in self.mistakes],
            "failed": [{"file": file, "error": reason} for file, reason in self.failed],
        }


def confusion_matrix(true: Sequence[str], predicted: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """(labels, matrix) with rows = true label, columns = predicted, labels = sorted union."""
    _check_lengths(true, predicted)
    labels = sorted(set(true) | set(predicted))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(true, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    return labels, matrix


def class_scores(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> dict[str, ClassScores]:
    """Per-label precision, recall, F1 and support from a confusion matrix (zero_division=0)."""
    size = len(labels)
    scores: dict[str, ClassScores] = {}
    for i, label in enumerate(labels):
        hit = matrix[i][i]
        support = sum(matrix[i])
        predicted = sum(matrix[r][i] for r in range(size))
        precision = hit / predicted if predicted else 0.0
        recall = hit / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[label] = ClassScores(precision=precision, recall=recall, f1=f1, support=support)
    return scores


class Tally:
    """Evaluation fed one answer at a time: counts of (true, predicted) pairs and the mistakes,
    nothing else, so that memory grows with the mistakes only, not with the images."""

    def __init__(self) -> None:
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.mistakes: list[Mistake] = []

    def add(self, file: str, true: str, predicted: str, probability: float = 0.0,
            scores: Sequence[tuple[str, float]] = ()) -> None:
        """Count one item, and keep it if it is a mistake."""
        self.pairs[(true, predicted)] += 1
        if true != predicted:
            self.mistakes.append(Mistake(file=file, label=true, predicted=predicted, probability=float(probability),
                                         scores=list(scores)))

    def result(self) -> EvaluationResult:
        """The metrics of everything counted so far."""
        labels = sorted({label for pair in self.pairs for label in pair})
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for (true, predicted), count in self.pairs.items():
            matrix[index[true]][index[predicted]] += count
        n = sum(self.pairs.values())
        correct = sum(matrix[i][i] for i in range(len(labels)))
        return EvaluationResult(n=n, accuracy=correct / n if n else 0.0, labels=labels, matrix=matrix,
                                per_class=class_scores(labels, matrix),
                                mistakes=sorted(self.mistakes, key=lambda m: m.file))  # answers come in any order


def evaluate_labels(
    true: Sequence[str],
    predicted: Sequence[str],
    *,
    files: Sequence[str] | None = None,
    probabilities: Sequence[float] | None = None,
    scores: Sequence[list[tuple[str, float]]] | None = None,
) -> EvaluationResult:
    """Metrics of predicted against true labels; ``files``/``probabilities``/``scores`` fill the mistakes."""
    _check_lengths(true, predicted)
    n = len(true)
    for name, extra in (("files", files), ("probabilities", probabilities), ("scores", scores)):
        if extra is not None and len(extra) != n:
            raise ValueError(f"{name} has {len(extra)} items, expected {n}")
    tally = Tally()
    for i in range(n):
        tally.add(files[i] if files is not None else str(i), true[i], predicted[i],
                  probabilities[i] if probabilities is not None else 0.0, scores[i] if scores is not None else ())
    return tally.result()


def evaluate_predictions(items: Sequence[tuple[PathLike, str]], predictions: Sequence[Prediction]) -> EvaluationResult:
    """Metrics of ``predictions`` against ``items`` ((path, true label) pairs, same order)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} images")
    return evaluate_labels(
        [label for _, label in items],
        [p.label for p in predictions],
        files=[str(path) for path, _ in items],
        probabilities=[p.probability for p in predictions],
        scores=[list(p.scores) for p in predictions],
    )


def find_test_images(root: PathLike) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """The images to evaluate under ``root``: ((path, true label) pairs, (path, reason) skipped).

    ``root`` holds one sub-folder per category, or a ``test/`` folder that does. Images are found
    by the rule of ``upload`` and ``predict`` (``images.find_labelled_images``): by their first
    bytes, whatever the name; the other files are skipped with the reason, hidden and system names
    (``.DS_Store``, ``Thumbs.db``) left out. Each image is checked whole once, as it is predicted.
    Raises FileNotFoundError when no image is found.
    """
    found, skipped = find_labelled_images(root, split="test")
    if not found:
        raise FileNotFoundError(f"No images found under {root}: pass a folder with one sub-folder of PNG or JPEG "
                                "images per category (or a test/ folder that has them)")
    return found, skipped


def evaluate_images(
    client: Client,
    model_id: str,
    items: Iterable[tuple[PathLike, str]],
    *,
    skipped: Sequence[tuple[PathLike, str]] = (),
    progress: Callable[[int], object] | None = None,
    batch_size: int = DEFAULT_PREDICT_BATCH_SIZE,
    workers: int = DEFAULT_PREDICT_WORKERS,
) -> EvaluationResult:
    """Predict ``items`` ((path, true label) pairs) with ``client.predict_iter`` and score the answers.

    A file that cannot be predicted (not an image, refused by the server) is left out and listed
    in ``result.failed`` (and ``result.skipped``) with the reason; the others are scored all the
    same. The answers are counted as they come (``Tally``): memory holds the mistakes, not every
    prediction. ``progress(1)`` is called per file; ``skipped`` is carried into the result.
    """
    labels: dict[str, str] = {}

    def paths() -> Iterator[str]:
        for path, label in items:
            labels[str(path)] = label
            yield str(path)

    tally = Tally()
    failed: list[tuple[str, str]] = []
    for outcome in client.predict_iter(model_id, paths(), batch_size=batch_size, workers=workers):
        if isinstance(outcome, FileError):
            failed.append((outcome.file, outcome.message))
        else:
            tally.add(outcome.file, labels.pop(outcome.file), outcome.label, outcome.probability, outcome.scores)
        if progress is not None:
            progress(1)
    result = tally.result()
    result.model_id = model_id
    result.failed = sorted(failed)
    result.skipped = [(str(path), reason) for path, reason in skipped] + result.failed
    return result


def run_evaluation(
    client: Client,
    model_id: str,
    root: PathLike,
    *,
    progress: Callable[[int], object] | None = None,
    batch_size: int = DEFAULT_PREDICT_BATCH_SIZE,
    workers: int = DEFAULT_PREDICT_WORKERS,
) -> EvaluationResult:
    """Predict every image of a labelled folder with the model and score the answers.

    ``find_test_images`` then ``evaluate_images``: the body of ``nanoclient evaluate``
    (which calls the two itself, to size its progress bar in between).
    """
    items, skipped = find_test_images(root)
    return evaluate_images(
        client, model_id, items, skipped=skipped, progress=progress, batch_size=batch_size, workers=workers
    )


def format_text(result: EvaluationResult, *, digits: int = 3) -> str:
    """The terminal form: summary line, per-class table and confusion matrix, aligned in columns."""
    lines = [
        f"accuracy {_fmt(result.accuracy, digits)} ({result.correct}/{result.n} correct,"
        f" {len(result.mistakes)} mistake{'' if len(result.mistakes) == 1 else 's'})",
        "",
    ]
    rows = [[label, *_score_cells(s, digits)] for label, s in result.per_class.items()]
    footer = [["macro avg", *_score_cells(result.macro, digits)],
              ["weighted avg", *_score_cells(result.weighted, digits)]]
    lines += _table(["label", "precision", "recall", "f1", "support"], rows, footer)
    lines += ["", "confusion matrix (rows = true label, columns = predicted)"]
    matrix = [[label, *map(str, row)] for label, row in zip(result.labels, result.matrix, strict=True)]
    lines += _table(["true \\ predicted", *result.labels], matrix)
    return "\n".join(lines)


def _score_cells(s: ClassScores, digits: int) -> list[str]:
    return [_fmt(s.precision, digits), _fmt(s.recall, digits), _fmt(s.f1, digits), str(s.support)]


def _fmt(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]], footer: list[list[str]] | None = None) -> list[str]:
    """Rows of cells as aligned lines: first column left-aligned, the others right-aligned."""
    every = [header, *rows, *(footer or [])]
    widths = [max(len(r[c]) for r in every) for c in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line(header), rule, *(line(r) for r in rows)]
    if footer:
        out += [rule, *(line(r) for r in footer)]
    return out


def _average(per_class: dict[str, ClassScores], n: int, *, weighted: bool) -> ClassScores:
    if not per_class:
        return ClassScores(0.0, 0.0, 0.0, n)
    if weighted:
        total = sum(s.support for s in per_class.values())
        weights = [s.support / total if total else 0.0 for s in per_class.values()]
    else:
        weights = [1 / len(per_class)] * len(per_class)
    values = list(per_class.values())
    return ClassScores(
        precision=sum(w * s.precision for w, s in zip(weights, values, strict=True)),
        recall=sum(w * s.recall for w, s in zip(weights, values, strict=True)),
        f1=sum(w * s.f1 for w, s in zip(weights, values, strict=True)),
        support=n,
    )


def _check_lengths(true: Sequence[str], predicted: Sequence[str]) -> None:
    if len(true) != len(predicted):
        raise ValueError(f"{len(predicted)} predicted labels for {len(true)} true labels")


__all__ = [
    "ClassScores",
    "EvaluationResult",
    "Mistake",
    "class_scores",
    "confusion_matrix",
    "evaluate_images",
    "evaluate_labels",
    "evaluate_predictions",
    "find_test_images",
    "format_text",
    "run_evaluation",
]
