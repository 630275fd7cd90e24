"""The SDK Client against a mocked API (``responses``): every public method's request shape as
API.md states it, the parsing of answers, error classes, retries as seen by a caller, input
checked before sending, key hygiene, concurrent uploads and batched predictions in input order.

Transport internals (backoff arithmetic, streaming, error-body parsing) are tested in
test_transport.py; here every request goes through a ``Client``.
"""
from __future__ import annotations

import base64
import builtins
import io
import json
import logging
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from werkzeug.formparser import parse_form_data

from nanoclient import Client, errors
from nanoclient import client as client_module
from nanoclient.client import DEFAULT_BASE_URL
from nanoclient.types import Model, Prediction, UploadReport

from conftest import make_image

BASE = "https://api.example.test/api/v2"
API = BASE + "/ImageCategorization"
KEY = "sk-live-0123456789abcdefSECRET"
KEY_B64 = base64.b64encode(f"{KEY}:".encode()).decode()
AUTH = f"Basic {KEY_B64}"
FORM = "application/x-www-form-urlencoded"
#: How long a test waits for another thread before calling it a failure (never reached when all is well).
PATIENCE = 5.0


# ---------------------------------------------------------------------- helpers


def model_json(model_id="m1", state=0, counts: Optional[Dict[str, int]] = None, accuracy=None, status=""):
    counts = {"Bag": 0, "Coat": 0} if counts is None else counts
    body = {"model_id": model_id, "model_type": "classification", "state": state, "status": status,
            "categories": [{"name": name, "count": n} for name, n in counts.items()]}
    if accuracy is not None:
        body["accuracy"] = accuracy
    return body


def prediction_json(name, best="Bag", p=0.9):
    other = "Coat" if best == "Bag" else "Bag"
    # deliberately not sorted: the client sorts by probability
    return {"message": "Success", "file": name,
            "prediction": [{"label": other, "probability": round(1 - p, 6)}, {"label": best, "probability": p}]}


def parse_multipart(request):
    """(form as {name: [values]}, list of (field, filename, content_type, bytes)) of a multipart request."""
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    _, form, files = parse_form_data(environ)
    parts = [(field, f.filename, f.content_type, f.read()) for field, f in files.items(multi=True)]
    return form.to_dict(flat=False), parts


def form_fields(request):
    """The (name, value) pairs of a form-urlencoded request, in order."""
    assert request.headers["Content-Type"] == FORM
    body = request.body if isinstance(request.body, str) else request.body.decode()
    return parse_qsl(body, keep_blank_values=True, strict_parsing=True)


def query(request):
    return parse_qsl(urlsplit(request.url).query, keep_blank_values=True)


