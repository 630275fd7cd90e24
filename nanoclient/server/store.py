"""Where the local server keeps its data: SQLite metadata and content-addressed files.

Layout of a data folder::

    nanoclient.sqlite3      accounts, models, categories, images, documents, training runs, inferences (WAL)
    images/ab/abcdef...     image and document bytes, named by their sha256, written atomically
    classifiers/RUN.clf     a trained classifier per finished training run
    thumbs/ab/abcdef...-96.png  downsized copies of images for the dashboard (a cache: may be removed)
    reports/MODEL.html      the evaluation report last stored for a model (``nanoclient evaluate --report``)
    tmp/                    temporary files; anything left here after a crash is removed on start-up
    .lock                   held while a server uses the folder, so two never share it

Crash safety: a file is written (temp file, flush to disk, rename, flush) before the row that refers to it,
so a crash can leave an unreferenced file but never a row pointing at nothing. ``sweep()``
(run on open) removes temp files and files no row refers to.

This module knows SQL and files, nothing of HTTP and nothing of the API's rules.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import itertools
import json
import logging
import os
import sqlite3
import stat
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

if sys.platform != "win32":  # POSIX only; on Windows two servers on one folder are not prevented
    import fcntl

log = logging.getLogger("nanoclient.server")

DB_NAME = "nanoclient.sqlite3"
#: 1: images UNIQUE (model_id, category, sha256). 2: images may repeat (``--no-dedupe``).
#: 6: models.options (a type's own settings of a model, as JSON).
SCHEMA_VERSION = 6

#: Training run states as stored.
RUN_QUEUED = "queued"
RUN_TRAINING = "training"
RUN_DONE = "done"
RUN_FAILED = "failed"

#: The columns of models that ``_model_record`` reads, in its order.
_MODEL_COLUMNS = "id, account_id, created_at, type, options"
#: A model's training items are rows of ``images`` or of ``documents``, whichever its type stores (never
#: both): the newest of them, and with their number, over both tables.
_ITEMS = ("(SELECT id FROM images WHERE model_id = ? UNION ALL SELECT id FROM documents WHERE model_id = ?)")
_LAST_ITEM = f"SELECT MAX(id) FROM {_ITEMS}"
_LAST_AND_COUNT = f"SELECT COALESCE(MAX(id), 0), COUNT(*) FROM {_ITEMS}"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash TEXT NOT NULL UNIQUE,          -- sha256 of the API key; the key itself is never stored
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    created_at REAL NOT NULL,
    type TEXT NOT NULL,                           -- the model type (its folder's ModelType.name)
    options TEXT NOT NULL DEFAULT '{}'            -- JSON: the model type's own settings of this model
);
CREATE INDEX IF NOT EXISTS models_by_account ON models(account_id, created_at);
CREATE TABLE IF NOT EXISTS categories (
    model_id TEXT NOT NULL REFERENCES models(id),
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,       -- its rows in images, kept in the same transactions
    PRIMARY KEY (model_id, name)
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: runs remember the last id they saw
    model_id TEXT NOT NULL,
    category TEXT NOT NULL,
    sha256 TEXT NOT NULL,                   -- may repeat: deduplication is the caller's choice (add_images)
    name TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    FOREIGN KEY (model_id, category) REFERENCES categories(model_id, name)
);
CREATE INDEX IF NOT EXISTS images_by_content ON images(model_id, category, sha256);
-- a model's newest image without reading all of its rows (5 ms at 60,000 images)
CREATE INDEX IF NOT EXISTS images_by_model ON images(model_id, id);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL REFERENCES models(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'training', 'done', 'failed')),
    status TEXT NOT NULL DEFAULT '',
    last_image_id INTEGER NOT NULL DEFAULT 0, -- the newest image the run trained on (set at start)
    image_count INTEGER NOT NULL DEFAULT 0,
    accuracy REAL,
    accuracy_images INTEGER,                  -- how many held-out images accuracy was measured on
    classifier TEXT,                          -- file name under classifiers/, once done
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS runs_by_model ON runs(model_id, id);
-- a document model's training documents: the file and its labelled boxes (the API's annotation JSON)
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: runs remember the last id they saw
    model_id TEXT NOT NULL REFERENCES models(id),
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    annotation TEXT NOT NULL,               -- JSON: [{"name", "ocr_text", "bndbox", "page"}]
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_model ON documents(model_id, id);
CREATE INDEX IF NOT EXISTS documents_by_content ON documents(model_id, sha256);
-- a document model's predictions, one row per page, kept for ImageLevelInferences
CREATE TABLE IF NOT EXISTS inferences (
    id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL REFERENCES models(id),
    request_file_id TEXT NOT NULL,
    input TEXT NOT NULL,
    page INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'success', 'failure')),
    result TEXT NOT NULL DEFAULT '',        -- JSON of the page's answer once done
    day INTEGER NOT NULL,                   -- days since 1970-01-01 (UTC), for listing by day
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inferences_by_day ON inferences(model_id, day, created_at);
"""


