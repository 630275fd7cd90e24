"""The local server's own OpenAPI 3.0 description of the API.md contract.

Served at ``/api/v2/openapi.json`` and used by the fuzz tests (schemathesis) to check that
every answer, error or not, has the shape API.md promises.
"""
from __future__ import annotations

from typing import Any

from .._version import __version__
from .config import DEDUPE_BY_SHA256, DEDUPE_HEADER

_ERROR = {"$ref": "#/components/schemas/Error"}
_MODEL = {"$ref": "#/components/schemas/Model"}
_PREDICTIONS = {"$ref": "#/components/schemas/PredictionResponse"}
_PARTIAL_UPLOAD = {"$ref": "#/components/schemas/PartialUpload"}

#: Headers of every API response.
_HEADERS = {
    DEDUPE_HEADER: {
        "description": "Present when identical bytes uploaded to the same model and category are counted once "
                       "(absent with --no-dedupe)",
        "required": False,
        "schema": {"type": "string", "enum": [DEDUPE_BY_SHA256]},
    }
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "headers": _HEADERS, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    """Error responses every operation can give, plus ``codes``."""
    texts = {
        400: "Bad request: a missing field, unknown category, invalid image or a model not ready",
        401: "Missing or unknown API key",
        404: "Model unknown to this API key",
        413: "Upload larger than the server accepts",
        500: "Injected failure after the request was processed (--fail-after-rate)",
        503: "Injected failure (--fail-rate)",
    }
    return {str(code): _json(_ERROR, texts[code]) for code in sorted({401, 503, *codes})}


def _model_id_query(required: bool = True) -> dict[str, Any]:
    return {"name": "modelId", "in": "query", "required": required, "schema": {"type": "string"}}


def _multipart(properties: dict[str, Any], required: list) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": properties, "required": required},
                "encoding": {"file": {"contentType": "image/png, image/jpeg, application/octet-stream"}},
            }
        },
    }


def _form(properties: dict[str, Any], required: list) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


