"""The local server's own OpenAPI 3.0 description of the contract of docs/api.md.

The shapes of requests and answers are here; which operations exist comes from the table in
``operations.py``, so that the document lists exactly what the app routes. Served at
``/api/v2/openapi.json`` and used by the fuzz tests (schemathesis) to check that every
answer, error or not, has the shape docs/api.md promises.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .._version import __version__
from .config import API_ROOT, DEDUPE_BY_SHA256, DEDUPE_HEADER, LOCAL_ROOT, SERVER_HEADER, SERVER_LOCAL

if TYPE_CHECKING:
    from .operations import Form, Operation, Reply

#: A JSON Schema (OpenAPI 3.0 flavour): a fragment of the document.
Schema = Mapping[str, object]

STRING: Schema = {"type": "string"}
#: A non-empty list of strings (``categories``, ``urls``).
STRINGS: Schema = {"type": "array", "items": STRING, "minItems": 1}
#: One or more image files (the ``file`` parts of a multipart body).
FILES: Schema = {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}
#: One file (a multipart part), or a binary answer.
FILE: Schema = {"type": "string", "format": "binary"}
#: A whole number from 1, as a query parameter.
WHOLE: Schema = {"type": "integer", "minimum": 1}
IMAGE_PAGE: Schema = {"$ref": "#/components/schemas/ImagePage"}
REPORT_INFO: Schema = {"$ref": "#/components/schemas/ReportInfo"}
REPORT_LINK: Schema = {"$ref": "#/components/schemas/ReportLink"}
#: The tag of the local server's own operations.
LOCAL_TAG = "local-only"
MODEL: Schema = {"$ref": "#/components/schemas/Model"}
MODELS: Schema = {"type": "array", "items": MODEL}
PREDICTIONS: Schema = {"$ref": "#/components/schemas/PredictionResponse"}
PARTIAL_UPLOAD: Schema = {"$ref": "#/components/schemas/PartialUpload"}
_ERROR: Schema = {"$ref": "#/components/schemas/Error"}

#: What each error status means, for every operation that can answer it.
_ERROR_TEXTS = {
    400: "Bad request: a missing field, unknown category, invalid image or a model not ready",
    401: "Missing or unknown API key",
    404: "Model (or image, report, link) unknown to this API key",
    413: "Upload larger than the server accepts",
    500: "Injected failure after the request was processed (--fail-after-rate)",
    503: "Injected failure (--fail-rate)",
}

_SERVER_HEADER: Schema = {
    "description": "Says that this is a local nanoclient server (on every response; a proxy may strip it)",
    "required": False,
    "schema": {"type": "string", "enum": [SERVER_LOCAL]},
}
#: Headers of every API response.
_HEADERS: Schema = {
    DEDUPE_HEADER: {
        "description": "Present when identical bytes uploaded to the same model and category are counted once "
                       "(absent with --no-dedupe)",
        "required": False,
        "schema": {"type": "string", "enum": [DEDUPE_BY_SHA256]},
    },
    SERVER_HEADER: _SERVER_HEADER,
}
#: Headers of every response of the local extension.
_LOCAL_HEADERS: Schema = {SERVER_HEADER: _SERVER_HEADER}

#: One URL that could not be used, in a 202 of UploadUrls.
_URL_ERROR: Schema = {
    "type": "object",
    "required": ["reason", "url", "message"],
    "properties": {"reason": STRING, "url": STRING, "message": STRING},
}


def openapi_document(operations: Iterable[Operation]) -> dict[str, object]:
    """The OpenAPI 3.0.3 document of the API as this server implements ``operations`` (a path two model types
    share is documented once, by the first type's operation: the app serves it by the model's type)."""
    paths: dict[str, dict[str, object]] = {}
    for operation in operations:
        item = paths.setdefault(operation.documented_path, {})
        first = item.get(operation.method.lower())
        if isinstance(first, dict):  # a path two types share: one entry, serving both by the model's type
            first["description"] = (f"{first.get('description', '')} Also serves the {operation.model_type} "
                                    f"models' {operation.name} (by the model's type).").strip()
            continue
        if operation.local:  # below its own root, not the API's
            item["servers"] = [{"url": LOCAL_ROOT, "description": "The local server's own extension"}]
        item[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "nanoclient local server: Nanonets API v2",
            "version": __version__,
            "description": "The Nanonets API, every model type of the registry, as implemented by `nanoclient serve`. "
                           f"Operations tagged `{LOCAL_TAG}` (`x-local-only: true`, below {LOCAL_ROOT}) are "
                           "the local server's own, for its dashboard: the hosted API has none of them.",
        },
        "servers": [{"url": API_ROOT}],
        "security": [{"basicAuth": []}],
        "tags": [{"name": LOCAL_TAG, "description": "Local server only: not part of the hosted Nanonets API"}],
        "paths": paths,
        "components": _COMPONENTS,
    }


def _operation(operation: Operation) -> dict[str, object]:
    """The document's entry for one operation: parameters, body and every answer it can give."""
    entry: dict[str, object] = {"operationId": operation.name, "summary": operation.summary}
    if operation.description:
        entry["description"] = operation.description
    if operation.local:
        entry["tags"] = [LOCAL_TAG]
        entry["x-local-only"] = True
    if not operation.auth:
        entry["security"] = []
    parameters = [_parameter(name, "path") for name in operation.path_variables]
    parameters += [_parameter(name, "query") for name in operation.query]
    parameters += [_parameter(name, "query", schema, required=False) for name, schema in operation.options.items()]
    parameters += [_parameter(name, "header", schema, required=False) for name, schema in operation.headers.items()]
    if parameters:
        entry["parameters"] = parameters
    if operation.body is not None:
        entry["requestBody"] = _body(operation.body)
    headers = _HEADERS if not operation.local else _LOCAL_HEADERS
    answers = {str(status): _answer(reply, headers) for status, reply in operation.replies.items()}
    errors = {str(status): _json(_ERROR, _ERROR_TEXTS[status], headers) for status in operation.error_statuses}
    entry["responses"] = {**answers, **errors}
    return entry


