"""Multi-label classification on the local server: its operations (``operations.py``, the wire's
``MultiLabelClassification`` paths), its rules (``models.py``: images stored with their labels, training,
predictions) and its learner (``learner``: the image classifier's features with one logistic output and one
threshold per label). This package imports nothing heavy: NumPy and scikit-learn load with ``learner``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..model_types import ModelType

if TYPE_CHECKING:
    from ..backend import Backend
    from ..operations import Operation
    from .models import MultilabelModels


def _models(backend: Backend) -> MultilabelModels:
    from .models import MultilabelModels

    return MultilabelModels(backend)


def _operations() -> tuple[Operation, ...]:
    from .local import MULTILABEL_LOCAL_OPERATIONS
    from .operations import OPERATIONS

    return OPERATIONS + MULTILABEL_LOCAL_OPERATIONS


#: The type as the server's registry lists it.
TYPE: ModelType[MultilabelModels] = ModelType("multilabel", _models, _operations)

__all__ = ["TYPE"]
