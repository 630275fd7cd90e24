"""Against a server as unkind as the hosted one: every file stored exactly once, every prediction
keeps its own file's label.

A real ``nanoclient serve --no-dedupe`` (which counts every stored part and declares nothing),
reached directly or through tests/faultproxy.py, which loses answers after the server stored
the upload (500s and dropped connections), answers 429 without forwarding, keeps only the
first file of a batch, and shuffles prediction results. The truth is read from the server
itself, never through the proxy.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests
from faultproxy import FaultProxy
from helpers import make_image, run_cli

from nanoclient import Client

KEY = "fidelity-key"
CATEGORIES = ["red", "green", "blue", "grey"]
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "grey": (128, 128, 128)}


def folder_of(root: Path, per_category: int) -> Path:
    """root/<category>/NNN.png, every file distinct."""
    for k, category in enumerate(CATEGORIES):
        (root / category).mkdir(parents=True, exist_ok=True)
        for i in range(per_category):
            data = make_image(COLORS[category], size=(12, 12), seed=10_000 * k + i)
            (root / category / f"{i:04d}.png").write_bytes(data)
    return root


def upload(url: str, folder: Path, model_id: str, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    """``nanoclient upload FOLDER --json EXTRA`` in a subprocess, against ``url`` as KEY."""
    return run_cli(url, KEY, "upload", folder, "--json", *extra, cache=cache, model_id=model_id, timeout=600)


def truth(server, model_id: str) -> dict[str, int]:
    """The counts per category as the server itself holds them (not through any proxy)."""
    answer = requests.get(f"{server.url}/ImageCategorization/Model/", params={"modelId": model_id},
                          auth=(KEY, ""), timeout=30)
    assert "Nanoclient-Dedupe" not in answer.headers  # --no-dedupe: every stored part counts
    return {c["name"]: c["count"] for c in answer.json()["categories"]}


def test_600_images_through_lost_answers_and_429s_are_each_stored_once(server_factory, tmp_path):
    folder = folder_of(tmp_path / "imgs", 150)  # 600 distinct images
    server = server_factory("--no-dedupe")
    model_id = Client(KEY, server.url).create_model(CATEGORIES).id
    with FaultProxy(server.root, seed=11, fail_after_rate=0.3, drop_mode="mixed", drop_style="mixed",
                    rate_limit_every_nth=9, rate_limit_retry_after="alternate") as proxy:
        result = upload(proxy.url, folder, model_id, tmp_path / "cache", "--batch-size", "5")  # 120 batches
        stats = proxy.stats
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["failed"], report["unsettled"]) == (600, 0, 0)
    assert truth(server, model_id) == {c: 150 for c in CATEGORIES}
    # the faults really happened: answers lost after storing, and 429s
    assert stats.injected_500 >= 5 and stats.dropped >= 5 and stats.rate_limited >= 5, stats


def test_a_service_that_keeps_only_the_first_part_still_gets_every_file_once(server_factory, tmp_path):
    folder = folder_of(tmp_path / "imgs", 15)
    server = server_factory("--no-dedupe")
    model_id = Client(KEY, server.url).create_model(CATEGORIES).id
    with FaultProxy(server.root, first_part_only=True, fail_after_rate=0.2, seed=5) as proxy:
        result = upload(proxy.url, folder, model_id, tmp_path / "cache")
        # only each category's first batch had several parts (sent before any answer showed the
        # service's kind): then one by one
        assert 1 <= proxy.stats.rewritten <= len(CATEGORIES)
    assert result.returncode == 0, result.stderr
    assert truth(server, model_id) == {c: 15 for c in CATEGORIES}


def test_the_servers_own_unkind_switches_are_survived_by_the_cli_upload(server_factory, tmp_path):
    folder = folder_of(tmp_path / "imgs", 60)
    server = server_factory("--no-dedupe", "--fail-after-rate", "0.3", "--fail-seed", "3", "--shuffle-results")
    with Client(KEY, server.url) as client:
        for _ in range(50):  # creating is not retried after a lost answer: try again until one is seen
            try:
                model_id = client.create_model(CATEGORIES).id
                break
            except Exception:
                continue
    result = upload(server.url, folder, model_id, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["uploaded"] == 240
    assert truth(server, model_id) == {c: 60 for c in CATEGORIES}


def test_shuffled_prediction_answers_keep_each_files_label(server_factory, tmp_path):
    folder = folder_of(tmp_path / "imgs", 6)
    server = server_factory("--no-dedupe", "--min-images", "5")
    with Client(KEY, server.url) as client:
        model_id = client.create_model(CATEGORIES).id
        items = [(path, path.parent.name) for path in sorted(folder.rglob("*.png"))]
        assert client.upload_files(model_id, items).ok
        client.train(model_id)
        client.wait_until_trained(model_id, timeout=180, poll_interval=0.1)
        probes = []
        for k, category in enumerate(CATEGORIES * 10):  # 40 probes, 10 of each colour
            path = tmp_path / "probes" / f"{k:02d}-{category}.png"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(make_image(COLORS[category], size=(12, 12), seed=777 + k))
            probes.append(path)
        direct = [(p.file, p.label, p.probability) for p in client.predict_files(model_id, probes)]
    assert [label for _, label, _ in direct] == [p.stem.split("-")[1] for p in probes]  # colours are easy
    with FaultProxy(server.root, shuffle_results=True, seed=2) as proxy, Client(KEY, proxy.url) as client:
        shuffled = [(p.file, p.label, p.probability) for p in client.predict_files(model_id, probes, batch_size=10)]
        assert proxy.stats.shuffled == 4
    assert shuffled == direct
