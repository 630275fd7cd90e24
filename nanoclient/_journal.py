"""The upload journal: what one model received from this machine, and what was on its way.

``Client.upload_files(..., journal=...)`` and ``nanoclient upload`` write it, so that an upload
stopped in any way (Ctrl-C, SIGTERM, SIGKILL, a crash, a torn last line) and run again neither
loses nor doubles a file, even against a server that stores the same bytes twice.

One JSON-lines file per (base URL, model id) in the user's cache folder
(``platformdirs.user_cache_dir("nanoclient")/uploads``, or ``$NANOCLIENT_CACHE_DIR/uploads``),
or wherever a caller puts it. Its lines, appended and flushed one at a time:

* ``{"base_url": ..., "model_id": ...}``: the first line, naming what the journal is about;
* ``{"batch": N, "category": C, "before": K, "files": [[sha256, path], ...]}``: written *before*
  request N goes out; ``before`` is the category's image count before it (null when the server
  deduplicates and counts are not followed);
* ``{"done": N, "stored": K}``: the server stored the first K files of request N, not the others;
* ``{"done": N, "unsettled": WHY, "after": K}``: whether it stored them could not be found out
  (``after``: the category's count then, null if unknown);
* ``{"sha256": ..., "category": ..., "file": ...}``: one stored file (the record of nanoclient 0.x,
  still read).

A request begun and never done was in flight when the run stopped. The next run *settles* it
before sending anything, from the model's counts: with at most one request per category in
flight (what ``upload_files`` does against a server that does not deduplicate), a count grown by
the request's size means stored, unchanged means not stored (sent again), anything else leaves
its files unsettled. An unsettled request whose later count is unknown is settled the same way by
the next count seen for its category (a later request's ``before``, or the model's count when the
next run starts). Unsettled files are not sent again unless asked: sending them might store
them twice.

In memory the journal keeps what it held when opened (what a run skips), the requests still
open, and the unsettled ones; what a run records goes to the file only, so memory does not grow
with the run. A lock file beside the journal lets one upload at a time use it: a second one gets
``UploadInProgressError`` naming the first one's process (or waits, if asked).

What it cannot know: uploads to the same model from another machine or another journal at the
same time, and a request the server is still processing when the next run reads the counts.
Lines are flushed to the operating system, not forced to disk: a power cut may lose the last ones.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from ._env import CACHE_ENV
from .errors import UploadInProgressError

_CHUNK = 1 << 16
#: How often a waiting upload tries the lock again, in seconds.
_LOCK_POLL = 0.2

#: What the journal says of one file: stored on the model, unsettled, or nothing (send it).
FileState = Literal["stored", "unsettled"] | None


def cache_dir() -> Path:
    """The folder for nanoclient's caches: $NANOCLIENT_CACHE_DIR or the user's cache folder."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("nanoclient"))


