"""The SDK Client against a mocked API (``responses``): every public method's request shape as
docs/api.md states it, the parsing of answers, error classes, retries as seen by a caller, input
checked before sending, key hygiene, concurrent uploads and batched predictions in input order.

Transport internals (backoff arithmetic, streaming, error-body parsing) are tested in
test_transport.py; here every request goes through a ``Client``.
"""
from __future__ import annotations

import builtins
import io
import logging
import threading
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from apimock import API, BASE, UploadApi, json_response, model_json
from helpers import KEY, KEY_B64, PATIENCE, assert_key_hidden, make_image, request_multipart, write_image

from nanoclient import Client, errors
from nanoclient.client import DEFAULT_BASE_URL
from nanoclient.types import FileError, Model, Prediction

AUTH = f"Basic {KEY_B64}"
FORM = "application/x-www-form-urlencoded"

#: The key, the URL and the config file come from these tests only.
pytestmark = pytest.mark.usefixtures("isolated_settings")


# ---------------------------------------------------------------------- helpers


def prediction_json(name, best="Bag", p=0.9):
    """One entry of a prediction response for the file sent as ``name``."""
    other = "Coat" if best == "Bag" else "Bag"
    # deliberately not sorted: the client sorts by probability
    return {"message": "Success", "file": name,
            "prediction": [{"label": other, "probability": round(1 - p, 6)}, {"label": best, "probability": p}]}


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
def test_no_key_is_a_value_error_before_any_request(rsps, monkeypatch, env_key, arg_key):
    if env_key is not None:
        monkeypatch.setenv("NANONETS_API_KEY", env_key)
    with pytest.raises(ValueError, match="NANONETS_API_KEY"):
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
    with pytest.raises(ValueError, match="plain http://") as info:
        Client(KEY, url)
    assert_key_hidden(info.value)
    assert len(rsps.calls) == 0


def test_plain_http_from_the_environment_is_refused_too(rsps, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", "http://api.example.test/api/v2")
    with pytest.raises(ValueError, match="plain http://"):
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
    with pytest.raises(ValueError) as info:
        Client("another-key-123", url)
    assert_key_hidden(info.value)
    assert len(rsps.calls) == 0


def test_a_key_passed_as_the_base_url_is_not_echoed():
    with pytest.raises(ValueError, match="base URL") as info:
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
            with pytest.raises((errors.NanonetsError, OSError, ValueError)) as info:
                call()
            raised.append(info.value)
    assert [type(e) for e in raised] == [errors.NotFoundError, errors.AuthenticationError, errors.APITimeoutError,
                                         FileNotFoundError, ValueError]
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
    assert model == Model(id="new-1", type="classification", state=0, categories=model.categories)
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
    with pytest.raises(ValueError, match=message):
        client.create_model(categories)
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_model_is_not_retried_after_a_5xx_that_may_have_created_it(client, rsps, sleeps, status):
    rsps.add(responses.POST, API + "/Model/", json={"message": "oops"}, status=status)
    with pytest.raises(errors.ServerError):
        client.create_model(["Bag"])
    assert len(rsps.calls) == 1 and sleeps == []  # the server may have created it: no duplicate


def test_create_model_is_retried_after_a_503_or_429_that_surely_did_nothing(client, rsps, sleeps):
    rsps.add(responses.POST, API + "/Model/", json={"message": "busy"}, status=503)
    rsps.add(responses.POST, API + "/Model/", json={"message": "slow down"}, status=429, headers={"Retry-After": "4"})
    rsps.add(responses.POST, API + "/Model/", json=model_json("m9"))
    assert client.create_model(["Bag"]).id == "m9"
    assert len(sleeps) == 2 and sleeps[1] == 4.0 and len(rsps.calls) == 3


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
    image = write_image(tmp_path / "a.png")
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
        with pytest.raises(ValueError, match="model id"):
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
        self.slept: list[float] = []

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
    with pytest.raises(errors.TrainingTimeoutError, match="still in state 4 \\(training\\) after 30 s") as info:
        client.wait_until_trained("m1", timeout=30, poll_interval=10, on_update=lambda m: seen.append(m.state))
    assert isinstance(info.value, builtins.TimeoutError)
    assert clock.now == 1030.0 and clock.slept == [10, 10, 10]
    assert len(rsps.calls) == 4  # polled at 0, 10, 20 and 30 s
    assert seen == [4]


def test_wait_until_trained_never_sleeps_past_the_deadline(client, rsps, clock):
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=3))
    with pytest.raises(errors.TrainingTimeoutError):
        client.wait_until_trained("m1", timeout=25, poll_interval=10)
    assert clock.slept == [10, 10, 5]


