"""Object detection on the wire, through the local server's app (the in-process fake, which shuffles results and
does not deduplicate): create, upload with boxes in every form the wrapper sends, refusals that store nothing,
training on a small generated set, predictions matched by name; OCR models on the same paths still served."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import responses
from PIL import Image

from nanoclient import Client
from nanoclient.annotations import Annotation, FieldBox, read_annotations
from nanoclient.errors import BadRequestError, NotFoundError
from nanoclient.testing import fake_nanonets

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ["car", "bottle", "clock"]


def _jpeg(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (90, 120, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scenes")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_detection.py"), "--out", str(out), "--train", "30",
                    "--test", "8", "--seed", "5"], check=True, capture_output=True)
    return out


@pytest.fixture
def fake():
    with fake_nanonets(min_images=5) as running:
        yield running


def _post(fake, path: str, **kwargs) -> requests.Response:
    return requests.post(f"{fake.base_url}/ObjectDetection/{path}", auth=(fake.api_key, ""), **kwargs)


def _get(fake, path: str) -> requests.Response:
    return requests.get(f"{fake.base_url}/ObjectDetection/{path}", auth=(fake.api_key, ""))


def test_create_answers_a_detection_model_and_ocr_keeps_its_own(fake):
    made = _post(fake, "Model/", json={"categories": ["car", "person"]})
    assert made.status_code == 200
    assert made.json()["model_type"] == "object_detection"
    assert [c["name"] for c in made.json()["categories"]] == ["car", "person"]
    ocr = _post(fake, "Model/", json={"categories": ["total"], "model_type": "ocr"})
    assert ocr.status_code == 200 and ocr.json()["model_type"] == "ocr"
    # each path naming a model serves it by its own type
    assert _get(fake, f"Model/{ocr.json()['model_id']}").json()["model_type"] == "ocr"
    assert _get(fake, f"Model/{ocr.json()['model_id']}/Annotations").json()["Data"] == []
    assert _get(fake, f"Model/{made.json()['model_id']}").json()["model_type"] == "object_detection"
    assert _post(fake, "Model/", json={"categories": ["a"], "model_type": "nonsense"}).status_code == 400
    assert _post(fake, "Model/", json={"categories": ["a", "a"]}).status_code == 400
    assert _get(fake, "Model/no-such-model").status_code == 404


def test_upload_takes_every_form_of_object_and_images_without_boxes(fake):
    model_id = _post(fake, "Model/", json={"categories": ["car", "person"]}).json()["model_id"]
    box = {"name": "car", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 30.4, "ymax": 40}}
    data = [{"filename": "list.jpg", "object": [box, {"name": "person", "bndbox": {"xmin": 0, "ymin": 0, "xmax": 64,
                                                                                     "ymax": 48}}]},
            {"filename": "one.jpg", "object": box},
            {"filename": "empty.jpg", "object": {}},
            {"filename": "none.jpg", "object": []}]
    files = [("file", (name, _jpeg(colour=(i * 40, 90, 90)), "image/jpeg"))
             for i, name in enumerate(["list.jpg", "one.jpg", "empty.jpg", "none.jpg", "unlisted.jpg"])]
    answer = _post(fake, f"Model/{model_id}/UploadFile/", files=[*files, ("data", ("", json.dumps(data)))])
    assert answer.status_code == 200, answer.text
    counts = {c["name"]: c["count"] for c in answer.json()["Meta"]["categories"]}
    assert counts == {"car": 2, "person": 1}  # a category counts the images it is labelled in
    listed = _get(fake, f"Model/{model_id}/Annotations").json()
    by_name = {entry["filename"]: entry["object"] for entry in listed["Data"]}
    assert sorted(by_name) == ["empty.jpg", "list.jpg", "none.jpg", "one.jpg", "unlisted.jpg"]
    assert by_name["one.jpg"] == [{"name": "car", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 31, "ymax": 40}}]
    assert by_name["empty.jpg"] == by_name["unlisted.jpg"] == []
    assert listed["Meta"]["state"] == 1  # below min_images: needs more


@pytest.mark.parametrize("files, data, said", [
    ([("a.jpg", "big")], [{"filename": "a.jpg", "object": [{"name": "car", "bndbox": {"xmin": 0, "ymin": 0,
                                                                                       "xmax": 65, "ymax": 10}}]}],
     "outside the image"),
    ([("a.jpg", "ok")], [{"filename": "a.jpg", "object": [{"name": "dog", "bndbox": {"xmin": 0, "ymin": 0,
                                                                                      "xmax": 5, "ymax": 5}}]}],
     "not a category"),
    ([("a.jpg", "ok")], [{"filename": "a.jpg", "object": [{"name": "car", "bndbox": {"xmin": 9, "ymin": 0,
                                                                                      "xmax": 5, "ymax": 5}}]}],
     "empty box"),
    ([("a.jpg", "ok")], [{"filename": "a.jpg", "object": [{"name": "car", "bndbox": {"xmin": "x", "ymin": 0,
                                                                                      "xmax": 5, "ymax": 5}}]}],
     "numeric"),
    ([("a.jpg", "ok"), ("b.jpg", "text")], [], "b.jpg"),
    ([("a.jpg", "ok")], [{"filename": "c.jpg", "object": []}], "not a file of this request"),
    ([("a.jpg", "ok"), ("a.jpg", "ok")], [], "Two files"),
])
def test_a_bad_file_or_box_refuses_the_request_and_stores_nothing(fake, files, data, said):
    model_id = _post(fake, "Model/", json={"categories": ["car"]}).json()["model_id"]
    good = [("file", ("good.jpg", _jpeg(), "image/jpeg"))]
    parts = [("file", (name, b"not an image" if kind == "text" else _jpeg(), "image/jpeg")) for name, kind in files]
    answer = _post(fake, f"Model/{model_id}/UploadFile/", files=[*good, *parts, ("data", ("", json.dumps(data)))])
    assert answer.status_code == 400
    assert said in json.dumps(answer.json())
    listed = _get(fake, f"Model/{model_id}/Annotations").json()
    assert listed["Data"] == [] and listed["Meta"]["categories"] == [{"name": "car", "count": 0}]


def test_train_and_predict_through_the_sdk_matched_by_name(fake, scenes):
    client = Client(api_key=fake.api_key, base_url=fake.base_url)
    detection = client.object_detection
    model = detection.create_model(CLASSES)
    assert model.type == "object_detection"
    pairs = [(p, read_annotations(p.with_suffix(".xml"))[0]) for p in sorted((scenes / "train").glob("*.jpg"))]
    first = detection.upload(model.id, pairs[:12], batch_size=5)
    assert len(first.uploaded) == 12 and first.ok
    again = detection.upload(model.id, pairs, batch_size=5)  # the first twelve are listed: not sent again
    assert len(again.already) == 12 and len(again.uploaded) == 18
    assert len(detection.images(model.id)) == 30
    with pytest.raises(BadRequestError):
        detection.predict_file(model.id, pairs[0][0])  # not trained yet
    detection.train(model.id)
    trained = detection.wait_until_trained(model.id, timeout=300, poll_interval=0.2)
    assert trained.accuracy is not None and trained.accuracy > 0.6, trained
    assert trained.accuracy_images == 7

    tests = sorted((scenes / "test").glob("*.jpg"))
    bad = scenes / "not-an-image.jpg"
    bad.write_bytes(b"plain text")
    outcomes = dict(detection.predict_files(model.id, [*tests, bad], batch_size=3))
    assert isinstance(outcomes[str(bad)], ValueError)
    found = 0
    for path in tests:
        result = outcomes[str(path)]
        assert not isinstance(result, Exception) and result.input == str(path)
        truths = read_annotations(path.with_suffix(".xml"))[0].boxes
        width, height = Image.open(path).size
        for obj in result.objects:
            assert obj.label in CLASSES and 0 <= obj.xmin < obj.xmax <= width and 0 <= obj.ymin < obj.ymax <= height
            assert obj.score is not None and 0 <= obj.score <= 1
        found += sum(1 for truth in truths if any(o.label == truth.field and o.score and o.score >= 0.5
                                                     and _iou(o.box, (truth.xmin, truth.ymin, truth.xmax, truth.ymax))
                                                     >= 0.5 for o in result.objects))
    total = sum(len(read_annotations(p.with_suffix(".xml"))[0].boxes) for p in tests)
    assert found >= 0.6 * total, (found, total)
    assert detection.predict_file(model.id, tests[0]) == outcomes[str(tests[0])]
    urls = [f"https://images.example/{p.name}" for p in tests[:2]]
    for url, path in zip(urls, tests, strict=False):
        fake.mock.add(responses.GET, url, body=path.read_bytes(), content_type="image/jpeg")
    fake.mock.add(responses.GET, "https://images.example/gone.jpg", status=404)
    by_url = detection.predict_urls(model.id, [*urls, "https://images.example/gone.jpg"])
    assert [r.input for r in by_url] == [*urls, "https://images.example/gone.jpg"]
    assert by_url[0].objects == outcomes[str(tests[0])].objects
    assert by_url[2].message.startswith("Failed") and not by_url[2].objects
    with pytest.raises(NotFoundError):
        detection.get_model("no-such-model")


def test_upload_without_boxes_via_the_sdk_and_images_listed(fake):
    client = Client(api_key=fake.api_key, base_url=fake.base_url)
    model = client.object_detection.create_model(["car"])
    report = client.object_detection.upload(model.id, [])
    assert report.ok and not report.uploaded
    with pytest.raises(ValueError):
        client.object_detection.create_model([])


def test_sdk_upload_of_a_bad_box_costs_that_image_only(fake, tmp_path):
    client = Client(api_key=fake.api_key, base_url=fake.base_url)
    model = client.object_detection.create_model(["car"])
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(_jpeg())
    bad.write_bytes(_jpeg(colour=(1, 2, 3)))
    report = client.object_detection.upload(model.id, [
        (good, Annotation("good.jpg", (FieldBox("car", None, 1, 1, 20, 20),))),
        (bad, Annotation("bad.jpg", (FieldBox("car", None, 1, 1, 200, 20),)))])
    assert report.uploaded == [str(good)]
    assert [path for path, _ in report.failed] == [str(bad)] and "outside" in str(report.failed[0][1])


def test_upload_urls_stores_what_could_be_fetched_once(fake):
    client = Client(api_key=fake.api_key, base_url=fake.base_url)
    model = client.object_detection.create_model(["car"])
    good = "https://images.example/a.jpg"
    fake.mock.add(responses.GET, good, body=_jpeg(), content_type="image/jpeg")
    fake.mock.add(responses.GET, "https://images.example/text.jpg", body=b"not an image")
    box = Annotation("a.jpg", (FieldBox("car", None, 2, 2, 30, 30),))
    report = client.object_detection.upload_urls(model.id, [(good, box),
                                                             ("https://images.example/text.jpg", box)])
    assert report.uploaded == [good]
    assert [url for url, _ in report.failed] == ["https://images.example/text.jpg"]
    listed = client.object_detection.images(model.id)
    assert [(a.filename, [(b.field, b.xmin, b.xmax) for b in a.boxes]) for a in listed] == [("a.jpg", [("car", 2, 30)])]
    again = client.object_detection.upload_urls(model.id, [(good, box)])
    assert again.already == [good] and not again.uploaded
    assert client.object_detection.get_model(model.id).categories[0].count == 1


def _iou(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_training_in_a_child_process_says_the_learners_reason(tmp_path, scenes):
    from nanoclient.server.object_detection.child import train_in_child

    images = sorted((scenes / "train").glob("*.jpg"))[:3]
    boxes = [[(b.field, b.xmin, b.ymin, b.xmax, b.ymax) for b in read_annotations(p.with_suffix(".xml"))[0].boxes]
             for p in images]
    said: list[str] = []
    with pytest.raises(ValueError, match="box"):  # too few boxes per class: the learner's own words
        train_in_child(images, boxes, CLASSES, tmp_path / "out.detector", say=said.append)
    assert not (tmp_path / "out.detector").exists()
