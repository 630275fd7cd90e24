"""Tests of the fault proxy itself (tests/faultproxy.py), with plain ``requests`` calls.

Pure helpers are unit-tested; forwarding details and drops are checked against a tiny
recording upstream in this process; the faults that matter (stored yet unanswered uploads,
429 that never reach the server, extra file parts ignored, shuffled results) against a real
``nanoclient serve`` started with ``server_factory``. Everything stays on loopback.
"""
from __future__ import annotations

import concurrent.futures
import http.server
import itertools
import json
import random
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from faultproxy import (
    FaultProxy,
    filter_headers,
    join_multipart,
    keep_first_file_part,
    part_name,
    shuffle_result_list,
    split_multipart,
)
from helpers import counts, make_image, multipart_parts

KEY = "proxy-test-key"
AUTH = (KEY, "")
IC = "/ImageCategorization"
TIMEOUT = 30
BROKEN = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)


# ---------------------------------------------------------------------- helpers


def images(n: int, color: tuple[int, int, int], first_seed: int) -> list[bytes]:
    """``n`` distinct images of one colour (the local server deduplicates identical bytes)."""
    return [make_image(color, seed=first_seed + i) for i in range(n)]


def upload(base: str, model_id: str, category: str, blobs: list[bytes], *, fields_as_parts: bool = False,
           session: requests.Session | None = None) -> requests.Response:
    """POST UploadFile/ with one ``file`` part per blob; fields in the query (the wrapper's form) or as parts."""
    files = [("file", (f"{category}_{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]
    params = None
    if fields_as_parts:
        files += [("modelId", ("", model_id)), ("category", ("", category))]
    else:
        params = {"modelId": model_id, "category": category}
    return (session or requests).post(base + IC + "/UploadFile/", params=params, files=files, auth=AUTH,
                                      timeout=TIMEOUT)


class _Upstream(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class RecordingUpstream:
    """An in-process HTTP/1.1 upstream that records each request and answers JSON.

    It answers ``status`` with headers ``Nanoclient-Dedupe: sha256`` and ``X-Upstream: yes``;
    a path containing ``/slow`` sleeps 0.3 s first (``max_active`` counts concurrent requests).
    """

    def __init__(self) -> None:
        self.seen: list[dict[str, object]] = []
        self.status = 200
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer.lock:
                    outer.seen.append({"method": self.command, "path": self.path, "body": body,
                                       "headers": list(self.headers.items())})
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)
                try:
                    if "/slow" in self.path:
                        time.sleep(0.3)
                    data = json.dumps({"message": "Success", "path": self.path, "n": len(body)}).encode()
                    self.send_response(outer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Nanoclient-Dedupe", "sha256")
                    self.send_header("X-Upstream", "yes")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    with outer.lock:
                        outer.active -= 1

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

        self.server = _Upstream(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    up = RecordingUpstream()
    yield up
    up.stop()


# ---------------------------------------------------------------------- pure helpers


def test_filter_headers_by_name_and_prefix_case_insensitively():
    headers = [("Content-Type", "application/json"), ("Nanoclient-Dedupe", "sha256"), ("nanoclient-other", "x"),
               ("X-A", "1"), ("X-A", "2"), ("Server", "waitress")]
    assert filter_headers(headers) == headers
    assert filter_headers(headers, prefixes=("Nanoclient-",)) == [
        ("Content-Type", "application/json"), ("X-A", "1"), ("X-A", "2"), ("Server", "waitress")]
    assert filter_headers(headers, strip=("server", "X-A"), prefixes=("NANOCLIENT-", "")) == [
        ("Content-Type", "application/json")]
    assert filter_headers(headers, strip=("nanoclient-dedupe",)) == [h for h in headers if h[0] != "Nanoclient-Dedupe"]


def test_keep_first_file_part_keeps_fields_and_bytes_exactly():
    blobs = [make_image((200, 0, 0), seed=i) + b"\r\n--not-a-boundary\r\n\x00\xff" for i in range(3)]
    files = [("file", (f"f{i}.png", blob, "image/png")) for i, blob in enumerate(blobs)]
    files.insert(1, ("category", ("", "Bag")))  # the tutorial's field-as-part form, between file parts
    prepared = requests.Request("POST", "http://x/UploadFile/", files=files, data={"modelId": "m1"}).prepare()
    body, ctype = prepared.body, prepared.headers["Content-Type"]

    new_body, removed = keep_first_file_part(body, ctype)
    assert removed == 2
    assert multipart_parts(new_body, ctype) == [("modelId", None, b"m1"), ("file", "f0.png", blobs[0]),
                                                ("category", "", b"Bag")]
    # the parts are kept byte for byte, and splitting/joining is lossless
    boundary = ctype.split("boundary=")[1]
    parts = split_multipart(body, boundary)
    assert [part_name(p) for p in parts] == ["modelId", "file", "category", "file", "file"]
    assert multipart_parts(join_multipart(parts, boundary), ctype) == multipart_parts(body, ctype)

    # nothing to remove, or not multipart: unchanged
    one = requests.Request("POST", "http://x/", files=[("file", ("a.png", blobs[0]))]).prepare()
    assert keep_first_file_part(one.body, one.headers["Content-Type"]) == (one.body, 0)
    assert keep_first_file_part(b"a=1&b=2", "application/x-www-form-urlencoded") == (b"a=1&b=2", 0)
    assert keep_first_file_part(b"x", None) == (b"x", 0)
    with pytest.raises(ValueError):
        keep_first_file_part(body[: len(body) // 2], ctype)  # no closing delimiter


def test_shuffle_result_list_is_seeded_changes_order_and_keeps_entries():
    doc = {"message": "Success", "result": [{"file": f"f{i}", "prediction": [{"label": "A", "probability": 1.0}]}
                                             for i in range(12)]}
    body = json.dumps(doc).encode()
    first = json.loads(shuffle_result_list(body, random.Random(5)))
    again = json.loads(shuffle_result_list(body, random.Random(5)))
    assert first == again and first["message"] == "Success"
    assert [e["file"] for e in first["result"]] != [e["file"] for e in doc["result"]]
    assert sorted(first["result"], key=lambda e: e["file"]) == sorted(doc["result"], key=lambda e: e["file"])
    two = json.dumps({"result": [1, 2]}).encode()
    assert all(json.loads(shuffle_result_list(two, random.Random(s)))["result"] == [2, 1] for s in range(10))
    assert shuffle_result_list(b"not json", random.Random(0)) is None
    assert shuffle_result_list(json.dumps({"result": [1]}).encode(), random.Random(0)) is None
    assert shuffle_result_list(json.dumps([1, 2]).encode(), random.Random(0)) is None


# ---------------------------------------------------------------------- against a recording upstream


def test_forwarding_headers_drops_and_robustness(upstream):
    with FaultProxy(upstream.root + "/api/v2", seed=3) as proxy:  # a trailing /api/v2 is tolerated
        assert proxy.url == f"http://127.0.0.1:{proxy.port}/api/v2" and proxy.upstream_url == upstream.root + "/api/v2"

        # method, path, query, body, Authorization forwarded; Host and Content-Length fixed; status kept
        upstream.status = 201
        r = requests.put(proxy.url + IC + "/Thing/?a=1&b=x%20y", data=b"\x00payload\xff", auth=AUTH,
                         headers={"X-Custom": "1"}, timeout=TIMEOUT)
        assert r.status_code == 201 and r.json()["n"] == 9
        seen = upstream.seen[-1]
        sent_headers = {k.lower(): v for k, v in seen["headers"]}
        assert (seen["method"], seen["path"], seen["body"]) == ("PUT", "/api/v2" + IC + "/Thing/?a=1&b=x%20y",
                                                                 b"\x00payload\xff")
        assert sent_headers["authorization"] == r.request.headers["Authorization"]
        assert sent_headers["host"] == upstream.root[len("http://"):]
        assert sent_headers["content-length"] == "9" and sent_headers["x-custom"] == "1"
        # Nanoclient-* hidden by default, other headers pass
        assert r.headers["X-Upstream"] == "yes" and "Nanoclient-Dedupe" not in r.headers
        upstream.status = 200
        proxy.drop_header_prefixes = ()
        proxy.strip_headers = ("x-upstream",)
        r = requests.get(proxy.url + "/x", timeout=TIMEOUT)
        assert r.headers["Nanoclient-Dedupe"] == "sha256" and "X-Upstream" not in r.headers
        proxy.strip_headers, proxy.drop_header_prefixes = (), ("Nanoclient-",)

        # a chunked request body (requests sends one for a generator) arrives whole, with a Content-Length
        r = requests.post(proxy.url + "/chunked", data=(part for part in (b"ab", b"cd", b"ef")), timeout=TIMEOUT)
        assert r.status_code == 200 and upstream.seen[-1]["body"] == b"abcdef"

        # 8 requests at once over one keep-alive session: served concurrently
        with requests.Session() as session:
            start = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                statuses = list(pool.map(lambda i: session.get(proxy.url + f"/slow/{i}", timeout=TIMEOUT).status_code,
                                         range(16)))
            assert statuses == [200] * 16
            assert upstream.max_active >= 4 and time.monotonic() - start < 16 * 0.3 / 2

            # drops after forwarding: each style raises at once, the request did reach upstream
            proxy.fail_after_rate, proxy.drop_mode = 1.0, "drop"
            for style, expected in (("close", requests.exceptions.ConnectionError),
                                    ("partial", requests.exceptions.ChunkedEncodingError)):
                proxy.drop_style = style
                before = len(upstream.seen)
                assert session.get(proxy.url + IC + "/Models/", timeout=TIMEOUT).status_code == 200  # warm the pool
                start = time.monotonic()
                with pytest.raises(expected):
                    session.post(proxy.url + IC + "/UploadFile/", data=b"img", timeout=TIMEOUT)
                assert time.monotonic() - start < 5
                assert [s["path"] for s in upstream.seen[before:]] == ["/api/v2" + IC + "/Models/",
                                                                        "/api/v2" + IC + "/UploadFile/"]
            # the session recovers; GETs and other paths are never failed
            assert session.post(proxy.url + IC + "/Train/", timeout=TIMEOUT).status_code == 200
            proxy.drop_mode = "500"
            r = session.post(proxy.url + IC + "/UploadUrls/", data={"urls": "u"}, timeout=TIMEOUT)
            assert r.status_code == 500 and r.json()["code"] == 500 and r.json()["errors"][0]["reason"]
            proxy.drop_mode, proxy.drop_style = "mixed", "mixed"
            outcomes = set()
            for _ in range(20):
                try:
                    outcomes.add(session.post(proxy.url + IC + "/UploadFile/", data=b"i", timeout=TIMEOUT).status_code)
                except BROKEN as exc:
                    outcomes.add(type(exc).__name__)
            assert outcomes == {500, "ConnectionError", "ChunkedEncodingError"}
            proxy.fail_after_rate = 0.0

        stats = proxy.stats
        assert stats.dropped >= 4 and stats.injected_500 >= 2 and stats.forwarded == len(upstream.seen)
        faults = [r.fault for r in proxy.records if r.fault]
        assert {"drop:close", "drop:partial", "500"} <= set(faults)
        assert all(r.status is None for r in proxy.records if r.fault and r.fault.startswith("drop"))

        # rate limiting by count and every nth: 429 JSON, never forwarded, Retry-After on every other one
        before = len(upstream.seen)
        proxy.rate_limit_burst = 3
        answers = [requests.get(proxy.url + "/x", timeout=TIMEOUT) for _ in range(4)]
        assert [a.status_code for a in answers] == [429, 429, 429, 200]
        assert [a.headers.get("Retry-After") for a in answers[:3]] == ["1", None, "1"]
        assert answers[0].json()["code"] == 429 and answers[0].json()["errors"][0]["reason"] == "rate_limited"
        proxy.rate_limit_every_nth, proxy.rate_limit_retry_after = 2, 7
        assert [requests.get(proxy.url + "/x", timeout=TIMEOUT).status_code for _ in range(4)] == [200, 429, 200, 429]
        proxy.rate_limit_every_nth = 0
        assert len(upstream.seen) == before + 3
        assert proxy.stats.rate_limited == 5 and proxy.stats.retry_after_sent == 4

        # a client that leaves mid-body does not hurt the proxy
        for partial in (b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nonly ten b",
                        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                        b"GET /x HTTP/1.1\r\nHo"):
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                sock.sendall(partial)
        deadline = time.monotonic() + 5
        while proxy.stats.client_disconnects < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proxy.stats.client_disconnects >= 2
        assert requests.get(proxy.url + "/after", timeout=TIMEOUT).status_code == 200

    # an upstream that is down: 502 with a JSON body
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    with FaultProxy(f"http://127.0.0.1:{dead_port}") as proxy:
        r = requests.get(proxy.url + IC + "/Models/", timeout=TIMEOUT)
        assert r.status_code == 502 and r.json()["code"] == 502 and proxy.stats.upstream_errors == 1


# ---------------------------------------------------------------------- against a real local server


def test_faults_against_a_real_server(server_factory):
    server = server_factory("--min-images", "3")
    direct = server.url
    with FaultProxy(server.root, seed=1) as proxy:
        assert proxy.url.endswith("/api/v2") and proxy.upstream_url == direct

        # plain forwarding
        r = requests.post(proxy.url + IC + "/Model/", data={"categories": ["Bag", "Coat"]}, auth=AUTH, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        model_id = r.json()["model_id"]
        via_proxy = requests.get(proxy.url + IC + "/Models/", auth=AUTH, timeout=TIMEOUT)
        assert via_proxy.status_code == 200
        assert via_proxy.json() == requests.get(direct + IC + "/Models/", auth=AUTH, timeout=TIMEOUT).json()
        assert [m["model_id"] for m in via_proxy.json()] == [model_id]
        assert requests.get(proxy.url + IC + "/Models/", timeout=TIMEOUT).status_code == 401  # no key: upstream's 401
        with requests.Session() as session:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: session.get(proxy.url + IC + "/Model/", params={"modelId": model_id},
                                                              auth=AUTH, timeout=TIMEOUT), range(16)))
        assert {a.status_code for a in answers} == {200} and {a.json()["model_id"] for a in answers} == {model_id}
        assert not [k for a in (r, via_proxy, *answers) for k in a.headers if k.lower().startswith("nanoclient-")]
        assert counts(direct, model_id, KEY) == {"Bag": 0, "Coat": 0}

        # answer lost after the server stored the upload: a broken connection, or a 500
        red = (make_image((220, 20, 20), seed=s) for s in itertools.count(100))
        proxy.fail_after_rate, proxy.drop_mode = 1.0, "drop"
        for style, stored in (("close", 1), ("partial", 2)):
            proxy.drop_style = style
            with pytest.raises(BROKEN):
                upload(proxy.url, model_id, "Bag", [next(red)])
            assert counts(direct, model_id, KEY)["Bag"] == stored
        proxy.drop_mode = "500"
        r = upload(proxy.url, model_id, "Bag", [next(red)])
        assert r.status_code == 500 and r.json()["code"] == 500
        assert counts(direct, model_id, KEY)["Bag"] == 3
        assert counts(proxy.url, model_id, KEY)["Bag"] == 3  # GETs pass untouched even at rate 1.0
        proxy.fail_after_rate = 0.0
        assert (proxy.stats.dropped, proxy.stats.injected_500) == (2, 1)

        # 429 for a count, then for a time window: never reaches the server
        forwarded = proxy.stats.forwarded
        proxy.start_429_burst(count=3)
        answers = [upload(proxy.url, model_id, "Bag", [next(red)]) for _ in range(3)]
        assert [a.status_code for a in answers] == [429] * 3
        assert [a.headers.get("Retry-After") for a in answers] == ["1", None, "1"]
        assert all(a.json()["code"] == 429 for a in answers)
        proxy.start_429_burst(seconds=0.6, retry_after=None)
        limited = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            a = upload(proxy.url, model_id, "Bag", [next(red)])
            if a.status_code != 429:
                break
            assert "Retry-After" not in a.headers
            limited += 1
            time.sleep(0.05)
        assert limited >= 1 and a.status_code == 200, a.text
        assert proxy.stats.forwarded == forwarded + 1 and proxy.stats.rate_limited == 3 + limited
        assert counts(direct, model_id, KEY)["Bag"] == 4  # only the request after the window was stored

        # first_part_only: only the first file part of a batch is stored, fields in the query or as parts
        proxy.first_part_only = True
        blue = images(9, (20, 20, 220), 500)
        r = upload(proxy.url, model_id, "Coat", blue[0:3])
        assert r.status_code == 200 and {c["name"]: c["count"] for c in r.json()["categories"]}["Coat"] == 1
        r = upload(proxy.url, model_id, "Coat", blue[3:6], fields_as_parts=True)
        assert r.status_code == 200 and counts(direct, model_id, KEY)["Coat"] == 2
        assert (proxy.stats.rewritten, proxy.stats.parts_removed) == (2, 4)
        proxy.first_part_only = False
        assert upload(proxy.url, model_id, "Coat", blue[6:9]).status_code == 200
        assert counts(direct, model_id, KEY)["Coat"] == 5

        # and whatever the server says about itself stays hidden
        if any(k.lower().startswith("nanoclient-") for k in upload(direct, model_id, "Coat", blue[:1]).headers):
            assert not any(k.lower().startswith("nanoclient-") for k in upload(proxy.url, model_id, "Coat",
                                                                                blue[:1]).headers)
        records = proxy.records
        assert records[0].method == "POST" and records[0].path == "/api/v2" + IC + "/Model/"
        assert [r.status for r in records if r.fault == "429"] == [429] * (3 + limited)


def test_shuffled_predictions_keep_every_entry(server_factory):
    server = server_factory("--min-images", "3")
    direct = server.url
    colors = {"Red": (220, 20, 20), "Blue": (20, 20, 220)}
    with FaultProxy(server.root, seed=7) as proxy:
        model_id = requests.post(proxy.url + IC + "/Model/", data={"categories": list(colors)}, auth=AUTH,
                                 timeout=TIMEOUT).json()["model_id"]
        for n, (name, color) in enumerate(colors.items()):
            assert upload(proxy.url, model_id, name, images(4, color, 10 * n)).status_code == 200
        r = requests.post(proxy.url + IC + "/Train/", params={"modelId": model_id}, auth=AUTH, timeout=TIMEOUT)
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 120
        while True:
            state = requests.get(direct + IC + "/Model/", params={"modelId": model_id}, auth=AUTH,
                                 timeout=TIMEOUT).json()["state"]
            if state == 5:
                break
            assert state != -1 and time.monotonic() < deadline, f"training ended in state {state}"
            time.sleep(0.2)

        names = [f"pic_{i:02d}.png" for i in range(12)]
        files = [("file", (name, make_image(list(colors.values())[i % 2], seed=1000 + i), "image/png"))
                 for i, name in enumerate(names)]

        def label(base: str) -> list[dict]:
            r = requests.post(base + IC + "/LabelFile/", data={"modelId": model_id}, files=files, auth=AUTH,
                              timeout=TIMEOUT)
            assert r.status_code == 200, r.text
            return r.json()["result"]

        in_order = label(direct)
        assert [e["file"] for e in in_order] == names  # the local server keeps input order
        assert [e["file"] for e in label(proxy.url)] == names  # shuffle off: untouched
        proxy.shuffle_results = True
        shuffled = label(proxy.url)
        order = [e["file"] for e in shuffled]
        assert order != names and sorted(order) == names
        assert {e["file"]: e for e in shuffled} == {e["file"]: e for e in in_order}
        assert proxy.stats.shuffled == 1 and proxy.records[-1].fault == "shuffle"
        # seeded: another proxy with the same seed shuffles the same way
        with FaultProxy(server.root, seed=7, shuffle_results=True) as twin:
            assert [e["file"] for e in label(twin.url)] == order
