"""The local server's HTTP layer: the only module that knows about requests and responses.

Each view parses what API.md allows (query string, form, multipart or JSON), calls the
backend and renders a JSON answer. Every failure, expected or not, becomes the JSON error
body of API.md with the right status; never an HTML page.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Dict, List, Optional, Tuple

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import BadRequestError, NanonetsError, ServerError
from ..types import Model, Prediction
from .backend import Backend, open_backend
from .config import API_ROOT, ServerConfig

log = logging.getLogger("nanoclient.server")

IC = API_ROOT + "/ImageCategorization"
#: Extension key under which the app keeps its backend and config.
EXTENSION = "nanoclient"

_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ServiceUnavailableError(ServerError):
    """503: a failure injected by --fail-rate (retrying is the right reaction)."""

    http_status = 503
    reason = "unavailable"


def create_app(config: ServerConfig, backend: Optional[Backend] = None) -> Flask:
    """The Flask app of the local server.

    Without ``backend`` one is opened on ``config.data_dir`` (sweeping it and resuming
    unfinished training); ``app.extensions['nanoclient']['backend']`` gives access to it.
    """
    if backend is None:
        backend = open_backend(
            config.data_dir,
            api_keys=config.api_keys,
            min_images=config.min_images,
            fetch_timeout=config.fetch_timeout,
            fetch_max_bytes=config.fetch_max_bytes,
        )
    app = Flask("nanoclient.server")
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = min(config.max_upload_bytes, 8 * 1024 * 1024)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False  # the trailing slash is optional everywhere
    chaos = random.Random(config.fail_seed)
    app.extensions[EXTENSION] = {"backend": backend, "config": config}

    def route(path: str, method: str):
        """Register a view for IC + path, with and without the trailing slash."""
        bare = IC + path.rstrip("/")

        def register(view):
            for rule in (bare, bare + "/"):
                app.add_url_rule(rule, f"{method}:{bare}", view, methods=[method])
            return view

        return register

    @app.before_request
    def _inject_faults() -> Optional[Response]:
        if not request.path.startswith(IC + "/"):
            return None  # /healthz and the OpenAPI document are never delayed or failed
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
        if config.fail_rate and chaos.random() < config.fail_rate:
            return _error(ServiceUnavailableError(
                "Service unavailable (failure injected by --fail-rate)", hint="Retry the request"))
        return None

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get(API_ROOT + "/openapi.json")
    def openapi() -> Response:
        from .openapi import openapi_document

        return jsonify(openapi_document())

    @route("/Model/", "POST")
    def create_model() -> Response:
        account = backend.authenticate(_api_key())
        categories = request.values.getlist("categories")
        body = _json_body()
        if not categories and "categories" in body:
            raw = body["categories"]
            categories = raw if isinstance(raw, list) else [raw]
        return _model(backend.create_model(account, [str(c) for c in categories]))

    @route("/Model/", "GET")
    def get_model() -> Response:
        account = backend.authenticate(_api_key())
        return _model(backend.get_model(account, _field("modelId") or _field("id")))

    @route("/Model/<model_id>", "GET")
    def get_model_by_path(model_id: str) -> Response:
        account = backend.authenticate(_api_key())
        return _model(backend.get_model(account, model_id))

    @route("/Models/", "GET")
    def list_models() -> Response:
        account = backend.authenticate(_api_key())
        return jsonify([m.to_json() for m in backend.list_models(account)])

    @route("/UploadFile/", "POST")
    def upload_file() -> Response:
        account = backend.authenticate(_api_key())
        model = backend.upload_images(account, _field("modelId"), _field("category"), _files())
        return _model(model)

    @route("/UploadUrls/", "POST")
    def upload_urls() -> Response:
        account = backend.authenticate(_api_key())
        model, failed = backend.upload_urls(account, _field("modelId"), _field("category"), _list("urls"))
        return _model(model, 202 if failed else 200)

    @route("/Train/", "POST")
    def train() -> Response:
        account = backend.authenticate(_api_key())
        return _model(backend.train(account, _field("modelId")))

    @route("/LabelFile/", "POST")
    def label_file() -> Response:
        account = backend.authenticate(_api_key())
        return _predictions(backend.predict_images(account, _field("modelId"), _files()))

    @route("/LabelUrls/", "POST")
    def label_urls() -> Response:
        account = backend.authenticate(_api_key())
        results, failed = backend.predict_urls(account, _field("modelId"), _list("urls"))
        return _predictions(results, 202 if failed else 200)

    @app.errorhandler(NanonetsError)
    def _nanonets_error(exc: NanonetsError) -> Response:
        return _error(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        message = {
            404: "Not found",
            405: "Method not allowed",
            413: "Upload too large",
        }.get(code, exc.name)
        hint = {
            404: "Check the path: the API lives under " + IC + "/",
            405: "Allowed methods: " + ", ".join(getattr(exc, "valid_methods", None) or []),
            413: f"This server accepts at most {config.max_upload_mb:g} MB per request (--max-upload-mb)",
        }.get(code, exc.description or exc.name)
        body = {"message": message, "code": code, "errors": [{"reason": _HTTP_REASONS.get(code, "error"), "message": hint}]}
        response = jsonify(body)
        response.status_code = code
        for name, value in exc.get_headers():
            if name.lower() in ("allow", "retry-after"):
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(ServerError("Internal server error", hint=f"{type(exc).__name__}; see the server log"))

    return app


# ---------------------------------------------------------------------- request parsing


def _api_key() -> Optional[str]:
    """The username of HTTP Basic auth (the password is ignored)."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    return auth.username or None


