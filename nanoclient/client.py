"""The SDK: one method per operation of the Nanonets Image Categorization API, plus batch helpers.

    from nanoclient import Client
    with Client() as client:                       # NANONETS_API_KEY, NANONETS_BASE_URL
        model = client.create_model(["Bag", "Coat"])
        report = client.upload_files(model.id, [("bag1.jpg", "Bag"), ("coat1.jpg", "Coat")])
        client.train(model.id)
        client.wait_until_trained(model.id)
        print(client.predict_file(model.id, "photo.jpg").label)

Paths and field names of API.md live here; sessions, retries and error mapping live in
``_transport``. Input that the server would refuse (missing file, not an image, empty
category list, empty model id or URL list) raises BadRequestError before anything is sent.
A Client is safe to share between threads.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ._transport import FilePart, Transport, is_loopback_host
from ._version import __version__
from ._tuning import (
    DEFAULT_PREDICT_BATCH_SIZE,
    DEFAULT_PREDICT_WORKERS,
    DEFAULT_UPLOAD_BATCH_SIZE,
    DEFAULT_UPLOAD_WORKERS,
    MAX_WORKERS,
    UPLOAD_BATCH_MAX_BYTES,
)
from .errors import (
    AuthenticationError,
    BadRequestError,
    ConnectionError,
    InvalidImageError,
    NanonetsError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    ServerError,
    TimeoutError,
    TrainingFailedError,
)
from .images import check_image_file, unique_categories
from .types import (
    STATE_FAILED,
    STATE_NAMES,
    STATE_QUEUED,
    STATE_TRAINED,
    STATE_TRAINING,
    Model,
    Prediction,
    UploadReport,
)

PathLike = Union[str, "os.PathLike[str]"]

#: The hosted API, used when neither ``base_url`` nor NANONETS_BASE_URL is given.
DEFAULT_BASE_URL = "https://app.nanonets.com/api/v2"
#: Environment variable holding the API key.
API_KEY_ENV = "NANONETS_API_KEY"
#: Environment variable holding the base URL.
BASE_URL_ENV = "NANONETS_BASE_URL"
#: Seconds a single request may take before it counts as timed out.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts after a failed request (see ``_transport`` for which failures are retried).
DEFAULT_MAX_RETRIES = 3

_API = "ImageCategorization"
_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
#: Errors after which every other file of a batch would fail the same way: the batch stops.
#: (ConnectionError comes only after every retry: the server is gone, not one request.)
_BATCH_FATAL = (AuthenticationError, NotFoundError, PaymentRequiredError, ConnectionError)


class Client:
    """A connection to the Nanonets API (hosted, or ``nanoclient serve``), holding one pooled session.

    ``api_key`` defaults to $NANONETS_API_KEY and ``base_url`` to $NANONETS_BASE_URL, then
    to the hosted API. ``timeout`` applies to each request, ``max_retries`` is the number of
    extra attempts after a retryable failure. Use it as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            raise AuthenticationError(
                "No API key: set NANONETS_API_KEY or pass api_key",
                hint="Get a key at app.nanonets.com, or use any key with a local `nanoclient serve`",
            )
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
        _check_base_url(url)
        #: The API root, e.g. ``https://app.nanonets.com/api/v2`` (no trailing slash).
        self.base_url = url
        self._key_hint = _mask(key)
        self._transport = Transport(
            url, key, timeout=timeout, max_retries=max_retries, pool_size=MAX_WORKERS,
            user_agent=f"nanoclient/{__version__}",
        )
        # Injectable clock for wait_until_trained, so tests need not wait.
        self._sleep: Callable[[float], Any] = time.sleep
        self._monotonic: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key={self._key_hint!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (the client can still be used; it reconnects)."""
        self._transport.close()

    # ------------------------------------------------------------------ models

    def create_model(self, categories: Sequence[str]) -> Model:
        """Create a model with these categories (non-empty, no duplicates)."""
        names = unique_categories(categories)
        data = self._request("POST", "Model/", form=[("categories", name) for name in names], idempotent=False)
        return _model(data)

    def get_model(self, model_id: str) -> Model:
        """The model's current state, image counts and accuracy."""
        model_id = _required(model_id, "model id")
        return _model(self._request("GET", "Model/", params=[("modelId", model_id)]))

    def list_models(self) -> List[Model]:
        """Every model of this API key."""
        data = self._request("GET", "Models/")
        if not isinstance(data, list):
            raise _unexpected("a list of models", data)
        return [_model(item) for item in data]

    def train(self, model_id: str) -> Model:
        """Start training (returns at once, usually in state 3 'queued' or 4 'training')."""
        model_id = _required(model_id, "model id")
        return _model(self._request("POST", "Train/", params=[("modelId", model_id)]))

    def wait_until_trained(
        self,
        model_id: str,
        *,
        timeout: float = 3600,
        poll_interval: float = 5,
        on_update: Optional[Callable[[Model], Any]] = None,
    ) -> Model:
        """Poll the model until training ends; return it trained (state 5).

        ``on_update(model)`` is called on the first observation and on every change of state.
        Raises TrainingFailedError (``.model`` says why) if training fails, TimeoutError after
        ``timeout`` seconds, and BadRequestError if the model is not queued or training to
        begin with. A model that left training but had images added meanwhile (state 1 or 2,
        still serving the new training) is returned as it is.
        """
        model_id = _required(model_id, "model id")
        if poll_interval <= 0:
            raise BadRequestError("poll_interval must be positive")
        deadline = self._monotonic() + timeout
        last_state: Optional[int] = None
        seen_training = False
        while True:
            model = self.get_model(model_id)
            if model.state != last_state:
                last_state = model.state
                if on_update is not None:
                    on_update(model)
            if model.state == STATE_TRAINED:
                return model
            if model.state == STATE_FAILED:
                raise TrainingFailedError(
                    f"Training of model {model_id} failed" + (f": {model.status}" if model.status else ""),
                    model=model,
                )
            if model.state in (STATE_QUEUED, STATE_TRAINING):
                seen_training = True
            elif seen_training:
                return model
            else:
                raise BadRequestError(
                    f"Model {model_id} is not training (state {model.state}: {STATE_NAMES.get(model.state, '?')})",
                    hint="Call train() first",
                )
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"Model {model_id} was still {model.state_name} after {timeout:g} s",
                    hint="Wait longer, or check again later with get_model()",
                )
            self._sleep(min(poll_interval, remaining))

    # ------------------------------------------------------------------ uploads

    def upload_file(self, model_id: str, path: PathLike, category: str) -> Model:
        """Add one labelled image to the model; return the model with updated counts."""
        model_id = _required(model_id, "model id")
        category = _required(category, "category")
        part = FilePart("file", path, Path(path).name, _checked_content_type(path))
        return self._upload_parts(model_id, category, [part])

    def upload_files(
        self,
        model_id: str,
        items: Iterable[Tuple[PathLike, str]],
        *,
        workers: int = DEFAULT_UPLOAD_WORKERS,
        batch_size: int = DEFAULT_UPLOAD_BATCH_SIZE,
        progress: Optional[Callable[[int], Any]] = None,
        on_uploaded: Optional[Callable[[PathLike, str, Model], Any]] = None,
    ) -> UploadReport:
        """Upload many (path, category) pairs: up to ``batch_size`` files of one category per
        request (and at most ``UPLOAD_BATCH_MAX_BYTES``), ``workers`` requests at a time.

        ``items`` is consumed lazily and each file is opened only when its request is sent.
        Files that are not valid images land in ``report.skipped`` with the reason, files whose
        request failed after retries in ``report.failed`` with the error. A batch the server
        refuses as invalid or too large is sent again one file per request, so only the files
        at fault fail. ``report.model`` is the most complete model the server returned.

        ``progress(1)`` is called once per finished file (uploaded, skipped or failed) and
        ``on_uploaded(path, category, model)`` once per uploaded file; both are called in the
        calling thread, never concurrently. A wrong key, an unknown model, an exhausted quota
        or a server that cannot be reached even after retries stops the upload: requests in
        flight finish (and are reported), the rest are not sent, and the error is raised.
        """
        model_id = _required(model_id, "model id")
        workers = _worker_count(workers)
        if batch_size < 1:
            raise BadRequestError("batch_size must be at least 1")
        report = UploadReport()
        stop = threading.Event()
        Outcome = Tuple[PathLike, str, Any]  # (path, "uploaded" | "skipped" | "failed" | "fatal", model or why)

        def send(category: str, paths: List[PathLike]) -> List[Outcome]:
            """Upload one batch (a worker thread); every file gets an outcome unless the upload stopped."""
            if stop.is_set():
                return []
            outcomes: List[Outcome] = []
            parts = []
            for path in paths:
                try:
                    parts.append(FilePart("file", path, Path(path).name, _checked_content_type(path)))
                except BadRequestError as exc:
                    outcomes.append((path, "skipped", exc.message))
            batches = [parts] if parts else []
            while batches:
                batch = batches.pop(0)
                try:
                    model = self._upload_parts(model_id, category, batch)
                except _BATCH_FATAL as exc:
                    return outcomes + [(batch[0].path, "fatal", exc)]
                except (InvalidImageError, PayloadTooLargeError) as exc:
                    if len(batch) == 1:
                        outcomes.append((batch[0].path, "failed", exc))
                    else:  # find the files at fault: the others are stored
                        batches = [[part] for part in batch] + batches
                except NanonetsError as exc:
                    outcomes += [(part.path, "failed", exc) for part in batch]
                else:
                    outcomes += [(part.path, "uploaded", model) for part in batch]
            return outcomes

        pending: Dict[Future, str] = {}
        fatal: List[BaseException] = []

        def settle(future: Future) -> None:
            """Record one finished batch and call the callbacks (in the calling thread)."""
            category = pending.pop(future)
            if future.cancelled():
                return
            try:
                outcomes = future.result()
            except Exception as exc:  # a bug or an unexpected failure: stop, do not hide it
                outcomes = [(None, "fatal", exc)]
            for path, kind, value in outcomes:
                if kind == "fatal":
                    fatal.append(value)
                    stop.set()
                    continue
                if kind == "skipped":
                    report.skipped.append((str(path), value))
                elif kind == "failed":
                    report.failed.append((str(path), value))
                else:
                    report.uploaded.append(str(path))
                    if report.model is None or value.image_count >= report.model.image_count:
                        report.model = value
                    if on_uploaded is not None:
                        on_uploaded(path, category, value)
                if progress is not None:
                    progress(1)

        finished: "queue.SimpleQueue[Future]" = queue.SimpleQueue()  # O(1) per batch, unlike wait()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nanoclient-upload")

        def submit(category: str, paths: List[PathLike]) -> None:
            future = pool.submit(send, category, paths)
            pending[future] = category
            future.add_done_callback(finished.put)
            if len(pending) >= 2 * workers:  # bounded look-ahead: items are never all materialised
                settle(finished.get())

        open_batches: Dict[str, Tuple[List[PathLike], int]] = {}  # category -> (paths, bytes)
        try:
            for path, raw_category in items:
                if stop.is_set():
                    break
                category = str(raw_category or "").strip()
                if not category:
                    report.skipped.append((str(path), "No category"))
                    if progress is not None:
                        progress(1)
                    continue
                size = _file_size(path)
                paths, total = open_batches.pop(category, ([], 0))
                if paths and total + size > UPLOAD_BATCH_MAX_BYTES:
                    submit(category, paths)
                    paths, total = [], 0
                paths.append(path)
                if len(paths) >= batch_size:
                    submit(category, paths)
                else:
                    open_batches[category] = (paths, total + size)
            for category, (paths, _) in open_batches.items():
                if stop.is_set():
                    break
                submit(category, paths)
            while pending:
                settle(finished.get())
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        if fatal:
            raise fatal[0]
        return report

    def upload_urls(self, model_id: str, urls: Sequence[str], category: str) -> Model:
        """Have the server fetch image URLs into a category; return the updated model.

        If only some URLs could be fetched the server keeps those (HTTP 202); if none could,
        BadRequestError lists why for each.
        """
        model_id = _required(model_id, "model id")
        category = _required(category, "category")
        clean = _urls(urls)
        form = [("modelId", model_id), ("category", category)] + [("urls", url) for url in clean]
        return _model(self._request("POST", "UploadUrls/", form=form))

    def _upload_parts(self, model_id: str, category: str, parts: Sequence[FilePart]) -> Model:
        form = [("modelId", model_id), ("category", category)]
        return _model(self._request("POST", "UploadFile/", form=form, files=parts))

    # ------------------------------------------------------------------ predictions

    def predict_file(self, model_id: str, path: PathLike) -> Prediction:
        """The trained model's prediction for one image file."""
        model_id = _required(model_id, "model id")
        part = FilePart("file", path, Path(path).name, _checked_content_type(path))
        return self._predict_parts(model_id, [part])[0]

    def predict_files(
        self,
        model_id: str,
        paths: Iterable[PathLike],
        *,
        batch_size: int = DEFAULT_PREDICT_BATCH_SIZE,
        workers: int = DEFAULT_PREDICT_WORKERS,
        progress: Optional[Callable[[int], Any]] = None,
    ) -> List[Prediction]:
        """Predictions for many image files, in input order.

        Every file is checked first (BadRequestError before anything is sent). Files go
        ``batch_size`` per request, ``workers`` requests at a time; ``progress(n)`` is called
        in the calling thread with the size of each finished batch. Any failed batch raises.
        """
        model_id = _required(model_id, "model id")
        if batch_size < 1:
            raise BadRequestError("batch_size must be at least 1")
        workers = _worker_count(workers)
        parts = [FilePart("file", p, Path(p).name, _checked_content_type(p)) for p in paths]
        batches = [parts[i:i + batch_size] for i in range(0, len(parts), batch_size)]
        if not batches:
            return []
        if len(batches) == 1 or workers == 1:
            results: List[Prediction] = []
            for batch in batches:
                results.extend(self._predict_parts(model_id, batch))
                if progress is not None:
                    progress(len(batch))
            return results
        answers: List[Optional[List[Prediction]]] = [None] * len(batches)
        pool = ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="nanoclient-predict")
        try:
            futures = {pool.submit(self._predict_parts, model_id, batch): index for index, batch in enumerate(batches)}
            waiting = set(futures)
            while waiting:
                done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures[future]
                    answers[index] = future.result()  # a failed batch raises here; the rest are cancelled
                    if progress is not None:
                        progress(len(batches[index]))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [prediction for answer in answers for prediction in answer or []]

    def predict_urls(self, model_id: str, urls: Sequence[str]) -> List[Prediction]:
        """Predictions for image URLs the server fetches, in input order.

        A URL that could not be fetched gives a Prediction with an empty ``label`` and a
        ``message`` saying why (the server answers 202 then).
        """
        model_id = _required(model_id, "model id")
        clean = _urls(urls)
        form = [("modelId", model_id)] + [("urls", url) for url in clean]
        return _predictions(self._request("POST", "LabelUrls/", form=form), len(clean))

    def _predict_parts(self, model_id: str, parts: Sequence[FilePart]) -> List[Prediction]:
        data = self._request("POST", "LabelFile/", form=[("modelId", model_id)], files=parts)
        return _predictions(data, len(parts))

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._transport.request(method, f"{_API}/{path}", **kwargs)


