"""The dashboard's local extension for object detection and multi-label models (``server/object_detection/local.py``,
``server/multilabel/local.py`` over ``server/local_files.py``), through Flask's test client: each model's training
images newest first, a page at a time, with their boxes and size or their labels; each image as stored (its bytes,
its media type) or downsized; the same isolation as the API (another account's model, a model of another type, an
image of another model: 404). Images are made here with Pillow; nothing trains.
"""
from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

KEY, OTHER = "types-dashboard-key", "types-dashboard-other"
LOCAL = "/local/v1/models"
CLASSES = ["car", "bottle"]
LABELS = ["sky", "tree", "water"]


def _auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _image(width: int, height: int, colour: tuple[int, int, int], kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, kind)
    return out.getvalue()


@pytest.fixture()
def app(tmp_path: Path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2, fetch_timeout=1))
    yield app
    app.extensions["nanoclient"]["backend"].close()


def _detection(http, key: str = KEY) -> str:
    made = http.post("/api/v2/ObjectDetection/Model/", json={"categories": CLASSES}, headers=_auth(key))
    assert made.status_code == 200, made.get_json()
    return str(made.get_json()["model_id"])


def _multilabel(http, key: str = KEY) -> str:
    made = http.post("/api/v2/MultiLabelClassification/Model/", json={"categories": LABELS}, headers=_auth(key))
    assert made.status_code == 200, made.get_json()
    return str(made.get_json()["model_id"])


#: Detection images: (name, width, height, format, boxes as (class, xmin, ymin, xmax, ymax)).
SCENES = [("a.png", 120, 80, "PNG", [("car", 10, 12, 50, 40), ("bottle", 70, 5, 90, 60)]),
          ("b.jpg", 64, 128, "JPEG", [("bottle", 1, 2, 30, 100)]),
          ("c.png", 50, 50, "PNG", [])]


def _upload_scenes(http, model_id: str, scenes=SCENES) -> None:
    for index, (name, width, height, kind, boxes) in enumerate(scenes):  # one request each: ids in this order
        objects = [{"name": c, "bndbox": {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1}}
                   for c, x0, y0, x1, y1 in boxes]
        answer = http.post(f"/api/v2/ObjectDetection/Model/{model_id}/UploadFile/", headers=_auth(),
                           data={"file": [(io.BytesIO(_image(width, height, (40 * index, 90, 160), kind)), name)],
                                 "data": json.dumps([{"filename": name, "object": objects}])})
        assert answer.status_code == 200, answer.get_json()


#: Multi-label images: (name, labels).
TAGGED = [("p1.png", ["sky"]), ("p2.png", ["sky", "water"]), ("p3.png", []), ("p4.png", ["tree", "sky"]),
          ("p5.png", ["water"])]


def _upload_tagged(http, model_id: str) -> None:
    for index, (name, labels) in enumerate(TAGGED):
        answer = http.post(f"/api/v2/MultiLabelClassification/Model/{model_id}/UploadFiles/", headers=_auth(),
                           data={"files": [(io.BytesIO(_image(40 + index, 30, (index * 50, 20, 200))), name)],
                                 "data": json.dumps([{"filename": name, "categories": labels}])})
        assert answer.status_code == 200, answer.get_json()


# ---------------------------------------------------------------------- object detection


def test_detection_images_are_listed_newest_first_with_their_size_and_boxes(app):
    http = app.test_client()
    model_id = _detection(http)
    _upload_scenes(http, model_id)
    listing = http.get(f"{LOCAL}/{model_id}/detection/images", headers=_auth()).get_json()
    assert (listing["model_id"], listing["categories"], listing["page"], listing["pages"], listing["total"]) == (
        model_id, CLASSES, 1, 1, 3)
    files = listing["files"]
    assert [f["name"] for f in files] == ["c.png", "b.jpg", "a.png"]
    for entry, (name, width, height, _, boxes) in zip(files, SCENES[::-1], strict=True):
        assert (entry["name"], entry["width"], entry["height"]) == (name, width, height)
        assert [(b["name"], b["xmin"], b["ymin"], b["xmax"], b["ymax"]) for b in entry["boxes"]] == boxes
    # a page at a time
    second = http.get(f"{LOCAL}/{model_id}/detection/images?page=2&per_page=2", headers=_auth()).get_json()
    assert (second["page"], second["pages"], second["total"]) == (2, 2, 3)
    assert [f["name"] for f in second["files"]] == ["a.png"]
    assert http.get(f"{LOCAL}/{model_id}/detection/images?page=0", headers=_auth()).status_code == 400
    assert http.get(f"{LOCAL}/{model_id}/detection/images?per_page=101", headers=_auth()).status_code == 400