def path_of(request):
    parts = urlsplit(request.url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def assert_auth(request):
    assert request.headers["Authorization"] == AUTH  # the key as user name, an empty password


def assert_key_hidden(*things):
    for thing in things:
        for text in (str(thing), repr(thing)):
            assert KEY not in text and KEY_B64 not in text


def write_image(folder: Path, name: str, color=(200, 30, 30), fmt="PNG", seed=None) -> Path:
    path = folder / name
    path.write_bytes(make_image(color, fmt=fmt, seed=seed))
    return path


def json_response(body, status=200, headers=None):
    return status, dict(headers or {}, **{"Content-Type": "application/json"}), json.dumps(body)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("NANONETS_API_KEY", raising=False)
    monkeypatch.delenv("NANONETS_BASE_URL", raising=False)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(rsps, sleeps):
    """A Client whose retry waits are recorded instead of slept."""
    with Client(KEY, BASE) as c:
        c._transport._sleep = sleeps.append
        yield c


# ---------------------------------------------------------------------- construction, environment, security


def test_key_and_base_url_come_from_the_environment(rsps, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", f"  {KEY}\n")
    monkeypatch.setenv("NANONETS_BASE_URL", "https://env.example.test/api/v2/")
    rsps.add(responses.GET, "https://env.example.test/api/v2/ImageCategorization/Models/", json=[])
    client = Client()
    assert client.base_url == "https://env.example.test/api/v2"
    assert client.list_models() == []
    assert len(rsps.calls) == 1
    assert_auth(rsps.calls[0].request)


def test_arguments_win_over_the_environment(rsps, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", "env-key-that-must-not-be-used")
    monkeypatch.setenv("NANONETS_BASE_URL", "https://env.example.test/api/v2")
    rsps.add(responses.GET, API + "/Models/", json=[])
    Client(KEY, BASE).list_models()
    assert rsps.calls[0].request.url == API + "/Models/"
    assert_auth(rsps.calls[0].request)


def test_the_hosted_api_is_the_default_base_url(rsps, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", "")  # set but empty: the hosted API too
    rsps.add(responses.GET, "https://app.nanonets.com/api/v2/ImageCategorization/Models/", json=[])
    client = Client()
    assert client.base_url == DEFAULT_BASE_URL == "https://app.nanonets.com/api/v2"
    client.list_models()
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("env_key, arg_key", [(None, None), ("", None), ("   ", None), (None, ""), (None, "  \n")])
def test_no_key_is_an_authentication_error_before_any_request(rsps, monkeypatch, env_key, arg_key):
    if env_key is not None:
        monkeypatch.setenv("NANONETS_API_KEY", env_key)
    with pytest.raises(errors.AuthenticationError, match="NANONETS_API_KEY"):
        Client(arg_key, BASE)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("url", [
    "http://api.example.test/api/v2",
    "http://10.1.2.3:8765/api/v2",
    "http://0.0.0.0:8765/api/v2",
    "http://localhost.example.test/api/v2",
    "http://127.0.0.1.nip.io/api/v2",
    "HTTP://API.EXAMPLE.TEST/api/v2",
])
def test_the_key_is_never_sent_over_plain_http_to_another_machine(rsps, url):
    with pytest.raises(errors.BadRequestError, match="plain http://") as info:
        Client(KEY, url)
    assert_key_hidden(info.value)
    assert len(rsps.calls) == 0


def test_plain_http_from_the_environment_is_refused_too(rsps, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", "http://api.example.test/api/v2")
    with pytest.raises(errors.BadRequestError, match="plain http://"):
        Client()


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8765/api/v2",
    "http://127.8.9.10:1/api/v2",
    "http://localhost:8765/api/v2",
    "http://[::1]:8765/api/v2",
    "https://api.example.test/api/v2",
])
def test_https_anywhere_and_plain_http_on_loopback_are_allowed(rsps, url):
    rsps.add(responses.GET, url + "/ImageCategorization/Models/", json=[])
    assert Client(KEY, url).list_models() == []
    assert_auth(rsps.calls[0].request)


@pytest.mark.parametrize("url", [
    "ftp://api.example.test/api/v2",
    "api.example.test/api/v2",
    "https:///api/v2",
    f"https://user:{KEY}@api.example.test/api/v2",
])
def test_invalid_base_urls_are_refused(rsps, url):
    with pytest.raises(errors.BadRequestError) as info:
        Client("another-key-123", url)
    assert_key_hidden(info.value)
    assert len(rsps.calls) == 0


def test_a_key_passed_as_the_base_url_is_not_echoed():
    with pytest.raises(errors.BadRequestError, match="base URL") as info:
        Client(BASE, KEY)  # arguments swapped by mistake
    assert_key_hidden(info.value)


def test_repr_never_shows_the_key(client):
    assert_key_hidden(client, client._transport, client._transport._session.auth)
    assert BASE in repr(client)


def test_context_manager_returns_the_client_and_closes_its_connections(rsps, monkeypatch):
    closed = []
    rsps.add(responses.GET, API + "/Models/", json=[])
    with Client(KEY, BASE) as client:
        assert isinstance(client, Client)
        monkeypatch.setattr(client._transport._session, "close", lambda: closed.append("ok"))
        client.list_models()
        assert closed == []
    assert closed == ["ok"]
    assert client.list_models() == []  # still usable after close: it reconnects

    with pytest.raises(RuntimeError):
        with Client(KEY, BASE) as other:
            monkeypatch.setattr(other._transport._session, "close", lambda: closed.append("on error"))
            raise RuntimeError("boom")
    assert closed == ["ok", "on error"]


def test_a_redirect_to_another_host_does_not_carry_the_key(client, rsps):
    rsps.add(responses.GET, API + "/Models/", status=302, headers={"Location": "http://elsewhere.example.test/x"})
    rsps.add(responses.GET, "http://elsewhere.example.test/x", json=[])
    assert client.list_models() == []
    assert len(rsps.calls) == 2
    assert_auth(rsps.calls[0].request)
    assert "Authorization" not in rsps.calls[1].request.headers


def test_a_redirect_loop_is_a_nanonets_error_without_the_key(client, rsps):
    rsps.add(responses.GET, API + "/Models/", status=302, headers={"Location": API + "/Models/"})
    with pytest.raises(errors.NanonetsError) as info:
        client.list_models()
    assert info.value.__cause__ is None
    assert_key_hidden(info.value)


def test_the_key_is_in_no_exception_or_log_line(client, rsps, tmp_path, caplog):
    rsps.add(responses.GET, API + "/Model/", json={"message": "busy"}, status=503)
    rsps.add(responses.GET, API + "/Model/", body=requests.exceptions.ConnectionError("reset"))
    rsps.add(responses.GET, API + "/Model/", json={"message": "Model does not exist", "code": 404}, status=404)
    rsps.add(responses.GET, API + "/Models/", json={"message": "Invalid API key", "code": 401}, status=401)
    rsps.add(responses.POST, API + "/Train/", body=requests.exceptions.ReadTimeout("read timed out"))
    raised = []
    with caplog.at_level(logging.DEBUG):
        for call in (lambda: client.get_model("m1"), client.list_models, lambda: client.train("m1"),
                     lambda: client.upload_file("m1", tmp_path / "missing.png", "Bag"),
                     lambda: client.create_model([])):
            with pytest.raises(errors.NanonetsError) as info:
                call()
            raised.append(info.value)
    assert [type(e) for e in raised] == [errors.NotFoundError, errors.AuthenticationError, errors.TimeoutError,
                                         errors.BadRequestError, errors.BadRequestError]
    assert_key_hidden(*raised)
    assert all(e.__cause__ is None for e in raised[:3])
    assert len(caplog.records) >= 5  # the retries were logged...
    assert KEY not in caplog.text and KEY_B64 not in caplog.text  # ...without the key


# ---------------------------------------------------------------------- models


def test_create_model_sends_categories_repeated_form_urlencoded(client, rsps):
    rsps.add(responses.POST, API + "/Model/", json=model_json("new-1", counts={"Bag": 0, "Coat & Hat": 0, "Ünï": 0}))
    model = client.create_model(["Bag", "Coat & Hat", "Ünï"])
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", API + "/Model/")
    assert_auth(sent)
    assert form_fields(sent) == [("categories", "Bag"), ("categories", "Coat & Hat"), ("categories", "Ünï")]
    assert sent.body in ("categories=Bag&categories=Coat+%26+Hat&categories=%C3%9Cn%C3%AF",
                         b"categories=Bag&categories=Coat+%26+Hat&categories=%C3%9Cn%C3%AF")
    assert model == Model(id="new-1", state=0, categories=model.categories)
    assert [(c.name, c.count) for c in model.categories] == [("Bag", 0), ("Coat & Hat", 0), ("Ünï", 0)]
    assert model.accuracy is None and model.state_name == "created" and not model.is_trained


@pytest.mark.parametrize("categories, message", [
    ([], "at least one category"),
    ((), "at least one category"),
    (["Bag", "Coat", "Bag"], "Duplicated categories: Bag"),
    (["Bag", " Bag "], "Duplicated categories: Bag"),
    (["Bag", ""], "cannot be empty"),
    (["Bag", "   "], "cannot be empty"),
])
def test_create_model_refuses_bad_category_lists_before_sending(client, rsps, categories, message):
    with pytest.raises(errors.BadRequestError, match=message):
        client.create_model(categories)
    assert len(rsps.calls) == 0


def test_create_model_is_not_retried_after_a_503_but_is_after_a_429(client, rsps, sleeps):
    rsps.add(responses.POST, API + "/Model/", json={"message": "oops"}, status=503)
    with pytest.raises(errors.ServerError):
        client.create_model(["Bag"])
    assert len(rsps.calls) == 1 and sleeps == []  # the server may have created it: no duplicate

    rsps.replace(responses.POST, API + "/Model/", json={"message": "slow down"}, status=429,
                 headers={"Retry-After": "4"})
    rsps.add(responses.POST, API + "/Model/", json=model_json("m9"))
    assert client.create_model(["Bag"]).id == "m9"
    assert sleeps == [4.0] and len(rsps.calls) == 3


def test_get_model_sends_the_id_in_the_query_and_parses_the_model(client, rsps):
    rsps.add(responses.GET, API + "/Model/", json=model_json(
        "m 1/2", state=5, counts={"Bag": 113, "Coat": 133}, accuracy=0.86, status="Model trained"))
    model = client.get_model("m 1/2")
    sent = rsps.calls[0].request
    assert sent.method == "GET" and path_of(sent) == API + "/Model/"
    assert query(sent) == [("modelId", "m 1/2")]
    assert sent.body is None
    assert_auth(sent)
    assert model.id == "m 1/2" and model.type == "classification"
    assert (model.state, model.status, model.accuracy) == (5, "Model trained", 0.86)
    assert model.is_trained and model.state_name == "trained" and model.image_count == 246
    assert [(c.name, c.count) for c in model.categories] == [("Bag", 113), ("Coat", 133)]
    assert model.to_json() == model_json("m 1/2", 5, {"Bag": 113, "Coat": 133}, 0.86, "Model trained")


@pytest.mark.parametrize("model_id", ["", "   ", None])
def test_methods_taking_a_model_id_refuse_an_empty_one_before_sending(client, rsps, tmp_path, model_id):
    image = write_image(tmp_path, "a.png")
    calls = [
        lambda: client.get_model(model_id),
        lambda: client.train(model_id),
        lambda: client.wait_until_trained(model_id),
        lambda: client.upload_file(model_id, image, "Bag"),
        lambda: client.upload_files(model_id, [(image, "Bag")]),
        lambda: client.upload_urls(model_id, ["https://img.example.test/a.png"], "Bag"),
        lambda: client.predict_file(model_id, image),
        lambda: client.predict_files(model_id, [image]),
        lambda: client.predict_urls(model_id, ["https://img.example.test/a.png"]),
    ]
    for call in calls:
        with pytest.raises(errors.BadRequestError, match="model id"):
            call()
    assert len(rsps.calls) == 0


def test_list_models_parses_every_model(client, rsps):
    rsps.add(responses.GET, API + "/Models/", json=[
        model_json("a", state=1, counts={"Bag": 3, "Coat": 0}),
        model_json("b", state=-1, status="Training failed: one class"),
        {"model_id": "c", "state": 2, "categories": ["Bag", "Coat"]},  # bare names, no counts
    ])
    models = client.list_models()
    sent = rsps.calls[0].request
    assert (sent.method, sent.url, sent.body) == ("GET", API + "/Models/", None)
    assert_auth(sent)
    assert [(m.id, m.state, m.state_name) for m in models] == [
        ("a", 1, "needs more images"), ("b", -1, "failed"), ("c", 2, "ready to train")]
    assert models[0].image_count == 3 and models[1].status == "Training failed: one class"
    assert [c.name for c in models[2].categories] == ["Bag", "Coat"]


@pytest.mark.parametrize("body", [{"models": []}, "not a list", None])
def test_list_models_that_is_not_a_list_is_a_server_error(client, rsps, body):
    rsps.add(responses.GET, API + "/Models/", json=body)
    with pytest.raises(errors.ServerError, match="list of models"):
        client.list_models()


@pytest.mark.parametrize("body", [
    {"message": "Success"},                                   # no id at all
    ["m1"],                                                   # not an object
    {"model_id": "m1", "state": "trained"},                   # state is not a number
    {"model_id": "m1", "state": None},
    {"model_id": "m1", "categories": [{"name": "Bag", "count": "many"}]},
    {"model_id": "m1", "accuracy": "high"},
])
def test_a_malformed_model_object_is_a_server_error(client, rsps, body):
    rsps.add(responses.GET, API + "/Model/", json=body)
    with pytest.raises(errors.ServerError, match="model object"):
        client.get_model("m1")


# ---------------------------------------------------------------------- training


def test_train_posts_the_model_id_in_the_query_without_a_body(client, rsps):
    rsps.add(responses.POST, API + "/Train/", json=model_json("m1", state=3, counts={"Bag": 30, "Coat": 30}))
    model = client.train("m1")
    sent = rsps.calls[0].request
    assert sent.method == "POST" and path_of(sent) == API + "/Train/"
    assert query(sent) == [("modelId", "m1")]
    assert not sent.body
    assert_auth(sent)
    assert model.state == 3 and model.state_name == "queued"


def test_train_of_a_model_without_enough_data_is_a_400_not_retried(client, rsps, sleeps):
    rsps.add(responses.POST, API + "/Train/", status=400, json={
        "message": "Model is not ready to train", "code": 400,
        "errors": [{"reason": "not_ready", "message": "Upload at least 25 images per category"}]})
    with pytest.raises(errors.BadRequestError) as info:
        client.train("m1")
    assert type(info.value) is errors.BadRequestError
    assert info.value.message == "Model is not ready to train"
    assert info.value.hint == "Upload at least 25 images per category"
    assert (info.value.status, info.value.method) == (400, "POST")
    assert info.value.url == API + "/Train/"
    assert len(rsps.calls) == 1 and sleeps == []


class FakeClock:
    """monotonic() and sleep() for wait_until_trained: sleeping advances the clock at once."""

    def __init__(self):
        self.now = 1000.0
        self.slept: List[float] = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds
        if len(self.slept) > 100:  # a wait that never ends fails instead of hanging
            raise AssertionError("wait_until_trained kept polling")


@pytest.fixture
def clock(client):
    fake = FakeClock()
    client._monotonic = fake.monotonic
    client._sleep = fake.sleep
    return fake


def poll_answers(rsps, states, **extra):
    for state in states:
        rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=state, **extra))


def test_wait_until_trained_polls_and_reports_each_change_of_state(client, rsps, clock):
    poll_answers(rsps, [3, 3, 4, 4, 4])
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=5, accuracy=0.9))
    seen = []
    model = client.wait_until_trained("m1", poll_interval=7, on_update=lambda m: seen.append(m.state))
    assert model.is_trained and model.accuracy == 0.9
    assert seen == [3, 4, 5]  # once per change, not once per poll
    assert len(rsps.calls) == 6 and clock.slept == [7] * 5
    for call in rsps.calls:
        assert query(call.request) == [("modelId", "m1")]