def test_wait_until_trained_returns_at_once_for_a_trained_model(client, rsps, clock):
    poll_answers(rsps, [5])
    seen = []
    assert client.wait_until_trained("m1", on_update=seen.append).state == 5
    assert [m.state for m in seen] == [5] and clock.slept == []
    with pytest.raises(ValueError, match="poll_interval"):
        client.wait_until_trained("m1", poll_interval=0)
    assert len(rsps.calls) == 1


def test_wait_until_trained_waits_through_states_it_does_not_know(client, rsps, clock):
    """A service may report 2, 1 or states docs/api.md does not name for a while after Train/:
    only 5 and -1 end the wait, and every change of state or status is reported."""
    for state, status in [(2, "Ready to train"), (7, "Provisioning"), (7, "Provisioning a GPU"), (1, ""), (4, "")]:
        rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=state, status=status))
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=5))
    seen = []
    model = client.wait_until_trained("m1", poll_interval=1, on_update=lambda m: seen.append((m.state, m.status)))
    assert model.state == 5
    assert seen == [(2, "Ready to train"), (7, "Provisioning"), (7, "Provisioning a GPU"), (1, ""), (4, ""), (5, "")]


# ---------------------------------------------------------------------- uploads


@pytest.mark.parametrize("fmt, name, content_type", [("PNG", "bag 1.png", "image/png"),
                                                     ("JPEG", "bag.JPG", "image/jpeg")])
def test_upload_file_sends_file_category_and_model_id_as_multipart(client, rsps, tmp_path, fmt, name, content_type):
    path = write_image(tmp_path / name, fmt=fmt)
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", state=0, counts={"Bag": 0, "Coat": 0}))
    rsps.add(responses.POST, API + "/UploadFile/", json=model_json("m1", state=1, counts={"Bag": 1, "Coat": 0}))
    model = client.upload_file("m1", str(path), "Bag")
    assert [c.request.method for c in rsps.calls] == ["GET", "POST"]  # the count first, to check the answer
    sent = rsps.calls[1].request
    assert sent.method == "POST" and sent.url == API + "/UploadFile/"  # fields in the body, not the query
    assert_auth(sent)
    assert int(sent.headers["Content-Length"]) == len(sent.body)
    form, parts = request_multipart(sent)
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
    UploadApi(rsps)
    client.upload_file("m1", path, "Bag")
    _, parts = request_multipart(rsps.calls[1].request)
    assert parts == [("file", "phone.jpg", "image/jpeg", path.read_bytes())]


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
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
        for call in (lambda path=path: client.upload_file("m1", path, "Bag"),
                     lambda path=path: client.predict_file("m1", path)):
            with pytest.raises((OSError, errors.InvalidImageError)) as info:
                call()
            expected = {"missing.png": (FileNotFoundError, "No such file"),
                        "folder.png": (IsADirectoryError, "Not a file")}.get(name)
            if expected:
                assert isinstance(info.value, expected[0]) and expected[1] in str(info.value), name
            else:
                assert isinstance(info.value, errors.InvalidImageError) and isinstance(info.value, ValueError), name
                assert info.value.status is None and info.value.method is None and info.value.url is None
    assert len(rsps.calls) == 0


def test_upload_file_refuses_an_empty_category(client, rsps, tmp_path):
    image = write_image(tmp_path / "a.png")
    for category in ("", "  ", None):
        with pytest.raises(ValueError, match="category"):
            client.upload_file("m1", image, category)
    assert len(rsps.calls) == 0


