"""Bad input to the real server: each gets a 4xx JSON body, nothing is stored, the server stays up.

One server (keys from NANOCLIENT_SERVER_API_KEYS, 1 MB upload limit, 1 s / 1 MB URL fetch
limits) and one throwaway image host serve the whole module.
"""
from __future__ import annotations

import http.server
import io
import socket
import threading
import time

import pytest
import requests
from helpers import counts, make_image, start_server

RED, BLUE = (220, 30, 30), (30, 30, 220)
KEY = "beta"


class ImageHost(http.server.BaseHTTPRequestHandler):
    """Serves test images, a 404, HTML, a redirect to ftp://, an endless stream and a trickle."""

    images = {"/red.png": make_image(RED, seed=1), "/red2.png": make_image(RED, seed=2),
              "/blue.jpg": make_image(BLUE, seed=3, fmt="JPEG")}

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path in self.images:
            self._send(200, self.images[self.path], "image/png")
        elif self.path == "/page.html":
            self._send(200, b"<html>not an image</html>", "text/html")
        elif self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/red.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * 65536
            try:
                while True:
                    self.wfile.write(chunk)
            except OSError:
                return
        elif self.path == "/drip":  # a byte at a time: never idle long enough for a read timeout
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\x89")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                return
        else:
            self._send(404, b"no such image", "text/plain")

    def _send(self, code: int, body: bytes, kind: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def hosts():
    """(image host base URL, URL of a port that accepts connections but never answers)."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHost)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accept(): connections wait in the backlog, no answer ever comes
    yield f"http://127.0.0.1:{httpd.server_address[1]}", f"http://127.0.0.1:{silent.getsockname()[1]}/red.png"
    httpd.shutdown()
    httpd.server_close()
    silent.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc = start_server(tmp_path_factory.mktemp("inputs") / "data", "--max-upload-mb", "1",
                        "--fetch-timeout", "1", "--fetch-max-mb", "1",
                        env={"NANOCLIENT_SERVER_API_KEYS": "alpha, beta"})
    yield proc
    proc.stop()


def call(server, method: str, op: str, expect: int, key: str = KEY, **kwargs):
    response = requests.request(method, f"{server.url}/ImageCategorization/{op}", auth=(key, ""), timeout=60, **kwargs)
    assert response.status_code == expect, response.text
    body = response.json()
    if expect >= 400:
        assert body["code"] == expect and body["message"]
        assert body["errors"][0]["reason"] and body["errors"][0]["message"]
    return body


@pytest.fixture(scope="module")
def trained(server):
    """A trained red/blue model of KEY."""
    model_id = call(server, "POST", "Model/", 200, data={"categories": ["red", "blue"]})["model_id"]
    for colour, name in ((RED, "red"), (BLUE, "blue")):
        files = [("file", (f"{name}{i}.png", make_image(colour, seed=10 + i))) for i in range(5)]
        call(server, "POST", "UploadFile/", 200, params={"modelId": model_id, "category": name}, files=files)
    call(server, "POST", "Train/", 200, params={"modelId": model_id})
    deadline = time.monotonic() + 180  # hang guard only
    while call(server, "GET", f"Model/{model_id}", 200)["state"] not in (5, -1) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert call(server, "GET", f"Model/{model_id}", 200)["state"] == 5
    return model_id


def test_only_the_configured_keys_get_in(server):
    assert call(server, "GET", "Models/", 200, key="alpha") == []
    call(server, "GET", "Models/", 401, key="gamma")
    response = requests.get(f"{server.url}/ImageCategorization/Models/", timeout=10)
    assert response.status_code == 401 and response.json()["errors"][0]["reason"] == "unauthorized"
    assert "beta" not in server.log() and "alpha" not in server.log()  # keys are never logged


def test_invalid_files_are_refused_and_nothing_is_stored(server):
    model_id = call(server, "POST", "Model/", 200, data={"categories": ["red", "blue"]})["model_id"]
    good = ("file", ("good.png", make_image(RED)))
    jpeg = make_image(BLUE, size=(64, 64), seed=5, fmt="JPEG")
    bomb = io.BytesIO()
    from PIL import Image

    Image.new("1", (8000, 6000)).save(bomb, "PNG")  # 48 Mpixel, a few kB: refused before decoding
    bad_files = {
        "noise.png": b"\x00\x01 definitely not an image",
        "half.jpg": jpeg[: len(jpeg) // 2],
        "doc.pdf": b"%PDF-1.4\n1 0 obj << >> endobj\n",
        "bomb.png": bomb.getvalue(),
    }
    for name, data in bad_files.items():
        body = call(server, "POST", "UploadFile/", 400, data={"modelId": model_id, "category": "red"},
                    files=[good, ("file", (name, data))])
        assert body["errors"][0]["reason"] == "invalid_image" and name in body["errors"][0]["message"]
    assert "too large" in call(server, "POST", "UploadFile/", 400, data={"modelId": model_id, "category": "red"},
                               files=[("file", ("bomb.png", bomb.getvalue()))])["message"]
    big = [good, ("file", ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024)))]
    body = call(server, "POST", "UploadFile/", 413, data={"modelId": model_id, "category": "red"}, files=big)
    assert "1 MB" in body["errors"][0]["message"]
    assert counts(server.url, model_id, KEY) == {"red": 0, "blue": 0}
    call(server, "POST", "UploadFile/", 200, data={"modelId": model_id, "category": "red"}, files=[good])
    assert counts(server.url, model_id, KEY) == {"red": 1, "blue": 0}


def test_missing_or_unknown_fields(server):
    model_id = call(server, "POST", "Model/", 200, data={"categories": ["red", "blue"]})["model_id"]
    image = [("file", ("a.png", make_image(RED)))]
    assert "modelId" in call(server, "POST", "UploadFile/", 400, data={"category": "red"}, files=image)["message"]
    assert "category" in call(server, "POST", "UploadFile/", 400, data={"modelId": model_id}, files=image)["message"]
    assert "file" in call(server, "POST", "UploadFile/", 400, data={"modelId": model_id, "category": "red"})["message"]
    body = call(server, "POST", "UploadFile/", 400, data={"modelId": model_id, "category": "green"}, files=image)
    assert "green" in body["message"] and "red, blue" in body["errors"][0]["message"]
    unknown = call(server, "POST", "UploadFile/", 404, data={"modelId": "nope", "category": "red"}, files=image)
    assert unknown["code"] == 404
    call(server, "GET", "Model/", 404, params={"modelId": "nope"})
    call(server, "POST", "Model/", 400, data={})
    call(server, "POST", "Model/", 400, data={"categories": ["a", "a"]})
    call(server, "POST", "Train/", 400, data={})
    assert "not trained" in call(server, "POST", "LabelFile/", 400, data={"modelId": model_id}, files=image)["message"]
    call(server, "POST", "UploadFile/", 200, data={"modelId": model_id, "category": "red"}, files=image)
    body = call(server, "POST", "Train/", 400, params={"modelId": model_id})
    assert "not ready" in body["message"]
    assert call(server, "GET", f"Model/{model_id}", 200)["state"] == 1  # a refused Train changes nothing
    call(server, "GET", "NoSuchThing/", 404)
    call(server, "PUT", "Models/", 405)


def test_urls_partial_none_and_hostile(server, hosts, trained):
    host, silent = hosts
    model_id = call(server, "POST", "Model/", 200, data={"categories": ["red", "blue"]})["model_id"]
    hostile = ["ftp://127.0.0.1/red.png", "file:///etc/passwd", f"{host}/missing.png", f"{host}/page.html",
               f"{host}/to-ftp", f"{host}/endless", f"{host}/drip", silent, "http://127.0.0.1:9/refused.png"]
    body = call(server, "POST", "UploadUrls/", 400, data={"modelId": model_id, "category": "red", "urls": hostile})
    assert len(body["errors"]) == len(hostile)
    assert counts(server.url, model_id, KEY) == {"red": 0, "blue": 0}
    partial = call(server, "POST", "UploadUrls/", 202,
                   data={"modelId": model_id, "category": "red", "urls": [f"{host}/red.png", f"{host}/missing.png"]})
    assert partial["categories"][0]["count"] == 1
    full = call(server, "POST", "UploadUrls/", 200,
                data={"modelId": model_id, "category": "red", "urls": [f"{host}/red.png", f"{host}/red2.png"]})
    assert full["categories"][0]["count"] == 2
    call(server, "POST", "UploadUrls/", 400, data={"modelId": model_id, "category": "red"})

    urls = [f"{host}/blue.jpg", silent, f"{host}/red.png"]
    body = call(server, "POST", "LabelUrls/", 202, data={"modelId": trained, "urls": urls})
    assert [r["file"] for r in body["result"]] == urls
    assert [r["prediction"][0]["label"] if r["prediction"] else None for r in body["result"]] == ["blue", None, "red"]
    assert body["result"][1]["message"].startswith("Failed")
    assert call(server, "POST", "LabelUrls/", 200, data={"modelId": trained, "urls": urls[::2]})["message"] == "Success"
    call(server, "POST", "LabelUrls/", 400, data={"modelId": trained, "urls": [f"{host}/endless"]})
    assert requests.get(server.root + "/healthz", timeout=10).status_code == 200


def test_labelling_files_and_bad_files(server, trained):
    files = [("file", ("x.png", make_image(BLUE, seed=77))), ("file", ("y.png", make_image(RED, seed=78)))]
    body = call(server, "POST", "LabelFile/", 200, params={"modelId": trained}, files=files)
    assert [(r["file"], r["prediction"][0]["label"]) for r in body["result"]] == [("x.png", "blue"), ("y.png", "red")]
    call(server, "POST", "LabelFile/", 400, data={"modelId": trained}, files=files + [("file", ("z.pdf", b"%PDF-1.4"))])
    call(server, "POST", "LabelFile/", 400, data={"modelId": trained})
    call(server, "POST", "LabelFile/", 404, key="alpha", data={"modelId": trained}, files=files)
