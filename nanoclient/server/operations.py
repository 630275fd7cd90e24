"""The API's operations, one declaration each: what the app's routes, its authentication and
its OpenAPI document are all made from, so that they cannot drift apart (like moto's ``urls.py``).

An ``Operation`` says where it lives on the wire (method, and path below ``/ImageCategorization``;
the trailing slash is optional), which handler answers it, how the OpenAPI document describes
its request and answers, and whether it changes data (``mutates``: --fail-after-rate fails only
those). Every operation needs an API key: the app checks it once, before the handler runs
(the one exception, a report link, carries a one-use token instead).

The local server's own extension (``local=True``, for the dashboard: stored images read back,
evaluation reports) is declared here too, but lives under ``/local/v1`` at the root, outside
the hosted API's paths, and the document marks it local-only. No fault is injected into it.

A handler reads the request (``forms``), calls the backend for the caller's account and renders
the JSON answer. Adding an operation takes a handler and a declaration here, the backend method
it calls, and the client and CLI that use it.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from flask import Response, jsonify

from .._wire import IMAGE_CATEGORIZATION
from ..types import Model, Prediction
from . import forms
from .backend import Account, Backend, url_errors
from .config import API_ROOT, LOCAL_ROOT
from .dashboard import REPORT_CSP
from .local import LocalData
from .ocr_backend import OcrModels
from .openapi import (
    FILE,
    FILES,
    IMAGE_PAGE,
    MODEL,
    MODELS,
    PARTIAL_UPLOAD,
    PREDICTIONS,
    REPORT_INFO,
    REPORT_LINK,
    STRING,
    STRINGS,
    WHOLE,
    Schema,
)

#: Where the operations live, below API_ROOT.
PREFIX = "/" + IMAGE_CATEGORIZATION
#: The account of the one operation that needs no key (no account has id 0: ids start at 1).
ANONYMOUS = Account(0)
#: How long a browser may keep a thumbnail without asking again (it never changes: see local.py).
THUMBNAIL_MAX_AGE = 24 * 3600


@dataclass(frozen=True)
class Call:
    """One authenticated request as its handler sees it: the backend, whose call it is, the path's variables."""

    backend: Backend
    account: Account
    #: The variables of the operation's path, e.g. ``model_id`` of ``/Model/{model_id}``.
    path: Mapping[str, str]
    #: Shuffles prediction results (--shuffle-results); None keeps them in input order.
    shuffler: random.Random | None = None
    #: The local extension's operations (None where the app has none, e.g. a test's Call).
    local: LocalData | None = None
    #: The OCR models' operations (None where the app has none: made on the call's backend).
    ocr: OcrModels | None = None

    @property
    def ocr_models(self) -> OcrModels:
        """The OCR part of the domain, made on the call's backend if the app gave none."""
        return self.ocr if self.ocr is not None else OcrModels(self.backend)

    @property
    def extension(self) -> LocalData:
        """The local extension, made on the call's backend if the app gave none."""
        return self.local if self.local is not None else LocalData(self.backend)

    def in_answer_order(self, results: Sequence[Answer]) -> list[Answer]:
        """Results in input order, or shuffled with --shuffle-results (the hosted service promises no order)."""
        ordered = list(results)
        if self.shuffler is not None:
            self.shuffler.shuffle(ordered)
        return ordered


#: One entry of an answer listing results (a prediction, an OCR page).
Answer = TypeVar("Answer")

