"""Reading what every model type's resource reads the same way: a model id for a path, and a model object
(or the ``Meta`` of an ``Annotations`` answer) as a ``Model``."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from .errors import ServerError
from .types import Model


def path_id(value: object) -> str:
    """A model id as a path segment (quoted); ValueError, before anything is sent, when it is empty."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError("Missing model id: pass a non-empty model id")
    return quote(text, safe="")


def model_from(data: Any, model_type: str) -> Model:
    """The model in an answer: a model object, or an answer with the model as ``Meta`` (whose keys may be
    capitalised, ``ModelID``); ``model_type`` when the answer names none. ServerError for anything else."""
    if isinstance(data, dict) and isinstance(data.get("Meta"), dict):
        data = {str(k).lower(): v for k, v in data["Meta"].items()} | data["Meta"]
    if not isinstance(data, dict) or not (data.get("model_id") or data.get("modelid")):
        raise ServerError(f"Expected a model object from the server, got: {str(data)[:100]}")
    try:
        return Model.from_json({**data, "model_id": data.get("model_id") or data.get("modelid"),
                                "model_type": data.get("model_type") or model_type})
    except (TypeError, ValueError, KeyError, AttributeError):
        raise ServerError(f"Expected a model object from the server, got: {str(data)[:100]}") from None


__all__ = ["model_from", "path_id"]