def test_upload_file_is_retried_after_a_503_with_the_whole_file(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path / "a.png", seed=1)
    api = UploadApi(rsps)
    api.fail_next("503")
    assert client.upload_file("m1", path, "Bag").image_count == 1
    assert len(api.requests) == 2 and len(sleeps) == 1 and api.stored == [("Bag", "a.png")]
    for call in rsps.calls[1:]:
        assert request_multipart(call.request) == ({"modelId": ["m1"], "category": ["Bag"]},
                                                   [("file", "a.png", "image/png", path.read_bytes())])


def test_upload_file_stored_but_answered_500_is_not_sent_twice(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path / "a.png", seed=1)
    api = UploadApi(rsps)
    api.fail_next("500-after")
    assert client.upload_file("m1", path, "Bag").image_count == 1
    assert len(api.requests) == 1 and api.stored == [("Bag", "a.png")]


def test_upload_urls_sends_model_category_and_urls_repeated(client, rsps):
    urls = ["https://img.example.test/a.png", "https://img.example.test/b c.jpg?x=1&y=2"]
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", counts={"Bag": 0}))
    rsps.add(responses.POST, API + "/UploadUrls/", json=model_json("m1", state=1, counts={"Bag": 2}))
    report = client.upload_urls("m1", urls + [urls[0]], "Bag")  # the same URL twice is sent once
    sent = rsps.calls[1].request
    assert (sent.method, sent.url) == ("POST", API + "/UploadUrls/")
    assert_auth(sent)
    assert form_fields(sent) == [("modelId", "m1"), ("category", "Bag"), ("urls", urls[0]), ("urls", urls[1])]
    assert report.uploaded == urls and report.ok and report.model.image_count == 2


def test_upload_urls_partial_202_keeps_what_succeeded_and_names_what_failed(client, rsps):
    urls = [f"https://img.example.test/{n}.png" for n in range(3)]
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", counts={"Bag": 5}))
    body = dict(model_json("m1", counts={"Bag": 7}), message="Some URLs could not be fetched",
                errors=[{"reason": "bad_url", "url": urls[1], "message": f"{urls[1]}: 404 Not Found"}])
    rsps.add(responses.POST, API + "/UploadUrls/", status=202, json=body)
    report = client.upload_urls("m1", urls, "Bag")
    assert report.uploaded == [urls[0], urls[2]] and report.model.image_count == 7
    assert [(url, str(exc.message)) for url, exc in report.failed] == [(urls[1], f"{urls[1]}: 404 Not Found")]


def test_upload_urls_partial_202_without_details_is_settled_by_the_count_or_left_unsettled(client, rsps):
    urls = [f"https://img.example.test/{n}.png" for n in range(2)]
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1", counts={"Bag": 0}))
    rsps.add(responses.POST, API + "/UploadUrls/", status=202, json={"message": "Partial success"})
    report = client.upload_urls("m1", " https://img.example.test/0.png ", "Bag")  # a string is one URL
    assert report.uploaded == [] and [u for u, _ in report.unsettled] == [urls[0]]
    rsps.replace(responses.POST, API + "/UploadUrls/", status=202, json=model_json("m1", counts={"Bag": 1}))
    report = client.upload_urls("m1", urls, "Bag")
    assert [u for u, _ in report.unsettled] == urls and "grew by 1" in report.unsettled[0][1]


