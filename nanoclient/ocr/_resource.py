"""The OCR API (docs/OCR-API.md): one method per operation, plus batch helpers (``Ocr``, ``client.ocr``).

    with Client() as client:
        model = client.ocr.create_model(["invoice_number", "total"])
        client.ocr.upload(model.id, [("invoice_1.png", annotation_1), ...])   # nanoclient.annotations
        client.ocr.train(model.id)
        client.ocr.wait_until_trained(model.id)
        for page in client.ocr.predict_file(model.id, "scan.pdf"):
            print(page.page, page.field("total"))

It sends what the hosted service is known to accept (the reference's forms, else the official
wrapper's) and never relies on what only the local server does: an upload is made exactly once by the
training files the model lists (``Annotations``), before sending and after a request whose outcome is
unknown; prediction answers are matched to inputs by name and page, never by position.

Long documents: a prediction is never sent again after its answer failed to come in time (the server
may still be reading it, and the hosted service may read and bill each copy). A document is judged by
its pages, counted on the client (``page_count``): more than ``ASYNC_PAGES`` and it is read
asynchronously (sent once, its pages fetched by id), fewer in one request that may wait
``SYNC_SECONDS_PER_PAGE`` a page. A scanned 150-page PDF is read once, asynchronously, with the defaults.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .._answers import model_from, path_id
from .._listed_upload import ListedUpload
from .._training import wait_until_trained
from .._transport import FilePart, Transport, may_have_been_processed
from .._wire import INFERENCES, OBJECT_DETECTION, OCR
from ..annotations import Annotation, annotation_from_json
from ..errors import APITimeoutError, BadRequestError, NanonetsError, ServerError
from ..types import Model, PathLike
from .types import OcrPage, OcrUploadReport

#: Documents per upload request (the official wrapper sends 20; fewer keeps a retry small).
UPLOAD_BATCH = 10
#: Documents per synchronous prediction request (the reference documents one per request).
PREDICT_BATCH = 1
#: Concurrent requests of an upload or a prediction run.
WORKERS = 4
#: Pages above which ``predict_file`` reads a document asynchronously (sent once, then fetched by id) rather
#: than in one request. The local server reads a scanned page in about 0.5 s alone (a 150-page scan: 76 s)
#: and 1 s or more with four requests at once on two cores: ten pages answer well within one 30 s attempt.
ASYNC_PAGES = 10
#: Seconds a synchronous prediction may wait per page (at least the client's timeout): 100 s for ten pages.
SYNC_SECONDS_PER_PAGE = 10.0
#: Seconds ``read_asynchronously`` waits per page (at least ten minutes): 75 minutes for 150 pages.
ASYNC_SECONDS_PER_PAGE = 30.0
#: Bytes per page assumed of a PDF whose pages cannot be counted (a scanned page is 50 to 300 KB): a large
#: file is taken for a long one, which costs at worst the asynchronous way's polling.
BYTES_PER_PAGE = 50_000
#: The media types of documents, by their first bytes.
_SIGNATURES = ((b"%PDF-", "application/pdf"), (b"\x89PNG", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def document_type(path: PathLike) -> str:
    """The media type of a document file by its first bytes; ValueError if it is not PNG, JPEG or PDF."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    for signature, media in _SIGNATURES:
        if head.startswith(signature):
            return media
    raise ValueError(f"{os.fspath(path)} is not a PNG, JPEG or PDF document")


