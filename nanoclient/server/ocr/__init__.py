"""OCR on the local server: its operations (``operations.py``, ``local.py`` for the dashboard), its rules
(``models.py``) and its reading: documents drawn (``pdf_render.py``), cleaned (``clean.py``) and read by
Tesseract (``engine.py``) in their language (``languages.py``), fields found by the extractor
(``fields.py``, with its label lexicon ``labels.py`` and the shipped extractors ``pretrained.py``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..model_types import ModelType

if TYPE_CHECKING:
    from ..backend import Backend
    from ..operations import Operation
    from .models import OcrModels


def _models(backend: Backend) -> OcrModels:
    from .models import OcrModels

    return OcrModels(backend)


def _operations() -> tuple[Operation, ...]:
    from .local import OCR_LOCAL_OPERATIONS
    from .operations import OCR_OPERATIONS

    return OCR_OPERATIONS + OCR_LOCAL_OPERATIONS


#: The type as the server's registry lists it.
TYPE: ModelType[OcrModels] = ModelType("ocr", _models, _operations)

__all__ = ["TYPE"]