def _parameter(name: str, where: str, schema: Schema = STRING, *, required: bool = True) -> Schema:
    return {"name": name, "in": where, "required": required, "schema": schema}


def _json(schema: Schema, description: str, headers: Schema | None = None) -> Schema:
    return {"description": description, "headers": _HEADERS if headers is None else headers,
            "content": {"application/json": {"schema": schema}}}


def _answer(reply: Reply, headers: Schema) -> Schema:
    """A success answer: JSON, another media type (an image, HTML), or no body at all (a 304)."""
    every = {**headers, **{name: {"required": False, **spec} for name, spec in reply.headers.items()}}
    answer: dict[str, object] = {"description": reply.description, "headers": every}
    if reply.schema is not None and reply.media_types:
        answer["content"] = {media: {"schema": reply.schema} for media in reply.media_types}
    return answer


def _body(form: Form) -> Schema:
    """A body of required fields: multipart (with files) or form-urlencoded."""
    schema = {"type": "object", "properties": dict(form.fields), "required": list(form.fields)}
    if form.multipart:
        types = form.content_types or {"file": "image/png, image/jpeg, application/octet-stream"}
        encoding = {name: {"contentType": media} for name, media in types.items()}
        return {"required": True, "content": {"multipart/form-data": {"schema": schema, "encoding": encoding}}}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


_COMPONENTS: dict[str, object] = {
    "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
    "schemas": {
        "Category": {
            "type": "object",
            "required": ["name", "count"],
            "properties": {"name": STRING, "count": {"type": "integer", "minimum": 0}},
        },
        "Model": {
            "type": "object",
            "required": ["model_id", "model_type", "state", "status", "categories"],
            "properties": {
                "model_id": STRING,
                "model_type": {"type": "string", "description": "The model's type (the registry's names)"},
                "state": {"type": "integer", "enum": [-1, 0, 1, 2, 3, 4, 5]},
                "status": STRING,
                "accuracy": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1},
                "categories": {"type": "array", "items": {"$ref": "#/components/schemas/Category"}},
                "min_images": {"type": "integer", "minimum": 1,
                               "description": "Local server only: images each category needs before training"},
                "accuracy_images": {"type": "integer", "minimum": 1,
                                    "description": "Local server only: held-out images accuracy was measured on"},
                "languages": {"type": "array", "items": STRING,
                              "description": "Local server only: the languages a model of documents reads "
                                             "(Tesseract's codes)"},
            },
        },
        "PartialUpload": {
            "allOf": [
                MODEL,
                {
                    "type": "object",
                    "required": ["message", "errors"],
                    "properties": {
                        "message": STRING,
                        "errors": {"type": "array", "minItems": 1, "items": _URL_ERROR},
                    },
                },
            ]
        },
        "PredictionResponse": {
            "type": "object",
            "required": ["message", "result"],
            "properties": {
                "message": STRING,
                "result": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["message", "file", "prediction"],
                        "properties": {
                            "message": STRING,
                            "file": STRING,
                            "prediction": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["label", "probability"],
                                    "properties": {
                                        "label": STRING,
                                        "probability": {"type": "number", "minimum": 0, "maximum": 1},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
        "ImagePage": {
            "type": "object",
            "description": "Local server only: one page of a model's stored images, newest first",
            "required": ["model_id", "category", "page", "per_page", "pages", "total", "images"],
            "properties": {
                "model_id": STRING,
                "category": {"type": "string", "nullable": True},
                "page": WHOLE,
                "per_page": WHOLE,
                "pages": WHOLE,
                "total": {"type": "integer", "minimum": 0},
                "images": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["id", "category", "name", "sha256", "created_at"],
                        "properties": {
                            "id": WHOLE,
                            "category": STRING,
                            "name": STRING,
                            "sha256": STRING,
                            "created_at": {"type": "number"},
                        },
                    },
                },
            },
        },
        "ReportInfo": {
            "type": "object",
            "description": "Local server only: the evaluation report stored for a model",
            "required": ["model_id", "size", "stored_at"],
            "properties": {"model_id": STRING, "size": {"type": "integer", "minimum": 1},
                           "stored_at": {"type": "number"}},
        },
        "ReportLink": {
            "type": "object",
            "description": "Local server only: a one-use link to a stored report",
            "required": ["token", "url", "expires_in"],
            "properties": {"token": STRING, "url": STRING, "expires_in": {"type": "number", "minimum": 0}},
        },
        "Error": {
            "type": "object",
            "required": ["message", "code", "errors"],
            "properties": {
                "message": STRING,
                "code": {"type": "integer", "minimum": 400, "maximum": 599},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["reason", "message"],
                        "properties": {
                            "reason": STRING,
                            "message": STRING,
                            "url": {"type": "string", "description": "The URL at fault (UploadUrls, LabelUrls)"},
                        },
                    },
                },
            },
        },
    },
}


__all__ = ["FILE", "FILES", "IMAGE_PAGE", "LOCAL_TAG", "MODEL", "MODELS", "PARTIAL_UPLOAD", "PREDICTIONS",
           "REPORT_INFO", "REPORT_LINK", "STRING", "STRINGS", "WHOLE", "Schema", "openapi_document"]
