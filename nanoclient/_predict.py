"""Predicting many files: batches capped by count and bytes, each file's own outcome, streamed.

``predict_outcomes`` reads the paths lazily (a bounded look-ahead), sends batches from a thread
pool and yields ``(index, outcome)`` as batches finish, where the outcome is the file's
``Prediction`` or a ``FileError``. One bad file costs that file only:

* a file that cannot be read or is not a valid image is never sent (FileError);
* a batch the server refuses as holding an invalid image, or as too large, is sent again one
  file per request, so only the files at fault fail;
* a batch that fails otherwise after the transport's retries fails its files, and the run goes
  on; only an error that every request would get (a refused key, an unknown model, a model
  not trained, an exhausted quota, a server that cannot be reached) stops the run, and is raised.

Stopping early (the consumer breaks, or Ctrl-C) cancels the batches not yet sent and does not
wait for those in flight.
"""
from __future__ import annotations

import os
import queue
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ._upload import FATAL_ERRORS
from .errors import BadRequestError, InvalidImageError, NanonetsError, PayloadTooLargeError
from .images import check_image_file
from .types import FileError, PathLike, Prediction

#: Sends one batch of files and returns their predictions, in the order of the files.
SendBatch = Callable[[Sequence[PathLike]], list[Prediction]]
#: One file's outcome.
Outcome = Prediction | FileError


def predict_outcomes(
    send: SendBatch,
    paths: Iterable[PathLike],
    *,
    batch_size: int,
    max_batch_bytes: int,
    workers: int,
    check: bool = True,
) -> Iterator[tuple[int, Outcome]]:
    """(index in ``paths``, outcome) of every file, batch by batch as the batches finish.

    ``check`` is False when the caller has checked the files already (each is checked once).
    """
    finished: queue.SimpleQueue[Future[list[tuple[int, Outcome]]]] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nanoclient-predict")
    pending: set[Future[list[tuple[int, Outcome]]]] = set()
    fatal: list[BaseException] = []
    try:
        for batch in _batches(paths, batch_size, max_batch_bytes):
            future = pool.submit(_run_batch, send, batch, check, fatal)
            future.add_done_callback(finished.put)
            pending.add(future)
            while len(pending) >= 2 * workers:  # bounded look-ahead: paths are never all read ahead
                yield from _settle(finished.get(), pending, fatal)
        while pending:
            yield from _settle(finished.get(), pending, fatal)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _settle(future: Future[list[tuple[int, Outcome]]], pending: set[Future[list[tuple[int, Outcome]]]],
            fatal: list[BaseException]) -> Iterator[tuple[int, Outcome]]:
    pending.discard(future)
    if fatal:
        raise fatal[0]
    if not future.cancelled():
        yield from future.result()


def _batches(paths: Iterable[PathLike], batch_size: int, max_bytes: int) -> Iterator[list[tuple[int, PathLike]]]:
    """Consecutive files, at most ``batch_size`` and ``max_bytes`` per batch (a larger file goes alone)."""
    batch: list[tuple[int, PathLike]] = []
    size = 0
    for index, path in enumerate(paths):
        length = _size(path)
        if batch and (len(batch) >= batch_size or size + length > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append((index, path))
        size += length
    if batch:
        yield batch


def _run_batch(send: SendBatch, batch: list[tuple[int, PathLike]], check: bool,
               fatal: list[BaseException]) -> list[tuple[int, Outcome]]:
    """The outcomes of one batch (a worker thread); an error every request would get goes to ``fatal``."""
    if fatal:
        return []
    outcomes: list[tuple[int, Outcome]] = []
    valid: list[tuple[int, PathLike]] = []
    for index, path in batch:
        try:
            if check:
                check_image_file(path)
        except (InvalidImageError, OSError) as exc:
            outcomes.append((index, FileError(str(path), exc)))
        else:
            valid.append((index, path))
    groups = [valid] if valid else []
    while groups:
        group = groups.pop(0)
        try:
            predictions = send([path for _, path in group])
        except (InvalidImageError, PayloadTooLargeError) as exc:
            if len(group) > 1:  # find the files at fault: the others are predicted
                groups = [[item] for item in group] + groups
            else:
                outcomes.append((group[0][0], FileError(str(group[0][1]), exc)))
        except (*FATAL_ERRORS, BadRequestError) as exc:  # e.g. a model not trained: every request gets it
            fatal.append(exc)
            return outcomes
        except (NanonetsError, OSError) as exc:
            outcomes += [(index, FileError(str(path), exc)) for index, path in group]
        else:
            outcomes += [(index, prediction) for (index, _), prediction in zip(group, predictions, strict=True)]
    return outcomes


def _size(path: PathLike) -> int:
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


__all__ = ["predict_outcomes", "Outcome"]
