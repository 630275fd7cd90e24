"""The local server's own extension (``/local/v1``) and its dashboard's files, in-process: stored
images paged and read back as thumbnails (cache headers, 304), evaluation reports stored and
opened through one-use links, one key's data 404 to another, the headers every response carries;
then the SDK's ``local_put_report`` (mocked wire, the fake) and ``nanoclient evaluate --report``
against a real server, directly and through a proxy that hides the ``Nanoclient-Server`` header."""
from __future__ import annotations

import base64
import io
import json
import time

import pytest
import requests
import responses
from apimock import BASE, json_response, model_json
from helpers import KEY, make_image, request_multipart, run_cli, upload_images, write_image
from PIL import Image

from nanoclient import Client
from nanoclient.server import local as local_module
from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig
from nanoclient.server.dashboard import PAGE_CSP, REPORT_CSP

IC = "/api/v2/ImageCategorization"
LOCAL = "/local/v1"
REPORT = b"<!DOCTYPE html><html><head><style>b{color:red}</style></head><body><b>report</b></body></html>"


def _auth(key: str = "key-a") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def app(tmp_path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2))
    yield app
    app.extensions["nanoclient"]["backend"].close()


@pytest.fixture
def http(app):
    return app.test_client()


def _model(http, key: str = "key-a", categories=("a", "b")) -> str:
    answer = http.post(IC + "/Model/", data={"categories": list(categories)}, headers=_auth(key))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["model_id"]


def _upload(http, model_id: str, category: str, images, key: str = "key-a", names=None):
    names = names or [f"{i}.png" for i in range(len(images))]
    files = [(io.BytesIO(image), name) for image, name in zip(images, names, strict=True)]
    answer = http.post(f"{IC}/UploadFile/?modelId={model_id}&category={category}", data={"file": files},
                       headers=_auth(key))
    assert answer.status_code == 200, answer.get_json()


def _put_report(http, model_id: str, data: bytes = REPORT, key: str = "key-a"):
    return http.put(f"{LOCAL}/models/{model_id}/report", headers=_auth(key),
                    data={"report": (io.BytesIO(data), "report.html", "text/html")})


# ---------------------------------------------------------------------- the page and the headers


