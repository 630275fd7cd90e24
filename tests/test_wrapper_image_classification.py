"""The official Python wrapper's ``ImageClassification`` class (pip ``nanonets`` 2.0.5) against ``nanoclient
serve``: create, upload one file and a batch, train, the state check, predict one file and a batch. (Its OCR
class: test_ocr_wrapper.py; multi-label and detection: their own test files.) scripts/test.sh installs the
wrapper without its pinned dependencies."""
from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import pytest
from helpers import make_image, start_server

nanonets = pytest.importorskip("nanonets", reason="the official wrapper is not installed (scripts/test.sh "
                                                  "installs nanonets==2.0.5 --no-deps)")

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def _images(folder: Path, per_category: int) -> dict[str, str]:
    """path -> category: ``per_category`` noisy images of each colour."""
    folder.mkdir(parents=True)
    training = {}
    for category, colour in COLOURS.items():
        for i in range(per_category):
            path = folder / f"{category}-{i:02d}.png"
            path.write_bytes(make_image(colour, size=(24, 24), seed=i))
            training[str(path)] = category
    return training


def test_the_official_image_classification_class_works_against_the_local_server(tmp_path):
    training = _images(tmp_path / "train", 27)  # its state check asserts more than 25 images per category
    one_path, one_category = next(iter(training.items()))
    server = start_server(tmp_path / "data", "--min-images", "5")
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = nanonets.ImageClassification("wrapper-key", list(COLOURS), model_id="not-yet")
            model.host = server.url + "/"
            created = model._create_model(list(COLOURS))
            single = model.upload_image_file(one_path, one_category)
            rest = {path: category for path, category in training.items() if path != one_path}
            answers = model.upload_image_files(rest, batch_size=20)
            started = model._train()
        assert created.status_code == 200 and single.status_code == 200
        assert answers and all(a.status_code == 200 for a in answers)
        assert started.status_code == 200
        deadline = time.monotonic() + 180
        while True:
            with contextlib.redirect_stdout(io.StringIO()):
                state = model._check_model_state()
            if state["state"] in (5, -1) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert state["state"] == 5, state
        assert {c["name"]: c["count"] for c in state["categories"]} == {"red": 27, "blue": 27}

        tests = _images(tmp_path / "test", 3)
        first = next(iter(tests))
        one = model.predict_for_file(first)
        assert list(one) == [Path(first).name]
        assert one[Path(first).name][0]["label"] == tests[first]  # best first
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            every = model.predict_for_files(list(tests), batch_size=4)
        assert {name: scores[0]["label"] for name, scores in every.items()} == {
            Path(path).name: category for path, category in tests.items()}
    finally:
        server.stop()
