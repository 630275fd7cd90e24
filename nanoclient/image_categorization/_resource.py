"""The Image Categorization API: one method per operation, plus batch helpers (``ImageCategorization``).

``Client`` is an ``ImageCategorization`` (its methods are the client's) and ``client.image_categorization``
names it, beside the resources of the other model types. Paths and field names of docs/api.md live here;
sessions, retries and error mapping live in ``_transport``. Input that the server would refuse (missing
file, not an image, empty category list, empty model id or URL list) raises ValueError before anything
is sent, a file that is not a valid image InvalidImageError, a missing file FileNotFoundError.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import quote, urlsplit

from .._journal import UploadJournal
from .._predict import predict_outcomes
from .._training import wait_until_trained
from .._transport import FilePart, Transport, may_have_been_processed
from .._tuning import (
    BATCH_MAX_BYTES,
    DEFAULT_PREDICT_BATCH_SIZE,
    DEFAULT_PREDICT_WORKERS,
    DEFAULT_UPLOAD_BATCH_SIZE,
    DEFAULT_UPLOAD_WORKERS,
    MAX_WORKERS,
    UPLOAD_IN_MEMORY_BYTES,
    UPLOAD_LOOKAHEAD_FILES,
)
from .._upload import Resend, UploadRun, UploadSettings, declares_dedupe, file_size
from .._wire import API_ROOT, IMAGE_CATEGORIZATION, LOCAL_ROOT, MEDIA_TYPES, SERVER_HEADER, SERVER_LOCAL
from ..errors import (
    BadRequestError,
    InvalidImageError,
    NanonetsError,
    ServerError,
)
from ..images import check_image_file, read_image_file, sniff_format, unique_categories
from ..types import FileError, Model, PathLike, Prediction, UploadReport

_API = IMAGE_CATEGORIZATION
#: The type of these models, as the local server names it (the hosted API's answers name none).
MODEL_TYPE = "classification"
#: The response header by which a local ``nanoclient serve`` says what it is, and its value.
LOCAL_SERVER_HEADER, LOCAL_SERVER = SERVER_HEADER, SERVER_LOCAL
_CONTENT_TYPES = MEDIA_TYPES


class ImageCategorization:
    """The operations of Image Categorization models, over a client's pooled connection (``Client``).

    What it needs of the client: ``base_url``, ``_transport``, and the clock ``_sleep`` / ``_monotonic``
    that ``wait_until_trained`` uses (injectable, so tests need not wait).
    """

    base_url: str
    _transport: Transport
    _sleep: Callable[[float], object]
    _monotonic: Callable[[], float]

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

    def list_models(self) -> list[Model]:
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
        on_update: Callable[[Model], object] | None = None,
    ) -> Model:
        """Poll the model until training ends; return it trained (state 5).

        Any state but 5 (trained) and -1 (failed) counts as "not yet": a service may report
        other states than 3 and 4 for a while after ``train()``. ``on_update(model)`` is called
        on the first observation and whenever the state or the status text changes. Raises
        TrainingFailedError (``.model`` says why) if training fails, and TrainingTimeoutError after
        ``timeout`` seconds.
        """
        return wait_until_trained(self.get_model, _required(model_id, "model id"), timeout=timeout,
                                  poll_interval=poll_interval, on_update=on_update, sleep=self._sleep,
                                  monotonic=self._monotonic)

    # ------------------------------------------------------------------ uploads

    def upload_file(self, model_id: str, path: PathLike, category: str) -> Model:
        """Add one labelled image to the model; return the model with updated counts.

        Stored exactly once, as ``upload_files`` does it (one more request reads the model's
        counts first). Raises the error of a refused upload, or ServerError when the server's
        answer leaves unknown whether it stored the image.
        """
        model_id = _required(model_id, "model id")
        category = _required(category, "category")
        _checked_content_type(path)
        report = self.upload_files(model_id, [(path, category)], workers=1, batch_size=1)
        if report.failed:
            raise report.failed[0][1]
        if report.skipped:  # a file that changed since it was checked
            raise InvalidImageError(report.skipped[0][1])
        if report.unsettled or report.model is None:
            why = report.unsettled[0][1] if report.unsettled else "no answer"
            raise ServerError(f"Cannot tell whether {path} was stored: {why}",
                              hint="Check the model's counts before uploading it again")
        return report.model

    def upload_files(
        self,
        model_id: str,
        items: Iterable[tuple[PathLike, str]],
        *,
        workers: int = DEFAULT_UPLOAD_WORKERS,
        batch_size: int = DEFAULT_UPLOAD_BATCH_SIZE,
        progress: Callable[[int], object] | None = None,
        on_uploaded: Callable[[PathLike, str, Model], object] | None = None,
        journal: UploadJournal | PathLike | None = None,
        resend: Resend = "missing",
        digest: Callable[[PathLike], str] | None = None,
    ) -> UploadReport:
        """Upload many (path, category) pairs, each file stored exactly once.

        Up to ``batch_size`` files of one category go per request (and at most
        ``BATCH_MAX_BYTES``), ``workers`` requests at a time. ``items`` is consumed
        lazily (a bounded look-ahead) and each file is opened only when its request is sent.

        The model is read first. Against a server that declares that it counts identical
        bytes once (``nanoclient serve``), failed requests are retried and batches run in
        parallel. Against any other, the hosted service included, a file is never sent again
        unless the server surely did not store it: one batch per category is in flight, every
        answer is checked against the category's count, and after an ambiguous failure the
        count says whether the batch landed (see ``nanoclient._upload``). A server that keeps
        only the first file of a request is detected by its first answer; the rest then goes
        one file per request.

        The report has each file by its path: ``uploaded``, ``skipped`` (not sent: not an image,
        no category, or one the model lacks), ``failed`` (with the error; not stored) and
        ``unsettled`` (the client could not find out). A batch refused as invalid or too large
        is sent again one file per request, so only the files at fault fail. ``report.model`` is
        the most complete model the server returned.

        ``progress(1)`` is called once per finished file and ``on_uploaded(path, category,
        model)`` once per uploaded file, both in the calling thread. A wrong key, an unknown
        model, an exhausted quota or a server that cannot be reached even after retries stops
        the upload: requests in flight finish (and are reported), the rest are not sent, and
        the error is raised.

        ``journal`` (an ``UploadJournal``, or the path of its file) makes the upload exactly-once
        across restarts of the program, however it stopped: each request is recorded before it
        goes, the requests an earlier run left open are settled first from the model's counts,
        files the journal records as stored are not sent again (``report.already``), and files it
        records as unsettled are reported unsettled and not sent. ``resend="unsettled"`` sends those
        too, ``resend="all"`` every file. Only one upload at a time may use a journal: another one
        raises UploadInProgressError (or waits, if the journal was made with ``wait=True``).
        ``digest(path)`` gives a file's SHA-256 in hex if the caller has it (default: read the file).
        """
        model_id = _required(model_id, "model id")
        if resend not in ("missing", "unsettled", "all"):
            raise ValueError("resend must be 'missing', 'unsettled' or 'all'")
        workers = _worker_count(workers)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        iterator = iter(items)
        first = next(iterator, None)
        if first is None:
            return UploadReport()
        if journal is None:
            return self._upload_run(model_id, itertools.chain([first], iterator), workers, batch_size, progress,
                                    on_uploaded, None, resend, digest)
        if not isinstance(journal, UploadJournal):
            journal = UploadJournal(journal)
        journal.bind(self.base_url, model_id)
        try:
            with journal.locked():
                return self._upload_run(model_id, itertools.chain([first], iterator), workers, batch_size,
                                        progress, on_uploaded, journal, resend, digest)
        finally:
            journal.close()

    def _upload_run(self, model_id: str, items: Iterable[tuple[PathLike, str]], workers: int, batch_size: int,
                    progress: Callable[[int], object] | None,
                    on_uploaded: Callable[[PathLike, str, Model], object] | None, journal: UploadJournal | None,
                    resend: Resend, digest: Callable[[PathLike], str] | None) -> UploadReport:
        """One run of ``upload_files``: the model read, what the journal left open settled, the files sent."""
        model, dedupe = self._model_and_dedupe(model_id)
        if journal is not None:
            journal.settle({c.name: c.count for c in model.categories}, by_count=not dedupe)
        settings = UploadSettings(
            workers=workers, batch_size=batch_size, max_batch_bytes=BATCH_MAX_BYTES,
            lookahead=max(UPLOAD_LOOKAHEAD_FILES, 2 * workers * batch_size),
            resends=self._transport.max_retries, dedupe=dedupe,
        )
        run = UploadRun(
            settings, model,
            send=lambda category, parts, idempotent: self._upload_parts(model_id, category, parts, idempotent),
            read_model=lambda: self.get_model(model_id),
            make_part=_upload_part, size_of=file_size, progress=progress, on_uploaded=on_uploaded,
            journal=journal, digest=digest, resend=resend,
        )
        return run.run(items)

    def upload_urls(self, model_id: str, urls: Sequence[str], category: str) -> UploadReport:
        """Have the server fetch image URLs into a category; report each URL by what became of it.

        The model is read first, so that the answer can be checked against its counts. A 202
        (only some URLs could be fetched) keeps what succeeded: URLs the server names as failed
        are in ``failed`` with the reason, the others in ``uploaded``; when the server does not
        say which failed, the count decides, or the URLs are ``unsettled``. If none could be
        fetched the server answers 400: BadRequestError lists why for each. Against a server
        that does not declare deduplication the request is resent only when it surely was not
        processed, or when the count shows that nothing landed.
        """
        model_id = _required(model_id, "model id")
        category = _required(category, "category")
        clean = list(dict.fromkeys(_urls(urls)))  # the same URL twice would be stored twice
        before, dedupe = self._model_and_dedupe(model_id)
        form = [("modelId", model_id), ("category", category)] + [("urls", url) for url in clean]
        tries = 0
        while True:
            try:
                reply = self._transport.send("POST", f"{_API}/UploadUrls/", form=form, idempotent=dedupe)
                break
            except NanonetsError as exc:
                if dedupe or not may_have_been_processed(exc):
                    raise
                checked = self.get_model(model_id)
                grew = _count(checked, category) - _count(before, category)
                if grew == 0 and tries < self._transport.max_retries:
                    tries += 1
                    continue
                report = UploadReport(model=checked)
                if grew == len(clean):
                    report.uploaded = clean
                else:
                    why = f"the request failed ({exc.message}) and the count grew by {grew} of {len(clean)}"
                    report.unsettled = [(url, why) for url in clean]
                return report
        return _url_report(reply.data, reply.status, clean, category, _count(before, category))

    def _model_and_dedupe(self, model_id: str) -> tuple[Model, bool]:
        """The model, and whether the server declared that it counts identical bytes once."""
        reply = self._transport.send("GET", f"{_API}/Model/", params=[("modelId", model_id)])
        return _model(reply.data), declares_dedupe(reply.headers)

    def _upload_parts(self, model_id: str, category: str, parts: Sequence[FilePart], idempotent: bool = True) -> Model:
        fields = [("modelId", model_id), ("category", category)]
        return _model(self._request("POST", "UploadFile/", files=parts, idempotent=idempotent,
                                    **_fields_for(fields, len(parts))))

    # ------------------------------------------------------------------ predictions

    def predict_file(self, model_id: str, path: PathLike) -> Prediction:
        """The trained model's prediction for one image file."""
        model_id = _required(model_id, "model id")
        _checked_content_type(path)
        return self._predict_paths(model_id, [path])[0]

    @overload
    def predict_files(self, model_id: str, paths: Iterable[PathLike], *, batch_size: int = ...,
                      workers: int = ..., progress: Callable[[int], object] | None = ...,
                      errors: Literal["raise"] = ...) -> list[Prediction]: ...

    @overload
    def predict_files(self, model_id: str, paths: Iterable[PathLike], *, batch_size: int = ...,
                      workers: int = ..., progress: Callable[[int], object] | None = ...,
                      errors: Literal["return"]) -> list[Prediction | FileError]: ...

    def predict_files(
        self,
        model_id: str,
        paths: Iterable[PathLike],
        *,
        batch_size: int = DEFAULT_PREDICT_BATCH_SIZE,
        workers: int = DEFAULT_PREDICT_WORKERS,
        progress: Callable[[int], object] | None = None,
        errors: Literal["raise", "return"] = "raise",
    ) -> list[Prediction] | list[Prediction | FileError]:
        """Predictions for many image files, in input order; each ``Prediction.file`` is the path given.

        Files go ``batch_size`` per request (and at most ``BATCH_MAX_BYTES``), ``workers``
        requests at a time; ``progress(n)`` is called in the calling thread as ``n`` more files
        are done. Answers are matched to files by name, never by position (the service promises
        no order).

        With ``errors="raise"`` every file is checked first (InvalidImageError or an OSError
        before anything is sent) and any failure raises. With ``errors="return"`` each file that
        cannot be predicted gets a ``FileError`` in its place, with its path and why, and the
        others are predicted all the same (a batch refused for one bad file is sent again file by
        file); only an error every file would get (a refused key, an unknown model, a server
        that cannot be reached) raises. For runs too long to hold in memory, ``predict_iter``.
        """
        model_id = _required(model_id, "model id")
        if errors not in ("raise", "return"):
            raise ValueError("errors must be 'raise' or 'return'")
        listed = list(paths)
        if errors == "raise":
            for path in listed:
                _checked_content_type(path)
        results: list[Prediction | FileError | None] = [None] * len(listed)
        for index, outcome in self._predict_outcomes(model_id, listed, batch_size, workers, check=errors == "return"):
            if isinstance(outcome, FileError) and errors == "raise":
                raise outcome.error
            results[index] = outcome
            if progress is not None:
                progress(1)
        return [outcome for outcome in results if outcome is not None]

    def predict_iter(
        self,
        model_id: str,
        paths: Iterable[PathLike],
        *,
        batch_size: int = DEFAULT_PREDICT_BATCH_SIZE,
        workers: int = DEFAULT_PREDICT_WORKERS,
    ) -> Iterator[Prediction | FileError]:
        """Each file's outcome as soon as its batch is answered (not in input order): its
        ``Prediction``, or a ``FileError`` saying why it could not be predicted.

        ``paths`` is read lazily and nothing is kept once yielded, so memory stays flat however
        many files there are. Failures are as with ``predict_files(errors="return")``; breaking
        out of the loop cancels the batches not yet sent.
        """
        model_id = _required(model_id, "model id")
        for _, outcome in self._predict_outcomes(model_id, paths, batch_size, workers, check=True):
            yield outcome

    def _predict_outcomes(self, model_id: str, paths: Iterable[PathLike], batch_size: int, workers: int, *,
                          check: bool) -> Iterator[tuple[int, Prediction | FileError]]:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        return predict_outcomes(lambda batch: self._predict_paths(model_id, batch), paths, batch_size=batch_size,
                                max_batch_bytes=BATCH_MAX_BYTES, workers=_worker_count(workers), check=check)

    def predict_urls(self, model_id: str, urls: Sequence[str]) -> list[Prediction]:
        """Predictions for image URLs the server fetches, in input order, matched by URL.

        A URL that could not be fetched gives a Prediction with an empty ``label`` and a
        ``message`` saying why (the server answers 202 then); so does a URL that a 202 leaves
        out. On a 200, an answer that does not match the URLs sent raises ServerError.
        """
        model_id = _required(model_id, "model id")
        clean = _urls(urls)
        unique = list(dict.fromkeys(clean))
        form = [("modelId", model_id)] + [("urls", url) for url in unique]
        reply = self._transport.send("POST", f"{_API}/LabelUrls/", form=form)
        by_url = dict(zip(unique, _match_predictions(reply.data, unique, partial=reply.status == 202), strict=True))
        return [by_url[url] for url in clean]

    def _predict_paths(self, model_id: str, paths: Sequence[PathLike]) -> list[Prediction]:
        """One LabelFile request; files are sent under distinct names (``0.png``, ``1.jpg``, ...)
        so that each answer can be matched to its file, and come back named by their path."""
        names = [f"{index}{Path(path).suffix.lower()}" for index, path in enumerate(paths)]
        parts = [FilePart("file", path, name, _content_type(path)) for path, name in zip(paths, names, strict=True)]
        fields = _fields_for([("modelId", model_id)], len(parts))
        data = self._request("POST", "LabelFile/", files=parts, **fields)
        return [_renamed(p, str(path)) for p, path in zip(_match_predictions(data, names), paths, strict=True)]

    # ------------------------------------------------------------------ the local server's own extension

    def local_put_report(self, model_id: str, path: PathLike) -> bool:
        """Store an evaluation report (the HTML of ``nanoclient evaluate --report``) on a local
        ``nanoclient serve``, whose dashboard then links to it; True if it was stored.

        Local only: the hosted API has no such operation, so nothing is sent to it. The model is
        read first, and the report goes (``PUT /local/v1/models/ID/report``, beside the base URL's
        ``/api/v2``) only when that answer says ``Nanoclient-Server: local``; without it (the
        hosted service, a proxy that strips the header) this returns False.
        """
        model_id = _required(model_id, "model id")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No such file: {os.fspath(path)}")
        reply = self._transport.send("GET", f"{_API}/Model/", params=[("modelId", model_id)])
        root = _local_root(self.base_url)
        if root is None or reply.headers.get(LOCAL_SERVER_HEADER, "").strip().lower() != LOCAL_SERVER:
            return False
        part = FilePart("report", path, "report.html", "text/html")
        self._transport.rebased(root).request("PUT", f"models/{quote(model_id, safe='')}/report", files=[part])
        return True

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._transport.request(method, f"{_API}/{path}", **kwargs)