class Ocr:
    """The operations of OCR models, over a client's pooled connection (``client.ocr``)."""

    def __init__(self, transport: Transport, *, sleep: Callable[[float], object],
                 monotonic: Callable[[], float]) -> None:
        self._transport = transport
        self._sleep = sleep
        self._monotonic = monotonic

    # ------------------------------------------------------------------ models

    def create_model(self, fields: Sequence[str] = (), *, languages: Sequence[str] = (),
                     pretrained: str | None = None) -> Model:
        """Create an OCR model that extracts these fields (non-empty, distinct names).

        Local server only, each sent only when given (the hosted API documents no such fields):
        ``languages``, the languages of its documents as Tesseract's codes (``["deu", "eng"]``; otherwise
        found in the training documents); ``pretrained``, the name of an extractor the server ships
        (``"invoices"``) that the model starts from, answering at once (its fields, unless ``fields`` names
        others) and adapted by training on the model's own documents."""
        names = [str(f).strip() for f in fields]
        if (not names and not pretrained) or any(not n for n in names) or len(set(names)) != len(names):
            raise ValueError("Give one or more distinct, non-empty field names (or a pretrained extractor)")
        codes = [str(code).strip() for code in languages if str(code).strip()]
        body: dict[str, Any] = {"categories": names, "model_type": "ocr"}
        if codes:
            body["languages"] = codes
        if pretrained:
            body["pretrained"] = pretrained
        data = self._transport.request("POST", f"{OBJECT_DETECTION}/Model/", idempotent=False, json_body=body)
        return _model(data)

    def get_model(self, model_id: str) -> Model:
        """The model's state, field counts and accuracy."""
        return _model(self._transport.request("GET", f"{OCR}/Model/{_id(model_id)}"))

    def documents(self, model_id: str) -> list[Annotation]:
        """The model's training files, each with its labelled boxes, as the service lists them."""
        data = self._transport.request("GET", f"{OBJECT_DETECTION}/Model/{_id(model_id)}/Annotations")
        entries = data.get("Data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ServerError(f"Expected the model's training files (Data), got: {str(data)[:100]}")
        return [annotation_from_json(entry, source="Annotations") for entry in entries]

    def train(self, model_id: str) -> Model:
        """Start training (returns at once, usually in state 3 'queued' or 4 'training')."""
        return _model(self._transport.request("POST", f"{OCR}/Model/{_id(model_id)}/Train/", idempotent=False))

    def wait_until_trained(self, model_id: str, *, timeout: float = 3600, poll_interval: float = 5,
                           on_update: Callable[[Model], object] | None = None) -> Model:
        """Poll the model until training ends, as ``Client.wait_until_trained`` does for classification."""
        return wait_until_trained(self.get_model, model_id, timeout=timeout, poll_interval=poll_interval,
                                  on_update=on_update, sleep=self._sleep, monotonic=self._monotonic)

    # ------------------------------------------------------------------ uploads

    def upload(self, model_id: str, documents: Iterable[tuple[PathLike, Annotation]], *,
               batch_size: int = UPLOAD_BATCH, workers: int = WORKERS,
               on_result: Callable[[str, Exception | None], object] | None = None) -> OcrUploadReport:
        """Upload documents with their annotations, each exactly once: documents the model already lists
        (by file name) are not sent again, so a run stopped halfway is resumed by running it again
        (``_listed_upload``).

        File names must be distinct (the API names a training file by its name). ``on_result(path, error)``
        is called once per document as its outcome is known.
        """
        model_id = _id(model_id)
        upload: ListedUpload[Annotation] = ListedUpload(
            listed=lambda: {doc.filename for doc in self.documents(model_id)},
            send=lambda batch: self._send_documents(model_id, batch), check=document_type,
            batch_size=batch_size, workers=workers)
        return upload.run(documents, on_result)

    def upload_urls(self, model_id: str, documents: Iterable[tuple[str, Annotation]]) -> OcrUploadReport:
        """Upload documents by URL, each with its annotation (whose file name the URL replaces), in one request;
        each exactly once: URLs the model already lists are not sent again. The service fetches them; a URL
        it could not fetch is in ``failed`` with the reason (a 202), the others in ``uploaded``."""
        model_id = _id(model_id)
        report = OcrUploadReport()
        held = {doc.filename for doc in self.documents(model_id)}
        todo: dict[str, Annotation] = {}
        for url, annotation in documents:
            clean = _urls([url])[0]
            if clean in held or annotation_from_json({"filename": clean}).filename in held:
                report.already.append(clean)
            else:
                todo[clean] = annotation
        if not todo:
            return report
        entries = [{**annotation.to_json(), "filename": url} for url, annotation in todo.items()]
        try:
            reply = self._transport.send("POST", f"{OCR}/Model/{model_id}/UploadUrls/", idempotent=False,
                                         json_body={"urls": list(todo), "data": entries})
        except NanonetsError as exc:
            if not may_have_been_processed(exc):
                raise
            listed = {doc.filename for doc in self.documents(model_id)}  # what the lost answer would have said
            stored = [url for url in todo if url in listed or annotation_from_json({"filename": url}).filename
                      in listed]
            report.uploaded.extend(stored)
            report.failed.extend((url, exc) for url in todo if url not in stored)
            return report
        reasons = {str(item.get("url")): str(item.get("message") or "could not be fetched")
                   for item in (reply.data.get("errors") or [] if isinstance(reply.data, dict) else [])
                   if isinstance(item, dict)} if reply.status == 202 else {}
        report.uploaded.extend(url for url in todo if url not in reasons)
        report.failed.extend((url, BadRequestError(why)) for url, why in reasons.items() if url in todo)
        return report

    def _send_documents(self, model_id: str, batch: Sequence[tuple[str, Annotation]]) -> None:
        parts = [FilePart("file", path, os.path.basename(path), document_type(path)) for path, _ in batch]
        entries = []
        for path, annotation in batch:
            entry = annotation.to_json()
            entry["filename"] = os.path.basename(path)
            entries.append(entry)
        family = OBJECT_DETECTION if len(batch) > 1 else OCR  # the wrapper's batch form, the reference's single
        self._transport.request("POST", f"{family}/Model/{model_id}/UploadFile/", files=parts,
                                form=[("data", json.dumps(entries))], idempotent=False)

    # ------------------------------------------------------------------ predictions

    def predict_file(self, model_id: str, path: PathLike, *, asynchronous: bool | None = None) -> list[OcrPage]:
        """Read the fields of one document: one ``OcrPage`` per page, in page order, each ``input`` the path.

        How long a document will take is judged by its pages (``page_count``, counted here before sending):
        one of more than ``ASYNC_PAGES`` pages is read asynchronously (``read_asynchronously``: sent once,
        then its pages fetched by id for as long as they may take), since a single request would outwait
        any sensible timeout; a shorter one in one request that may wait ``sync_timeout(pages)`` seconds
        (at least the client's timeout). ``asynchronous`` True or False forces either way.

        A request that got no answer in time (or a gateway's 504) is never sent again: the server may still
        be reading it, and the hosted service promises no deduplication, so each resend would be read (and
        billed) once more. It raises ``APITimeoutError`` naming the asynchronous way instead. Failures the
        server surely did not act on, a 5xx or a broken connection are retried as for any request.
        """
        model_id = _id(model_id)
        media = document_type(path)
        pages = page_count(path)
        if asynchronous or (asynchronous is None and pages > ASYNC_PAGES):
            return self.read_asynchronously(model_id, path, pages=pages)
        part = FilePart("file", path, sent_name(path), media)
        wait = sync_timeout(pages, self._transport.timeout)
        try:
            data = self._transport.request("POST", f"{OCR}/Model/{model_id}/LabelFile/", files=[part],
                                           timeout=wait, retry_timeouts=False)
        except (APITimeoutError, ServerError) as exc:
            if isinstance(exc, ServerError) and exc.status != 504:
                raise
            raise APITimeoutError(
                f"{part.filename} ({_pages(pages)}) was not read in time ({exc.message}); not sent again, since "
                "the server may still be reading it: read it asynchronously (predict_file(..., asynchronous=True), "
                "`nanoclient ocr predict --async`)", method=exc.method, url=exc.url) from None
        return [_renamed(page, os.fspath(path)) for page in _pages_for(data, [part.filename])[part.filename]]

    def read_asynchronously(self, model_id: str, path: PathLike, *, pages: int | None = None,
                            timeout: float | None = None) -> list[OcrPage]:
        """Read a document asynchronously and wait for it: ``submit_file`` under a name used once
        (``once_name``), then ``wait_for`` its pages for ``timeout`` seconds (default ``async_wait(pages)``).

        The document is sent once. If the send's answer is lost (a timeout, a broken connection, a 5xx), the
        model's inferences are searched for that name (``sent_pages``): found, its pages are waited for;
        not found, it never arrived and is sent once more, the only resend.
        """
        model_id = _id(model_id)
        count = page_count(path) if pages is None else pages
        name = once_name(path)
        try:
            pending = self.submit_file(model_id, path, name=name)
        except NanonetsError as exc:
            if not may_have_been_processed(exc):
                raise
            found = self.sent_pages(model_id, [name], since=_today() - dt.timedelta(days=1)).get(name)
            pending = ([_renamed(page, os.fspath(path)) for page in found] if found
                       else self.submit_file(model_id, path, name=name))
        if all(page.done for page in pending):  # a service that answered at once
            return [_renamed(page, os.fspath(path)) for page in sorted(pending, key=lambda page: page.page)]
        if any(not page.id for page in pending):
            raise ServerError(f"The service took {name} asynchronously but gave no ids to fetch its pages by")
        ids = [page.id for page in pending]
        read = self.wait_for(model_id, ids, timeout=async_wait(max(count, len(ids))) if timeout is None else timeout)
        return [_renamed(page, os.fspath(path)) for page in sorted(read, key=lambda page: page.page)]

    def sent_pages(self, model_id: str, names: Sequence[str], *, since: dt.date) -> dict[str, list[OcrPage]]:
        """The pages the model lists (``inferences`` from ``since`` to tomorrow: the service may count days
        in another zone) under each of ``names``, in page order; a name not listed is left out. For names
        used once (``once_name``), this says whether a send whose answer was lost arrived."""
        wanted = set(names)
        found: dict[str, list[OcrPage]] = {}
        for page in self.inferences(model_id, since, _today() + dt.timedelta(days=1)):
            if page.input in wanted:
                found.setdefault(page.input, []).append(page)
        return {name: sorted(pages, key=lambda page: page.page) for name, pages in found.items()}

    def predict_files(self, model_id: str, paths: Iterable[PathLike], *, workers: int = WORKERS,
                      asynchronous: bool | None = None) -> Iterator[tuple[str, list[OcrPage] | Exception]]:
        """Read many documents, ``workers`` at a time; yield (path, its pages or the error) in input order,
        as they are done, keeping only a few hundred documents in flight (memory stays flat). Each document
        is read as ``predict_file`` reads it (long ones asynchronously, unless ``asynchronous`` says)."""
        model_id = _id(model_id)
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nanoclient-ocr-client")
        try:
            pending: deque[tuple[str, Any]] = deque()
            for path in paths:
                pending.append((os.fspath(path), pool.submit(self._predict_safely, model_id, path, asynchronous)))
                if len(pending) >= 4 * max(1, workers):
                    name, future = pending.popleft()
                    yield name, future.result()
            while pending:
                name, future = pending.popleft()
                yield name, future.result()
        finally:  # Ctrl-C, or the caller stopped reading: requests in flight are abandoned, not waited for
            pool.shutdown(wait=False, cancel_futures=True)

    def _predict_safely(self, model_id: str, path: PathLike, asynchronous: bool | None) -> list[OcrPage] | Exception:
        try:
            return self.predict_file(model_id, path, asynchronous=asynchronous)
        except Exception as exc:  # one bad file costs that file only
            return exc

    def predict_urls(self, model_id: str, urls: Sequence[str]) -> list[OcrPage]:
        """Read documents given by URL: their pages, each ``input`` the URL (a URL that failed has one page
        with status failure and the reason in ``message``). As ``predict_file``, a request that got no answer
        in time is not sent again (``submit_urls`` reads long documents asynchronously)."""
        model_id = _id(model_id)
        clean = _urls(urls)
        data = self._transport.request("POST", f"{OCR}/Model/{model_id}/LabelUrls/",  # no answer in time: not resent
                                       form=[("urls", url) for url in clean], retry_timeouts=False)
        by_url = _pages_for(data, clean, partial=True)
        return [page for url in clean for page in by_url[url]]

    def submit_file(self, model_id: str, path: PathLike, *, name: str | None = None) -> list[OcrPage]:
        """Send a document to be read asynchronously: its pages at once, pending, with the ids by which
        ``inference`` or ``wait_for`` fetch them later (even from another process).

        ``name`` is the name it is sent under (default: its file name, ``sent_name``), the ``input`` under
        which ``inferences`` lists its pages: a name used once (``once_name``) lets a caller whose request
        was cut before the answer came find out whether the service got it (``sent_pages``), instead of
        sending it again. It is sent once: an answer lost raises (``may_have_been_processed``).
        """
        model_id = _id(model_id)
        sent = name if name is not None else sent_name(path)
        if not sent.strip() or "/" in sent:
            raise ValueError(f"Not a file name to send a document under: {sent!r}")
        part = FilePart("file", path, sent, document_type(path))
        data = self._transport.request("POST", f"{OCR}/Model/{model_id}/LabelFile/", params=[("async", "true")],
                                       files=[part], idempotent=False)
        return [_renamed(page, os.fspath(path)) for page in _pages_for(data, [part.filename])[part.filename]]

    def submit_urls(self, model_id: str, urls: Sequence[str]) -> list[OcrPage]:
        """Send documents by URL to be read asynchronously: their pages at once, pending (a URL the service
        could not fetch: one page with status failure), with the ids ``wait_for`` takes."""
        model_id = _id(model_id)
        clean = _urls(urls)
        data = self._transport.request("POST", f"{OCR}/Model/{model_id}/LabelUrls/", params=[("async", "true")],
                                       form=[("urls", url) for url in clean], idempotent=False)
        by_url = _pages_for(data, clean, partial=True)
        return [page for url in clean for page in by_url[url]]

    def inference(self, model_id: str, inference_id: str) -> list[OcrPage]:
        """A prediction fetched by id: the page with that id (or every page of a request_file_id)."""
        data = self._transport.request(
            "GET", f"{INFERENCES}/Model/{_id(model_id)}/ImageLevelInferences/{quote(_id(inference_id), safe='')}")
        return _all_pages(data)

    def wait_for(self, model_id: str, inference_ids: Sequence[str], *, timeout: float = 600,
                 poll_interval: float = 2) -> list[OcrPage]:
        """Poll pages sent with ``submit_file`` until none is pending; return them in the order of the ids.

        Each round asks for the pages not read yet, in order, and stops at the first still pending (the
        pages after it are most likely pending too): a long document costs a request or two a round, not
        one per page. Pages an answer lists beside the one asked for are kept. TimeoutError (builtin) after
        ``timeout`` seconds, naming how many are still pending.
        """
        deadline = self._monotonic() + timeout
        wanted = set(inference_ids)
        done: dict[str, OcrPage] = {}
        while True:
            for inference_id in inference_ids:
                if inference_id in done:
                    continue
                for page in self.inference(model_id, inference_id):
                    key = page.id or inference_id
                    if key in wanted and page.done:
                        done[key] = page
                if inference_id not in done:
                    break
            if len(done) == len(wanted):
                return [done[i] for i in inference_ids]
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(wanted) - len(done)} of {len(wanted)} pages still pending "
                                   f"after {timeout:g} s: fetch them later by id")
            self._sleep(min(poll_interval, remaining))

    def inferences(self, model_id: str, since: dt.date | int, until: dt.date | int | None = None) -> list[OcrPage]:
        """The model's predicted pages from day ``since`` to day ``until`` (dates, or days since 1970-01-01;
        ``until`` defaults to today)."""
        first, last = _days(since), _days(until if until is not None else dt.datetime.now(dt.timezone.utc).date())
        if first > last:
            raise ValueError("since must not be after until")
        data = self._transport.request("GET", f"{INFERENCES}/Model/{_id(model_id)}/ImageLevelInferences",
                                       params=[("start_day_interval", str(first)), ("current_batch_day", str(last))])
        if not isinstance(data, dict):
            raise ServerError(f"Expected an inference listing, got: {str(data)[:100]}")
        items = [*(data.get("unmoderated_images") or []), *(data.get("moderated_images") or [])]
        return [OcrPage.from_json(item) for item in items if isinstance(item, dict)]


