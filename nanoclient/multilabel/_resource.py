"""The multi-label classification API: one method per operation, plus batch helpers (``Multilabel``,
``client.multilabel``).

    with Client() as client:
        model = client.multilabel.create_model(["cat", "dog", "car"])
        client.multilabel.upload(model.id, [("a.jpg", ["cat", "dog"]), ("b.jpg", [])])
        client.multilabel.train(model.id)
        client.multilabel.wait_until_trained(model.id)
        print(client.multilabel.predict_file(model.id, "photo.jpg").labels)

It sends what the official wrapper sends (``MultiLabelClassification/...``: ``files`` parts and a ``data``
list of ``{filename, categories}``) and relies on nothing the hosted service does not promise: an upload
is made exactly once by the images the model lists (``Annotations``, through ``_listed_upload``);
prediction answers are matched to the files by the name the server answers, never by their order.
"""
from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .._answers import model_from, path_id
from .._listed_upload import ListedUpload
from .._training import wait_until_trained
from .._transport import FilePart, Transport, may_have_been_processed
from .._wire import MEDIA_TYPES, MULTILABEL_CLASSIFICATION
from ..errors import BadRequestError, InvalidImageError, NanonetsError, PayloadTooLargeError, ServerError
from ..images import check_image_file
from ..types import ListedUploadReport, Model, PathLike
from .types import MultilabelPrediction

#: Images per upload request (the official wrapper sends 20).
UPLOAD_BATCH = 20
#: Images per prediction request (the official wrapper sends 20).
PREDICT_BATCH = 20
#: Concurrent requests of an upload or a prediction run.
WORKERS = 4
#: The model type a model of this resource has, when the answer names none (the hosted API's may not).
MODEL_TYPE = "multilabel"
_FAMILY = MULTILABEL_CLASSIFICATION

#: One image to upload: its path and its labels (none: an image that shows none of the model's labels).
Labelled = tuple[PathLike, Sequence[str]]
#: One input's outcome: its prediction, or why it has none.
Outcome = MultilabelPrediction | Exception