def test_upload_urls_after_a_dropped_answer_checks_the_count_before_sending_again(client, rsps):
    counts = {"Bag": 3}
    answers = iter(["drop-after", "drop-before", "ok"])

    def upload(request):
        answer = next(answers)
        if answer != "drop-before":
            counts["Bag"] += 1
        if answer.startswith("drop"):
            raise requests.exceptions.ConnectionError("Connection broken")
        return json_response(model_json("m1", counts=dict(counts)))

    rsps.add_callback(responses.GET, API + "/Model/", callback=lambda r: json_response(model_json("m1", counts=counts)))
    rsps.add_callback(responses.POST, API + "/UploadUrls/", callback=upload)
    report = client.upload_urls("m1", ["https://img.example.test/a.png"], "Bag")
    assert report.uploaded == ["https://img.example.test/a.png"] and counts == {"Bag": 4}
    report = client.upload_urls("m1", ["https://img.example.test/b.png"], "Bag")  # lost, checked, resent
    assert report.uploaded == ["https://img.example.test/b.png"] and counts == {"Bag": 5}


def test_upload_urls_refuses_empty_input_before_sending(client, rsps):
    for urls in ([], ["", "  "], ""):
        with pytest.raises(ValueError, match="No URLs"):
            client.upload_urls("m1", urls, "Bag")
    with pytest.raises(ValueError, match="category"):
        client.upload_urls("m1", ["https://img.example.test/a.png"], " ")
    assert len(rsps.calls) == 0


# ---------------------------------------------------------------------- predictions


def test_predict_file_sends_the_file_and_model_id_as_multipart(client, rsps, tmp_path):
    path = write_image(tmp_path / "test 6.JPEG", fmt="JPEG")
    rsps.add(responses.POST, API + "/LabelFile/", json={"message": "Success",
                                                         "result": [prediction_json("0.jpeg", "Coat", 0.75)]})
    prediction = client.predict_file("m1", path)
    sent = rsps.calls[0].request
    assert (sent.method, sent.url) == ("POST", API + "/LabelFile/")
    assert_auth(sent)
    form, parts = request_multipart(sent)
    assert form == {"modelId": ["m1"]}
    # sent under a name unique within the request, answered under the path given
    assert parts == [("file", "0.jpeg", "image/jpeg", path.read_bytes())]
    assert prediction == Prediction(file=str(path), label="Coat", probability=0.75,
                                    scores=[("Coat", 0.75), ("Bag", 0.25)], message="Success")


def test_predict_file_honours_retry_after_on_429(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path / "a.png")
    rsps.add(responses.POST, API + "/LabelFile/", status=429, json={"message": "Too many requests", "code": 429},
             headers={"Retry-After": "3"})
    rsps.add(responses.POST, API + "/LabelFile/", json={"result": [prediction_json("0.png")]})
    assert client.predict_file("m1", path).label == "Bag"
    assert sleeps == [3.0] and len(rsps.calls) == 2


def test_predict_file_of_an_untrained_model_is_a_400_not_retried(client, rsps, tmp_path, sleeps):
    path = write_image(tmp_path / "a.png")
    rsps.add(responses.POST, API + "/LabelFile/", status=400, json={"message": "Model is not trained", "code": 400})
    with pytest.raises(errors.BadRequestError, match="Model is not trained"):
        client.predict_file("m1", path)
    assert len(rsps.calls) == 1 and sleeps == []


def label_callback(numbers: dict[bytes, int], order: list[int], gates: list[threading.Event] | None = None,
                   shuffle: bool = False):
    """A LabelFile/ callback answering each file with a label derived from its number (N -> N % 3).

    ``numbers`` maps each file's bytes to its number. With ``gates``, the batch holding file
    2k waits until batch k+1 has answered, so batches finish last-first; ``order`` records
    which batch answered when. With ``shuffle`` the entries come in reverse order, as the
    hosted service may send them.
    """

    def callback(request):
        form, parts = request_multipart(request)
        assert form == {"modelId": ["m1"]} or query(request) == [("modelId", "m1")]
        assert all(p[0] == "file" for p in parts)
        assert len({p[1] for p in parts}) == len(parts)  # names distinct within the request
        found = [numbers[p[3]] for p in parts]
        batch = found[0] // 2
        if gates is not None:
            if batch + 1 < len(gates) and not gates[batch + 1].wait(PATIENCE):
                raise AssertionError(f"batch {batch + 1} never ran while batch {batch} waited")
            order.append(batch)
            gates[batch].set()
        else:
            order.append(batch)
        labels = ["Bag", "Coat", "Hat"]
        result = [prediction_json(p[1], labels[n % 3], 0.6 + n / 100) for p, n in zip(parts, found, strict=True)]
        return json_response({"message": "Success", "result": result[::-1] if shuffle else result})

    return callback


