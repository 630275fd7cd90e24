"""Multi-label classification on the wire, through the in-process fake (the local server's own app and backend):
create, upload files and URLs with their labels, every bad request refused whole with nothing stored, the
model's counts per label, train on a small generated set, predict files and URLs (answers matched by name:
the fake shuffles them)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import responses

from nanoclient import Client, MultilabelPrediction
from nanoclient.errors import BadRequestError, InvalidImageError, ModelNotTrainedError, NotFoundError
from nanoclient.multilabel.labels import read_labels
from nanoclient.testing import fake_nanonets

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = "http://127.0.0.1:9/api/v2"
FAMILY = BASE_URL + "/MultiLabelClassification"
KEY = "multilabel-key"
LABELS = ["circle", "cross", "square", "star", "triangle"]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 training and 6 test images of the project's multi-label generator (each label on 14 to 19 of them)."""
    out = tmp_path_factory.mktemp("multilabel")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_multilabel.py"), "--out", str(out), "--train", "40",
                    "--test", "6", "--seed", "3"], check=True, capture_output=True)
    return out


@pytest.fixture
def fake(tmp_path):
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=3) as running:
        yield running


def _post(path: str, **kwargs) -> requests.Response:
    return requests.post(FAMILY + path, auth=(KEY, ""), timeout=60, **kwargs)


def _counts(model_id: str) -> dict[str, int]:
    model = requests.get(f"{FAMILY}/Model/{model_id}", auth=(KEY, ""), timeout=60).json()
    return {c["name"]: c["count"] for c in model["categories"]}


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]


def test_create_upload_and_every_bad_upload_refused_whole(fake, images):
    created = _post("/Model/", json={"categories": LABELS})
    assert created.status_code == 200, created.text
    model = created.json()
    assert model["model_type"] == "multilabel" and model["state"] == 0
    model_id = model["model_id"]
    train = sorted((images / "train").glob("*.png"))[:4]
    truth = {p.name: list(labels) for p, labels in read_labels(train).items()}
    data = [{"filename": name, "categories": labels} for name, labels in truth.items()]
    data[0]["categories"] = []  # an image with none of the labels: a negative example, accepted
    sent = _post(f"/Model/{model_id}/UploadFiles/", files=[*_files(train[:3]), ("data", ("", json.dumps(data[:3])))])
    assert sent.status_code == 200, sent.text
    expected = {label: sum(label in entry["categories"] for entry in data[:3]) for label in LABELS}
    assert _counts(model_id) == expected

    broken = ("files", ("broken.png", train[3].read_bytes()[:50], "image/png"))
    refusals = {
        "unknown label": [*_files(train[3:]), ("data", ("", json.dumps([{"filename": train[3].name,
                                                                          "categories": ["dog"]}])))],
        "file without an entry": [*_files(train[3:]), ("data", ("", "[]"))],
        "entry for no file": [*_files(train[3:]), ("data", ("", json.dumps(
            [data[3], {"filename": "other.png", "categories": []}])))],
        "data not JSON": [*_files(train[3:]), ("data", ("", "{not json"))],
        "no data": _files(train[3:]),
        "two files of one name": [*_files(train[3:]), *_files(train[3:]), ("data", ("", json.dumps(data[3:])))],
        "a broken image beside a good one": [*_files(train[3:]), broken, ("data", ("", json.dumps(
            [data[3], {"filename": "broken.png", "categories": ["star"]}])))],
    }
    for why, parts in refusals.items():
        refused = _post(f"/Model/{model_id}/UploadFiles/", files=parts)
        assert refused.status_code == 400, (why, refused.text)
        assert refused.json()["message"], why
    assert "not a label of the model" in _post(f"/Model/{model_id}/UploadFiles/",
                                               files=refusals["unknown label"]).json()["message"]
    assert _counts(model_id) == expected  # nothing of a refused request was stored

    listed = requests.get(f"{FAMILY}/Model/{model_id}/Annotations", auth=(KEY, ""), timeout=60).json()
    assert {entry["filename"]: entry["categories"] for entry in listed["Data"]} == {
        entry["filename"]: entry["categories"] for entry in data[:3]}
    assert listed["Meta"]["model_id"] == model_id and listed["Meta"]["state"] in (0, 1, 2)

    other = _post("/Model/", json={"categories": LABELS}).json()["model_id"]
    assert _post(f"/Model/{other}/Train/").status_code == 400  # no images: not ready
    with Client(KEY, BASE_URL) as client:
        with pytest.raises(NotFoundError):
            client.multilabel.get_model("no-such-model")
        with pytest.raises(ValueError):
            client.multilabel.create_model(["a", "a"])  # refused before sending
    assert _post("/Model/", json={"categories": ["a", "a"]}).status_code == 400
    assert _post("/Model/", json={"categories": []}).status_code == 400


