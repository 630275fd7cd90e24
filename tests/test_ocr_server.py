"""The local server's OCR models (docs/OCR-API.md): create, upload with annotations, train, read pages.

Documents are the project's synthetic invoices (scripts/make_invoices.py, made into tmp_path); pages are
read by the real engine (Tesseract), which scripts/test.sh installs.
"""
from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest
from helpers import annotated_documents, make_invoices, needs_tesseract
from PIL import Image

from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

pytestmark = needs_tesseract

ROOT = Path(__file__).resolve().parent.parent
KEY = "ocr-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("invoices")
    return make_invoices(out, train=12, test=3, seed=5)


@pytest.fixture()
def app(tmp_path: Path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=5, fetch_timeout=1))
    yield app
    app.extensions["nanoclient"]["backend"].close()



def _create(http, path: str = "/api/v2/OCR/Model/") -> str:
    response = http.post(path, json={"categories": FIELDS, "model_type": "ocr"}, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["model_type"] == "ocr" and body["state"] == 0
    assert [c["name"] for c in body["categories"]] == FIELDS
    return str(body["model_id"])


def _upload(http, model_id: str, documents: list[tuple[Path, dict]], family: str = "OCR"):
    files = [(io.BytesIO(path.read_bytes()), path.name) for path, _ in documents]
    return http.post(f"/api/v2/{family}/Model/{model_id}/UploadFile/", headers=AUTH,
                     data={"file": files, "data": json.dumps([entry for _, entry in documents])})


def _annotations(http, model_id: str) -> dict:
    response = http.get(f"/api/v2/ObjectDetection/Model/{model_id}/Annotations", headers=AUTH)
    assert response.status_code == 200
    return response.get_json()


def _trained(app, invoices: Path) -> tuple[object, str]:
    http = app.test_client()
    model_id = _create(http)
    assert _upload(http, model_id, annotated_documents(invoices / "train")).status_code == 200
    response = http.post(f"/api/v2/OCR/Model/{model_id}/Train/", headers=AUTH)
    assert response.status_code == 200 and response.get_json()["state"] in (3, 4)
    assert app.extensions["nanoclient"]["backend"].wait_idle(240)
    model = http.get(f"/api/v2/OCR/Model/{model_id}", headers=AUTH).get_json()
    assert model["state"] == 5, model
    return http, model_id


def test_upload_counts_each_field_once_per_document_and_lists_the_files(app, invoices):
    http = app.test_client()
    model_id = _create(http, "/api/v2/ObjectDetection/Model/")  # where the official wrapper creates one
    documents = annotated_documents(invoices / "train")[:3]
    response = _upload(http, model_id, documents, family="ObjectDetection")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["Meta"]["state"] == body["Meta"]["State"] == 1  # fewer than min_images documents per field
    assert {c["name"]: c["count"] for c in body["Meta"]["categories"]} == dict.fromkeys(FIELDS, 3)
    assert [d["filename"] for d in body["Data"]] == [path.name for path, _ in documents]
    assert body["Data"][0]["object"][0]["ocr_text"] == documents[0][1]["object"][0]["ocr_text"]
    # the same bytes again count once (the server's dedupe, on by default); Annotations lists all files
    assert _upload(http, model_id, documents[:1]).status_code == 200
    listed = _annotations(http, model_id)
    assert len(listed["Data"]) == 3 and listed["Meta"]["categories"][0]["count"] == 3


@pytest.mark.parametrize("change, message", [
    (lambda entry: entry["object"][0].update(name="totl"), "is not a field of the model"),
    (lambda entry: entry["object"][0]["bndbox"].update(xmax=5000), "is outside the page"),
    (lambda entry: entry["object"][0]["bndbox"].update(xmin=900, xmax=10), "empty box"),
    (lambda entry: entry.update(filename="elsewhere.png"), "not a file of this request"),
])
def test_a_bad_annotation_is_refused_naming_the_file_and_nothing_is_stored(app, invoices, change, message):
    http = app.test_client()
    model_id = _create(http)
    documents = [(path, json.loads(json.dumps(entry))) for path, entry in annotated_documents(invoices / "train")[:2]]
    change(documents[1][1])
    response = _upload(http, model_id, documents)
    assert response.status_code == 400
    error = response.get_json()
    assert message in error["message"]
    assert documents[1][0].name in error["message"] or "elsewhere.png" in error["message"]
    listed = _annotations(http, model_id)
    assert listed["Data"] == [] and all(c["count"] == 0 for c in listed["Meta"]["categories"])


def test_not_a_document_is_refused(app):
    http = app.test_client()
    model_id = _create(http)
    response = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH,
                         data={"file": [(io.BytesIO(b"plain text"), "notes.txt")], "data": "[]"})
    assert response.status_code == 400 and "notes.txt" in response.get_json()["message"]