def test_a_detection_image_is_served_as_stored_or_downsized(app):
    http = app.test_client()
    model_id = _detection(http)
    _upload_scenes(http, model_id)
    listing = http.get(f"{LOCAL}/{model_id}/detection/images", headers=_auth()).get_json()
    files = {f["name"]: f for f in listing["files"]}
    for name, kind, media in (("a.png", "PNG", "image/png"), ("b.jpg", "JPEG", "image/jpeg")):
        url = f"{LOCAL}/{model_id}/detection/images/{files[name]['id']}"
        stored = http.get(url, headers=_auth())
        assert stored.status_code == 200 and stored.mimetype == media
        assert Image.open(io.BytesIO(stored.data)).format == kind
        assert stored.headers["ETag"].strip('"').startswith(files[name]["sha256"])
        assert "private" in stored.headers["Cache-Control"]
        # the same bytes again: 304 for its ETag
        again = http.get(url, headers={**_auth(), "If-None-Match": stored.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
    # downsized: never larger than asked, never enlarged, the aspect kept
    small = http.get(f"{LOCAL}/{model_id}/detection/images/{files['a.png']['id']}?width=96", headers=_auth())
    assert small.status_code == 200 and Image.open(io.BytesIO(small.data)).size == (96, 64)
    big = http.get(f"{LOCAL}/{model_id}/detection/images/{files['a.png']['id']}?width=300", headers=_auth())
    assert Image.open(io.BytesIO(big.data)).size == (120, 80)
    assert http.get(f"{LOCAL}/{model_id}/detection/images/{files['a.png']['id']}?width=97",
                    headers=_auth()).status_code == 400


def test_detection_listing_and_images_keep_accounts_and_types_apart(app):
    http = app.test_client()
    model_id = _detection(http)
    _upload_scenes(http, model_id)
    image_id = http.get(f"{LOCAL}/{model_id}/detection/images", headers=_auth()).get_json()["files"][0]["id"]
    # another account: its model is not there
    assert http.get(f"{LOCAL}/{model_id}/detection/images", headers=_auth(OTHER)).status_code == 404
    assert http.get(f"{LOCAL}/{model_id}/detection/images/{image_id}", headers=_auth(OTHER)).status_code == 404
    # no such model, no such image, an image of another model of the same account
    assert http.get(f"{LOCAL}/no-such-model/detection/images", headers=_auth()).status_code == 404
    assert http.get(f"{LOCAL}/{model_id}/detection/images/999999", headers=_auth()).status_code == 404
    assert http.get(f"{LOCAL}/{model_id}/detection/images/x1", headers=_auth()).status_code == 404
    other_model = _detection(http)
    assert http.get(f"{LOCAL}/{other_model}/detection/images/{image_id}", headers=_auth()).status_code == 404
    assert http.get(f"{LOCAL}/{other_model}/detection/images", headers=_auth()).get_json()["total"] == 0
    # a model of another type is not served on detection's paths
    tagged = _multilabel(http)
    answer = http.get(f"{LOCAL}/{tagged}/detection/images", headers=_auth())
    assert answer.status_code == 404
    # without a key: 401
    assert http.get(f"{LOCAL}/{model_id}/detection/images").status_code == 401


# ---------------------------------------------------------------------- multi-label


def test_multilabel_images_are_listed_newest_first_with_their_labels(app):
    http = app.test_client()
    model_id = _multilabel(http)
    _upload_tagged(http, model_id)
    listing = http.get(f"{LOCAL}/{model_id}/multilabel/images", headers=_auth()).get_json()
    assert (listing["model_id"], listing["categories"], listing["total"], listing["pages"]) == (model_id, LABELS, 5, 1)
    assert [(f["name"], sorted(f["labels"])) for f in listing["files"]] == [(n, sorted(ls)) for n, ls in TAGGED[::-1]]
    # one label's images, a page at a time
    sky = http.get(f"{LOCAL}/{model_id}/multilabel/images?label=sky&per_page=2", headers=_auth()).get_json()
    assert (sky["total"], sky["pages"]) == (3, 2)
    assert [f["name"] for f in sky["files"]] == ["p4.png", "p2.png"]
    rest = http.get(f"{LOCAL}/{model_id}/multilabel/images?label=sky&per_page=2&page=2", headers=_auth()).get_json()
    assert [f["name"] for f in rest["files"]] == ["p1.png"]
    unknown = http.get(f"{LOCAL}/{model_id}/multilabel/images?label=cloud", headers=_auth())
    assert unknown.status_code == 400 and "cloud" in unknown.get_json()["message"]


def test_a_multilabel_image_is_served_and_isolated(app):
    http = app.test_client()
    model_id = _multilabel(http)
    _upload_tagged(http, model_id)
    entry = http.get(f"{LOCAL}/{model_id}/multilabel/images", headers=_auth()).get_json()["files"][0]
    url = f"{LOCAL}/{model_id}/multilabel/images/{entry['id']}"
    stored = http.get(url, headers=_auth())
    assert stored.status_code == 200 and stored.mimetype == "image/png"
    assert Image.open(io.BytesIO(stored.data)).size == (44, 30)
    thumb = http.get(url + "?width=96", headers=_auth())
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.data)).size == (44, 30)  # never enlarged
    assert thumb.headers["ETag"] != stored.headers["ETag"]
    assert http.get(url, headers=_auth(OTHER)).status_code == 404
    assert http.get(f"{LOCAL}/{model_id}/multilabel/images", headers=_auth(OTHER)).status_code == 404
    assert http.get(f"{LOCAL}/{model_id}/multilabel/images/424242", headers=_auth()).status_code == 404
    detection = _detection(http)
    assert http.get(f"{LOCAL}/{detection}/multilabel/images", headers=_auth()).status_code == 404
    assert http.get(f"{LOCAL}/{detection}/multilabel/images/{entry['id']}", headers=_auth()).status_code == 404


def test_the_openapi_document_tags_the_new_operations_local_only(app):
    http = app.test_client()
    document = http.get("/api/v2/openapi.json").get_json()
    for path in ("/models/{model_id}/detection/images", "/models/{model_id}/detection/images/{image_id}",
                 "/models/{model_id}/multilabel/images", "/models/{model_id}/multilabel/images/{image_id}"):
        operation = document["paths"][path]["get"]
        assert operation["x-local-only"] is True, path
        assert document["paths"][path]["servers"][0]["url"] == "/local/v1"