def test_upload_urls_one_url_takes_all_its_labels_several_one_each(fake, images):
    model_id = _post("/Model/", json={"categories": LABELS}).json()["model_id"]
    train = sorted((images / "train").glob("*.png"))
    urls = [f"https://images.example/{p.name}" for p in train[:3]]
    for url, path in zip(urls, train, strict=False):
        fake.mock.add(responses.GET, url, body=path.read_bytes(), content_type="image/png")
    fake.mock.add(responses.GET, "https://images.example/missing.png", status=404)
    one = _post("/UploadUrls/", data={"modelId": model_id, "urls": [urls[0]], "categories": ["circle", "star"]})
    assert one.status_code == 200, one.text
    assert _counts(model_id) == {"circle": 1, "cross": 0, "square": 0, "star": 1, "triangle": 0}
    mismatch = _post("/UploadUrls/", data={"modelId": model_id, "urls": urls[1:], "categories": ["circle"]})
    assert mismatch.status_code == 400 and "2 URLs but 1 categories" in mismatch.json()["message"]
    unknown = _post("/UploadUrls/", data={"modelId": model_id, "urls": urls[1:], "categories": ["circle", "dog"]})
    assert unknown.status_code == 400
    partly = _post("/UploadUrls/", data={"modelId": model_id, "urls": [urls[1], "https://images.example/missing.png"],
                                         "categories": ["cross", "square"]})
    assert partly.status_code == 202 and [e["url"] for e in partly.json()["errors"]] == [
        "https://images.example/missing.png"]
    assert _counts(model_id) == {"circle": 1, "cross": 1, "square": 0, "star": 1, "triangle": 0}
    with Client(KEY, BASE_URL) as client:
        assert client.multilabel.annotations(model_id) == {urls[0]: ("circle", "star"), urls[1]: ("cross",)}
        again = client.multilabel.upload_urls(model_id, [(urls[0], ["circle"]), (urls[2], ["triangle", "star"])])
        assert again.already == [urls[0]] and again.uploaded == [urls[2]] and not again.failed
    assert _counts(model_id) == {"circle": 1, "cross": 1, "square": 0, "star": 2, "triangle": 1}


@pytest.fixture(scope="module")
def trained(images, tmp_path_factory):
    """A fake with a model trained on the 40 training images through the SDK (uploaded twice: once stored)."""
    with fake_nanonets(BASE_URL, data_dir=tmp_path_factory.mktemp("fake"), min_images=3) as running, \
            Client(KEY, BASE_URL) as client:
        model = client.multilabel.create_model(LABELS)
        with pytest.raises(ModelNotTrainedError):
            client.multilabel.predict_file(model.id, sorted((images / "test").glob("*.png"))[0])
        train = sorted((images / "train").glob("*.png"))
        labelled = read_labels(train)
        report = client.multilabel.upload(model.id, [(p, labelled[p]) for p in train], batch_size=15)
        assert len(report.uploaded) == 40 and not report.failed
        again = client.multilabel.upload(model.id, [(p, labelled[p]) for p in train])
        assert len(again.already) == 40 and not again.uploaded  # the listing says they are there: none sent
        client.multilabel.train(model.id)
        done = client.multilabel.wait_until_trained(model.id, timeout=900, poll_interval=0.5)
        yield running, client, done, labelled


def test_the_model_counts_each_label_by_its_images_and_trains(trained):
    _, _, model, labelled = trained
    assert model.state == 5 and model.type == "multilabel"
    assert {c.name: c.count for c in model.categories} == {
        label: sum(label in labels for labels in labelled.values()) for label in LABELS}


def test_predict_files_matches_each_answer_by_name_whatever_the_order(trained, images, tmp_path):
    fake, client, model, _ = trained
    tests = sorted((images / "test").glob("*.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(tests[0].read_bytes()[:60])
    outcomes = list(client.multilabel.predict_files(model.id, [*tests, broken], batch_size=4))
    assert [path for path, _ in outcomes] == [str(p) for p in [*tests, broken]]
    for path, outcome in outcomes[:-1]:
        assert isinstance(outcome, MultilabelPrediction) and outcome.file == path
        assert [s.label for s in outcome.scores] and {s.label for s in outcome.scores} == set(LABELS)
        probabilities = [s.probability for s in outcome.scores]
        assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)
        assert set(outcome.labels) <= set(LABELS)
    assert isinstance(outcomes[-1][1], InvalidImageError)  # the broken file only
    one = client.multilabel.predict_file(model.id, tests[0])
    assert one.scores == outcomes[0][1].scores and one.file == str(tests[0])
    raw = _post(f"/Model/{model.id}/LabelFiles/", files=_files(tests[:2])).json()
    assert raw["message"] == "Success" and {entry["file"] for entry in raw["result"]} == {p.name for p in tests[:2]}
    entry = raw["result"][0]
    assert set(entry) == {"message", "file", "prediction", "labels"}
    assert all(set(p) == {"label", "probability"} for p in entry["prediction"])


def test_predict_urls_answers_each_url_and_says_which_failed(trained, images):
    fake, client, model, _ = trained
    test = sorted((images / "test").glob("*.png"))[1]
    fake.mock.add(responses.GET, "https://images.example/t.png", body=test.read_bytes(), content_type="image/png")
    fake.mock.add(responses.GET, "https://images.example/gone.png", status=404)
    answered = client.multilabel.predict_urls(model.id, ["https://images.example/gone.png",
                                                         "https://images.example/t.png"])
    assert [url for url, _ in answered] == ["https://images.example/gone.png", "https://images.example/t.png"]
    assert isinstance(answered[0][1], BadRequestError)
    by_file = client.multilabel.predict_file(model.id, test)
    assert isinstance(answered[1][1], MultilabelPrediction) and answered[1][1].scores == by_file.scores
    raw = requests.post(f"{FAMILY}/Model/{model.id}/LabelUrls/", auth=(KEY, ""), timeout=60,
                        data={"urls": ["https://images.example/gone.png"]})
    assert raw.status_code == 400  # none could be fetched


def test_a_model_of_another_type_is_not_found_on_these_paths(trained):
    _, client, _, _ = trained
    other = client.create_model(["a", "b"])  # an image classification model
    answer = requests.get(f"{FAMILY}/Model/{other.id}", auth=(KEY, ""), timeout=60)
    assert answer.status_code == 404 and "classification" in answer.json()["message"]