def test_wait_until_trained_raises_training_failed_on_state_minus_one(client, rsps, clock):
    poll_answers(rsps, [4])
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=-1, status="Only one category has images"))
    seen = []
    with pytest.raises(errors.TrainingFailedError, match="Only one category has images") as info:
        client.wait_until_trained("m1", poll_interval=1, on_update=lambda m: seen.append(m.state))
    assert seen == [4, -1]
    assert info.value.model.state == -1 and info.value.model.status == "Only one category has images"
    assert len(rsps.calls) == 2


def test_wait_until_trained_times_out(client, rsps, clock):
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=4))
    seen = []
    with pytest.raises(errors.TimeoutError, match="still training after 30 s") as info:
        client.wait_until_trained("m1", timeout=30, poll_interval=10, on_update=lambda m: seen.append(m.state))
    assert isinstance(info.value, builtins.TimeoutError)
    assert clock.now == 1030.0 and clock.slept == [10, 10, 10]
    assert len(rsps.calls) == 4  # polled at 0, 10, 20 and 30 s
    assert seen == [4]


def test_wait_until_trained_never_sleeps_past_the_deadline(client, rsps, clock):
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=3))
    with pytest.raises(errors.TimeoutError):
        client.wait_until_trained("m1", timeout=25, poll_interval=10)
    assert clock.slept == [10, 10, 5]


