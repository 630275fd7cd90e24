"""``nanoclient multilabel ...`` through CliRunner against the in-process fake (which does not deduplicate, so an
image sent twice would be stored twice): create-model from a folder's labels, upload with a broken image, an
unlabelled one and an unknown label each costing that file only, the same upload again sending nothing,
labels from a CSV, train --wait, status, predict to a resumable --output, evaluate with its report."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nanoclient import Client
from nanoclient.cli import cli
from nanoclient.testing import fake_nanonets

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://127.0.0.1:9/api/v2"
KEY = "multilabel-cli"
LABELS = ["circle", "cross", "square", "star", "triangle"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("multilabel")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_multilabel.py"), "--out", str(out), "--train", "40",
                    "--test", "6", "--seed", "3"], check=True, capture_output=True)
    return out


@pytest.fixture
def fake(tmp_path, isolated_settings, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", BASE_URL)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=3) as running:
        yield running


def invoke(runner, *args, code=0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def stored(model_id: str) -> dict[str, tuple[str, ...]]:
    with Client(KEY, BASE_URL) as client:
        return client.multilabel.annotations(model_id)


def test_upload_costs_a_bad_file_only_and_a_second_run_sends_nothing(runner, fake, generated, tmp_path):
    folder = tmp_path / "set" / "train"
    shutil.copytree(generated / "train", folder)
    images = sorted(folder.glob("*.png"))[:12]
    for extra in sorted(folder.glob("*.png"))[12:]:
        extra.unlink()
        extra.with_suffix(".txt").unlink()
    broken = folder / "broken.png"
    broken.write_bytes(images[0].read_bytes()[:50])
    broken.with_suffix(".txt").write_text("circle\n")
    unlabelled = folder / "unlabelled.png"
    unlabelled.write_bytes(images[1].read_bytes())
    (folder / "dog.png").write_bytes(images[2].read_bytes())
    (folder / "dog.txt").write_text("circle\ndog\n")
    made = json.loads(invoke(runner, "multilabel", "create-model", "--from-dir", tmp_path / "set", "--json").stdout)
    found = [c["name"] for c in made["categories"]]
    assert "dog" in found and found == sorted(found) and set(found) <= {*LABELS, "dog"}  # the labels of the .txt
    model_id = invoke(runner, "multilabel", "create-model", *LABELS).stdout.strip().split("=", 1)[1]

    first = invoke(runner, "multilabel", "upload", tmp_path / "set", "--json", "--model-id", model_id, "--batch-size",
                   "5", code=1)
    outcome = {Path(item["path"]).name: item for item in json.loads(first.stdout)["files"]}
    assert {name: item["outcome"] for name, item in outcome.items()} == {
        **{p.name: "uploaded" for p in images}, "broken.png": "failed", "unlabelled.png": "skipped",
        "dog.png": "skipped"}
    assert "dog is not a label of the model" in outcome["dog.png"]["error"]
    assert ".txt" in outcome["unlabelled.png"]["error"] and outcome["broken.png"]["error"]
    assert f"failed {broken}" in first.stderr and f"skipped {unlabelled}" in first.stderr
    held = stored(model_id)
    assert set(held) == {p.name for p in images}
    assert held[images[3].name] == tuple(images[3].with_suffix(".txt").read_text().split())

    requests_before = fake.request_count
    second = invoke(runner, "multilabel", "upload", tmp_path / "set", "--model-id", model_id, code=1)
    assert "0 uploaded, 12 already in the model" in second.stderr
    assert fake.request_count - requests_before == 2  # the model, its listing: no upload sent
    assert stored(model_id) == held

    labels_csv = tmp_path / "labels.csv"
    with labels_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "labels"])
        writer.writerow(["set/train/unlabelled.png", "star;cross"])
    result = invoke(runner, "multilabel", "upload", tmp_path / "set", "--labels", labels_csv, "--model-id", model_id,
                    code=1)  # every other image has no entry in the CSV: skipped, named
    assert "1 uploaded" in result.stderr and stored(model_id)["unlabelled.png"] == ("star", "cross")


def test_train_status_predict_and_evaluate(runner, fake, generated, tmp_path):
    model_id = invoke(runner, "multilabel", "create-model", "--from-dir", generated).stdout.strip().split("=", 1)[1]
    assert [c.name for c in Client(KEY, BASE_URL).multilabel.get_model(model_id).categories] == LABELS
    invoke(runner, "multilabel", "upload", generated, "--model-id", model_id)
    trained = invoke(runner, "multilabel", "train", "--wait", "--poll-interval", "0.5", "--model-id", model_id)
    assert "Model trained" in trained.stdout and "labels    5, each with the image files in which it is labelled" \
        in trained.stdout
    status = json.loads(invoke(runner, "multilabel", "status", "--json", "--model-id", model_id).stdout)
    assert status["model"]["state"] == 5

    tests = sorted((generated / "test").glob("*.png"))
    output = tmp_path / "labels.csv"
    first = invoke(runner, "multilabel", "predict", generated / "test", "--output", output, "--model-id", model_id)
    assert "skipped" not in first.stderr  # the .txt of labels beside each image is no image to skip
    rows = list(csv.DictReader(output.open()))
    assert [row["file"] for row in rows] == [str(p) for p in tests]
    assert all(set(json.loads(row["scores"])) == set(LABELS) and not row["error"] for row in rows)
    assert all(set(filter(None, row["labels"].split(";"))) <= set(LABELS) for row in rows)
    again = invoke(runner, "multilabel", "predict", generated / "test", "--output", output, "--model-id", model_id)
    assert "6 of 6 images already predicted" in again.stderr and len(list(csv.DictReader(output.open()))) == 6
    lines = invoke(runner, "multilabel", "predict", tests[0], "--json", "--model-id", model_id).stdout.splitlines()
    assert [json.loads(line)["file"] for line in lines] == [str(tests[0])]
    text = invoke(runner, "multilabel", "predict", tests[0], "--model-id", model_id).stdout
    assert text.startswith(str(tests[0])) and "circle" in text

    report = tmp_path / "report.html"
    scored = json.loads(invoke(runner, "multilabel", "evaluate", generated, "--json", "--report", report,
                               "--model-id", model_id).stdout)
    assert scored["n"] == 6 and set(scored["per_label"]) == set(LABELS)
    assert 0 <= scored["micro_f1"] <= 1 and 0 <= scored["hamming_loss"] <= 1
    predicted = {row["file"]: set(filter(None, row["labels"].split(";"))) for row in rows}
    truth = {str(p): set(p.with_suffix(".txt").read_text().split()) for p in tests}
    wrong = sum(len(truth[f] ^ predicted[f]) for f in truth)
    assert scored["hamming_loss"] == pytest.approx(wrong / (6 * len(LABELS)))  # the answers predict gave
    assert report.read_text().startswith("<!DOCTYPE html>")
    table = invoke(runner, "multilabel", "evaluate", generated, "--model-id", model_id).stdout
    assert "micro F1" in table and "macro avg" in table and "Hamming loss" in table
