"""The real server in a subprocess, driven over HTTP through the whole flow, across restarts."""
from __future__ import annotations

import time

import pytest
import requests

from conftest import make_image

RED, BLUE = (220, 30, 30), (30, 30, 220)
#: A cap on how long a test waits for training (a hang guard, not a speed assertion).
TRAIN_WAIT = 180.0


class Api:
    """Just enough of the API over requests to drive a server (the SDK has its own tests)."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.http = requests.Session()
        self.http.auth = (key, "")

    def call(self, method: str, op: str, expect: int = 200, **kwargs) -> dict:
        response = self.http.request(method, f"{self.url}/ImageCategorization/{op}", timeout=60, **kwargs)
        assert response.status_code == expect, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()

    def wait_trained(self, model_id: str) -> dict:
        deadline = time.monotonic() + TRAIN_WAIT
        seen = []
        while time.monotonic() < deadline:
            model = self.call("GET", "Model/", params={"modelId": model_id})
            if not seen or seen[-1] != model["state"]:
                seen.append(model["state"])
            if model["state"] in (5, -1):
                assert model["state"] == 5, model
                assert set(seen) <= {2, 3, 4, 5}, seen
                return model
            time.sleep(0.1)
        pytest.fail(f"model {model_id} still in state {seen[-1]} after {TRAIN_WAIT:g} s")


def _files(colour, n, start=0, fmt="PNG"):
    ext = "png" if fmt == "PNG" else "jpg"
    return [("file", (f"{colour[0]}-{start + i}.{ext}", make_image(colour, seed=start + i, size=(24, 24), fmt=fmt)))
            for i in range(n)]


def _predict(api: Api, model_id: str) -> dict:
    probes = [("file", ("probe-red.png", make_image(RED, seed=101, size=(24, 24)))),
              ("file", ("probe-blue.jpg", make_image(BLUE, seed=102, size=(30, 20), fmt="JPEG")))]
    return api.call("POST", "LabelFile/", data={"modelId": model_id}, files=probes)


def test_whole_flow_survives_restart_and_crash(server_factory):
    server = server_factory()
    api = Api(server.url, "key-a")
    assert requests.get(server.root + "/healthz", timeout=10).status_code == 200

    model = api.call("POST", "Model/", data={"categories": ["red", "blue"]})
    model_id = model["model_id"]
    assert (model["state"], model["model_type"], model["accuracy"]) == (0, "classification", None)
    # the official wrapper's form: modelId and category in the query string, several files per request
    model = api.call("POST", "UploadFile/", params={"modelId": model_id, "category": "red"}, files=_files(RED, 3))
    model = api.call("POST", "UploadFile/", params={"modelId": model_id, "category": "red"},
                     files=_files(RED, 3, start=3, fmt="JPEG"))
    assert model["state"] == 1 and model["categories"] == [{"name": "red", "count": 6}, {"name": "blue", "count": 0}]
    for one in _files(BLUE, 5, start=20):  # one file per request, fields in the form
        model = api.call("POST", "UploadFile/", data={"modelId": model_id, "category": "blue"}, files=[one])
    assert model["state"] == 2 and model["categories"][1]["count"] == 5
    model = api.call("POST", "UploadFile/", data={"modelId": model_id, "category": "blue"}, files=_files(BLUE, 1, start=20))
    assert model["categories"][1]["count"] == 5  # the same bytes again count once

    model = api.call("POST", "Train/", params={"modelId": model_id})
    assert model["state"] in (3, 4)
    trained = api.wait_trained(model_id)
    assert 0.0 <= trained["accuracy"] <= 1.0 and trained["status"] == "Model trained"

    result = _predict(api, model_id)
    assert result["message"] == "Success"
    [red, blue] = result["result"]
    assert (red["file"], blue["file"]) == ("probe-red.png", "probe-blue.jpg")
    assert [p["label"] for p in red["prediction"]] == ["red", "blue"]
    assert [p["label"] for p in blue["prediction"]] == ["blue", "red"]
    for item in result["result"]:
        probabilities = [p["probability"] for p in item["prediction"]]
        assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 1) < 1e-6

    # another key is another account: the model does not exist for it
    stranger = Api(server.url, "key-b")
    assert stranger.call("GET", "Models/") == []
    assert stranger.call("GET", f"Model/{model_id}", expect=404)["code"] == 404
    stranger.call("POST", "UploadFile/", expect=404, data={"modelId": model_id, "category": "red"}, files=_files(RED, 1))
    stranger.call("POST", "LabelFile/", expect=404, data={"modelId": model_id}, files=_files(RED, 1))
    stranger.call("POST", "Train/", expect=404, params={"modelId": model_id})
    assert api.call("GET", f"Model/{model_id}")["categories"][0]["count"] == 6

    # SIGTERM stops it cleanly; everything is back after a restart, predictions identical
    assert server.stop() == 0
    server.start()
    api = Api(server.url, "key-a")
    again = api.call("GET", "Model/", params={"id": model_id})
    assert (again["state"], again["accuracy"], again["categories"]) == (5, trained["accuracy"], trained["categories"])
    assert _predict(api, model_id) == result
    assert [m["model_id"] for m in api.call("GET", "Models")] == [model_id]

    # more images: still predicting (state 2) with the previous training; then retrain and crash
    model = api.call("POST", "UploadFile/", params={"modelId": model_id, "category": "blue"}, files=_files(BLUE, 2, start=40))
    assert model["state"] == 2 and model["accuracy"] == trained["accuracy"]
    assert _predict(api, model_id) == result
    assert api.call("POST", "Train/", data={"modelId": model_id})["state"] in (3, 4)
    server.kill()  # SIGKILL: whether it was queued, training or done, nothing may stay stuck
    server.start()
    api = Api(server.url, "key-a")
    retrained = api.wait_trained(model_id)
    assert retrained["categories"][1]["count"] == 7
    [red, blue] = _predict(api, model_id)["result"]
    assert (red["prediction"][0]["label"], blue["prediction"][0]["label"]) == ("red", "blue")
