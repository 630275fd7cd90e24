"""The local server's HTTP layer: the only module that knows about requests and responses.

Each view parses what API.md allows (query string, form, multipart or JSON), calls the
backend and renders a JSON answer. Every failure, expected or not, becomes the JSON error
body of API.md with the right status; never an HTML page.

The kindnesses the hosted service does not promise are declared or dropped here: the
DEDUPE_HEADER on every API response while the backend deduplicates, results in input order
unless ``shuffle_results``, and faults injected before (``fail_rate``) or after
(``fail_after_rate``) processing. A dropped connection cannot be made by Flask: the app marks
the response with DROP_MARKER and the transport drops it (``DropMarkedConnections`` under
waitress, ``nanoclient.testing`` in-process).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any, Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..errors import BadRequestError, NanonetsError, ServerError
from ..types import Model, Prediction
from .backend import Backend, open_backend, url_errors
from .config import API_ROOT, DEDUPE_BY_SHA256, DEDUPE_HEADER, ServerConfig
from .wire import FailedAfterProcessingError, ServiceUnavailableError, error_body, wire_form

log = logging.getLogger("nanoclient.server")

IC = API_ROOT + "/ImageCategorization"
#: Extension key under which the app keeps its backend and config.
EXTENSION = "nanoclient"
#: Internal response header: "drop the connection instead of sending this answer". Never reaches
#: a client: the transport (DropMarkedConnections, nanoclient.testing) acts on it and removes it.
DROP_MARKER = "X-Nanoclient-Drop-Connection"

_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(config: ServerConfig, backend: Backend | None = None) -> Flask:
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
            dedupe=config.dedupe,
        )
    app = Flask("nanoclient.server")
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = min(config.max_upload_bytes, 8 * 1024 * 1024)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False  # the trailing slash is optional everywhere
    chaos = random.Random(config.fail_seed)  # which requests fail (--fail-rate, --fail-after-rate)
    shuffler = random.Random(config.fail_seed)  # its own stream: shuffling does not move the failures
    mutating: set[str] = set()  # endpoints that change data: --fail-after-rate applies to them
    app.extensions[EXTENSION] = {"backend": backend, "config": config}

    def route(path: str, method: str, *, mutates: bool = False):
        """Register a view for IC + path, with and without the trailing slash."""
        bare = IC + path.rstrip("/")
        endpoint = f"{method}:{bare}"
        if mutates:
            mutating.add(endpoint)

        def register(view):
            for rule in (bare, bare + "/"):
                app.add_url_rule(rule, endpoint, view, methods=[method])
            return view

        return register

    def in_answer_order(results: Sequence[Prediction]) -> list[Prediction]:
        """Results in input order, or shuffled with --shuffle-results (the hosted service promises no order)."""
        ordered = list(results)
        if config.shuffle_results:
            shuffler.shuffle(ordered)
        return ordered

    def fail_after_processing(response: Response) -> Response:
        """With --fail-after-rate, replace a processed mutation's 2xx answer by a 500 or a dropped connection."""
        if not (config.fail_after_rate and request.endpoint in mutating and 200 <= response.status_code < 300):
            return response
        if chaos.random() >= config.fail_after_rate:
            return response
        if chaos.random() < 0.5:
            return _error(FailedAfterProcessingError(
                "Internal server error injected by --fail-after-rate after the request was processed",
                hint="The request WAS processed: check the model before sending it again"))
        response.headers[DROP_MARKER] = "1"
        return response

    @app.before_request
    def _inject_faults() -> Response | None:
        if not request.path.startswith(IC + "/"):
            return None  # /healthz and the OpenAPI document are never delayed or failed
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
        if config.fail_rate and chaos.random() < config.fail_rate:
            return _error(ServiceUnavailableError(
                "Service unavailable (failure injected by --fail-rate)", hint="Retry the request"))
        return None

    @app.after_request
    def _finish(response: Response) -> Response:
        if not request.path.startswith(IC + "/"):
            return response
        response = fail_after_processing(response)
        if backend.dedupe:  # the backend's actual behaviour, whoever configured it
            response.headers[DEDUPE_HEADER] = DEDUPE_BY_SHA256
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get(API_ROOT + "/openapi.json")
    def openapi() -> Response:
        from .openapi import openapi_document

        return jsonify(openapi_document())

    @route("/Model/", "POST", mutates=True)
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

    @route("/UploadFile/", "POST", mutates=True)
    def upload_file() -> Response:
        account = backend.authenticate(_api_key())
        model = backend.upload_images(account, _field("modelId"), _field("category"), _files())
        return _model(model)

    @route("/UploadUrls/", "POST", mutates=True)
    def upload_urls() -> Response:
        account = backend.authenticate(_api_key())
        model, failed = backend.upload_urls(account, _field("modelId"), _field("category"), _list("urls"))
        return _partial_upload(model, failed) if failed else _model(model)

    @route("/Train/", "POST", mutates=True)
    def train() -> Response:
        account = backend.authenticate(_api_key())
        return _model(backend.train(account, _field("modelId")))

    @route("/LabelFile/", "POST")
    def label_file() -> Response:
        account = backend.authenticate(_api_key())
        return _predictions(in_answer_order(backend.predict_images(account, _field("modelId"), _files())))

    @route("/LabelUrls/", "POST")
    def label_urls() -> Response:
        account = backend.authenticate(_api_key())
        results, failed = backend.predict_urls(account, _field("modelId"), _list("urls"))
        return _predictions(in_answer_order(results), 202 if failed else 200)

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
        body = {"message": message, "code": code,
                "errors": [{"reason": _HTTP_REASONS.get(code, "error"), "message": hint}]}
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