#: Largest field accepted as a file-less multipart part (model ids and category names are short).
_FIELD_MAX_BYTES = 4096


def _json_body() -> Dict[str, Any]:
    if not request.is_json:
        return {}
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _field(name: str) -> Optional[str]:
    """A single value from the query string, the form, a JSON body or a file-less part, in that order."""
    value = request.values.get(name)  # reading the form may raise 413
    if value:
        return value.strip()
    value = _json_body().get(name)
    if value not in (None, ""):
        return str(value).strip()
    return _field_sent_as_part(name)


def _field_sent_as_part(name: str) -> Optional[str]:
    """A field sent as a multipart part with an empty file name.

    The Nanonets tutorial sends ``files={"category": ("", category), "modelId": ("", id)}``,
    which makes such parts; the hosted API takes them as fields, so this server does too.
    """
    part = request.files.get(name)
    if part is None or part.filename:
        return None
    data = part.read(_FIELD_MAX_BYTES + 1)
    if len(data) > _FIELD_MAX_BYTES:
        raise BadRequestError(f"Field {name} is too long", hint=f"Send at most {_FIELD_MAX_BYTES} bytes")
    try:
        return data.decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise BadRequestError(f"Field {name} is not UTF-8 text", hint="Send it as a plain form field") from None


def _list(name: str) -> List[str]:
    """A repeated value (``urls=a&urls=b``) from query, form or a JSON list."""
    values = request.values.getlist(name)
    if values:
        return values
    raw = _json_body().get(name)
    if isinstance(raw, list):
        return [str(v) for v in raw]
    return [str(raw)] if raw else []


def _files() -> List[Tuple[str, bytes]]:
    """Every ``file`` part as (file name, bytes), in the order sent."""
    try:
        parts = request.files.getlist("file")
    except RequestEntityTooLarge:
        raise
    files = []
    for index, part in enumerate(parts):
        name = part.filename or f"file{index}"
        files.append((name, part.read()))
    return files


# ---------------------------------------------------------------------- rendering


def _model(model: Model, status: int = 200) -> Response:
    response = jsonify(model.to_json())
    response.status_code = status
    return response


def _predictions(results: List[Prediction], status: int = 200) -> Response:
    body = {
        "message": "Success" if status == 200 else "Some inputs could not be predicted",
        "result": [
            {
                "message": item.message,
                "file": item.file,
                "prediction": [{"label": label, "probability": p} for label, p in item.scores],
            }
            for item in results
        ],
    }
    response = jsonify(body)
    response.status_code = status
    return response


def _error(exc: NanonetsError) -> Response:
    response = jsonify(exc.to_body())
    response.status_code = exc.http_status
    if exc.http_status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="nanoclient"'
    return response


__all__ = ["create_app", "ServiceUnavailableError", "IC"]
