"""The server's storage: content-addressed files, deduplication on and off, the schema upgrade,
crash clean-up, the folder lock."""
from __future__ import annotations

import sqlite3
import time

import pytest
from helpers import make_image

from nanoclient.server.store import (
    DB_NAME,
    RUN_DONE,
    RUN_QUEUED,
    RUN_TRAINING,
    SCHEMA_VERSION,
    Store,
    StoreLockedError,
    StoreVersionError,
    sha256_hex,
)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def _model(store: Store, model_id: str = "m1", categories=("red", "blue")) -> str:
    account = store.account_id("hash-of-key", create=True)
    store.insert_model(model_id, account, list(categories), model_type="classification")
    return model_id


def test_images_are_stored_once_under_their_sha256(store):
    data = make_image((255, 0, 0))
    sha = store.put_image(data)
    assert sha == sha256_hex(data)
    assert store.put_image(data) == sha
    assert store.image_path(sha).read_bytes() == data
    files = [p for p in store.images_dir.rglob("*") if p.is_file()]
    assert files == [store.image_path(sha)]
    assert list(store.tmp_dir.iterdir()) == []  # the temp file was renamed, not left behind


def test_a_batch_of_images_is_stored_whole_or_leaves_nothing_behind(store, monkeypatch):
    red, blue = make_image((255, 0, 0)), make_image((0, 0, 255))
    shas = store.put_images([red, blue, red])
    assert shas == [sha256_hex(red), sha256_hex(blue), sha256_hex(red)]
    assert [store.image_path(sha).read_bytes() for sha in shas] == [red, blue, red]
    assert list(store.tmp_dir.iterdir()) == []
    green = make_image((0, 255, 0))
    import nanoclient.server.store as store_module

    def full_disk(root, paths):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "_make_durable", full_disk)
    with pytest.raises(OSError):
        store.put_images([green])
    assert not store.image_path(sha256_hex(green)).exists()  # never named before its bytes were on disk
    assert list(store.tmp_dir.iterdir()) == []


def test_same_bytes_in_same_category_count_once(store):
    model_id = _model(store)
    red, other = make_image((255, 0, 0)), make_image((250, 5, 0))
    items = [("red", store.put_image(red), "a.png"), ("red", store.put_image(red), "copy.png")]
    assert store.add_images(model_id, items) == 1
    assert store.add_images(model_id, [("red", store.put_image(red), "again.png")]) == 0
    assert store.add_images(model_id, [("red", store.put_image(other), "b.png")]) == 1
    assert store.add_images(model_id, [("blue", store.put_image(red), "c.png")]) == 1  # other category: counts
    record = store.model(store.account_id("hash-of-key", create=False), model_id)
    assert record.counts == {"red": 2, "blue": 1}
    assert record.categories == ["red", "blue"]


def test_without_dedupe_every_item_counts_and_the_file_is_kept_once(store):
    model_id = _model(store)
    red = make_image((255, 0, 0))
    sha = store.put_image(red)
    assert store.add_images(model_id, [("red", sha, "a.png"), ("red", sha, "copy.png")], dedupe=False) == 2
    assert store.add_images(model_id, [("red", store.put_image(red), "again.png")], dedupe=False) == 1
    record = store.model(store.account_id("hash-of-key", create=False), model_id)
    assert record.counts == {"red": 3, "blue": 0}
    assert [p for p in store.images_dir.rglob("*") if p.is_file()] == [store.image_path(sha)]
    assert store.training_images(model_id, record.last_image_id) == [(store.image_path(sha), "red")] * 3
    # dedupe is per call: on again, the bytes already recorded (three times) are not added a fourth time
    assert store.add_images(model_id, [("red", sha, "fourth.png")]) == 0
    assert store.model(record.account_id, model_id).counts["red"] == 3


def test_models_are_scoped_to_their_account(store):
    model_id = _model(store)
    stranger = store.account_id("another-hash", create=True)
    assert store.model(stranger, model_id) is None
    assert store.models(stranger) == []
    owner = store.account_id("hash-of-key", create=False)
    assert [m.id for m in store.models(owner)] == [model_id]


