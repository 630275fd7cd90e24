"""The local server's HTTP layer: the only module that knows about requests and responses.

The app is made from the tables of operations of every model type (``routes.py``): each becomes a
route (with and without the trailing slash) to its handler, and a path two types declare (OCR and
detection models share ``ObjectDetection/Model/...``) is served by the stored model's type
(``_dispatch``); a hook checks the API key once, before any of them runs; the OpenAPI document at
``/api/v2/openapi.json`` is drawn from the same tables.
``/healthz``, the document and the dashboard (``/``, its files under ``/dashboard/``) are open.
Every failure, expected or not, becomes the JSON error body of docs/api.md with the right status;
never an HTML page. Every response says ``Nanoclient-Server: local`` and
``X-Content-Type-Options: nosniff``, and has a Content-Security-Policy: the dashboard's own for
its files, a report's sandbox for a report, and "nothing at all" for everything else.

The kindnesses the hosted service does not promise are declared or dropped here: the
DEDUPE_HEADER on every API response while the backend deduplicates, results in input order
unless ``shuffle_results``, and faults injected before (``fail_rate``) or after
(``fail_after_rate``, operations that mutate) processing. A dropped connection cannot be made
by Flask: the app marks the response with DROP_MARKER and the transport drops it
(``DropMarkedConnections`` under waitress, ``nanoclient.testing`` in-process).
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from flask import Flask, Response, abort, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from ..errors import UNKNOWN_PATH_REASON, NanonetsError, ServerError
from . import forms
from .backend import Backend
from .config import API_ROOT, DEDUPE_BY_SHA256, DEDUPE_HEADER, SERVER_HEADER, SERVER_LOCAL, ServerConfig
from .dashboard import NOTHING_CSP, PAGE_CSP
from .dashboard import assets as dashboard_assets
from .local import LocalData
from .openapi import openapi_document
from .operations import ANONYMOUS, Call, Operation
from .routes import ROUTES
from .wire import FailedAfterProcessingError, ServiceUnavailableError, error_body, wire_form

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("nanoclient.server")

#: Extension key under which the app keeps its backend and config.
EXTENSION = "nanoclient"
#: Internal response header: "drop the connection instead of sending this answer". Never reaches
#: a client: the transport (DropMarkedConnections, nanoclient.testing) acts on it and removes it.
DROP_MARKER = "X-Nanoclient-Drop-Connection"

_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    404: UNKNOWN_PATH_REASON,  # a path that is no operation: not the API's "not_found" of a model
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(config: ServerConfig, backend: Backend | None = None) -> Flask:
    """The Flask app of the local server.

    Without ``backend`` one is opened on ``config.data_dir`` (``Backend.from_config``: sweeping
    it and resuming unfinished training); ``app.extensions['nanoclient']['backend']`` gives access to it.
    """
    if backend is None:
        backend = Backend.from_config(config)
    app = Flask("nanoclient.server", static_folder=None)
    app.request_class = forms.FormRequest
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = min(config.max_upload_bytes, 8 * 1024 * 1024)
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False  # keys in the order docs/api.md shows them
    app.url_map.strict_slashes = False  # the trailing slash is optional everywhere
    chaos = random.Random(config.fail_seed)  # which requests fail (--fail-rate, --fail-after-rate)
    # its own stream: shuffling does not move the failures
    shuffler = random.Random(config.fail_seed) if config.shuffle_results else None
    local = LocalData(backend)
    app.extensions[EXTENSION] = {"backend": backend, "config": config, "local": local}
    operations = {operation.name: operation for operation in ROUTES}
    shared: dict[tuple[str, str], list[Operation]] = {}
    for operation in ROUTES:
        shared.setdefault((operation.method, operation.rule), []).append(operation)
    for (method, rule), served in shared.items():
        view = _view(served, backend, shuffler, local)
        for path in (rule, rule + "/"):
            app.add_url_rule(path, served[0].name, view, methods=[method])
    document = openapi_document(ROUTES)

    def fail_after_processing(response: Response) -> Response:
        """With --fail-after-rate, replace a processed mutation's 2xx answer by a 500 or a dropped connection."""
        operation = operations.get(request.endpoint or "")
        if not (config.fail_after_rate and operation is not None and operation.mutates
                and 200 <= response.status_code < 300):
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
        if not _is_api(operations.get(request.endpoint or "")):
            return None  # /healthz and the OpenAPI document are never delayed or failed
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000.0)
        if config.fail_rate and chaos.random() < config.fail_rate:
            return _error(ServiceUnavailableError(
                "Service unavailable (failure injected by --fail-rate)", hint="Retry the request"))
        return None

    @app.before_request
    def _authenticate() -> None:
        operation = operations.get(request.endpoint or "")
        if operation is not None and operation.auth:  # after the faults: a refused request is delayed and failed too
            g.account = backend.authenticate(forms.api_key())

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[SERVER_HEADER] = SERVER_LOCAL
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers.setdefault("Content-Security-Policy", NOTHING_CSP)
        in_api = request.path.startswith(API_ROOT + "/") and request.endpoint != "openapi"  # unknown paths too
        if not _is_api(operations.get(request.endpoint or "")) and not in_api:
            return response
        response = fail_after_processing(response)
        if backend.dedupe:  # the backend's actual behaviour, whoever configured it
            response.headers[DEDUPE_HEADER] = DEDUPE_BY_SHA256
        return response

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    pages = dashboard_assets()

    def page_file(name: str) -> Response:
        asset = pages[name]
        response = Response(asset.data, content_type=asset.media_type)
        response.set_etag(asset.etag)
        response.headers["Cache-Control"] = "no-cache"  # revalidated each time: a new version shows at once
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["Referrer-Policy"] = "no-referrer"
        response.make_conditional(request)
        return response

    @app.get("/")
    def dashboard() -> Response:
        return page_file("index.html")

    @app.get("/dashboard/<name>")
    def dashboard_file(name: str) -> Response:
        if name not in pages or name == "index.html":
            abort(404)
        return page_file(name)

    @app.get(API_ROOT + "/openapi.json")
    def openapi() -> Response:
        return jsonify(document)

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
            404: "Check the path: the API lives under " + API_ROOT + "/",
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