_FILES = {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}
_URLS = {"type": "array", "items": {"type": "string"}, "minItems": 1}
_STRING = {"type": "string"}
#: One URL that could not be used, in a 202 of UploadUrls.
_URL_ERROR = {
    "type": "object",
    "required": ["reason", "url", "message"],
    "properties": {"reason": _STRING, "url": _STRING, "message": _STRING},
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0.3 document of the Image Categorization API as this server implements it."""
    ic = "/ImageCategorization"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "nanoclient local server: Image Categorization API v2",
            "version": __version__,
            "description": "The Nanonets Image Categorization API as implemented by `nanoclient serve`.",
        },
        "servers": [{"url": "/api/v2"}],
        "security": [{"basicAuth": []}],
        "paths": {
            f"{ic}/Model/": {
                "get": {
                    "operationId": "getModel",
                    "summary": "Get a model by id",
                    "parameters": [_model_id_query()],
                    "responses": {"200": _json(_MODEL, "The model"), **_errors(400, 404)},
                },
                "post": {
                    "operationId": "createModel",
                    "summary": "Create a model with its categories",
                    "requestBody": _form(
                        {"categories": {"type": "array", "items": _STRING, "minItems": 1}}, ["categories"]
                    ),
                    "responses": {"200": _json(_MODEL, "The new model"), **_errors(400, 500)},
                },
            },
            f"{ic}/Model/{{model_id}}": {
                "get": {
                    "operationId": "getModelByPath",
                    "summary": "Get a model by id (path form)",
                    "parameters": [{"name": "model_id", "in": "path", "required": True, "schema": _STRING}],
                    "responses": {"200": _json(_MODEL, "The model"), **_errors(400, 404)},
                }
            },
            f"{ic}/Models/": {
                "get": {
                    "operationId": "listModels",
                    "summary": "List the models of this API key",
                    "responses": {"200": _json({"type": "array", "items": _MODEL}, "The models"), **_errors()},
                }
            },
            f"{ic}/UploadFile/": {
                "post": {
                    "operationId": "uploadFile",
                    "summary": "Upload one or more labelled image files",
                    "requestBody": _multipart(
                        {"file": _FILES, "category": _STRING, "modelId": _STRING}, ["file", "category", "modelId"]
                    ),
                    "responses": {"200": _json(_MODEL, "The model with updated counts"),
                                  **_errors(400, 404, 413, 500)},
                }
            },
            f"{ic}/UploadUrls/": {
                "post": {
                    "operationId": "uploadUrls",
                    "summary": "Upload labelled images by URL",
                    "requestBody": _form(
                        {"modelId": _STRING, "category": _STRING, "urls": _URLS}, ["modelId", "category", "urls"]
                    ),
                    "responses": {
                        "200": _json(_MODEL, "All URLs fetched and stored"),
                        "202": _json(_PARTIAL_UPLOAD, "Only some URLs could be fetched: those were stored"),
                        **_errors(400, 404, 500),
                    },
                }
            },
            f"{ic}/Train/": {
                "post": {
                    "operationId": "train",
                    "summary": "Start training",
                    "parameters": [_model_id_query()],
                    "responses": {"200": _json(_MODEL, "The model, queued or training"), **_errors(400, 404, 500)},
                }
            },
            f"{ic}/LabelFile/": {
                "post": {
                    "operationId": "labelFile",
                    "summary": "Predict the category of one or more image files",
                    "requestBody": _multipart({"file": _FILES, "modelId": _STRING}, ["file", "modelId"]),
                    "responses": {"200": _json(_PREDICTIONS, "One result per file"), **_errors(400, 404, 413)},
                }
            },
            f"{ic}/LabelUrls/": {
                "post": {
                    "operationId": "labelUrls",
                    "summary": "Predict the category of images given by URL",
                    "requestBody": _form({"modelId": _STRING, "urls": _URLS}, ["modelId", "urls"]),
                    "responses": {
                        "200": _json(_PREDICTIONS, "One result per URL"),
                        "202": _json(_PREDICTIONS, "Only some URLs could be fetched"),
                        **_errors(400, 404),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Category": {
                    "type": "object",
                    "required": ["name", "count"],
                    "properties": {"name": _STRING, "count": {"type": "integer", "minimum": 0}},
                },
                "Model": {
                    "type": "object",
                    "required": ["model_id", "model_type", "state", "status", "categories"],
                    "properties": {
                        "model_id": _STRING,
                        "model_type": {"type": "string", "enum": ["classification"]},
                        "state": {"type": "integer", "enum": [-1, 0, 1, 2, 3, 4, 5]},
                        "status": _STRING,
                        "accuracy": {"type": "number", "nullable": True, "minimum": 0, "maximum": 1},
                        "categories": {"type": "array", "items": {"$ref": "#/components/schemas/Category"}},
                    },
                },
                "PartialUpload": {
                    "allOf": [
                        _MODEL,
                        {
                            "type": "object",
                            "required": ["message", "errors"],
                            "properties": {
                                "message": _STRING,
                                "errors": {"type": "array", "minItems": 1, "items": _URL_ERROR},
                            },
                        },
                    ]
                },
                "PredictionResponse": {
                    "type": "object",
                    "required": ["message", "result"],
                    "properties": {
                        "message": _STRING,
                        "result": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["message", "file", "prediction"],
                                "properties": {
                                    "message": _STRING,
                                    "file": _STRING,
                                    "prediction": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["label", "probability"],
                                            "properties": {
                                                "label": _STRING,
                                                "probability": {"type": "number", "minimum": 0, "maximum": 1},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["message", "code", "errors"],
                    "properties": {
                        "message": _STRING,
                        "code": {"type": "integer", "minimum": 400, "maximum": 599},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["reason", "message"],
                                "properties": {
                                    "reason": _STRING,
                                    "message": _STRING,
                                    "url": {"type": "string",
                            "description": "The URL at fault (UploadUrls, LabelUrls)"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
