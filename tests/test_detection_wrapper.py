"""The official Python wrapper's ``ObjectDetection`` class (pip ``nanonets`` 2.0.5) against ``nanoclient serve``:
create, batch upload with Pascal VOC and JSON annotations (which it converts with xmljson), train, its state
check (which asserts more than 50 images, and more than 50 per category), predict by file and by files.
scripts/test.sh installs the wrapper (without its pinned dependencies)."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import start_server

from nanoclient.annotations import read_annotations

nanonets = pytest.importorskip("nanonets", reason="the official wrapper is not installed (scripts/test.sh "
                                                  "installs nanonets==2.0.5 --no-deps)")
pytest.importorskip("xmljson", reason="the wrapper converts VOC files with xmljson")

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["car", "bottle", "clock"]


def test_the_official_object_detection_class_works_against_the_local_server(tmp_path):
    scenes = tmp_path / "scenes"
    # 120 scenes label each class in more than 50 images, as the wrapper's state check demands
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_detection.py"), "--out", str(scenes), "--train",
                    "120", "--test", "4", "--seed", "21"], check=True, capture_output=True)
    training = {}
    for index, image in enumerate(sorted((scenes / "train").glob("*.jpg"))):
        voc = image.with_suffix(".xml")
        if index % 3 == 0:  # the wrapper reads a JSON annotation file as the object list itself
            mine = tmp_path / "json" / (image.stem + ".json")
            mine.parent.mkdir(exist_ok=True)
            annotation = read_annotations(voc)[0]
            mine.write_text(json.dumps([{"name": b.field, "bndbox": {"xmin": b.xmin, "ymin": b.ymin, "xmax": b.xmax,
                                                                     "ymax": b.ymax}} for b in annotation.boxes]))
            training[str(image)] = str(mine)
        else:
            training[str(image)] = str(voc)
    server = start_server(tmp_path / "data", "--min-images", "5")
    try:
        model = nanonets.ObjectDetection("wrapper-key", CLASSES, model_id="not-yet")  # given an id, creates nothing
        model.host = server.url + "/"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            created = model._create_model(CLASSES)
            answers = model.upload_image_files(training, batch_size=20)
            started = model._train()
        assert created.status_code == 200 and created.json()["model_type"] == "object_detection"
        assert [a.status_code for a in answers] == [200] * 6, [a.text[:200] for a in answers]
        assert started.status_code == 200, started.text
        deadline = time.monotonic() + 600
        while True:
            with contextlib.redirect_stdout(io.StringIO()):
                state = model._check_model_state()  # asserts more than 50 images and 50 per category
            if state["state"] in (5, -1) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state["state"] == 5, state
        counts = {c["name"]: c["count"] for c in state["categories"]}
        assert counts == {"car": 57, "bottle": 63, "clock": 55}

        tests = sorted((scenes / "test").glob("*.jpg"))
        one = model.predict_for_file(str(tests[0]))
        assert list(one) == [tests[0].name]
        for box in one[tests[0].name]:
            assert box["label"] in CLASSES and 0 <= box["score"] <= 1 and box["xmin"] < box["xmax"]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            every = model.predict_for_files([str(p) for p in tests], batch_size=20)
        assert sorted(every) == sorted(p.name for p in tests)
        assert every[tests[0].name] == one[tests[0].name]
        truths = sum(len(read_annotations(p.with_suffix(".xml"))[0].boxes) for p in tests)
        confident = sum(1 for found in every.values() for box in found if box["score"] >= 0.5)
        assert abs(confident - truths) <= max(2, truths // 3), (confident, truths)
    finally:
        server.stop()
