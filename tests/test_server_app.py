"""The server's HTTP layer in-process (Flask test client): request forms, error bodies, faults,
and the kindnesses it declares (Nanoclient-Dedupe) or drops (shuffled results, failures after processing)."""
from __future__ import annotations

import base64
import io

import pytest
from helpers import make_image

from nanoclient.server.app import DROP_MARKER, DropMarkedConnections, create_app
from nanoclient.server.config import DEDUPE_HEADER, ServerConfig
from nanoclient.server.image_categorization import TYPE as IMAGE_CATEGORIZATION
from nanoclient.types import Prediction

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


def test_the_openapi_document_lists_exactly_the_routes(make_app):
    """No route the document does not list, no listed operation without a route."""
    import re

    from nanoclient.server.routes import ROUTES as OPERATIONS

    app = make_app()
    spec = app.test_client().get("/api/v2/openapi.json").get_json()
    def root(item: dict) -> str:  # the local extension's paths are below their own server URL
        return (item.get("servers") or spec["servers"])[0]["url"]

    documented = {(method.upper(), root(item) + path.rstrip("/"))
                  for path, item in spec["paths"].items() for method in item if method != "servers"}
    # outside the API: no key needed, not in the document
    open_endpoints = {"healthz", "openapi", "dashboard", "dashboard_file"}
    routed = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).rstrip("/"))
        for rule in app.url_map.iter_rules() if rule.endpoint not in open_endpoints
        for method in rule.methods - {"HEAD", "OPTIONS"}  # added by Flask to every GET and route
    }
    assert routed == documented
    # a path two model types declare is one route and one entry (the first's), served by the model's type
    first_at: dict[tuple[str, str], str] = {}
    for op in OPERATIONS:
        first_at.setdefault((op.method, op.rule), op.name)
    served = set(first_at.values())
    shared = [op for op in OPERATIONS if op.name not in served]
    assert {rule.endpoint for rule in app.url_map.iter_rules()} == open_endpoints | served
    by_id = {entry["operationId"]: entry for item in spec["paths"].values()
             for method, entry in item.items() if method != "servers"}
    assert sorted(by_id) == sorted(served)
    for op in shared:
        assert f"{op.name} (by the model's type)" in by_id[first_at[(op.method, op.rule)]]["description"]
    for op in (op for op in OPERATIONS if op.name in served):  # --fail-after-rate's 500 where it can happen
        assert ("500" in by_id[op.name]["responses"]) == op.mutates, op.name
    # the local server's own operations: below their own root, outside the hosted API's paths, marked local-only
    local = {op.name for op in OPERATIONS if op.local}
    assert local and all(by_id[name]["x-local-only"] is True and by_id[name]["tags"] == ["local-only"]
                         and "Local server only" in by_id[name]["description"] for name in local)
    assert all("x-local-only" not in entry for name, entry in by_id.items() if name not in local)
    assert {rule.rule.split("/")[1] for rule in app.url_map.iter_rules() if rule.endpoint in local} == {"local"}


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


# ---------------------------------------------------------------- kindnesses declared or dropped


def _upload(client, model_id, category, *images):
    files = [(io.BytesIO(image), f"{i}.png") for i, image in enumerate(images)]
    return client.post(f"{IC}/UploadFile/?modelId={model_id}&category={category}", data={"file": files},
                       headers=_auth())


def _new_model(client) -> str:
    return client.post(IC + "/Model/", data={"categories": ["a", "b"]}, headers=_auth()).get_json()["model_id"]