def test_wait_until_trained_returns_at_once_for_a_trained_model(client, rsps, clock):
    poll_answers(rsps, [5])
    seen = []
    assert client.wait_until_trained("m1", on_update=seen.append).state == 5
    assert [m.state for m in seen] == [5] and clock.slept == []


def test_wait_until_trained_refuses_a_model_that_is_not_training(client, rsps, clock):
    poll_answers(rsps, [2])
    with pytest.raises(errors.BadRequestError, match="not training"):
        client.wait_until_trained("m1")
    assert len(rsps.calls) == 1
    with pytest.raises(errors.BadRequestError, match="poll_interval"):
        client.wait_until_trained("m1", poll_interval=0)
    assert len(rsps.calls) == 1


def test_wait_until_trained_returns_a_model_that_left_training_with_new_images(client, rsps, clock):
    poll_answers(rsps, [4, 1])  # trained, then more images arrived: serving, but state 1
    assert client.wait_until_trained("m1", poll_interval=1).state == 1


# ---------------------------------------------------------------------- uploads


@pytest.mark.parametrize("fmt, name, content_type", [("PNG", "bag 1.png", "image/png"),
                                                     ("JPEG", "bag.JPG", "image/jpeg")])
def test_upload_file_sends_file_category_and_model_id_as_multipart(client, rsps, tmp_path, fmt, name, content_type):
    path = write_image(tmp_path, name, fmt=fmt)
    rsps.add(responses.POST, API + "/UploadFile/", json=model_json("m1", state=1, counts={"Bag": 1, "Coat": 0}))
    model = client.upload_file("m1", str(path), "Bag")
    sent = rsps.calls[0].request
    assert sent.method == "POST" and sent.url == API + "/UploadFile/"  # fields in the body, not the query
    assert_auth(sent)
    assert int(sent.headers["Content-Length"]) == len(sent.body)
    form, parts = parse_multipart(sent)
    assert form == {"modelId": ["m1"], "category": ["Bag"]}
    assert parts == [("file", name, content_type, path.read_bytes())]
    assert model.state == 1 and model.image_count == 1


def test_upload_file_accepts_a_path_object_and_a_multi_picture_jpeg(client, rsps, tmp_path):
    """Phone cameras write JPEGs with extra pictures (MPO to Pillow): still a JPEG, sent as one."""
    from PIL import Image

    path = tmp_path / "phone.jpg"
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(out, "MPO", save_all=True,
                                                append_images=[Image.new("RGB", (16, 16), (9, 9, 9))])
    path.write_bytes(out.getvalue())
    rsps.add(responses.POST, API + "/UploadFile/", json=model_json("m1"))
    client.upload_file("m1", path, "Bag")
    _, parts = parse_multipart(rsps.calls[0].request)
    assert parts == [("file", "phone.jpg", "image/jpeg", path.read_bytes())]