def test_the_dashboard_is_open_and_allows_only_its_own_origin(http):
    page = http.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
                      "base-uri 'none'", "connect-src 'self'", "img-src 'self' blob: data:"):
        assert directive in PAGE_CSP
    assert "unsafe-inline" not in PAGE_CSP and "unsafe-eval" not in PAGE_CSP
    html = page.get_data(as_text=True)
    assert '<script src="dashboard/app.js"' in html and "<style" not in html and " style=" not in html
    assert "<script>" not in html and "onclick" not in html  # no inline script of any kind
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing from afar
    for name, media in (("app.js", "text/javascript"), ("style.css", "text/css"), ("icon.svg", "image/svg+xml")):
        answer = http.get(f"/dashboard/{name}")
        assert answer.status_code == 200 and answer.mimetype == media, name
        assert answer.headers["Content-Security-Policy"] == PAGE_CSP and answer.headers["ETag"]
        again = http.get(f"/dashboard/{name}", headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status_code == 304
    assert http.get("/dashboard/index.html").status_code == 404
    assert http.get("/dashboard/../app.py").status_code == 404
    script = http.get("/dashboard/app.js").get_data(as_text=True)
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "eval(" not in script


def test_every_response_says_local_nosniff_and_has_a_policy(app, http):
    model_id = _model(http)
    _upload(http, model_id, "a", [make_image((200, 0, 0))])
    answers = {
        "dashboard": http.get("/"),
        "healthz": http.get("/healthz"),
        "openapi": http.get("/api/v2/openapi.json"),
        "api": http.get(IC + "/Models/", headers=_auth()),
        "api 401": http.get(IC + "/Models/"),
        "unknown path": http.get("/no/such/thing"),
        "local": http.get(f"{LOCAL}/models/{model_id}/images", headers=_auth()),
        "local 401": http.get(f"{LOCAL}/models/{model_id}/images"),
        "local 404": http.get(f"{LOCAL}/models/nope/images", headers=_auth()),
        "405": http.delete(f"{LOCAL}/models/{model_id}/images", headers=_auth()),
    }
    for name, answer in answers.items():
        assert answer.headers["X-Content-Type-Options"] == "nosniff", name
        assert answer.headers["Nanoclient-Server"] == "local", name
        assert answer.headers["Content-Security-Policy"], name
    assert answers["api"].headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert answers["local 401"].status_code == 401 and answers["local 404"].status_code == 404
    assert answers["405"].status_code == 405


# ---------------------------------------------------------------------- images and thumbnails


def test_images_are_listed_newest_first_a_page_at_a_time(http):
    model_id = _model(http)
    _upload(http, model_id, "a", [make_image((i * 8, 0, 0)) for i in range(30)],
            names=[f"a{i:02d}.png" for i in range(30)])
    _upload(http, model_id, "b", [make_image((0, 0, 200))], names=["<b>&amp;.png"])
    first = http.get(f"{LOCAL}/models/{model_id}/images?category=a", headers=_auth()).get_json()
    assert (first["total"], first["pages"], first["page"], first["per_page"]) == (30, 2, 1, 24)
    assert [i["name"] for i in first["images"]] == [f"a{i:02d}.png" for i in range(29, 5, -1)]
    second = http.get(f"{LOCAL}/models/{model_id}/images?category=a&page=2", headers=_auth()).get_json()
    assert [i["name"] for i in second["images"]] == [f"a{i:02d}.png" for i in range(5, -1, -1)]
    beyond = http.get(f"{LOCAL}/models/{model_id}/images?category=a&page=9", headers=_auth()).get_json()
    assert beyond["images"] == [] and beyond["total"] == 30
    every = http.get(f"{LOCAL}/models/{model_id}/images?per_page=5", headers=_auth()).get_json()
    assert every["total"] == 31 and every["images"][0]["name"] == "<b>&amp;.png" and len(every["images"]) == 5
    assert every["category"] is None and {"id", "category", "sha256", "created_at"} <= set(every["images"][0])
    for query in ("category=zz", "page=0", "page=x", "per_page=101"):
        refused = http.get(f"{LOCAL}/models/{model_id}/images?{query}", headers=_auth())
        assert refused.status_code == 400 and refused.get_json()["code"] == 400, query


def test_thumbnails_are_downsized_cached_and_revalidated(app, http, monkeypatch):
    model_id = _model(http)
    _upload(http, model_id, "a", [make_image((200, 30, 30), size=(400, 200))])
    _upload(http, model_id, "b", [make_image((30, 30, 200), size=(64, 300), fmt="JPEG")])
    images = http.get(f"{LOCAL}/models/{model_id}/images", headers=_auth()).get_json()["images"]
    jpeg, png = images  # newest first
    made = []
    real = local_module.make_thumbnail
    monkeypatch.setattr(local_module, "make_thumbnail", lambda data, size: made.append(size) or real(data, size))
    url = f"{LOCAL}/models/{model_id}/images/{png['id']}/thumbnail"
    first = http.get(url, headers=_auth())
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert Image.open(io.BytesIO(first.data)).size == (96, 48)
    assert first.headers["ETag"] == f'"{png["sha256"]}-96-v1"'  # from the content hash
    cache = first.headers["Cache-Control"]
    assert "private" in cache and "max-age=" in cache
    again = http.get(url, headers=_auth())
    assert again.data == first.data and made == [96]  # made once, then read from the data folder
    store = app.extensions["nanoclient"]["backend"].store
    assert store.thumbnail_path(png["sha256"], "96-v1.png").is_file()
    unchanged = http.get(url, headers={**_auth(), "If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and unchanged.data == b"" and unchanged.headers["ETag"] == first.headers["ETag"]
    assert "max-age=" in unchanged.headers["Cache-Control"]
    photo = http.get(f"{LOCAL}/models/{model_id}/images/{jpeg['id']}/thumbnail", headers=_auth())
    assert photo.mimetype == "image/jpeg" and Image.open(io.BytesIO(photo.data)).size == (20, 96)
    for image_id in ("999", "x", "-1", str(10 ** 30)):
        missing = http.get(f"{LOCAL}/models/{model_id}/images/{image_id}/thumbnail", headers=_auth())
        assert missing.status_code == 404 and missing.get_json()["code"] == 404, image_id


def test_one_keys_images_and_reports_are_404_to_another(http):
    mine = _model(http, "key-a")
    _upload(http, mine, "a", [make_image((200, 0, 0))], key="key-a")
    assert _put_report(http, mine).status_code == 200
    image_id = http.get(f"{LOCAL}/models/{mine}/images", headers=_auth("key-a")).get_json()["images"][0]["id"]
    theirs = _model(http, "key-b")
    for method, path in (("GET", f"/models/{mine}/images"), ("GET", f"/models/{mine}/images/{image_id}/thumbnail"),
                         ("GET", f"/models/{mine}/report"), ("POST", f"/models/{mine}/report/link"),
                         ("GET", f"/models/{theirs}/images/{image_id}/thumbnail")):
        answer = http.open(LOCAL + path, method=method, headers=_auth("key-b"))
        assert answer.status_code == 404 and answer.get_json()["errors"][0]["reason"] == "not_found", path
    assert _put_report(http, mine, key="key-b").status_code == 404
    assert http.get(f"{LOCAL}/models/{mine}/report", headers=_auth("key-a")).get_json()["size"] == len(REPORT)
    other_model = _model(http, "key-a")  # an image of another model of the same key is no image of this one
    assert http.get(f"{LOCAL}/models/{other_model}/images/{image_id}/thumbnail", headers=_auth()).status_code == 404


# ---------------------------------------------------------------------- reports


def test_a_report_is_stored_capped_and_opened_once_through_its_link(app, http, monkeypatch):
    model_id = _model(http)
    assert http.get(f"{LOCAL}/models/{model_id}/report", headers=_auth()).status_code == 404
    assert http.post(f"{LOCAL}/models/{model_id}/report/link", headers=_auth()).status_code == 404
    stored = _put_report(http, model_id)
    assert stored.status_code == 200 and stored.get_json()["size"] == len(REPORT)
    store = app.extensions["nanoclient"]["backend"].store
    assert store.report_path(model_id).read_bytes() == REPORT and not list(store.tmp_dir.iterdir())
    link = http.post(f"{LOCAL}/models/{model_id}/report/link", headers=_auth()).get_json()
    assert link["url"] == f"{LOCAL}/report-links/{link['token']}" and link["expires_in"] == 60
    assert len(link["token"]) >= 32 and "key-a" not in json.dumps(link)
    opened = http.get(link["url"])  # no key: the token is the permission
    assert opened.status_code == 200 and opened.mimetype == "text/html" and opened.data == REPORT
    assert opened.headers["Content-Security-Policy"] == REPORT_CSP and REPORT_CSP.startswith("sandbox allow-scripts;")
    assert "allow-same-origin" not in REPORT_CSP and opened.headers["Cache-Control"] == "no-store"
    assert http.get(link["url"]).status_code == 404  # used up
    assert http.get(f"{LOCAL}/report-links/made-up-token").status_code == 404

    clock = [1000.0]
    app.extensions["nanoclient"]["local"]._now = lambda: clock[0]
    late = http.post(f"{LOCAL}/models/{model_id}/report/link", headers=_auth()).get_json()
    clock[0] += 61
    assert http.get(late["url"]).status_code == 404  # expired

    for bad, status in ((b"not html at all", 400), (b"\xff\xfe<html>", 400), (b"", 400)):
        assert _put_report(http, model_id, bad).status_code == status, bad
    monkeypatch.setattr(local_module, "REPORT_MAX_BYTES", 100)
    too_big = _put_report(http, model_id, b"<html>" + b"x" * 200)
    assert too_big.status_code == 413 and too_big.get_json()["code"] == 413
    assert store.report_path(model_id).read_bytes() == REPORT  # the stored one is untouched
    assert http.put(f"{LOCAL}/models/{model_id}/report", data={"report": (io.BytesIO(REPORT), "r.html")}
                    ).status_code == 401


def test_the_sweep_removes_thumbnails_of_images_no_longer_stored(tmp_path):
    from nanoclient.server.store import Store

    store = Store(tmp_path / "data")
    kept = store.put_image(make_image((1, 2, 3)))
    model = "m"
    store.insert_model(model, store.account_id("k", create=True), ["a"], model_type="classification")
    store.add_images(model, [("a", kept, "x.png")])
    store.put_thumbnail(kept, "96-v1.png", b"png")
    store.put_thumbnail("f" * 64, "96-v1.png", b"png")
    store.close()
    reopened = Store(tmp_path / "data")
    assert reopened.thumbnail_path(kept, "96-v1.png").is_file()
    assert not reopened.thumbnail_path("f" * 64, "96-v1.png").exists()
    reopened.close()


# ---------------------------------------------------------------------- the SDK and the CLI


@pytest.mark.usefixtures("isolated_settings")
def test_local_put_report_sends_only_to_a_server_that_says_it_is_local(rsps, tmp_path):
    report = tmp_path / "report.html"
    report.write_bytes(REPORT)
    model = BASE + "/ImageCategorization/Model/"
    rsps.add(responses.GET, model, body=json.dumps(model_json("m1")), content_type="application/json")
    with Client(KEY, BASE) as client:  # no Nanoclient-Server header: the hosted service, or a proxy that strips it
        assert client.local_put_report("m1", report) is False
    assert [call.request.method for call in rsps.calls] == ["GET"]

    rsps.replace(responses.GET, model, body=json.dumps(model_json("m1")), content_type="application/json",
                 headers={"Nanoclient-Server": "local"})
    stored = []

    def put(request):
        stored.append(request)
        return json_response({"model_id": "m1", "size": len(REPORT), "stored_at": 1.0})

    root = BASE[: -len("/api/v2")]
    rsps.add_callback(responses.PUT, root + "/local/v1/models/m1/report", callback=put)
    with Client(KEY, BASE) as client:
        assert client.local_put_report("m1", report) is True
        with pytest.raises(FileNotFoundError):
            client.local_put_report("m1", tmp_path / "missing.html")
    (request,) = stored
    _, files = request_multipart(request)
    assert files == [("report", "report.html", "text/html", REPORT)]
    assert request.headers["Authorization"].startswith("Basic ") and KEY not in request.url


def test_the_fake_says_nothing_of_being_local(tmp_path):
    from nanoclient.testing import fake_nanonets

    report = tmp_path / "report.html"
    report.write_bytes(REPORT)
    with fake_nanonets() as fake:
        with Client("k", fake.base_url) as client:
            model = client.create_model(["a", "b"])
            before = fake.request_count
            assert client.local_put_report(model.id, report) is False
        assert fake.request_count == before + 1  # the model was read; nothing else was sent


def test_evaluate_report_is_stored_on_a_local_server_not_through_a_proxy(server_factory, tmp_path):
    from faultproxy import FaultProxy

    server = server_factory("--min-images", "2")
    deadline = time.monotonic() + 10  # on stderr, just after stdout's base URL
    while f"dashboard: {server.root}/ " not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"dashboard: {server.root}/ " in server.log()
    with Client(KEY, server.url) as client:
        model = client.create_model(["red", "blue"])
    for category, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        images = [make_image(colour, size=(24, 24), seed=i) for i in range(3)]
        assert upload_images(server.url, model.id, category, images, KEY).status_code == 200
        for i in range(2):
            write_image(tmp_path / "eval" / category / f"{i}.png", colour, size=(24, 24), seed=10 + i)
    with Client(KEY, server.url) as client:
        client.train(model.id)
        client.wait_until_trained(model.id, timeout=120, poll_interval=0.2)
    info = f"{server.root}/local/v1/models/{model.id}/report"

    with FaultProxy(server.root) as proxy:  # hides the Nanoclient-* headers: the CLI does nothing more
        hidden = run_cli(proxy.url, KEY, "evaluate", tmp_path / "eval", "--report", tmp_path / "proxied.html",
                         cache=tmp_path / "cache", model_id=model.id)
        assert hidden.returncode == 0, hidden.stderr
        assert not [r for r in proxy.records if r.method == "PUT" or "/local/" in r.path]
    assert "stored on the local server" not in hidden.stderr
    assert requests.get(info, auth=(KEY, ""), timeout=30).status_code == 404

    direct = run_cli(server.url, KEY, "evaluate", tmp_path / "eval", "--report", tmp_path / "report.html",
                     cache=tmp_path / "cache", model_id=model.id)
    assert direct.returncode == 0, direct.stderr
    assert "report stored on the local server" in direct.stderr
    stored = requests.get(info, auth=(KEY, ""), timeout=30)
    assert stored.status_code == 200 and stored.json()["size"] == (tmp_path / "report.html").stat().st_size


def test_the_packaging_ships_every_file_of_the_dashboard():
    """setup.py's package_data names each kind of file in nanoclient/server/dashboard/ (a wheel has them)."""
    import re
    from pathlib import Path

    from nanoclient.server import dashboard

    root = Path(__file__).resolve().parent.parent
    setup = (root / "setup.py").read_text()
    globs = re.search(r'"nanoclient\.server\.dashboard": \[([^\]]*)\]', setup)
    assert globs, "setup.py's package_data has no entry for the dashboard"
    patterns = re.findall(r'"\*(\.\w+)"', globs.group(1))
    folder = Path(dashboard.__file__).parent
    shipped = {p.name for p in folder.iterdir() if p.suffix in patterns}
    assert shipped == {p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".py"}
    assert set(dashboard.assets()) == shipped