class StoreLockedError(RuntimeError):
    """Another server process already uses this data folder."""


class StoreVersionError(RuntimeError):
    """The data folder was written by a newer nanoclient, whose schema this one does not know."""


@dataclass(frozen=True)
class RunRecord:
    """One training run of a model, as stored."""

    id: int
    model_id: str
    state: str
    status: str
    last_image_id: int
    image_count: int
    accuracy: float | None
    classifier: str | None
    accuracy_images: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True)
class ModelRecord:
    """Everything stored about one model, read in one consistent snapshot."""

    id: str
    account_id: int
    created_at: float
    #: Category names in creation order (or fields).
    categories: list[str]
    #: Image count per category (every category present, 0 if none).
    counts: dict[str, int]
    #: The highest image id of the model (0 if none): newer images have higher ids.
    last_image_id: int
    #: The newest run of any state, and the newest finished one.
    latest_run: RunRecord | None = None
    done_run: RunRecord | None = None
    #: The model type (``ModelType.name``): its items are images (labelled by category) or documents
    #: (files with annotations), whichever its type stores.
    type: str = ""
    #: The model type's own settings of this model (what its type stores with ``set_model_options``).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    """One stored image of a model, as recorded."""

    id: int
    category: str
    sha256: str
    #: The file name it was uploaded under (never used as a path).
    name: str
    created_at: float


@dataclass(frozen=True)
class DocumentRecord:
    """One training document of a document model, as recorded."""

    id: int
    sha256: str
    name: str
    #: Its labelled boxes, as the JSON text of the API's annotation ``object`` list.
    annotation: str
    created_at: float


@dataclass(frozen=True)
class InferenceRecord:
    """One page of a document prediction, as recorded."""

    id: str
    model_id: str
    request_file_id: str
    input: str
    page: int
    state: str
    #: The JSON text of the page's answer ('' while pending).
    result: str
    day: int
    created_at: float


@dataclass
class SweepReport:
    """What the start-up sweep cleaned up."""

    temp_files: int = 0
    orphan_images: int = 0
    orphan_classifiers: int = 0
    dangling_image_rows: int = 0
    #: Finished runs marked failed because their classifier file was lost.
    dangling_runs: int = 0
    removed: list[str] = field(default_factory=list)


#: Models whose categories ``Store.model_categories`` keeps at hand (a few hundred bytes each).
_CATEGORIES_CACHED = 4096

_RUN_COLUMNS = (
    "id, model_id, state, status, last_image_id, image_count, accuracy, classifier, accuracy_images, created_at, "
    "started_at, finished_at"
)


def _run(row: tuple[Any, ...] | None) -> RunRecord | None:
    return None if row is None else RunRecord(*row)


def sha256_hex(data: bytes) -> str:
    """The content address of ``data``."""
    return hashlib.sha256(data).hexdigest()