def bad_inputs(tmp_path: Path) -> Dict[str, Path]:
    """Files the client must refuse to send, by what is wrong with them."""
    png = make_image((10, 200, 10))
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "text.png").write_text("hello, not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "half.png").write_bytes(png[:len(png) // 2])
    (tmp_path / "header-only.png").write_bytes(png[:20])
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    (tmp_path / "image.gif").write_bytes(make_image((1, 2, 3), fmt="GIF"))
    (tmp_path / "image.bmp").write_bytes(make_image((1, 2, 3), fmt="BMP"))
    names = ["missing.png", "folder.png", "text.png", "empty.jpg", "half.png", "header-only.png",
             "garbage.jpg", "image.gif", "image.bmp"]
    return {name: tmp_path / name for name in names}


def test_upload_file_and_predict_file_refuse_bad_files_before_sending(client, rsps, tmp_path):
    for name, path in bad_inputs(tmp_path).items():
        for call in (lambda: client.upload_file("m1", path, "Bag"), lambda: client.predict_file("m1", path)):
            with pytest.raises(errors.BadRequestError) as info:
                call()
            expected = {"missing.png": "No such file", "folder.png": "Not a file"}.get(name)
            if expected:
                assert expected in info.value.message, name
            else:
                assert isinstance(info.value, errors.InvalidImageError), name
            assert info.value.method is None and info.value.url is None
    assert len(rsps.calls) == 0


def test_upload_file_refuses_an_empty_category(client, rsps, tmp_path):
    image = write_image(tmp_path, "a.png")
    for category in ("", "  ", None):
        with pytest.raises(errors.BadRequestError, match="category"):
            client.upload_file("m1", image, category)
    assert len(rsps.calls) == 0


def test_upload_file_is_retried_after_a_503_with_the_whole_file(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path, "a.png", seed=1)
    rsps.add(responses.POST, API + "/UploadFile/", json={"message": "busy"}, status=503)
    rsps.add(responses.POST, API + "/UploadFile/", json=model_json("m1", counts={"Bag": 1}))
    assert client.upload_file("m1", path, "Bag").image_count == 1
    assert len(rsps.calls) == 2 and len(sleeps) == 1
    for call in rsps.calls:
        assert parse_multipart(call.request) == ({"modelId": ["m1"], "category": ["Bag"]},
                                                 [("file", "a.png", "image/png", path.read_bytes())])


def upload_callback(answers=None, hook=None, sent=None):
    """A callback for UploadFile/ that counts images per category and answers per file name.

    ``answers`` maps a file name to (status, body) for failures: a request holding such a
    file gets that answer and stores nothing, as the server does. ``hook(filenames)`` runs
    first; ``sent`` (a list) receives (category, filenames) of every request.
    """
    lock = threading.Lock()
    counts: Dict[str, int] = {"Bag": 0, "Coat": 0}

    def callback(request):
        form, parts = parse_multipart(request)
        assert form.keys() == {"modelId", "category"} and parts and all(p[0] == "file" for p in parts)
        filenames = [p[1] for p in parts]
        if sent is not None:
            sent.append((form["category"][0], filenames))
        if hook is not None:
            hook(filenames)
        for filename in filenames:
            if answers and filename in answers:
                status, body = answers[filename]
                return json_response(body, status)
        with lock:
            counts[form["category"][0]] += len(parts)
            body = model_json(form["modelId"][0], state=1, counts=dict(counts))
        return json_response(body)

    return callback


def test_upload_files_runs_requests_concurrently_up_to_workers(client, rsps, tmp_path):
    workers = 4
    barrier = threading.Barrier(workers)
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]

    arrivals = [0]

    def hook(filenames):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
            arrivals[0] += 1
            first_round = arrivals[0] <= workers
        try:
            barrier.wait(PATIENCE)  # passes only when `workers` requests are in flight together
            if first_round:
                # Stay in flight a moment, so that a request beyond `workers` would show in `peak`
                # (this only gives a bug time to show itself: nothing is asserted about time).
                time.sleep(0.2)
        finally:
            with lock:
                in_flight[0] -= 1

    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=upload_callback(hook=hook))
    items = [(write_image(tmp_path, f"img{n}.png", seed=n), "Bag" if n % 2 else "Coat") for n in range(3 * workers)]
    progress = []
    uploaded = []
    report = client.upload_files("m1", items, workers=workers, batch_size=1, progress=progress.append,
                                 on_uploaded=lambda path, category, model: uploaded.append((str(path), category)))
    assert peak[0] == workers  # all at once, and never more than asked
    assert sorted(report.uploaded) == sorted(str(p) for p, _ in items)
    assert sorted(uploaded) == sorted((str(p), c) for p, c in items)
    assert report.skipped == [] and report.failed == [] and report.ok
    assert progress == [1] * len(items)
    assert report.model.image_count == len(items)  # the most complete answer is kept
    assert len(rsps.calls) == len(items)
    for call in rsps.calls:
        assert_auth(call.request)


def test_upload_files_report_keeps_the_most_complete_model(client, rsps, tmp_path):
    """Answers may settle out of order: the model with the most images wins, not the last one."""
    first, second = write_image(tmp_path, "first.png", seed=1), write_image(tmp_path, "second.png", seed=2)
    first_settled = threading.Event()

    def callback(request):
        name = parse_multipart(request)[1][0][1]
        if name == "second.png":  # answers only once first.png was reported, with an older count
            assert first_settled.wait(PATIENCE)
            return json_response(model_json("m1", counts={"Bag": 3, "Coat": 0}))
        return json_response(model_json("m1", counts={"Bag": 5, "Coat": 1}))

    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=callback)
    order = []

    def on_uploaded(path, category, model):
        order.append(Path(path).name)
        first_settled.set()

    report = client.upload_files("m1", [(first, "Bag"), (second, "Bag")], workers=2, on_uploaded=on_uploaded)
    assert order == ["first.png", "second.png"]
    assert report.model.image_count == 6


def test_upload_files_collects_failures_per_file_and_carries_on(client, rsps, tmp_path, sleeps):
    good = [write_image(tmp_path, f"good{n}.png", seed=n) for n in range(3)]
    too_big = write_image(tmp_path, "too-big.png")
    bad_on_server = write_image(tmp_path, "rejected.png", seed=9)
    broken_server = write_image(tmp_path, "unlucky.png", seed=10)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "notes.png").write_text("not an image")
    answers = {
        "too-big.png": (413, {"message": "Upload too large", "code": 413}),
        "rejected.png": (400, {"message": "Unknown category", "code": 400}),
        "unlucky.png": (500, {"message": "disk on fire", "code": 500}),
    }
    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=upload_callback(answers))
    items = [(good[0], "Bag"), (too_big, "Bag"), (tmp_path / "gone.png", "Bag"), (good[1], "Coat"),
             (bad_on_server, "Hat"), (tmp_path / "folder.png", "Bag"), (broken_server, "Coat"),
             (tmp_path / "notes.png", "Coat"), (good[2], "   ")]
    progress = []
    report = client.upload_files("m1", items, workers=3, batch_size=1, progress=progress.append)
    assert isinstance(report, UploadReport) and not report.ok
    assert sorted(report.uploaded) == sorted([str(good[0]), str(good[1])])
    failed = {path: exc for path, exc in report.failed}
    assert set(failed) == {str(too_big), str(bad_on_server), str(broken_server)}
    assert type(failed[str(too_big)]) is errors.PayloadTooLargeError
    assert type(failed[str(bad_on_server)]) is errors.BadRequestError
    assert type(failed[str(broken_server)]) is errors.ServerError and failed[str(broken_server)].status == 500
    skipped = dict(report.skipped)
    assert set(skipped) == {str(tmp_path / "gone.png"), str(tmp_path / "folder.png"), str(tmp_path / "notes.png"),
                            str(good[2])}
    assert "No such file" in skipped[str(tmp_path / "gone.png")]
    assert "Not a file" in skipped[str(tmp_path / "folder.png")]
    assert "No category" in skipped[str(good[2])]
    assert progress == [1] * len(items)
    # the 500 was retried (3 more attempts), the 400 and 413 were not; skipped files were never sent
    assert len(rsps.calls) == 2 + 1 + 1 + 4 and len(sleeps) == 3
    assert report.to_json()["uploaded"] == 2 and report.to_json()["failed"] == 3
    assert_key_hidden(*failed.values())


