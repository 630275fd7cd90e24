"""The local server trains OCR models from values alone: annotations with a text and no box.

Users often have the values of their documents (from their accounting system) and no boxes. The server
stores such labels, finds each value on its page by its normalised form when it trains (``1234.56`` is
the page's ``1,234.56``, ``2025-03-04`` its ``March 4, 2025``) and says which it could not find in the
trained model's status. Documents are the project's synthetic invoices (scripts/make_invoices.py), read by
the real engine (Tesseract).
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from helpers import annotated_documents, make_invoices, needs_tesseract

from nanoclient.ocr.values import parse_amount, parse_date
from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

pytestmark = needs_tesseract

KEY = "ocr-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_invoices(tmp_path_factory.mktemp("invoices"), train=12, test=3, seed=11)


@pytest.fixture()
def app(tmp_path: Path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=5, fetch_timeout=1))
    yield app
    app.extensions["nanoclient"]["backend"].close()



def _as_accounting_has_it(entry: dict) -> dict:
    """The annotation without boxes, amounts and dates written as an accounting system writes them."""
    objects = []
    for item in entry["object"]:
        text = item["ocr_text"]
        if item["name"] == "total_amount":
            amount = parse_amount(text)
            assert amount is not None, text
            text = str(amount)  # "$1,234.56" -> "1234.56"
        elif item["name"].endswith("_date"):
            date = parse_date(text)
            assert date is not None, text
            text = date.isoformat()  # "March 4, 2025" -> "2025-03-04"
        objects.append({"name": item["name"], "ocr_text": text})
    return {"filename": entry["filename"], "object": objects}


def _create(http) -> str:
    response = http.post("/api/v2/OCR/Model/", json={"categories": FIELDS, "model_type": "ocr"}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["model_id"])


def _upload(http, model_id: str, documents: list[tuple[Path, dict]]):
    files = [(io.BytesIO(path.read_bytes()), path.name) for path, _ in documents]
    return http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH,
                     data={"file": files, "data": json.dumps([entry for _, entry in documents])})


def test_training_from_values_alone_finds_them_and_names_the_ones_it_could_not(app, invoices):
    http = app.test_client()
    model_id = _create(http)
    documents = [(path, _as_accounting_has_it(entry)) for path, entry in annotated_documents(invoices / "train")]
    lost = documents[3][0].name
    documents[3][1]["object"][0] = {"name": "invoice_number", "ocr_text": "NOT-ON-THE-PAGE-77"}
    documents[4][1]["object"][1]["page"] = 0  # a page may be given
    assert _upload(http, model_id, documents).status_code == 200

    listed = http.get(f"/api/v2/OCR/Model/{model_id}/Annotations", headers=AUTH).get_json()
    stored = {item["filename"]: item["object"] for item in listed["Data"]}
    assert all("bndbox" not in box for boxes in stored.values() for box in boxes)
    assert {box["name"]: box.get("page") for box in stored[documents[4][0].name]}["invoice_date"] == 0
    assert all(c["count"] == len(documents) for c in listed["Meta"]["categories"])

    assert http.post(f"/api/v2/OCR/Model/{model_id}/Train/", headers=AUTH).status_code == 200
    assert app.extensions["nanoclient"]["backend"].wait_idle(240)
    model = http.get(f"/api/v2/OCR/Model/{model_id}", headers=AUTH).get_json()
    assert model["state"] == 5, model
    assert "1 value given without a box not found" in model["status"], model["status"]
    assert f"{lost} invoice_number 'NOT-ON-THE-PAGE-77'" in model["status"]

    # what it learnt from the values reads the held-out invoices as well as boxes would teach it
    tests = annotated_documents(invoices / "test")
    files = [(io.BytesIO(path.read_bytes()), path.name) for path, _ in tests]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/", headers=AUTH, data={"file": files})
    assert response.status_code == 200
    right = total = 0
    for page, (_, entry) in zip(response.get_json()["result"], tests, strict=True):
        found = {box["label"]: box["ocr_text"] for box in page["prediction"]}
        for labelled in entry["object"]:
            total += 1
            # the answer is the page's text (not the accounting form it was taught with)
            right += found.get(labelled["name"]) == labelled["ocr_text"]
    assert right >= total * 0.6, (right, total)


@pytest.mark.parametrize("item, message", [
    ({"name": "total_amount"}, "has neither a bndbox nor an ocr_text"),
    ({"name": "total_amount", "ocr_text": "  "}, "has neither a bndbox nor an ocr_text"),
    ({"name": "total_amount", "ocr_text": "12.50", "page": 3}, "is on page 3, but the file has 1"),
    ({"name": "total_amount", "ocr_text": "12.50", "page": "x"}, "has page 'x'"),
])
def test_a_value_without_box_needs_a_text_and_a_real_page(app, invoices, item, message):
    http = app.test_client()
    model_id = _create(http)
    path, entry = annotated_documents(invoices / "train")[0]
    response = _upload(http, model_id, [(path, {"filename": entry["filename"], "object": [item]})])
    assert response.status_code == 400
    assert message in response.get_json()["message"] and path.name in response.get_json()["message"]


def test_a_number_given_as_the_value_is_kept_as_its_text(app, invoices):
    http = app.test_client()
    model_id = _create(http)
    path, entry = annotated_documents(invoices / "train")[0]
    response = _upload(http, model_id, [(path, {"filename": entry["filename"], "object": [
        {"name": "total_amount", "ocr_text": 1234.5}]})])
    assert response.status_code == 200
    listed = http.get(f"/api/v2/OCR/Model/{model_id}/Annotations", headers=AUTH).get_json()
    assert listed["Data"][0]["object"] == [{"name": "total_amount", "ocr_text": "1234.5"}]


def test_the_cli_uploads_a_csv_of_values_trains_and_predicts_normalised_values(tmp_path):
    """``ocr upload`` of documents labelled by a CSV of values (no box columns), ``ocr train``, then ``ocr predict
    --normalize``: the value column holds dates as YYYY-MM-DD and amounts as plain decimals."""
    import csv
    import shutil
    import subprocess
    import sys

    from helpers import run_cli, start_server

    root = Path(__file__).resolve().parent.parent
    invoices = tmp_path / "invoices"
    subprocess.run([sys.executable, str(root / "scripts" / "make_invoices.py"), "--out", str(invoices), "--train",
                    "6", "--test", "1", "--seed", "17"], check=True, capture_output=True)
    rows = []
    for path, entry in annotated_documents(invoices / "train"):
        rows.extend((path.name, item["name"], item["ocr_text"])
                    for item in _as_accounting_has_it(entry)["object"])
        (invoices / "train" / (path.stem + ".json")).unlink()
    with (invoices / "train" / "values.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([("file", "field", "text"), *rows])
    server = start_server(tmp_path / "data", "--min-images", "5")
    try:
        cache = tmp_path / "cache"
        created = run_cli(server.url, KEY, "ocr", "create-model", "--from-dir", invoices / "train", cache=cache)
        assert created.returncode == 0, created.stderr
        model_id = created.stdout.strip().split("=", 1)[1]
        upload = run_cli(server.url, KEY, "ocr", "upload", invoices / "train", cache=cache, model_id=model_id)
        assert upload.returncode == 0 and "6 uploaded" in upload.stderr, upload.stderr
        trained = run_cli(server.url, KEY, "ocr", "train", "--wait", "--poll-interval", "0.5", cache=cache,
                          model_id=model_id)
        assert trained.returncode == 0 and "trained" in trained.stdout, trained.stderr
        assert "not found" not in trained.stdout  # every value was found on its page
        output = tmp_path / "fields.csv"
        test = next(p for p in (invoices / "test").iterdir() if p.suffix != ".json")
        predicted = run_cli(server.url, KEY, "ocr", "predict", test, "--normalize", "--output", output, cache=cache,
                            model_id=model_id)
        assert predicted.returncode == 0, predicted.stderr
        read = {row["field"]: row for row in csv.DictReader(output.open())}
        for field in ("invoice_date", "due_date"):
            if field in read and parse_date(read[field]["text"]) is not None:
                assert read[field]["value"] == parse_date(read[field]["text"]).isoformat()
        if "total_amount" in read and parse_amount(read["total_amount"]["text"]) is not None:
            assert read["total_amount"]["value"] == str(parse_amount(read["total_amount"]["text"]))
        assert any(field in read for field in ("invoice_date", "due_date", "total_amount"))
    finally:
        server.stop()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