def test_model_types_do_not_mix(app):
    http = app.test_client()
    ocr_id = _create(http)
    response = http.get(f"/api/v2/ImageCategorization/Model/{ocr_id}", headers=AUTH)
    assert response.status_code == 404
    assert response.get_json()["errors"][0] | {"message": ""} == {"reason": "other_model_type", "model_type": "ocr",
                                                                  "message": ""}
    classification = http.post("/api/v2/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                               headers=AUTH).get_json()["model_id"]
    response = http.get(f"/api/v2/OCR/Model/{classification}", headers=AUTH)
    assert response.status_code == 404 and response.get_json()["errors"][0]["model_type"] == "classification"
    types = {m["model_id"]: m["model_type"] for m in http.get("/api/v2/ImageCategorization/Models/",
                                                              headers=AUTH).get_json()}
    assert types == {ocr_id: "ocr", classification: "classification"}
    bad = http.post("/api/v2/ObjectDetection/Model/", json={"categories": ["car"], "model_type": "detection"},
                    headers=AUTH)
    assert bad.status_code == 400


def test_training_then_reading_fields_sync_async_and_by_day(app, invoices):
    http, model_id = _trained(app, invoices)
    tests = annotated_documents(invoices / "test")
    files = [(io.BytesIO(path.read_bytes()), path.name) for path, _ in tests]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/", headers=AUTH, data={"file": files})
    assert response.status_code == 200
    pages = response.get_json()["result"]
    assert [(p["input"], p["page"]) for p in pages] == [(path.name, 0) for path, _ in tests]
    right = total = 0
    for page, (path, entry) in zip(pages, tests, strict=True):
        width, height = Image.open(path).size
        found = {box["label"]: box for box in page["prediction"]}
        assert set(found) <= set(FIELDS)
        for box in found.values():
            assert 0 <= box["xmin"] < box["xmax"] <= width and 0 <= box["ymin"] < box["ymax"] <= height
            assert 0 <= box["score"] <= 1
        for labelled in entry["object"]:
            total += 1
            right += found.get(labelled["name"], {}).get("ocr_text") == labelled["ocr_text"]
    assert right >= total * 0.6, (right, total)  # 12 training documents; the bench measures the real figure

    # asynchronous: pending at once, with ids to fetch each page by later
    files = [(io.BytesIO(tests[0][0].read_bytes()), tests[0][0].name)]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/?async=true", headers=AUTH, data={"file": files})
    assert response.status_code == 200
    pending = response.get_json()["result"][0]["result"]
    assert [p["status"] for p in pending] == ["pending"] and pending[0]["prediction"] == []
    deadline = time.monotonic() + 60
    while True:
        fetched = http.get(f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences/{pending[0]['id']}",
                           headers=AUTH).get_json()["result"][0]
        if fetched["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert fetched["status"] == "success"
    assert fetched["prediction"] == pages[0]["prediction"]  # the same page read the same way

    today = int(time.time() // 86400)
    listing = http.get(f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences?start_day_interval={today - 1}"
                       f"&current_batch_day={today}", headers=AUTH).get_json()
    assert listing["unmoderated_images_count"] == len(tests) + 1
    assert pending[0]["id"] in {item["id"] for item in listing["unmoderated_images"]}
    empty = http.get(f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences?start_day_interval=1"
                     "&current_batch_day=2", headers=AUTH).get_json()
    assert empty["unmoderated_images"] == []
    bad = http.get(f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences?start_day_interval=x"
                   "&current_batch_day=2", headers=AUTH)
    assert bad.status_code == 400

    # a PDF of two pages: one entry per page, counted from 0
    pytest.importorskip("pypdfium2")
    first, second = (Image.open(path).convert("RGB") for path, _ in tests[:2])
    pdf = io.BytesIO()
    first.save(pdf, "PDF", save_all=True, append_images=[second], resolution=100)
    response = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/", headers=AUTH,
                         data={"file": [(io.BytesIO(pdf.getvalue()), "two.pdf")]})
    assert response.status_code == 200
    assert [(p["input"], p["page"]) for p in response.get_json()["result"]] == [("two.pdf", 0), ("two.pdf", 1)]


def test_an_untrained_model_says_so(app, invoices):
    http = app.test_client()
    model_id = _create(http)
    path, _ = annotated_documents(invoices / "test")[0]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/LabelFile/", headers=AUTH,
                         data={"file": [(io.BytesIO(path.read_bytes()), path.name)]})
    assert response.status_code == 400 and "not trained" in response.get_json()["message"]
    response = http.post(f"/api/v2/OCR/Model/{model_id}/Train/", headers=AUTH)
    assert response.status_code == 400 and "invoice_number (0)" in response.get_json()["errors"][0]["message"]


def test_documents_by_url_upload_and_predict_with_a_partial_answer(tmp_path, invoices):
    from nanoclient.server.backend import Backend
    from nanoclient.server.fetch import FetchError
    from nanoclient.server.store import Store

    documents = annotated_documents(invoices / "train")
    by_url = {f"http://docs.test/{path.name}": path for path, _ in documents}
    missing = "http://docs.test/missing.png"

    def fetch(url: str) -> bytes:
        if url not in by_url:
            raise FetchError(f"{url} answered 404")
        return by_url[url].read_bytes()

    backend = Backend(Store(tmp_path / "data"), min_images=5, fetcher=fetch).start()
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=5), backend)
    try:
        http = app.test_client()
        model_id = _create(http)
        data = [{**entry, "filename": url} for url, (_, entry) in zip(by_url, documents, strict=True)]
        partial = http.post(f"/api/v2/OCR/Model/{model_id}/UploadUrls/", headers=AUTH,
                            json={"urls": [*by_url, missing], "data": data})
        assert partial.status_code == 202
        body = partial.get_json()
        assert [d["filename"] for d in body["Data"]] == list(by_url)
        assert [(e["url"], e["reason"]) for e in body["errors"]] == [(missing, "bad_url")]
        nothing = http.post(f"/api/v2/OCR/Model/{model_id}/UploadUrls/", headers=AUTH, json={"urls": [missing]})
        assert nothing.status_code == 400 and _annotations(http, model_id)["Data"] == body["Data"]
        assert http.post(f"/api/v2/OCR/Model/{model_id}/Train/", headers=AUTH).status_code == 200
        assert backend.wait_idle(240)
        first = next(iter(by_url))
        read = http.post(f"/api/v2/ObjectDetection/Model/{model_id}/LabelUrls/", headers=AUTH,
                         data={"modelId": model_id, "urls": [first, missing]})
        assert read.status_code == 202
        pages = read.get_json()["result"]
        assert [(p["input"], p["status"]) for p in pages] == [(first, "success"), (missing, "failure")]
        assert pages[0]["prediction"] and "404" in pages[1]["message"]
        wrong = http.post(f"/api/v2/OCR/Model/{model_id}/LabelUrls/", headers=AUTH,
                          data={"modelId": "another", "urls": [first]})
        assert wrong.status_code == 400 and "not the model of the path" in wrong.get_json()["message"]
    finally:
            backend.close()


