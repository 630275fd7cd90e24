"""Uploading many labelled files: batches, concurrency, and knowing what the server stored.

``Client.upload_files`` is a ``Batcher`` (which files go together) driven by an ``UploadRun``
(which requests go when, and what each answer means). How careful the run is depends on
what the server declares about itself:

* A server that declares ``Nanoclient-Dedupe: sha256`` (``nanoclient serve`` by default)
  counts identical bytes once, so sending a file twice is harmless: failed requests are
  retried blindly and batches of one category run in parallel.
* Any other server, the hosted service included, may store a file twice if it is sent twice.
  Then the run keeps exactly-once by the model's image count per category:

  - at most one batch per category is in flight, so that the category's count tells exactly
    what the server did with it;
  - a request is retried blindly only when it surely was not processed (connection refused,
    429, 503);
  - every answered batch is checked: the count must have grown by the batch's size. If it grew
    by one, the server keeps only the first part of a request: the batch's other files, and the
    rest of the upload, go one file per request. (Until the first answer shows which kind of
    server it is, one batch of several files per category may be in flight: that much is sent
    twice to a server that keeps one part, and nothing is stored twice.)
  - after an ambiguous failure (read timeout, dropped connection, 5xx other than 503) the
    count is read: grown by the batch means stored, unchanged means sent again, anything
    else means *unsettled*, and the files are reported as such, never counted or doubled.

  This relies on nobody else uploading to the same model and category during the run.

With an upload journal (``_journal.UploadJournal``), each request is recorded before it goes and
its outcome once known, so that a run stopped in any way is settled by the next one (see
``_journal``); files the journal has as stored are not sent again, nor, unless asked, files it has
as unsettled.
"""
from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ._journal import UploadJournal, file_digest
from ._transport import FilePart, may_have_been_processed
from ._wire import DEDUPE_BY_SHA256, DEDUPE_HEADER
from .errors import (
    APIConnectionError,
    AuthenticationError,
    InvalidImageError,
    NanonetsError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
)
from .types import Model, PathLike, UploadReport

#: Errors after which every other file would fail the same way: the upload stops.
#: (APIConnectionError comes only after every retry: the server is gone, not one request.)
FATAL_ERRORS = (AuthenticationError, NotFoundError, PaymentRequiredError, APIConnectionError)

#: Sends one batch: (category, parts, idempotent) -> the model the server answered.
SendBatch = Callable[[str, Sequence[FilePart], bool], Model]
#: Reads the model (for its counts).
ReadModel = Callable[[], Model]
#: Checks one file and makes its part; raises InvalidImageError or OSError for a file that cannot be sent.
MakePart = Callable[[PathLike], FilePart]
#: The SHA-256 of a file's bytes, as hex (OSError if it cannot be read).
Digest = Callable[[PathLike], str]
#: Which files a run with a journal sends: those not recorded as stored ("missing"), those and the
#: unsettled ones ("unsettled"), or every one ("all").
Resend = Literal["missing", "unsettled", "all"]
#: Seconds that Ctrl-C waits for the answers already on their way, so that their outcome is recorded.
INTERRUPT_GRACE = 1.0


def declares_dedupe(headers: Mapping[str, str]) -> bool:
    """True when a server's response says that it counts identical bytes once."""
    return headers.get(DEDUPE_HEADER, "").strip().lower() == DEDUPE_BY_SHA256


# ---------------------------------------------------------------------- batching


@dataclass
class Batch:
    """Files of one category to send in one request."""

    category: str
    paths: list[PathLike] = field(default_factory=list)
    size: int = 0


class Batcher:
    """Groups (path, category) items into batches of one category.

    A batch closes at ``max_files`` files, or before a file that would take it past
    ``max_bytes`` (a single larger file goes alone). Pure: no I/O beyond what it is given.
    """

    def __init__(self, max_files: int, max_bytes: int) -> None:
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._open: dict[str, Batch] = {}

    def add(self, path: PathLike, category: str, size: int) -> list[Batch]:
        """Put a file in its category's open batch; return the batches this closed."""
        closed: list[Batch] = []
        batch = self._open.get(category)
        if batch is not None and batch.paths and batch.size + size > self.max_bytes:
            closed.append(self._open.pop(category))
            batch = None
        if batch is None:
            batch = self._open[category] = Batch(category)
        batch.paths.append(path)
        batch.size += size
        if len(batch.paths) >= self.max_files:
            closed.append(self._open.pop(category))
        return closed

    def flush(self) -> list[Batch]:
        """Every batch still open (the end of the items)."""
        batches = list(self._open.values())
        self._open.clear()
        return batches


