"""A fault-injecting HTTP proxy for tests: makes a local ``nanoclient serve`` look like an unkind hosted service.

The proxy listens on loopback, forwards every request to a real server and, depending on
attributes a test may change at any time, misbehaves in the ways docs/api.md says the hosted
service may ("What the hosted service does not promise")::

    from faultproxy import FaultProxy

    server = server_factory("--min-images", "3")
    with FaultProxy(server.root, seed=1) as proxy:
        proxy.fail_after_rate = 1.0          # uploads are stored, then the answer is lost
        proxy.drop_mode = "drop"
        ...                                   # point the client at proxy.url (ends in /api/v2)
        proxy.fail_after_rate = 0.0
        proxy.start_429_burst(seconds=2.0)    # 429 without forwarding for two seconds
        assert proxy.stats.rate_limited > 0

Faults (all off by default except hiding ``Nanoclient-*`` response headers):

* ``fail_after_rate``: POSTs whose path contains one of ``fail_after_paths`` are forwarded
  (the server stores them), then with this probability the real answer is replaced by a
  ``500`` JSON error or a dropped connection (``drop_mode``; ``drop_style`` says how).
* 429 without forwarding: ``rate_limit_burst`` (the next N requests),
  ``start_429_burst(seconds=...)`` (a time window), ``rate_limit_every_nth``;
  ``rate_limit_retry_after`` says which of them carry ``Retry-After``.
* ``shuffle_results``: the ``result`` list of LabelFile / LabelUrls answers is shuffled.
* ``strip_headers`` / ``drop_header_prefixes``: response headers hidden from the client.
* ``first_part_only``: a multipart UploadFile with several ``file`` parts reaches the server
  with only the first of them (other fields kept); the server's answer is returned unchanged.
* ``latency_ms``: a delay before each forwarded request.

``proxy.stats`` counts what happened (a snapshot, see :class:`FaultStats`) and
``proxy.records`` lists each request (:class:`RequestRecord`). Standard library only.
"""
from __future__ import annotations

import dataclasses
import email.message
import email.utils
import http.client
import http.server
import json
import logging
import random
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger("tests.faultproxy")

#: Headers that belong to one connection and are never forwarded as they are (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})

#: ``drop_mode`` values.
DROP_MODES = ("500", "drop", "mixed")
#: ``drop_style`` values.
DROP_STYLES = ("close", "partial", "mixed")

Headers = list[tuple[str, str]]


class ClientGone(Exception):
    """The client went away (or sent a broken request body) before the request was read."""


# ---------------------------------------------------------------------- pure helpers (unit-tested)


def filter_headers(headers: Iterable[tuple[str, str]], strip: Iterable[str] = (),
                   prefixes: Iterable[str] = ()) -> Headers:
    """``headers`` without those named in ``strip`` or starting with one of ``prefixes`` (case-insensitive).

    Order and duplicates of the headers kept are preserved.
    """
    names = {s.lower() for s in strip}
    starts = tuple(p.lower() for p in prefixes if p)
    kept = []
    for name, value in headers:
        low = name.lower()
        if low in names or (starts and low.startswith(starts)):
            continue
        kept.append((name, value))
    return kept


def json_error(code: int, message: str, reason: str, hint: str) -> bytes:
    """An docs/api.md error body."""
    body = {"message": message, "code": code, "errors": [{"reason": reason, "message": hint}]}
    return json.dumps(body).encode("utf-8")


def multipart_boundary(content_type: str | None) -> str | None:
    """The boundary of a ``multipart/form-data`` Content-Type, or None if it is not one."""
    if not content_type:
        return None
    msg = email.message.Message()
    msg["Content-Type"] = content_type
    if msg.get_content_type() != "multipart/form-data":
        return None
    boundary = msg.get_boundary()
    return boundary or None


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body (each ``headers CRLF CRLF content``, bytes as sent).

    Preamble and epilogue are dropped. ValueError if the body is not well formed (no
    closing delimiter, junk after a delimiter).
    """
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[bytes] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):
            raise ValueError("malformed multipart delimiter line")
        parts.append(chunk[line_end + 2:])
    raise ValueError("multipart body has no closing delimiter")


def join_multipart(parts: Sequence[bytes], boundary: str) -> bytes:
    """The inverse of :func:`split_multipart`: a body with these parts and a closing delimiter."""
    delimiter = b"--" + boundary.encode("latin-1")
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


def part_name(part: bytes) -> str | None:
    """The ``name`` parameter of a part's Content-Disposition (None if it has none)."""
    end = part.find(b"\r\n\r\n")
    head = part[:end] if end >= 0 else part
    msg = email.message.Message()
    for line in head.split(b"\r\n"):
        name, sep, value = line.decode("utf-8", "surrogateescape").partition(":")
        if sep and name.strip().lower() == "content-disposition":
            msg["Content-Disposition"] = value.strip()
            value = msg.get_param("name", header="content-disposition")
            if isinstance(value, tuple):  # RFC 2231 form
                value = email.utils.collapse_rfc2231_value(value)
            return None if value is None else str(value)
    return None


