"""Every operation the local server serves: the tables of each model type of the registry, then the
local extension's, from which the app's routes and its OpenAPI document are made."""
from __future__ import annotations

from .local_operations import LOCAL_OPERATIONS
from .operations import Operation
from .registry import TYPES

#: The operations of every model type, in the registry's order, then the local extension's.
ROUTES: tuple[Operation, ...] = (*(op for model_type in TYPES for op in model_type.operations()), *LOCAL_OPERATIONS)

__all__ = ["ROUTES"]
