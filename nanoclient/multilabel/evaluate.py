"""How well a multi-label model does: per-label precision, recall and F1, their micro and macro averages,
the Hamming loss and the subset accuracy.

    from nanoclient.multilabel.evaluate import evaluate_multilabel
    result = evaluate_multilabel({"a.jpg": ["cat"]}, {"a.jpg": ["cat", "dog"]}, labels=["cat", "dog"])
    print(result.format_text())

Definitions (scikit-learn's, with ``zero_division=0``): a label's precision is 0.0 when it is never
predicted, its recall 0.0 when it never occurs. Micro averages count every (image, label) decision
together; macro averages are the plain mean over the labels. The Hamming loss is the fraction of
(image, label) decisions that are wrong; the subset accuracy the fraction of images whose predicted set
is exactly the true set. Plain Python, no NumPy.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .types import LabelScore, MultilabelPrediction


@dataclass(frozen=True)
class LabelScores:
    """Precision, recall and F1 of one label (or an average), with its support (true occurrences) and
    how often it was predicted."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support,
                "predicted": self.predicted}


@dataclass(frozen=True)
class ImageOutcome:
    """One image with a wrong set of labels: what it is, what the model said, and its scores."""

    file: str
    true: tuple[str, ...]
    predicted: tuple[str, ...]
    #: Every label's probability, highest first (empty when unknown).
    scores: tuple[LabelScore, ...] = ()

    @property
    def missed(self) -> tuple[str, ...]:
        """True labels the model did not give."""
        return tuple(label for label in self.true if label not in self.predicted)

    @property
    def extra(self) -> tuple[str, ...]:
        """Labels the model gave that are not true."""
        return tuple(label for label in self.predicted if label not in self.true)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "true": list(self.true), "predicted": list(self.predicted),
                "missed": list(self.missed), "extra": list(self.extra),
                "scores": [score.to_json() for score in self.scores]}


@dataclass(frozen=True)
class MultilabelEvaluation:
    """Everything an evaluation of a multi-label model reports about one labelled set."""

    #: Images scored.
    n: int
    #: The labels scored (the model's, and any true or predicted label beyond them), sorted.
    labels: tuple[str, ...]
    per_label: dict[str, LabelScores]
    #: Precision, recall and F1 over every (image, label) decision at once.
    micro: LabelScores
    #: The plain mean of the per-label scores.
    macro: LabelScores
    hamming_loss: float
    subset_accuracy: float
    #: The images whose predicted set differs from the true set, by file.
    mistakes: tuple[ImageOutcome, ...] = ()
    model_id: str | None = None
    #: Files not scored, with the reason.
    skipped: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n, "labels": list(self.labels),
            "micro": self.micro.to_json(), "macro": self.macro.to_json(),
            "micro_f1": self.micro.f1, "macro_f1": self.macro.f1,
            "hamming_loss": self.hamming_loss, "subset_accuracy": self.subset_accuracy,
            "per_label": {label: scores.to_json() for label, scores in self.per_label.items()},
            "mistakes": [mistake.to_json() for mistake in self.mistakes],
            "skipped": [{"file": file, "error": reason} for file, reason in self.skipped],
            **({"model_id": self.model_id} if self.model_id else {}),
        }

    def format_text(self, *, digits: int = 3) -> str:
        """The terminal form: a summary line, then the per-label table with the averages, aligned."""
        wrong = len(self.mistakes)

        def number(value: float) -> str:
            return f"{value:.{digits}f}"

        lines = [f"micro F1 {number(self.micro.f1)}  macro F1 {number(self.macro.f1)}  "
                 f"Hamming loss {number(self.hamming_loss)}  subset accuracy {number(self.subset_accuracy)} "
                 f"({self.n - wrong}/{self.n} images exactly right)", ""]
        header = ["label", "precision", "recall", "f1", "support", "predicted"]

        def cells(name: str, s: LabelScores) -> list[str]:
            return [name, number(s.precision), number(s.recall), number(s.f1), str(s.support), str(s.predicted)]

        rows = [cells(label, scores) for label, scores in self.per_label.items()]
        footer = [cells("micro avg", self.micro), cells("macro avg", self.macro)]
        every = [header, *rows, *footer]
        widths = [max(len(row[c]) for row in every) for c in range(len(header))]

        def line(row: list[str]) -> str:
            return "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:],
                                                                                        strict=True))]).rstrip()

        rule = "  ".join("-" * width for width in widths)
        lines += [line(header), rule, *(line(row) for row in rows), rule, *(line(row) for row in footer)]
        if self.skipped:
            lines += ["", f"{len(self.skipped)} file{'' if len(self.skipped) == 1 else 's'} not scored:"]
            lines += [f"  {file}: {reason}" for file, reason in self.skipped]
        return "\n".join(lines)