# ---------------------------------------------------------------------- helpers


def _local_root(base_url: str) -> str | None:
    """The local extension's root beside a base URL ending in /api/v2, else None."""
    if not urlsplit(base_url).path.rstrip("/").endswith(API_ROOT):
        return None
    return base_url.rstrip("/")[: -len(API_ROOT)] + LOCAL_ROOT


def _required(value: Any, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"Missing {what}: pass a non-empty {what}")
    return text


def _urls(urls: Sequence[str]) -> list[str]:
    if isinstance(urls, str):
        urls = [urls]
    clean = [str(u).strip() for u in urls or [] if str(u).strip()]
    if not clean:
        raise ValueError("No URLs given: pass one or more image URLs")
    return clean


def _checked_content_type(path: PathLike) -> str:
    """The MIME type of an image file, after checking that it is a PNG or JPEG (raises otherwise)."""
    fmt, _, _ = check_image_file(path)
    return _CONTENT_TYPES.get(fmt, "application/octet-stream")


def _content_type(path: PathLike) -> str:
    """The MIME type of a file already checked, from its first bytes."""
    try:
        with open(path, "rb") as handle:
            fmt = sniff_format(handle.read(8))
    except OSError:
        fmt = None
    return _CONTENT_TYPES.get(fmt or "", "application/octet-stream")