#: What answers an operation: one authenticated call in, its JSON response out.
Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Reply:
    """A success answer of an operation, as the OpenAPI document describes it."""

    #: None: no body (a 304).
    schema: Schema | None
    description: str
    #: The media types it may come as (the first is the one documented for a schema).
    media_types: tuple[str, ...] = ("application/json",)
    #: Response headers it carries, by name: their schema and description.
    headers: Mapping[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Form:
    """A request body whose fields are all required: form-urlencoded, or multipart when it carries files."""

    fields: Mapping[str, Schema]
    multipart: bool = False
    #: The media types of file fields, by name (default: the image types of ``file``).
    content_types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """One API operation: its place on the wire, its handler, its OpenAPI description, whether it mutates."""

    #: The OpenAPI operationId, also the Flask endpoint.
    name: str
    method: str
    #: Below its family's prefix, in OpenAPI form (``/Model/{model_id}``); every variable is a string.
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
    #: Optional query parameters and request headers, by name, with their schemas.
    options: Mapping[str, Schema] = field(default_factory=dict)
    headers: Mapping[str, Schema] = field(default_factory=dict)
    #: The local server's own extension: under LOCAL_ROOT, not the API's; documented as local-only.
    local: bool = False
    #: Needs an API key (every operation but the report link, which carries a one-use token).
    auth: bool = True
    #: A longer description for the document.
    description: str = ""
    #: The family of paths it lives in, below API_ROOT (the model type's: ImageCategorization, OCR, ...).
    family: str = IMAGE_CATEGORIZATION

    @property
    def server(self) -> str:
        """The URL path the operation's documented path is below: API_ROOT, or LOCAL_ROOT for the extension."""
        return LOCAL_ROOT if self.local else API_ROOT

    @property
    def documented_path(self) -> str:
        """The path as the OpenAPI document lists it, below its server URL (``server``)."""
        return self.path if self.local else "/" + self.family + self.path

    @property
    def rule(self) -> str:
        """The Flask URL rule, without the trailing slash: ``/api/v2/ImageCategorization/Model/<model_id>``."""
        return self.server + re.sub(r"\{(\w+)\}", r"<\1>", self.documented_path).rstrip("/")

    @property
    def path_variables(self) -> list[str]:
        """The names of the path's variables, in order."""
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def error_statuses(self) -> list[int]:
        """Every error status it can answer: its own, 401 (no or unknown key), 503 (--fail-rate) and,
        when it mutates, 500 (--fail-after-rate); no faults are injected into the local extension."""
        injected = () if self.local else (503, *((500,) if self.mutates else ()))
        return sorted({*((401,) if self.auth else ()), *self.errors, *injected})


# ---------------------------------------------------------------------- handlers


def create_model(call: Call) -> Response:
    return _model(call.backend.create_model(call.account, forms.values("categories")))


def get_model(call: Call) -> Response:
    return _model(call.backend.get_model(call.account, forms.field("modelId") or forms.field("id")))


def get_model_by_path(call: Call) -> Response:
    return _model(call.backend.get_model(call.account, call.path["model_id"]))


def list_models(call: Call) -> Response:
    return json_response([model.to_json() for model in call.backend.list_models(call.account)])


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


# ---------------------------------------------------------------------- handlers of the local extension


def local_images(call: Call) -> Response:
    page = call.extension.images(call.account, call.path["model_id"], forms.field("category"),
                                 forms.field("page"), forms.field("per_page"))
    return json_response(page.to_json())


def local_thumbnail(call: Call) -> Response:
    ref = call.extension.thumbnail_ref(call.account, call.path["model_id"], call.path["image_id"])
    if forms.if_none_match(ref.etag):
        response = Response(status=304)
    else:
        data, media_type = call.extension.thumbnail(ref)
        response = Response(data, mimetype=media_type)
    response.set_etag(ref.etag)
    response.headers["Cache-Control"] = f"private, max-age={THUMBNAIL_MAX_AGE}, immutable"
    return response


def local_put_report(call: Call) -> Response:
    info = call.extension.put_report(call.account, call.path["model_id"], forms.file_bytes("report"))
    return json_response(info.to_json())


def local_report_info(call: Call) -> Response:
    return json_response(call.extension.report_info(call.account, call.path["model_id"]).to_json())


def local_report_link(call: Call) -> Response:
    token, seconds = call.extension.report_link(call.account, call.path["model_id"])
    return json_response({"token": token, "url": f"{LOCAL_ROOT}/report-links/{token}", "expires_in": seconds})


def local_open_report(call: Call) -> Response:
    response = Response(call.extension.report_by_link(call.path["token"]), mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------- the table

_LOCAL = ("Local server only (`nanoclient serve`): not part of the hosted Nanonets API. "
          "For the dashboard at `/`.")
_CACHE_HEADERS: Mapping[str, Schema] = {
    "ETag": {"description": "The image's content hash, with the thumbnail's size and version", "schema": STRING},
    "Cache-Control": {"description": "private, with a max-age: a thumbnail never changes", "schema": STRING},
}

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
    # ------------------------------------------------------------------ the local extension
    Operation(
        "localListImages", "GET", "/models/{model_id}/images", local_images,
        summary="List a model's stored images, newest first, a page at a time",
        description=_LOCAL + " `category` limits it to one category; `page` counts from 1, "
                             "`per_page` is 24 unless given (at most 100).",
        options={"category": STRING, "page": WHOLE, "per_page": {**WHOLE, "maximum": 100}},
        replies={200: Reply(IMAGE_PAGE, "One page of images")}, errors=(400, 404), local=True,
    ),
    Operation(
        "localThumbnail", "GET", "/models/{model_id}/images/{image_id}/thumbnail", local_thumbnail,
        summary="A downsized copy of one stored image (96 px)",
        description=_LOCAL + " PNG, or JPEG for a JPEG; its ETag is the image's content hash: send it back as "
                             "If-None-Match for a 304.",
        headers={"If-None-Match": STRING},
        replies={200: Reply(FILE, "The thumbnail", ("image/png", "image/jpeg"), _CACHE_HEADERS),
                 304: Reply(None, "Not modified: the ETag sent is the thumbnail's", (), _CACHE_HEADERS)},
        errors=(404,), local=True,
    ),
    Operation(
        "localPutReport", "PUT", "/models/{model_id}/report", local_put_report,
        summary="Store the evaluation report of a model (the HTML of `nanoclient evaluate --report`)",
        description=_LOCAL + " Replaces the previous one; at most 20 MB. `nanoclient evaluate --report` "
                             "sends it when the server says `Nanoclient-Server: local`.",
        body=Form({"report": FILE}, multipart=True, content_types={"report": "text/html"}),
        replies={200: Reply(REPORT_INFO, "The report was stored")}, errors=(400, 404, 413), local=True,
    ),
    Operation(
        "localGetReport", "GET", "/models/{model_id}/report", local_report_info,
        summary="Whether a model has a stored report: its size and when it was stored",
        description=_LOCAL + " The HTML itself opens through a link (localReportLink).",
        replies={200: Reply(REPORT_INFO, "The stored report")}, errors=(404,), local=True,
    ),
    Operation(
        "localReportLink", "POST", "/models/{model_id}/report/link", local_report_link,
        summary="A one-use link that opens the stored report in a browser tab, good for 60 s",
        description=_LOCAL + " A tab opened on a URL cannot send the API key, and the key never goes into a "
                             "URL: the link carries a random token instead, which opens this report once.",
        replies={200: Reply(REPORT_LINK, "The link")}, errors=(404,), local=True,
    ),
    Operation(
        "localOpenReport", "GET", "/report-links/{token}", local_open_report,
        summary="Open a stored report through its one-use link (no API key: the token is the permission)",
        description=_LOCAL + " Served with its own Content-Security-Policy: a sandbox in which only the report's "
                             "inline styles and script run.",
        replies={200: Reply(STRING, "The report's HTML", ("text/html",))}, errors=(404,), local=True, auth=False,
    ),
)


# ---------------------------------------------------------------------- rendering


def json_response(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


def _model(model: Model) -> Response:
    return json_response(model.to_json())


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


__all__ = ["ANONYMOUS", "OPERATIONS", "PREFIX", "Call", "Form", "Handler", "Operation", "Reply", "json_response"]