def label_scores(true_positive: int, false_positive: int, false_negative: int) -> LabelScores:
    """Precision, recall and F1 from counts (0.0 where a denominator is 0)."""
    predicted, support = true_positive + false_positive, true_positive + false_negative
    precision = true_positive / predicted if predicted else 0.0
    recall = true_positive / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return LabelScores(precision, recall, f1, support, predicted)


def evaluate_multilabel(
    true: Mapping[str, Iterable[str]],
    predicted: Mapping[str, Iterable[str]],
    *,
    labels: Sequence[str] = (),
    scores: Mapping[str, Sequence[LabelScore]] | None = None,
    model_id: str | None = None,
    skipped: Sequence[tuple[str, str]] = (),
) -> MultilabelEvaluation:
    """Score ``predicted`` against ``true`` (both file -> labels, the same files). ``labels``: the model's
    labels, scored even when neither true nor predicted anywhere (F1 0.0); ``scores`` (file -> every
    label's probability) are kept with the mistakes, for the report. ValueError when the files differ."""
    if set(true) != set(predicted):
        missing, unknown = sorted(set(true) - set(predicted)), sorted(set(predicted) - set(true))
        raise ValueError(f"predictions and true labels name different files: no prediction for {missing[:5]}, "
                         f"no true labels for {unknown[:5]}")
    truth = {file: frozenset(names) for file, names in true.items()}
    answer = {file: frozenset(names) for file, names in predicted.items()}
    every = sorted(set(labels).union(*truth.values(), *answer.values()))
    counts = {label: [0, 0, 0] for label in every}  # true positives, false positives, false negatives
    wrong_decisions = exact = 0
    mistakes: list[ImageOutcome] = []
    for file in sorted(truth):
        t, p = truth[file], answer[file]
        for label in t & p:
            counts[label][0] += 1
        for label in p - t:
            counts[label][1] += 1
        for label in t - p:
            counts[label][2] += 1
        wrong_decisions += len(t ^ p)
        if t == p:
            exact += 1
        else:
            mistakes.append(ImageOutcome(file, tuple(sorted(t)), tuple(sorted(p)),
                                         tuple((scores or {}).get(file, ()))))
    per_label = {label: label_scores(*counts[label]) for label in every}
    micro = label_scores(*(sum(c[i] for c in counts.values()) for i in range(3)))
    count = len(per_label)
    macro = LabelScores(sum(s.precision for s in per_label.values()) / count if count else 0.0,
                        sum(s.recall for s in per_label.values()) / count if count else 0.0,
                        sum(s.f1 for s in per_label.values()) / count if count else 0.0,
                        micro.support, micro.predicted)
    n = len(truth)
    return MultilabelEvaluation(
        n=n, labels=tuple(every), per_label=per_label, micro=micro, macro=macro,
        hamming_loss=wrong_decisions / (n * count) if n and count else 0.0,
        subset_accuracy=exact / n if n else 0.0, mistakes=tuple(mistakes), model_id=model_id,
        skipped=tuple((str(file), str(reason)) for file, reason in skipped))


def evaluate_predictions(true: Mapping[str, Iterable[str]], predictions: Iterable[MultilabelPrediction], *,
                         labels: Sequence[str] = (), model_id: str | None = None,
                         skipped: Sequence[tuple[str, str]] = ()) -> MultilabelEvaluation:
    """``evaluate_multilabel`` of the model's answers (``prediction.file`` -> ``prediction.labels``, with
    their scores) against ``true`` (file -> labels). ValueError when the files differ."""
    answers = {prediction.file: prediction for prediction in predictions}
    return evaluate_multilabel(true, {file: answer.labels for file, answer in answers.items()}, labels=labels,
                               scores={file: answer.scores for file, answer in answers.items()},
                               model_id=model_id, skipped=skipped)


__all__ = ["ImageOutcome", "LabelScores", "MultilabelEvaluation", "evaluate_multilabel", "evaluate_predictions",
           "label_scores"]
