"""Every operation the local server serves: the tables of each model type (and the local extension),
from which the app's routes and its OpenAPI document are made."""
from __future__ import annotations

from .ocr_local import OCR_LOCAL_OPERATIONS
from .ocr_operations import OCR_OPERATIONS
from .operations import OPERATIONS, Operation

#: The operations of every model type, Image Categorization's (with the local extension) first.
ROUTES: tuple[Operation, ...] = OPERATIONS + OCR_OPERATIONS + OCR_LOCAL_OPERATIONS

__all__ = ["ROUTES"]