# ---------------------------------------------------------------------- helpers


_id = path_id


def _urls(urls: Sequence[str]) -> list[str]:
    if isinstance(urls, str):
        urls = [urls]
    clean = [str(u).strip() for u in urls or [] if str(u).strip()]
    if not clean:
        raise ValueError("No URLs given: pass one or more document URLs")
    return clean


def _days(value: dt.date | int) -> int:
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    return int(value)


def sent_name(path: PathLike) -> str:
    """The name a document is sent under: its file name, as the user knows it (what the service's errors and
    ``inferences`` then show), with the characters a multipart header cannot carry plainly (quotes, ``%``,
    backslashes, control characters) replaced by ``_``. One document goes per request, so names within a
    request never collide; the answer is matched to it by this name (the service's order is no promise)."""
    name = os.path.basename(os.fspath(path))
    clean = "".join(c if c.isprintable() and c not in '"%\\/' else "_" for c in name).strip()
    return clean or f"document{Path(name).suffix.lower()}"


def once_name(path: PathLike) -> str:
    """A name to send a document under asynchronously, used once: a random tag, ``~``, its ``sent_name``
    (``3f9a1c2b7d0e~scan.pdf``). The service lists pages by the name sent, so a send whose answer was lost
    can be looked up by it (``Ocr.sent_pages``) instead of being sent again; the file's name stays readable."""
    return f"{uuid.uuid4().hex[:12]}~{sent_name(path)}"


