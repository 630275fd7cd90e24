"""The server's storage: content-addressed files, deduplication, crash clean-up, the folder lock."""
from __future__ import annotations

import sqlite3

import pytest

from conftest import make_image
from nanoclient.server.store import RUN_QUEUED, RUN_TRAINING, Store, StoreLockedError, sha256_hex


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    yield s
    s.close()


def _model(store: Store, model_id: str = "m1", categories=("red", "blue")) -> str:
    account = store.account_id("hash-of-key", create=True)
    store.insert_model(model_id, account, list(categories))
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


def test_models_are_scoped_to_their_account(store):
    model_id = _model(store)
    stranger = store.account_id("another-hash", create=True)
    assert store.model(stranger, model_id) is None
    assert store.models(stranger) == []
    owner = store.account_id("hash-of-key", create=False)
    assert [m.id for m in store.models(owner)] == [model_id]


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
    store.finish_run(run.id, accuracy=0.5, classifier="1.clf")  # its file never made it to disk
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
    assert store.queue_run(model_id) == (store.run(run.id), False)
    store.add_images(model_id, [("blue", store.put_image(make_image((0, 0, 255))), "b.png")])
    follow_up, created = store.queue_run(model_id)
    assert created and follow_up.id > run.id
    store.close()

    reopened = Store(tmp_path / "data")
    try:
        assert reopened.requeue_unfinished_runs() == [run.id, follow_up.id]
        assert reopened.run(run.id).state == RUN_QUEUED
    finally:
        reopened.close()