def numbered_images(tmp_path: Path, count: int):
    paths = [write_image(tmp_path / f"img{n}.png", seed=n) for n in range(count)]
    return paths, {p.read_bytes(): n for n, p in enumerate(paths)}


def test_predict_files_keeps_input_order_when_batches_finish_out_of_order(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 7)
    batches = 4  # sizes 2, 2, 2, 1
    gates = [threading.Event() for _ in range(batches)]
    order: list[int] = []
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=label_callback(numbers, order, gates))
    progress = []
    predictions = client.predict_files("m1", paths, batch_size=2, workers=batches, progress=progress.append)
    assert order == [3, 2, 1, 0]  # every batch was in flight at once, and the last answered first
    assert [p.file for p in predictions] == [str(p) for p in paths]
    assert [p.label for p in predictions] == [["Bag", "Coat", "Hat"][n % 3] for n in range(7)]
    assert [p.probability for p in predictions] == [0.6 + n / 100 for n in range(7)]
    assert progress == [1] * 7  # once per file, as it is done
    sizes = sorted(len(request_multipart(c.request)[1]) for c in rsps.calls)
    assert sizes == [1, 2, 2, 2]


def test_predict_files_one_worker_sends_batches_in_order(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 5)
    order: list[int] = []
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=label_callback(numbers, order))
    predictions = client.predict_files("m1", iter(paths), batch_size=2, workers=1)
    assert order == [0, 1, 2]
    assert [p.file for p in predictions] == [str(p) for p in paths]
    batches = [[numbers[part[3]] for part in request_multipart(c.request)[1]] for c in rsps.calls]
    assert batches == [[0, 1], [2, 3], [4]]
    assert [query(c.request) for c in rsps.calls] == [[("modelId", "m1")]] * 2 + [[]]  # batches: in the query


def test_predictions_answered_in_any_order_keep_their_files_labels(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 9)
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=label_callback(numbers, [], shuffle=True))
    predictions = client.predict_files("m1", paths, batch_size=5, workers=2)
    assert [(p.file, p.label) for p in predictions] == [(str(p), ["Bag", "Coat", "Hat"][n % 3])
                                                         for n, p in enumerate(paths)]


def test_predictions_without_names_are_taken_in_order(client, rsps, tmp_path):
    paths, _ = numbered_images(tmp_path, 2)
    entries = [prediction_json("", "Coat"), prediction_json("", "Bag")]
    rsps.add(responses.POST, API + "/LabelFile/", json={"result": entries})
    assert [p.label for p in client.predict_files("m1", paths)] == ["Coat", "Bag"]


def test_predict_files_checks_every_file_before_sending_any(client, rsps, tmp_path):
    good = [write_image(tmp_path / f"img{n}.png") for n in range(4)]
    for _name, bad in bad_inputs(tmp_path).items():
        with pytest.raises((OSError, errors.InvalidImageError)):
            client.predict_files("m1", good + [bad], batch_size=1)
    assert len(rsps.calls) == 0
    assert client.predict_files("m1", []) == []
    with pytest.raises(ValueError, match="batch_size"):
        client.predict_files("m1", good, batch_size=0)
    with pytest.raises(ValueError, match="workers"):
        client.predict_files("m1", good, workers=0)
    assert len(rsps.calls) == 0


def test_predict_files_raises_when_a_batch_fails(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 6)

    def callback(request):
        parts = request_multipart(request)[1]
        names = [p[1] for p in parts]
        if 2 in [numbers[p[3]] for p in parts]:
            return json_response({"message": "Model does not exist", "code": 404}, 404)
        return json_response({"result": [prediction_json(n) for n in names]})

    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    with pytest.raises(errors.NotFoundError, match="Model does not exist"):
        client.predict_files("m1", paths, batch_size=2, workers=3)


