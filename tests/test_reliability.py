"""Faults: nothing lost, nothing doubled, nothing stuck, whatever the server or network does.

Each test starts real servers on loopback (tests/conftest.py) and stops them itself.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import RawServer, cli_env, closed_port, make_image, model_counts, run_cli

from nanoclient import Client, errors

KEY = "reliability-key"
CATEGORIES = ["red", "green", "blue"]
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def labelled_folder(root: Path, per_category: int, *, offset: int = 0) -> Path:
    """root/<category>/NNN.png: distinct noisy images (no two files share bytes)."""
    for category in CATEGORIES:
        folder = root / category
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_category):
            seed = hash((category, i + offset)) & 0xFFFF_FFFF
            (folder / f"{i + offset:04d}.png").write_bytes(make_image(COLORS[category], seed=seed))
    return root


def assert_data_dir_consistent(data_dir: Path, *, crashed: bool = False) -> None:
    """SQLite says ok, every image row has its file, nothing half-written under images/.

    After a clean stop also: every file has its row and tmp/ is empty. Right after a crash
    a temporary file or a file whose row was not yet written may remain: the next start
    sweeps them (checked by the clean stop that follows).
    """
    db = sqlite3.connect(str(data_dir / "nanoclient.sqlite3"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        referenced = {row[0] for row in db.execute("SELECT DISTINCT sha256 FROM images")}
    finally:
        db.close()
    files = {p.name: p for p in (data_dir / "images").rglob("*") if p.is_file()}
    assert referenced <= set(files), "rows pointing at nothing"
    import hashlib

    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == name, f"half-written {path}"
    if not crashed:
        assert set(files) == referenced, "orphaned files"
        assert list((data_dir / "tmp").iterdir()) == []


# ---------------------------------------------------------------- server faults

def test_upload_through_injected_503s_counts_every_image_once(server_factory, tmp_path):
    folder = labelled_folder(tmp_path / "imgs", 100)  # 300 images
    server = server_factory("--fail-rate", "0.3")
    with Client(KEY, server.url) as client:
        for _ in range(100):  # creating is not retried on a 503 (it may have been acted on): try again here
            try:
                model = client.create_model(CATEGORIES)
                break
            except errors.ServerError:
                continue
    result = run_cli(server.url, KEY, "upload", str(folder), "--json", cache=tmp_path / "cache", model_id=model.id)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["failed"]) == (300, 0)
    server.stop()
    server = server_factory()  # same data dir, no faults, to read the truth
    with Client(KEY, server.url) as client:
        assert model_counts(client.get_model(model.id)) == {c: 100 for c in CATEGORIES}


def test_server_killed_mid_upload_loses_and_doubles_nothing(server_factory, tmp_path):
    folder = labelled_folder(tmp_path / "imgs", 50)  # 150 images
    server = server_factory("--latency-ms", "40")
    with Client(KEY, server.url) as client:
        model = client.create_model(CATEGORIES)
    cache = tmp_path / "cache"
    env = cli_env(server.url, KEY, cache=cache, model_id=model.id,
                  NANOCLIENT_RETRIES="2")  # the default would wait out the dead server for a minute
    # small batches, few workers: the upload takes about 2 s, long enough to be killed in the middle
    upload = subprocess.Popen([sys.executable, "-m", "nanoclient", "upload", str(folder), "--json",
                               "--batch-size", "2", "--workers", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(KEY, server.url) as client:
            deadline = time.monotonic() + 60
            while client.get_model(model.id).image_count < 30:
                assert time.monotonic() < deadline, "upload made no progress"
                time.sleep(0.05)
        server.kill()  # SIGKILL in the middle of the upload
        out, err = upload.communicate(timeout=120)
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.wait()
    assert upload.returncode != 0, "the interrupted upload must not claim success"
    assert_data_dir_consistent(server.data_dir, crashed=True)  # as the crash left it, before any sweep

    server.start()
    result = run_cli(server.url, KEY, "upload", str(folder), "--json", cache=cache, model_id=model.id)
    assert result.returncode == 0, result.stderr
    with Client(KEY, server.url) as client:
        assert model_counts(client.get_model(model.id)) == {c: 50 for c in CATEGORIES}
    server.stop()
    assert_data_dir_consistent(server.data_dir)


def test_server_killed_while_training_finishes_after_restart(server_factory, tmp_path):
    folder = labelled_folder(tmp_path / "imgs", 60)
    server = server_factory()
    with Client(KEY, server.url) as client:
        model = client.create_model(CATEGORIES)
        items = [(p, p.parent.name) for p in sorted(folder.rglob("*.png"))]
        assert client.upload_files(model.id, items).ok
        client.train(model.id)
        deadline = time.monotonic() + 60
        while client.get_model(model.id).state not in (4, 5, -1):
            assert time.monotonic() < deadline
            time.sleep(0.01)
    server.kill()
    server.start()
    with Client(KEY, server.url) as client:
        final = client.wait_until_trained(model.id, timeout=120, poll_interval=0.1)
    assert final.state == 5 and final.accuracy is not None


# ---------------------------------------------------------------- network faults, client side

def reset_mid_response(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n[{\"model_id\":")
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    conn.close()


def bad_gateway_html(conn: socket.socket) -> None:
    body = b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n%s" % (len(body), body))
    conn.close()


def never_answer(conn: socket.socket) -> None:
    time.sleep(5)


@pytest.mark.parametrize("behaviour,error,message", [
    (reset_mid_response, errors.APIConnectionError, "connection broke"),
    (bad_gateway_html, errors.ServerError, "Bad Gateway"),
    (never_answer, errors.APITimeoutError, "No response from GET http:.* within 0.5 s"),
])
def test_network_faults_become_nanoclient_errors_after_retries(behaviour, error, message):
    raw = RawServer(behaviour)
    try:
        with Client(KEY, raw.url, timeout=0.5, max_retries=2) as client:
            client._transport._sleep = lambda s: None
            with pytest.raises(error, match=message) as info:
                client.list_models()
        assert info.value.method == "GET" and info.value.url.startswith(raw.url)
        assert KEY not in str(info.value)
        deadline = time.monotonic() + 5
        while raw.connections < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert raw.connections == 3  # the first attempt and 2 retries
    finally:
        raw.close()


def test_connection_refused_is_a_connection_error():
    port = closed_port()  # nothing listens there
    with Client(KEY, f"http://127.0.0.1:{port}/api/v2", max_retries=1) as client:
        client._transport._sleep = lambda s: None
        with pytest.raises(errors.APIConnectionError, match="refused"):
            client.list_models()


def test_bad_request_is_not_retried(server_factory):
    server = server_factory()
    with Client(KEY, server.url) as client:
        with pytest.raises(errors.BadRequestError):
            client.train(client.create_model(CATEGORIES).id)  # no images: not ready


# ---------------------------------------------------------------- load

LOAD_SECONDS = float(os.environ.get("NANOCLIENT_LOAD_SECONDS", "30"))


def test_load_many_clients_upload_and_predict(server_factory, tmp_path):
    """Several clients at once for about LOAD_SECONDS: no 5xx, no lost or doubled image; latencies printed."""
    server = server_factory("--threads", "16")
    folder = labelled_folder(tmp_path / "seed", 8)
    with Client(KEY, server.url) as client:
        trained = client.create_model(CATEGORIES)
        assert client.upload_files(trained.id, [(p, p.parent.name) for p in folder.rglob("*.png")]).ok
        client.train(trained.id)
        client.wait_until_trained(trained.id, timeout=120, poll_interval=0.1)
    probe = sorted(folder.rglob("*.png"))[:4]

    latencies: dict[str, list[float]] = {"upload": [], "predict": []}
    failures: list[BaseException] = []
    sent: dict[str, dict[str, int]] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + LOAD_SECONDS

    def uploader(n: int) -> None:
        with Client(f"{KEY}-{n}", server.url, max_retries=0) as client:
            model = client.create_model(CATEGORIES)
            expected = {c: 0 for c in CATEGORIES}
            i = 0
            while time.monotonic() < stop_at:
                category = CATEGORIES[i % 3]
                path = tmp_path / f"u{n}-{i}.png"
                path.write_bytes(make_image(COLORS[category], seed=n * 1_000_000 + i))
                start = time.perf_counter()
                client.upload_file(model.id, path, category)
                if i % 5 == 0:  # the same bytes again: must count once
                    client.upload_file(model.id, path, category)
                with lock:
                    latencies["upload"].append(time.perf_counter() - start)
                expected[category] += 1
                i += 1
            sent[model.id] = expected
            assert model_counts(client.get_model(model.id)) == expected

    def predictor() -> None:
        with Client(KEY, server.url, max_retries=0) as client:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                results = client.predict_files(trained.id, probe, batch_size=2)
                with lock:
                    latencies["predict"].append(time.perf_counter() - start)
                assert [r.label for r in results] == [p.parent.name for p in probe]

    def guard(fn, *args) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=guard, args=(uploader, n)) for n in range(4)]
    threads += [threading.Thread(target=guard, args=(predictor,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LOAD_SECONDS + 120)
    assert not failures, failures
    assert len(sent) == 4
    summary = {}
    for kind, values in latencies.items():
        values.sort()
        summary[kind] = {"requests": len(values), "p50_ms": round(1000 * statistics.median(values), 1),
                         "p99_ms": round(1000 * values[int(0.99 * (len(values) - 1))], 1)}
        assert values, f"no {kind} request finished"
    print(f"\nload test ({LOAD_SECONDS:g} s, 4 uploaders + 2 predictors): {json.dumps(summary)}")
    server.stop()
    assert_data_dir_consistent(server.data_dir)
