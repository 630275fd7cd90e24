"""Object detection on the local server: its operations (``operations.py``), its rules (``models.py``: images
with their labelled boxes, training, predictions) and its learner (``learner.py``: HOG detectors trained on a
CPU from tens of images).

Importing this package is light; ``learner`` imports dlib and NumPy when it is imported itself, which only
training and predicting do.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..model_types import ModelType

if TYPE_CHECKING:
    from ..backend import Backend
    from ..operations import Operation
    from .models import DetectionModels


def _models(backend: Backend) -> DetectionModels:
    from .models import DetectionModels

    return DetectionModels(backend)


def _operations() -> tuple[Operation, ...]:
    from .local import DETECTION_LOCAL_OPERATIONS
    from .operations import DETECTION_OPERATIONS

    return DETECTION_OPERATIONS + DETECTION_LOCAL_OPERATIONS


#: The type as the server's registry lists it.
TYPE: ModelType[DetectionModels] = ModelType("object_detection", _models, _operations)

__all__ = ["TYPE"]
