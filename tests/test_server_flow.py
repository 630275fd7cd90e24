"""The real server in a subprocess, driven with the SDK through the whole flow, across restarts."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from helpers import make_image

from nanoclient import Client, NotFoundError

RED, BLUE = (220, 30, 30), (30, 30, 220)
#: A cap on how long a test waits for training (a hang guard, not a speed assertion).
TRAIN_WAIT = 180.0


def _write(folder: Path, colour, n: int, start: int = 0, fmt: str = "PNG"):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + n):
        path = folder / f"{colour[0]}-{i}.{'png' if fmt == 'PNG' else 'jpg'}"
        path.write_bytes(make_image(colour, seed=i, size=(24 + i % 3, 24), fmt=fmt))
        paths.append(path)
    return paths


@pytest.fixture
def probes(tmp_path):
    red = tmp_path / "probe-red.png"
    red.write_bytes(make_image(RED, seed=101, size=(24, 24)))
    blue = tmp_path / "probe-blue.jpg"
    blue.write_bytes(make_image(BLUE, seed=102, size=(30, 20), fmt="JPEG"))
    return [red, blue]


def test_whole_flow_survives_restart_and_crash(server_factory, tmp_path, probes):
    server = server_factory()
    assert requests.get(server.root + "/healthz", timeout=10).status_code == 200
    client = Client(api_key="key-a", base_url=server.url, max_retries=0)

    model = client.create_model(["red", "blue"])
    assert (model.state, model.type, model.accuracy) == (0, "classification", None)
    # the official wrapper's form: modelId and category in the query string, several files per request
    wrapper = requests.post(
        f"{server.url}/ImageCategorization/UploadFile/", params={"modelId": model.id, "category": "red"},
        files=[("file", (p.name, p.read_bytes())) for p in _write(tmp_path / "red", RED, 3)],
        auth=("key-a", ""), timeout=60)
    assert wrapper.status_code == 200 and wrapper.json()["categories"][0]["count"] == 3
    # the tutorial's form: modelId and category as multipart parts with an empty file name
    with open(_write(tmp_path / "red", RED, 1, start=3, fmt="JPEG")[0], "rb") as handle:
        tutorial = requests.post(
            f"{server.url}/ImageCategorization/UploadFile/", auth=("key-a", ""), timeout=60,
            files={"file": handle, "modelId": ("", model.id), "category": ("", "red")})
    assert tutorial.status_code == 200, tutorial.text
    model = client.get_model(model.id)
    assert model.state == 1 and [c.count for c in model.categories] == [4, 0]
    report = client.upload_files(model.id, [(p, "blue") for p in _write(tmp_path / "blue", BLUE, 5, start=20)]
                                 + [(p, "red") for p in _write(tmp_path / "red", RED, 2, start=4)])
    assert report.ok and len(report.uploaded) == 7
    model = client.upload_file(model.id, tmp_path / "blue" / f"{BLUE[0]}-20.png", "blue")
    assert model.state == 2 and [c.count for c in model.categories] == [6, 5]  # the same bytes count once

    assert client.train(model.id).state in (3, 4)
    trained = client.wait_until_trained(model.id, timeout=TRAIN_WAIT, poll_interval=0.1)
    assert trained.state == 5 and 0.0 <= trained.accuracy <= 1.0 and trained.status == "Model trained"

    before = client.predict_files(model.id, probes)
    assert [(p.file, p.label) for p in before] == [(str(probes[0]), "red"), (str(probes[1]), "blue")]
    for prediction in before:
        assert [label for label, _ in prediction.scores] in (["red", "blue"], ["blue", "red"])
        assert abs(sum(p for _, p in prediction.scores) - 1.0) < 1e-6

    # another key is another account: the model does not exist for it
    stranger = Client(api_key="key-b", base_url=server.url, max_retries=0)
    assert stranger.list_models() == []
    for call in (lambda: stranger.get_model(model.id), lambda: stranger.train(model.id),
                 lambda: stranger.upload_file(model.id, probes[0], "red"),
                 lambda: stranger.predict_file(model.id, probes[0])):
        with pytest.raises(NotFoundError):
            call()
    assert client.get_model(model.id).categories == trained.categories

    # SIGTERM stops it cleanly; everything is back after a restart, predictions identical
    assert server.stop() == 0
    server.start()
    client = Client(api_key="key-a", base_url=server.url, max_retries=0)
    again = client.get_model(model.id)
    assert (again.state, again.accuracy, again.categories) == (5, trained.accuracy, trained.categories)
    assert client.predict_files(model.id, probes) == before
    assert [m.id for m in client.list_models()] == [model.id]

    # more images: still predicting (state 2) with the previous training; then retrain and crash
    more = client.upload_files(model.id, [(p, "blue") for p in _write(tmp_path / "blue", BLUE, 2, start=40)]).model
    assert more.state == 2 and more.accuracy == trained.accuracy
    assert client.predict_files(model.id, probes) == before
    assert client.train(model.id).state in (3, 4)
    server.kill()  # SIGKILL: whether it was queued, training or done, nothing may stay stuck
    server.start()
    client = Client(api_key="key-a", base_url=server.url, max_retries=0)
    model = client.get_model(model.id)
    if model.state != 5:
        model = client.wait_until_trained(model.id, timeout=TRAIN_WAIT, poll_interval=0.1)
    assert model.state == 5 and model.categories[1].count == 7
    assert [p.label for p in client.predict_files(model.id, probes)] == ["red", "blue"]