def _upload_part(path: PathLike) -> FilePart:
    """The part for one file to upload, under its base name (InvalidImageError or OSError for a bad file);
    a small file's bytes are read once, checked and kept for sending."""
    fmt, data = read_image_file(path, keep_bytes=UPLOAD_IN_MEMORY_BYTES)
    return FilePart("file", path, os.path.basename(os.fspath(path)),
                    _CONTENT_TYPES.get(fmt, "application/octet-stream"), data)


def _fields_for(fields: Sequence[tuple[str, str]], files: int) -> dict[str, Any]:
    """Where a multipart request's fields go: form fields for one file (as the API reference and
    tutorials send them), the query string for several (as the official wrapper batches)."""
    return {"params": list(fields)} if files > 1 else {"form": list(fields)}


def _worker_count(workers: int) -> int:
    if workers < 1:
        raise ValueError("workers must be at least 1")
    return min(int(workers), MAX_WORKERS)


def _model(data: Any) -> Model:
    if not isinstance(data, dict) or not (data.get("model_id") or data.get("id")):
        raise _unexpected("a model object", data)
    try:
        return Model.from_json({**data, "model_type": data.get("model_type") or MODEL_TYPE})
    except (TypeError, ValueError, KeyError, AttributeError):  # e.g. "state": "trained"
        raise _unexpected("a model object", data) from None


