"""The operation framework: each operation declared once, and what the app's routes, its authentication and
its OpenAPI document are all made from, so that they cannot drift apart (like moto's ``urls.py``).

An ``Operation`` says where it lives on the wire (method, its family of paths and the path below it;
the trailing slash is optional), which handler answers it, how the OpenAPI document describes
its request and answers, whether it changes data (``mutates``: --fail-after-rate fails only
those), and which model type it serves (``model_type``). Every operation needs an API key: the app
checks it once, before the handler runs (the one exception, a report link, carries a one-use token
instead).

Each model type declares its table in its folder (``server/<type>/operations.py``); the local server's own
extension (``local=True``, for the dashboard) is ``local_operations.py``. When two types declare the same
path (OCR and detection models share ``ObjectDetection/Model/...``), the app serves it by the stored
model's type, or for a path without a model (create) by the operation whose ``claims`` holds.

A handler reads the request (``forms``), calls its type's part of the backend (``call.backend.part``) for
the caller's account and renders the JSON answer.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Response, jsonify

from ..errors import BadRequestError
from ..types import Model
from . import forms
from .backend import Account, Backend
from .config import API_ROOT, LOCAL_ROOT
from .local import LocalData
from .openapi import Schema

#: The account of the one operation that needs no key (no account has id 0: ids start at 1).
ANONYMOUS = Account(0)


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
    #: The family of paths it lives in, below API_ROOT (its model type's); "" for the local extension.
    family: str = ""
    #: The model type it serves (``ModelType.name``); "" for the local extension.
    model_type: str = ""
    #: On a path two types share that names no model (create): whether this request is this type's.
    #: The operation without one serves the requests no other claims.
    claims: Callable[[], bool] | None = None

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


# ---------------------------------------------------------------------- rendering


def path_model_id(call: Call) -> str:
    """The model id of the operation's path; a ``modelId`` sent as well (the official wrapper does) must be the
    same (else BadRequestError)."""
    model_id = call.path["model_id"]
    sent = forms.field("modelId")
    if sent and sent != model_id:
        raise BadRequestError(f"modelId {sent!r} is not the model of the path ({model_id})",
                              hint="Send the model id in the path only")
    return model_id


def model_response(model: Model) -> Response:
    """The answer that is a model: its JSON."""
    return json_response(model.to_json())


def annotations_body(model: Model, data: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of ``Annotations`` (and of an upload of annotated files): the model as ``Meta`` (with the
    capitalised keys the reference shows, beside the lower-case ones) and its training files as ``Data``."""
    meta: dict[str, Any] = model.to_json()
    capitals: dict[str, Any] = {"ModelID": model.id, "ModelType": model.type, "State": model.state,
                                "Status": model.status, "Accuracy": model.accuracy, "Categories": meta["categories"]}
    return {"Meta": {**capitals, **meta}, "Data": data}


def json_response(body: object, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response


__all__ = ["ANONYMOUS", "Call", "Form", "Handler", "Operation", "Reply", "annotations_body", "json_response",
           "model_response", "path_model_id"]
