"""The object detection API: one method per operation, plus batch helpers (``ObjectDetection``,
``client.object_detection``).

    with Client() as client:
        model = client.object_detection.create_model(["car", "bottle"])
        client.object_detection.upload(model.id, [("a.jpg", annotation_a), ...])   # nanoclient.annotations
        client.object_detection.train(model.id)
        client.object_detection.wait_until_trained(model.id)
        for found in client.object_detection.predict_file(model.id, "street.jpg").above(0.5):
            print(found.label, found.box, found.score)

It sends what the official wrapper sends (the ``ObjectDetection`` family; batches of ``file`` parts with a
``data`` list) and relies on nothing only the local server does: an upload is made exactly once by the
training images the model lists (``Annotations``: ``_listed_upload``), and prediction answers are matched to
inputs by the name sent, never by position (the hosted service promises no order).
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
from .._wire import OBJECT_DETECTION
from ..annotations import Annotation, annotation_from_json
from ..errors import BadRequestError, ModelNotTrainedError, NanonetsError, ServerError
from ..images import sniff_format
from ..types import ListedUploadReport, Model, PathLike
from .types import DetectionResult

#: The model type as the local server names it (a hosted answer without one is taken for this type).
MODEL_TYPE = "object_detection"
#: Images per upload request (the official wrapper sends 20; fewer keeps a retry small).
UPLOAD_BATCH = 10
#: Images per prediction request.
PREDICT_BATCH = 10
#: Concurrent requests of an upload or a prediction run.
WORKERS = 4
_MEDIA = {"PNG": "image/png", "JPEG": "image/jpeg"}


def image_type(path: PathLike) -> str:
    """The media type of an image file by its first bytes; ValueError if it is not a PNG or JPEG image."""
    with open(path, "rb") as handle:
        found = sniff_format(handle.read(16))
    if found is None:
        raise ValueError(f"{os.fspath(path)} is not a PNG or JPEG image")
    return _MEDIA[found]


def sent_name(path: PathLike) -> str:
    """The name an image is sent under: its file name, with the characters a multipart header cannot carry
    plainly (quotes, ``%``, backslashes, control characters) replaced by ``_``."""
    name = os.path.basename(os.fspath(path))
    return "".join(c if c.isprintable() and c not in '"%\\/' else "_" for c in name).strip() or "image"


class ObjectDetection:
    """The operations of object detection models, over a client's pooled connection (``client.object_detection``)."""

    def __init__(self, transport: Transport, *, sleep: Callable[[float], object],
                 monotonic: Callable[[], float]) -> None:
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic

    # ------------------------------------------------------------------ models

    def create_model(self, categories: Sequence[str]) -> Model:
        """Create a detection model that finds objects of these categories (non-empty, distinct names)."""
        names = [str(c).strip() for c in ([categories] if isinstance(categories, str) else categories)]
        if not names or any(not n for n in names) or len(set(names)) != len(names):
            raise ValueError("Give one or more distinct, non-empty category names")
        data = self._transport.request("POST", f"{OBJECT_DETECTION}/Model/", idempotent=False,
                                       json_body={"categories": names})
        return _model(data)

    def get_model(self, model_id: str) -> Model:
        """The model's state, images per category and accuracy (held-out mAP@0.5 on the local server)."""
        return _model(self._transport.request("GET", f"{OBJECT_DETECTION}/Model/{_id(model_id)}"))

    def images(self, model_id: str) -> list[Annotation]:
        """The model's training images, each with its labelled boxes (the category is each box's ``field``)."""
        data = self._transport.request("GET", f"{OBJECT_DETECTION}/Model/{_id(model_id)}/Annotations")
        entries = data.get("Data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ServerError(f"Expected the model's training images (Data), got: {str(data)[:100]}")
        return [annotation_from_json(entry, source="Annotations") for entry in entries]

    def train(self, model_id: str) -> Model:
        """Start training (returns at once, usually in state 3 'queued' or 4 'training')."""
        return _model(self._transport.request("POST", f"{OBJECT_DETECTION}/Model/{_id(model_id)}/Train/",
                                              idempotent=False))

    def wait_until_trained(self, model_id: str, *, timeout: float = 3600, poll_interval: float = 5,
                           on_update: Callable[[Model], object] | None = None) -> Model:
        """Poll the model until training ends (TrainingFailedError, TrainingTimeoutError otherwise)."""
        return wait_until_trained(self.get_model, model_id, timeout=timeout, poll_interval=poll_interval,
                                  on_update=on_update, sleep=self._sleep, monotonic=self._monotonic)

    # ------------------------------------------------------------------ uploads

    def upload(self, model_id: str, images: Iterable[tuple[PathLike, Annotation]], *,
               batch_size: int = UPLOAD_BATCH, workers: int = WORKERS,
               on_result: Callable[[str, Exception | None], object] | None = None) -> ListedUploadReport:
        """Upload images with their boxes (an ``Annotation`` with no box: an image showing no object), each
        exactly once: images the model already lists (by file name) are not sent again, so a run stopped
        halfway is resumed by running it again (``_listed_upload``). ``batch_size`` images go in one request.

        File names must be distinct (the API names a training image by its name). ``on_result(path, error)`` is
        called once per image as its outcome is known.
        """
        model_id = _id(model_id)
        upload: ListedUpload[Annotation] = ListedUpload(
            listed=lambda: {image.filename for image in self.images(model_id)},
            send=lambda batch: self._send_images(model_id, batch), check=image_type,
            batch_size=batch_size, workers=workers)
        return upload.run(images, on_result)

    def _send_images(self, model_id: str, batch: Sequence[tuple[str, Annotation]]) -> None:
        parts = [FilePart("file", path, os.path.basename(path), image_type(path)) for path, _ in batch]
        entries = [{"filename": os.path.basename(path), "object": [_box(box) for box in annotation.boxes]}
                   for path, annotation in batch]
        self._transport.request("POST", f"{OBJECT_DETECTION}/Model/{model_id}/UploadFile/", files=parts,
                                form=[("data", json.dumps(entries))], idempotent=False)

    def upload_urls(self, model_id: str, images: Iterable[tuple[str, Annotation]]) -> ListedUploadReport:
        """Upload images by URL, each with its boxes, in one request; each exactly once: URLs the model already
        lists are not sent again, and a request whose answer was lost is settled by the listing. A URL the
        service could not fetch is in ``failed`` with the reason (a 202), the others in ``uploaded``."""
        model_id = _id(model_id)
        report = ListedUploadReport()
        held = {image.filename for image in self.images(model_id)}
        todo: dict[str, Annotation] = {}
        for url, annotation in images:
            clean = str(url).strip()
            if not clean:
                raise ValueError("An empty URL: pass image URLs")
            if clean in held or annotation_from_json({"filename": clean}).filename in held:
                report.already.append(clean)
            else:
                todo[clean] = annotation
        if not todo:
            return report
        entries = [{"filename": url, "object": [_box(box) for box in annotation.boxes]}
                   for url, annotation in todo.items()]
        try:
            reply = self._transport.send("POST", f"{OBJECT_DETECTION}/Model/{model_id}/UploadUrls/", idempotent=False,
                                         json_body={"urls": list(todo), "data": entries})
        except NanonetsError as exc:
            if not may_have_been_processed(exc):
                raise
            listed = {image.filename for image in self.images(model_id)}
            stored = [url for url in todo
                      if url in listed or annotation_from_json({"filename": url}).filename in listed]
            report.uploaded.extend(stored)
            report.failed.extend((url, exc) for url in todo if url not in stored)
            return report
        reasons = {str(item.get("url")): str(item.get("message") or "could not be fetched")
                   for item in (reply.data.get("errors") or [] if isinstance(reply.data, dict) else [])
                   if isinstance(item, dict)} if reply.status == 202 else {}
        report.uploaded.extend(url for url in todo if url not in reasons)
        report.failed.extend((url, BadRequestError(why)) for url, why in reasons.items() if url in todo)
        return report

    # ------------------------------------------------------------------ predictions

    def predict_file(self, model_id: str, path: PathLike) -> DetectionResult:
        """The objects found in one image (every one the model answers, highest score first: ``above(t)``
        keeps those scored t or more); its ``input`` is the path."""
        return self._predict_batch(_id(model_id), [os.fspath(path)])[os.fspath(path)]

    def predict_files(self, model_id: str, paths: Iterable[PathLike], *, batch_size: int = PREDICT_BATCH,
                      workers: int = WORKERS) -> Iterator[tuple[str, DetectionResult | Exception]]:
        """Find the objects in many images, ``batch_size`` a request and ``workers`` requests at a time; yield
        (path, its result or the error) in input order as they are done, keeping a bounded number in flight.

        Answers are matched to images by the name sent (two images of the same name go in different requests).
        A request refused whole (one bad image) is sent again image by image, so that the bad one alone fails.
        """
        model_id = _id(model_id)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nanoclient-detection")
        try:
            pending: deque[tuple[list[str], Future[dict[str, DetectionResult | Exception]]]] = deque()
            for batch in _batches((os.fspath(p) for p in paths), batch_size):
                pending.append((batch, pool.submit(self._predict_safely, model_id, batch)))
                if len(pending) >= 2 * max(1, workers):
                    done, future = pending.popleft()
                    outcome = future.result()
                    yield from ((path, outcome[path]) for path in done)
            while pending:
                done, future = pending.popleft()
                outcome = future.result()
                yield from ((path, outcome[path]) for path in done)
        finally:  # Ctrl-C, or the caller stopped reading: requests in flight are abandoned, not waited for
            pool.shutdown(wait=False, cancel_futures=True)

    def _predict_safely(self, model_id: str, batch: Sequence[str]) -> dict[str, DetectionResult | Exception]:
        try:
            return dict(self._predict_batch(model_id, batch))
        except (BadRequestError, ValueError, OSError) as exc:
            if len(batch) == 1 or isinstance(exc, ModelNotTrainedError):
                return dict.fromkeys(batch, exc)
            # refused whole for one image (or one is no image): each alone, so that the bad one alone fails
            return {path: outcome for one in batch for path, outcome in self._predict_safely(model_id, [one]).items()}
        except Exception as exc:  # one batch's failure costs that batch only
            return dict.fromkeys(batch, exc)

    def _predict_batch(self, model_id: str, paths: Sequence[str]) -> dict[str, DetectionResult]:
        parts = [FilePart("file", path, sent_name(path), image_type(path)) for path in paths]
        data = self._transport.request("POST", f"{OBJECT_DETECTION}/Model/{model_id}/LabelFile/", files=parts)
        by_name = _results_for(data, [part.filename for part in parts])
        return {path: _renamed(by_name[part.filename], path) for path, part in zip(paths, parts, strict=True)}

    def predict_urls(self, model_id: str, urls: Sequence[str]) -> list[DetectionResult]:
        """The objects found in images given by URL, in URL order, each ``input`` the URL (a URL the service
        could not fetch has no objects and its ``message`` says why)."""
        clean = [str(u).strip() for u in ([urls] if isinstance(urls, str) else urls) if str(u).strip()]
        if not clean:
            raise ValueError("No URLs given: pass one or more image URLs")
        data = self._transport.request("POST", f"{OBJECT_DETECTION}/Model/{_id(model_id)}/LabelUrls/",
                                       form=[("urls", url) for url in clean])
        by_url = _results_for(data, clean, partial=True)
        return [by_url[url] for url in clean]


# ---------------------------------------------------------------------- helpers


_id = path_id


def _box(box: Any) -> dict[str, Any]:
    """One labelled box as the wire's ``object`` entry: ``{"name", "bndbox"}``."""
    return {"name": box.field, "bndbox": {"xmin": box.xmin, "ymin": box.ymin, "xmax": box.xmax, "ymax": box.ymax}}


def _batches(paths: Iterable[str], size: int) -> Iterator[list[str]]:
    """Batches of at most ``size`` paths, none holding two of the same name sent (answers are matched by it)."""
    batch: list[str] = []
    names: set[str] = set()
    for path in paths:
        name = sent_name(path)
        if len(batch) >= size or name in names:
            yield batch
            batch, names = [], set()
        batch.append(path)
        names.add(name)
    if batch:
        yield batch


def _renamed(result: DetectionResult, name: str) -> DetectionResult:
    from dataclasses import replace

    return replace(result, input=name)


def _results_for(data: Any, names: Sequence[str], *, partial: bool = False) -> dict[str, DetectionResult]:
    """The result of each input sent, matched by ``input`` (never by position). An entry for an input not
    sent, or an input without an entry (unless ``partial``: then it gets a failure message), is a ServerError."""
    results = data.get("result") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ServerError(f"Expected a prediction answer from the server, got: {str(data)[:100]}")
    found: dict[str, DetectionResult] = {}
    for entry in results:
        if not isinstance(entry, dict):
            continue
        try:
            result = DetectionResult.from_json(entry)
        except ValueError as exc:
            raise ServerError(f"The server answered a prediction that cannot be read: {exc}") from None
        name = result.input if result.input in names else result.input.rsplit("/", 1)[-1]
        if name not in names:
            if len(names) == 1 and not result.input:
                name = names[0]
            else:
                raise ServerError(f"The server answered for {result.input!r}, which was not sent")
        found[name] = result
    for name in names:
        if name not in found:
            if not partial:
                raise ServerError(f"The server gave no result for {name!r}")
            found[name] = DetectionResult(name, (), "Failed: the server gave no result")
    return found


def _model(data: Any) -> Model:
    return model_from(data, MODEL_TYPE)


__all__ = ["MODEL_TYPE", "ObjectDetection", "PREDICT_BATCH", "UPLOAD_BATCH", "WORKERS", "image_type", "sent_name"]