def _count(model: Model, category: str) -> int:
    """The model's image count for one category (0 when it has no such category)."""
    return next((c.count for c in model.categories if c.name == category), 0)


def _url_report(data: Any, status: int, urls: list[str], category: str, before: int) -> UploadReport:
    """What became of each URL of an UploadUrls answer (200, or 202 when only some were fetched)."""
    report = UploadReport()
    try:
        report.model = _model(data)
    except ServerError:
        if status == 200:
            raise
    if status != 202:
        report.uploaded = list(urls)
        return report
    reasons: dict[str, str] = {}
    details = data.get("errors") if isinstance(data, dict) else None
    for item in details if isinstance(details, list) else []:
        if isinstance(item, dict) and str(item.get("url") or "") in urls:
            reasons[str(item["url"])] = str(item.get("message") or "could not be fetched")
    grew = None if report.model is None else _count(report.model, category) - before
    if reasons:
        report.failed = [(url, BadRequestError(why)) for url, why in reasons.items()]
        report.uploaded = [url for url in urls if url not in reasons]
    elif grew == len(urls):
        report.uploaded = list(urls)
    else:
        shown = "an unknown number" if grew is None else str(grew)
        why = f"the server stored only some URLs (202), did not say which, and the count grew by {shown}"
        report.unsettled = [(url, why) for url in urls]
    return report


