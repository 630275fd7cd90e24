"""Fetching an image URL for the server: http(s) only, with a time limit and a size cap.

A URL that is not http(s), does not answer, answers with an error, redirects somewhere that
is not http(s), streams without end or takes longer than the deadline is refused with a
``FetchError`` that says why. The server stays up whatever the other side does.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

#: How many redirects are followed (each must stay http or https).
MAX_REDIRECTS = 5


class FetchError(Exception):
    """An image URL could not be fetched; the message says why, for the API's error body."""


def check_url(url: str) -> str:
    """Return ``url`` stripped if it is an http(s) URL with a host; else raise FetchError."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"Not an http(s) URL: {text[:200]!r}")
    if not parts.hostname:
        raise FetchError(f"URL has no host: {text[:200]!r}")
    return text


def fetch_url(url: str, *, timeout: float, max_bytes: int, session: requests.Session | None = None) -> bytes:
    """The body of ``url`` (GET), at most ``max_bytes`` long, within ``timeout`` seconds in all.

    Redirects are followed by hand (at most MAX_REDIRECTS) so that each target is checked
    to be http(s). Raises FetchError for every kind of failure.
    """
    import requests

    deadline = time.monotonic() + timeout
    current = check_url(url)
    http = session or requests.Session()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchError(f"Timed out after {timeout:g} s: {url}")
            try:
                response = http.get(
                    current,
                    stream=True,
                    allow_redirects=False,
                    timeout=(min(remaining, timeout), min(remaining, timeout)),
                    headers={"Accept": "image/png, image/jpeg, */*;q=0.5", "User-Agent": "nanoclient-server"},
                )
            except requests.exceptions.Timeout:
                raise FetchError(f"Timed out after {timeout:g} s: {url}") from None
            except requests.exceptions.RequestException as exc:
                raise FetchError(f"Could not fetch {url}: {type(exc).__name__}") from None
            with response:
                if response.is_redirect:
                    target = response.headers.get("Location", "")
                    current = check_url(requests.compat.urljoin(current, target))
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"{url} answered {response.status_code}")
                return _read_capped(response, url, deadline, timeout, max_bytes)
        raise FetchError(f"Too many redirects: {url}")
    finally:
        if session is None:
            http.close()


def _read_capped(response: requests.Response, url: str, deadline: float, timeout: float, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{url} is larger than {max_bytes:,} bytes")
    chunks = []
    size = 0
    # A peer that trickles bytes never trips the per-read timeout: cut the socket at the deadline.
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, args=(response,))
    watchdog.daemon = True
    watchdog.start()
    try:
        for chunk in response.iter_content(chunk_size=64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url} is larger than {max_bytes:,} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"Timed out after {timeout:g} s: {url}")
            chunks.append(chunk)
    except FetchError:
        raise
    except Exception as exc:  # requests, urllib3 and socket errors, including the watchdog's cut
        if time.monotonic() >= deadline:
            raise FetchError(f"Timed out after {timeout:g} s: {url}") from None
        raise FetchError(f"Connection broke while reading {url} ({type(exc).__name__})") from None
    finally:
        watchdog.cancel()
    return b"".join(chunks)


def _cut(response: requests.Response) -> None:
    """Shut the response's socket down so that a blocked read returns at once."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(response.raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
