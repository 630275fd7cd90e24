"""Image Categorization on the local server: its operations (``operations.py``), its rules (``models.py``)
and its learner (``trainer.py``: features and a softmax classifier; ``trainer_process.py`` trains in a child
process; ``protocols.py`` is what the rules need of a learner)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..model_types import ModelType

if TYPE_CHECKING:
    from ..backend import Backend
    from ..operations import Operation
    from .models import ImageCategorizationModels


def _models(backend: Backend) -> ImageCategorizationModels:
    from .models import ImageCategorizationModels

    return ImageCategorizationModels(backend)


def _operations() -> tuple[Operation, ...]:
    from .operations import OPERATIONS

    return OPERATIONS


#: The type as the server's registry lists it.
TYPE: ModelType[ImageCategorizationModels] = ModelType("classification", _models, _operations)

__all__ = ["TYPE"]