def test_predictions_of_the_wrong_count_shape_or_name_are_server_errors(client, rsps, tmp_path):
    path = write_image(tmp_path / "a.png")
    bodies = [
        {"result": []},
        {"result": [prediction_json("0.png"), prediction_json("1.png")]},
        {"result": [prediction_json("a.png")]},  # a name that was not sent: never given to another file
        {"result": [prediction_json("0.png"), prediction_json("0.png")]},
        {"message": "Success"},
        {"result": ["a.png"]},
        {"result": [{"file": "0.png", "prediction": [{"label": "Bag"}]}]},
        {"result": [{"file": "0.png", "prediction": [{"label": "Bag", "probability": "likely"}]}]},
    ]
    for body in bodies:
        rsps.upsert(responses.POST, API + "/LabelFile/", json=body)
        with pytest.raises(errors.ServerError):
            client.predict_file("m1", path)
    two = [path, write_image(tmp_path / "b.png", seed=3)]
    rsps.upsert(responses.POST, API + "/LabelFile/", json={"result": [prediction_json("0.png"), prediction_json("")]})
    with pytest.raises(errors.ServerError):  # some named, some not: the unnamed one matches nothing
        client.predict_files("m1", two)


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
    urls = ["https://img.example.test/gone.png", "https://img.example.test/b.jpg", "https://img.example.test/c.jpg"]
    rsps.add(responses.POST, API + "/LabelUrls/", status=202, json={"message": "Partial", "result": [
        prediction_json(urls[1]), {"message": "Could not fetch the URL (404)", "file": urls[0], "prediction": []}]})
    first, second, third = client.predict_urls("m1", urls)  # answered out of order, one left out
    assert (first.file, first.label, first.scores, first.message) == (urls[0], "", [], "Could not fetch the URL (404)")
    assert (second.file, second.label, second.message) == (urls[1], "Bag", "Success")
    assert (third.file, third.label) == (urls[2], "") and "no prediction" in third.message
    for bad in ([], [" "]):
        with pytest.raises(ValueError, match="No URLs"):
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
    path = write_image(tmp_path / "a.png")
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1"))
    rsps.add(responses.POST, API + "/UploadFile/", status=400, json={
        "message": "File is not a valid PNG or JPEG image", "code": 400,
        "errors": [{"reason": "invalid_image", "message": "a.png: Image is corrupt or truncated"}]})
    with pytest.raises(errors.InvalidImageError, match="corrupt"):
        client.upload_file("m1", path, "Bag")


