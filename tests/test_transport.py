"""The SDK transport: auth, error mapping, retry policy, streamed multipart bodies, key hygiene."""
from __future__ import annotations

import io
import logging
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import responses
from apimock import BASE
from helpers import KEY, KEY_B64, RawServer, assert_key_hidden, closed_port, parse_multipart

from nanoclient import errors
from nanoclient._transport import (
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    FilePart,
    MultipartBody,
    Transport,
    may_have_been_processed,
)

URL = BASE + "/Thing/"


def make_transport(**kwargs):
    sleeps = []
    kwargs.setdefault("max_retries", 3)
    transport = Transport(BASE, KEY, sleep=sleeps.append, random=lambda: 0.0, **kwargs)
    return transport, sleeps


@responses.activate
def test_success_sends_basic_auth_and_user_agent_and_decodes_json():
    responses.add(responses.GET, URL, json={"ok": [1, 2]})
    transport = Transport(BASE, KEY, user_agent="nanoclient/9.9")
    assert transport.request("GET", "Thing/", params=[("modelId", "m1")]) == {"ok": [1, 2]}
    sent = responses.calls[0].request
    assert sent.url == URL + "?modelId=m1"
    assert sent.headers["Authorization"] == f"Basic {KEY_B64}"  # key as user name, empty password
    assert sent.headers["User-Agent"] == "nanoclient/9.9"
    assert_key_hidden(transport, transport._session.auth)


@responses.activate
def test_form_fields_repeat_in_order():
    responses.add(responses.POST, URL, json={})
    Transport(BASE, KEY).request("POST", "Thing/", form=[("categories", "Bag"), ("categories", "Coat & Hat")])
    sent = responses.calls[0].request
    assert sent.body == "categories=Bag&categories=Coat+%26+Hat"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("status, cls", [
    (400, errors.BadRequestError),
    (401, errors.AuthenticationError),
    (402, errors.PaymentRequiredError),
    (404, errors.NotFoundError),
    (409, errors.BadRequestError),
    (413, errors.PayloadTooLargeError),
    (429, errors.RateLimitError),
    (500, errors.ServerError),
    (502, errors.ServerError),
    (503, errors.ServerError),
])
@responses.activate
def test_error_statuses_map_to_their_class_with_the_body_details(status, cls):
    body = {"message": f"went wrong {status}", "code": status,
            "errors": [{"reason": "why", "message": "what to do"}]}
    responses.add(responses.POST, URL, json=body, status=status)
    transport, _ = make_transport(max_retries=0)
    with pytest.raises(cls) as info:
        transport.request("POST", "Thing/", form=[("modelId", "m1")])
    exc = info.value
    assert type(exc) is cls
    assert (exc.status, exc.message, exc.method, exc.url) == (status, f"went wrong {status}", "POST", URL)
    assert exc.errors == [{"reason": "why", "message": "what to do"}]
    assert exc.hint == "what to do"
    assert_key_hidden(exc)
    assert exc.__cause__ is None


@responses.activate
def test_html_error_body_gets_a_clear_message():
    html = "<html><head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 300 + "</body></html>"
    responses.add(responses.GET, URL, body=html, status=502, content_type="text/html")
    transport, sleeps = make_transport(max_retries=0)
    with pytest.raises(errors.ServerError) as info:
        transport.request("GET", "Thing/")
    message = info.value.message
    assert message.startswith("HTTP 502 from server (not JSON): <html><head><title>502 Bad Gateway</title>")
    assert len(message) == len("HTTP 502 from server (not JSON): ") + 100
    assert "\n" not in message


@responses.activate
def test_success_that_is_not_json_is_a_server_error():
    responses.add(responses.GET, URL, body="<html>maintenance</html>", status=200)
    transport, sleeps = make_transport()
    with pytest.raises(errors.ServerError, match="HTTP 200 from server \\(not JSON\\): <html>maintenance"):
        transport.request("GET", "Thing/")
    assert sleeps == [] and len(responses.calls) == 1


