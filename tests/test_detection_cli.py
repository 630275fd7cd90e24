"""``nanoclient detection ...`` through CliRunner against the in-process fake (which does not deduplicate, so a
file sent twice would be stored twice): create-model from a folder, upload in every annotation format with one
bad file costing that file only, an interrupted upload resumed without a file sent twice, train, status,
predict to a resumable --output, evaluate with its report."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from nanoclient.annotations import read_annotations
from nanoclient.cli import cli
from nanoclient.object_detection._resource import ObjectDetection
from nanoclient.testing import fake_nanonets

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://127.0.0.1:9/api/v2"
KEY = "detection-cli"
CLASSES = ["bottle", "car", "clock"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_detection.py"), "--out", str(out), "--train", "24",
                    "--test", "6", "--seed", "9"], check=True, capture_output=True)
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


def new_model(runner, folder: Path) -> str:
    made = json.loads(invoke(runner, "detection", "create-model", "--from-dir", folder, "--json").stdout)
    assert [c["name"] for c in made["categories"]] == CLASSES
    return str(made["model_id"])


def stored(fake, model_id: str) -> list[str]:
    from nanoclient import Client

    return [image.filename for image in Client(KEY, BASE_URL).object_detection.images(model_id)]


def test_upload_names_each_bad_file_and_a_rerun_sends_nothing_again(runner, fake, scenes, tmp_path):
    folder = tmp_path / "set"
    shutil.copytree(scenes / "train", folder)
    (folder / "scene_003.xml").write_text("<annotation><filename>scene_003.jpg</filename>")  # broken XML
    bad_box = next(p for p in sorted(folder.glob("*.xml")) if "<name>" in p.read_text() and p.stem > "scene_003")
    bad_box.write_text(bad_box.read_text().replace("<name>", "<name>x", 1))  # a category the model lacks
    (folder / "notes.bin").write_bytes(b"\x00\x01")
    model_id = new_model(runner, scenes)
    first = invoke(runner, "detection", "upload", folder, "--model-id", model_id, "--json", code=1)
    assert "scene_003.xml" in first.stderr and "notes.bin" in first.stderr
    body = json.loads(first.stdout)
    skipped = {Path(item["path"]).name for item in body["skipped"]}
    assert {"scene_003.xml", "scene_003.jpg", "notes.bin", bad_box.with_suffix(".jpg").name} <= skipped
    uploaded = body["uploaded"]
    assert uploaded == 24 - len({name for name in skipped if name.endswith(".jpg")})
    assert all(item["error"] is None for item in body["files"]) and len(body["files"]) == uploaded
    again = invoke(runner, "detection", "upload", folder, "--model-id", model_id, code=1)
    assert f"0 uploaded, {uploaded} already in the model" in again.stderr
    names = stored(fake, model_id)
    assert len(names) == len(set(names)) == uploaded


def test_an_interrupted_upload_resumes_without_a_file_sent_twice(runner, fake, scenes, monkeypatch):
    model_id = new_model(runner, scenes)
    real = ObjectDetection._send_images
    calls = {"n": 0}

    def flaky(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, model, batch)

    monkeypatch.setattr(ObjectDetection, "_send_images", flaky)
    stopped = invoke(runner, "detection", "upload", scenes, "--model-id", model_id, "--batch-size", "4",
                     "--workers", "1", code=130)
    assert "run the same command again" in stopped.stderr
    # as when the process exits: a request already in flight finishes (the engine abandons, never cancels, it)
    for thread in threading.enumerate():
        if thread.name.startswith("nanoclient-upload"):
            thread.join(30)
    before = stored(fake, model_id)
    assert 0 < len(before) < 24
    monkeypatch.setattr(ObjectDetection, "_send_images", real)
    resumed = invoke(runner, "detection", "upload", scenes, "--model-id", model_id)
    assert f"{24 - len(before)} uploaded, {len(before)} already in the model" in resumed.stderr
    names = stored(fake, model_id)
    assert len(names) == len(set(names)) == 24


def test_every_annotation_format_is_read(runner, fake, scenes, tmp_path):
    images = sorted((scenes / "train").glob("*.jpg"))[:8]
    annotations = [read_annotations(p.with_suffix(".xml"))[0] for p in images]
    formats = {name: tmp_path / name for name in ("json", "coco", "csv", "yolo")}
    for folder in formats.values():
        folder.mkdir()
        for image in images:
            shutil.copy(image, folder / image.name)
    (formats["json"] / "labels.json").write_text(json.dumps([a.to_json() for a in annotations]))
    coco = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for i, n in enumerate(CLASSES)]}
    rows = [["file", "field", "xmin", "ymin", "xmax", "ymax"]]
    for index, (image, annotation) in enumerate(zip(images, annotations, strict=True)):
        width, height = Image.open(image).size
        coco["images"].append({"id": index, "file_name": image.name, "width": width, "height": height})
        lines = []
        for box in annotation.boxes:
            coco["annotations"].append({"id": len(coco["annotations"]), "image_id": index,
                                        "category_id": CLASSES.index(box.field),
                                        "bbox": [box.xmin, box.ymin, box.xmax - box.xmin, box.ymax - box.ymin]})
            rows.append([image.name, box.field, box.xmin, box.ymin, box.xmax, box.ymax])
            lines.append(f"{CLASSES.index(box.field)} {(box.xmin + box.xmax) / 2 / width} "
                         f"{(box.ymin + box.ymax) / 2 / height} {(box.xmax - box.xmin) / width} "
                         f"{(box.ymax - box.ymin) / height}")
        (formats["yolo"] / f"{image.stem}.txt").write_text("\n".join(lines))
    (formats["coco"] / "coco.json").write_text(json.dumps(coco))
    with open(formats["csv"] / "boxes.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (formats["yolo"] / "classes.txt").write_text("\n".join(CLASSES))
    boxes = sum(len(a.boxes) for a in annotations)
    for name, folder in formats.items():
        checked = json.loads(invoke(runner, "detection", "upload", folder, "--dry-run", "--json").stdout)
        assert (checked["images"], checked["boxes"], checked["skipped"]) == (8, boxes, []), name
    given = json.loads(invoke(runner, "detection", "upload", formats["yolo"], "--annotations",
                              formats["csv"] / "boxes.csv", "--dry-run", "--json").stdout)
    assert given["boxes"] == boxes


def test_train_status_predict_and_evaluate(runner, fake, scenes, tmp_path):
    model_id = new_model(runner, scenes)
    invoke(runner, "detection", "upload", scenes, "--model-id", model_id)
    trained = invoke(runner, "detection", "train", "--wait", "--poll-interval", "0.2", "--model-id", model_id)
    assert "trained" in trained.stdout and "mAP@0.5" in trained.stdout
    status = json.loads(invoke(runner, "detection", "status", "--json", "--model-id", model_id).stdout)
    assert status["model"]["state"] == 5 and status["model"]["model_type"] == "object_detection"

    output = tmp_path / "found.jsonl"
    invoke(runner, "detection", "predict", scenes / "test", "--output", output, "--model-id", model_id)
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(Path(line["file"]).name for line in lines) == sorted(p.name for p in (scenes / "test").glob("*.jpg"))
    assert all(o["score"] >= 0.5 and o["label"] in CLASSES for line in lines for o in line["objects"])
    rerun = invoke(runner, "detection", "predict", scenes / "test", "--output", output, "--model-id", model_id)
    assert "6 of 6 images already answered" in rerun.stderr
    assert len(output.read_text().splitlines()) == 6
    printed = invoke(runner, "detection", "predict", sorted((scenes / "test").glob("*.jpg"))[0], "--model-id",
                     model_id)
    assert printed.stdout.strip()

    report = tmp_path / "report.html"
    result = json.loads(invoke(runner, "detection", "evaluate", scenes, "--json", "--report", report,
                               "--threshold", "0.4", "--model-id", model_id).stdout)
    assert result["images"] == 6 and result["threshold"] == 0.4
    assert [c["label"] for c in result["classes"]] == CLASSES
    assert result["map50"] is not None and result["map50"] > 0.3
    assert "<svg" in report.read_text()
    text = invoke(runner, "detection", "evaluate", scenes, "--model-id", model_id).stdout
    assert "mAP@0.5" in text and "COCO mAP@[.5:.95]" in text and "count error" in text


def test_predict_before_training_says_so_once(runner, fake, scenes):
    model_id = new_model(runner, scenes)
    result = invoke(runner, "detection", "predict", scenes / "test", "--model-id", model_id, code=1)
    assert len(result.stderr.strip().splitlines()) == 1  # one line for the run, not one per image
    assert "not trained" in result.stderr and "nanoclient detection train" in result.stderr