class Store:
    """SQLite metadata (a connection per thread) plus content-addressed files in one folder.

    Opening a store takes the folder's lock, creates the schema (or upgrades one written by
    an older version, in place) and sweeps what a crash may have left behind. ``close()``
    releases it all.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, sweep: bool = True) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.images_dir = self.data_dir / "images"
        self.classifiers_dir = self.data_dir / "classifiers"
        self.thumbs_dir = self.data_dir / "thumbs"
        self.reports_dir = self.data_dir / "reports"
        self.tmp_dir = self.data_dir / "tmp"
        for folder in (self.data_dir, self.images_dir, self.classifiers_dir, self.thumbs_dir, self.reports_dir,
                       self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / DB_NAME
        self._lock_handle: TextIO | None = self._take_lock()
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        #: Held for each write transaction: this process is the folder's only writer (the lock
        #: file), so writers queue here, woken at once, rather than in SQLite's busy handler,
        #: which sleeps 1, 2, 5, 10... ms between tries.
        self._write_lock = threading.Lock()
        #: (account id, category names) of models recently asked about: neither ever changes once
        #: a model is created, and every upload asks (model_categories).
        self._categories: OrderedDict[str, tuple[int, tuple[str, ...], str]] = OrderedDict()
        self._categories_lock = threading.Lock()
        self._closed = False
        try:
            conn = self._conn()
            conn.execute("PRAGMA journal_mode=WAL")
            self._migrate(conn)
            conn.executescript(_SCHEMA)
            # An index by sha256 alone, made by earlier versions: only the start-up sweep read it,
            # and it doubled the pages an upload writes (each of its random keys on its own page).
            conn.execute("DROP INDEX IF EXISTS images_by_sha")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.last_sweep = self.sweep() if sweep else SweepReport()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ schema

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a database written by an older version up to SCHEMA_VERSION, in place.

        A new database (user_version 0) is left to ``_SCHEMA``; a newer one is refused rather
        than written with rules it was not made for.
        """
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.db_path} has schema version {version}, newer than this nanoclient's "
                f"({SCHEMA_VERSION}); upgrade nanoclient or pick another --data-dir"
            )
        while 1 <= version < SCHEMA_VERSION:  # 0: a new database, made by _SCHEMA
            _MIGRATIONS[version](conn)
            log.warning("data folder %s upgraded from schema version %d to %d", self.data_dir, version, version + 1)
            version += 1

    # ------------------------------------------------------------------ plumbing

    def _take_lock(self) -> TextIO:
        """The open lock file, locked for this process (StoreLockedError if another holds it)."""
        handle = open(self.data_dir / ".lock", "a+")
        if sys.platform != "win32":
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                raise StoreLockedError(
                    f"Another nanoclient server is using {self.data_dir}; stop it or pick another --data-dir"
                ) from None
        return handle

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise RuntimeError("the store is closed")
            conn = sqlite3.connect(str(self.db_path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once (BEGIN IMMEDIATE) so concurrent writers queue."""
        conn = self._conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same snapshot."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection and release the folder's lock."""
        self._closed = True
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:  # pragma: no cover
                pass
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    # ------------------------------------------------------------------ files

    def image_path(self, sha: str) -> Path:
        """Where the image with this content address lives."""
        return self.images_dir / sha[:2] / sha

    def classifier_path(self, name: str) -> Path:
        """Where a classifier file of that name lives."""
        return self.classifiers_dir / name

    def thumbnail_path(self, sha: str, name: str) -> Path:
        """Where the cached thumbnail ``name`` (e.g. ``96.png``) of the image with this content address lives."""
        return self.thumbs_dir / sha[:2] / f"{sha}-{name}"

    def put_thumbnail(self, sha: str, name: str, data: bytes) -> None:
        """Cache a thumbnail (written whole, then renamed into place; not flushed to disk: a cache)."""
        path = self.thumbnail_path(sha, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.new_temp_path()
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def report_path(self, model_id: str) -> Path:
        """Where the evaluation report of a model is kept (the id is the caller's to check)."""
        return self.reports_dir / f"{model_id}.html"

    def put_report(self, model_id: str, data: bytes) -> None:
        """Store a model's report, replacing the previous one atomically and durably."""
        tmp = self.new_temp_path(".html")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.report_path(model_id))
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.reports_dir)

    def new_temp_path(self, suffix: str = "") -> Path:
        """A fresh path in tmp/ (removed by the next sweep if left behind)."""
        return self.tmp_dir / f"{os.getpid()}-{threading.get_ident()}-{next(_TEMP_NUMBERS)}{suffix}"

    def put_image(self, data: bytes) -> str:
        """Store image bytes under their sha256 (atomically, once); return the sha256."""
        return self.put_images([data])[0]

    def put_images(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many images under their sha256 (atomically, each once); return the sha256s.

        Durable on return, with two flushes for the whole batch rather than two per file: the
        temporary files are written and flushed, then renamed into place and the renames
        flushed. A file never gets its final name before its bytes are on disk.
        """
        shas: list[str] = []
        moves: dict[str, str] = {}  # final path -> temporary file holding its bytes (str: this runs per file)
        root = str(self.images_dir)
        try:
            for data in blobs:
                sha = sha256_hex(data)
                shas.append(sha)
                folder = os.path.join(root, sha[:2])
                path = os.path.join(folder, sha)
                if path in moves or _size(path) == len(data):
                    continue
                os.makedirs(folder, exist_ok=True)
                tmp = str(self.new_temp_path())
                with open(tmp, "wb") as handle:
                    handle.write(data)
                moves[path] = tmp
            if moves:
                _make_durable(self.images_dir, list(moves.values()))
                for path, tmp in moves.items():
                    os.replace(tmp, path)
                moves_done = list(moves)
                moves.clear()
                _make_durable(self.images_dir, sorted({os.path.dirname(path) for path in moves_done}))
        finally:
            for tmp in moves.values():  # an error before the renames: leave nothing behind
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        return shas

    # ------------------------------------------------------------------ accounts and models

    def account_id(self, key_hash: str, *, create: bool) -> int | None:
        """The account of a key hash; created first if ``create`` and it does not exist."""
        conn = self._conn()
        row = conn.execute("SELECT id FROM accounts WHERE key_hash = ?", (key_hash,)).fetchone()
        if row is not None or not create:
            return None if row is None else int(row[0])
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO accounts (key_hash, created_at) VALUES (?, ?)", (key_hash, time.time())
            )
            row = conn.execute("SELECT id FROM accounts WHERE key_hash = ?", (key_hash,)).fetchone()
        return int(row[0])

    def insert_model(self, model_id: str, account_id: int, categories: Sequence[str], *,
                     model_type: str, options: Mapping[str, Any] | None = None,
                     trained: tuple[str, str] | None = None) -> None:
        """Record a new model of a type with its categories (or fields), in that order, and its
        type's settings (``options``, JSON-serialisable). ``trained``: (classifier file name, status) of a
        model that serves predictions from the start (a finished run on no items, in the same transaction)."""
        now = time.time()
        with self._write() as conn:
            conn.execute("INSERT INTO models (id, account_id, created_at, type, options) VALUES (?, ?, ?, ?, ?)",
                         (model_id, account_id, now, model_type, json.dumps(dict(options or {}))))
            if trained is not None:
                conn.execute("INSERT INTO runs (model_id, state, status, classifier, created_at, started_at, "
                             "finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (model_id, RUN_DONE, trained[1], trained[0], now, now, now))
            conn.executemany(
                "INSERT INTO categories (model_id, position, name) VALUES (?, ?, ?)",
                [(model_id, i, name) for i, name in enumerate(categories)],
            )

    def model(self, account_id: int, model_id: str) -> ModelRecord | None:
        """The model with this id if it belongs to this account, else None."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ? AND account_id = ?",
                (model_id, account_id),
            ).fetchone()
            return None if row is None else self._model_record(conn, row)

    def update_model_options(self, model_id: str, changes: Mapping[str, Any]) -> None:
        """Set some of a model's settings (the others are kept; a value of None removes its key)."""
        with self._write() as conn:
            row = conn.execute("SELECT options FROM models WHERE id = ?", (model_id,)).fetchone()
            if row is None:
                return
            options = json.loads(row[0] or "{}")
            options.update(changes)
            conn.execute("UPDATE models SET options = ? WHERE id = ?",
                         (json.dumps({k: v for k, v in options.items() if v is not None}), model_id))

    def model_by_id(self, model_id: str) -> ModelRecord | None:
        """The model with this id, whoever's it is (for the training worker), else None."""
        with self._read() as conn:
            row = conn.execute(f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ?",
                               (model_id,)).fetchone()
            return None if row is None else self._model_record(conn, row)

    def model_categories(self, account_id: int, model_id: str, *,
                         model_type: str | None = None) -> list[str] | None:
        """The category names of the model, in order, if it belongs to this account (and is of ``model_type``,
        if given), else None."""
        with self._categories_lock:
            known = self._categories.get(model_id)
            if known is not None:
                self._categories.move_to_end(model_id)
        if known is None:
            row = self._conn().execute("SELECT account_id, type FROM models WHERE id = ?", (model_id,)).fetchone()
            if row is None:
                return None
            names = self._conn().execute(
                "SELECT name FROM categories WHERE model_id = ? ORDER BY position", (model_id,)).fetchall()
            known = (int(row[0]), tuple(name for (name,) in names), str(row[1]))
            with self._categories_lock:
                self._categories[model_id] = known
                while len(self._categories) > _CATEGORIES_CACHED:
                    self._categories.popitem(last=False)
        return list(known[1]) if known[0] == account_id and model_type in (None, known[2]) else None

    def models(self, account_id: int) -> list[ModelRecord]:
        """Every model of an account, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_MODEL_COLUMNS} FROM models WHERE account_id = ? ORDER BY created_at, id",
                (account_id,),
            ).fetchall()
            return [self._model_record(conn, row) for row in rows]

    def _model_record(self, conn: sqlite3.Connection, row: tuple[Any, ...], *,
                      last_image_id: int | None = None) -> ModelRecord:
        model_id = row[0]
        rows = conn.execute("SELECT name, count FROM categories WHERE model_id = ? ORDER BY position", (model_id,))
        counts = {str(name): int(count) for name, count in rows}
        categories = list(counts)
        last_image = last_image_id if last_image_id is not None else conn.execute(
            _LAST_ITEM, (model_id, model_id)).fetchone()[0]
        latest = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE model_id = ? ORDER BY id DESC LIMIT 1", (model_id,)
        ).fetchone()
        done = conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE model_id = ? AND state = ? ORDER BY id DESC LIMIT 1",
            (model_id, RUN_DONE),
        ).fetchone()
        return ModelRecord(
            id=model_id,
            account_id=int(row[1]),
            created_at=float(row[2]),
            categories=categories,
            counts=counts,
            last_image_id=int(last_image or 0),
            latest_run=_run(latest),
            done_run=_run(done),
            type=str(row[3]),
            options=json.loads(row[4] or "{}"),
        )

    # ------------------------------------------------------------------ images

    def add_images(self, model_id: str, items: Sequence[tuple[str, str, str]], *, dedupe: bool = True) -> int:
        """Record (category, sha256, name) images of a model in one transaction; return how many rows were added.

        The files must already be stored (``put_image``). With ``dedupe`` an image whose bytes
        are already recorded for the same model and category, or come earlier in ``items``,
        is skipped: the same bytes count once. Without it every item becomes its own row.
        """
        if not items:
            return 0
        with self._write() as conn:  # BEGIN IMMEDIATE: no other writer between the lookup and the insert
            return self._insert_images(conn, model_id, items, dedupe)

    def add_images_and_read(self, account_id: int, model_id: str, items: Sequence[tuple[str, str, str]], *,
                            dedupe: bool = True) -> tuple[int, ModelRecord | None]:
        """``add_images``, then the model as it stands with them, in the same transaction:
        (rows added, the model's record; None if the model is not this account's, then nothing is added)."""
        with self._write() as conn:
            row = conn.execute(f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ? AND account_id = ?",
                               (model_id, account_id)).fetchone()
            if row is None:
                return 0, None
            added = self._insert_images(conn, model_id, items, dedupe) if items else 0
            # image ids only grow, and no other writer runs: the last row added is the model's newest
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0]) if added else None
            return added, self._model_record(conn, row, last_image_id=last)

    def _insert_images(self, conn: sqlite3.Connection, model_id: str, items: Sequence[tuple[str, str, str]],
                       dedupe: bool) -> int:
        now = time.time()
        kept = _new_content(conn, model_id, items) if dedupe else list(items)
        conn.executemany(
            "INSERT INTO images (model_id, category, sha256, name, created_at) VALUES (?, ?, ?, ?, ?)",
            [(model_id, category, sha, name, now) for category, sha, name in kept],
        )
        added = Counter(category for category, _, _ in kept)
        conn.executemany("UPDATE categories SET count = count + ? WHERE model_id = ? AND name = ?",
                         [(n, model_id, category) for category, n in added.items()])
        return len(kept)

    def model_images(self, model_id: str, category: str | None, *, offset: int,
                     limit: int) -> tuple[int, list[ImageRecord]]:
        """(how many, one page of them newest first) of a model's images, of one category or all."""
        where, args = "model_id = ?", [model_id]
        if category is not None:
            where, args = where + " AND category = ?", [*args, category]
        with self._read() as conn:
            total = int(conn.execute(f"SELECT COUNT(*) FROM images WHERE {where}", args).fetchone()[0])
            rows = conn.execute(
                f"SELECT id, category, sha256, name, created_at FROM images WHERE {where} "
                "ORDER BY id DESC LIMIT ? OFFSET ?", [*args, limit, offset],
            ).fetchall()
        return total, [ImageRecord(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    def model_image(self, model_id: str, image_id: int) -> ImageRecord | None:
        """The image with this id if it belongs to this model, else None."""
        row = self._conn().execute(
            "SELECT id, category, sha256, name, created_at FROM images WHERE id = ? AND model_id = ?",
            (image_id, model_id),
        ).fetchone()
        return None if row is None else ImageRecord(int(row[0]), row[1], row[2], row[3], float(row[4]))

    def training_images(self, model_id: str, last_image_id: int) -> list[tuple[Path, str]]:
        """(file path, category) of the model's images up to ``last_image_id``, oldest first."""
        rows = self._conn().execute(
            "SELECT sha256, category FROM images WHERE model_id = ? AND id <= ? ORDER BY id",
            (model_id, last_image_id),
        ).fetchall()
        return [(self.image_path(sha), category) for sha, category in rows]

    # ------------------------------------------------------------------ documents (models of annotated files)

    def add_documents_and_read(self, account_id: int, model_id: str, items: Sequence[tuple[str, str, str, list[str]]],
                               *, dedupe: bool = True) -> tuple[list[int], ModelRecord | None]:
        """Record (sha256, name, annotation JSON, the fields it labels) documents of a model in one transaction;
        return (each item's document id, the model as it stands with them; None if not this account's).

        With ``dedupe`` a document whose bytes the model already holds keeps its row (its id is returned);
        else every item becomes a row. Each field's count grows by the new documents that label it.
        """
        with self._write() as conn:
            row = conn.execute(f"SELECT {_MODEL_COLUMNS} FROM models WHERE id = ? AND account_id = ?",
                               (model_id, account_id)).fetchone()
            if row is None:
                return [], None
            now, ids, added = time.time(), [], Counter[str]()
            for sha, name, annotation, fields in items:
                known = conn.execute("SELECT id FROM documents WHERE model_id = ? AND sha256 = ? ORDER BY id LIMIT 1",
                                     (model_id, sha)).fetchone() if dedupe else None
                if known is not None:
                    ids.append(int(known[0]))
                    continue
                cursor = conn.execute(
                    "INSERT INTO documents (model_id, sha256, name, annotation, created_at) VALUES (?, ?, ?, ?, ?)",
                    (model_id, sha, name, annotation, now))
                ids.append(int(cursor.lastrowid or 0))
                added.update(set(fields))
            conn.executemany("UPDATE categories SET count = count + ? WHERE model_id = ? AND name = ?",
                             [(n, model_id, name) for name, n in added.items()])
            return ids, self._model_record(conn, row)

    def documents(self, model_id: str, last_id: int | None = None) -> list[DocumentRecord]:
        """The model's documents, oldest first (up to ``last_id`` if given)."""
        rows = self._conn().execute(
            "SELECT id, sha256, name, annotation, created_at FROM documents WHERE model_id = ? AND id <= ? "
            "ORDER BY id", (model_id, last_id if last_id is not None else 2**62)).fetchall()
        return [DocumentRecord(int(r[0]), r[1], r[2], r[3], float(r[4])) for r in rows]

    # ------------------------------------------------------------------ inferences (models that keep their predictions)

    def add_inferences(self, records: Sequence[InferenceRecord]) -> None:
        """Record pages of predictions (pending or done)."""
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO inferences (id, model_id, request_file_id, input, page, state, result, day, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r.id, r.model_id, r.request_file_id, r.input, r.page, r.state, r.result, r.day, r.created_at)
                 for r in records])

    def finish_inference(self, inference_id: str, state: str, result: str) -> None:
        """Give a pending page its answer."""
        with self._write() as conn:
            conn.execute("UPDATE inferences SET state = ?, result = ? WHERE id = ?", (state, result, inference_id))

    def inference(self, model_id: str, inference_id: str) -> InferenceRecord | None:
        """One page's prediction, or None if the model has none with that id (or the id names its input)."""
        row = self._conn().execute(
            "SELECT id, model_id, request_file_id, input, page, state, result, day, created_at FROM inferences "
            "WHERE model_id = ? AND id = ?", (model_id, inference_id)).fetchone()
        return None if row is None else InferenceRecord(*row)

    def inferences(self, model_id: str, first_day: int, last_day: int, *, limit: int = 10000) -> list[InferenceRecord]:
        """The model's predicted pages made on days ``first_day`` to ``last_day`` (since the epoch), oldest first."""
        rows = self._conn().execute(
            "SELECT id, model_id, request_file_id, input, page, state, result, day, created_at FROM inferences "
            "WHERE model_id = ? AND day BETWEEN ? AND ? ORDER BY created_at, request_file_id, page LIMIT ?",
            (model_id, first_day, last_day, limit)).fetchall()
        return [InferenceRecord(*row) for row in rows]

    def pending_inferences(self) -> list[InferenceRecord]:
        """Pages still pending (left by a stop or crash), oldest first."""
        rows = self._conn().execute(
            "SELECT id, model_id, request_file_id, input, page, state, result, day, created_at FROM inferences "
            "WHERE state = 'pending' ORDER BY created_at").fetchall()
        return [InferenceRecord(*row) for row in rows]

    # ------------------------------------------------------------------ training runs

    def queue_run(self, model_id: str) -> tuple[RunRecord, bool]:
        """Queue a training run unless one already covers every image; return (run, created).

        A queued run, or a running one that started after the newest image, is returned as is.
        """
        with self._write() as conn:
            latest = _run(
                conn.execute(
                    f"SELECT {_RUN_COLUMNS} FROM runs WHERE model_id = ? ORDER BY id DESC LIMIT 1", (model_id,)
                ).fetchone()
            )
            if latest is not None and latest.state == RUN_QUEUED:
                return latest, False
            if latest is not None and latest.state == RUN_TRAINING:
                newest = conn.execute(_LAST_ITEM, (model_id, model_id)).fetchone()[0]
                if int(newest or 0) <= latest.last_image_id:
                    return latest, False
            cursor = conn.execute(
                "INSERT INTO runs (model_id, state, status, created_at) VALUES (?, ?, ?, ?)",
                (model_id, RUN_QUEUED, "Queued for training", time.time()),
            )
            run = _run(
                conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (cursor.lastrowid,)).fetchone()
            )
        assert run is not None
        return run, True

    def start_run(self, run_id: int) -> RunRecord | None:
        """Mark a queued run as training on every image stored now; None if it is not queued."""
        with self._write() as conn:
            row = conn.execute("SELECT model_id, state FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row[1] != RUN_QUEUED:
                return None
            model_id = row[0]
            last, count = conn.execute(_LAST_AND_COUNT, (model_id, model_id)).fetchone()
            conn.execute(
                "UPDATE runs SET state = ?, status = ?, last_image_id = ?, image_count = ?, started_at = ? "
                "WHERE id = ?",
                (RUN_TRAINING, "Training", int(last), int(count), time.time(), run_id),
            )
            return _run(conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone())

    def finish_run(self, run_id: int, *, accuracy: float | None, accuracy_images: int | None, classifier: str,
                   status: str = "Model trained") -> None:
        """Mark a run as done, with its held-out accuracy, the images it was measured on, the
        classifier's file name and its status."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET state = ?, status = ?, accuracy = ?, accuracy_images = ?, classifier = ?, "
                "finished_at = ? WHERE id = ?",
                (RUN_DONE, status, accuracy, accuracy_images, classifier, time.time(), run_id),
            )

    def set_run_status(self, run_id: int, status: str) -> None:
        """Say how far a run in training is (its status), unless it changed state meanwhile."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET status = ? WHERE id = ? AND state = ?", (status, run_id, RUN_TRAINING))

    def fail_run(self, run_id: int, status: str) -> None:
        """Mark a run as failed, with the reason."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET state = ?, status = ?, finished_at = ? WHERE id = ?",
                (RUN_FAILED, status, time.time(), run_id),
            )

    def requeue_unfinished_runs(self) -> list[int]:
        """Put runs left queued or training (by a stop or crash) back in the queue; return their ids in order."""
        with self._write() as conn:
            conn.execute(
                "UPDATE runs SET state = ?, status = ?, started_at = NULL WHERE state = ?",
                (RUN_QUEUED, "Queued for training (resumed after a restart)", RUN_TRAINING),
            )
            rows = conn.execute("SELECT id FROM runs WHERE state = ? ORDER BY id", (RUN_QUEUED,)).fetchall()
        return [int(r[0]) for r in rows]

    # ------------------------------------------------------------------ sweep

    def sweep(self) -> SweepReport:
        """Remove what a crash can leave: temp files, unreferenced files, rows whose file is gone.

        Only safe while no request is being served (it runs when the store opens, under the lock).
        """
        report = SweepReport()
        for path in list(self.tmp_dir.iterdir()):
            _remove(path)
            report.temp_files += 1
            report.removed.append(str(path))
        conn = self._conn()
        referenced = {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM images UNION "
                                                 "SELECT DISTINCT sha256 FROM documents")}
        present = set()
        for sub in list(self.images_dir.iterdir()):
            files = list(sub.iterdir()) if sub.is_dir() else [sub]
            for path in files:
                if path.name in referenced and path.parent == self.images_dir / path.name[:2] and path.is_file():
                    present.add(path.name)
                    continue
                _remove(path)
                report.orphan_images += 1
                report.removed.append(str(path))
        missing = referenced - present
        if missing:
            with self._write() as conn:  # one pass over the rows, then deletes by id
                rows = conn.execute("SELECT id, sha256 FROM images")
                dangling = [(row_id,) for row_id, sha in rows if sha in missing]
                conn.executemany("DELETE FROM images WHERE id = ?", dangling)
                gone = [(row_id,) for row_id, sha in conn.execute("SELECT id, sha256 FROM documents")
                        if sha in missing]
                conn.executemany("DELETE FROM documents WHERE id = ?", gone)
                _recount(conn)
                report.dangling_image_rows += len(dangling)
        for sub in list(self.thumbs_dir.iterdir()):  # thumbnails of images no longer stored
            for path in list(sub.iterdir()) if sub.is_dir() else [sub]:
                if path.name.split("-", 1)[0] not in present:
                    _remove(path)
        done = dict(conn.execute("SELECT classifier, id FROM runs WHERE state = ? AND classifier IS NOT NULL",
                                 (RUN_DONE,)).fetchall())
        for path in list(self.classifiers_dir.iterdir()):
            if path.name in done and path.is_file():
                continue
            _remove(path)
            report.orphan_classifiers += 1
            report.removed.append(str(path))
        lost = [run_id for name, run_id in done.items() if not self.classifier_path(name).is_file()]
        if lost:
            with self._write() as conn:
                for run_id in lost:
                    conn.execute(
                        "UPDATE runs SET state = ?, status = ? WHERE id = ?",
                        (RUN_FAILED, "Training failed: the classifier file was lost; train again", run_id),
                    )
            report.dangling_runs = len(lost)
        if report.removed or report.dangling_image_rows or report.dangling_runs:
            log.warning(
                "start-up sweep: removed %d temp files, %d unreferenced images, %d unreferenced classifiers "
                "and %d image rows whose files were missing; marked %d trained runs failed (classifier file lost)",
                report.temp_files,
                report.orphan_images,
                report.orphan_classifiers,
                report.dangling_image_rows,
                report.dangling_runs,
            )
        return report


def _new_content(conn: sqlite3.Connection, model_id: str,
                 items: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The items whose (category, sha256) is neither recorded for the model nor earlier in ``items``."""
    seen = set()
    kept = []
    for category, sha, name in items:
        if (category, sha) in seen:
            continue
        seen.add((category, sha))
        if conn.execute(
            "SELECT 1 FROM images WHERE model_id = ? AND category = ? AND sha256 = ? LIMIT 1", (model_id, category, sha)
        ).fetchone() is None:
            kept.append((category, sha, name))
    return kept