def test_dedupe_header_on_every_api_response_while_deduplicating(make_app):
    client = make_app().test_client()
    model_id = _new_model(client)
    image = make_image((200, 0, 0))
    answers = [
        _upload(client, model_id, "a", image, image),                      # 200
        _upload(client, model_id, "nope", image),                          # 400
        client.get(IC + "/Models/"),                                       # 401
        client.get(IC + "/NoSuchOperation/", headers=_auth()),             # 404
        client.delete(IC + "/Models/", headers=_auth()),                   # 405
    ]
    assert [a.status_code for a in answers] == [200, 400, 401, 404, 405]
    assert answers[0].get_json()["categories"][0]["count"] == 1
    assert all(a.headers.get(DEDUPE_HEADER) == "sha256" for a in answers), [dict(a.headers) for a in answers]
    assert DEDUPE_HEADER == "Nanoclient-Dedupe"
    failing = make_app(fail_rate=1.0).test_client().get(IC + "/Models/", headers=_auth())
    assert failing.status_code == 503 and failing.headers[DEDUPE_HEADER] == "sha256"
    # outside the API: no declaration
    assert DEDUPE_HEADER not in client.get("/healthz").headers
    assert DEDUPE_HEADER not in client.get("/api/v2/openapi.json").headers


def test_without_dedupe_no_header_and_identical_bytes_count(make_app):
    client = make_app(dedupe=False).test_client()
    model_id = _new_model(client)
    image = make_image((200, 0, 0))
    once = _upload(client, model_id, "a", image, image)
    assert once.status_code == 200 and once.get_json()["categories"][0]["count"] == 2
    again = _upload(client, model_id, "a", image)
    assert again.get_json()["categories"][0]["count"] == 3
    for answer in (once, again, client.get(IC + "/Models/"), client.get(IC + "/Nope/", headers=_auth())):
        assert DEDUPE_HEADER not in answer.headers


def _canned_predictions(n: int):
    return [Prediction(file=f"f{i:02d}.png", label="a", probability=0.75, scores=[("a", 0.75), ("b", 0.25)])
            for i in range(n)]


def test_shuffle_results_reorders_predictions_only_when_asked(make_app, monkeypatch):
    canned = _canned_predictions(20)
    names = [p.file for p in canned]
    orders = {}
    for shuffled in (False, True):
        app = make_app(shuffle_results=shuffled, fail_seed=4)
        images = app.extensions["nanoclient"]["backend"].part(IMAGE_CATEGORIZATION)
        monkeypatch.setattr(images, "predict_images", lambda account, model_id, files: list(canned))
        monkeypatch.setattr(images, "predict_urls", lambda account, model_id, urls: (list(canned), 0))
        client = app.test_client()
        by_file = client.post(IC + "/LabelFile/?modelId=m", headers=_auth(), data={
            "file": [(io.BytesIO(b"x"), "x.png")]}).get_json()["result"]
        by_url = client.post(IC + "/LabelUrls/", headers=_auth(), data={"modelId": "m", "urls": ["u"]}).get_json()
        orders[shuffled] = ([r["file"] for r in by_file], [r["file"] for r in by_url["result"]])
        assert by_file[0]["prediction"][0] == {"label": "a", "probability": 0.75}  # entries stay whole
    assert orders[False] == (names, names)
    for order in orders[True]:
        assert order != names and sorted(order) == names


def test_fail_after_rate_processes_mutations_then_fails_them(make_app):
    app = make_app(fail_after_rate=1.0, fail_seed=7)
    client = app.test_client()
    outcomes = []
    for _i in range(8):
        created = client.post(IC + "/Model/", data={"categories": ["a", "b"]}, headers=_auth())
        outcomes.append(created.status_code if DROP_MARKER not in created.headers else "drop")
        if created.status_code == 500:
            assert _is_error_body(created, 500) and created.headers[DEDUPE_HEADER] == "sha256"
            assert created.get_json()["errors"][0]["reason"] == "injected_after_processing"
            assert "WAS processed" in created.get_json()["errors"][0]["message"]
        else:  # the real answer, marked for the transport to drop
            assert created.status_code == 200 and created.get_json()["model_id"]
    assert set(outcomes) == {500, "drop"}
    listed = client.get(IC + "/Models/", headers=_auth())  # a GET is not failed
    assert listed.status_code == 200 and DROP_MARKER not in listed.headers
    models = listed.get_json()
    assert len(models) == 8  # every failed creation was processed
    model_id = models[0]["model_id"]
    for n in range(1, 4):
        uploaded = _upload(client, model_id, "a", make_image((10 * n, 0, 0)))
        assert uploaded.status_code == 500 or DROP_MARKER in uploaded.headers
        assert client.get(f"{IC}/Model/{model_id}", headers=_auth()).get_json()["categories"][0]["count"] == n
    refused = _upload(client, model_id, "nope", make_image((1, 1, 1)))  # not processed: answered as is
    assert _is_error_body(refused, 400) and DROP_MARKER not in refused.headers
    trained = client.post(f"{IC}/Train/?modelId={model_id}", headers=_auth())  # a 400 too: too few images
    assert trained.status_code == 400 and DROP_MARKER not in trained.headers