def keep_first_file_part(body: bytes, content_type: str | None, field: str = "file") -> tuple[bytes, int]:
    """(body with only the first ``field`` part, number of parts removed); every other part is kept.

    A body that is not multipart, or has at most one such part, comes back unchanged with 0.
    ValueError if it claims to be multipart but cannot be split.
    """
    boundary = multipart_boundary(content_type)
    if boundary is None:
        return body, 0
    parts = split_multipart(body, boundary)
    kept: list[bytes] = []
    seen = False
    removed = 0
    for part in parts:
        if part_name(part) == field:
            if seen:
                removed += 1
                continue
            seen = True
        kept.append(part)
    if not removed:
        return body, 0
    return join_multipart(kept, boundary), removed


def shuffle_result_list(body: bytes, rng: random.Random) -> bytes | None:
    """The JSON ``body`` with its ``result`` list shuffled, or None if it has no list to shuffle.

    With two or more entries the order returned always differs from the order given (a
    shuffle that happens to leave it unchanged is rotated by one), unless all entries are equal.
    """
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("result"), list) or len(doc["result"]) < 2:
        return None
    before = list(doc["result"])
    after = list(before)
    rng.shuffle(after)
    if after == before:
        after = after[1:] + after[:1]
    doc["result"] = after
    return json.dumps(doc).encode("utf-8")


# ---------------------------------------------------------------------- bookkeeping


@dataclasses.dataclass
class FaultStats:
    """What the proxy did, counted per kind (``proxy.stats`` is a copy taken under the lock)."""

    #: Requests read completely from clients.
    requests: int = 0
    #: Requests sent to upstream that got an answer.
    forwarded: int = 0
    #: Upstream unreachable or broken: answered 502.
    upstream_errors: int = 0
    #: Forwarded, then answered 500 instead of upstream's answer.
    injected_500: int = 0
    #: Forwarded, then the connection was dropped instead of answering.
    dropped: int = 0
    #: Answered 429 without forwarding.
    rate_limited: int = 0
    #: Of those, how many carried ``Retry-After``.
    retry_after_sent: int = 0
    #: LabelFile / LabelUrls answers whose ``result`` was shuffled.
    shuffled: int = 0
    #: UploadFile requests rewritten by ``first_part_only``.
    rewritten: int = 0
    #: ``file`` parts removed by ``first_part_only``, in total.
    parts_removed: int = 0
    #: Clients that went away mid-request or before reading the answer.
    client_disconnects: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RequestRecord:
    """One request as the proxy handled it (``proxy.records``)."""

    method: str
    #: Path and query as the client sent it.
    path: str
    #: Status sent to the client; None if the connection was dropped or the client left.
    status: int | None
    #: Faults applied, in order: "429", "first_part_only", "shuffle", "500", "drop:close",
    #: "drop:partial", "upstream_error", "client_disconnected", "bad_request" (a body the
    #: proxy could not read). Empty: forwarded faithfully.
    faults: tuple[str, ...] = ()
    #: Status upstream answered with (None if not forwarded).
    upstream_status: int | None = None
    #: time.time() when the request was read.
    time: float = 0.0

    @property
    def fault(self) -> str | None:
        """The faults joined with "+", or None."""
        return "+".join(self.faults) or None


_KEEP = object()


# ---------------------------------------------------------------------- the proxy