#: The images table of schema version 2, created under a temporary name by the migration.
_IMAGES_V2 = """
CREATE TABLE images_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    category TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    FOREIGN KEY (model_id, category) REFERENCES categories(model_id, name)
)
"""


def _migrate_5_to_6(conn: sqlite3.Connection) -> None:
    """Give models their settings (none for the models before)."""
    with _upgrade(conn, 6):
        if "options" not in {row[1] for row in conn.execute("PRAGMA table_info(models)")}:
            conn.execute("ALTER TABLE models ADD COLUMN options TEXT NOT NULL DEFAULT '{}'")


def _migrate_4_to_5(conn: sqlite3.Connection) -> None:
    """Give models their type (every model before was a classification model); the OCR tables are new."""
    with _upgrade(conn, 5):
        if "type" not in {row[1] for row in conn.execute("PRAGMA table_info(models)")}:
            conn.execute("ALTER TABLE models ADD COLUMN type TEXT NOT NULL DEFAULT 'classification'")


def _migrate_3_to_4(conn: sqlite3.Connection) -> None:
    """Keep each category's image count in its row (counting 60,000 rows took 5 ms per model read)."""
    with _upgrade(conn, 4):
        conn.execute("ALTER TABLE categories ADD COLUMN count INTEGER NOT NULL DEFAULT 0")
        _recount(conn)


