"""The local extension for OCR models (``server/ocr_local.py``), through Flask's test client: an OCR model's
training documents newest first with their boxes and page sizes, and each page as a downsized PNG.

Documents are the project's synthetic invoices (scripts/make_invoices.py, made into a temporary folder).
Nothing here trains a model (tests/test_ocr_dashboard_browser.py does), but the module needs what the OCR
models need, like tests/test_ocr_server.py.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from helpers import make_invoices, needs_tesseract
from PIL import Image, ImageChops

from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

pytestmark = needs_tesseract

ROOT = Path(__file__).resolve().parent.parent
KEY, OTHER = "ocr-dashboard-key", "ocr-dashboard-other"
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]
LOCAL = "/local/v1/models"


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, dict]]:
    out = tmp_path_factory.mktemp("invoices")
    make_invoices(out, train=5, test=0, seed=7)
    return [(out / "train" / json.loads(p.read_text())["filename"], json.loads(p.read_text()))
            for p in sorted((out / "train").glob("*.json"))]


@pytest.fixture()
def app(tmp_path: Path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2, fetch_timeout=1))
    yield app
    app.extensions["nanoclient"]["backend"].close()


def _create(http, key: str = KEY) -> str:
    response = http.post("/api/v2/OCR/Model/", json={"categories": FIELDS, "model_type": "ocr"}, headers=_auth(key))
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["model_id"])


def _upload(http, model_id: str, name: str, content: bytes, objects: list[dict], key: str = KEY) -> None:
    response = http.post(f"/api/v2/OCR/Model/{model_id}/UploadFile/", headers=_auth(key),
                         data={"file": [(io.BytesIO(content), name)],
                               "data": json.dumps([{"filename": name, "object": objects}])})
    assert response.status_code == 200, response.get_json()


def _model_with(http, invoices, count: int) -> str:
    """An OCR model holding the first ``count`` invoices, uploaded one by one (oldest first)."""
    model_id = _create(http)
    for path, entry in invoices[:count]:
        _upload(http, model_id, path.name, path.read_bytes(), entry["object"])
    return model_id


def _flat(objects: list[dict]) -> list[dict]:
    return [{"name": o["name"], "ocr_text": o["ocr_text"], "page": o.get("page", 0), **o["bndbox"]} for o in objects]


def test_documents_are_listed_newest_first_with_their_boxes_and_page_sizes(app, invoices):
    http = app.test_client()
    model_id = _model_with(http, invoices, 5)
    response = http.get(f"{LOCAL}/{model_id}/documents", headers=_auth())
    assert response.status_code == 200
    listing = response.get_json()
    assert (listing["model_id"], listing["page"], listing["per_page"], listing["pages"], listing["total"]) == (
        model_id, 1, 12, 1, 5)
    assert listing["fields"] == FIELDS
    names = [d["name"] for d in listing["documents"]]
    assert names == [path.name for path, _ in invoices[4::-1]]  # newest first
    ids = [d["id"] for d in listing["documents"]]
    assert ids == sorted(ids, reverse=True)
    for document, (path, entry) in zip(listing["documents"], invoices[4::-1], strict=True):
        width, height = Image.open(path).size
        assert document["page_count"] == 1 and document["page_sizes"] == [{"width": width, "height": height}]
        assert document["boxes"] == _flat(entry["object"])  # the boxes as uploaded, in page pixels
        assert len(document["sha256"]) == 64

    # pages of 2: 3 pages, the last with the oldest document alone
    second = http.get(f"{LOCAL}/{model_id}/documents?page=2&per_page=2", headers=_auth()).get_json()
    assert (second["page"], second["pages"], second["total"]) == (2, 3, 5)
    assert [d["name"] for d in second["documents"]] == [invoices[2][0].name, invoices[1][0].name]
    last = http.get(f"{LOCAL}/{model_id}/documents?page=3&per_page=2", headers=_auth()).get_json()
    assert [d["name"] for d in last["documents"]] == [invoices[0][0].name]
    beyond = http.get(f"{LOCAL}/{model_id}/documents?page=9&per_page=2", headers=_auth()).get_json()
    assert beyond["documents"] == [] and beyond["total"] == 5


def test_an_empty_model_lists_no_documents(app):
    http = app.test_client()
    model_id = _create(http)
    listing = http.get(f"{LOCAL}/{model_id}/documents", headers=_auth()).get_json()
    assert (listing["documents"], listing["total"], listing["pages"]) == ([], 0, 1)


def test_a_page_is_the_document_as_read_downsized_and_cached(app, invoices):
    http = app.test_client()
    model_id = _model_with(http, invoices, 1)
    path, _ = invoices[0]
    original = Image.open(path).convert("L")
    document = http.get(f"{LOCAL}/{model_id}/documents", headers=_auth()).get_json()["documents"][0]
    url = f"{LOCAL}/{model_id}/documents/{document['id']}/pages/0"

    # 850 px wide: at most 1000, never enlarged, so the page itself, pixel for pixel
    response = http.get(url, headers=_auth())
    assert response.status_code == 200 and response.mimetype == "image/png"
    drawn = Image.open(io.BytesIO(response.data))
    assert drawn.size == original.size == (850, 1100)
    assert ImageChops.difference(drawn.convert("L"), original).getbbox() is None
    assert response.headers["X-Page-Width"] == "850" and response.headers["X-Page-Height"] == "1100"
    assert float(response.headers["X-Page-Scale"]) == 1.0
    assert response.headers["Cache-Control"] == "private, max-age=86400, immutable"
    etag = response.headers["ETag"].strip('"')
    assert etag.startswith(document["sha256"] + "-p0-w850")  # the width drawn
    again = http.get(url, headers={**_auth(), "If-None-Match": f'"{etag}"'})
    assert again.status_code == 304 and again.data == b""

    # asked 300 px wide: downsized, the scale said, another ETag
    small = http.get(url + "?width=300", headers=_auth())
    assert small.status_code == 200
    assert Image.open(io.BytesIO(small.data)).size == (300, round(1100 * 300 / 850))
    assert float(small.headers["X-Page-Scale"]) == pytest.approx(300 / 850, rel=1e-5)
    assert small.headers["ETag"] != response.headers["ETag"]

    # drawn once, then read from the data folder's cache
    store = app.extensions["nanoclient"]["backend"].store
    cached = store.thumbnail_path(document["sha256"], "page0-w300-v1.png")
    assert cached.read_bytes() == small.data
    cached.write_bytes(b"not drawn again")
    assert http.get(url + "?width=300", headers=_auth()).data == b"not drawn again"


def test_a_pdf_lists_every_page_and_draws_each_at_150_dpi(app, invoices):
    pytest.importorskip("pypdfium2")
    from nanoclient.server.ocr.engine import page_sizes

    http = app.test_client()
    model_id = _create(http)
    (first, _), (second, entry) = invoices[:2]
    pdf = io.BytesIO()
    Image.open(first).convert("RGB").save(pdf, "PDF", save_all=True, resolution=100,
                                          append_images=[Image.open(second).convert("RGB")])
    # the second page's boxes, from 100 dpi to the 150 at which the server reads PDFs
    objects = [{**o, "page": 1, "bndbox": {k: v * 1.5 for k, v in o["bndbox"].items()}} for o in entry["object"]]
    _upload(http, model_id, "two.pdf", pdf.getvalue(), objects)
    document = http.get(f"{LOCAL}/{model_id}/documents", headers=_auth()).get_json()["documents"][0]
    sizes = page_sizes(pdf.getvalue())  # as the engine draws them
    assert document["page_count"] == 2 and len(sizes) == 2  # 1275 x 1650 give or take the PDF's rounding
    assert all(abs(w - 1275) <= 1 and abs(h - 1650) <= 1 for w, h in sizes)
    assert document["page_sizes"] == [{"width": w, "height": h} for w, h in sizes]
    assert {box["page"] for box in document["boxes"]} == {1} and len(document["boxes"]) == len(FIELDS)

    url = f"{LOCAL}/{model_id}/documents/{document['id']}/pages"
    page = http.get(url + "/1", headers=_auth())
    assert page.status_code == 200
    width, height = sizes[1]
    assert Image.open(io.BytesIO(page.data)).size == (1000, round(height * 1000 / width))
    assert float(page.headers["X-Page-Scale"]) == pytest.approx(1000 / width, rel=1e-5)
    # the second page is the second invoice: compared at the first one's size, it is near it, the first page is not
    drawn = Image.open(io.BytesIO(page.data)).convert("L").resize((850, 1100))
    near = ImageChops.difference(drawn, Image.open(second).convert("L"))
    far = ImageChops.difference(drawn, Image.open(first).convert("L"))
    mean = lambda image: sum(i * n for i, n in enumerate(image.histogram())) / (850 * 1100)  # noqa: E731
    assert mean(near) < 8 and mean(far) > mean(near) * 2
    missing = http.get(url + "/2", headers=_auth())
    assert missing.status_code == 404 and "2 pages" in missing.get_json()["message"]


@pytest.mark.parametrize("path, status", [
    ("/{other}/documents", 404),                      # an OCR model of another key
    ("/{classification}/documents", 404),             # a model of another type
    ("/no-such-model/documents", 404),
    ("/{model}/documents?page=0", 400),
    ("/{model}/documents?page=x", 400),
    ("/{model}/documents?per_page=101", 400),
    ("/{model}/documents/999999/pages/0", 404),       # no such document
    ("/{model}/documents/abc/pages/0", 404),
    ("/{model}/documents/{theirs}/pages/0", 404),     # a document of another model
    ("/{model}/documents/{doc}/pages/1", 404),        # an image has one page
    ("/{model}/documents/{doc}/pages/x", 400),
    ("/{model}/documents/{doc}/pages/-1", 400),
    ("/{model}/documents/{doc}/pages/0?width=123", 400),
    ("/{model}/documents/{doc}/pages/0?width=2000", 400),
])
def test_unknown_things_are_404_and_bad_numbers_400_as_json(app, invoices, path, status):
    http = app.test_client()
    model = _model_with(http, invoices, 1)
    other = _create(http, OTHER)
    path0, entry0 = invoices[1]
    _upload(http, other, path0.name, path0.read_bytes(), entry0["object"], key=OTHER)
    theirs = http.get(f"{LOCAL}/{other}/documents", headers=_auth(OTHER)).get_json()["documents"][0]["id"]
    doc = http.get(f"{LOCAL}/{model}/documents", headers=_auth()).get_json()["documents"][0]["id"]
    classification = http.post("/api/v2/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                               headers=_auth()).get_json()["model_id"]
    url = LOCAL + path.format(model=model, other=other, classification=classification, theirs=theirs, doc=doc)
    response = http.get(url, headers=_auth())
    assert response.status_code == status, (url, response.data[:300])
    body = response.get_json()
    assert body["code"] == status and body["message"] and body["errors"][0]["message"]
    assert response.headers["Nanoclient-Server"] == "local"
    # the same model with the key that owns it, where the path is right
    if "{other}" in path:
        assert http.get(url, headers=_auth(OTHER)).status_code == 200


def test_a_key_is_needed_and_the_document_lists_both_operations(app, invoices):
    http = app.test_client()
    model_id = _model_with(http, invoices, 1)
    assert http.get(f"{LOCAL}/{model_id}/documents").status_code == 401
    assert http.get(f"{LOCAL}/{model_id}/documents/1/pages/0").status_code == 401
    paths = http.get("/api/v2/openapi.json").get_json()["paths"]
    for path in ("/models/{model_id}/documents", "/models/{model_id}/documents/{document_id}/pages/{page}"):
        operation = paths[path]["get"]
        assert operation["x-local-only"] is True and operation["tags"] == ["local-only"]
        assert paths[path]["servers"][0]["url"] == "/local/v1"
