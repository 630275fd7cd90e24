"""Uploading training files that a model lists by name, each exactly once (the upload engine of the model
types whose model lists its training files: documents with their annotations, images with their labels or
boxes).

What a type gives: ``listed()``, the file names the model holds now (its one callback: what is stored), and
``send(batch)``, one request carrying a batch of (path, what goes with the file). The engine:

- skips the files the model already lists, so that a run stopped in any way (Ctrl-C, a kill, a lost
  answer) and run again sends only what is missing: none lost, none doubled;
- refuses two files of the same name (the API names a training file by its name);
- sends batches from a thread pool; one batch's failure costs that batch only: a batch refused whole
  (400) is sent again file by file, to find the file at fault; a batch whose answer was lost after it may
  have been processed (a broken connection, a 5xx) is settled by the model's listing, never sent blindly
  again;
- reports every file's outcome by its path, as it is known (``on_result``), and in the report.

Against a server that lists what it stored (the hosted API's ``Annotations``, the local server's), this is
exactly once without a journal: the listing is the journal.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from ._transport import may_have_been_processed
from .errors import BadRequestError, NanonetsError
from .types import ListedUploadReport, PathLike

#: What goes with each file (an annotation, labels): the type's own.
Item = TypeVar("Item")
#: One request's files: (path, what goes with it).
Batch = Sequence[tuple[str, Item]]


class ListedUpload(Generic[Item]):
    """One upload of files to a model that lists them by name (see the module's description)."""

    def __init__(self, *, listed: Callable[[], set[str]], send: Callable[[Batch[Item]], None],
                 check: Callable[[str], object] | None = None, batch_size: int, workers: int) -> None:
        if batch_size < 1 or workers < 1:
            raise ValueError("batch_size and workers must be at least 1")
        self._listed = listed
        self._send = send
        self._check = check
        self._batch_size = batch_size
        self._workers = workers

    def run(self, items: Iterable[tuple[PathLike, Item]],
            on_result: Callable[[str, Exception | None], object] | None = None) -> ListedUploadReport:
        """Send every file the model does not list yet; ``on_result(path, error)`` once per file."""
        report = ListedUploadReport()

        def tell(path: str, error: Exception | None) -> None:
            if on_result is not None:
                on_result(path, error)

        held = self._listed()
        todo: list[tuple[str, Item]] = []
        seen: dict[str, str] = {}
        for given, item in items:
            path = os.fspath(given)
            name = os.path.basename(path)
            if name in seen:
                raise ValueError(f"Two files are called {name} ({seen[name]} and {path}): rename one, the API "
                                 "names a training file by its name")
            seen[name] = path
            if name in held:
                report.already.append(path)
                tell(path, None)
                continue
            try:
                if self._check is not None:
                    self._check(path)
            except (OSError, ValueError) as exc:
                report.failed.append((path, exc))
                tell(path, exc)
                continue
            todo.append((path, item))
        batches = [todo[i:i + self._batch_size] for i in range(0, len(todo), self._batch_size)]
        pool = ThreadPoolExecutor(max_workers=min(self._workers, max(1, len(batches))),
                                  thread_name_prefix="nanoclient-upload")
        try:
            for outcomes in pool.map(self._send_settled, batches):
                for path, error in outcomes:
                    if error is None:
                        report.uploaded.append(path)
                    else:
                        report.failed.append((path, error))
                    tell(path, error)
        finally:  # Ctrl-C: stop at once, nothing more is sent (what was sent is listed for the next run)
            pool.shutdown(wait=False, cancel_futures=True)
        return report

    def _send_settled(self, batch: Batch[Item]) -> list[tuple[str, Exception | None]]:
        """Send one batch; each file's outcome, settled by the listing when the answer was lost."""
        try:
            self._send(batch)
            return [(path, None) for path, _ in batch]
        except Exception as exc:  # one batch's failure costs that batch only
            if isinstance(exc, NanonetsError) and may_have_been_processed(exc):
                stored = self._listed()
                return [(path, None if os.path.basename(path) in stored else exc) for path, _ in batch]
            if isinstance(exc, BadRequestError) and len(batch) > 1:  # refused whole for one file: find which
                return [outcome for one in batch for outcome in self._send_settled([one])]
            return [(path, exc) for path, _ in batch]


__all__ = ["Batch", "Item", "ListedUpload"]