class FaultProxy:
    """A loopback HTTP/1.1 proxy in front of ``upstream_root`` that injects faults; see the module doc.

    ``upstream_root`` is a server's root such as ``http://127.0.0.1:PORT`` (a trailing
    ``api_path`` is tolerated and removed). Requests are forwarded with method, path, query,
    body and headers (Host and Content-Length fixed, hop-by-hop headers dropped), each over a
    new upstream connection with ``upstream_timeout`` seconds of timeout. Every attribute
    below may be changed while the proxy runs; it applies from the next request on.
    """

    def __init__(
        self,
        upstream_root: str,
        *,
        seed: int = 0,
        api_path: str = "/api/v2",
        fail_after_rate: float = 0.0,
        fail_after_paths: Iterable[str] = ("/UploadFile", "/UploadUrls"),
        drop_mode: str = "mixed",
        drop_style: str = "close",
        rate_limit_burst: int = 0,
        rate_limit_every_nth: int = 0,
        rate_limit_retry_after: float | str | None = "alternate",
        rate_limit_paths: Iterable[str] | None = None,
        shuffle_results: bool = False,
        shuffle_paths: Iterable[str] = ("/LabelFile", "/LabelUrls"),
        strip_headers: Iterable[str] = (),
        drop_header_prefixes: Iterable[str] = ("Nanoclient-",),
        first_part_only: bool = False,
        first_part_paths: Iterable[str] = ("/UploadFile",),
        latency_ms: float = 0.0,
        upstream_timeout: float = 60.0,
        client_timeout: float = 60.0,
    ) -> None:
        split = urllib.parse.urlsplit(upstream_root)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError(f"upstream_root must be an http(s) URL, not {upstream_root!r}")
        prefix = split.path.rstrip("/")
        api_path = "/" + api_path.strip("/") if api_path.strip("/") else ""
        if api_path and prefix.endswith(api_path):
            prefix = prefix[: -len(api_path)]
        self.upstream_root = f"{split.scheme}://{split.netloc}{prefix}"
        self.api_path = api_path
        self._upstream_scheme = split.scheme
        self._upstream_host = split.hostname
        self._upstream_port = split.port or (443 if split.scheme == "https" else 80)
        self._upstream_netloc = split.netloc
        self._upstream_prefix = prefix
        self.seed = seed

        #: Probability (0..1) that the answer to a POST matching ``fail_after_paths`` is lost after
        #: forwarding (whatever upstream answered: the server has processed the request either way).
        self.fail_after_rate = fail_after_rate
        #: Path fragments (substrings) that ``fail_after_rate`` applies to (POST only).
        self.fail_after_paths: tuple[str, ...] = tuple(fail_after_paths)
        #: How a lost answer looks: "500" (JSON error), "drop" (broken connection) or "mixed" (half each).
        self.drop_mode = drop_mode
        #: How a drop is done: "close" (no byte of answer), "partial" (status line and part of
        #: the headers, then close) or "mixed" (half each).
        self.drop_style = drop_style
        #: The next N requests (matching ``rate_limit_paths``) get 429 without being forwarded.
        self.rate_limit_burst = rate_limit_burst
        #: Every Nth request (matching ``rate_limit_paths``) gets 429; 0 is off.
        self.rate_limit_every_nth = rate_limit_every_nth
        #: Retry-After on 429s: a number (always that value), None (never), or "alternate"
        #: (``Retry-After: 1`` on the 1st, 3rd, 5th... 429 and none on the others).
        self.rate_limit_retry_after = rate_limit_retry_after
        #: Path fragments that rate limiting applies to; None: every request.
        self.rate_limit_paths: tuple[str, ...] | None = None if rate_limit_paths is None else tuple(rate_limit_paths)
        #: Shuffle the ``result`` list of answers to POSTs matching ``shuffle_paths``.
        self.shuffle_results = shuffle_results
        self.shuffle_paths: tuple[str, ...] = tuple(shuffle_paths)
        #: Response header names removed (case-insensitive).
        self.strip_headers: tuple[str, ...] = tuple(strip_headers)
        #: Response headers starting with one of these are removed (case-insensitive).
        self.drop_header_prefixes: tuple[str, ...] = tuple(drop_header_prefixes)
        #: Forward only the first ``file`` part of multipart POSTs matching ``first_part_paths``.
        self.first_part_only = first_part_only
        self.first_part_paths: tuple[str, ...] = tuple(first_part_paths)
        #: Delay before each forwarded request, in milliseconds.
        self.latency_ms = latency_ms
        #: Timeout of each upstream request, in seconds.
        self.upstream_timeout = upstream_timeout
        #: Socket timeout on client connections (an idle keep-alive connection is closed after it).
        self.client_timeout = client_timeout

        self._lock = threading.Lock()
        self._stats = FaultStats()
        self._records: list[RequestRecord] = []
        self._burst_until = 0.0
        self._every_nth_count = 0
        self._rate_limited_total = 0
        self._fail_rng = random.Random(f"{seed}:fail")
        self._shuffle_rng = random.Random(f"{seed}:shuffle")
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FaultProxy:
        """Listen on 127.0.0.1, port 0, and serve in a daemon thread; return self."""
        if self._server is not None:
            return self
        for name, value, allowed in (("drop_mode", self.drop_mode, DROP_MODES),
                                     ("drop_style", self.drop_style, DROP_STYLES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"faultproxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close every client connection still open."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the proxy listens on (0 before ``start()``)."""
        return self._server.server_address[1] if self._server is not None else 0

    @property
    def root(self) -> str:
        """The proxy's root URL, e.g. ``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self.port}{self._upstream_prefix}"

    @property
    def url(self) -> str:
        """The proxy's API base URL, e.g. ``http://127.0.0.1:PORT/api/v2`` (what a client is given)."""
        return self.root + self.api_path

    @property
    def upstream_url(self) -> str:
        """Upstream's API base URL (to check, bypassing the proxy, what the server stored)."""
        return self.upstream_root + self.api_path

    # ------------------------------------------------------------------ faults and stats

    def start_429_burst(self, seconds: float | None = None, *, count: int | None = None,
                        retry_after: Any = _KEEP) -> None:
        """Answer 429 (without forwarding) for ``seconds`` from now and/or the next ``count`` requests.

        ``retry_after``, if given, replaces ``rate_limit_retry_after``.
        """
        if seconds is None and count is None:
            raise ValueError("give seconds, count or both")
        with self._lock:
            if seconds is not None:
                self._burst_until = time.monotonic() + seconds
            if count is not None:
                self.rate_limit_burst = count
            if retry_after is not _KEEP:
                self.rate_limit_retry_after = retry_after

    def stop_429_burst(self) -> None:
        """End a burst started by ``start_429_burst`` or ``rate_limit_burst`` (``rate_limit_every_nth`` stays)."""
        with self._lock:
            self._burst_until = 0.0
            self.rate_limit_burst = 0

    @property
    def stats(self) -> FaultStats:
        """A copy of the counters."""
        with self._lock:
            return dataclasses.replace(self._stats)

    @property
    def records(self) -> list[RequestRecord]:
        """A copy of the per-request log, oldest first."""
        with self._lock:
            return list(self._records)

    def reset_stats(self) -> None:
        """Zero the counters and clear the records (the fault settings stay)."""
        with self._lock:
            self._stats = FaultStats()
            self._records = []

    def _count(self, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                setattr(self._stats, name, getattr(self._stats, name) + n)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _take_429(self, path: str) -> Headers | None:
        """If this request is to be rate limited, the extra headers of its 429; else None."""
        if self.rate_limit_paths is not None and not _matches(path, self.rate_limit_paths):
            return None
        with self._lock:
            limited = False
            if self.rate_limit_burst > 0:
                self.rate_limit_burst -= 1
                limited = True
            elif self._burst_until and time.monotonic() < self._burst_until:
                limited = True
            elif self.rate_limit_every_nth > 0:
                self._every_nth_count += 1
                limited = self._every_nth_count % self.rate_limit_every_nth == 0
            if not limited:
                return None
            self._rate_limited_total += 1
            setting = self.rate_limit_retry_after
            if setting == "alternate":
                value: str | None = "1" if self._rate_limited_total % 2 == 1 else None
            elif setting is None:
                value = None
            elif isinstance(setting, (int, float)):
                value = str(int(setting)) if float(setting).is_integer() else str(setting)
            else:
                value = str(setting)
            self._stats.rate_limited += 1
            if value is not None:
                self._stats.retry_after_sent += 1
            return [("Retry-After", value)] if value is not None else []

    def _choose_failure(self, method: str, path: str) -> str | None:
        """None, "500", "drop:close" or "drop:partial" for a forwarded request."""
        if method != "POST" or not self.fail_after_rate or not _matches(path, self.fail_after_paths):
            return None
        with self._lock:
            if self._fail_rng.random() >= self.fail_after_rate:
                return None
            mode = self.drop_mode
            if mode == "mixed":
                mode = self._fail_rng.choice(("500", "drop"))
            if mode == "500":
                return "500"
            style = self.drop_style
            if style == "mixed":
                style = self._fail_rng.choice(("close", "partial"))
            return f"drop:{style}"

    def _shuffle(self, body: bytes) -> bytes | None:
        with self._lock:
            return shuffle_result_list(body, self._shuffle_rng)

    # ------------------------------------------------------------------ upstream

    def _forward(self, method: str, path: str, headers: Headers, body: bytes) -> tuple[int, str, Headers, bytes]:
        """Send the request upstream; (status, reason, headers, body) of its answer.

        Raises OSError or HTTPException on failure.
        """
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        cls = http.client.HTTPSConnection if self._upstream_scheme == "https" else http.client.HTTPConnection
        conn = cls(self._upstream_host, self._upstream_port, timeout=self.upstream_timeout)
        try:
            conn.putrequest(method, self._upstream_prefix + path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self._upstream_netloc)
            for name, value in headers:
                conn.putheader(name, value)
            if body or method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Connection", "close")
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()


def _matches(path: str, fragments: Iterable[str]) -> bool:
    """True if the path (query excluded) contains one of the fragments."""
    bare = path.split("?", 1)[0]
    return any(f in bare for f in fragments)


class _ProxyServer(http.server.ThreadingHTTPServer):
    """One daemon thread per client connection; errors of one connection never stop the server."""

    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fault proxy: error on a connection from %s", client_address, exc_info=True)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Reads a request, asks the proxy what to do with it, forwards it or not, answers or not."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def setup(self) -> None:
        self.timeout = self.server.proxy.client_timeout
        super().setup()
        with self.server.proxy._lock:
            self.server.proxy._connections.add(self.connection)

    def finish(self) -> None:
        with self.server.proxy._lock:
            self.server.proxy._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("fault proxy: " + format, *args)

    def handle_expect_100(self) -> bool:
        try:
            return super().handle_expect_100()
        except OSError:
            self.close_connection = True
            return False

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = lambda self: self._handle()

    # ------------------------------------------------------------------ one request

    def _handle(self) -> None:
        proxy = self.server.proxy
        method, path = self.command, self.path
        started = time.time()
        try:
            body = self._read_body()
        except ClientGone:
            self.close_connection = True
            proxy._count(client_disconnects=1)
            proxy._record(RequestRecord(method, path, None, ("client_disconnected",), None, started))
            return
        except ValueError as exc:
            proxy._count(requests=1)
            self._answer(RequestRecord(method, path, 400, ("bad_request",), None, started), "Bad Request",
                         [("Content-Type", "application/json")],
                         json_error(400, "Bad request", "bad_request", f"fault proxy: {exc}"), close=True)
            return
        proxy._count(requests=1)
        faults: list[str] = []

        extra = proxy._take_429(path)
        if extra is not None:
            headers = [("Content-Type", "application/json"), *extra]
            self._answer(RequestRecord(method, path, 429, ("429",), None, started), "Too Many Requests", headers,
                         json_error(429, "Too many requests", "rate_limited",
                                    "Rate limit exceeded (injected by the fault proxy)"))
            return

        forward_headers = [(k, v) for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP and k.lower() not in ("host", "content-length", "expect")]
        if proxy.first_part_only and method == "POST" and _matches(path, proxy.first_part_paths):
            try:
                body, removed = keep_first_file_part(body, self.headers.get("Content-Type"))
            except ValueError:
                removed = 0  # not parseable: forwarded as it is, the server judges it
            if removed:
                faults.append("first_part_only")
                proxy._count(rewritten=1, parts_removed=removed)

        try:
            status, reason, headers, data = proxy._forward(method, path, forward_headers, body)
        except (OSError, http.client.HTTPException) as exc:
            proxy._count(upstream_errors=1)
            faults.append("upstream_error")
            self._answer(RequestRecord(method, path, 502, tuple(faults), None, started), "Bad Gateway",
                         [("Content-Type", "application/json")],
                         json_error(502, "Bad gateway", "bad_gateway",
                                    f"fault proxy: upstream failed: {type(exc).__name__}: {exc}"))
            return
        proxy._count(forwarded=1)

        if proxy.shuffle_results and method == "POST" and 200 <= status < 300 and _matches(path, proxy.shuffle_paths):
            shuffled = proxy._shuffle(data)
            if shuffled is not None:
                data = shuffled
                faults.append("shuffle")
                proxy._count(shuffled=1)

        headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        content_length = next((v for k, v in headers if k.lower() == "content-length"), None)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        if method != "HEAD" or content_length is None:
            content_length = str(len(data))
        headers.append(("Content-Length", content_length))
        headers = filter_headers(headers, proxy.strip_headers, proxy.drop_header_prefixes)

        failure = proxy._choose_failure(method, path)
        if failure == "500":
            faults.append("500")
            proxy._count(injected_500=1)
            self._answer(RequestRecord(method, path, 500, tuple(faults), status, started), "Internal Server Error",
                         [("Content-Type", "application/json")],
                         json_error(500, "Internal server error", "server_error",
                                    "Failure injected by the fault proxy after processing"))
            return
        if failure is not None:
            faults.append(failure)
            proxy._count(dropped=1)
            proxy._record(RequestRecord(method, path, None, tuple(faults), status, started))
            self._drop(failure == "drop:partial", status, reason, headers, len(data))
            return

        self._answer(RequestRecord(method, path, status, tuple(faults), status, started), reason, headers,
                     b"" if method == "HEAD" else data, with_length=False)

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked). ClientGone if the client left; ValueError if malformed."""
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            raw = self.headers.get("Content-Length")
            length = int(raw) if raw not in (None, "") else 0
            if length < 0:
                raise ValueError(f"negative Content-Length {raw!r}")
            body = self.rfile.read(length) if length else b""
        except OSError as exc:  # reset, timeout
            raise ClientGone(str(exc)) from exc
        if len(body) < length:
            raise ClientGone(f"body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ClientGone("chunked body ended early")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailer section
                    trailer = self.rfile.readline(65537)
                    if not trailer:
                        raise ClientGone("chunked body ended early")
                    if trailer in (b"\r\n", b"\n"):
                        return b"".join(chunks)
            data = self.rfile.read(size)
            if len(data) < size:
                raise ClientGone("chunked body ended early")
            chunks.append(data)
            self.rfile.readline(65537)  # the CRLF after the chunk

    def _answer(self, record: RequestRecord, reason: str, headers: Headers, body: bytes, *, close: bool = False,
                with_length: bool = True) -> bool:
        """Record the request, then write a complete answer with status ``record.status``.

        Recording first keeps ``proxy.records`` in the order answers were decided (a client may
        send its next request as soon as it has read this answer). False, the record's status
        set to None and the connection closed, if the client is gone.
        """
        proxy = self.server.proxy
        status = record.status
        assert status is not None
        proxy._record(record)
        try:
            self.send_response_only(status, reason)
            for name, value in headers:
                self.send_header(name, value)
            if with_length:
                self.send_header("Content-Length", str(len(body)))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if body:
                self.wfile.write(body)
            self.wfile.flush()
            return True
        except OSError:
            self.close_connection = True
            with proxy._lock:
                record.status = None
                proxy._stats.client_disconnects += 1
            return False

    def _drop(self, partial: bool, status: int, reason: str, headers: Headers, length: int) -> None:
        """Break the connection after the request was processed.

        Without ``partial`` nothing of the answer is written; with it the status line,
        ``Content-Length`` and half a header line go out. Then the socket is shut down both
        ways and closed, so the client sees EOF at once (never a hang).
        """
        self.close_connection = True
        try:
            if partial:
                lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {max(length, 1)}"]
                lines += [f"{k}: {v}" for k, v in headers if k.lower() != "content-length"]
                head = "\r\n".join(lines[:2]) + "\r\n"
                rest = lines[2] if len(lines) > 2 else "Content-Type: application/json"
                head += rest[: max(1, len(rest) // 2)]
                self.wfile.write(head.encode("latin-1", "replace"))
                self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


__all__ = [
    "FaultProxy", "FaultStats", "RequestRecord", "filter_headers", "keep_first_file_part",
    "split_multipart", "join_multipart", "part_name", "multipart_boundary", "shuffle_result_list",
    "json_error", "HOP_BY_HOP", "DROP_MODES", "DROP_STYLES",
]