def file_digest(path: os.PathLike[str] | str) -> str:
    """The SHA-256 of a file's bytes, as hex (the local server deduplicates on the same hash)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _key(sha256: str, category: str) -> bytes:
    """(sha256, category) as one small bytes object: a folder of a million files is a million of them."""
    try:
        return bytes.fromhex(sha256) + category.encode("utf-8")
    except ValueError:  # not a sha256 in hex (a hand-edited journal): kept as it is
        return f"{sha256}\0{category}".encode()


def _normalise_url(base_url: str) -> str:
    return base_url.strip().rstrip("/")


@dataclass
class JournalBatch:
    """One request of an upload as the journal knows it: its files (sha256, path) in the order sent."""

    id: int
    category: str
    before: int | None
    files: list[tuple[str, str]]
    #: For an unsettled request: why, and the category's count when that was found (None: unknown).
    reason: str = ""
    after: int | None = None


@dataclass(frozen=True)
class Settlement:
    """What settling found of the requests left open or unsettled by earlier runs (file counts)."""

    stored: int = 0
    not_stored: int = 0
    unsettled: int = 0


class UploadJournal:
    """The journal of one model's uploads from this machine (see the module's docstring).

    ``UploadJournal.for_model(base_url, model_id)`` is the one ``nanoclient upload`` uses; any path
    will do for a program of one's own. Pass it to ``Client.upload_files(..., journal=...)``, which
    settles what earlier runs left open, skips what the model has, and records each request before
    sending it. ``wait=True``: a second upload with the same journal waits for the first instead of
    raising ``UploadInProgressError``. Safe to share between the threads of one upload.
    """

    def __init__(self, path: os.PathLike[str] | str, *, base_url: str = "", model_id: str = "",
                 wait: bool = False) -> None:
        self.path = Path(path)
        self.base_url = _normalise_url(base_url)
        self.model_id = model_id
        self.wait = wait
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None
        self._lock_handle: IO[str] | None = None
        self._load()

    @classmethod
    def for_model(cls, base_url: str, model_id: str, *, folder: Path | None = None,
                  wait: bool = False) -> UploadJournal:
        """The journal of ``model_id`` on the server at ``base_url`` in the cache folder (empty if new)."""
        base_url = _normalise_url(base_url)
        key = hashlib.sha256(f"{base_url}\n{model_id}".encode()).hexdigest()[:32]
        folder = (folder or cache_dir()) / "uploads"
        return cls(folder / f"{key}.jsonl", base_url=base_url, model_id=model_id, wait=wait)

    # ------------------------------------------------------------------ reading

    def _load(self) -> None:
        """Read what the file says (again, from scratch)."""
        self._stored: set[bytes] = set()
        self._open: dict[int, JournalBatch] = {}  # begun, never done: in flight when a run stopped
        self._unsettled: dict[int, JournalBatch] = {}
        self._unsettled_keys: dict[bytes, int] = {}
        # per category, the unsettled requests whose count after is unknown: the next count seen settles them
        self._awaiting: dict[str, set[int]] = {}
        self._next_id = 1
        self._torn = False  # the file does not end with a newline
        self._read_as = self._signature()
        if self._read_as is None:
            return
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            line = ""
            for number, line in enumerate(handle):
                try:
                    entry = json.loads(line)
                except ValueError:  # a line torn by an interruption
                    continue
                if isinstance(entry, dict):
                    if number == 0 and "model_id" in entry:
                        self._header(entry)
                    else:
                        self._replay(entry)
        self._torn = bool(line) and not line.endswith("\n")

    def _signature(self) -> tuple[int, int, int] | None:
        """What tells whether the file changed since it was read: (inode, size, mtime), None if absent."""
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def bind(self, base_url: str, model_id: str) -> None:
        """Check that the journal is about this model (ValueError if it is about another), and name
        the model and server in a new file's first line."""
        if self.model_id and model_id != self.model_id:
            raise ValueError(f"The upload journal {self.path} is for model {self.model_id}, not {model_id}: "
                             "pass another file")
        self.base_url, self.model_id = self.base_url or _normalise_url(base_url), model_id

    def _header(self, entry: Mapping[str, object]) -> None:
        """Check that the file is about the model it is opened for (or take its names). The server's
        URL is only a name: the same server may be reached by several (a proxy, another host name)."""
        base_url, model_id = _normalise_url(str(entry.get("base_url") or "")), str(entry.get("model_id") or "")
        if self.model_id and model_id and model_id != self.model_id:
            raise ValueError(f"The upload journal {self.path} is for model {model_id}, not {self.model_id}: "
                             "pass another file")
        self.base_url, self.model_id = self.base_url or base_url, self.model_id or model_id

    def _replay(self, entry: Mapping[str, object]) -> None:
        """Apply one line of the file to what the journal knows."""
        try:
            if "batch" in entry:
                files = entry["files"]
                if not isinstance(files, list):
                    return
                batch = JournalBatch(_int(entry["batch"]), str(entry["category"]), _int_or_none(entry.get("before")),
                                     [(str(sha), str(file)) for sha, file in files])
                self._next_id = max(self._next_id, batch.id + 1)
                if batch.before is not None:  # the count before it settles an earlier unsettled request
                    for earlier in list(self._awaiting.get(batch.category, ())):
                        self._settle_unsettled(self._unsettled[earlier], batch.before)
                self._open[batch.id] = batch
            elif "done" in entry:
                self._apply_done(_int(entry["done"]), entry)
            elif entry.get("sha256") and entry.get("category"):
                self._stored.add(_key(str(entry["sha256"]), str(entry["category"])))
        except (KeyError, TypeError, ValueError):  # a hand-edited or foreign line: ignored
            return

    def _apply_done(self, batch_id: int, entry: Mapping[str, object]) -> None:
        batch = self._open.pop(batch_id, None) or self._forget_unsettled(batch_id)
        if batch is None:
            return
        if "unsettled" in entry:
            batch.reason, batch.after = str(entry["unsettled"]), _int_or_none(entry.get("after"))
            self._unsettled[batch.id] = batch
            if batch.after is None and batch.before is not None:
                self._awaiting.setdefault(batch.category, set()).add(batch.id)
            for sha, _ in batch.files:
                self._unsettled_keys[_key(sha, batch.category)] = batch.id
            return
        for sha, _ in batch.files[:_int(entry.get("stored") or 0)]:
            self._stored.add(_key(sha, batch.category))

    def _forget_unsettled(self, batch_id: int) -> JournalBatch | None:
        batch = self._unsettled.pop(batch_id, None)
        if batch is not None:
            self._awaiting.get(batch.category, set()).discard(batch_id)
            for sha, _ in batch.files:
                if self._unsettled_keys.get(_key(sha, batch.category)) == batch_id:
                    del self._unsettled_keys[_key(sha, batch.category)]
        return batch

    def _settle_unsettled(self, batch: JournalBatch, count: int) -> None:
        """Settle an unsettled request whose count after was unknown by the next count seen for its category."""
        if batch.after is not None or batch.before is None:
            return
        grew = count - batch.before
        if grew in (0, len(batch.files)):
            self._apply_done(batch.id, {"stored": grew})
        else:
            batch.after = count
            self._awaiting.get(batch.category, set()).discard(batch.id)

    def state(self, sha256: str, category: str) -> FileState:
        """What the journal says of these bytes in this category: "stored" (on the model: skip them),
        "unsettled" (maybe stored: sending them again might double them), or None (send them)."""
        key = _key(sha256, category)
        if key in self._stored:
            return "stored"
        return "unsettled" if key in self._unsettled_keys else None

    def unsettled_reason(self, sha256: str, category: str) -> str:
        """Why the file is unsettled ("" if it is not)."""
        batch_id = self._unsettled_keys.get(_key(sha256, category))
        return self._unsettled[batch_id].reason if batch_id is not None else ""

    def __len__(self) -> int:
        """How many (sha256, category) the journal held as stored when it was opened (or settled)."""
        return len(self._stored)

    def __contains__(self, item: tuple[str, str]) -> bool:
        """True when (sha256, category) was stored on the model, as far as the journal knew when opened."""
        return _key(*item) in self._stored

    @property
    def open_batches(self) -> list[JournalBatch]:
        """The requests begun and never done: in flight when an earlier run stopped."""
        return list(self._open.values())

    @property
    def unsettled_files(self) -> int:
        """How many files the journal holds as unsettled."""
        return len(self._unsettled_keys)

    # ------------------------------------------------------------------ settling

    def settle(self, counts: Mapping[str, int], *, by_count: bool) -> Settlement:
        """Settle what earlier runs left open, from the model's counts per category (``counts``), and
        record the outcome. Call it before sending anything (``upload_files`` does).

        ``by_count``: the server counts every stored file (it does not deduplicate), so that a grown
        count says what was stored. Without it (a server that counts identical bytes once), every open
        or unsettled request is simply sent again: that stores nothing twice.
        """
        stored = not_stored = unsettled = 0
        settling = list(self._open.values()) + [b for b in self._unsettled.values() if b.after is None]
        by_category: dict[str, list[JournalBatch]] = {}
        for batch in settling:
            by_category.setdefault(batch.category, []).append(batch)
        if not by_count:
            settling += [b for b in self._unsettled.values() if b.after is not None]
            for batch in settling:
                self._done(batch.id, {"stored": 0})
                not_stored += len(batch.files)
            return Settlement(not_stored=not_stored)
        for category, batches in by_category.items():
            now = counts.get(category)
            known = [b.before for b in batches if b.before is not None]
            size = sum(len(b.files) for b in batches)
            grew = None if now is None or len(known) != len(batches) else now - min(known)
            if grew == 0 or (grew == size and len(batches) == 1):
                stored += grew
                not_stored += size - grew
                for batch in batches:
                    self._done(batch.id, {"stored": len(batch.files) if grew else 0})
                continue
            shown = "unknown" if grew is None else f"grew by {grew}"
            why = (f"sent by an upload that stopped before the answer; the count of {category!r} then {shown}, "
                   f"not 0 or {size}")
            for batch in batches:
                self._done(batch.id, {"unsettled": why, "after": now})
            unsettled += size
        return Settlement(stored, not_stored, unsettled)

    def accept_unsettled(self) -> int:
        """Record every unsettled file as stored (the user checked the model); return how many."""
        batches = list(self._unsettled.values())
        for batch in batches:
            self._done(batch.id, {"stored": len(batch.files)})
        return sum(len(b.files) for b in batches)

    def _done(self, batch_id: int, outcome: Mapping[str, object]) -> None:
        """Record a request's outcome found at the start of a run (it counts for this run too)."""
        self._write({"done": batch_id, **outcome})
        self._apply_done(batch_id, outcome)

    # ------------------------------------------------------------------ writing, during a run

    def begin(self, category: str, before: int | None, files: Sequence[tuple[str, str]]) -> int:
        """Record a request about to be sent: its category, the category's count before it (None
        when not followed) and its files as (sha256, path); return its id. On disk before it returns."""
        with self._lock:
            batch_id = self._next_id
            self._next_id += 1
            self._write_locked({"batch": batch_id, "category": category, "before": before,
                                "files": [list(item) for item in files]})
        return batch_id

    def stored(self, batch_id: int, count: int) -> None:
        """Record that the server stored the first ``count`` files of request ``batch_id``, not the others."""
        self._write({"done": batch_id, "stored": count})

    def unsettled(self, batch_id: int, reason: str, after: int | None) -> None:
        """Record that whether request ``batch_id`` was stored could not be found out; ``after``: the
        category's count then (None if unknown: the next count seen will settle it)."""
        self._write({"done": batch_id, "unsettled": reason, "after": after})

    def add(self, sha256: str, category: str, file: str = "") -> None:
        """Record one file as stored on the model (written to disk at once)."""
        if _key(sha256, category) not in self._stored:
            self._write({"sha256": sha256, "category": category, "file": file})

    def _write(self, entry: Mapping[str, object]) -> None:
        with self._lock:
            self._write_locked(entry)

    def _write_locked(self, entry: Mapping[str, object]) -> None:
        if self._handle is None:
            self._handle = self._open_file()
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._handle.flush()

    def _open_file(self) -> IO[str]:
        """The file, opened for appending once (and started with its header line if new)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        handle = open(self.path, "a", encoding="utf-8")
        if new:
            handle.write(json.dumps({"base_url": self.base_url, "model_id": self.model_id}) + "\n")
        elif self._torn:
            handle.write("\n")  # close the line an earlier interruption tore
        self._torn = False
        return handle

    # ------------------------------------------------------------------ one upload at a time

    @contextmanager
    def locked(self) -> Iterator[UploadJournal]:
        """Hold the journal's lock for one upload: another process (or thread) using the same journal
        meanwhile gets UploadInProgressError naming this process, or waits if ``wait``. Once it holds
        the lock, the journal reads its file again if it changed since it was read (another upload,
        or an earlier one through this same object, wrote to it)."""
        self._acquire()
        try:
            if self._signature() != self._read_as:
                self.close()
                self._load()
            yield self
        finally:
            self._release()

    @property
    def lock_path(self) -> Path:
        return self.path.with_suffix(".lock")

    def _acquire(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+", encoding="utf-8")
        while not _try_lock(handle):
            if not self.wait:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                handle.close()
                what = f"model {self.model_id}" if self.model_id else f"the journal {self.path}"
                raise UploadInProgressError(
                    f"Another upload to {what} is running on this machine (process {holder})",
                    hint="Wait for it to end, or ask to wait (the upload command's --wait-lock)", pid=holder)
            time.sleep(_LOCK_POLL)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle

    def _release(self) -> None:
        handle, self._lock_handle = self._lock_handle, None
        if handle is not None:
            handle.seek(0)
            handle.truncate()
            handle.close()  # closing the file releases the lock

    def close(self) -> None:
        """Close the file (a later write opens it again)."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


def _try_lock(handle: IO[str]) -> bool:
    """Take an exclusive lock on an open file without waiting; False if another holds it. Held until
    the file is closed, or the process ends however it ends."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _int(value: object) -> int:
    """A whole number read from the journal (ValueError for anything else)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a whole number: {value!r}")
    return int(value)


def _int_or_none(value: object) -> int | None:
    return None if value is None else _int(value)


__all__ = ["UploadJournal", "JournalBatch", "Settlement", "FileState", "file_digest", "cache_dir", "CACHE_ENV"]