def _match_predictions(data: Any, names: Sequence[str], *, partial: bool = False) -> list[Prediction]:
    """The entries of a prediction response, one per name sent, matched by their ``file``.

    Position is used only when no entry carries a name. An entry that matches no name, a name
    answered twice or a count that differs is a ServerError: a file never gets another's label.
    With ``partial`` (a 202), a name without an entry gets an empty prediction instead.
    """
    results = data.get("result") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise _unexpected("a prediction response", data)
    try:
        entries = [Prediction.from_json(item) for item in results]
    except (TypeError, ValueError, KeyError, AttributeError):  # e.g. an entry without a probability
        raise _unexpected("a prediction response", data) from None
    if not partial and len(entries) != len(names):
        raise ServerError(f"Expected {len(names)} predictions, the server returned {len(entries)}")
    if entries and not any(entry.file for entry in entries):
        if len(entries) != len(names):
            raise ServerError(f"Expected {len(names)} predictions, the server returned {len(entries)} without names")
        return entries
    wanted = set(names)
    by_name: dict[str, Prediction] = {}
    for entry in entries:
        name = entry.file if entry.file in wanted else entry.file.rsplit("/", 1)[-1]
        if name not in wanted:
            raise ServerError(f"The server answered for {entry.file!r}, which was not sent")
        if name in by_name:
            raise ServerError(f"The server answered twice for {name!r}")
        by_name[name] = entry
    missing = [name for name in names if name not in by_name]
    if missing and not partial:
        raise ServerError(f"The server gave no prediction for {missing[0]!r}")
    return [by_name.get(name) or Prediction(file=name, label="", probability=0.0,
                                            message="Failed: the server gave no prediction")
            for name in names]


def _renamed(prediction: Prediction, file: str) -> Prediction:
    return replace(prediction, file=file)


def _unexpected(what: str, data: Any) -> ServerError:
    text = " ".join(repr(data).split())
    return ServerError(f"Expected {what} from the server, got: {text[:100]}")


__all__ = ["ImageCategorization", "LOCAL_SERVER_HEADER", "LOCAL_SERVER"]