# ---------------------------------------------------------------------- one batch


@dataclass(frozen=True)
class Uploaded:
    """The server stored the file; ``model`` is the model it answered with (or was read back)."""

    path: PathLike
    model: Model


@dataclass(frozen=True)
class Already:
    """The journal records the file as stored on the model: it was not sent again."""

    path: PathLike


@dataclass(frozen=True)
class Skipped:
    """The file was never sent: not an image, unreadable, or no category."""

    path: PathLike
    reason: str


@dataclass(frozen=True)
class Failed:
    """The server did not store the file; ``error`` says why."""

    path: PathLike
    error: Exception


@dataclass(frozen=True)
class Unsettled:
    """The server may or may not have stored the file, and the client could not find out."""

    path: PathLike
    reason: str


#: What happened to one file.
FileOutcome = Uploaded | Already | Skipped | Failed | Unsettled


@dataclass
class BatchResult:
    """What a worker did with one batch."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    #: The category's count once the batch was dealt with (None: unknown, to read again).
    count: int | None = None
    #: What the batch showed about several files per request: True (all stored), False (only the first).
    multi: bool | None = None
    #: An error that stops the whole upload.
    fatal: Exception | None = None


class _BatchSender:
    """Sends one batch in a worker thread and works out what the server did with each file."""

    def __init__(self, send: SendBatch, read_model: ReadModel, make_part: MakePart, *, careful: bool,
                 resends: int, multi_ok: bool | None, journal: UploadJournal | None = None,
                 digest: Digest | None = None, resend: Resend = "missing", stop: threading.Event | None = None) -> None:
        self.send = send
        self.read_model = read_model
        self.make_part = make_part
        self.careful = careful
        self.resends = resends
        self.multi_ok = multi_ok
        self.journal = journal
        self.digest = digest
        self.resend = resend
        self.stop = stop or threading.Event()

    def run(self, batch: Batch, count: int | None) -> BatchResult:
        result = BatchResult(count=count)
        parts: list[FilePart] = []
        digests: dict[str, str] = {}
        for path in batch.paths:
            try:
                # the journal's verdict before the file is read when the caller knows its digest; else
                # after, from the bytes read (hashed here, in the workers, not by the thread that reads items)
                digest = self.digest(path) if self.journal is not None and self.digest is not None else None
                held = None if digest is None else self._held_back(path, digest, batch.category)
                if held is None:
                    part = self.make_part(path)
                    if self.journal is not None and digest is None:
                        digest = (hashlib.sha256(part.data).hexdigest() if part.data is not None
                                  else file_digest(path))
                        held = self._held_back(path, digest, batch.category)
                if held is not None:
                    result.outcomes.append(held)
                    continue
                if digest is not None:
                    digests[str(path)] = digest
                parts.append(part)
            except InvalidImageError as exc:
                result.outcomes.append(Skipped(path, exc.message))
            except (OSError, ValueError) as exc:
                result.outcomes.append(Skipped(path, str(exc)))
        groups: deque[list[FilePart]] = deque([parts] if parts else [])
        while groups and result.fatal is None and not self.stop.is_set():
            self._send_group(batch.category, groups, result, digests)
        return result

    def _held_back(self, path: PathLike, digest: str, category: str) -> FileOutcome | None:
        """What becomes of a file the journal knows, instead of being sent: Already (stored), Unsettled
        (unless asked to send those too); None to send it."""
        assert self.journal is not None
        state = None if self.resend == "all" else self.journal.state(digest, category)
        if state == "stored":
            return Already(path)
        if state == "unsettled" and self.resend == "missing":
            why = self.journal.unsettled_reason(digest, category)
            return Unsettled(path, f"unsettled since an earlier upload ({why}): not sent again, as that might "
                                   "store it twice")
        return None

    def _send_group(self, category: str, groups: deque[list[FilePart]], result: BatchResult,
                    digests: Mapping[str, str]) -> None:
        """Send the first group of ``groups`` until its fate is known (more groups may be queued),
        recorded in the journal before it goes and once its fate is known."""
        group = groups.popleft()
        if self.careful and result.count is None:  # the count was lost: read it before sending more
            try:
                result.count = _count(self.read_model(), category)
            except NanonetsError as exc:
                result.outcomes += [Failed(p.path, exc) for p in group]
                result.fatal = exc if isinstance(exc, FATAL_ERRORS) else None
                return
        if self.journal is None:
            self._send(category, group, groups, result)
            return
        entry = self.journal.begin(category, result.count if self.careful else None,
                                   [(digests.get(str(p.path), ""), str(p.path)) for p in group])
        known = len(result.outcomes)
        self._send(category, group, groups, result)
        outcomes = result.outcomes[known:]
        unsettled = [o for o in outcomes if isinstance(o, Unsettled)]
        if unsettled:
            self.journal.unsettled(entry, unsettled[0].reason, result.count)
        else:  # what was stored is the group's first files: all, the first one, or none
            self.journal.stored(entry, sum(isinstance(o, Uploaded) for o in outcomes))

    def _send(self, category: str, group: list[FilePart], groups: deque[list[FilePart]],
              result: BatchResult) -> None:
        """Send one group, retrying while that is safe, and add its files' outcomes to ``result``
        (or queue them again as smaller groups)."""
        tries = 0
        while True:
            try:
                model = self.send(category, group, not self.careful)
            except (InvalidImageError, PayloadTooLargeError) as exc:
                if len(group) > 1:  # find the files at fault: the others are stored
                    groups.extendleft(reversed([[part] for part in group]))
                else:
                    result.outcomes.append(Failed(group[0].path, exc))
                return
            except NanonetsError as exc:
                if not (self.careful and may_have_been_processed(exc)):
                    result.outcomes += [Failed(p.path, exc) for p in group]
                    result.fatal = exc if isinstance(exc, FATAL_ERRORS) else None
                    return
                try:
                    checked = self.read_model()
                except NanonetsError as check:
                    why = f"{exc.message}; the count could not be checked ({check.message})"
                    result.outcomes += [Unsettled(p.path, why) for p in group]
                    result.count = None
                    result.fatal = check if isinstance(check, FATAL_ERRORS) else None
                    return
                now = _count(checked, category)
                if now == result.count and tries < self.resends:
                    tries += 1  # nothing landed: safe to send again
                    continue
                if now == result.count:
                    result.outcomes += [Failed(p.path, exc) for p in group]
                    return
                self._judge(category, group, groups, checked, now, result, f"failed ({exc.message})")
                return
            except OSError as exc:  # a file that vanished since it was checked (APIConnectionError is caught above)
                result.outcomes += [Failed(p.path, exc) for p in group]
                return
            if not self.careful:
                result.outcomes += [Uploaded(p.path, model) for p in group]
                return
            self._judge(category, group, groups, model, _count(model, category), result, "answered OK")
            return

    def _judge(self, category: str, group: list[FilePart], groups: deque[list[FilePart]], model: Model,
               now: int | None, result: BatchResult, how: str) -> None:
        """Decide from the growth of the category's count (``model``'s, now) what the server stored of ``group``."""
        before = result.count
        result.count = now
        grew = None if now is None or before is None else now - before
        if grew == len(group):
            if len(group) > 1:
                result.multi = True
            result.outcomes += [Uploaded(p.path, model) for p in group]
        elif len(group) > 1 and grew == 1 and self.multi_ok is not True:
            # The server kept only the first part: the others go one per request.
            result.multi = False
            self.multi_ok = False
            result.outcomes.append(Uploaded(group[0].path, model))
            groups.extendleft(reversed([[part] for part in group[1:]]))
        else:
            why = (f"the server {how} but its count for {category!r} grew by "
                   f"{'an unknown number' if grew is None else grew}, not {len(group)}")
            result.outcomes += [Unsettled(p.path, why) for p in group]


def _count(model: Model, category: str) -> int | None:
    for item in model.categories:
        if item.name == category:
            return item.count
    return None


# ---------------------------------------------------------------------- the run


@dataclass
class UploadSettings:
    """How an upload run behaves (see ``Client.upload_files``)."""

    workers: int
    batch_size: int
    max_batch_bytes: int
    #: Files read ahead of what is sent, at most (so that batches of other categories can go meanwhile).
    lookahead: int
    #: Times a batch is sent again after a count check showed that nothing landed.
    resends: int
    #: The server counts identical bytes once: retry blindly, no count checks.
    dedupe: bool


class UploadRun:
    """Drives one ``upload_files`` call: reads items lazily, sends batches from a thread pool,
    and records each file's outcome in an ``UploadReport``; callbacks run in the calling thread."""

    def __init__(self, settings: UploadSettings, model: Model, send: SendBatch, read_model: ReadModel,
                 make_part: MakePart, size_of: Callable[[PathLike], int],
                 progress: Callable[[int], object] | None = None,
                 on_uploaded: Callable[[PathLike, str, Model], object] | None = None, *,
                 journal: UploadJournal | None = None, digest: Digest | None = None,
                 resend: Resend = "missing") -> None:
        self.settings = settings
        self.journal = journal
        self.digest = digest
        self.resend = resend
        self._stop = threading.Event()
        self.careful = not settings.dedupe
        self.send = send
        self.read_model = read_model
        self.make_part = make_part
        self.size_of = size_of
        self.progress = progress
        self.on_uploaded = on_uploaded
        self.report = UploadReport()
        self.counts: dict[str, int | None] = {c.name: c.count for c in model.categories}
        self.multi_ok: bool | None = None if self.careful else True
        self._ready: dict[str, deque[Batch]] = {}
        self._buffered = 0  # files read but not yet sent
        self._busy: set[str] = set()  # categories with a batch in flight (careful mode)
        self._pending: dict[Future[BatchResult], Batch] = {}
        self._fatal: Exception | None = None

    def run(self, items: Iterable[tuple[PathLike, str]]) -> UploadReport:
        batcher = Batcher(self.settings.batch_size, self.settings.max_batch_bytes)
        source: Iterator[tuple[PathLike, str]] | None = iter(items)
        finished: queue.SimpleQueue[Future[BatchResult]] = queue.SimpleQueue()
        pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="nanoclient-upload")
        wait_for_workers = True
        try:
            while self._fatal is None:
                while len(self._pending) < self.settings.workers:
                    batch = self._next_batch()
                    if batch is None:
                        break
                    self._submit(pool, batch, finished)
                if source is not None and self._wants_more():
                    # read on while requests are in flight: a batch goes as soon as it can
                    source = self._read_one(source, batcher)
                    while not finished.empty():
                        self._settle(finished.get())
                    continue
                if not self._pending:
                    if source is None and not any(self._ready.values()):
                        break
                    if source is not None:  # the look-ahead is full of unfinished batches: send them as they are
                        for batch in batcher.flush():
                            self._queue(batch)
                    continue
                self._settle(finished.get())
        except KeyboardInterrupt:
            # Stop now: nothing more is sent, and the answers already on their way get a moment to
            # arrive (so that the journal records them); after that they are abandoned, not waited for.
            wait_for_workers = False
            self._stop.set()
            done, _ = wait_for_futures(list(self._pending), timeout=INTERRUPT_GRACE)
            for future in done:  # reported too, so that the caller's account of what was stored is whole
                self._settle(future)
            raise
        finally:
            pool.shutdown(wait=wait_for_workers, cancel_futures=True)
        if self._fatal is not None:
            raise self._fatal
        return self.report

    # -- reading

    def _wants_more(self) -> bool:
        """Read on up to the look-ahead: the more categories are known, the better the batches in
        flight can be spread over them (and no category is left to finish alone at the end)."""
        return self._buffered < self.settings.lookahead

    def _read_one(self, source: Iterator[tuple[PathLike, str]], batcher: Batcher
                  ) -> Iterator[tuple[PathLike, str]] | None:
        """Take one item into the batcher; None once the items are used up (open batches closed)."""
        try:
            path, raw_category = next(source)
        except StopIteration:
            for batch in batcher.flush():
                self._queue(batch)
            return None
        category = str(raw_category or "").strip()
        if not category:
            self._record(Skipped(path, "No category"), category)
            return source
        if category not in self.counts:  # the server would refuse it: not sent
            self._record(Skipped(path, f"{category!r} is not a category of the model"), category)
            return source
        for batch in batcher.add(path, category, self.size_of(path)):
            self._queue(batch)
        self._buffered += 1
        return source

    def _queue(self, batch: Batch) -> None:
        self._ready.setdefault(batch.category, deque()).append(batch)

    # -- sending

    def _may_send(self, category: str) -> bool:
        return not (self.careful and category in self._busy)

    def _next_batch(self) -> Batch | None:
        """The next batch to send: from the category with the most batches waiting, so that with
        one batch per category in flight no category is left to finish alone at the end."""
        sendable = [(len(batches), category) for category, batches in self._ready.items()
                    if batches and self._may_send(category)]
        if not sendable:
            return None
        category = max(sendable)[1]
        batches = self._ready[category]
        batch = batches.popleft()
        if self.multi_ok is False and len(batch.paths) > 1:  # the server keeps one part: split
            batches.extendleft(Batch(category, [p]) for p in reversed(batch.paths[1:]))
            batch = Batch(category, batch.paths[:1])
        return batch

    def _submit(self, pool: ThreadPoolExecutor, batch: Batch,
                finished: queue.SimpleQueue[Future[BatchResult]]) -> None:
        sender = _BatchSender(self.send, self.read_model, self.make_part, careful=self.careful,
                              resends=self.settings.resends, multi_ok=self.multi_ok, journal=self.journal,
                              digest=self.digest, resend=self.resend, stop=self._stop)
        if self.careful:
            self._busy.add(batch.category)
        self._buffered -= len(batch.paths)
        future = pool.submit(sender.run, batch, self.counts.get(batch.category, 0))
        self._pending[future] = batch
        future.add_done_callback(finished.put)

    # -- results

    def _settle(self, future: Future[BatchResult]) -> None:
        batch = self._pending.pop(future)
        self._busy.discard(batch.category)
        try:
            result = future.result()
        except Exception as exc:  # a bug or an unexpected failure: stop, do not hide it
            self._fatal = exc
            return
        if self.careful:
            self.counts[batch.category] = result.count
            if self.multi_ok is None and result.multi is not None:
                self.multi_ok = result.multi
        models = {id(o.model): o.model for o in result.outcomes if isinstance(o, Uploaded)}
        for model in models.values():  # the most complete model answered (counted once per batch, not per file)
            if self.report.model is None or model.image_count >= self.report.model.image_count:
                self.report.model = model
        for outcome in result.outcomes:
            self._record(outcome, batch.category)
        if result.fatal is not None and self._fatal is None:
            self._fatal = result.fatal

    def _record(self, outcome: FileOutcome, category: str) -> None:
        report = self.report
        path = str(outcome.path)
        if isinstance(outcome, Uploaded):
            report.uploaded.append(path)
            if self.on_uploaded is not None:
                self.on_uploaded(outcome.path, category, outcome.model)
        elif isinstance(outcome, Already):
            report.already.append(path)
        elif isinstance(outcome, Skipped):
            report.skipped.append((path, outcome.reason))
        elif isinstance(outcome, Unsettled):
            report.unsettled.append((path, outcome.reason))
        else:
            report.failed.append((path, outcome.error))
        if self.progress is not None:
            self.progress(1)


def file_size(path: PathLike) -> int:
    """The size of a file in bytes, 0 if it cannot be read (the upload then names the problem)."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def part_name(path: PathLike) -> str:
    """The file name sent for an uploaded file: its base name."""
    return Path(path).name


__all__ = ["Batch", "Batcher", "BatchResult", "UploadRun", "UploadSettings", "FileOutcome", "Uploaded", "Already",
           "Skipped", "Failed", "Unsettled", "Resend", "Digest", "INTERRUPT_GRACE", "DEDUPE_HEADER", "declares_dedupe",
           "file_size"]
