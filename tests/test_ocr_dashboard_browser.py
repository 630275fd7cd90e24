"""The dashboard's page of an OCR model in real headless Chromium (Selenium, Debian's chromedriver), against
``nanoclient serve -v`` in a subprocess: an OCR model trained through the API on synthetic invoices
(scripts/make_invoices.py) shows in the list as OCR, its page shows its fields with their counts, the state
and the accuracy, its training documents drawn with their labelled boxes where the annotations put them,
and "try it" draws the fields read on a PNG and lists those of a PDF page by page.

Skipped where Chromium, chromedriver, selenium or Tesseract is missing (as tests/test_dashboard_browser.py).
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import ServerProcess
from PIL import Image
from test_dashboard_browser import WAIT, Browser, _assert_key_nowhere, _screenshots, _sign_in, _tools

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (scripts/test.sh installs tesseract-ocr)")

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-ocr-dashboard-0123456789-SECRET"
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]
TRAIN = 8


@pytest.fixture(scope="module")
def invoices(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("invoices")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_invoices.py"), "--out", str(out), "--train",
                    str(TRAIN), "--test", "2", "--seed", "11"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _tools()
    process = ServerProcess(tmp_path_factory.mktemp("ocr-dashboard") / "data", ["--min-images", "2", "-v"])
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, server):
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


def _entries(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _trained_model(server: ServerProcess, invoices: Path) -> str:
    """An OCR model trained through the API on the training invoices, uploaded one per request (oldest first)."""
    api = server.url + "/OCR/Model"
    model_id = requests.post(api + "/", json={"categories": FIELDS, "model_type": "ocr"}, auth=(KEY, ""),
                             timeout=30).json()["model_id"]
    for entry in _entries(invoices / "train"):
        path = invoices / "train" / entry["filename"]
        response = requests.post(f"{api}/{model_id}/UploadFile/", auth=(KEY, ""), timeout=60,
                                 files=[("file", (path.name, path.read_bytes()))],
                                 data={"data": json.dumps([entry])})
        assert response.status_code == 200, response.text
    assert requests.post(f"{api}/{model_id}/Train/", auth=(KEY, ""), timeout=30).status_code == 200
    deadline = time.monotonic() + 300
    while (model := requests.get(f"{api}/{model_id}", auth=(KEY, ""), timeout=30).json())["state"] != 5:
        assert model["state"] in (3, 4) and time.monotonic() < deadline, model
        time.sleep(0.5)
    return str(model_id)


def test_an_ocr_models_page_draws_its_documents_boxes_and_what_it_reads(server, browser, invoices, tmp_path):
    model_id = _trained_model(server, invoices)
    model = requests.get(f"{server.url}/OCR/Model/{model_id}", auth=(KEY, ""), timeout=30).json()
    classification = requests.post(server.url + "/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                                   auth=(KEY, ""), timeout=30).json()["model_id"]

    # the list: both types, the OCR model marked and linked to its own page
    _sign_in(browser, server, KEY)
    rows = browser.wait(lambda d: len(browser.all("a.model-row")) == 2 and browser.all("a.model-row"))
    assert [r.get_attribute("data-type") for r in rows] == ["classification", "ocr"]  # newest first
    assert "OCR" in rows[1].find_element("css selector", ".type-tag").text and "trained" in rows[1].text
    assert rows[1].get_attribute("href").endswith(f"#/ocr/{model_id}")
    assert rows[0].get_attribute("data-model") == classification
    rows[1].click()

    # fields with their counts, the state and the accuracy
    browser.wait(lambda d: len(browser.all("#o-fields .field")) == len(FIELDS), message="fields")
    assert browser.text("o-id") == model_id and browser.by_id("o-state").text == "trained"
    fields = {f.get_attribute("data-field"): f.find_element("css selector", ".n").text
              for f in browser.all("#o-fields .field")}
    assert fields == dict.fromkeys(FIELDS, str(TRAIN))
    accuracy = model["accuracy"]
    assert browser.text("o-accuracy") == ("–" if accuracy is None else f"{accuracy * 100:.1f}%")
    assert not browser.by_id("o-train").is_enabled() and browser.by_id("o-train").text == "Trained"

    # the training documents, newest first, each page drawn with its boxes where the annotation puts them
    def loaded(d) -> bool:
        images = browser.all("#o-docs .doc img")
        return len(images) == TRAIN and all(d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)

    browser.wait(loaded, message="the documents' pages")
    browser.wait(lambda d: browser.text("o-documents") == str(TRAIN), message="the documents' count")
    entries = _entries(invoices / "train")[::-1]
    figures = browser.all("#o-docs figure.doc")
    assert [f.find_element("css selector", ".doc-name").text for f in figures] == [e["filename"] for e in entries]
    for figure, entry in zip(figures, entries, strict=True):
        sheet = figure.find_element("css selector", ".sheet")
        image = sheet.find_element("css selector", "img")
        assert image.get_attribute("src").startswith("blob:")
        assert browser.driver.execute_script("return arguments[0].naturalWidth", image) == 600  # asked 600 wide
        frame = sheet.rect
        boxes = {b.get_attribute("data-field"): b for b in sheet.find_elements("css selector", ".box")}
        assert sorted(boxes) == sorted(FIELDS)
        for labelled in entry["object"]:
            box, want = boxes[labelled["name"]].rect, labelled["bndbox"]
            assert abs((box["x"] - frame["x"]) / frame["width"] - want["xmin"] / 850) < 0.01
            assert abs((box["y"] - frame["y"]) / frame["height"] - want["ymin"] / 1100) < 0.01
            assert abs(box["width"] / frame["width"] - (want["xmax"] - want["xmin"]) / 850) < 0.01
            assert boxes[labelled["name"]].get_attribute("title") == f"{labelled['name']}: {labelled['ocr_text']}"
            assert boxes[labelled["name"]].text == labelled["name"]

    # try it on a test invoice: the fields read, drawn over it and listed, with their scores
    test = _entries(invoices / "test")[0]
    browser.by_id("o-try-input").send_keys(str(invoices / "test" / test["filename"]))
    rows = browser.wait(lambda d: browser.all("#o-try-rows tr") or None, timeout=120, message="fields read")
    read = {r.get_attribute("data-field"): r.find_element("css selector", ".txt").text for r in rows}
    assert set(read) <= set(FIELDS) and len(read) == len(rows) >= 3
    right = sum(read.get(o["name"]) == o["ocr_text"] for o in test["object"])
    assert right >= 3, (read, test["object"])
    assert browser.text("o-try-verdict") == f"{len(rows)} field{'s' if len(rows) != 1 else ''} read."
    drawn = browser.wait(lambda d: browser.all("#o-try-page .box") or None, message="boxes over the document")
    assert sorted(b.get_attribute("data-field") for b in drawn) == sorted(read)
    assert all("%" in b.text for b in drawn)  # label and score on each tag
    assert browser.by_id("o-try-page").find_element("css selector", "img").get_attribute("src").startswith("blob:")
    assert not browser.by_id("o-try-page-col").is_displayed()
    _screenshots(browser, tmp_path, "dashboard-ocr")

    # a PDF of two pages: no picture, the fields page by page in the table
    pdf = tmp_path / "two.pdf"
    first, second = (Image.open(invoices / "test" / e["filename"]).convert("RGB") for e in _entries(invoices / "test"))
    buffer = io.BytesIO()
    first.save(buffer, "PDF", save_all=True, append_images=[second], resolution=100)
    pdf.write_bytes(buffer.getvalue())
    browser.by_id("o-try-input").send_keys(str(pdf))
    browser.wait(lambda d: "2 pages" in browser.text("o-try-verdict"), timeout=120, message="the PDF read")
    assert "not drawn here" in browser.text("o-try-verdict")
    assert not browser.by_id("o-try-page").is_displayed() and browser.by_id("o-try-page-col").is_displayed()
    pages = {r.find_element("css selector", "td").text for r in browser.all("#o-try-rows tr")}
    assert pages == {"1", "2"}

    # the classification path of an OCR model leads to its page
    browser.driver.get(server.root + f"/#/models/{model_id}")
    browser.wait(lambda d: d.current_url.endswith(f"#/ocr/{model_id}"), timeout=WAIT, message="redirected")
    browser.wait(lambda d: len(browser.all("#o-fields .field")) == len(FIELDS))
    _assert_key_nowhere(browser, server, KEY)