def page_count(path: PathLike) -> int:
    """A document's pages, counted cheaply on the client to judge how long it will take to read: 1 for an
    image; for a PDF, PDFium's count (pypdfium2, if installed; one thread at a time, since PDFium is not
    thread-safe), else its page objects counted in its bytes, else its ``/Count``, else one page per
    ``BYTES_PER_PAGE`` of its size (an encrypted or compressed-structure PDF hides the others)."""
    with open(path, "rb") as handle:
        if handle.read(5) != b"%PDF-":
            return 1
    counted = _pdfium_pages(path)
    if counted is not None:
        return max(1, counted)
    data = Path(os.fspath(path)).read_bytes()
    objects = len(_PAGE_OBJECT.findall(data))
    if objects:
        return objects
    counts = [int(n) for n in _PAGE_COUNT.findall(data)]
    if counts and max(counts) > 0:
        return max(counts)
    return max(1, -(-len(data) // BYTES_PER_PAGE))


def sync_timeout(pages: int, timeout: float) -> float:
    """Seconds a synchronous prediction of a document of ``pages`` pages may wait for its answer: the
    client's ``timeout``, or ``SYNC_SECONDS_PER_PAGE`` a page if that is longer."""
    return max(float(timeout), SYNC_SECONDS_PER_PAGE * max(1, pages))


def async_wait(pages: int) -> float:
    """Seconds ``read_asynchronously`` waits for a document's ``pages`` pages: ten minutes, or
    ``ASYNC_SECONDS_PER_PAGE`` a page if that is longer."""
    return max(600.0, ASYNC_SECONDS_PER_PAGE * max(1, pages))


_PDFIUM_LOCK = threading.Lock()
#: A page object of a PDF (``/Type /Page``, not ``/Pages``), and a page tree's count.
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z0-9])")
_PAGE_COUNT = re.compile(rb"/Count\s+(\d{1,7})")