@pytest.mark.parametrize("method, status", [("GET", 503), ("POST", 408)])
@responses.activate
def test_retryable_status_is_retried_then_succeeds(method, status):
    responses.add(method, URL, json={"message": "busy"}, status=status)
    responses.add(method, URL, json={"done": True})
    transport, sleeps = make_transport()
    assert transport.request(method, "Thing/") == {"done": True}
    assert len(responses.calls) == 2
    assert sleeps == [INITIAL_RETRY_DELAY]


@responses.activate
def test_backoff_doubles_up_to_the_cap_then_raises():
    responses.add(responses.GET, URL, json={"message": "down"}, status=500)
    transport, sleeps = make_transport(max_retries=6)
    with pytest.raises(errors.ServerError, match="down"):
        transport.request("GET", "Thing/")
    assert len(responses.calls) == 7  # the first attempt and max_retries more
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, MAX_RETRY_DELAY]


@responses.activate
def test_jitter_shortens_the_wait_by_at_most_a_quarter():
    responses.add(responses.GET, URL, status=500, json={})
    sleeps = []
    transport = Transport(BASE, KEY, max_retries=2, sleep=sleeps.append, random=lambda: 1.0)
    with pytest.raises(errors.ServerError):
        transport.request("GET", "Thing/")
    assert sleeps == [0.375, 0.75]


@responses.activate
def test_retry_after_seconds_is_honoured_on_429():
    responses.add(responses.GET, URL, json={"message": "slow down"}, status=429, headers={"Retry-After": "7"})
    responses.add(responses.GET, URL, json={"message": "slow down"}, status=429, headers={"Retry-After": "120"})
    responses.add(responses.GET, URL, json={"message": "slow down"}, status=429, headers={"Retry-After": "2.5"})
    transport, sleeps = make_transport(max_retries=2)
    with pytest.raises(errors.RateLimitError) as info:
        transport.request("GET", "Thing/")
    assert sleeps == [7.0, MAX_RETRY_AFTER]  # the server's word, capped
    assert info.value.retry_after == 2.5 and info.value.status == 429


@responses.activate
def test_retry_after_as_an_http_date():
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    responses.add(responses.GET, URL, status=503, json={}, headers={"Retry-After": format_datetime(when, usegmt=True)})
    responses.add(responses.GET, URL, json={"ok": 1})
    transport, sleeps = make_transport()
    assert transport.request("GET", "Thing/") == {"ok": 1}
    assert len(sleeps) == 1 and 25 <= sleeps[0] <= 30


@pytest.mark.parametrize("status", [400, 401, 404, 409, 413])
@responses.activate
def test_other_4xx_are_never_retried(status):
    responses.add(responses.POST, URL, json={"message": "no"}, status=status)
    transport, sleeps = make_transport()
    with pytest.raises(errors.NanonetsError):
        transport.request("POST", "Thing/")
    assert len(responses.calls) == 1 and sleeps == []


@pytest.mark.parametrize("raised, cls", [
    (requests.exceptions.ConnectionError("Connection aborted."), errors.APIConnectionError),
    (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"), errors.APIConnectionError),
    (requests.exceptions.ReadTimeout("read timed out"), errors.APITimeoutError),
    (requests.exceptions.ConnectTimeout("connect timed out"), errors.APIConnectionError),
])
@responses.activate
def test_network_failures_are_retried_then_mapped(raised, cls):
    responses.add(responses.GET, URL, body=raised)
    transport, sleeps = make_transport(max_retries=2)
    with pytest.raises(cls) as info:
        transport.request("GET", "Thing/")
    assert len(responses.calls) == 3 and len(sleeps) == 2
    assert not hasattr(info.value, "status") and info.value.url == URL and info.value.method == "GET"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert_key_hidden(info.value)


@responses.activate
def test_a_reset_then_success_is_invisible_to_the_caller():
    responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError("reset"))
    responses.add(responses.GET, URL, json={"fine": True})
    transport, sleeps = make_transport()
    assert transport.request("GET", "Thing/") == {"fine": True}


