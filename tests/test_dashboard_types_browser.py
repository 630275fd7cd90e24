"""The dashboard's pages of object detection and multi-label models in real headless Chromium (Selenium, Debian's
chromedriver), against ``nanoclient serve -v`` in a subprocess: the list tags every model with its type and links
each to its type's page; a detection model's page shows its categories with their counts and draws each training
image's boxes as SVG rects where its annotation puts them, and, once trained in the page, "try it" draws the boxes
it finds with their label and score; a multi-label model's page shows its labels with their counts and each
image's labels as chips, one label's images when that label is pressed.

Detection scenes are the project's generator's (scripts/make_detection.py, into a temporary folder; 16 train in
about 6 s); multi-label images are made here with Pillow and not trained (its learner needs minutes).
Skipped where Chromium, chromedriver or selenium is missing (as tests/test_dashboard_browser.py).
"""
from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests
from helpers import ServerProcess
from PIL import Image, ImageDraw
from test_dashboard_browser import Browser, _assert_key_nowhere, _screenshots, _sign_in, _tools

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-types-dashboard-0123456789-SECRET"
LABELS = ["red", "green", "blue"]
TRAIN = 16


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_detection.py"), "--out", str(out), "--train",
                    str(TRAIN), "--test", "2", "--seed", "5"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _tools()
    process = ServerProcess(tmp_path_factory.mktemp("types-dashboard") / "data", ["--min-images", "2", "-v"])
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory, server):
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


def _voc(path: Path) -> tuple[str, list[tuple[str, int, int, int, int]]]:
    """(image file name, [(class, xmin, ymin, xmax, ymax)]) of a Pascal VOC file."""
    root = ElementTree.parse(path).getroot()
    boxes = []
    for item in root.iter("object"):
        box = item.find("bndbox")
        assert box is not None
        boxes.append((item.findtext("name", ""), *(int(float(box.findtext(k, "0"))) for k in ("xmin", "ymin", "xmax",
                                                                                               "ymax"))))
    return root.findtext("filename", ""), boxes


def _post(server: ServerProcess, path: str, **kwargs) -> dict:
    answer = requests.post(f"{server.url}/{path}", auth=(KEY, ""), timeout=60, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _detection_model(server: ServerProcess, scenes: Path) -> tuple[str, list[tuple[str, list]]]:
    """A detection model holding the training scenes, uploaded one per request (oldest first), and the scenes."""
    labelled = [_voc(path) for path in sorted((scenes / "train").glob("*.xml"))]
    classes = sorted({box[0] for _, boxes in labelled for box in boxes})
    model_id = _post(server, "ObjectDetection/Model/", json={"categories": classes})["model_id"]
    for name, boxes in labelled:
        data = [{"filename": name, "object": [{"name": c, "bndbox": {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}}
                                              for c, x0, y0, x1, y1 in boxes]}]
        _post(server, f"ObjectDetection/Model/{model_id}/UploadFile/",
              files=[("file", (name, (scenes / "train" / name).read_bytes(), "image/jpeg")),
                     ("data", ("", json.dumps(data)))])
    return model_id, labelled


def _tagged_image(labels: list[str], seed: int) -> bytes:
    """A 64 x 64 picture with a disc of each label's colour."""
    image = Image.new("RGB", (64, 64), (230, 230, 230))
    draw = ImageDraw.Draw(image)
    colours = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 30, 220)}
    for index, label in enumerate(labels):
        x = 6 + 20 * index + seed % 3
        draw.ellipse([x, 20, x + 16, 36], fill=colours[label])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


TAGGED = [("one.png", ["red"]), ("two.png", ["red", "blue"]), ("none.png", []), ("three.png", ["green", "blue", "red"]),
          ("four.png", ["green"])]


def _multilabel_model(server: ServerProcess) -> str:
    model_id = _post(server, "MultiLabelClassification/Model/", json={"categories": LABELS})["model_id"]
    for index, (name, labels) in enumerate(TAGGED):
        _post(server, f"MultiLabelClassification/Model/{model_id}/UploadFiles/",
              files=[("files", (name, _tagged_image(labels, index), "image/png")),
                     ("data", ("", json.dumps([{"filename": name, "categories": labels}])))])
    return model_id


def _pictures_loaded(browser: Browser, selector: str, count: int) -> bool:
    images = browser.all(selector)
    return len(images) == count and all(browser.driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img) for img in images)


