"""The server's HTTP layer in-process (Flask test client): request forms, error bodies, faults."""
from __future__ import annotations

import base64

import pytest

from conftest import make_image
from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

IC = "/api/v2/ImageCategorization"


def _auth(key: str = "key-a") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def _is_error_body(response, code: int) -> bool:
    body = response.get_json()
    return (
        response.status_code == code
        and response.mimetype == "application/json"
        and body["code"] == code
        and isinstance(body["message"], str)
        and all({"reason", "message"} <= set(e) for e in body["errors"])
        and len(body["errors"]) >= 1
    )


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def factory(**options):
        app = create_app(ServerConfig(data_dir=tmp_path / f"data{len(apps)}", min_images=2, **options))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["nanoclient"]["backend"].close()


def test_every_documented_request_form_is_accepted(make_app):
    client = make_app().test_client()
    form = client.post(IC + "/Model/", data={"categories": ["Bag", "Coat"]}, headers=_auth())
    assert form.status_code == 200 and [c["name"] for c in form.get_json()["categories"]] == ["Bag", "Coat"]
    as_json = client.post(IC + "/Model", json={"categories": ["Hat", "Shoe"]}, headers=_auth())
    assert as_json.status_code == 200
    model_id = form.get_json()["model_id"]
    for path in (f"/Model/?modelId={model_id}", f"/Model?modelId={model_id}", f"/Model/?id={model_id}",
                 f"/Model/{model_id}", f"/Model/{model_id}/"):
        response = client.get(IC + path, headers=_auth())
        assert response.status_code == 200 and response.get_json()["model_id"] == model_id, path
    listed = client.get(IC + "/Models", headers=_auth()).get_json()
    assert [m["model_id"] for m in listed] == [model_id, as_json.get_json()["model_id"]]
    # the official wrapper: modelId and category in the query string, several file parts at once
    files = [(__import__("io").BytesIO(make_image((200, 0, 0), seed=i)), f"b{i}.png") for i in range(3)]
    wrapper = client.post(f"{IC}/UploadFile/?modelId={model_id}&category=Bag", data={"file": files}, headers=_auth())
    assert wrapper.status_code == 200 and wrapper.get_json()["categories"][0] == {"name": "Bag", "count": 3}
    as_form = client.post(IC + "/UploadFile", headers=_auth(), data={
        "modelId": model_id, "category": "Coat",
        "file": (__import__("io").BytesIO(make_image((0, 0, 200))), "c.png")})
    assert as_form.get_json()["categories"][1] == {"name": "Coat", "count": 1}
    train_form = client.post(IC + "/Train/", data={"modelId": model_id}, headers=_auth())
    assert train_form.status_code == 400 and "Coat (1)" in train_form.get_json()["errors"][0]["message"]
    train_query = client.post(f"{IC}/Train?modelId={model_id}", headers=_auth())
    assert train_query.status_code == 400


def test_http_level_errors_are_json(make_app):
    client = make_app().test_client()
    assert _is_error_body(client.get("/no/such/path"), 404)
    assert _is_error_body(client.get(IC + "/NoSuchOperation/", headers=_auth()), 404)
    wrong_method = client.delete(IC + "/Models", headers=_auth())
    assert _is_error_body(wrong_method, 405) and "GET" in wrong_method.headers["Allow"]
    assert _is_error_body(client.get(IC + "/Train/", headers=_auth()), 405)
    missing = client.get(IC + "/Models/")
    assert _is_error_body(missing, 401) and missing.headers["WWW-Authenticate"].startswith("Basic")
    bearer = client.get(IC + "/Models/", headers={"Authorization": "Bearer key-a"})
    assert _is_error_body(bearer, 401)
    assert _is_error_body(client.get(IC + "/Model/", headers=_auth()), 400)  # no modelId
    assert client.get("/healthz").get_json() == {"status": "ok"}
    spec = client.get("/api/v2/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/ImageCategorization/UploadFile/" in spec["paths"]


def test_an_unexpected_exception_becomes_a_500_json_body(make_app, monkeypatch):
    app = make_app()
    backend = app.extensions["nanoclient"]["backend"]

    def broken(account):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backend, "list_models", broken)
    response = app.test_client().get(IC + "/Models/", headers=_auth())
    assert _is_error_body(response, 500)
    assert "disk on fire" not in response.get_data(as_text=True)  # internals stay in the log


def test_upload_over_the_limit_is_413_json(make_app):
    client = make_app(max_upload_mb=0.01).test_client()
    model_id = client.post(IC + "/Model/", data={"categories": ["a", "b"]}, headers=_auth()).get_json()["model_id"]
    big = make_image((10, 10, 10), size=(200, 200), seed=1)
    assert len(big) > 0.01 * 1024 * 1024
    response = client.post(IC + "/UploadFile/", headers=_auth(), data={
        "modelId": model_id, "category": "a", "file": (__import__("io").BytesIO(big), "big.png")})
    assert _is_error_body(response, 413)
    assert client.get(f"{IC}/Model/{model_id}", headers=_auth()).get_json()["categories"][0]["count"] == 0


def test_latency_delays_api_requests_only(make_app, monkeypatch):
    import nanoclient.server.app as app_module

    slept = []
    monkeypatch.setattr(app_module.time, "sleep", slept.append)
    client = make_app(latency_ms=250).test_client()
    client.get("/healthz")
    assert slept == []
    client.get(IC + "/Models/", headers=_auth())
    client.get(IC + "/Models/")  # even a refused request is delayed
    assert slept == [0.25, 0.25]


def test_fail_rate_answers_503_before_doing_anything(make_app):
    always = make_app(fail_rate=1.0).test_client()
    response = always.post(IC + "/Model/", data={"categories": ["a", "b"]}, headers=_auth())
    assert _is_error_body(response, 503) and response.get_json()["errors"][0]["reason"] == "unavailable"
    assert always.get("/healthz").status_code == 200
    half = make_app(fail_rate=0.5, fail_seed=1).test_client()
    codes = [half.get(IC + "/Models/", headers=_auth()).status_code for _ in range(40)]
    assert set(codes) == {200, 503}
    never = make_app(fail_rate=0.0).test_client()
    assert {never.get(IC + "/Models/", headers=_auth()).status_code for _ in range(10)} == {200}
