"""Multi-label classification's operations, one declaration each (see ``server/operations.py`` for what a
declaration drives): the paths below ``/MultiLabelClassification`` as the official wrapper sends them.

Files come as ``files`` parts (the wrapper's name; ``file`` parts are taken too), their labels as a
``data`` part holding the JSON list ``[{"filename", "categories"}]``. A ``modelId`` sent beside a path's
model id (the wrapper does) must be the same.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flask import Response, request

from ..._wire import MULTILABEL_CLASSIFICATION
from ...types import Model
from .. import forms
from ..backend import NamedBytes, url_errors
from ..forms import FormRequest
from ..openapi import FILES, STRING, STRINGS, Schema
from ..operations import (
    Call,
    Form,
    Operation,
    Reply,
    annotations_body,
    json_response,
    model_response,
    path_model_id,
)
from ..store import DocumentRecord
from . import TYPE
from .models import LabelResult, MultilabelModels, labels_of

_OBJECT: Schema = {"type": "object"}
_MODEL: Schema = {"$ref": "#/components/schemas/Model"}
_IMAGES = {"files": "image/png, image/jpeg, application/octet-stream"}


def _models(call: Call) -> MultilabelModels:
    return call.backend.part(TYPE)


# ---------------------------------------------------------------------- handlers


def create_model(call: Call) -> Response:
    return model_response(_models(call).create_model(call.account, forms.values("categories")))


def get_model(call: Call) -> Response:
    return model_response(_models(call).get_model(call.account, call.path["model_id"]))


def get_annotations(call: Call) -> Response:
    model, documents = _models(call).annotations(call.account, call.path["model_id"])
    return json_response(_meta_and_data(model, documents))


def upload_files(call: Call) -> Response:
    model, _ = _models(call).upload(call.account, path_model_id(call), _files(), _data())
    return model_response(model)


def upload_urls(call: Call) -> Response:
    model, _, failed = _models(call).upload_urls(call.account, forms.field("modelId"), forms.values("urls"),
                                                 forms.values("categories"))
    if not failed:
        return model_response(model)
    return json_response({**model.to_json(), "message": "Some URLs could not be fetched",
                          "errors": url_errors(failed)}, 202)


def train(call: Call) -> Response:
    return model_response(_models(call).train(call.account, path_model_id(call)))


def label_files(call: Call) -> Response:
    results = _models(call).predict(call.account, path_model_id(call), _files())
    return _predictions(call.in_answer_order(results))


def label_urls(call: Call) -> Response:
    results, failed = _models(call).predict_urls(call.account, path_model_id(call), forms.values("urls"))
    return _predictions(call.in_answer_order(results), 202 if failed else 200)


# ---------------------------------------------------------------------- reading and rendering




def _files() -> list[NamedBytes]:
    """Every ``files`` part (and ``file`` part) with a file name, as (file name, bytes), in the order sent."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    parts: list[tuple[str, bytes]] = []
    for name in ("files", "file"):
        if isinstance(current, FormRequest):
            parts += current.file_parts(name)
        else:  # pragma: no cover - the app always uses FormRequest
            parts += [(part.filename or "", part.read()) for part in request.files.getlist(name)]
    return [(filename or f"file{index}", data) for index, (filename, data) in enumerate(parts)]






def _meta_and_data(model: Model, documents: Sequence[DocumentRecord]) -> dict[str, Any]:
    return annotations_body(model, [{"id": str(doc.id), "filename": doc.name, "categories": labels_of(doc)}
                                    for doc in documents])


def _predictions(results: Sequence[LabelResult], status: int = 200) -> Response:
    return json_response({"message": "Success" if status == 200 else "Some inputs could not be predicted",
                          "result": [result.to_json() for result in results]}, status)



def _data() -> object:
    """The ``data`` list sent with the files."""
    return forms.json_field("data", shape='a JSON list of {"filename", "categories"}')


# ---------------------------------------------------------------------- the table

_MODEL_REPLY = {200: Reply(_MODEL, "The model")}
_LABELS = {200: Reply(_OBJECT, "One result per image: every label's probability, and the labels given")}

_TABLE: tuple[Operation, ...] = (
    Operation("multilabelCreateModel", "POST", "/Model/", create_model,
              summary="Create a multi-label model with its labels (JSON categories)",
              body=Form({"categories": STRINGS}), replies=_MODEL_REPLY, errors=(400,), mutates=True),
    Operation("multilabelGetModel", "GET", "/Model/{model_id}", get_model,
              summary="Get a multi-label model", replies=_MODEL_REPLY, errors=(400, 404)),
    Operation("multilabelAnnotations", "GET", "/Model/{model_id}/Annotations", get_annotations,
              summary="The model (Meta) and every training image with its labels (Data)",
              replies={200: Reply(_OBJECT, "The model (Meta) and its training images (Data)")}, errors=(400, 404)),
    Operation("multilabelUploadFiles", "POST", "/Model/{model_id}/UploadFiles/", upload_files,
              summary="Upload training images (files parts) with their labels (data: a JSON list of "
                      "{filename, categories}); all of them, or none if one is wrong",
              body=Form({"files": FILES, "data": STRING}, multipart=True, content_types=_IMAGES),
              replies=_MODEL_REPLY, errors=(400, 404, 413), mutates=True),
    Operation("multilabelUploadUrls", "POST", "/UploadUrls/", upload_urls,
              summary="Upload training images by URL: one URL with all its labels, or several URLs with one "
                      "label each",
              body=Form({"modelId": STRING, "urls": STRINGS, "categories": STRINGS}),
              replies={**_MODEL_REPLY, 202: Reply(_OBJECT, "Only some URLs could be fetched: those were stored")},
              errors=(400, 404), mutates=True),
    Operation("multilabelTrain", "POST", "/Model/{model_id}/Train/", train,
              summary="Start training", replies=_MODEL_REPLY, errors=(400, 404), mutates=True),
    Operation("multilabelLabelFiles", "POST", "/Model/{model_id}/LabelFiles/", label_files,
              summary="Predict the labels of images (files parts)",
              body=Form({"files": FILES}, multipart=True, content_types=_IMAGES),
              replies=_LABELS, errors=(400, 404, 413)),
    Operation("multilabelLabelUrls", "POST", "/Model/{model_id}/LabelUrls/", label_urls,
              summary="Predict the labels of images given by URL",
              body=Form({"urls": STRINGS}),
              replies={**_LABELS, 202: Reply(_OBJECT, "Only some URLs could be fetched")}, errors=(400, 404)),
)
#: The table: every operation in the MultiLabelClassification family, serving its models.
OPERATIONS: tuple[Operation, ...] = tuple(
    replace(operation, family=MULTILABEL_CLASSIFICATION, model_type=TYPE.name) for operation in _TABLE)

__all__ = ["OPERATIONS"]