def _api_key() -> str | None:
    """The username of HTTP Basic auth (the password is ignored)."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    return auth.username or None


#: Largest field accepted as a file-less multipart part (model ids and category names are short).
_FIELD_MAX_BYTES = 4096


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        return {}
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _field(name: str) -> str | None:
    """A single value from the query string, the form, a JSON body or a file-less part, in that order."""
    value = request.values.get(name)  # reading the form may raise 413
    if value:
        return value.strip()
    value = _json_body().get(name)
    if value not in (None, ""):
        return str(value).strip()
    return _field_sent_as_part(name)


def _field_sent_as_part(name: str) -> str | None:
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


def _list(name: str) -> list[str]:
    """A repeated value (``urls=a&urls=b``) from query, form or a JSON list."""
    values = request.values.getlist(name)
    if values:
        return values
    raw = _json_body().get(name)
    if isinstance(raw, list):
        return [str(v) for v in raw]
    return [str(raw)] if raw else []


def _files() -> list[tuple[str, bytes]]:
    """Every ``file`` part as (file name, bytes), in the order sent (reading the form may raise 413)."""
    return [(part.filename or f"file{index}", part.read()) for index, part in enumerate(request.files.getlist("file"))]


# ---------------------------------------------------------------------- rendering


def _model(model: Model, status: int = 200) -> Response:
    response = jsonify(model.to_json())
    response.status_code = status
    return response


def _partial_upload(model: Model, failed: Sequence[tuple[str, str]]) -> Response:
    """202 for UploadUrls when some URLs failed: the model, plus which URLs failed and why."""
    body = {**model.to_json(), "message": "Some URLs could not be fetched", "errors": url_errors(failed)}
    response = jsonify(body)
    response.status_code = 202
    return response


def _predictions(results: list[Prediction], status: int = 200) -> Response:
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
    response = jsonify(error_body(exc))
    response.status_code = wire_form(exc)[0]
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="nanoclient"'
    return response


# ---------------------------------------------------------------------- dropped connections

#: The WSGI ``start_response`` callable, and the app it is given to.
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class DropMarkedConnections:
    """WSGI middleware for waitress: a response marked with DROP_MARKER becomes a dropped connection.

    The marked answer goes out with its status and headers but only half of its body under a
    Content-Length of the whole: waitress logs a warning and closes the socket, and the client
    sees the connection break mid-answer (``requests``: ChunkedEncodingError, "IncompleteRead")
    after the request was processed. Other responses pass through untouched.
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        marked: list[tuple[str, list[tuple[str, str]], Any]] = []

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            if not any(name.lower() == DROP_MARKER.lower() for name, _ in headers):
                return start_response(status, headers, exc_info)
            kept = [(n, v) for n, v in headers if n.lower() not in (DROP_MARKER.lower(), "content-length")]
            marked.append((status, kept, exc_info))  # sent below, once the body's length is known
            return lambda data: None

        body = self.app(environ, start)
        if not marked:
            return body
        try:
            data = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        status, headers, exc_info = marked[0]
        start_response(status, headers + [("Content-Length", str(max(len(data), 1)))], exc_info)
        return [data[: len(data) // 2]]


__all__ = ["create_app", "DropMarkedConnections", "DROP_MARKER", "IC"]