# ---------------------------------------------------------------------- helpers


def _check_base_url(url: str) -> None:
    """Refuse URLs that are not http(s), and plain http to anything but this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Echoed only when it looks like a URL: a key passed as the base URL (arguments swapped)
        # must not end up in a traceback or a log.
        shown = f" {url!r}" if "://" in url and "@" not in url else ""
        raise BadRequestError(
            f"Invalid base URL{shown}",
            hint="Use e.g. https://app.nanonets.com/api/v2 or http://127.0.0.1:8765/api/v2",
        )
    if parts.username or parts.password:
        raise BadRequestError("The base URL must not contain credentials", hint="Pass the key as api_key")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise BadRequestError(
            f"Refusing to send the API key over plain http:// to {parts.hostname}",
            hint="Use https://, or http:// only to this machine (127.0.0.1, ::1, localhost)",
        )


def _mask(key: str) -> str:
    """A key as shown in a repr: the last 4 characters at most, and only of a long key."""
    return "****" + key[-4:] if len(key) >= 16 else "***"


def _required(value: Any, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise BadRequestError(f"Missing {what}", hint=f"Pass a non-empty {what}")
    return text


def _urls(urls: Sequence[str]) -> List[str]:
    if isinstance(urls, str):
        urls = [urls]
    clean = [str(u).strip() for u in urls or [] if str(u).strip()]
    if not clean:
        raise BadRequestError("No URLs given", hint="Pass one or more image URLs")
    return clean


def _checked_content_type(path: PathLike) -> str:
    """The MIME type of an image file, after checking that it is a PNG or JPEG (raises otherwise)."""
    fmt, _, _ = check_image_file(path)
    return _CONTENT_TYPES.get(fmt, "application/octet-stream")


def _file_size(path: PathLike) -> int:
    """The size of a file in bytes, 0 if it cannot be read (the upload then names the problem)."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def _worker_count(workers: int) -> int:
    if workers < 1:
        raise BadRequestError("workers must be at least 1")
    return min(int(workers), MAX_WORKERS)


def _model(data: Any) -> Model:
    if not isinstance(data, dict) or not (data.get("model_id") or data.get("id")):
        raise _unexpected("a model object", data)
    try:
        return Model.from_json(data)
    except (TypeError, ValueError, KeyError, AttributeError):  # e.g. "state": "trained"
        raise _unexpected("a model object", data) from None


def _predictions(data: Any, expected: int) -> List[Prediction]:
    results = data.get("result") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise _unexpected("a prediction response", data)
    if len(results) != expected:
        raise ServerError(f"Expected {expected} predictions, the server returned {len(results)}")
    try:
        return [Prediction.from_json(item) for item in results]
    except (TypeError, ValueError, KeyError, AttributeError):  # e.g. an entry without a probability
        raise _unexpected("a prediction response", data) from None


def _unexpected(what: str, data: Any) -> ServerError:
    text = " ".join(repr(data).split())
    return ServerError(f"Expected {what} from the server, got: {text[:100]}")


__all__ = [
    "Client",
    "DEFAULT_BASE_URL",
    "DEFAULT_UPLOAD_WORKERS",
    "DEFAULT_PREDICT_BATCH_SIZE",
    "DEFAULT_PREDICT_WORKERS",
    "MAX_WORKERS",
]
