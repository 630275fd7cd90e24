"""What a model type gives the local server: its domain part and its table of operations.

Each type's folder (``server/<type>/__init__.py``) declares one ``ModelType``; ``registry.py`` lists them.
The shared code (app, backend, store) serves every type through this declaration and never names one.
A type's domain part is made on first use (``Backend.part``), so that a server whose users never touch
a type never loads its learner.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from .backend import Backend
    from .operations import Operation

#: A type's domain part (its rules, over the backend's accounts, store, queue and fetcher).
Part = TypeVar("Part")


@dataclass(frozen=True, eq=False)
class ModelType(Generic[Part]):
    """One model type as the server knows it."""

    #: The type's name as the store keeps it and the API shows it (a model's ``model_type``).
    name: str
    #: Makes the type's domain part on a backend; the part registers its training and description
    #: with the backend (``Backend.register_type``).
    make: Callable[[Backend], Part]
    #: The type's operations (a function, so that its modules load only when the app is made).
    operations: Callable[[], Sequence[Operation]]


__all__ = ["ModelType", "Part"]