@pytest.mark.parametrize("status, cls", [(401, errors.AuthenticationError), (404, errors.NotFoundError),
                                         (402, errors.PaymentRequiredError)])
def test_upload_files_stops_at_an_error_every_file_would_get(client, rsps, tmp_path, status, cls):
    rsps.add(responses.POST, API + "/UploadFile/", json={"message": "no", "code": status}, status=status)
    image = write_image(tmp_path, "a.png")
    with pytest.raises(cls):
        client.upload_files("m1", [(image, "Bag")] * 20, workers=1, batch_size=1)
    assert len(rsps.calls) <= 2  # the one that failed, and at most one already handed to the worker


def test_upload_files_stops_when_the_server_cannot_be_reached_after_retries(client, rsps, tmp_path, sleeps):
    rsps.add(responses.POST, API + "/UploadFile/", body=requests.exceptions.ConnectionError("Connection refused"))
    image = write_image(tmp_path, "a.png")
    with pytest.raises(errors.ConnectionError):
        client.upload_files("m1", [(image, "Bag")] * 20, workers=1, batch_size=1)
    assert len(rsps.calls) <= 2 * 4  # one file (and at most one more in flight), each tried 1 + 3 times


@pytest.mark.parametrize("batch_size", [1, 3])
def test_upload_files_consumes_items_lazily(client, rsps, tmp_path, batch_size):
    workers = 2
    image = write_image(tmp_path, "a.png")
    yielded = [0]
    ahead = []

    def items():
        for _ in range(30):
            yielded[0] += 1
            yield image, "Bag"

    def hook(filenames):
        ahead.append(yielded[0] - len(rsps.calls) * batch_size)  # items taken but not yet answered

    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=upload_callback(hook=hook))
    report = client.upload_files("m1", items(), workers=workers, batch_size=batch_size)
    assert len(report.uploaded) == 30
    assert max(ahead) <= (2 * workers + 1) * batch_size


def test_upload_files_sends_batches_of_one_category(client, rsps, tmp_path, monkeypatch):
    """Up to batch_size files per request, never two categories in one, and never more
    bytes than UPLOAD_BATCH_MAX_BYTES unless a single file is larger."""
    monkeypatch.setattr(client_module, "UPLOAD_BATCH_MAX_BYTES", 4000)
    small = {n: write_image(tmp_path, f"s{n}.png", seed=n) for n in range(9)}  # about 800 bytes each
    big = tmp_path / "big.png"
    big.write_bytes(small[0].read_bytes() + b"\0" * 5000)  # a PNG with trailing bytes: larger than the cap
    items = [(small[n], "Bag" if n % 3 else "Coat") for n in range(9)] + [(big, "Bag")]
    sent = []
    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=upload_callback(sent=sent))
    uploaded = []
    report = client.upload_files("m1", items, workers=2, batch_size=4,
                                 on_uploaded=lambda path, category, model: uploaded.append((Path(path).name, category)))
    assert report.ok and len(report.uploaded) == len(items)
    assert sorted(uploaded) == sorted((Path(p).name, c) for p, c in items)
    names = sorted(name for _, filenames in sent for name in filenames)
    assert names == sorted(Path(p).name for p, _ in items)  # each file sent once
    sizes = {Path(p).name: Path(p).stat().st_size for p, _ in items}
    for category, filenames in sent:
        assert {c for p, c in items if Path(p).name in filenames} == {category}
        assert 1 <= len(filenames) <= 4
        assert len(filenames) == 1 or sum(sizes[f] for f in filenames) <= 4000
    assert ("Bag", ["big.png"]) in sent
    assert len(sent) < len(items)  # batched, not one per file
    assert report.model.image_count == len(items)


def test_upload_files_finds_the_files_at_fault_in_a_refused_batch(client, rsps, tmp_path, sleeps):
    """A batch refused as holding an invalid image (or as too large) is sent again file by
    file, so the good files land; any other failure fails every file of the batch."""
    good = [write_image(tmp_path, f"good{n}.png", seed=n) for n in range(4)]
    corrupt = write_image(tmp_path, "corrupt.png", seed=7)
    broken = write_image(tmp_path, "unlucky.png", seed=8)
    answers = {
        "corrupt.png": (400, {"message": "corrupt.png: not a valid image", "code": 400,
                              "errors": [{"reason": "invalid_image", "message": "truncated"}]}),
        "unlucky.png": (500, {"message": "disk on fire", "code": 500}),
    }
    sent = []
    rsps.add_callback(responses.POST, API + "/UploadFile/", callback=upload_callback(answers, sent=sent))
    items = [(good[0], "Bag"), (corrupt, "Bag"), (good[1], "Bag"), (good[2], "Coat"), (broken, "Coat")]
    progress = []
    report = client.upload_files("m1", items, workers=1, batch_size=10, progress=progress.append)
    assert sorted(report.uploaded) == sorted([str(good[0]), str(good[1])])
    failed = {path: exc for path, exc in report.failed}
    assert set(failed) == {str(corrupt), str(good[2]), str(broken)}
    assert type(failed[str(corrupt)]) is errors.InvalidImageError
    assert type(failed[str(good[2])]) is errors.ServerError and failed[str(broken)] is failed[str(good[2])]
    assert progress == [1] * len(items)
    bag_requests = [names for category, names in sent if category == "Bag"]
    assert bag_requests == [["good0.png", "corrupt.png", "good1.png"], ["good0.png"], ["corrupt.png"], ["good1.png"]]
    assert [names for category, names in sent if category == "Coat"] == [["good2.png", "unlucky.png"]] * 4  # retried


def test_upload_files_of_nothing_sends_nothing(client, rsps):
    report = client.upload_files("m1", [])
    assert report.uploaded == [] and report.model is None and report.ok
    assert len(rsps.calls) == 0
    with pytest.raises(errors.BadRequestError, match="workers"):
        client.upload_files("m1", [], workers=0)
    with pytest.raises(errors.BadRequestError, match="batch_size"):
        client.upload_files("m1", [], batch_size=0)


