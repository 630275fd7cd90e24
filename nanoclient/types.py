"""Typed results of the API: what the JSON of docs/api.md becomes in Python.

Each type has ``from_json``, which parses the API's JSON, and ``to_json``, the form the
CLI's ``--json`` prints (the docs/api.md form for models); ``from_json`` reads back what
``to_json`` writes, so the two never drift apart.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

#: A file path as the SDK takes it: a string or any path object.
PathLike = str | os.PathLike[str]

#: Model states of docs/api.md.
STATE_FAILED = -1
STATE_CREATED = 0
STATE_NEEDS_IMAGES = 1
STATE_READY = 2
STATE_QUEUED = 3
STATE_TRAINING = 4
STATE_TRAINED = 5

STATE_NAMES = {
    STATE_FAILED: "failed",
    STATE_CREATED: "created",
    STATE_NEEDS_IMAGES: "needs more images",
    STATE_READY: "ready to train",
    STATE_QUEUED: "queued",
    STATE_TRAINING: "training",
    STATE_TRAINED: "trained",
}


@dataclass(frozen=True)
class Category:
    """One category of a model and the number of images it holds."""

    name: str
    count: int = 0

    @classmethod
    def from_json(cls, data: Any) -> Category:
        if isinstance(data, str):  # some responses list bare names
            return cls(name=data)
        return cls(name=str(data.get("name", "")), count=int(data.get("count") or 0))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count}


@dataclass(frozen=True)
class Model:
    """A model (of any type) and where it is in its life cycle."""

    id: str
    #: Its type, as the local server names it (``model_type``); a hosted answer without one leaves it to the
    #: resource of the type that asked, which knows.
    type: str = ""
    state: int = STATE_CREATED
    status: str = ""
    accuracy: float | None = None
    categories: list[Category] = field(default_factory=list)
    #: How many held-out images ``accuracy`` was measured on, when the server says (the local
    #: server does; the hosted API documents no such field).
    accuracy_images: int | None = None
    #: Images each category needs before training, when the server says (the local server does;
    #: the hosted API documents no such field).
    min_images: int | None = None
    #: The languages a model of documents reads them in (Tesseract's codes), when the server says: the
    #: local server does (named at creation, or found in the training documents); the hosted API does not.
    languages: list[str] = field(default_factory=list)

    @property
    def is_trained(self) -> bool:
        """True once training finished and predictions are served (state 5)."""
        return self.state == STATE_TRAINED

    @property
    def state_name(self) -> str:
        """A short human name for ``state``."""
        return STATE_NAMES.get(self.state, f"state {self.state}")

    @property
    def image_count(self) -> int:
        """Total number of images over all categories."""
        return sum(c.count for c in self.categories)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Model:
        accuracy = data.get("accuracy")
        return cls(
            id=str(data.get("model_id") or data.get("id") or ""),
            type=str(data.get("model_type") or ""),
            state=int(data.get("state", STATE_CREATED)),
            status=str(data.get("status") or ""),
            accuracy=None if accuracy is None else float(accuracy),
            categories=[Category.from_json(c) for c in data.get("categories") or []],
            min_images=int(data["min_images"]) if isinstance(data.get("min_images"), int) else None,
            accuracy_images=int(data["accuracy_images"]) if isinstance(data.get("accuracy_images"), int) else None,
            languages=[str(code) for code in data.get("languages") or [] if isinstance(code, str)],
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model_id": self.id,
            "model_type": self.type,
            "state": self.state,
            "status": self.status,
            "accuracy": self.accuracy,
            "categories": [c.to_json() for c in self.categories],
        }
        if self.min_images is not None:
            body["min_images"] = self.min_images
        if self.accuracy_images is not None:
            body["accuracy_images"] = self.accuracy_images
        if self.languages:
            body["languages"] = list(self.languages)
        return body


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one input: the best label and every label's probability."""

    file: str
    label: str
    probability: float
    scores: list[tuple[str, float]] = field(default_factory=list)
    message: str = "Success"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        """An entry of a prediction response (``prediction``), or what ``to_json`` wrote (``scores``)."""
        raw = data.get("prediction") if "prediction" in data else data.get("scores")
        pairs = [(str(p["label"]), float(p["probability"])) for p in raw or []]
        pairs.sort(key=lambda pair: pair[1], reverse=True)
        label, probability = pairs[0] if pairs else ("", 0.0)
        return cls(
            file=str(data.get("file") or ""),
            label=label,
            probability=probability,
            scores=pairs,
            message=str(data.get("message") or "Success"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "label": self.label,
            "probability": self.probability,
            "scores": [{"label": label, "probability": p} for label, p in self.scores],
        }


@dataclass(frozen=True)
class FileError:
    """A file that could not be predicted: its path as given and the error that says why.

    ``error`` is an OSError (missing, unreadable), an InvalidImageError (not a valid image,
    found before sending or by the server) or another ``nanoclient.errors`` exception.
    """

    file: str
    error: Exception

    @property
    def message(self) -> str:
        """The reason, on one line."""
        return str(getattr(self.error, "message", None) or self.error)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "error": self.message}


@dataclass
class UploadReport:
    """What an upload did with each file (or URL), by its path as given.

    ``uploaded``: stored by the server. ``already``: not sent, as the upload journal records them
    as stored on the model. ``skipped``: never sent, with why (not an image, no category).
    ``failed``: sent and refused, or not sent because of the error, which says why; the server
    did not store them. ``unsettled``: the server may or may not have stored them and
    the client could not find out (see ``Client.upload_files``); check the model's counts
    before sending them again.
    """

    uploaded: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, Exception]] = field(default_factory=list)
    unsettled: list[tuple[str, str]] = field(default_factory=list)
    #: The model as the server described it in the answer with the most images.
    model: Model | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing is unsettled."""
        return not self.failed and not self.unsettled

    def to_json(self) -> dict[str, Any]:
        return {
            "uploaded": len(self.uploaded),
            "already": len(self.already),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "unsettled": len(self.unsettled),
            "model": self.model.to_json() if self.model else None,
        }


@dataclass
class ListedUploadReport:
    """What became of each file of an upload to a model that lists its files by name, by path."""

    #: Files sent and stored.
    uploaded: list[str] = field(default_factory=list)
    #: Files the model already held (by file name), not sent again.
    already: list[str] = field(default_factory=list)
    #: Files that could not be sent or were refused, with the error.
    failed: list[tuple[str, Exception]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"uploaded": len(self.uploaded), "already": len(self.already),
                "failed": [{"path": path, "error": str(error)} for path, error in self.failed]}


__all__ = ["Category", "Model", "Prediction", "FileError", "UploadReport", "ListedUploadReport", "STATE_NAMES",
           "PathLike"]