def test_the_list_tags_each_type_and_each_page_shows_its_files(server, browser, scenes, tmp_path):
    classification = _post(server, "ImageCategorization/Model/", data={"categories": ["a", "b"]})["model_id"]
    detection, labelled = _detection_model(server, scenes)
    tagged = _multilabel_model(server)

    # the list: every model tagged with its type, each linked to its type's page (newest first)
    _sign_in(browser, server, KEY)
    rows = browser.wait(lambda d: len(browser.all("a.model-row")) == 3 and browser.all("a.model-row"))
    assert [r.get_attribute("data-type") for r in rows] == ["multilabel", "object_detection", "classification"]
    assert [r.find_element("css selector", ".type-tag").text for r in rows] == [
        "Multi-label", "Detection", "Image categorization"]
    assert [r.get_attribute("href").split("#")[1] for r in rows] == [
        f"/multilabel/{tagged}", f"/detection/{detection}", f"/models/{classification}"]

    # a detection model's page: categories with their counts, each image's boxes drawn where they are
    rows[1].click()
    classes = sorted({box[0] for _, boxes in labelled for box in boxes})
    browser.wait(lambda d: len(browser.all("#d-categories .field")) == len(classes), message="categories")
    counts = {f.get_attribute("data-field"): f.find_element("css selector", ".n").text
              for f in browser.all("#d-categories .field")}
    assert counts == {c: str(sum(any(b[0] == c for b in boxes) for _, boxes in labelled)) for c in classes}
    assert browser.text("d-id") == detection and browser.by_id("d-state").text == "ready to train"
    browser.wait(lambda d: _pictures_loaded(browser, "#d-images-grid figure img", 12), message="12 pictures")
    assert browser.text("d-images") == str(TRAIN) and "page 1 of 2" in browser.text("d-pager-text")
    newest = labelled[::-1]
    figures = browser.all("#d-images-grid figure")
    for figure, (name, boxes) in zip(figures, newest[:12], strict=True):
        assert figure.find_element("css selector", ".doc-name").text == name
        rects = figure.find_elements("css selector", "svg.boxes rect.box-rect")
        assert len(rects) == len(boxes)
        assert [r.find_element("xpath", "..").get_attribute("data-label") for r in rects] == [b[0] for b in boxes]
        drawn = [tuple(int(float(r.get_attribute(k))) for k in ("x", "y", "width", "height")) for r in rects]
        assert drawn == [(x0, y0, x1 - x0, y1 - y0) for _, x0, y0, x1, y1 in boxes]
        # on screen: the SVG covers the picture, so a box sits where the annotation puts it
        sheet = figure.find_element("css selector", ".sheet").rect
        with Image.open(scenes / "train" / name) as image:
            width = image.width
        if boxes:
            rect = rects[0].rect
            assert abs((rect["x"] - sheet["x"]) / sheet["width"] - boxes[0][1] / width) < 0.02
    # colours: one per category, the same across images
    colours = {(r.find_element("xpath", "..").get_attribute("data-label"), r.get_attribute("stroke"))
               for r in browser.all("#d-images-grid rect.box-rect")}
    assert len({label for label, _ in colours}) == len(colours) == len({stroke for _, stroke in colours})
    browser.by_id("d-next").click()
    browser.wait(lambda d: len(browser.all("#d-images-grid figure")) == TRAIN - 12, message="page 2")
    assert [f.find_element("css selector", ".doc-name").text for f in browser.all("#d-images-grid figure")] == [
        name for name, _ in newest[12:]]

    # a multi-label model's page, reached through the Image Categorization address too: labels, chips
    browser.driver.get(server.root + f"/#/models/{tagged}")
    browser.wait(lambda d: d.current_url.endswith(f"#/multilabel/{tagged}"), message="redirected to its page")
    browser.wait(lambda d: len(browser.all("#l-labels .cat")) == len(LABELS), message="labels")
    counts = {c.get_attribute("data-field"): c.find_element("css selector", ".n").text
              for c in browser.all("#l-labels .cat")}
    assert counts == {label: str(sum(label in ls for _, ls in TAGGED)) for label in LABELS}
    browser.wait(lambda d: _pictures_loaded(browser, "#l-images-grid figure img", len(TAGGED)), message="pictures")
    figures = browser.all("#l-images-grid figure")
    shown = [(f.find_element("css selector", "figcaption").text,
              sorted(c.get_attribute("data-label") for c in f.find_elements("css selector", ".label-chip")))
             for f in figures]
    assert shown == [(name, sorted(labels)) for name, labels in TAGGED[::-1]]
    assert "no label" in figures[TAGGED[::-1].index(("none.png", []))].text
    # one label pressed: its images only
    next(c for c in browser.all("#l-labels .cat") if c.get_attribute("data-field") == "blue").click()
    browser.wait(lambda d: len(browser.all("#l-images-grid figure")) == 2, message="blue's images")
    assert [f.find_element("css selector", "figcaption").text for f in browser.all("#l-images-grid figure")] == [
        "three.png", "two.png"]
    assert "labelled blue" in browser.text("l-page-label")
    _screenshots(browser, tmp_path, "dashboard-multilabel")
    _assert_key_nowhere(browser, server, KEY)