def _view(served: Sequence[Operation], backend: Backend, shuffler: random.Random | None,
          local: LocalData) -> Callable[..., Response]:
    """The Flask view of a path: its operation's handler (of the model's type, where types share the path),
    given the account the authentication hook found."""

    def view(**path: str) -> Response:
        call = Call(backend, g.get("account", ANONYMOUS), path, shuffler, local)
        return _dispatch(served, call).handler(call)

    return view


def _dispatch(served: Sequence[Operation], call: Call) -> Operation:
    """The operation that serves a call: the only one, or of the type of the path's model, or (no model in the
    path) the one that claims the request, else the one that claims nothing. A model that is not there is
    left to the first operation, which answers 404."""
    if len(served) == 1:
        return served[0]
    model_id = call.path.get("model_id")
    if model_id:
        record = call.backend.store.model(call.account.id, model_id)
        return next((op for op in served if record is not None and op.model_type == record.type), served[0])
    return next((op for op in served if op.claims is not None and op.claims()),
                next((op for op in served if op.claims is None), served[0]))


def _is_api(operation: Operation | None) -> bool:
    """Whether a request is one of the hosted API's operations (faults are injected into those only)."""
    return operation is not None and not operation.local


def _error(exc: NanonetsError) -> Response:
    response = jsonify(error_body(exc))
    response.status_code = wire_form(exc)[0]
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="nanoclient"'
    return response


# ---------------------------------------------------------------------- dropped connections

class DropMarkedConnections:
    """WSGI middleware for waitress: a response marked with DROP_MARKER becomes a dropped connection.

    The marked answer goes out with its status and headers but only half of its body under a
    Content-Length of the whole: waitress logs a warning and closes the socket, and the client
    sees the connection break mid-answer (``requests``: ChunkedEncodingError, "IncompleteRead")
    after the request was processed. Other responses pass through untouched.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        marked: list[tuple[str, list[tuple[str, str]], OptExcInfo | None]] = []

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: OptExcInfo | None = None) -> Callable[[bytes], object]:
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


__all__ = ["create_app", "DropMarkedConnections", "DROP_MARKER"]
