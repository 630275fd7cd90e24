"""The official Python wrapper's ``OCR`` class (pip ``nanonets`` 2.0.5) against ``nanoclient serve``, for what it
can do: create, batch upload with annotations (JSON and Pascal VOC, which it converts loosely), train, state,
predict by file, by files and by URL. scripts/test.sh installs the wrapper (without its pinned dependencies)."""
from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import start_server

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (scripts/test.sh installs tesseract-ocr)")
nanonets = pytest.importorskip("nanonets", reason="the official wrapper is not installed (scripts/test.sh "
                                                  "installs nanonets==2.0.5 --no-deps)")

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]


def _voc(entry: dict) -> str:
    objects = "".join(
        f"<object><name>{o['name']}</name><ocr_text>{o['ocr_text']}</ocr_text><bndbox><xmin>{o['bndbox']['xmin']}"
        f"</xmin><ymin>{o['bndbox']['ymin']}</ymin><xmax>{o['bndbox']['xmax']}</xmax><ymax>{o['bndbox']['ymax']}"
        f"</ymax></bndbox></object>" for o in entry["object"])
    return f"<annotation><filename>{entry['filename']}</filename>{objects}</annotation>"


@contextlib.contextmanager
def serving(folder: Path):
    """A plain HTTP server on 127.0.0.1 serving ``folder`` (for URL predictions)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_official_ocr_class_works_against_the_local_server(tmp_path):
    invoices = tmp_path / "invoices"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_invoices.py"), "--out", str(invoices), "--train",
                    "52", "--test", "2", "--seed", "13"], check=True, capture_output=True)
    # the wrapper reads a JSON annotation file as the object list itself, or converts a VOC file
    training = {}
    for index, annotation in enumerate(sorted((invoices / "train").glob("*.json"))):
        entry = json.loads(annotation.read_text())
        mine = tmp_path / "annotations" / (annotation.stem + (".xml" if index % 4 == 0 else ".json"))
        mine.parent.mkdir(exist_ok=True)
        mine.write_text(_voc(entry) if mine.suffix == ".xml" else json.dumps(entry["object"]))
        training[str(invoices / "train" / entry["filename"])] = str(mine)
    server = start_server(tmp_path / "data", "--min-images", "5")
    try:
        model = nanonets.OCR("wrapper-key", FIELDS, model_id="not-yet")  # given an id, it creates nothing
        model.host = server.url + "/"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model.create_model(FIELDS)
            answers = model.upload_image_files(training, batch_size=20)
            started = model._train()
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert started.status_code == 200
        deadline = time.monotonic() + 300
        while True:
            with contextlib.redirect_stdout(io.StringIO()):
                state = model._check_model_state()  # asserts more than 50 files and labels per field
            if state["state"] in (5, -1) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state["state"] == 5, state
        assert {c["name"]: c["count"] for c in state["categories"]} == dict.fromkeys(FIELDS, 52)

        tests = sorted(p for p in (invoices / "test").iterdir() if p.suffix in (".png", ".jpg"))
        one = model.predict_for_file(str(tests[0]))
        assert list(one) == [tests[0].name]
        assert {box["label"] for box in one[tests[0].name]} <= set(FIELDS) and one[tests[0].name]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            both = model.predict_for_files([str(p) for p in tests], batch_size=20)
        assert sorted(both) == sorted(p.name for p in tests)
        assert both[tests[0].name] == one[tests[0].name]
        with serving(invoices / "test") as base:
            url = f"{base}/{tests[0].name}"
            by_url = model.predict_for_url(url)
        assert list(by_url) == [url] and by_url[url] == one[tests[0].name]
        truth = json.loads((invoices / "test" / (tests[0].stem + ".json")).read_text())["object"]
        read = {box["label"]: box["ocr_text"] for box in one[tests[0].name]}
        right = sum(read.get(o["name"]) == o["ocr_text"] for o in truth)
        assert right >= 4, (read, truth)  # 52 training documents: most fields read exactly
    finally:
        server.stop()