def test_network_failures_after_retries_are_connection_and_timeout_errors(client, rsps, sleeps):
    rsps.add(responses.GET, API + "/Models/", body=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(errors.APIConnectionError) as info:
        client.list_models()
    assert isinstance(info.value, builtins.ConnectionError) and len(rsps.calls) == 4 and len(sleeps) == 3
    rsps.replace(responses.GET, API + "/Models/", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(errors.APITimeoutError):
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


# ---------------------------------------------------------------------- predictions, file by file


def refusing_label_callback(numbers, refuse=(), fail=(), too_large_over=None):
    """LabelFile answers: a batch holding a file numbered in ``refuse`` is refused as an invalid image,
    one holding a file in ``fail`` gets a 500, one of more than ``too_large_over`` bytes a 413."""
    sent = []

    def callback(request):
        parts = request_multipart(request)[1]
        found = [numbers[p[3]] for p in parts]
        sent.append(found)
        if too_large_over is not None and sum(len(p[3]) for p in parts) > too_large_over:
            return json_response({"message": "Upload too large", "code": 413}, 413)
        if any(n in refuse for n in found):
            return json_response({"message": "not a valid image", "code": 400,
                                  "errors": [{"reason": "invalid_image", "message": "truncated"}]}, 400)
        if any(n in fail for n in found):
            return json_response({"message": "disk on fire", "code": 500}, 500)
        return json_response({"result": [prediction_json(p[1], "Bag") for p in parts]})

    return callback, sent


def test_each_file_gets_its_outcome_and_one_bad_file_costs_that_file_only(client, rsps, tmp_path, sleeps):
    paths, numbers = numbered_images(tmp_path, 8)
    (tmp_path / "notes.png").write_text("not an image")
    callback, sent = refusing_label_callback(numbers, refuse={2}, fail={6})
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    inputs = paths[:4] + [tmp_path / "notes.png", tmp_path / "gone.png"] + paths[4:]
    outcomes = client.predict_files("m1", inputs, batch_size=4, workers=2, errors="return")
    assert [o.file for o in outcomes] == [str(p) for p in inputs]  # input order, every file accounted for
    kinds = {o.file: type(o).__name__ if isinstance(o, FileError) else o.label for o in outcomes}
    assert kinds == {**{str(p): "Bag" for p in paths}, str(paths[2]): "FileError", str(paths[6]): "FileError",
                     str(paths[7]): "FileError", str(tmp_path / "notes.png"): "FileError",
                     str(tmp_path / "gone.png"): "FileError"}
    errors_by_file = {o.file: o.error for o in outcomes if isinstance(o, FileError)}
    assert isinstance(errors_by_file[str(paths[2])], errors.InvalidImageError)  # found by splitting the batch
    assert isinstance(errors_by_file[str(tmp_path / "notes.png")], errors.InvalidImageError)  # never sent
    assert isinstance(errors_by_file[str(tmp_path / "gone.png")], FileNotFoundError)
    assert isinstance(errors_by_file[str(paths[6])], errors.ServerError)  # its batch failed after retries
    assert [0, 1, 2, 3] in sent and [0] in sent and [2] in sent  # the refused batch was split file by file
    assert sum(1 for batch in sent if 6 in batch) == 4  # the 500 batch: tried 1 + 3 times, not split


def test_predict_files_raises_by_default_and_an_error_every_file_gets_always_raises(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 4)
    callback, _ = refusing_label_callback(numbers, refuse={1})
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    with pytest.raises(errors.InvalidImageError):
        client.predict_files("m1", paths, batch_size=1)
    rsps.replace(responses.POST, API + "/LabelFile/", json={"message": "Model does not exist", "code": 404},
                 status=404)
    with pytest.raises(errors.NotFoundError):
        client.predict_files("m1", paths, batch_size=1, errors="return")
    with pytest.raises(ValueError, match="errors"):
        client.predict_files("m1", paths, errors="ignore")  # type: ignore[call-overload]


def test_prediction_batches_are_capped_by_bytes_and_a_413_batch_is_split(client, rsps, tmp_path, monkeypatch):
    from nanoclient.image_categorization import _resource as _image_categorization

    monkeypatch.setattr(_image_categorization, "BATCH_MAX_BYTES", 2500)
    paths, numbers = numbered_images(tmp_path, 6)  # about 800 bytes each
    callback, sent = refusing_label_callback(numbers, too_large_over=1700)
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    outcomes = client.predict_files("m1", paths, batch_size=20, errors="return")
    assert all(isinstance(o, Prediction) for o in outcomes)
    sizes = [len(batch) for batch in sent]
    assert max(sizes) <= 3 and 1 in sizes  # at most the bytes cap per request; the 413 ones split up


def test_predict_iter_streams_outcomes_and_reads_paths_lazily(client, rsps, tmp_path):
    paths, numbers = numbered_images(tmp_path, 30)
    taken = [0]

    def lazily():
        for path in paths:
            taken[0] += 1
            yield path

    callback, _ = refusing_label_callback(numbers)
    rsps.add_callback(responses.POST, API + "/LabelFile/", callback=callback)
    stream = client.predict_iter("m1", lazily(), batch_size=2, workers=2)
    first = next(stream)
    assert isinstance(first, Prediction) and taken[0] <= 2 * 2 * 2 + 2  # a bounded look-ahead, not all 30
    rest = list(stream)
    assert sorted(o.file for o in [first, *rest]) == sorted(str(p) for p in paths)