class Multilabel:
    """The operations of multi-label classification models, over a client's pooled connection
    (``client.multilabel``)."""

    def __init__(self, transport: Transport, *, sleep: Callable[[float], object],
                 monotonic: Callable[[], float]) -> None:
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic

    # ------------------------------------------------------------------ models

    def create_model(self, labels: Sequence[str]) -> Model:
        """Create a model that tells which of these labels (non-empty, distinct names) an image shows."""
        if isinstance(labels, str):
            labels = [labels]
        names = [str(label).strip() for label in labels]
        if not names or any(not name for name in names) or len(set(names)) != len(names):
            raise ValueError("Give one or more distinct, non-empty label names")
        return _model(self._transport.request("POST", f"{_FAMILY}/Model/", idempotent=False,
                                              json_body={"categories": names}))

    def get_model(self, model_id: str) -> Model:
        """The model's state, images per label and accuracy."""
        return _model(self._transport.request("GET", f"{_FAMILY}/Model/{_id(model_id)}"))

    def annotations(self, model_id: str) -> dict[str, tuple[str, ...]]:
        """The model's training images as the service lists them: file name (or URL) -> its labels."""
        data = self._transport.request("GET", f"{_FAMILY}/Model/{_id(model_id)}/Annotations")
        entries = data.get("Data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ServerError(f"Expected the model's training images (Data), got: {str(data)[:100]}")
        listed: dict[str, tuple[str, ...]] = {}
        for entry in entries:
            if isinstance(entry, dict) and entry.get("filename"):
                labels = entry.get("categories") or []
                listed[str(entry["filename"])] = tuple(str(label) for label in labels if isinstance(label, str))
        return listed

    def train(self, model_id: str) -> Model:
        """Start training (returns at once, usually in state 3 'queued' or 4 'training')."""
        return _model(self._transport.request("POST", f"{_FAMILY}/Model/{_id(model_id)}/Train/", idempotent=False))

    def wait_until_trained(self, model_id: str, *, timeout: float = 3600, poll_interval: float = 5,
                           on_update: Callable[[Model], object] | None = None) -> Model:
        """Poll the model until training ends (``nanoclient._training.wait_until_trained``): the model trained,
        or TrainingFailedError / TrainingTimeoutError."""
        return wait_until_trained(self.get_model, model_id, timeout=timeout, poll_interval=poll_interval,
                                  on_update=on_update, sleep=self._sleep, monotonic=self._monotonic)

    # ------------------------------------------------------------------ uploads

    def upload(self, model_id: str, images: Iterable[Labelled], *, batch_size: int = UPLOAD_BATCH,
               workers: int = WORKERS, on_result: Callable[[str, Exception | None], object] | None = None
               ) -> ListedUploadReport:
        """Upload images with their labels, ``batch_size`` in one ``UploadFiles`` request, each exactly once:
        images the model already lists (by file name) are not sent again, so a run stopped halfway is resumed
        by running it again (``_listed_upload``). A file that is not a PNG or JPEG image is not sent; a
        batch refused for one file is sent again file by file, so that only that file fails.

        File names must be distinct (the API names a training image by its name). ``on_result(path, error)``
        is called once per image as its outcome is known.
        """
        model_id = _id(model_id)
        upload: ListedUpload[tuple[str, ...]] = ListedUpload(
            listed=lambda: set(self.annotations(model_id)), send=lambda batch: self._send_images(model_id, batch),
            check=check_image_file, batch_size=batch_size, workers=workers)
        return upload.run(((path, _labels(labels)) for path, labels in images), on_result)

    def _send_images(self, model_id: str, batch: Sequence[tuple[str, tuple[str, ...]]]) -> None:
        parts = [FilePart("files", path, os.path.basename(path), _media_type(path)) for path, _ in batch]
        data = [{"filename": os.path.basename(path), "categories": list(labels)} for path, labels in batch]
        self._transport.request("POST", f"{_FAMILY}/Model/{model_id}/UploadFiles/", files=parts,
                                form=[("data", json.dumps(data))], idempotent=False)

    def upload_urls(self, model_id: str, images: Iterable[tuple[str, Sequence[str]]]) -> ListedUploadReport:
        """Upload images by URL with their labels, one request per URL (the wire gives several URLs one label
        each only), each exactly once: URLs the model already lists are not sent again; a request whose answer
        was lost is settled by the listing. The service fetches them: a URL it could not fetch is in
        ``failed`` with the reason."""
        model_id = _id(model_id)
        report = ListedUploadReport()
        held = set(self.annotations(model_id))
        for url, labels in images:
            clean = str(url).strip()
            if not clean:
                raise ValueError("An empty URL: pass image URLs")
            if clean in held:
                report.already.append(clean)
                continue
            form = [("modelId", model_id), ("urls", clean), *(("categories", label) for label in _labels(labels))]
            try:
                reply = self._transport.send("POST", f"{_FAMILY}/UploadUrls/", form=form, idempotent=False)
            except NanonetsError as exc:
                if may_have_been_processed(exc) and clean in self.annotations(model_id):
                    report.uploaded.append(clean)
                else:
                    report.failed.append((clean, exc))
                continue
            if reply.status == 202:
                why = next((str(item.get("message") or "could not be fetched")
                            for item in (reply.data.get("errors") or [] if isinstance(reply.data, dict) else [])
                            if isinstance(item, dict)), "could not be fetched")
                report.failed.append((clean, BadRequestError(why)))
            else:
                report.uploaded.append(clean)
        return report

    # ------------------------------------------------------------------ predictions

    def predict_file(self, model_id: str, path: PathLike) -> MultilabelPrediction:
        """The labels of one image: every label's probability and the labels given, ``file`` the path."""
        outcome = next(self.predict_files(model_id, [path], workers=1))[1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def predict_files(self, model_id: str, paths: Iterable[PathLike], *, batch_size: int = PREDICT_BATCH,
                      workers: int = WORKERS) -> Iterator[tuple[str, Outcome]]:
        """Predict many images, ``batch_size`` per ``LabelFiles`` request and ``workers`` requests at once;
        yield (path, its prediction or the error) in input order, keeping a bounded number in flight.

        One bad file costs that file only: a file that is not an image is not sent; a batch refused for an
        invalid image or as too large is sent again one file per request. An error every request would get
        (a refused key, an unknown model, a model not trained) is raised. Each answer is matched to its file
        by the name the server answers (two files of the same name never share a request)."""
        model_id = _id(model_id)
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nanoclient-multilabel")
        try:
            pending: deque[tuple[list[str], Future[dict[str, Outcome]]]] = deque()
            for batch in _batches((os.fspath(path) for path in paths), batch_size):
                pending.append((batch, pool.submit(self._predict_batch, model_id, batch)))
                if len(pending) >= 2 * max(1, workers):
                    yield from _results(*pending.popleft())
            while pending:
                yield from _results(*pending.popleft())
        finally:  # Ctrl-C, or the caller stopped reading: requests not sent are cancelled, none waited for
            pool.shutdown(wait=False, cancel_futures=True)

    def _predict_batch(self, model_id: str, batch: Sequence[str]) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        valid = []
        for path in batch:
            try:
                check_image_file(path)
                valid.append(path)
            except (InvalidImageError, OSError) as exc:
                outcomes[path] = exc
        groups = [valid] if valid else []
        while groups:
            group = groups.pop(0)
            try:
                outcomes.update(self._send_predict(model_id, group))
            except (InvalidImageError, PayloadTooLargeError) as exc:
                if len(group) > 1:
                    groups = [[path] for path in group] + groups
                else:
                    outcomes[group[0]] = exc
            except (NanonetsError, OSError) as exc:
                if _every_request_fails(exc):
                    raise
                outcomes.update((path, exc) for path in group)
        return outcomes

    def _send_predict(self, model_id: str, paths: Sequence[str]) -> dict[str, Outcome]:
        parts = [FilePart("files", path, os.path.basename(path), _media_type(path)) for path in paths]
        data = self._transport.request("POST", f"{_FAMILY}/Model/{model_id}/LabelFiles/", files=parts)
        by_name = _by_file(data, [part.filename for part in parts])
        return {path: _renamed(by_name[part.filename], path) for path, part in zip(paths, parts, strict=True)}

    def predict_urls(self, model_id: str, urls: Sequence[str]) -> list[tuple[str, Outcome]]:
        """Predict images given by URL, in one request: (url, its prediction or why it has none), in the
        order given (matched by the URL the server answers)."""
        model_id = _id(model_id)
        if isinstance(urls, str):
            urls = [urls]
        clean = list(dict.fromkeys(str(url).strip() for url in urls if str(url).strip()))
        if not clean:
            raise ValueError("No URLs given: pass one or more image URLs")
        data = self._transport.request("POST", f"{_FAMILY}/Model/{model_id}/LabelUrls/",
                                       form=[("urls", url) for url in clean])
        by_url = _by_file(data, clean)
        return [(url, by_url[url]) for url in clean]


# ---------------------------------------------------------------------- helpers


_id = path_id


def _labels(labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        labels = [labels]
    return tuple(dict.fromkeys(str(label).strip() for label in labels if str(label).strip()))


def _media_type(path: PathLike) -> str:
    """The media type of an image file by its first bytes (octet-stream when it is neither PNG nor JPEG:
    the server says what is wrong with it)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(b"\x89PNG"):
        return MEDIA_TYPES["PNG"]
    if head.startswith(b"\xff\xd8\xff"):
        return MEDIA_TYPES["JPEG"]
    return "application/octet-stream"


def _batches(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive paths, at most ``size`` per batch, never two of the same file name in one batch (the
    answer names each file by its name)."""
    batch: list[str] = []
    names: set[str] = set()
    for path in paths:
        name = os.path.basename(path)
        if batch and (len(batch) >= max(1, size) or name in names):
            yield batch
            batch, names = [], set()
        batch.append(path)
        names.add(name)
    if batch:
        yield batch


def _results(batch: Sequence[str], future: Future[dict[str, Outcome]]) -> Iterator[tuple[str, Outcome]]:
    outcomes = future.result()
    for path in batch:
        yield path, outcomes[path]


def _every_request_fails(error: BaseException) -> bool:
    """An error that every other request would get too: a key refused, no such model, a model not trained,
    the quota spent (raised once for the run, not once per file)."""
    from ..errors import AuthenticationError, ModelNotTrainedError, NotFoundError, PaymentRequiredError

    return isinstance(error, (AuthenticationError, NotFoundError, PaymentRequiredError, ModelNotTrainedError))


def _by_file(data: Any, names: Sequence[str]) -> dict[str, Outcome]:
    """Each input's outcome, matched by the ``file`` the server answers (never by position): a prediction, or
    a BadRequestError with the entry's message when it says it failed. ServerError for an answer naming an
    input not sent or leaving one out."""
    results = data.get("result") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ServerError(f"Expected a prediction answer from the server, got: {str(data)[:100]}")
    found: dict[str, Outcome] = {}
    for entry in results:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("file", entry.get("input")) or "")
        if name not in names and name.rsplit("/", 1)[-1] in names:  # a path or URL of the name sent
            name = name.rsplit("/", 1)[-1]
        if name not in names and len(names) == 1 and not name:
            name = names[0]
        if name not in names:
            raise ServerError(f"The server answered for {name!r}, which was not sent")
        message = str(entry.get("message") or "Success")
        if message.lower().startswith("fail"):
            found[name] = BadRequestError(message.split(":", 1)[-1].strip() or message)
        else:
            found[name] = MultilabelPrediction.from_json(entry)
    missing = [name for name in names if name not in found]
    if missing:
        raise ServerError(f"The server gave no result for {missing[0]!r}")
    return found


def _renamed(outcome: Outcome, path: str) -> Outcome:
    if isinstance(outcome, MultilabelPrediction):
        from dataclasses import replace

        return replace(outcome, file=path)
    return outcome


def _model(data: Any) -> Model:
    return model_from(data, MODEL_TYPE)


__all__ = ["Labelled", "Multilabel", "Outcome", "PREDICT_BATCH", "UPLOAD_BATCH", "WORKERS"]