def test_a_pdf_is_labelled_page_by_page_in_pixels_at_150_dpi(app, invoices):
    pytest.importorskip("pypdfium2")
    http = app.test_client()
    model_id = _create(http)
    (first, entry), (second, _) = annotated_documents(invoices / "train")[:2]
    pdf = io.BytesIO()
    Image.open(first).convert("RGB").save(pdf, "PDF", save_all=True, resolution=100,
                                          append_images=[Image.open(second).convert("RGB")])
    scale = 150 / 100  # the server renders PDF pages at 150 dpi; the pages were 100 dpi images
    box = {k: round(v * scale) for k, v in entry["object"][0]["bndbox"].items()}
    labelled = {"filename": "two.pdf", "object": [{**entry["object"][0], "bndbox": box, "page": 1}]}
    response = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH,
                         data={"file": [(io.BytesIO(pdf.getvalue()), "two.pdf")], "data": json.dumps([labelled])})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["Data"][0]["object"][0]["page"] == 1
    beyond = {**labelled, "object": [{**labelled["object"][0], "page": 2}]}
    refused = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH,
                        data={"file": [(io.BytesIO(pdf.getvalue() + b"\n"), "two.pdf")], "data": json.dumps([beyond])})
    assert refused.status_code == 400 and "page 2, but the file has 2" in refused.get_json()["message"]
    width, height = Image.open(first).size
    outside = {**labelled, "object": [{**labelled["object"][0], "bndbox": {
        "xmin": 10, "ymin": 10, "xmax": round(width * scale) + 5, "ymax": 40}}]}
    refused = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=AUTH,
                        data={"file": [(io.BytesIO(pdf.getvalue() + b"\n\n"), "two.pdf")],
                              "data": json.dumps([outside])})
    assert refused.status_code == 400 and "outside the page" in refused.get_json()["message"]
