"""The local record of what each model has received, so that an interrupted upload resumes.

One JSON-lines file per (base URL, model id) in the user's cache folder
(``platformdirs.user_cache_dir("nanoclient")/uploads``, or ``$NANOCLIENT_CACHE_DIR/uploads``).
Its first line names the base URL and model; every further line is one image the server
accepted: ``{"sha256": ..., "category": ..., "file": ...}``. Lines are appended and flushed
as each upload succeeds, so an interruption loses at most the line being written, and a
torn last line is ignored when reading. The record is a hint for skipping work, never the
truth: a file missing from it is simply sent, and ``upload_files`` keeps each file stored once.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import IO

from ._env import CACHE_ENV

_CHUNK = 1 << 16


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
    except ValueError:  # not a sha256 in hex (a hand-edited record): kept as it is
        return f"{sha256}\0{category}".encode()


def _normalise_url(base_url: str) -> str:
    return base_url.strip().rstrip("/")


class UploadRecord:
    """What one model on one server has received: a set of (sha256, category), kept on disk.

    In memory it holds what the file held when it was opened, which is what a run skips; what
    ``add`` records goes to the file only, so that memory does not grow with the run (a million
    uploads would be a million keys). Skipping the same bytes twice within one run is the
    caller's job (``nanoclient upload`` sends each (bytes, category) once). ``add`` is safe to call
    from several threads at once.
    """

    def __init__(self, path: Path, *, base_url: str = "", model_id: str = "") -> None:
        self.path = Path(path)
        self.base_url = base_url
        self.model_id = model_id
        self._lock = threading.Lock()
        self._received: set[bytes] = set()
        self._torn = False  # the file does not end with a newline
        self._handle: IO[str] | None = None
        self._load()

    @classmethod
    def for_model(cls, base_url: str, model_id: str, *, folder: Path | None = None) -> UploadRecord:
        """The record of ``model_id`` on the server at ``base_url`` (created empty if new)."""
        base_url = _normalise_url(base_url)
        key = hashlib.sha256(f"{base_url}\n{model_id}".encode()).hexdigest()[:32]
        folder = (folder or cache_dir()) / "uploads"
        return cls(folder / f"{key}.jsonl", base_url=base_url, model_id=model_id)

    def _load(self) -> None:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            line = ""
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:  # a line torn by an interruption
                    continue
                if isinstance(entry, dict) and entry.get("sha256") and entry.get("category"):
                    self._received.add(_key(str(entry["sha256"]), str(entry["category"])))
        self._torn = bool(line) and not line.endswith("\n")

    def __len__(self) -> int:
        """How many (sha256, category) the record held when it was opened."""
        return len(self._received)

    def __contains__(self, item: tuple[str, str]) -> bool:
        """True when (sha256, category) was recorded as received before the record was opened."""
        return _key(*item) in self._received

    def add(self, sha256: str, category: str, file: str = "") -> None:
        """Record that the server accepted these bytes in this category; written to disk at once
        (unless the record held them already when it was opened)."""
        if _key(sha256, category) in self._received:
            return
        line = json.dumps({"sha256": sha256, "category": category, "file": file}) + "\n"
        with self._lock:
            if self._handle is None:
                self._handle = self._open()
            self._handle.write(line)
            self._handle.flush()

    def _open(self) -> IO[str]:
        """The file, opened for appending once (and started with its header line if new)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        handle = open(self.path, "a", encoding="utf-8")
        if new:
            handle.write(json.dumps({"base_url": self.base_url, "model_id": self.model_id}) + "\n")
        elif self._torn:
            handle.write("\n")  # close the line an earlier interruption tore
        self._torn = False
        return handle

    def close(self) -> None:
        """Close the file (``add`` opens it again if needed)."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None


__all__ = ["UploadRecord", "file_digest", "cache_dir", "CACHE_ENV"]
