"""The local server's OCR models: documents with labelled fields, training a field extractor, reading pages.

``OcrModels`` is the OCR part of the domain, beside the classification part (``Backend``), whose accounts,
store, training queue, URL fetching and limits it shares: it registers its training with the backend's
queue (``Backend.register_trainer``) and keeps its models in the same tables, with ``type`` "ocr", their
fields as the categories, and their training files in ``documents`` (docs/OCR-API.md says what each
operation takes and answers). Pages are read by ``ocr_engine``; the fields are learnt by ``ocr_fields``.
Like ``Backend``, it knows nothing of HTTP or SQL, and raises the shared errors of ``nanoclient.errors``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ...errors import BadRequestError, InvalidImageError, ModelNotTrainedError, NotFoundError
from ...types import Model
from .. import memory
from ..annotated import objects_by_file
from ..backend import Account, Backend, NamedBytes, url_errors
from ..store import DocumentRecord, InferenceRecord, ModelRecord, RunRecord
from . import TYPE, pdf_render
from . import languages as ocr_languages
from . import pretrained as ocr_pretrained
from .engine import EngineMissingError, Page, TesseractEngine, is_pdf, open_document, page_sizes
from .fields import FieldExtractor, FieldValue, LabelledBox

log = logging.getLogger("nanoclient.server")

#: The model type of OCR models, as the API names it.
OCR_TYPE = TYPE.name
#: Pages read at once (each by its own Tesseract process).
READERS = max(1, min(4, os.cpu_count() or 1))
#: Pages of one document drawn ahead of their reading: a drawn page (about 2 MB at 150 dpi) is held until
#: its words are read, so a document's memory is bounded whatever its length.
WINDOW = READERS + 1
#: A prediction of at least this many pages gives the memory it took back to the system when it is done.
GIVE_BACK_PAGES = 8
#: What a page not read because its request's client disconnected says.
CLIENT_GONE = "the client went away before this page was read"
#: Pages whose words are kept in memory (about 30 KB each), so that training again does not read them again.
WORDS_CACHED = 2000
#: Files per upload or prediction request.
FILES_MAX = 50
#: Pages a document may have (a PDF of many thousand empty pages is a few megabytes, and hours of reading).
PAGES_MAX = 1000
#: A field's name: at most this many characters.
#: Training documents whose first page is read to find a model's languages, when it names none.
LANGUAGE_SAMPLE = 24
#: Seconds in a day, for ImageLevelInferences' days since the epoch.
DAY = 86400


@dataclass(frozen=True)
class PageResult:
    """One page of a prediction: which input and page, its ids, its state and its fields."""

    id: str
    request_file_id: str
    input: str
    page: int
    state: str  # "success", "failure" or "pending"
    message: str
    fields: tuple[FieldValue, ...] = ()
    created_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The entry of ``result`` in a prediction answer (docs/OCR-API.md)."""
        return {
            "message": self.message, "input": self.input, "page": self.page, "id": self.id,
            "request_file_id": self.request_file_id, "status": self.state,
            "prediction": [{"label": v.field, "ocr_text": v.text, "score": v.score, "xmin": v.xmin,
                            "ymin": v.ymin, "xmax": v.xmax, "ymax": v.ymax} for v in self.fields],
        }


