"""nanoclient: train and use image classifiers and OCR models, hosted (Nanonets) or on this machine.

    from nanoclient import Client
    with Client() as client:                      # key from NANONETS_API_KEY
        model = client.create_model(["Bag", "Coat"])

Public names are loaded on first use, so that ``nanoclient --help`` stays fast; type checkers
see them as explicit re-exports.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__ as __version__

#: Each public name and the module that defines it.
_EXPORTS = {
    "Client": "client",
    "Category": "types",
    "Model": "types",
    "Prediction": "types",
    "FileError": "types",
    "UploadReport": "types",
    "UploadJournal": "_journal",
    "Ocr": "ocr._resource",
    "OcrPage": "ocr.types",
    "OcrField": "ocr.types",
    "OcrTable": "ocr.types",
    "OcrCell": "ocr.types",
    "OcrUploadReport": "ocr.types",
    "ObjectDetection": "object_detection._resource",
    "DetectedObject": "object_detection.types",
    "DetectionResult": "object_detection.types",
    "Multilabel": "multilabel._resource",
    "MultilabelPrediction": "multilabel.types",
    "LabelScore": "multilabel.types",
    "Annotation": "annotations",
    "FieldBox": "annotations",
    "AnnotationError": "annotations",
    "read_annotations": "annotations",
    "parse_amount": "ocr.values",
    "parse_date": "ocr.values",
    "NanonetsError": "errors",
    "APIStatusError": "errors",
    "BadRequestError": "errors",
    "InvalidImageError": "errors",
    "ModelNotTrainedError": "errors",
    "AuthenticationError": "errors",
    "PaymentRequiredError": "errors",
    "NotFoundError": "errors",
    "PayloadTooLargeError": "errors",
    "RateLimitError": "errors",
    "ServerError": "errors",
    "APIConnectionError": "errors",
    "APITimeoutError": "errors",
    "TrainingFailedError": "errors",
    "TrainingTimeoutError": "errors",
    "UploadInProgressError": "errors",
}

__all__ = ["__version__", "errors", *_EXPORTS]

if TYPE_CHECKING:  # pragma: no cover
    from . import errors as errors
    from ._journal import UploadJournal as UploadJournal
    from .annotations import Annotation as Annotation
    from .annotations import AnnotationError as AnnotationError
    from .annotations import FieldBox as FieldBox
    from .annotations import read_annotations as read_annotations
    from .client import Client as Client
    from .errors import APIConnectionError as APIConnectionError
    from .errors import APIStatusError as APIStatusError
    from .errors import APITimeoutError as APITimeoutError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import InvalidImageError as InvalidImageError
    from .errors import ModelNotTrainedError as ModelNotTrainedError
    from .errors import NanonetsError as NanonetsError
    from .errors import NotFoundError as NotFoundError
    from .errors import PayloadTooLargeError as PayloadTooLargeError
    from .errors import PaymentRequiredError as PaymentRequiredError
    from .errors import RateLimitError as RateLimitError
    from .errors import ServerError as ServerError
    from .errors import TrainingFailedError as TrainingFailedError
    from .errors import TrainingTimeoutError as TrainingTimeoutError
    from .errors import UploadInProgressError as UploadInProgressError
    from .multilabel._resource import Multilabel as Multilabel
    from .multilabel.types import LabelScore as LabelScore
    from .multilabel.types import MultilabelPrediction as MultilabelPrediction
    from .object_detection._resource import ObjectDetection as ObjectDetection
    from .object_detection.types import DetectedObject as DetectedObject
    from .object_detection.types import DetectionResult as DetectionResult
    from .ocr._resource import Ocr as Ocr
    from .ocr.types import OcrCell as OcrCell
    from .ocr.types import OcrField as OcrField
    from .ocr.types import OcrPage as OcrPage
    from .ocr.types import OcrTable as OcrTable
    from .ocr.types import OcrUploadReport as OcrUploadReport
    from .ocr.values import parse_amount as parse_amount
    from .ocr.values import parse_date as parse_date
    from .types import Category as Category
    from .types import FileError as FileError
    from .types import Model as Model
    from .types import Prediction as Prediction
    from .types import UploadReport as UploadReport


def __getattr__(name: str) -> Any:
    import importlib

    if name == "errors":
        value: Any = importlib.import_module(".errors", __name__)
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nanoclient' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
