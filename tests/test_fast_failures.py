"""Fast, clear failures: the wrong scheme said at once, a silent server given up on within --timeout,
every timeout naming the URL, and a dead proxy named as the proxy. (Bounds on time here are generous:
they tell "at once" and "within the timeout" from "after the default 30 s or 5 minutes".)"""
from __future__ import annotations

import time

import pytest
from helpers import RawServer, closed_port, run_cli

from nanoclient import APIConnectionError, APITimeoutError, Client

KEY = "fast-failure-key"


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
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    proxy_port = closed_port()
    monkeypatch.setenv("HTTPS_PROXY", f"http://user:secret@127.0.0.1:{proxy_port}")
    with pytest.raises(APIConnectionError) as caught, Client(KEY, "https://api.example.test/api/v2",
                                                              max_retries=0) as client:
        client.list_models()
    message = caught.value.message
    assert f"through the proxy http://***@127.0.0.1:{proxy_port} (from HTTPS_PROXY)" in message
    assert "NO_PROXY=api.example.test" in message and "secret" not in str(caught.value)
