"""Typed results of object detection models: what the wire's ``LabelFile/`` and ``LabelUrls/`` answers become.

Each entry of the answer's ``result`` list is one input (``input``: the file's name or the URL) with its
``prediction``: ``[{"label", "xmin", "ymin", "xmax", "ymax", "score"}, ...]`` (boxes in the image's
pixels from its top-left corner, ``xmax``/``ymax`` one past the last pixel). ``from_json`` reads an
entry leniently (a missing score is None, numbers given as text are read); ``to_json`` writes the
same form back.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DetectedObject", "DetectionResult"]


def _int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a coordinate")
    return int(round(float(value)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class DetectedObject:
    """One object found in an image: its class, its box in pixels, and its score (0 to 1; None if not given)."""

    label: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int
    score: float | None

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(xmin, ymin, xmax, ymax)."""
        return self.xmin, self.ymin, self.xmax, self.ymax

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DetectedObject:
        """One entry of a ``prediction`` list; ValueError if a coordinate is missing or not a number."""
        try:
            xmin, ymin, xmax, ymax = (_int(data[key]) for key in ("xmin", "ymin", "xmax", "ymax"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a detected object (xmin, ymin, xmax, ymax): {dict(data)!r} ({exc})") from None
        score = data.get("score", data.get("probability"))
        return cls(str(data.get("label") or ""), xmin, ymin, xmax, ymax, None if score is None else float(score))

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "xmin": self.xmin, "ymin": self.ymin, "xmax": self.xmax, "ymax": self.ymax,
                "score": self.score}


@dataclass(frozen=True)
class DetectionResult:
    """The objects found in one input (a file name or a URL), highest score first as the service sends them."""

    input: str
    objects: tuple[DetectedObject, ...]
    message: str = "Success"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DetectionResult:
        """One entry of the answer's ``result`` list: ``{"message", "input", "prediction": [...]}`` (``file`` is
        read when ``input`` is absent; ``prediction`` may be absent or null: no objects)."""
        name = data.get("input", data.get("file"))
        objects = data.get("prediction") or []
        if not isinstance(objects, list):
            raise ValueError(f"prediction is {objects!r}, not a list of objects")
        return cls("" if name is None else str(name), tuple(DetectedObject.from_json(o) for o in objects),
                   str(data.get("message") or "Success"))

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "input": self.input, "prediction": [o.to_json() for o in self.objects]}

    def above(self, threshold: float) -> tuple[DetectedObject, ...]:
        """The objects scored at or above ``threshold`` (an object without a score counts as 1)."""
        return tuple(o for o in self.objects if (1.0 if o.score is None else o.score) >= threshold)