def test_drop_marked_connections_cuts_the_answer_short():
    def wsgi_app(environ, start_response):
        marked = environ["PATH_INFO"] == "/drop"
        headers = [("Content-Type", "application/json"), ("Content-Length", "10")]
        start_response("200 OK", headers + ([(DROP_MARKER.lower(), "1")] if marked else []))
        return [b'{"a": ', b'"bc"}']

    started = []
    wrapped = DropMarkedConnections(wsgi_app)
    body = b"".join(wrapped({"PATH_INFO": "/drop"}, lambda status, headers, exc_info=None: started.append(headers)))
    headers = dict(started[-1])
    assert DROP_MARKER not in headers and DROP_MARKER.lower() not in headers
    assert int(headers["Content-Length"]) == 11 > len(body) and body == b'{"a":'
    whole = b"".join(wrapped({"PATH_INFO": "/keep"}, lambda status, headers, exc_info=None: started.append(headers)))
    assert whole == b'{"a": "bc"}' and dict(started[-1])["Content-Length"] == "10"


def test_upload_urls_partial_answer_names_each_failed_url(tmp_path):
    from nanoclient.server.backend import Backend
    from nanoclient.server.fetch import FetchError
    from nanoclient.server.store import Store

    good, missing, text = "http://img.test/red.png", "http://img.test/missing.png", "http://img.test/page"

    def fetch(url: str) -> bytes:
        if url == missing:
            raise FetchError(f"{url} answered 404")
        return make_image((200, 0, 0)) if url == good else b"<html>"

    backend = Backend(Store(tmp_path / "data"), min_images=2, fetcher=fetch).start()
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2), backend)
    try:
        client = app.test_client()
        model_id = _new_model(client)
        partial = client.post(IC + "/UploadUrls/", headers=_auth(), data={
            "modelId": model_id, "category": "a", "urls": [good, missing, text]})
        body = partial.get_json()
        assert partial.status_code == 202
        assert body["model_id"] == model_id and body["categories"][0] == {"name": "a", "count": 1}
        assert body["message"] == "Some URLs could not be fetched"
        assert [(e["reason"], e["url"]) for e in body["errors"]] == [("bad_url", missing), ("bad_url", text)]
        assert body["errors"][0]["message"].startswith(missing + ": ") and "404" in body["errors"][0]["message"]
        none = client.post(IC + "/UploadUrls/", headers=_auth(), data={
            "modelId": model_id, "category": "a", "urls": [missing]})
        assert _is_error_body(none, 400) and none.get_json()["errors"][0]["url"] == missing

        schemathesis = pytest.importorskip("schemathesis")
        schema = schemathesis.openapi.from_dict(client.get("/api/v2/openapi.json").get_json())
        operation = schema["/ImageCategorization/UploadUrls/"]["POST"]
        operation.validate_response(partial)  # the 202 is what the document says
        operation.validate_response(none)
        broken = client.post(IC + "/UploadUrls/", headers=_auth(), data={
            "modelId": model_id, "category": "a", "urls": [good, missing]})
        broken.set_data(broken.get_data().replace(b'"url"', b'"uri"'))
        assert not operation.is_valid_response(broken)  # and the document does check the errors
    finally:
        backend.close()
