"""Typed results of multi-label models: what an entry of ``LabelFiles/`` or ``LabelUrls/`` becomes in Python.

The wire's entry (``{"message", "file", "prediction": [{"label", "probability"}, ...], "labels": [...]}``)
is a ``MultilabelPrediction``: the file (or URL), the labels the model gives it (those at or above their
threshold) and every label's score, highest first. ``from_json`` reads the entry; ``to_json`` writes the
same form back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The threshold applied when an entry says which labels it gives by probabilities alone (no ``labels``).
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class LabelScore:
    """One label's probability for an image (each label on its own: they do not sum to 1)."""

    label: str
    probability: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabelScore:
        return cls(str(data.get("label") or ""), float(data.get("probability") or 0.0))

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "probability": self.probability}


@dataclass(frozen=True)
class MultilabelPrediction:
    """The model's answer for one image: the labels it gives, and every label's score, highest first."""

    file: str
    labels: tuple[str, ...]
    scores: tuple[LabelScore, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MultilabelPrediction:
        """Read one entry of the ``result`` list. Without a ``labels`` key, the labels are those whose
        probability is at least DEFAULT_THRESHOLD."""
        scores = tuple(sorted((LabelScore.from_json(item) for item in data.get("prediction") or ()),
                              key=lambda score: -score.probability))
        given = data.get("labels")
        if given is None:
            labels = tuple(score.label for score in scores if score.probability >= DEFAULT_THRESHOLD)
        else:
            labels = tuple(str(label) for label in given)
        file = data.get("file", data.get("input"))
        return cls("" if file is None else str(file), labels, scores)

    def to_json(self) -> dict[str, Any]:
        return {"message": "Success", "file": self.file, "prediction": [score.to_json() for score in self.scores],
                "labels": list(self.labels)}

    def probability(self, label: str) -> float:
        """The probability of ``label`` (0.0 when the entry does not list it)."""
        return next((score.probability for score in self.scores if score.label == label), 0.0)


__all__ = ["DEFAULT_THRESHOLD", "LabelScore", "MultilabelPrediction"]