@responses.activate
def test_a_creating_request_is_not_retried_when_the_server_may_have_acted():
    transport, sleeps = make_transport()
    for failure in ({"json": {"message": "oops"}, "status": 500}, {"json": {"message": "bad gateway"}, "status": 502},
                    {"body": requests.exceptions.ReadTimeout()},
                    {"body": requests.exceptions.ConnectionError("Connection broken: IncompleteRead")}):
        responses.upsert(responses.POST, URL, **failure)
        with pytest.raises(errors.NanonetsError) as info:
            transport.request("POST", "Thing/", idempotent=False)
        assert may_have_been_processed(info.value), failure  # the caller must find out before sending again
    assert len(responses.calls) == 4 and sleeps == []


@responses.activate
@pytest.mark.parametrize("status", [429, 503])
def test_a_creating_request_is_retried_after_an_answer_that_says_nothing_was_done(status):
    transport, sleeps = make_transport()
    responses.add(responses.POST, URL, json={"message": "later"}, status=status, headers={"Retry-After": "1"})
    with pytest.raises(errors.NanonetsError) as info:
        transport.request("POST", "Thing/", idempotent=False)
    assert sleeps == [1.0, 1.0, 1.0] and not may_have_been_processed(info.value)


def test_refused_connection_is_retried_even_for_a_creating_request():
    port = closed_port()
    sleeps = []
    transport = Transport(f"http://127.0.0.1:{port}/api/v2", KEY, max_retries=2, sleep=sleeps.append)
    with pytest.raises(errors.APIConnectionError) as info:
        transport.request("POST", "Model/", form=[("categories", "a")], idempotent=False)
    assert len(sleeps) == 2  # nothing reached a server, so trying again is safe
    assert "connection refused" in info.value.message.lower()
    assert "\n" not in str(info.value)
    assert_key_hidden(info.value)