def _recount(conn: sqlite3.Connection) -> None:
    """Set every category's stored count from its image rows (on upgrade, and after rows were deleted)."""
    conn.execute("UPDATE categories SET count = (SELECT COUNT(*) FROM images WHERE images.model_id = "
                 "categories.model_id AND images.category = categories.name)")
    if conn.execute("SELECT name FROM sqlite_master WHERE name = 'documents'").fetchone():
        # a category of a model of annotated files counts the files in which it is labelled
        conn.execute("UPDATE categories SET count = (SELECT COUNT(*) FROM documents d WHERE d.model_id = "
                     "categories.model_id AND EXISTS (SELECT 1 FROM json_each(d.annotation) j WHERE "
                     "json_extract(j.value, '$.name') = categories.name)) "
                     "WHERE model_id IN (SELECT DISTINCT model_id FROM documents)")


def _migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Give runs the number of images their accuracy was measured on (NULL for the runs before)."""
    with _upgrade(conn, 3):
        conn.execute("ALTER TABLE runs ADD COLUMN accuracy_images INTEGER")


@contextmanager
def _upgrade(conn: sqlite3.Connection, version: int) -> Iterator[None]:
    """One step of ``_migrate``: its statements and the new ``user_version``, all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute(f"PRAGMA user_version={int(version)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _migrate_1_to_2(conn: sqlite3.Connection) -> None:
    """Drop the UNIQUE (model_id, category, sha256) of images, keeping every row and its id.

    SQLite cannot drop a constraint, so the table is rebuilt (the procedure of the SQLite
    manual, "Making Other Kinds Of Table Schema Changes") in one transaction: a crash leaves
    version 1 intact, and the next open tries again.
    """
    conn.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before BEGIN
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # ids must never be reused (runs.last_image_id): carry the AUTOINCREMENT counter over,
            # which may be above MAX(id) when the newest rows were deleted (e.g. by the sweep)
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'images'").fetchone()
            counter = int(row[0]) if row else 0
            conn.execute(_IMAGES_V2)
            conn.execute(
                "INSERT INTO images_v2 (id, model_id, category, sha256, name, created_at) "
                "SELECT id, model_id, category, sha256, name, created_at FROM images ORDER BY id"
            )
            conn.execute("DROP TABLE images")
            conn.execute("ALTER TABLE images_v2 RENAME TO images")
            conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'images'", (counter,))
            if counter and conn.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'images'").fetchone() is None:
                conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('images', ?)", (counter,))
            conn.execute("CREATE INDEX images_by_content ON images(model_id, category, sha256)")
            broken = conn.execute("PRAGMA foreign_key_check(images)").fetchall()
            if broken:
                raise sqlite3.IntegrityError(f"images rows without their category: {broken[:5]}")
            conn.execute("PRAGMA user_version=2")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _size(path: str | Path) -> int | None:
    """The size of a regular file, None if there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


#: Numbers that make temporary file names unique within a process.
_TEMP_NUMBERS = itertools.count()


def _syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2) (flush one file system), or None where the C library has none."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _syncfs() if sys.platform.startswith("linux") else None


def _make_durable(root: Path, paths: Sequence[str | Path]) -> None:
    """Flush ``paths`` (files or folders under ``root``) to disk: one syncfs of their file system
    where Linux offers it, else an fsync of each."""
    if _SYNCFS is not None:
        fd = os.open(str(root), os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        if os.path.isdir(path):
            _fsync_dir(Path(path))
        else:
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


#: The step from each schema version to the next (each sets ``user_version`` itself, all or nothing).
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _migrate_1_to_2, 2: _migrate_2_to_3, 3: _migrate_3_to_4, 4: _migrate_4_to_5,
    5: _migrate_5_to_6}
