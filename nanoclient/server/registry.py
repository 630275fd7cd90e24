"""The model types the local server serves: the one list of them (a new type is one line here)."""
from __future__ import annotations

from typing import Any

from .image_categorization import TYPE as IMAGE_CATEGORIZATION
from .model_types import ModelType
from .multilabel import TYPE as MULTILABEL
from .object_detection import TYPE as OBJECT_DETECTION
from .ocr import TYPE as OCR

#: Every model type, in the order the API document lists their operations.
TYPES: tuple[ModelType[Any], ...] = (IMAGE_CATEGORIZATION, OCR, OBJECT_DETECTION, MULTILABEL)

__all__ = ["TYPES"]