def test_connection_dropped_mid_response_is_retried_then_raised():
    def truncated(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mod")

    server = RawServer(truncated)
    try:
        sleeps = []
        transport = Transport(server.url, KEY, max_retries=2, sleep=sleeps.append)
        with pytest.raises(errors.APIConnectionError, match="broke before the response was complete"):
            transport.request("GET", "Models/")
        assert server.connections == 3 and len(sleeps) == 2
    finally:
        server.close()


def test_read_timeout_against_a_silent_server():
    release = threading.Event()
    server = RawServer(lambda conn: release.wait(10))
    try:
        transport = Transport(server.url, KEY, timeout=0.2, max_retries=1, sleep=lambda s: None)
        timed_out = r"No response from GET http://127\.0\.0\.1:\d+/api/v2/Models/ within 0\.2 s"
        with pytest.raises(errors.APITimeoutError, match=timed_out):
            transport.request("GET", "Models/")
    finally:
        release.set()
        server.close()
    assert server.connections == 2


def test_streamed_upload_reaches_a_real_socket_whole_with_a_content_length(tmp_path):
    payload = bytes(range(256)) * 12_000  # 3 MB, every byte value
    path = tmp_path / "big.png"
    path.write_bytes(payload)

    def ok(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\": 1}\r\n")

    server = RawServer(ok)
    try:
        transport = Transport(server.url, KEY)
        answer = transport.request("POST", "UploadFile/", form=[("modelId", "m1"), ("category", "Bag")],
                                   files=[FilePart("file", path, "big.png", "image/png")])
        assert answer == {"ok": 1}
    finally:
        server.close()
    head, _, body = server.received[0].partition(b"\r\n\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.decode().partition(":") for line in head.split(b"\r\n")[1:])}
    assert "transfer-encoding" not in headers
    assert int(headers["content-length"]) == len(body)
    form, files = parse_multipart(body, headers["content-type"])
    assert form.to_dict(flat=False) == {"modelId": ["m1"], "category": ["Bag"]}
    assert files["file"].filename == "big.png" and files["file"].read() == payload


@responses.activate
def test_a_retried_upload_sends_the_whole_file_again(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 1000)
    responses.add(responses.POST, URL, status=503, json={})
    responses.add(responses.POST, URL, json={"ok": True})
    transport, sleeps = make_transport()
    transport.request("POST", "Thing/", form=[("modelId", "m")], files=[FilePart("file", path, "a.png", "image/png")])
    assert len(responses.calls) == 2
    for call in responses.calls:
        _, files = parse_multipart(call.request.body, call.request.headers["Content-Type"])
        assert files["file"].read() == path.read_bytes()


@responses.activate
def test_a_file_that_vanished_is_a_file_error_not_a_connection_error(tmp_path):
    transport, sleeps = make_transport()
    with pytest.raises(FileNotFoundError, match="Cannot read .*gone.png") as info:
        transport.request("POST", "Thing/", files=[FilePart("file", tmp_path / "gone.png", "gone.png")])
    assert not isinstance(info.value, errors.NanonetsError)
    assert len(responses.calls) == 0


def test_multipart_body_reads_the_same_in_any_chunking_and_rewinds(tmp_path):
    first, second = tmp_path / "one.jpg", tmp_path / "two.png"
    first.write_bytes(b"\xff\xd8\xff" + b"j" * 5000)
    second.write_bytes(b"")  # empty files are encoded too
    with open(first, "rb") as h1, open(second, "rb") as h2:
        body = MultipartBody(
            [("modelId", "m-1"), ("note", "ünïcode")],
            [(FilePart("file", first, 'we"ird\r\nname ü.jpg', "image/jpeg"), h1),
             (FilePart("file", second, "two.png", "image/png"), h2)],
        )
        whole = body.read()
        assert len(whole) == len(body) and body.read() == b""
        body.seek(0)
        pieces = []
        while True:
            piece = body.read(777)
            if not piece:
                break
            pieces.append(piece)
        assert b"".join(pieces) == whole
        body.seek(0)
        assert b"".join(iter(body)) == whole
        with pytest.raises(io.UnsupportedOperation):
            body.seek(5)
    form, files = parse_multipart(whole, body.content_type)
    assert form["modelId"] == "m-1" and form["note"] == "ünïcode"
    parts = files.getlist("file")
    # quotes and line breaks travel percent-encoded (as browsers do); Werkzeug >= 3.1.9 decodes %22 again
    assert b"we%22ird%0D%0Aname \xc3\xbc.jpg" in whole
    assert [p.filename for p in parts] in (["we%22ird%0D%0Aname ü.jpg", "two.png"],
                                          ['we"ird%0D%0Aname ü.jpg', "two.png"])
    assert [p.content_type for p in parts] == ["image/jpeg", "image/png"]
    assert parts[0].read() == first.read_bytes() and parts[1].read() == b""


@responses.activate
def test_parts_given_as_bytes_are_sent_as_they_are_without_opening_the_file(tmp_path):
    """An upload part read (and checked) once: the bytes checked are the bytes sent, the path is not reopened."""
    responses.add(responses.POST, URL, json={})
    transport, _ = make_transport()
    on_disk = tmp_path / "a.jpg"
    on_disk.write_bytes(b"\xff\xd8\xff" + b"x" * 100)
    checked = b"\xff\xd8\xff" + b"checked"
    transport.request("POST", "Thing/", form=[("modelId", "m")], files=[
        FilePart("file", tmp_path / "gone.jpg", "gone.jpg", "image/jpeg", data=checked),  # no such file: not opened
        FilePart("file", on_disk, "a.jpg", "image/jpeg")])
    sent = responses.calls[0].request
    form, files = parse_multipart(sent.body, sent.headers["Content-Type"])
    assert [f.read() for f in files.getlist("file")] == [checked, on_disk.read_bytes()]
    responses.add(responses.POST, URL, json={})
    transport.request("POST", "Thing/", files=[FilePart("file", "nowhere", "n.jpg", "image/jpeg", data=checked)])
    assert isinstance(responses.calls[1].request.body, bytes)  # every part at hand: sent in one piece


@responses.activate
def test_the_key_is_in_no_log_line(caplog):
    responses.add(responses.GET, URL, status=503, json={"message": "x"})
    responses.add(responses.GET, URL, body=requests.exceptions.ConnectionError("reset"))
    responses.add(responses.GET, URL, json={})
    transport, _ = make_transport()
    with caplog.at_level(logging.DEBUG):
        transport.request("GET", "Thing/")
    assert len([r for r in caplog.records if r.name == "nanoclient"]) == 2
    assert KEY not in caplog.text and KEY_B64 not in caplog.text


def test_loopback_server_is_not_reached_through_an_environment_proxy():
    assert Transport("http://127.0.0.1:8765/api/v2", KEY)._session.trust_env is False
    assert Transport("https://app.nanonets.com/api/v2", KEY)._session.trust_env is True


def test_adaptive_limit_halves_on_throttling_and_grows_back_one_at_a_time():
    from nanoclient._throttle import AdaptiveLimit

    now = [100.0]
    limit = AdaptiveLimit(8, clock=lambda: now[0])
    for _ in range(6):
        limit.acquire()
    limit.release(throttled=True, retry_after=2.0)  # 6 were in flight: half of them
    assert limit.limit == 3 and limit.in_flight == 5
    assert limit.pause_remaining() == 2.0
    now[0] += 2.5
    assert limit.pause_remaining() == 0.0
    for _ in range(5):
        limit.release()
    assert limit.limit == 4  # 3 successes in a row at limit 3 add one
    for _ in range(2):
        limit.acquire()
        limit.release(throttled=True)
    assert limit.limit == 1  # never below one
    grown = []
    for _ in range(1 + 2 + 3):
        limit.acquire()
        limit.release()
        grown.append(limit.limit)
    assert grown == [2, 2, 3, 3, 3, 4]


def test_requests_beyond_the_limit_wait_for_a_slot():
    import threading

    from nanoclient._throttle import AdaptiveLimit

    limit = AdaptiveLimit(1)
    limit.acquire()
    entered = threading.Event()

    def second():
        limit.acquire()
        entered.set()
        limit.release()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.2)  # only gives a bug the time to show: nothing is asserted about time
    limit.release()
    assert entered.wait(5)
    thread.join(5)


def test_https_to_a_plain_http_server_is_said_so_and_not_retried():
    """The TLS handshake gets no answer: a retry would only wait as long again."""
    def plain_http_silence(conn):  # reads the ClientHello, answers nothing, as an HTTP server waiting for more
        conn.settimeout(5)
        try:
            conn.recv(4096)
            conn.recv(4096)
        except OSError:
            pass

    server = RawServer(plain_http_silence)
    try:
        sleeps = []
        transport = Transport(server.url.replace("http://", "https://"), KEY, timeout=0.5, max_retries=3,
                              sleep=sleeps.append)
        with pytest.raises(errors.APIConnectionError, match="plain HTTP") as info:
            transport.request("GET", "Thing/")
        assert sleeps == [] and server.connections == 1
        assert info.value.request_sent is False
    finally:
        server.close()


def test_a_tls_handshake_that_gets_no_answer_costs_the_connect_timeout_not_the_read_timeout():
    """urllib3 runs the handshake under the connect timeout: a silent plain-HTTP port is said after it
    (10 s by default), once, however long the request may wait for an answer."""
    def plain_http_silence(conn):
        conn.settimeout(5)
        try:
            conn.recv(4096)
            conn.recv(4096)
        except OSError:
            pass

    assert Transport(BASE, KEY).connect_timeout == 10
    server = RawServer(plain_http_silence)
    try:
        sleeps = []
        https = server.url.replace("http://", "https://")
        transport = Transport(https, KEY, timeout=60, connect_timeout=0.3, max_retries=3, sleep=sleeps.append)
        with pytest.raises(errors.APIConnectionError) as info:
            transport.request("GET", "Thing/")
        assert sleeps == [] and server.connections == 1
    finally:
        server.close()
    assert info.value.diagnosis == "scheme" and not isinstance(info.value, errors.APITimeoutError)
    assert info.value.message.startswith(f"The TLS handshake for GET {https}/Thing/ got no answer within 0.3 s: ")
    assert "speak plain HTTP? If so, use http:// instead of https://" in info.value.message


def test_attempts_share_the_deadline_so_a_silent_server_costs_the_deadline_not_timeout_times_attempts():
    now = [0.0]
    timeouts = []

    def silent(method, url, *, timeout, **kwargs):
        timeouts.append(timeout)
        now[0] += timeout[1]
        raise requests.exceptions.ReadTimeout("Read timed out.")

    def sleep(seconds):
        now[0] += seconds

    transport = Transport(BASE, KEY, timeout=30, deadline=45, max_retries=10, sleep=sleep, random=lambda: 0.0,
                          clock=lambda: now[0])
    transport._session.request = silent
    with pytest.raises(errors.APITimeoutError) as info:
        transport.request("GET", "Models/")
    # the second attempt gets what is left of the 45 s (connecting: 10 s at most), and no third is started
    assert timeouts == [(10, 30), (10, 14.5)] and now[0] == 45
    assert info.value.message == (f"No response from GET {BASE}/Models/ within 14.5 s "
                                  "(gave up after 2 attempts over 45 s)")


def test_an_answer_that_is_not_http_is_said_so_and_not_retried():
    def tls_alert(conn):  # what a TLS server sends to a plain-HTTP request: an alert record
        conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")

    server = RawServer(tls_alert)
    try:
        sleeps = []
        transport = Transport(server.url, KEY, max_retries=3, sleep=sleeps.append)
        with pytest.raises(errors.APIConnectionError, match="does not answer in HTTP") as info:
            transport.request("GET", "Thing/")
        assert sleeps == [] and server.connections == 1
        assert info.value.diagnosis == "scheme"
    finally:
        server.close()


@responses.activate
def test_retries_are_logged_one_line_each_and_the_last_error_says_how_long_it_tried(caplog):
    responses.add(responses.GET, URL, json={"message": "busy"}, status=503)
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    transport = Transport(BASE, KEY, max_retries=2, sleep=sleep, random=lambda: 0.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="nanoclient"):
        with pytest.raises(errors.ServerError, match=r"gave up after 3 attempts over 2 s"):
            transport.request("GET", "Thing/")
    lines = [r.getMessage() for r in caplog.records if r.name == "nanoclient"]
    assert lines == ["GET Thing/ failed: HTTP 503 (busy); attempt 2 of 3 in 0.5 s",
                     "GET Thing/ failed: HTTP 503 (busy); attempt 3 of 3 in 1.0 s"]


@responses.activate
def test_a_request_stops_retrying_at_its_deadline():
    responses.add(responses.GET, URL, json={"message": "busy"}, status=503)
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    transport = Transport(BASE, KEY, max_retries=50, deadline=10.0, sleep=sleep, random=lambda: 0.0,
                          clock=lambda: now[0])
    with pytest.raises(errors.ServerError, match="gave up after 5 attempts over 8 s"):
        transport.request("GET", "Thing/")
    assert now[0] <= 10.0  # waits 0.5 + 1 + 2 + 4 = 7.5 s; the next 8 s would pass the deadline
