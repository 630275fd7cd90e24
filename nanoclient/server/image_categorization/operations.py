"""Image Categorization's operations, one declaration each (see ``server/operations.py`` for what a
declaration drives): the API's paths below ``/ImageCategorization``."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from flask import Response

from ..._wire import IMAGE_CATEGORIZATION
from ...types import Model, Prediction
from .. import forms
from ..backend import url_errors
from ..openapi import FILES, MODEL, MODELS, PARTIAL_UPLOAD, PREDICTIONS, STRING, STRINGS
from ..operations import Call, Form, Operation, Reply, json_response, model_response, path_model_id
from . import TYPE
from .models import ImageCategorizationModels


def _models(call: Call) -> ImageCategorizationModels:
    return call.backend.part(TYPE)




def create_model(call: Call) -> Response:
    return model_response(_models(call).create_model(call.account, forms.values("categories")))


def get_model(call: Call) -> Response:
    return model_response(_models(call).get_model(call.account, forms.field("modelId") or forms.field("id")))


def get_model_by_path(call: Call) -> Response:
    return model_response(_models(call).get_model(call.account, call.path["model_id"]))


def list_models(call: Call) -> Response:
    return json_response([model.to_json() for model in call.backend.list_models(call.account)])


def upload_file(call: Call) -> Response:
    model_id, category = forms.field("modelId"), forms.field("category")
    return model_response(_models(call).upload_images(call.account, model_id, category, forms.files()))


def upload_file_by_path(call: Call) -> Response:
    return model_response(_models(call).upload_images(call.account, path_model_id(call), forms.field("category"),
                                              forms.files()))


def train_by_path(call: Call) -> Response:
    return model_response(_models(call).train(call.account, path_model_id(call)))




def upload_urls(call: Call) -> Response:
    model_id, category = forms.field("modelId"), forms.field("category")
    model, failed = _models(call).upload_urls(call.account, model_id, category, forms.values("urls"))
    return _partial_upload(model, failed) if failed else model_response(model)


def train(call: Call) -> Response:
    return model_response(_models(call).train(call.account, forms.field("modelId")))


def label_file(call: Call) -> Response:
    results = _models(call).predict_images(call.account, forms.field("modelId"), forms.files())
    return _predictions(call.in_answer_order(results))


def label_urls(call: Call) -> Response:
    results, failed = _models(call).predict_urls(call.account, forms.field("modelId"), forms.values("urls"))
    return _predictions(call.in_answer_order(results), 202 if failed else 200)



_TABLE: tuple[Operation, ...] = (
    Operation(
        "createModel", "POST", "/Model/", create_model,
        summary="Create a model with its categories",
        body=Form({"categories": STRINGS}),
        replies={200: Reply(MODEL, "The new model")}, errors=(400,),
        mutates=True,
    ),
    Operation(
        "getModel", "GET", "/Model/", get_model,
        summary="Get a model by id",
        query=("modelId",),
        replies={200: Reply(MODEL, "The model")}, errors=(400, 404),
    ),
    Operation(
        "getModelByPath", "GET", "/Model/{model_id}", get_model_by_path,
        summary="Get a model by id (path form)",
        replies={200: Reply(MODEL, "The model")}, errors=(400, 404),
    ),
    Operation(
        "listModels", "GET", "/Models/", list_models,
        summary="List the models of this API key",
        replies={200: Reply(MODELS, "The models")},
    ),
    Operation(
        "uploadFile", "POST", "/UploadFile/", upload_file,
        summary="Upload one or more labelled image files",
        body=Form({"file": FILES, "category": STRING, "modelId": STRING}, multipart=True),
        replies={200: Reply(MODEL, "The model with updated counts")}, errors=(400, 404, 413),
        mutates=True,
    ),
    Operation(
        "uploadFileByPath", "POST", "/Model/{model_id}/UploadFile/", upload_file_by_path,
        summary="Upload labelled image files to the model of the path (the official wrapper's upload_image_file)",
        body=Form({"file": FILES, "category": STRING}, multipart=True),
        replies={200: Reply(MODEL, "The model with updated counts")}, errors=(400, 404, 413),
        mutates=True,
    ),
    Operation(
        "uploadUrls", "POST", "/UploadUrls/", upload_urls,
        summary="Upload labelled images by URL",
        body=Form({"modelId": STRING, "category": STRING, "urls": STRINGS}),
        replies={200: Reply(MODEL, "All URLs fetched and stored"),
                 202: Reply(PARTIAL_UPLOAD, "Only some URLs could be fetched: those were stored")},
        errors=(400, 404),
        mutates=True,
    ),
    Operation(
        "train", "POST", "/Train/", train,
        summary="Start training",
        query=("modelId",),
        replies={200: Reply(MODEL, "The model, queued or training")}, errors=(400, 404),
        mutates=True,
    ),
    Operation(
        "trainByPath", "POST", "/Model/{model_id}/Train/", train_by_path,
        summary="Start training the model of the path (the official wrapper's form)",
        replies={200: Reply(MODEL, "The model, queued or training")}, errors=(400, 404),
        mutates=True,
    ),
    Operation(
        "labelFile", "POST", "/LabelFile/", label_file,
        summary="Predict the category of one or more image files",
        body=Form({"file": FILES, "modelId": STRING}, multipart=True),
        replies={200: Reply(PREDICTIONS, "One result per file")}, errors=(400, 404, 413),
    ),
    Operation(
        "labelUrls", "POST", "/LabelUrls/", label_urls,
        summary="Predict the category of images given by URL",
        body=Form({"modelId": STRING, "urls": STRINGS}),
        replies={200: Reply(PREDICTIONS, "One result per URL"),
                 202: Reply(PREDICTIONS, "Only some URLs could be fetched")},
        errors=(400, 404),
    ),
)
#: The table: every operation in the Image Categorization family, serving its models.
OPERATIONS: tuple[Operation, ...] = tuple(
    replace(operation, family=IMAGE_CATEGORIZATION, model_type=TYPE.name) for operation in _TABLE)




def _partial_upload(model: Model, failed: Sequence[tuple[str, str]]) -> Response:
    """202 for UploadUrls when some URLs failed: the model, plus which URLs failed and why."""
    return json_response({**model.to_json(), "message": "Some URLs could not be fetched",
                          "errors": url_errors(failed)}, 202)


def _predictions(results: Sequence[Prediction], status: int = 200) -> Response:
    return json_response({
        "message": "Success" if status == 200 else "Some inputs could not be predicted",
        "result": [
            {
                "message": item.message,
                "file": item.file,
                "prediction": [{"label": label, "probability": p} for label, p in item.scores],
            }
            for item in results
        ],
    }, status)


__all__ = ["OPERATIONS"]