class OcrModels:
    """OCR models over a classification ``Backend``'s accounts, store, queue and fetcher."""

    def __init__(self, backend: Backend, *, engine: TesseractEngine | None = None) -> None:
        self.backend = backend
        self.store = backend.store
        self.engine = engine or TesseractEngine()
        #: Documents being read for training (each reads its pages through ``_pages``).
        self._readers: Executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="nanoclient-ocr")
        #: Pages being read: one Tesseract process each, shared by training and predictions.
        self._pages: Executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="nanoclient-ocr-page")
        #: Documents being read now, by (content hash, languages): a second request for one shares its reading.
        self._flights: dict[tuple[str, str], _Reading] = {}
        self._flights_lock = threading.Lock()
        self._async: Executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="nanoclient-ocr-async")
        self._words: OrderedDict[tuple[str, int, str], Page] = OrderedDict()
        self._words_lock = threading.Lock()
        #: The language each document is read in, for models of several (by content hash and the model's).
        self._chosen: OrderedDict[tuple[str, str], str] = OrderedDict()
        #: Pages being read now (their words not in ``_words`` yet), by the same key.
        self._being_read: dict[tuple[str, int, str], Future[Page]] = {}
        self._extractors: dict[str, tuple[int, FieldExtractor]] = {}
        backend.register_type(OCR_TYPE, train=self._train_run, describe=self._describe, close=self.close)
        for record in self.store.pending_inferences():  # their files were never kept: say so
            self.store.finish_inference(record.id, "failure", json.dumps(
                {"message": "Failed: the server stopped before this page was read; send it again"}))

    def close(self, wait: bool = True) -> None:
        """Stop reading pages (with ``wait``, once the pages being read are done) and end the PDF renderer
        processes; ``Backend.close`` calls it."""
        self._async.shutdown(wait=wait, cancel_futures=not wait)
        self._readers.shutdown(wait=wait, cancel_futures=not wait)
        self._pages.shutdown(wait=wait, cancel_futures=not wait)
        pdf_render.stop(wait)

    # ------------------------------------------------------------------ models

    def create_model(self, account: Account, fields: Sequence[str], languages: Sequence[str] = (),
                     pretrained: str | None = None) -> Model:
        """Create an OCR model that extracts these fields (non-empty, distinct names) from documents in these
        ``languages`` (Tesseract's codes; none: found in the training documents when it trains). With
        ``pretrained``, the name of a shipped extractor, it serves predictions at once (its fields: those
        given, else the extractor's), and training on its own documents adapts that extractor."""
        base = None
        if pretrained:
            try:
                base = ocr_pretrained.load(pretrained)
            except KeyError as exc:
                raise BadRequestError(str(exc.args[0]), hint="Name a pretrained extractor the server has") from None
            fields = list(fields) or base.fields
        names = self.backend.names(fields, noun="field")
        try:
            codes = ocr_languages.normalise(languages)
        except ValueError as exc:
            raise BadRequestError(str(exc), hint="Name languages as deu, eng, fra, ...") from None
        if len(codes) > ocr_languages.MOST:
            raise BadRequestError(f"Too many languages ({len(codes)})",
                                  hint=f"Name at most {ocr_languages.MOST}, most likely first")
        lacking = ocr_languages.missing(codes, self.engine.command)
        if lacking:
            raise BadRequestError("The OCR engine has no pack for " + ", ".join(lacking),
                                  hint=ocr_languages.install_hint(lacking))
        options: dict[str, Any] = {"languages": list(codes)} if codes else {}
        trained = None
        if base is not None and pretrained:
            options["pretrained"] = pretrained
            name = ocr_pretrained.file_name(pretrained)
            target = self.store.classifier_path(name)
            if not target.exists():  # written aside, then renamed: a reader never sees half a file
                aside = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
                base.save(str(aside))
                os.replace(aside, target)
            trained = (name, f"Ready: starts from the pretrained {pretrained!r} extractor (train on your own "
                             "documents to adapt it)")
        model_id = str(uuid.uuid4())
        self.store.insert_model(model_id, account.id, names, model_type=OCR_TYPE, options=options, trained=trained)
        return self.get_model(account, model_id)

    def get_model(self, account: Account, model_id: str | None) -> Model:
        """The OCR model; NotFoundError if the account has none with that id (or it is of another type)."""
        return self._describe(self._record(account, model_id))

    def annotations(self, account: Account, model_id: str | None) -> tuple[Model, list[DocumentRecord]]:
        """The model and every training document it holds, oldest first."""
        record = self._record(account, model_id)
        return self._describe(record), self.store.documents(record.id)

    def _record(self, account: Account, model_id: str | None) -> ModelRecord:
        return self.backend.record(account, model_id, OCR_TYPE)

    def _describe(self, record: ModelRecord) -> Model:
        return self.backend.describe(record, items="documents", label="field", languages=_languages(record))

    # ------------------------------------------------------------------ training files

    def upload(self, account: Account, model_id: str | None, files: Sequence[NamedBytes],
               data: object) -> tuple[Model, list[DocumentRecord]]:
        """Add documents with their annotations (``data``: the API's list, one entry per file, by file name):
        all of them, or none if any file or annotation is wrong. Return the model and the request's documents."""
        record = self._record(account, model_id)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more PNG, JPEG or PDF files as 'file' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        names = [name for name, _ in files]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise BadRequestError(f"Two files are called {twice!r}", hint="Give each file part its own name: "
                                  "annotations are matched to files by name")
        by_name = _annotations_by_file(data, names)
        items = []
        for name, content in files:
            sizes = self._sizes(name, content)
            boxes = _check_boxes(name, by_name.get(name, []), record.categories, sizes)
            items.append((content, name, boxes))
        shas = self.store.put_images([content for content, _, _ in items])
        rows = [(sha, name[:500], json.dumps(boxes), sorted({b["name"] for b in boxes}))
                for sha, (_, name, boxes) in zip(shas, items, strict=True)]
        ids, stored = self.store.add_documents_and_read(account.id, record.id, rows, dedupe=self.backend.dedupe)
        if stored is None:  # pragma: no cover - models are never deleted
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        documents = {doc.id: doc for doc in self.store.documents(record.id)}
        return self._describe(stored), [documents[i] for i in dict.fromkeys(ids)]

    def upload_urls(self, account: Account, model_id: str | None, urls: Sequence[str],
                    data: object) -> tuple[Model, list[DocumentRecord], list[tuple[str, str]]]:
        """Fetch documents by URL and add those that worked with their annotations (named by URL);
        return (model, the documents added, [(url, why it failed)]). BadRequestError if none worked."""
        self._record(account, model_id)
        annotations = _annotations_by_file(data, self.backend.check_urls(urls))  # checked before fetching
        fetched, failed = self._fetch(urls)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG, JPEG or PDF document", errors=url_errors(failed))
        kept = [{"filename": url, "object": annotations[url]} for url, _ in fetched if url in annotations]
        model, documents = self.upload(account, model_id, fetched, kept)
        return model, documents, failed

    def _sizes(self, name: str, content: bytes) -> list[tuple[int, int]]:
        """Each page's size, checking that the file is a document (else InvalidImageError naming it)."""
        try:
            if not is_pdf(content):
                self.backend.check_image(content)
            sizes = page_sizes(content)
        except InvalidImageError as exc:
            raise InvalidImageError(f"{name}: {exc.message}", errors=[
                {"reason": "invalid_image", "message": f"{name}: {exc.message}"}]) from None
        except pdf_render.DocumentError as exc:  # a PDF that cannot be read, or crashed or hung the renderer
            raise InvalidImageError(f"{name}: {exc}", errors=[
                {"reason": "invalid_image", "message": f"{name}: {exc}"}]) from None
        except (ValueError, OSError) as exc:
            raise InvalidImageError(f"{name}: not a PNG, JPEG or PDF document ({exc})", errors=[
                {"reason": "invalid_image", "message": f"{name}: not a PNG, JPEG or PDF document"}]) from None
        except EngineMissingError as exc:
            raise BadRequestError(f"{name}: {exc}") from None
        if len(sizes) > PAGES_MAX:
            message = f"{name}: {len(sizes)} pages, more than the {PAGES_MAX} a document may have"
            raise InvalidImageError(message, errors=[{"reason": "invalid_image", "message": message}])
        return sizes

    def _fetch(self, urls: Sequence[str]) -> tuple[list[NamedBytes], list[tuple[str, str]]]:
        """Fetch the URLs (concurrently, as the classification part does) and keep what is a document."""
        return self.backend.fetch_all(self.backend.check_urls(urls), lambda data: self._sizes("the document", data))

    # ------------------------------------------------------------------ training

    def train(self, account: Account, model_id: str | None) -> Model:
        """Queue the model for training (answered at once); BadRequestError if a field lacks documents."""
        record = self._record(account, model_id)
        short = [name for name in record.categories if record.counts[name] < self.backend.min_images]
        if short:
            raise BadRequestError("Model is not ready to train", hint="Label each field in at least {} documents; "
                                  "short: {}".format(self.backend.min_images,
                                                     ", ".join(f"{n} ({record.counts[n]})" for n in short)))
        return self.backend.queue_training(account, record.id, describe=self._describe)

    def _train_run(self, run: RunRecord, record: ModelRecord) -> None:
        """Read every training document and fit the extractor (called by the backend's training worker)."""
        from . import fields as ocr_fields

        documents = self.store.documents(run.model_id, run.last_image_id)
        pages_done = [0]
        total = sum(_page_total(doc) for doc in documents) or 1
        languages = tuple(record.options.get("languages") or ()) or self._detect_languages(run, documents)

        def read(document: DocumentRecord) -> list[tuple[Page, list[LabelledBox]]]:
            try:
                content = self.store.image_path(document.sha256).read_bytes()
                pages = self._read_document(document.sha256, content,
                                            self._document_languages(document.sha256, content, languages))
            except EngineMissingError:
                raise
            except (ValueError, RuntimeError, OSError) as exc:  # that document only: training goes on without it
                log.warning("OCR model %s: training document %s left out: %s", run.model_id, document.name, exc)
                return []
            pages_done[0] += len(pages)
            self.store.set_run_status(run.id, f"Training: reading documents {min(99, 100 * pages_done[0] // total)}%")
            return _labelled_pages(pages, json.loads(document.annotation))

        named = [(doc.name, pages) for doc, pages in zip(documents, self._readers.map(read, documents), strict=True)
                 if pages]
        self.store.set_run_status(run.id, "Training: finding the values given without a box")
        read_documents, missing = ocr_fields.place_values([pages for _, pages in named], record.categories)
        lost = [(named[value.document][0], value.field, value.text) for value in missing]
        if lost:
            log.warning("OCR model %s: %d values given without a box were not found: %s", run.model_id, len(lost),
                        "; ".join(f"{document} {field} {text!r}" for document, field, text in lost))
        extractor, measured, held_out = ocr_fields.train(
            read_documents, record.categories, base=_pretrained(record),
            progress=lambda text: self.store.set_run_status(run.id, f"Training: {text}"))
        name = f"{run.id}.ocr"
        extractor.save(str(self.store.classifier_path(name)))
        self.store.finish_run(run.id, accuracy=measured, accuracy_images=held_out if measured is not None else None,
                              classifier=name, status="Model trained" + _missing_status(lost))
        self._extractors[run.model_id] = (run.id, extractor)
        log.info("OCR model %s trained on %d documents (held-out exact-text accuracy %s on %d values)",
                 run.model_id, len(read_documents), "n/a" if measured is None else f"{measured:.3f}", held_out)
        del read_documents, extractor
        memory.give_back()

    def _detect_languages(self, run: RunRecord, documents: Sequence[DocumentRecord]) -> tuple[str, ...]:
        """The languages of a model that names none, found in the first page of a sample of its training
        documents read in English, and kept with the model for its predictions."""
        self.store.set_run_status(run.id, "Training: finding the documents' languages")
        step = max(1, len(documents) // LANGUAGE_SAMPLE)
        sample = list(documents[::step][:LANGUAGE_SAMPLE])

        def first_page_words(document: DocumentRecord) -> list[str]:
            try:
                pages = self._read_document(document.sha256, self.store.image_path(document.sha256).read_bytes(),
                                            ocr_languages.DEFAULT, first_only=True)
            except (ValueError, RuntimeError, OSError):  # said when training reads it
                return []
            return [word.text for page in pages for word in page.words]

        available = ocr_languages.installed(self.engine.command) or ocr_languages.LANGUAGES
        found = ocr_languages.vote(self._readers.map(first_page_words, sample), available=available)
        self.store.update_model_options(run.model_id, {"detected_languages": list(found)})
        log.info("OCR model %s: documents read in %s (found in %d documents)", run.model_id, "+".join(found),
                 len(sample))
        return found

    def _extractor(self, record: ModelRecord) -> FieldExtractor:
        done = record.done_run
        if done is None or not done.classifier:
            raise ModelNotTrainedError("Model is not trained yet",
                                       hint="Call Train and wait until the model's state is 5")
        known = self._extractors.get(record.id)
        if known is None or known[0] != done.id:
            known = (done.id, FieldExtractor.load(self.store.classifier_path(done.classifier)))
            self._extractors[record.id] = known
        return known[1]

    # ------------------------------------------------------------------ reading pages

    def _document_languages(self, sha: str, content: bytes, languages: Sequence[str]) -> tuple[str, ...]:
        """Which of a model's languages one document is read in: the first, or, for a model of several, the one
        the words of its first page (read in the first) show (``ocr_languages.pick``; kept by content)."""
        if len(languages) <= 1:
            return tuple(languages)
        key = (sha, "+".join(languages))
        with self._words_lock:
            chosen = self._chosen.get(key)
        if chosen is None:
            first = self._read_document(sha, content, languages[:1], first_only=True)
            chosen = ocr_languages.pick([word.text for page in first for word in page.words], languages)
            with self._words_lock:
                self._chosen[key] = chosen
                while len(self._chosen) > WORDS_CACHED:
                    self._chosen.popitem(last=False)
        return (chosen,)

    def _read_document(self, sha: str, content: bytes, languages: Sequence[str], *,
                       first_only: bool = False) -> list[Page]:
        """The words of every page of a document (or its first) read in ``languages``, from the cache when
        it was read so before; the first page's error if a page cannot be read."""
        pages: list[Page] = []
        for _, page in self._read_pages(sha, content, languages, limit=1 if first_only else None):
            if isinstance(page, Exception):
                raise page
            pages.append(page)
        return pages

    def _read_pages(self, sha: str, content: bytes, languages: Sequence[str],
                    cancelled: Callable[[], bool] = lambda: False, *, start: int = 0,
                    limit: int | None = None) -> Iterator[tuple[int, Page | Exception]]:
        """(index, words or why they could not be read) of each page from ``start``, in order, as they are read.

        At most WINDOW pages are drawn ahead of their reading. A document being read already for another
        request (the same bytes, the same languages) is not read again: this one waits for its pages and
        shares them. Stops early (yielding fewer pages) once ``cancelled()`` holds and no other request
        wants the pages; raises the document's error if it cannot be opened at all (``limit``: read at
        most that many pages).
        """
        key = (sha, "+".join(languages))
        party = _Party(cancelled)
        with self._flights_lock:
            reading = self._flights.get(key) if start == 0 and limit is None else None
            leader = reading is None
            if reading is None:
                reading = _Reading()
                if start == 0 and limit is None:
                    self._flights[key] = reading
            reading.parties.append(party)
        try:
            if leader:
                yield from self._lead(key, reading, content, languages, start, limit)
                return
            index = start
            while True:
                with reading.changed:
                    while not reading.finished and index not in reading.pages and not party.gone():
                        reading.changed.wait(0.5)
                    found = reading.pages.get(index)
                    count, error, finished = reading.count, reading.error, reading.finished
                if found is not None:
                    yield index, found
                    index += 1
                    if count is not None and index >= count:
                        return
                    continue
                if party.gone():
                    return
                if error is not None:
                    raise error
                if finished:  # the reading stopped before this page: read the rest here
                    yield from self._read_pages(sha, content, languages, cancelled, start=index)
                    return
        finally:
            with self._flights_lock:
                reading.parties.remove(party)

    def _lead(self, key: tuple[str, str], reading: _Reading, content: bytes, languages: Sequence[str],
              start: int, limit: int | None) -> Iterator[tuple[int, Page | Exception]]:
        """Read the pages for ``reading`` (see ``_read_pages``), publishing each for the requests that share it."""
        sha = key[0]

        def publish(index: int, result: Page | Exception) -> None:
            with reading.changed:
                reading.pages[index] = result
                reading.changed.notify_all()

        try:
            with open_document(content) as document:
                count = document.pages if limit is None else min(document.pages, start + limit)
                with reading.changed:
                    reading.count = count
                    reading.changed.notify_all()
                window: deque[tuple[int, Page | Exception | Future[Page]]] = deque()
                index = start
                while index < count or window:
                    while index < count and len(window) < WINDOW and self._wanted(key, reading):
                        known = self._known((sha, index, key[1]))
                        if known is not None:  # read before, or being read for a reading that was given up
                            window.append((index, known))
                        else:
                            try:
                                image = document.page(index)
                            except (pdf_render.RendererCrashedError, pdf_render.RendererTimeoutError) as exc:
                                window.extend((i, exc) for i in range(index, count))  # not tried again
                                index = count
                                break
                            except (ValueError, OSError) as exc:  # this page cannot be drawn (too large, broken)
                                window.append((index, exc))
                                index += 1
                                continue
                            window.append((index, self._submit(sha, index, languages, image)))
                            del image
                        index += 1
                    if not window:  # nobody wants the other pages any more
                        return
                    page_index, item = window.popleft()
                    if isinstance(item, Future):
                        try:
                            item = item.result()
                        except Exception as exc:  # that page only (Tesseract failed, or timed out)
                            item = exc
                    publish(page_index, item)
                    yield page_index, item
        except Exception as exc:
            with reading.changed:
                if reading.count is None:  # it could not be opened: every request for it gets the error
                    reading.error = exc
            raise
        finally:
            with self._flights_lock:
                if self._flights.get(key) is reading:
                    del self._flights[key]
            with reading.changed:
                reading.finished = True
                reading.changed.notify_all()

    def _wanted(self, key: tuple[str, str], reading: _Reading) -> bool:
        """Whether some request still wants the document's pages; if none does, it is no longer shared
        (a request arriving now reads it anew)."""
        with self._flights_lock:
            if any(not party.gone() for party in reading.parties):
                return True
            if self._flights.get(key) is reading:
                del self._flights[key]
            return False

    def _known(self, key: tuple[str, int, str]) -> Page | Future[Page] | None:
        """A page's words from the cache, or the reading of it under way (a reading stopped because its
        client went away leaves its last pages being read: a retry takes them up), or None."""
        with self._words_lock:
            page = self._words.get(key)
            if page is not None:
                self._words.move_to_end(key)
                return page
            return self._being_read.get(key)

    def _submit(self, sha: str, index: int, languages: Sequence[str], image: Any) -> Future[Page]:
        """Read a page in a ``_pages`` thread, known as being read until its words are in the cache."""
        key = (sha, index, "+".join(languages))
        with self._words_lock:
            future = self._pages.submit(self._read_page, sha, index, languages, image)
            self._being_read[key] = future

        def forget(done: Future[Page]) -> None:
            with self._words_lock:
                if self._being_read.get(key) is done:
                    del self._being_read[key]

        future.add_done_callback(forget)
        return future

    def _read_page(self, sha: str, index: int, languages: Sequence[str], image: Any) -> Page:
        """Read one page's words (in a ``_pages`` thread) and keep them in the cache."""
        page = self.engine.read(image, languages)
        with self._words_lock:
            self._words[(sha, index, "+".join(languages))] = page
            while len(self._words) > WORDS_CACHED:
                self._words.popitem(last=False)
        return page

    # ------------------------------------------------------------------ predictions

    def predict(self, account: Account, model_id: str | None, files: Sequence[NamedBytes], *,
                asynchronous: bool = False, cancelled: Callable[[], bool] | None = None) -> list[PageResult]:
        """Read the fields of each file's pages, in input order; with ``asynchronous`` answer at once
        with pending pages, read in the background and fetched later by id (``inference``).

        ``cancelled()`` says whether the asker has gone (e.g. its client disconnected): the pages not read
        by then are not read, and are stored as failed (CLIENT_GONE). Asynchronous predictions are read
        whatever it says."""
        record = self._record(account, model_id)
        extractor = self._extractor(record)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more PNG, JPEG or PDF files as 'file' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        counts = [len(self._sizes(name, content)) for name, content in files]
        now = time.time()
        pending: list[PageResult] = []
        for (name, _), count in zip(files, counts, strict=True):
            file_id = str(uuid.uuid4())
            pending.extend(PageResult(str(uuid.uuid4()), file_id, name, page, "pending", "Pending", (), now)
                           for page in range(count))
        self.store.add_inferences([_inference_record(record.id, result) for result in pending])
        languages = _languages(record)
        if asynchronous:
            self._async.submit(self._read_all, languages, extractor, files, pending)
            return pending
        return self._read_all(languages, extractor, files, pending, cancelled or _never)

    def predict_urls(self, account: Account, model_id: str | None, urls: Sequence[str], *,
                     asynchronous: bool = False,
                     cancelled: Callable[[], bool] | None = None) -> tuple[list[PageResult], int]:
        """Predict documents by URL; return (pages in URL order, a failure entry per URL that failed, and
        how many failed). BadRequestError if none could be fetched."""
        record = self._record(account, model_id)
        self._extractor(record)
        fetched, failed = self._fetch(urls)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG, JPEG or PDF document", errors=url_errors(failed))
        results = self.predict(account, model_id, fetched, asynchronous=asynchronous, cancelled=cancelled)
        by_url: dict[str, list[PageResult]] = {}
        for result in results:
            by_url.setdefault(result.input, []).append(result)
        reasons = dict(failed)
        ordered: list[PageResult] = []
        for url in self.backend.check_urls(urls):
            if url in by_url:
                ordered.extend(by_url.pop(url))
            elif url in reasons:
                ordered.append(PageResult("", "", url, 0, "failure", f"Failed: {reasons.pop(url)}"))
        return ordered, len(failed)

    def _read_all(self, languages: Sequence[str], extractor: FieldExtractor, files: Sequence[NamedBytes],
                  pending: Sequence[PageResult], cancelled: Callable[[], bool] = lambda: False) -> list[PageResult]:
        """Read each file's pages (one file after the other, its pages in parallel) and store each page's
        answer as soon as it is known."""
        by_input: dict[str, list[PageResult]] = {}
        for result in pending:
            by_input.setdefault(result.request_file_id, []).append(result)

        def finish(result: PageResult, state: str, message: str, fields: tuple[FieldValue, ...] = ()) -> PageResult:
            done = PageResult(result.id, result.request_file_id, result.input, result.page, state, message, fields,
                              result.created_at)
            self.store.finish_inference(done.id, done.state, json.dumps(done.to_json()))
            return done

        def one(item: tuple[NamedBytes, list[PageResult]]) -> list[PageResult]:
            (name, content), pages = item
            done: list[PageResult] = []
            sha = hashlib.sha256(content).hexdigest()
            said: set[str] = set()
            try:
                for index, page in self._read_pages(sha, content, self._document_languages(sha, content, languages),
                                                    cancelled):
                    if index >= len(pages):
                        break
                    if isinstance(page, Exception):
                        if str(page) not in said:  # a renderer crash fails every page after it: said once
                            said.add(str(page))
                            log.warning("reading page %d of %s failed: %s", index + 1, name, page)
                        done.append(finish(pages[index], "failure", f"Failed: {page}"))
                    else:
                        done.append(finish(pages[index], "success", "Success",
                                           tuple(extractor.predict(page, index, len(pages)))))
            except Exception as exc:
                log.warning("reading %s failed: %s", name, exc)
                done.extend(finish(r, "failure", f"Failed: {exc}") for r in pages[len(done):])
            if len(done) < len(pages):
                why = CLIENT_GONE if cancelled() else "the page was not read"
                if cancelled():
                    log.info("%s: %d of its pages not read: the client went away", name, len(pages) - len(done))
                done.extend(finish(r, "failure", f"Failed: {why}") for r in pages[len(done):])
            return done

        groups = list(zip(files, by_input.values(), strict=True))
        results = [result for group in map(one, groups) for result in group]
        if len(pending) >= GIVE_BACK_PAGES:
            memory.give_back()
        return results

    def inference(self, account: Account, model_id: str | None, inference_id: str | None) -> list[PageResult]:
        """A stored prediction: the page with this id, or every page of the input with this request file id."""
        record = self._record(account, model_id)
        if not inference_id:
            raise BadRequestError("Missing inference id", hint="Use an id from a prediction's answer")
        found = self.store.inference(record.id, inference_id)
        pages = [found] if found is not None else [
            r for r in self.store.inferences(record.id, 0, 1 << 40) if r.request_file_id == inference_id]
        if not pages:
            raise NotFoundError("Inference does not exist", hint="Use an id from a prediction's answer")
        return [_page_result(r) for r in pages]

    def inferences(self, account: Account, model_id: str | None, start_day: str | None,
                   end_day: str | None) -> list[PageResult]:
        """The model's predicted pages made from day ``start_day`` to day ``end_day`` (days since 1970-01-01)."""
        record = self._record(account, model_id)
        first, last = _day(start_day, "start_day_interval"), _day(end_day, "current_batch_day")
        if first > last:
            raise BadRequestError("start_day_interval is after current_batch_day",
                                  hint="Give the first day, then the last (days since 1970-01-01)")
        return [_page_result(r) for r in self.store.inferences(record.id, first, last)]


# ---------------------------------------------------------------------- helpers


def _never() -> bool:
    return False


class _Party:
    """One request waiting for a document's pages (``_Reading``), with what says it has gone."""

    def __init__(self, cancelled: Callable[[], bool]) -> None:
        self._cancelled = cancelled
        self._gone = False

    def gone(self) -> bool:
        """Whether the request has gone (once gone, always gone; a failing check counts as gone)."""
        if not self._gone:
            try:
                self._gone = bool(self._cancelled())
            except Exception:
                self._gone = True
        return self._gone


class _Reading:
    """One document being read, shared by every request for it that comes meanwhile (single flight)."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        #: Each page read so far: its words, or why it could not be read.
        self.pages: dict[int, Page | Exception] = {}
        #: The pages to read (None until the document is open).
        self.count: int | None = None
        #: Why the document could not be opened, if it could not.
        self.error: Exception | None = None
        #: The reading has ended (every page read, or stopped).
        self.finished = False
        #: The requests waiting for its pages.
        self.parties: list[_Party] = []


def today() -> int:
    """Today, in days since 1970-01-01 (UTC): what ImageLevelInferences' days count."""
    return int(time.time() // DAY)


def _day(value: str | None, name: str) -> int:
    if value is None or not str(value).strip():
        raise BadRequestError(f"Missing {name}", hint=f"Pass {name} as a whole number of days since 1970-01-01 "
                                                     f"(today is {today()})")
    try:
        return int(str(value).strip())
    except ValueError:
        raise BadRequestError(f"{name} must be a whole number of days since 1970-01-01",
                              hint=f"Today is {today()}") from None


def _inference_record(model_id: str, result: PageResult) -> InferenceRecord:
    return InferenceRecord(result.id, model_id, result.request_file_id, result.input, result.page, result.state,
                           "", int(result.created_at // DAY), result.created_at)


def _page_result(record: InferenceRecord) -> PageResult:
    if record.state == "pending" or not record.result:
        return PageResult(record.id, record.request_file_id, record.input, record.page, record.state, "Pending",
                          (), record.created_at)
    body = json.loads(record.result)
    values = tuple(FieldValue(p["label"], p["ocr_text"], p["score"], p["xmin"], p["ymin"], p["xmax"], p["ymax"])
                   for p in body.get("prediction", []))
    return PageResult(record.id, record.request_file_id, record.input, record.page, record.state,
                      str(body.get("message", "")), values, record.created_at)


def _pretrained(record: ModelRecord) -> FieldExtractor | None:
    """The shipped extractor a model started from, which its training adapts (None: none, or no longer
    shipped: then it learns from its own documents alone, as the log says)."""
    name = record.options.get("pretrained")
    if not name:
        return None
    try:
        return ocr_pretrained.load(str(name))
    except KeyError:
        log.warning("OCR model %s started from the pretrained %r extractor, which this version does not ship: "
                    "it learns from its own documents alone", record.id, name)
        return None


def _languages(record: ModelRecord) -> tuple[str, ...]:
    """The languages a model's pages are read in: those named at creation, else those found in its training
    documents, else English."""
    named = record.options.get("languages") or record.options.get("detected_languages")
    return tuple(named) if named else ocr_languages.DEFAULT


def _page_total(document: DocumentRecord) -> int:
    return 1 + max((int(item.get("page", 0)) for item in json.loads(document.annotation)), default=0)


def _annotations_by_file(data: object, names: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
    return objects_by_file(data, names, box='{"name", "ocr_text", "bndbox": {"xmin", "ymin", "xmax", "ymax"}}')


def _check_boxes(name: str, objects: Sequence[Mapping[str, Any]], fields: Sequence[str],
                 sizes: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """The boxes of one file in the stored form; BadRequestError naming the file and field for a bad one."""
    boxes = []
    for item in objects:
        field = item.get("name")
        if field not in fields:
            raise BadRequestError(f"{name}: {field!r} is not a field of the model",
                                  hint="The model's fields are: " + ", ".join(fields))
        box = item.get("bndbox")
        if box is None:  # a value without a box: training finds it on the page
            boxes.append(_value_only(name, str(field), item, len(sizes)))
            continue
        if not isinstance(box, dict):
            raise BadRequestError(f"{name}: field {field!r} has no bndbox", hint="Give xmin, ymin, xmax, ymax")
        try:
            xmin, ymin = (math.floor(float(box[k])) for k in ("xmin", "ymin"))
            xmax, ymax = (math.ceil(float(box[k])) for k in ("xmax", "ymax"))
            page = int(item.get("page", 0) or 0)
        except (KeyError, TypeError, ValueError):
            raise BadRequestError(f"{name}: field {field!r} has a box without numeric xmin, ymin, xmax, ymax",
                                  hint="Give each coordinate as a number of pixels") from None
        if not 0 <= page < len(sizes):
            raise BadRequestError(f"{name}: field {field!r} is on page {page}, but the file has {len(sizes)}",
                                  hint="Count pages from 0")
        width, height = sizes[page]
        if xmin >= xmax or ymin >= ymax:
            raise BadRequestError(f"{name}: field {field!r} has an empty box ({xmin},{ymin})-({xmax},{ymax})",
                                  hint="xmin must be below xmax and ymin below ymax")
        if xmin < 0 or ymin < 0 or xmax > width or ymax > height:
            raise BadRequestError(f"{name}: field {field!r}'s box ({xmin},{ymin})-({xmax},{ymax}) is outside the "
                                  f"page ({width} x {height})", hint="Give boxes in pixels of the page")
        text = item.get("ocr_text")
        stored: dict[str, Any] = {"name": field, "bndbox": {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}}
        if text is not None:
            stored["ocr_text"] = text if isinstance(text, str) else json.dumps(text)
        if page:
            stored["page"] = page
        boxes.append(stored)
    return boxes


def _value_only(name: str, field: str, item: Mapping[str, Any], pages: int) -> dict[str, Any]:
    """A field given by its value alone, in the stored form (``page`` kept only when given: else any page)."""
    text = item.get("ocr_text")
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = json.dumps(text)
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError(f"{name}: field {field!r} has neither a bndbox nor an ocr_text",
                              hint="Give the value's box (xmin, ymin, xmax, ymax), or its text to find it by")
    stored: dict[str, Any] = {"name": field, "ocr_text": text}
    if item.get("page") is not None and item.get("page") != "":
        try:
            page = int(item["page"])
        except (TypeError, ValueError):
            raise BadRequestError(f"{name}: field {field!r} has page {item['page']!r}",
                                  hint="Count pages from 0") from None
        if not 0 <= page < pages:
            raise BadRequestError(f"{name}: field {field!r} is on page {page}, but the file has {pages}",
                                  hint="Count pages from 0")
        stored["page"] = page
    return stored


#: Values not found in training that a model's status names (the server's log names them all).
MISSING_NAMED = 5


def _labelled_pages(pages: Sequence[Page], items: Sequence[Mapping[str, Any]]) -> list[tuple[Page, list[LabelledBox]]]:
    """A document's pages with the fields labelled on each: a box on its page; a value without a box on its
    page, or on every page (``anywhere``) when no page was given."""
    boxes: dict[int, list[LabelledBox]] = {}
    for item in items:
        box = item.get("bndbox")
        if box is not None:
            boxes.setdefault(int(item.get("page", 0)), []).append(LabelledBox(
                item["name"], item.get("ocr_text"), box["xmin"], box["ymin"], box["xmax"], box["ymax"]))
        elif "page" in item:
            boxes.setdefault(int(item["page"]), []).append(LabelledBox(item["name"], item.get("ocr_text")))
        else:
            label = LabelledBox(item["name"], item.get("ocr_text"), anywhere=True)
            for index in range(len(pages)):
                boxes.setdefault(index, []).append(label)
    return [(page, boxes.get(index, [])) for index, page in enumerate(pages)]


def _missing_status(missing: Sequence[tuple[str, str, str]]) -> str:
    """What a trained model's status says of the values given without a box that were not found (nothing if
    every one was found)."""
    if not missing:
        return ""
    named = "; ".join(f"{document} {field} {text!r}" for document, field, text in missing[:MISSING_NAMED])
    more = f" and {len(missing) - MISSING_NAMED} more (the server's log names them)" if len(missing) > MISSING_NAMED \
        else ""
    return (f"; {len(missing)} value{'s' if len(missing) != 1 else ''} given without a box not found on "
            f"{'their' if len(missing) != 1 else 'its'} document's pages, left out: {named}{more}")


__all__ = ["OCR_TYPE", "OcrModels", "PageResult", "today"]