def _pdfium_pages(path: PathLike) -> int | None:
    """PDFium's page count, or None without pypdfium2 or for a PDF it cannot open (encrypted, broken)."""
    try:
        import pypdfium2
    except ImportError:
        return None
    with _PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(os.fspath(path))
        except Exception:  # a password, a broken file: the other counts try
            return None
        try:
            return len(document)
        finally:
            document.close()


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _renamed(page: OcrPage, name: str) -> OcrPage:
    from dataclasses import replace

    return replace(page, input=name)


def _model(data: Any) -> Model:
    return model_from(data, "ocr")


def _all_pages(data: Any) -> list[OcrPage]:
    """Every page of a prediction answer, flat (an entry holding its own ``result`` list is that list)."""
    results = data.get("result") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise ServerError(f"Expected a prediction answer from the server, got: {str(data)[:100]}")
    pages: list[OcrPage] = []
    for entry in results:
        if isinstance(entry, dict) and isinstance(entry.get("result"), list):
            pages.extend(OcrPage.from_json(e) for e in entry["result"] if isinstance(e, dict))
        elif isinstance(entry, dict):
            pages.append(OcrPage.from_json(entry))
    return pages


def _pages_for(data: Any, names: Sequence[str], *, partial: bool = False) -> dict[str, list[OcrPage]]:
    """The pages of each input sent, matched by ``input`` (never by position), each in page order.

    An entry for an input not sent, or an input without any entry (unless ``partial``), is a ServerError.
    """
    by_name: dict[str, list[OcrPage]] = {name: [] for name in names}
    for page in _all_pages(data):
        name = page.input if page.input in by_name else page.input.rsplit("/", 1)[-1]
        if name not in by_name:
            if len(names) == 1 and not page.input:
                name = names[0]
            else:
                raise ServerError(f"The server answered for {page.input!r}, which was not sent")
        by_name[name].append(page)
    for name, pages in by_name.items():
        if not pages:
            if not partial:
                raise ServerError(f"The server gave no result for {name!r}")
            pages.append(OcrPage(input=name, status="failure", message="Failed: the server gave no result"))
        pages.sort(key=lambda p: p.page)
    return by_name


__all__ = ["ASYNC_PAGES", "ASYNC_SECONDS_PER_PAGE", "BYTES_PER_PAGE", "Ocr", "PREDICT_BATCH", "SYNC_SECONDS_PER_PAGE",
           "UPLOAD_BATCH", "WORKERS", "async_wait", "document_type", "once_name", "page_count", "sent_name",
           "sync_timeout"]