def test_upload_urls_sends_model_category_and_urls_repeated(client, rsps):
    urls = ["https://img.example.test/a.png", "https://img.example.test/b c.jpg?x=1&y=2"]
    rsps.add(responses.POST, API + "/UploadUrls/", json=model_json("m1", state=1, counts={"Bag": 2}))
    model = client.upload_urls("m1", urls, "Bag")
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", API + "/UploadUrls/")
    assert_auth(sent)
    assert form_fields(sent) == [("modelId", "m1"), ("category", "Bag"), ("urls", urls[0]), ("urls", urls[1])]
    assert model.image_count == 2


def test_upload_urls_partial_202_returns_the_model_and_a_single_string_is_one_url(client, rsps):
    rsps.add(responses.POST, API + "/UploadUrls/", status=202, json=model_json("m1", counts={"Bag": 1}))
    assert client.upload_urls("m1", " https://img.example.test/a.png ", "Bag").image_count == 1
    assert form_fields(rsps.calls[0].request)[2:] == [("urls", "https://img.example.test/a.png")]


def test_upload_urls_refuses_empty_input_before_sending(client, rsps):
    for urls in ([], ["", "  "], ""):
        with pytest.raises(errors.BadRequestError, match="No URLs"):
            client.upload_urls("m1", urls, "Bag")
    with pytest.raises(errors.BadRequestError, match="category"):
        client.upload_urls("m1", ["https://img.example.test/a.png"], " ")
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------- predictions


def test_predict_file_sends_the_file_and_model_id_as_multipart(client, rsps, tmp_path):
    path = write_image(tmp_path, "test 6.jpeg", fmt="JPEG")
    rsps.add(responses.POST, API + "/LabelFile/", json={"message": "Success",
                                                         "result": [prediction_json("test 6.jpeg", "Coat", 0.75)]})
    prediction = client.predict_file("m1", path)
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", API + "/LabelFile/")
    assert_auth(sent)
    form, parts = parse_multipart(sent)
    assert form == {"modelId": ["m1"]}
    assert parts == [("file", "test 6.jpeg", "image/jpeg", path.read_bytes())]
    assert prediction == Prediction(file="test 6.jpeg", label="Coat", probability=0.75,
                                    scores=[("Coat", 0.75), ("Bag", 0.25)], message="Success")


def test_predict_file_honours_retry_after_on_429(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path, "a.png")
    rsps.add(responses.POST, API + "/LabelFile/", status=429, json={"message": "Too many requests", "code": 429},
             headers={"Retry-After": "3"})
    rsps.add(responses.POST, API + "/LabelFile/", json={"result": [prediction_json("a.png")]})
    assert client.predict_file("m1", path).label == "Bag"
    assert sleeps == [3.0] and len(rsps.calls) == 2


def test_predict_file_of_an_untrained_model_is_a_400_not_retried(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path, "a.png")
    rsps.add(responses.POST, API + "/LabelFile/", status=400, json={"message": "Model is not trained", "code": 400})
    with pytest.raises(errors.BadRequestError, match="Model is not trained"):
        client.predict_file("m1", path)
    assert len(rsps.calls) == 1 and sleeps == []


def label_callback(order: List[int], gates: Optional[List[threading.Event]] = None):
    """A LabelFile/ callback answering each file with a label derived from its name (imgN -> N % 3).

    With ``gates``, the batch holding file ``img{2k}`` waits until batch k+1 has answered, so
    batches finish last-first; ``order`` records which batch answered when.
    """

    def callback(request):
        form, parts = parse_multipart(request)
        assert form == {"modelId": ["m1"]} and all(p[0] == "file" for p in parts)
        numbers = [int(p[1][3:-4]) for p in parts]
        batch = numbers[0] // 2
        if gates is not None:
            if batch + 1 < len(gates) and not gates[batch + 1].wait(PATIENCE):
                raise AssertionError(f"batch {batch + 1} never ran while batch {batch} waited")
            order.append(batch)
            gates[batch].set()
        else:
            order.append(batch)
        labels = ["Bag", "Coat", "Hat"]
        result = [prediction_json(p[1], labels[n % 3], 0.6 + n / 100) for p, n in zip(parts, numbers)]
        return json_response({"message": "Success", "result": result})

    return callback


def test_predict_files_keeps_input_order_when_batches_finish_out_of_order(client, rsps, tmp_path):
    paths = [write_image(tmp_path, f"img{n}.png", seed=n) for n in range(7)]
    batches = 4  # sizes 2, 2, 2, 1
    gates = [threading.Event() for _ in range(batches)]
    order: List[int] = []
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=label_callback(order, gates))
    progress = []
    predictions = client.predict_files("m1", paths, batch_size=2, workers=batches, progress=progress.append)
    assert order == [3, 2, 1, 0]  # every batch was in flight at once, and the last answered first
    assert [p.file for p in predictions] == [p.name for p in paths]
    assert [p.label for p in predictions] == [["Bag", "Coat", "Hat"][n % 3] for n in range(7)]
    assert [p.probability for p in predictions] == [0.6 + n / 100 for n in range(7)]
    assert sorted(progress) == [1, 2, 2, 2]  # once per batch, with its size
    sizes = sorted(len(parse_multipart(c.request)[1]) for c in rsps.calls)
    assert sizes == [1, 2, 2, 2]


def test_predict_files_one_worker_sends_batches_in_order(client, rsps, tmp_path):
    paths = [write_image(tmp_path, f"img{n}.png", seed=n) for n in range(5)]
    order: List[int] = []
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=label_callback(order))
    predictions = client.predict_files("m1", iter(paths), batch_size=2, workers=1)
    assert order == [0, 1, 2]
    assert [p.file for p in predictions] == [p.name for p in paths]
    batches = [[part[1] for part in parse_multipart(c.request)[1]] for c in rsps.calls]
    assert batches == [["img0.png", "img1.png"], ["img2.png", "img3.png"], ["img4.png"]]


def test_predict_files_checks_every_file_before_sending_any(client, rsps, tmp_path):
    good = [write_image(tmp_path, f"img{n}.png") for n in range(4)]
    for name, bad in bad_inputs(tmp_path).items():
        with pytest.raises(errors.BadRequestError):
            client.predict_files("m1", good + [bad], batch_size=1)
    assert len(rsps.calls) == 0
    assert client.predict_files("m1", []) == []
    with pytest.raises(errors.BadRequestError, match="batch_size"):
        client.predict_files("m1", good, batch_size=0)
    with pytest.raises(errors.BadRequestError, match="workers"):
        client.predict_files("m1", good, workers=0)
    assert len(rsps.calls) == 0


