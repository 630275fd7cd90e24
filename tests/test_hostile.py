"""Hostile input: fuzzing against the server's own OpenAPI document, and crafted attacks.

Everything stays on loopback: the fuzz test runs the app in-process and refuses to resolve
any host that is not loopback, so URLs that schemathesis invents are never fetched.
"""
from __future__ import annotations

import base64
import socket
import struct
import zlib

import pytest
import requests
from helpers import make_image, model_counts

from nanoclient import Client, errors
from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig

schemathesis = pytest.importorskip("schemathesis")

KEY = "fuzz-key"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}


@pytest.fixture
def loopback_only(monkeypatch):
    """Name resolution that answers only for loopback: nothing the server fetches leaves the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        infos = real(host, *args, **kwargs) if host in ("127.0.0.1", "localhost", "::1") else []
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, "only loopback is reachable in tests")
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_openapi_document_is_served(tmp_path):
    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2, fetch_timeout=1))
    with app.test_client() as http:
        response = http.get("/api/v2/openapi.json")
        assert response.status_code == 200
        doc = response.get_json()
    assert doc["openapi"].startswith("3.") and "/ImageCategorization/UploadFile/" in doc["paths"]
    app.extensions["nanoclient"]["backend"].close()


def test_fuzz_every_operation_no_5xx_and_errors_shaped_as_documented(tmp_path, loopback_only):
    from hypothesis import HealthCheck, given, settings
    from schemathesis import checks

    from nanoclient.server.routes import ROUTES as OPERATIONS

    app = create_app(ServerConfig(data_dir=tmp_path / "data", min_images=2, fetch_timeout=1))
    schema = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", app)
    local_paths = {op.documented_path for op in OPERATIONS if op.local}
    model_id, image_id = _model_with_images_and_report(app)
    failures = []
    ran = 0
    fuzzed = set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            nonlocal ran
            case.headers = {**(case.headers or {}), **AUTH}
            local = case.path in local_paths
            if local and "model_id" in (case.path_parameters or {}) and ran % 2:
                case.path_parameters["model_id"] = model_id  # half of them on a real model of this key
                if "image_id" in case.path_parameters:
                    case.path_parameters["image_id"] = image_id
            # schemathesis's WSGI transport ignores a path's own servers: the extension's root is given
            response = case.call(base_url=case.operation.base_url) if local else case.call()
            ran += 1
            fuzzed.add((case.method.upper(), case.path))
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}")
                return
            case.validate_response(response, checks=[
                checks.not_a_server_error, checks.status_code_conformance,
                checks.content_type_conformance, checks.response_schema_conformance,
            ])

        check()
    app.extensions["nanoclient"]["backend"].close()
    assert ran > 100
    assert fuzzed == {(op.method, op.documented_path) for op in OPERATIONS}  # every operation of the table
    assert not failures, failures


def _model_with_images_and_report(app) -> tuple[str, str]:
    """(model id, image id) of a model of the fuzzing key with two images and a stored report, for
    fuzzing the local extension on something that exists."""
    import io

    http = app.test_client()
    model_id = http.post("/api/v2/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                         headers=AUTH).get_json()["model_id"]
    files = [(io.BytesIO(make_image((200, 10 * i, 0))), f"{i}.png") for i in range(2)]
    assert http.post(f"/api/v2/ImageCategorization/UploadFile/?modelId={model_id}&category=a",
                     data={"file": files}, headers=AUTH).status_code == 200
    report = (io.BytesIO(b"<!DOCTYPE html><html><body>report</body></html>"), "report.html", "text/html")
    assert http.put(f"/local/v1/models/{model_id}/report", data={"report": report}, headers=AUTH).status_code == 200
    listing = http.get(f"/local/v1/models/{model_id}/images", headers=AUTH).get_json()
    return model_id, str(listing["images"][0]["id"])


# ---------------------------------------------------------------- crafted attacks on a real server

def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
            + chunk(b"IEND", b""))


def test_hostile_uploads_are_refused_and_the_server_stays_up(server_factory, tmp_path):
    server = server_factory("--max-upload-mb", "2")
    url = server.url + "/ImageCategorization"
    auth = (KEY, "")
    with Client(KEY, server.url) as client:
        model = client.create_model(["a", "b"])

    def upload(files, **fields):
        data = {"modelId": model.id, "category": "a", **fields}
        return requests.post(url + "/UploadFile/", auth=auth, data=data, files=files, timeout=60)

    # path traversal in the file name: stored by content hash, never by name
    ok = upload([("file", ("../../../escape.png", make_image((1, 2, 3)), "image/png"))])
    assert ok.status_code == 200, ok.text
    assert not list(tmp_path.rglob("escape.png"))

    # a 50,000 x 50,000 image declared in a few hundred bytes
    bomb = upload([("file", ("bomb.png", png_declaring(50_000, 50_000), "image/png"))])
    assert bomb.status_code == 400 and "too large" in bomb.json()["message"]

    # one huge part: 413 with the JSON body
    huge = upload([("file", ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024), "image/png"))])
    assert huge.status_code == 413 and huge.json()["code"] == 413

    # thousands of file parts in one request
    many = upload([("file", (f"{i}.png", b"x", "image/png")) for i in range(5000)])
    assert 400 <= many.status_code < 500 and many.json()["code"] == many.status_code

    # URLs the server must not fetch or cannot finish
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/x.png", "gopher://127.0.0.1:70/"):
        refused = requests.post(url + "/UploadUrls/", auth=auth, timeout=60,
                                data={"modelId": model.id, "category": "a", "urls": [target]})
        assert refused.status_code == 400, refused.text

    with Client(KEY, server.url) as client:  # still up, and only the one good image stored
        assert model_counts(client.get_model(model.id)) == {"a": 1, "b": 0}
    assert requests.get(server.root + "/healthz", timeout=5).status_code == 200


# ---------------------------------------------------------------- keys

def test_keys_are_hashed_compared_in_constant_time_and_never_logged(server_factory, tmp_path, monkeypatch):
    secret, other = "sk-live-very-secret-0001", "sk-live-other-0002"
    server = server_factory("--api-key", secret, "--api-key", other, "--verbose")
    with Client(secret, server.url) as mine, Client(other, server.url) as theirs:
        model = mine.create_model(["a", "b"])
        with pytest.raises(errors.NotFoundError):
            theirs.get_model(model.id)
        with pytest.raises(errors.NotFoundError):
            theirs.train(model.id)
        assert theirs.list_models() == []
    with Client("sk-live-wrong", server.url, max_retries=0) as wrong:
        with pytest.raises(errors.AuthenticationError) as info:
            wrong.list_models()
    assert "sk-live" not in str(info.value)
    server.stop()
    for path in [*server.data_dir.rglob("*"), server.log_path]:
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and other.encode() not in data and b"sk-live-wrong" not in data, path


def test_key_comparison_uses_compare_digest(tmp_path, monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    app = create_app(ServerConfig(data_dir=tmp_path / "data", api_keys=("k1",)))
    with app.test_client() as http:
        assert http.get("/api/v2/ImageCategorization/Models/", headers={
            "Authorization": "Basic " + base64.b64encode(b"k2:").decode()}).status_code == 401
        assert http.get("/api/v2/ImageCategorization/Models/", headers={
            "Authorization": "Basic " + base64.b64encode(b"k1:").decode()}).status_code == 200
    app.extensions["nanoclient"]["backend"].close()
    assert calls
