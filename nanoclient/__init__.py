"""nanoclient: train and use an image classifier, hosted (Nanonets) or on this machine.

    from nanoclient import Client
    with Client() as client:                      # key from NANONETS_API_KEY
        model = client.create_model(["Bag", "Coat"])

Public names are loaded on first use, so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

_EXPORTS = {
    "Client": "client",
    "Category": "types",
    "Model": "types",
    "Prediction": "types",
    "UploadReport": "types",
    "NanonetsError": "errors",
    "BadRequestError": "errors",
    "InvalidImageError": "errors",
    "AuthenticationError": "errors",
    "PaymentRequiredError": "errors",
    "NotFoundError": "errors",
    "PayloadTooLargeError": "errors",
    "RateLimitError": "errors",
    "ServerError": "errors",
    "TrainingFailedError": "errors",
    "TimeoutError": "errors",
    "ConnectionError": "errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client
    from .errors import *  # noqa: F401,F403
    from .types import Category, Model, Prediction, UploadReport


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nanoclient' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(__all__)