def test_adding_images_reads_the_model_back_in_the_same_transaction(store):
    """``add_images_and_read`` (one transaction per upload) gives the record ``model`` reads after it."""
    model_id = _model(store)
    owner = store.account_id("hash-of-key", create=False)
    red, blue = store.put_image(make_image((255, 0, 0))), store.put_image(make_image((0, 0, 255)))
    added, record = store.add_images_and_read(owner, model_id, [("red", red, "a.png"), ("red", blue, "b.png")])
    assert added == 2 and record == store.model(owner, model_id)
    assert record.counts == {"red": 2, "blue": 0} and record.last_image_id == 2
    added, record = store.add_images_and_read(owner, model_id, [("red", red, "again.png")])  # deduplicated
    assert added == 0 and record == store.model(owner, model_id) and record.last_image_id == 2
    stranger = store.account_id("another-hash", create=True)
    assert store.add_images_and_read(stranger, model_id, [("blue", red, "c.png")]) == (0, None)
    assert store.model(owner, model_id).counts == {"red": 2, "blue": 0}  # nothing added for the stranger


def test_categories_are_kept_per_model_and_account(store):
    model_id = _model(store, categories=("b", "a"))
    owner = store.account_id("hash-of-key", create=False)
    stranger = store.account_id("another-hash", create=True)
    for _ in range(2):  # asked again: from what was kept
        assert store.model_categories(owner, model_id) == ["b", "a"]
        assert store.model_categories(stranger, model_id) is None
    assert store.model_categories(owner, "no-such-model") is None


def test_the_index_by_sha256_alone_is_dropped(tmp_path):
    """Only the start-up sweep read it, and it doubled the pages each upload writes."""
    Store(tmp_path / "data").close()
    db = sqlite3.connect(str(tmp_path / "data" / DB_NAME))
    db.execute("CREATE INDEX images_by_sha ON images(sha256)")  # as an earlier version made it
    db.commit()
    db.close()
    store = Store(tmp_path / "data")
    try:
        indexes = {r[0] for r in store._conn().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "images_by_sha" not in indexes and "images_by_content" in indexes
    finally:
        store.close()


def test_an_image_row_needs_its_category(store):
    model_id = _model(store)
    with pytest.raises(sqlite3.IntegrityError):
        store.add_images(model_id, [("green", store.put_image(make_image((0, 255, 0))), "g.png")])
    assert store.model(store.account_id("hash-of-key", create=False), model_id).last_image_id == 0


def test_startup_sweep_removes_what_a_crash_leaves(tmp_path):
    store = Store(tmp_path / "data")
    model_id = _model(store)
    kept = make_image((255, 0, 0))
    kept_sha = store.put_image(kept)
    store.add_images(model_id, [("red", kept_sha, "kept.png")])
    orphan_sha = store.put_image(make_image((0, 0, 255)))  # crash between file and row
    lost_sha = store.put_image(make_image((0, 255, 0)))
    store.add_images(model_id, [("blue", lost_sha, "lost.png")])
    (store.tmp_dir / "half-written").write_bytes(b"\x89PNG half")
    (store.classifiers_dir / "99.clf").write_bytes(b"no run refers to this")
    run, _ = store.queue_run(model_id)
    store.start_run(run.id)
    store.finish_run(run.id, accuracy=0.5, accuracy_images=2, classifier="1.clf")  # its file never made it to disk
    store.close()
    store.image_path(lost_sha).unlink()  # a row pointing at nothing (e.g. a file deleted by hand)

    reopened = Store(tmp_path / "data")
    try:
        report = reopened.last_sweep
        assert (report.temp_files, report.orphan_images, report.orphan_classifiers) == (1, 1, 1)
        assert report.dangling_image_rows == 1 and report.dangling_runs == 1
        assert list(reopened.tmp_dir.iterdir()) == []
        assert not reopened.image_path(orphan_sha).exists()
        assert reopened.image_path(kept_sha).read_bytes() == kept
        assert list(reopened.classifiers_dir.iterdir()) == []
        record = reopened.model(reopened.account_id("hash-of-key", create=False), model_id)
        assert record.counts == {"red": 1, "blue": 0}
        assert record.done_run is None and record.latest_run.state == "failed"
        assert reopened.training_images(model_id, record.last_image_id) == [(reopened.image_path(kept_sha), "red")]
    finally:
        reopened.close()


def test_one_server_per_data_folder(tmp_path):
    first = Store(tmp_path / "data")
    with pytest.raises(StoreLockedError, match="Another nanoclient server"):
        Store(tmp_path / "data")
    first.close()
    Store(tmp_path / "data").close()


def test_training_runs_queue_once_and_resume(tmp_path):
    store = Store(tmp_path / "data")
    model_id = _model(store)
    store.add_images(model_id, [("red", store.put_image(make_image((255, 0, 0))), "r.png")])
    run, created = store.queue_run(model_id)
    assert created and run.state == RUN_QUEUED
    again, created_again = store.queue_run(model_id)
    assert (again.id, created_again) == (run.id, False)
    started = store.start_run(run.id)
    assert started.state == RUN_TRAINING and started.last_image_id > 0 and started.image_count == 1
    assert store.start_run(run.id) is None  # only a queued run starts
    # training with nothing new since it started: Train again does not queue another run
    assert store.queue_run(model_id) == (started, False)
    store.add_images(model_id, [("blue", store.put_image(make_image((0, 0, 255))), "b.png")])
    follow_up, created = store.queue_run(model_id)
    assert created and follow_up.id > run.id
    store.close()

    reopened = Store(tmp_path / "data")
    try:
        assert reopened.requeue_unfinished_runs() == [run.id, follow_up.id]
        assert reopened.start_run(run.id).state == RUN_TRAINING  # requeued, so it starts again
    finally:
        reopened.close()


# ---------------------------------------------------------------- schema upgrade

#: The schema of version 1, as nanoclient wrote it before images could repeat.
SCHEMA_V1 = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, key_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL);
CREATE TABLE models (id TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
                     created_at REAL NOT NULL);
