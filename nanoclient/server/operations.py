"""The API's operations, one declaration each: what the app's routes, its authentication and
its OpenAPI document are all made from, so that they cannot drift apart (like moto's ``urls.py``).

An ``Operation`` says where it lives on the wire (method, and path below ``/ImageCategorization``;
the trailing slash is optional), which handler answers it, how the OpenAPI document describes
its request and answers, and whether it changes data (``mutates``: --fail-after-rate fails only
those). Every operation needs an API key: the app checks it once, before the handler runs.

A handler reads the request (``forms``), calls the backend for the caller's account and renders
the JSON answer. Adding an operation takes a handler and a declaration here, the backend method
it calls, and the client and CLI that use it.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flask import Response, jsonify

from ..types import Model, Prediction
from . import forms
from .backend import Account, Backend, url_errors
from .config import API_ROOT
from .openapi import FILES, MODEL, MODELS, PARTIAL_UPLOAD, PREDICTIONS, STRING, STRINGS, Schema

#: Where the operations live, below API_ROOT.
PREFIX = "/ImageCategorization"


@dataclass(frozen=True)
class Call:
    """One authenticated request as its handler sees it: the backend, whose call it is, the path's variables."""

    backend: Backend
    account: Account
    #: The variables of the operation's path, e.g. ``model_id`` of ``/Model/{model_id}``.
    path: Mapping[str, str]
    #: Shuffles prediction results (--shuffle-results); None keeps them in input order.
    shuffler: random.Random | None = None

    def in_answer_order(self, results: Sequence[Prediction]) -> list[Prediction]:
        """Results in input order, or shuffled with --shuffle-results (the hosted service promises no order)."""
        ordered = list(results)
        if self.shuffler is not None:
            self.shuffler.shuffle(ordered)
        return ordered


#: What answers an operation: one authenticated call in, its JSON response out.
Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Reply:
    """A success answer of an operation, as the OpenAPI document describes it."""

    schema: Schema
    description: str


@dataclass(frozen=True)
class Form:
    """A request body whose fields are all required: form-urlencoded, or multipart when it carries files."""

    fields: Mapping[str, Schema]
    multipart: bool = False


@dataclass(frozen=True)
class Operation:
    """One API operation: its place on the wire, its handler, its OpenAPI description, whether it mutates."""

    #: The OpenAPI operationId, also the Flask endpoint.
    name: str
    method: str
    #: Below PREFIX, in OpenAPI form (``/Model/{model_id}``); every variable is a string.
    path: str
    handler: Handler
    summary: str
    #: The success answers, by status.
    replies: Mapping[int, Reply]
    #: Its own error statuses (400, 404, 413); those every operation can give are added by error_statuses.
    errors: tuple[int, ...] = ()
    #: Required query parameters, string-valued.
    query: tuple[str, ...] = ()
    body: Form | None = None
    #: Changes data: --fail-after-rate fails it once processed.
    mutates: bool = False

    @property
    def documented_path(self) -> str:
        """The path as the OpenAPI document lists it, below its server URL (API_ROOT)."""
        return PREFIX + self.path

    @property
    def rule(self) -> str:
        """The Flask URL rule, without the trailing slash: ``/api/v2/ImageCategorization/Model/<model_id>``."""
        return API_ROOT + re.sub(r"\{(\w+)\}", r"<\1>", self.documented_path).rstrip("/")

    @property
    def path_variables(self) -> list[str]:
        """The names of the path's variables, in order."""
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def error_statuses(self) -> list[int]:
        """Every error status it can answer: its own, 401 (no or unknown key), 503 (--fail-rate) and,
        when it mutates, 500 (--fail-after-rate)."""
        return sorted({401, 503, *self.errors, *((500,) if self.mutates else ())})


# ---------------------------------------------------------------------- handlers


def create_model(call: Call) -> Response:
    return _model(call.backend.create_model(call.account, forms.values("categories")))


def get_model(call: Call) -> Response:
    return _model(call.backend.get_model(call.account, forms.field("modelId") or forms.field("id")))


def get_model_by_path(call: Call) -> Response:
    return _model(call.backend.get_model(call.account, call.path["model_id"]))


def list_models(call: Call) -> Response:
    return _json([model.to_json() for model in call.backend.list_models(call.account)])


def upload_file(call: Call) -> Response:
    model_id, category = forms.field("modelId"), forms.field("category")
    return _model(call.backend.upload_images(call.account, model_id, category, forms.files()))


def upload_urls(call: Call) -> Response:
    model_id, category = forms.field("modelId"), forms.field("category")
    model, failed = call.backend.upload_urls(call.account, model_id, category, forms.values("urls"))
    return _partial_upload(model, failed) if failed else _model(model)


def train(call: Call) -> Response:
    return _model(call.backend.train(call.account, forms.field("modelId")))


def label_file(call: Call) -> Response:
    results = call.backend.predict_images(call.account, forms.field("modelId"), forms.files())
    return _predictions(call.in_answer_order(results))


def label_urls(call: Call) -> Response:
    results, failed = call.backend.predict_urls(call.account, forms.field("modelId"), forms.values("urls"))
    return _predictions(call.in_answer_order(results), 202 if failed else 200)


# ---------------------------------------------------------------------- the table

OPERATIONS: tuple[Operation, ...] = (
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


# ---------------------------------------------------------------------- rendering


def _json(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _model(model: Model) -> Response:
    return _json(model.to_json())


def _partial_upload(model: Model, failed: Sequence[tuple[str, str]]) -> Response:
    """202 for UploadUrls when some URLs failed: the model, plus which URLs failed and why."""
    return _json({**model.to_json(), "message": "Some URLs could not be fetched", "errors": url_errors(failed)}, 202)


def _predictions(results: Sequence[Prediction], status: int = 200) -> Response:
    return _json({
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


__all__ = ["OPERATIONS", "PREFIX", "Call", "Form", "Handler", "Operation", "Reply"]