def test_predict_files_raises_when_a_batch_fails(client, rsps, tmp_path):
    paths = [write_image(tmp_path, f"img{n}.png", seed=n) for n in range(6)]

    def callback(request):
        names = [p[1] for p in parse_multipart(request)[1]]
        if "img2.png" in names:
            return json_response({"message": "Model does not exist", "code": 404}, 404)
        return json_response({"result": [prediction_json(n) for n in names]})

    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    with pytest.raises(errors.NotFoundError, match="Model does not exist"):
        client.predict_files("m1", paths, batch_size=2, workers=3)


def test_predictions_of_the_wrong_count_or_shape_are_server_errors(client, rsps, tmp_path):
    path = write_image(tmp_path, "a.png")
    bodies = [
        {"result": []},
        {"result": [prediction_json("a.png"), prediction_json("b.png")]},
        {"message": "Success"},
        {"result": ["a.png"]},
        {"result": [{"file": "a.png", "prediction": [{"label": "Bag"}]}]},
        {"result": [{"file": "a.png", "prediction": [{"label": "Bag", "probability": "likely"}]}]},
    ]
    for body in bodies:
        rsps.upsert(responses.POST, API + "/LabelFile/", json=body)
        with pytest.raises(errors.ServerError):
            client.predict_file("m1", path)


def test_predict_urls_sends_model_id_and_urls_repeated(client, rsps):
    urls = ["https://img.example.test/a.png", "https://img.example.test/b.jpg"]
    rsps.add(responses.POST, API + "/LabelUrls/", json={"message": "Success", "result": [
        prediction_json(urls[0], "Coat", 0.6), prediction_json(urls[1], "Bag", 0.99)]})
    predictions = client.predict_urls("m1", urls)
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", API + "/LabelUrls/")
    assert_auth(sent)
    assert form_fields(sent) == [("modelId", "m1"), ("urls", urls[0]), ("urls", urls[1])]
    assert [(p.file, p.label, p.probability) for p in predictions] == [(urls[0], "Coat", 0.6), (urls[1], "Bag", 0.99)]


def test_predict_urls_partial_202_keeps_the_failed_url_in_place(client, rsps):
    urls = ["https://img.example.test/gone.png", "https://img.example.test/b.jpg"]
    rsps.add(responses.POST, API + "/LabelUrls/", status=202, json={"message": "Partial", "result": [
        {"message": "Could not fetch the URL (404)", "file": urls[0], "prediction": []},
        prediction_json(urls[1])]})
    first, second = client.predict_urls("m1", urls)
    assert (first.file, first.label, first.scores, first.message) == (urls[0], "", [], "Could not fetch the URL (404)")
    assert (second.label, second.message) == ("Bag", "Success")
    for bad in ([], [" "]):
        with pytest.raises(errors.BadRequestError, match="No URLs"):
            client.predict_urls("m1", bad)
    assert len(rsps.calls) == 1


# ---------------------------------------------------------------------- errors, as a caller sees them


@pytest.mark.parametrize("status, cls", [
    (400, errors.BadRequestError),
    (401, errors.AuthenticationError),
    (402, errors.PaymentRequiredError),
    (404, errors.NotFoundError),
    (413, errors.PayloadTooLargeError),
    (429, errors.RateLimitError),
    (500, errors.ServerError),
    (503, errors.ServerError),
])
def test_each_error_status_raises_its_class_from_a_client_call(rsps, status, cls):
    rsps.add(responses.GET, API + "/Model/", status=status, headers={"Retry-After": "12"},
             json={"message": f"failure {status}", "code": status, "errors": [{"reason": "r", "message": "do this"}]})
    with Client(KEY, BASE, max_retries=0) as client:
        with pytest.raises(cls) as info:
            client.get_model("m1")
    exc = info.value
    assert type(exc) is cls and isinstance(exc, errors.NanonetsError)
    assert (exc.status, exc.message, exc.hint, exc.method) == (status, f"failure {status}", "do this", "GET")
    assert exc.url == API + "/Model/"
    if cls is errors.RateLimitError:
        assert exc.retry_after == 12.0
    assert_key_hidden(exc)


def test_a_server_side_invalid_image_is_an_invalid_image_error(client, rsps, tmp_path):
    path = write_image(tmp_path, "a.png")
    rsps.add(responses.POST, API + "/UploadFile/", status=400, json={
        "message": "File is not a valid PNG or JPEG image", "code": 400,
        "errors": [{"reason": "invalid_image", "message": "a.png: Image is corrupt or truncated"}]})
    with pytest.raises(errors.InvalidImageError, match="corrupt"):
        client.upload_file("m1", path, "Bag")


def test_network_failures_after_retries_are_connection_and_timeout_errors(client, rsps, sleeps):
    rsps.add(responses.GET, API + "/Models/", body=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(errors.ConnectionError) as info:
        client.list_models()
    assert isinstance(info.value, builtins.ConnectionError) and len(rsps.calls) == 4 and len(sleeps) == 3
    rsps.replace(responses.GET, API + "/Models/", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(errors.TimeoutError):
        client.list_models()


def test_a_503_then_success_is_invisible_to_the_caller(client, rsps, sleeps):
    rsps.add(responses.GET, API + "/Models/", status=503, json={"message": "restarting"})
    rsps.add(responses.GET, API + "/Models/", status=502, body="<html>bad gateway</html>")
    rsps.add(responses.GET, API + "/Models/", json=[model_json("m1")])
    assert [m.id for m in client.list_models()] == ["m1"]
    assert len(rsps.calls) == 3 and len(sleeps) == 2


def test_rate_limit_that_persists_raises_with_retry_after(rsps, sleeps):
    rsps.add(responses.POST, API + "/Train/", status=429, headers={"Retry-After": "2"},
             json={"message": "Too many requests", "code": 429})
    with Client(KEY, BASE, max_retries=2) as client:
        client._transport._sleep = sleeps.append
        with pytest.raises(errors.RateLimitError) as info:
            client.train("m1")
    assert info.value.retry_after == 2.0 and sleeps == [2.0, 2.0] and len(rsps.calls) == 3