def test_a_detection_model_trains_in_the_page_and_draws_what_it_finds(server, browser, scenes, tmp_path):
    detection, labelled = _detection_model(server, scenes)
    _sign_in(browser, server, KEY)
    browser.driver.get(server.root + f"/#/detection/{detection}")
    browser.wait(lambda d: browser.by_id("d-train").is_enabled(), message="ready to train")
    browser.by_id("d-train").click()
    browser.wait(lambda d: browser.by_id("d-state").text == "trained", timeout=180, message="trained")
    assert browser.by_id("d-train").text == "Trained" and not browser.by_id("d-train").is_enabled()

    # try it on a held-out scene: boxes drawn over it with their label and score, listed too
    name, truth = _voc(sorted((scenes / "test").glob("*.xml"))[0])
    browser.by_id("d-try-input").send_keys(str(scenes / "test" / name))
    rects = browser.wait(lambda d: browser.all("#d-try-page svg rect.box-rect") or None, timeout=60,
                         message="boxes found")
    rows = browser.all("#d-try-rows tr")
    assert len(rows) == len(rects) >= 1
    labels = [r.find_element("xpath", "..").get_attribute("data-label") for r in rects]
    texts = [t.text for t in browser.all("#d-try-page svg text.box-text")]
    assert all(text.startswith(label + " ") and text.endswith("%") for text, label in zip(texts, labels, strict=True))
    assert {label for label, *_ in truth} & set(labels), (truth, labels)
    _screenshots(browser, tmp_path, "dashboard-detection")
    # the threshold at 0: every box found is drawn (at least as many)
    browser.driver.execute_script("const r = document.getElementById('d-threshold'); r.value = '0';"
                                  "r.dispatchEvent(new Event('input'));")
    browser.wait(lambda d: len(browser.all("#d-try-page svg rect.box-rect")) >= len(rects), message="all boxes")
    assert "at least 0.0%" in browser.text("d-try-verdict")
    _assert_key_nowhere(browser, server, KEY)



def _two_colour_image(labels: list[str], rng) -> bytes:
    """A 64 x 64 picture with a disc of each of its labels' colours (red, blue) somewhere on it."""
    image = Image.new("RGB", (64, 64), tuple(rng.randint(215, 240) for _ in range(3)))  # no two alike
    draw = ImageDraw.Draw(image)
    for label in labels:
        x, y = rng.randint(2, 40), rng.randint(2, 40)
        draw.ellipse([x, y, x + 18, y + 18], fill={"red": (220, 30, 30), "blue": (30, 30, 220)}[label])
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_multilabel_model_trains_in_the_page_and_gives_each_labels_probability(server, browser, tmp_path):
    rng = random.Random(3)
    names = ["red", "blue"]
    model_id = _post(server, "MultiLabelClassification/Model/", json={"categories": names})["model_id"]
    images = [(f"img{i:02d}.png", [n for bit, n in enumerate(names) if (i >> bit) & 1]) for i in range(20)]
    data = [{"filename": name, "categories": labels} for name, labels in images]
    _post(server, f"MultiLabelClassification/Model/{model_id}/UploadFiles/",
          files=[*(("files", (name, _two_colour_image(labels, rng), "image/png")) for name, labels in images),
                 ("data", ("", json.dumps(data)))])
    _sign_in(browser, server, KEY)
    browser.driver.get(server.root + f"/#/multilabel/{model_id}")
    browser.wait(lambda d: browser.by_id("l-train").is_enabled(), message="ready to train")
    browser.wait(lambda d: len(browser.all("#l-images-grid figure")) == 12, message="the first page")
    assert "page 1 of 2" in browser.text("l-pager-text") and browser.text("l-images") == "20"
    browser.by_id("l-train").click()
    browser.wait(lambda d: browser.by_id("l-state").text == "trained", timeout=240, message="trained")

    # try it on a new picture with a red disc only: both labels' probabilities, red given, blue not
    picture = tmp_path / "red.png"
    picture.write_bytes(_two_colour_image(["red"], random.Random(99)))
    browser.by_id("l-try-input").send_keys(str(picture))
    rows = browser.wait(lambda d: browser.all("#l-try-scores li") or None, timeout=60, message="probabilities")
    assert sorted(r.get_attribute("data-label") for r in rows) == sorted(names)
    shown = {r.get_attribute("data-label"): float(r.find_element("css selector", ".num").text.rstrip("%"))
             for r in rows}
    assert all(0 <= p <= 100 for p in shown.values())
    assert list(shown.values()) == sorted(shown.values(), reverse=True)  # highest first
    given = [r.get_attribute("data-label") for r in rows if "given" in (r.get_attribute("class") or "")]
    assert "red" in given and "blue" not in given, (shown, given)
    assert browser.text("l-try-verdict").startswith("Labels: ") and "red" in browser.text("l-try-verdict")
    _assert_key_nowhere(browser, server, KEY)