CREATE INDEX models_by_account ON models(account_id, created_at);
CREATE TABLE categories (
    model_id TEXT NOT NULL REFERENCES models(id), position INTEGER NOT NULL, name TEXT NOT NULL,
    PRIMARY KEY (model_id, name)
);
CREATE TABLE images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL,
    category TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    UNIQUE (model_id, category, sha256),
    FOREIGN KEY (model_id, category) REFERENCES categories(model_id, name)
);
CREATE INDEX images_by_sha ON images(sha256);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id TEXT NOT NULL REFERENCES models(id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'training', 'done', 'failed')),
    status TEXT NOT NULL DEFAULT '',
    last_image_id INTEGER NOT NULL DEFAULT 0,
    image_count INTEGER NOT NULL DEFAULT 0,
    accuracy REAL,
    classifier TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX runs_by_model ON runs(model_id, id);
PRAGMA user_version=1;
"""


def _version_1_folder(data, images, *, dangling_row: bool = False):
    """A data folder as version 1 left it: one model, ``images`` [(category, bytes)], a finished run.

    Image 3 was recorded and then deleted, so the id counter (3) is above MAX(id) (2); the
    run trained on images 1 and 2 and refers to them by id.
    """
    data.mkdir(parents=True)
    conn = sqlite3.connect(str(data / DB_NAME), isolation_level=None)
    conn.executescript(SCHEMA_V1)
    now = time.time()
    conn.execute("INSERT INTO accounts (key_hash, created_at) VALUES ('hash-of-key', ?)", (now,))
    conn.execute("INSERT INTO models VALUES ('m1', 1, ?)", (now,))
    conn.executemany("INSERT INTO categories VALUES ('m1', ?, ?)", [(0, "red"), (1, "blue")])
    for name, (category, blob) in enumerate(images):
        sha = sha256_hex(blob)
        (data / "images" / sha[:2]).mkdir(parents=True, exist_ok=True)
        (data / "images" / sha[:2] / sha).write_bytes(blob)
        conn.execute("INSERT INTO images (model_id, category, sha256, name, created_at) VALUES ('m1', ?, ?, ?, ?)",
                     (category, sha, f"{name}.png", now + name))
    conn.execute("DELETE FROM images WHERE id = 3")
    if dangling_row:  # only possible with foreign keys off: what an upgrade must not carry over silently
        conn.execute("INSERT INTO images (model_id, category, sha256, name, created_at) "
                     "VALUES ('m1', 'green', ?, 'g.png', 0)", (sha256_hex(images[0][1]),))
    (data / "classifiers").mkdir()
    (data / "classifiers" / "1.clf").write_bytes(b"a classifier")
    conn.execute("INSERT INTO runs (model_id, state, status, last_image_id, image_count, accuracy, classifier, "
                 "created_at) VALUES ('m1', 'done', 'Model trained', 2, 2, 0.5, '1.clf', ?)", (now,))
    conn.close()


def _images_table(db) -> str:
    return db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'images'").fetchone()[0]


def test_a_version_1_folder_is_upgraded_in_place_keeping_ids(tmp_path):
    data = tmp_path / "data"
    red, blue, gone = make_image((255, 0, 0)), make_image((0, 0, 255)), make_image((0, 255, 0))
    _version_1_folder(data, [("red", red), ("blue", blue), ("red", gone)])
    before = sqlite3.connect(str(data / DB_NAME))
    rows_before = before.execute("SELECT * FROM images ORDER BY id").fetchall()
    before.close()
    assert [row[0] for row in rows_before] == [1, 2]

    store = Store(data)
    try:
        db = store._conn()
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert "UNIQUE" not in _images_table(db).upper()
        assert db.execute("SELECT * FROM images ORDER BY id").fetchall() == rows_before
        indexes = {r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'images'")}
        assert "images_by_content" in indexes and "images_by_sha" not in indexes  # dropped: only the sweep read it
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT 1 FROM images WHERE model_id = 'm1' AND category = 'red' AND sha256 = 'x'"))
        assert "images_by_content" in plan  # the dedupe lookup does not scan the table
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1

        account = store.account_id("hash-of-key", create=False)
        record = store.model(account, "m1")
        assert record.counts == {"red": 1, "blue": 1} and record.last_image_id == 2
        assert record.done_run.state == RUN_DONE and record.done_run.last_image_id == 2
        assert record.done_run.accuracy == 0.5 and record.done_run.accuracy_images is None  # not known then
        assert store.training_images("m1", record.done_run.last_image_id) == [
            (store.image_path(sha256_hex(red)), "red"), (store.image_path(sha256_hex(blue)), "blue")]

        # dedupe still holds on the upgraded table, and turned off the same bytes count again
        assert store.add_images("m1", [("red", sha256_hex(red), "again.png")]) == 0
        assert store.add_images("m1", [("red", store.put_image(red), "again.png")], dedupe=False) == 1
        newest = store.model(account, "m1")
        assert newest.counts == {"red": 2, "blue": 1}
        assert newest.last_image_id == 4  # id 3 was used before the upgrade: never handed out again
    finally:
        store.close()

    again = Store(data)  # an upgraded folder opens as it is
    try:
        assert again.model(again.account_id("hash-of-key", create=False), "m1").counts == {"red": 2, "blue": 1}
    finally:
        again.close()


def test_a_version_2_folder_learns_how_many_images_measured_accuracy(tmp_path):
    data = tmp_path / "data"
    store = Store(data)
    account = store.account_id("hash-of-key", create=True)
    store.insert_model("m1", account, ["red", "blue"], model_type="classification")
    store.close()
    db = sqlite3.connect(str(data / DB_NAME), isolation_level=None)
    db.execute("ALTER TABLE runs DROP COLUMN accuracy_images")  # as version 2 made it
    db.execute("ALTER TABLE categories DROP COLUMN count")
    db.execute("PRAGMA user_version=2")
    db.execute("INSERT INTO runs (model_id, state, status, accuracy, classifier, created_at) "
               "VALUES ('m1', 'done', 'Model trained', 0.75, '1.clf', 0)")
    db.close()
    (data / "classifiers" / "1.clf").write_bytes(b"a classifier")  # else the start-up sweep fails the run
    store = Store(data)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        done = store.model(account, "m1").done_run
        assert done.accuracy == 0.75 and done.accuracy_images is None
        store.finish_run(done.id, accuracy=0.8, accuracy_images=40, classifier="1.clf")
        assert store.model(account, "m1").done_run.accuracy_images == 40
    finally:
        store.close()


def test_a_failed_upgrade_leaves_version_1_as_it_was(tmp_path):
    data = tmp_path / "data"
    _version_1_folder(data, [("red", make_image((255, 0, 0))), ("blue", make_image((0, 0, 255))),
                             ("red", make_image((0, 255, 0)))], dangling_row=True)
    with pytest.raises(sqlite3.IntegrityError, match="without their category"):
        Store(data)
    db = sqlite3.connect(str(data / DB_NAME))
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
        assert "UNIQUE" in _images_table(db).upper()
        assert [r[0] for r in db.execute("SELECT id FROM images ORDER BY id")] == [1, 2, 4]
        assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'images_v2'").fetchone()[0] == 0
    finally:
        db.close()
    with pytest.raises(sqlite3.IntegrityError):  # not StoreLockedError: the failed open released the lock
        Store(data)  # still refused, not half-upgraded


def test_a_folder_from_a_newer_version_is_refused(tmp_path):
    Store(tmp_path / "data").close()
    db = sqlite3.connect(str(tmp_path / "data" / DB_NAME))
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreVersionError, match="newer than this nanoclient"):
        Store(tmp_path / "data")


def test_a_version_3_folder_learns_its_category_counts(tmp_path):
    data = tmp_path / "data"
    store = Store(data)
    account = store.account_id("hash-of-key", create=True)
    store.insert_model("m1", account, ["red", "blue"], model_type="classification")
    store.add_images("m1", [("red", "a" * 64, "a.png"), ("red", "b" * 64, "b.png"), ("blue", "c" * 64, "c.png")])
    store.close()
    db = sqlite3.connect(str(data / DB_NAME), isolation_level=None)
    db.execute("ALTER TABLE categories DROP COLUMN count")  # as version 3 made it
    db.execute("PRAGMA user_version=3")
    db.close()
    store = Store(data, sweep=False)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.model(account, "m1").counts == {"red": 2, "blue": 1}
        store.add_images("m1", [("blue", "d" * 64, "d.png")])
        assert store.model(account, "m1").counts == {"red": 2, "blue": 2}
    finally:
        store.close()


def test_a_version_4_folder_learns_that_its_models_classify(tmp_path):
    data = tmp_path / "data"
    store = Store(data)
    account = store.account_id("hash-of-key", create=True)
    store.insert_model("m1", account, ["red", "blue"], model_type="classification")
    store.add_images("m1", [("red", "a" * 64, "a.png")])
    store.close()
    db = sqlite3.connect(str(data / DB_NAME), isolation_level=None)
    db.execute("ALTER TABLE models DROP COLUMN type")  # as version 4 made it
    db.execute("PRAGMA user_version=4")
    db.close()
    store = Store(data, sweep=False)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        record = store.model(account, "m1")
        assert record.type == "classification" and record.counts == {"red": 1, "blue": 0}
        store.insert_model("m2", account, ["total"], model_type="ocr")
        assert store.model(account, "m2").type == "ocr"
        assert store.model_categories(account, "m2", model_type="classification") is None  # of another type
        assert store.model_categories(account, "m2", model_type="ocr") == ["total"]
    finally:
        store.close()


def test_a_version_5_folder_gets_model_options_and_keeps_its_models(tmp_path):
    data = tmp_path / "data"
    store = Store(data)
    account = store.account_id("hash-of-key", create=True)
    store.insert_model("m1", account, ["total"], model_type="ocr")
    store.close()
    db = sqlite3.connect(str(data / DB_NAME), isolation_level=None)
    db.execute("ALTER TABLE models DROP COLUMN options")  # as version 5 made it
    db.execute("PRAGMA user_version=5")
    db.close()
    store = Store(data, sweep=False)
    try:
        assert store._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.model(account, "m1").options == {}
        store.update_model_options("m1", {"languages": ["deu", "eng"], "other": 1})
        store.update_model_options("m1", {"other": None})
        assert store.model(account, "m1").options == {"languages": ["deu", "eng"]}
        store.insert_model("m2", account, ["total"], model_type="ocr", options={"languages": ["fra"]})
        assert store.model(account, "m2").options == {"languages": ["fra"]}
    finally:
        store.close()
