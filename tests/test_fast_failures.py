"""Fast, clear failures: the wrong scheme said at once, a silent server given up on within --timeout,
every timeout naming the URL, and a dead proxy named as the proxy. (Bounds on time here are generous:
they tell "at once" and "within the timeout" from "after the default 30 s or 5 minutes".)"""
from __future__ import annotations

import socket
import time

import pytest
from helpers import RawServer, closed_port, run_cli

from nanoclient import APIConnectionError, APITimeoutError, Client

KEY = "fast-failure-key"
#: The variables by which requests finds a proxy (or is told to bypass it), cleared by the proxy tests.
PROXY_VARIABLES = ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY",
                   "https_proxy")


def test_https_to_the_local_servers_plain_http_port_is_said_at_once(server_factory):
    server = server_factory()
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as caught, Client(KEY, server.url.replace("http://", "https://"),
                                                              timeout=60, max_retries=5) as client:
        client.list_models()
    assert time.monotonic() - started < 10  # not the 60 s timeout, nor retried
    assert "answered in plain HTTP, not TLS: use http:// instead of https://" in str(caught.value)


def test_a_server_that_never_answers_is_given_up_on_within_the_timeout_naming_the_url(tmp_path):
    silent = RawServer(lambda conn: time.sleep(30))  # reads the request, never answers
    try:
        started = time.monotonic()
        result = run_cli(silent.url, KEY, "--timeout", "2", "models", cache=tmp_path / "c")
        took = time.monotonic() - started
    finally:
        silent.close()
    assert result.returncode == 1 and took < 15, (took, result.stderr)  # the default is 300 s
    assert f"{silent.url}/ImageCategorization/Models/" in result.stderr and "timed out" in result.stderr
    assert "--timeout SECONDS" in result.stderr


def test_the_sdks_timeout_message_names_the_url():
    silent = RawServer(lambda conn: time.sleep(10))
    try:
        with pytest.raises(APITimeoutError) as caught, Client(KEY, silent.url, timeout=0.5, max_retries=0) as client:
            client.get_model("m1")
    finally:
        silent.close()
    assert f"No response from GET {silent.url}/ImageCategorization/Model/ within 0.5 s" in caught.value.message


def test_a_proxy_that_cannot_be_reached_is_named_with_its_variable_and_no_proxy(monkeypatch):
    """The API's host is never contacted (the proxy would be): only the proxy's loopback port is."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy_port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:secret@127.0.0.1:{proxy_port}")
    with pytest.raises(APIConnectionError) as caught, Client(KEY, "https://api.example.test/api/v2",
                                                              max_retries=0) as client:
        client.list_models()
    message = caught.value.message
    assert f"through the proxy http://***@127.0.0.1:{proxy_port} (from HTTPS_PROXY)" in message
    assert "NO_PROXY=api.example.test" in message and "secret" not in str(caught.value)


def test_the_local_server_answers_a_tls_handshake_on_its_plain_http_port_and_closes(server_factory):
    """What makes https:// fail at once: bytes that are not TLS, then the end of the connection."""
    server = server_factory()
    host, port = server.root.removeprefix("http://").split(":")
    client_hello = bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\x00"  # a ClientHello's first bytes
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(client_hello)
        answer = b""
        while chunk := conn.recv(4096):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"This is a plain-HTTP server: use http://, not https://.\n")
    with Client(KEY, server.url) as client:  # the server itself is none the worse
        assert client.list_models() == []


def test_https_to_the_local_server_in_the_cli_says_to_use_http_not_that_the_server_may_be_down(server_factory,
                                                                                               tmp_path):
    server = server_factory()
    https = server.url.replace("http://", "https://")
    result = run_cli(https, KEY, "models", cache=tmp_path / "c")
    assert result.returncode == 1, result.stderr
    assert f"cannot talk to {https} (from the NANONETS_BASE_URL variable): " in result.stderr
    assert "use http:// instead of https://" in result.stderr
    assert "is the server running" not in result.stderr and "retrying" not in result.stderr


def test_a_dead_proxy_in_the_cli_is_a_proxy_error_not_a_server_that_may_be_down(monkeypatch, tmp_path):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy_port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:secret@127.0.0.1:{proxy_port}")
    result = run_cli("https://api.example.test/api/v2", KEY, "--retries", "1", "models", cache=tmp_path / "c")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: proxy error: Could not reach https://api.example.test/api/v2/"), last
    assert f"through the proxy http://***@127.0.0.1:{proxy_port} (from HTTPS_PROXY)" in last
    assert "NO_PROXY=api.example.test" in last and "gave up after 2 attempts" in last
    assert "is the server running" not in result.stderr and "secret" not in result.stderr


@pytest.mark.parametrize("variable,proxy,shown", [
    ("ALL_PROXY", "user:secret@127.0.0.1:9", "***@127.0.0.1:9"),  # no scheme: requests cannot use it
    ("HTTPS_PROXY", "http://user:se/cret@127.0.0.1:9", "http://***@127.0.0.1:9"),  # an unescaped / in the password
])
def test_a_proxy_url_that_cannot_be_used_is_named_not_the_apis_url(monkeypatch, variable, proxy, shown):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, proxy)
    with pytest.raises(ValueError) as caught, Client(KEY, "https://api.example.test/api/v2") as client:
        client.list_models()
    message = str(caught.value)
    assert message.startswith(f"Cannot use the proxy {shown} (from {variable}) for https://api.example.test/"), message
    assert "NO_PROXY=api.example.test" in message
    assert not any(piece in message for piece in ("user", "secret", "se/", "cret"))  # nor any piece of them


def test_a_dead_socks_proxy_is_named_too(monkeypatch):
    """requests says ProxyError for an HTTP proxy, but a plain ConnectionError for a SOCKS one."""
    pytest.importorskip("socks")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    proxy_port = closed_port()
    monkeypatch.setenv("ALL_PROXY", f"socks5h://127.0.0.1:{proxy_port}")
    with pytest.raises(APIConnectionError) as caught, Client(KEY, "https://api.example.test/api/v2",
                                                              max_retries=0) as client:
        client.list_models()
    assert caught.value.diagnosis == "proxy"
    assert f"through the proxy socks5h://127.0.0.1:{proxy_port} (from ALL_PROXY)" in caught.value.message
