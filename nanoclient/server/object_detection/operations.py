"""The object detection models' operations, one declaration each (see ``operations`` for what a declaration
drives), in the ``ObjectDetection`` family, as the official wrapper sends them.

OCR models share these paths: the app serves a path naming a model by the stored model's type, and a create
by the operation that claims it (OCR's claims ``"model_type": "ocr"``; this one, which claims nothing, serves
every other create).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flask import Response

from ..._wire import OBJECT_DETECTION
from ...errors import BadRequestError
from ...types import Model
from .. import forms
from ..backend import url_errors
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
from .models import DETECTION_TYPE, DetectionModels, ImageDetections

_OBJECT: Schema = {"type": "object"}
_MODEL: Schema = {"$ref": "#/components/schemas/Model"}
_IMAGES = "image/png, image/jpeg, application/octet-stream"


def _models(call: Call) -> DetectionModels:
    return call.backend.part(TYPE)


# ---------------------------------------------------------------------- handlers


def create_model(call: Call) -> Response:
    sent = forms.json_body().get("model_type") or forms.field("model_type")
    if sent not in (None, "", DETECTION_TYPE):
        raise BadRequestError(f"model_type {sent!r} is not served here",
                              hint=f'Send no model_type, or "{DETECTION_TYPE}", for a detection model')
    return model_response(_models(call).create_model(call.account, forms.values("categories")))


def get_model(call: Call) -> Response:
    return model_response(_models(call).get_model(call.account, call.path["model_id"]))


def get_annotations(call: Call) -> Response:
    model, documents = _models(call).annotations(call.account, call.path["model_id"])
    return json_response(_meta_and_data(model, documents))


def upload_file(call: Call) -> Response:
    model, documents = _models(call).upload(call.account, path_model_id(call), forms.files(), _data())
    return json_response(_meta_and_data(model, documents))


def upload_urls(call: Call) -> Response:
    model, documents, failed = _models(call).upload_urls(call.account, path_model_id(call), forms.values("urls"),
                                                           _data())
    if not failed:
        return json_response(_meta_and_data(model, documents))
    return json_response({**_meta_and_data(model, documents), "message": "Some URLs could not be fetched",
                          "errors": url_errors(failed)}, 202)


def train(call: Call) -> Response:
    return model_response(_models(call).train(call.account, path_model_id(call)))


def label_file(call: Call) -> Response:
    results = _models(call).predict(call.account, path_model_id(call), forms.files())
    return _predictions(call.in_answer_order(results))


def label_urls(call: Call) -> Response:
    results, failed = _models(call).predict_urls(call.account, path_model_id(call), forms.values("urls"))
    return _predictions(call.in_answer_order(results), status=202 if failed else 200)


# ---------------------------------------------------------------------- reading and rendering








def _meta_and_data(model: Model, documents: Sequence[DocumentRecord]) -> dict[str, Any]:
    return annotations_body(model, [{"id": str(doc.id), "filename": doc.name, "object": json.loads(doc.annotation)}
                                    for doc in documents])


def _predictions(results: Sequence[ImageDetections], *, status: int = 200) -> Response:
    message = "Success" if status == 200 else "Some inputs could not be predicted"
    return json_response({"message": message, "result": [result.to_json() for result in results]}, status)



def _data() -> object:
    """The ``data`` list sent with the files."""
    return forms.json_field("data", shape='a JSON list of {"filename", "object"}')


# ---------------------------------------------------------------------- the table

_MODEL_REPLY = {200: Reply(_MODEL, "The model")}
_META = {200: Reply(_OBJECT, "The model (Meta) and its training images with their boxes (Data)")}
_FOUND = {200: Reply(_OBJECT, "The objects found in each input: label, box, score")}


def _operation(name: str, method: str, path: str, handler: Any, **kwargs: Any) -> Operation:
    return Operation(name, method, path, handler, family=OBJECT_DETECTION, model_type=DETECTION_TYPE, **kwargs)


DETECTION_OPERATIONS: tuple[Operation, ...] = (
    _operation("detectionCreateModel", "POST", "/Model/", create_model,
               summary="Create an object detection model with its categories (JSON categories, no model_type)",
               body=Form({"categories": STRINGS}), replies=_MODEL_REPLY, errors=(400,), mutates=True),
    _operation("detectionGetModel", "GET", "/Model/{model_id}", get_model,
               summary="Get an object detection model", replies=_MODEL_REPLY, errors=(400, 404)),
    _operation("detectionAnnotations", "GET", "/Model/{model_id}/Annotations", get_annotations,
               summary="The model and every training image with its labelled boxes", replies=_META,
               errors=(400, 404)),
    _operation("detectionUploadFile", "POST", "/Model/{model_id}/UploadFile/", upload_file,
               summary="Upload training images (PNG, JPEG) with their boxes (data: [{filename, object}])",
               body=Form({"file": FILES, "data": STRING}, multipart=True, content_types={"file": _IMAGES}),
               replies=_META, errors=(400, 404, 413), mutates=True),
    _operation("detectionUploadUrls", "POST", "/Model/{model_id}/UploadUrls/", upload_urls,
               summary="Upload training images by URL with their boxes",
               body=Form({"urls": STRINGS, "data": STRING}),
               replies={**_META, 202: Reply(_OBJECT, "Only some URLs could be fetched: those were stored")},
               errors=(400, 404), mutates=True),
    _operation("detectionTrain", "POST", "/Model/{model_id}/Train/", train,
               summary="Start training", replies=_MODEL_REPLY, errors=(400, 404), mutates=True),
    _operation("detectionLabelFile", "POST", "/Model/{model_id}/LabelFile/", label_file,
               summary="Find the objects in images",
               body=Form({"file": FILES}, multipart=True, content_types={"file": _IMAGES}),
               replies=_FOUND, errors=(400, 404, 413)),
    _operation("detectionLabelUrls", "POST", "/Model/{model_id}/LabelUrls/", label_urls,
               summary="Find the objects in images given by URL", body=Form({"urls": STRINGS}),
               replies={**_FOUND, 202: Reply(_OBJECT, "Only some URLs could be fetched")}, errors=(400, 404)),
)

__all__ = ["DETECTION_OPERATIONS"]
