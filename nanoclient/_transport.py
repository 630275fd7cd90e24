"""HTTP for the SDK: one pooled session, auth, timeouts, retries with backoff, error mapping.

This module knows nothing of the Nanonets API (no paths, no field names): ``client.py``
says what to send, ``Transport.request`` sends it and returns the decoded JSON or raises
the ``nanoclient.errors`` class for what went wrong.

Retry policy (``max_retries`` extra attempts, like openai-python):

* retried: connection failures (refused, reset, broken mid-response), read timeouts,
  HTTP 408, 429 and 5xx;
* never retried: any other 4xx, TLS errors (a TLS handshake that gets no answer included: the
  port speaks plain HTTP), a server that does not answer in HTTP, and 2xx bodies that are not JSON;
* wait before retry ``n`` (0-based): ``min(0.5 * 2**n, 8)`` seconds, less up to 25 % jitter,
  or the server's ``Retry-After`` (seconds or an HTTP date, capped at 60 s) when it sends one;
* a request marked ``idempotent=False`` (it creates or stores something) is retried only when
  the server surely did not act on it: the connection could not be opened, or the answer was
  429 or 503. After any other failure (a read timeout, a connection dropped once the request
  went out, another 5xx) it raises, and ``may_have_been_processed(error)`` says so: the caller
  finds out what happened before sending it again (``client.py`` does, for uploads).

Each attempt waits at most ``timeout`` seconds for each part of the answer, and at most
``connect_timeout`` (10 s, or ``timeout`` if shorter) to connect, TLS handshake included: https://
to a plain-HTTP server that stays silent is said after that, not after the whole timeout.

Every request of a Transport holds a slot of one ``AdaptiveLimit`` while it is on the wire, so
that a 429 or 503 slows every thread of the client down together (see ``_throttle``).

File parts are opened when an attempt starts and streamed from disk, so a retry re-reads
them and no file is ever held in memory whole.

The API key travels only in the ``Authorization`` header. It is never put in a URL, an
exception, a log line or a ``repr``; exceptions of ``requests`` (whose request objects carry
the header) are not chained to the errors raised here.
"""
from __future__ import annotations

import base64
import copy
import email.utils
import io
import ipaddress
import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ._throttle import AdaptiveLimit
from .errors import (
    INVALID_IMAGE_REASON,
    MODEL_NOT_TRAINED_REASON,
    UNKNOWN_PATH_REASON,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    InvalidImageError,
    ModelNotTrainedError,
    NanonetsError,
    RateLimitError,
    ServerError,
    error_class_for_status,
)

log = logging.getLogger("nanoclient")

#: First wait between attempts, in seconds; doubled on every retry.
INITIAL_RETRY_DELAY = 0.5
#: Longest computed wait between attempts, in seconds.
MAX_RETRY_DELAY = 8.0
#: Longest wait a server's Retry-After can impose, in seconds.
MAX_RETRY_AFTER = 60.0
#: Statuses worth another attempt (besides every 5xx).
RETRY_STATUSES = frozenset({408, 429})
#: Statuses meaning the server did not act on the request, so even a creating call may be retried.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
#: Statuses telling the client to slow down: they shrink the adaptive limit on requests in flight.
THROTTLE_STATUSES = frozenset({429, 503})
#: Connections kept open per host: enough for the largest worker pools the client uses.
DEFAULT_POOL_SIZE = 32
#: Longest wait to open a connection, TLS handshake included (urllib3 runs the handshake under the connect
#: timeout). Shorter than the default 30 s attempt: a handshake that gets no answer in 10 s is a plain-HTTP
#: server waiting for a request line, and a refused or dropped SYN is retried anyway.
CONNECT_TIMEOUT = 10.0
#: Bytes read from a file per chunk while streaming a multipart body.
CHUNK_SIZE = 256 * 1024

#: Form fields: (name, value) pairs, so that a name may repeat (``categories=a&categories=b``).
FormFields = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class FilePart:
    """A file to send as one part of a multipart body: ``data`` when given (the file's bytes, already
    read), else read from ``path`` when the request goes out."""

    field: str
    path: str | os.PathLike[str]
    filename: str
    content_type: str = "application/octet-stream"
    data: bytes | None = None


@dataclass(frozen=True)
class Reply:
    """A successful answer: its status, its headers and its decoded JSON body (None when empty)."""

    status: int
    data: Any
    headers: Mapping[str, str]


class _BasicKeyAuth(requests.auth.AuthBase):
    """HTTP Basic auth with the API key as user name and an empty password; its repr hides the key."""

    def __init__(self, api_key: str) -> None:
        token = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
        self._header = f"Basic {token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "<HTTP Basic auth: API key hidden>"


#: One random boundary per process, not per request: as unlikely to occur in a file, and a
#: server that compiles a parser per boundary (Werkzeug does, about 1 ms) can reuse it.
_BOUNDARY = os.urandom(16).hex()


class MultipartBody:
    """A multipart/form-data body streamed from open files (or made of parts' bytes already read),
    with a known length.

    ``requests`` sends it with a Content-Length header, reading it in chunks; nothing but
    the part headers (and parts given as bytes) is held in memory. ``seek(0)`` rewinds it
    (used on redirects). When every part is bytes, ``in_memory()`` gives it whole, to send at once.
    """

    def __init__(self, fields: FormFields, files: Sequence[tuple[FilePart, IO[bytes] | None]]) -> None:
        self.boundary = _BOUNDARY
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        # Each segment is bytes, or (open file, size): the size is fixed when the body is made.
        self._segments: list[bytes | tuple[IO[bytes], int]] = []
        for name, value in fields:
            self._segments.append(self._part_header(name, None, None) + str(value).encode("utf-8") + b"\r\n")
        for part, handle in files:
            self._segments.append(self._part_header(part.field, part.filename, part.content_type))
            if handle is None:  # the part's bytes are at hand
                self._segments.append(part.data or b"")
            else:
                self._segments.append((handle, os.fstat(handle.fileno()).st_size))
            self._segments.append(b"\r\n")
        self._segments.append(f"--{self.boundary}--\r\n".encode("ascii"))
        self._length = sum(len(s) if isinstance(s, bytes) else s[1] for s in self._segments)
        self._position = 0
        self._index = 0
        self._offset = 0  # within the current segment

    def _part_header(self, name: str, filename: str | None, content_type: str | None) -> bytes:
        disposition = f'form-data; name="{_quote_param(name)}"'
        if filename is not None:
            disposition += f'; filename="{_quote_param(filename)}"'
        lines = [f"--{self.boundary}", f"Content-Disposition: {disposition}"]
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def __len__(self) -> int:
        return self._length

    def in_memory(self) -> bytes | None:
        """The whole body as bytes when no part is read from a file (sent at once), else None."""
        if all(isinstance(segment, bytes) for segment in self._segments):
            return b"".join(segment for segment in self._segments if isinstance(segment, bytes))
        return None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset != 0 or whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a multipart body can only be rewound to the start")
        self._position = self._index = self._offset = 0
        return 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (all that is left if ``size`` is negative or None)."""
        wanted = self._length - self._position if size is None or size < 0 else size
        out = bytearray()
        while len(out) < wanted and self._index < len(self._segments):
            segment = self._segments[self._index]
            if isinstance(segment, bytes):
                piece = segment[self._offset:self._offset + wanted - len(out)]
                seg_len = len(segment)
            else:
                handle, seg_len = segment
                handle.seek(self._offset)
                piece = handle.read(min(wanted - len(out), seg_len - self._offset))
                if not piece and self._offset < seg_len:
                    raise OSError(f"{getattr(handle, 'name', 'a file')} became shorter while it was being sent")
            out += piece
            self._offset += len(piece)
            if self._offset >= seg_len:
                self._index += 1
                self._offset = 0
        self._position += len(out)
        return bytes(out)


def _quote_param(value: str) -> str:
    """A name or file name for a Content-Disposition header (the HTML5 form encoding rules)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class Transport:
    """One pooled ``requests.Session`` bound to a base URL and an API key; safe to share between threads.

    ``sleep`` and ``random`` are injectable so that tests of the retry policy do not wait.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        pool_size: int = DEFAULT_POOL_SIZE,
        user_agent: str = "nanoclient",
        deadline: float | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        sleep: Callable[[float], Any] | None = None,
        random: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries cannot be negative")
        if timeout <= 0 or connect_timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout = float(timeout)
        #: Seconds to open a connection, TLS handshake included (never more than ``timeout``).
        self.connect_timeout = float(connect_timeout)
        self.max_retries = int(max_retries)
        self.pool_size = int(pool_size)
        #: Seconds a request may take in all, its retries and waits included (None: only max_retries counts).
        self.deadline = deadline
        self._sleep = sleep or _sleep
        self._random = random or _random
        self._clock = clock
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.auth = _BasicKeyAuth(api_key)
        session.headers["User-Agent"] = user_agent
        session.headers["Accept"] = "application/json"
        # A server on this machine is never reached through an HTTP(S)_PROXY from the environment.
        session.trust_env = not is_loopback_host(urlsplit(self.base_url).hostname or "")
        self._session = session
        #: Requests in flight at most, shrunk by 429 and 503 answers and grown back by successes.
        self.limit = AdaptiveLimit(self.pool_size)

    def __repr__(self) -> str:
        return f"Transport({self.base_url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (relative to the base URL)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def rebased(self, base_url: str) -> Transport:
        """A transport for another base URL of the same server: the same session (key, pool), limit and policy."""
        other = copy.copy(self)
        other.base_url = base_url.rstrip("/")
        return other

    def request(
        self,
        method: str,
        path: str,
        *,
        params: FormFields | None = None,
        form: FormFields | None = None,
        files: Sequence[FilePart] | None = None,
        idempotent: bool = True,
        json_body: Any = None,
        timeout: float | None = None,
        retry_timeouts: bool = True,
    ) -> Any:
        """Send a request (retrying as the policy says) and return its decoded JSON body.

        ``form`` is sent form-urlencoded, or as multipart fields when there are ``files``; ``json_body``
        (instead of a form) as a JSON body. ``timeout``: this request's wait per attempt instead of the
        transport's (still within the deadline); ``retry_timeouts=False``: an attempt that got no answer in
        time, or a 504 (a gateway's timeout), is not sent again (the server may still be working on it); other
        failures retry as usual.
        Raises the ``nanoclient.errors`` class matching the failure.
        """
        return self.send(method, path, params=params, form=form, files=files, idempotent=idempotent,
                         json_body=json_body, timeout=timeout, retry_timeouts=retry_timeouts).data

    def send(
        self,
        method: str,
        path: str,
        *,
        params: FormFields | None = None,
        form: FormFields | None = None,
        files: Sequence[FilePart] | None = None,
        idempotent: bool = True,
        json_body: Any = None,
        timeout: float | None = None,
        retry_timeouts: bool = True,
    ) -> Reply:
        """Like ``request``, but return the whole successful answer: status, headers and JSON body."""
        url = self.url(path)
        per_attempt = self.timeout if timeout is None else float(timeout)
        started = self._clock()
        attempt = 0
        while True:
            pause = 0.0 if attempt else self.limit.pause_remaining()  # a retry has just waited its own delay
            if pause > 0:  # another request was told to wait: so is this one
                self._sleep(pause)
            # an attempt never outlasts the deadline: a silent server costs the deadline, not timeout x attempts
            wait = per_attempt
            if self.deadline is not None:
                wait = max(0.5, min(wait, self.deadline - (self._clock() - started)))
            self.limit.acquire()
            throttled, retry_after = False, None
            try:
                response = self._send_once(method, url, params, form, files, wait, json_body)
            except _Retryable as failure:
                self.limit.release()
                error: NanonetsError = failure.error
                if not (idempotent or failure.not_sent) or not (retry_timeouts or failure.not_sent
                                                                or not isinstance(error, APITimeoutError)):
                    raise error from None
                delay = self._backoff(attempt)
            except BaseException:
                self.limit.release()
                raise
            else:
                status = response.status_code
                throttled = status in THROTTLE_STATUSES
                if throttled:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                self.limit.release(throttled=throttled, retry_after=min(retry_after or 0.0, MAX_RETRY_AFTER))
                if 200 <= status < 300:
                    return Reply(status, _decode_success(response, method, url), response.headers)
                error = error_from_response(response, method, url)
                retryable = (status in RETRY_STATUSES or status >= 500) and (retry_timeouts or status != 504)
                if not retryable or not (idempotent or status in NOT_PROCESSED_STATUSES):
                    raise error
                if retry_after is None:
                    retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                delay = self._backoff(attempt) if retry_after is None else min(retry_after, MAX_RETRY_AFTER)
            spent = self._clock() - started
            out_of_time = self.deadline is not None and spent + delay > self.deadline
            if attempt >= self.max_retries or out_of_time:
                raise _gave_up(error, attempt + 1, spent) from None
            log.info("%s failed: %s; attempt %d of %d in %.1f s", _short(method, url), _one_line(error),
                     attempt + 2, self.max_retries + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): exponential, capped, jittered."""
        delay = min(INITIAL_RETRY_DELAY * 2.0 ** attempt, MAX_RETRY_DELAY)
        return delay * (1 - 0.25 * self._random())

    def _send_once(
        self,
        method: str,
        url: str,
        params: FormFields | None,
        form: FormFields | None,
        files: Sequence[FilePart] | None,
        timeout: float,
        json_body: Any = None,
    ) -> requests.Response:
        """One attempt of at most ``timeout`` seconds per wait (each read; connecting and the TLS handshake
        at most ``connect_timeout``): open the files, send, read the whole answer; failures become
        _Retryable or errors."""
        handles: list[IO[bytes]] = []
        try:
            headers: dict[str, str] = {}
            data: Any = list(form) if form else None
            if json_body is not None:
                headers["Content-Type"] = "application/json"
                data = json.dumps(json_body).encode("utf-8")
            if files:
                opened: list[tuple[FilePart, IO[bytes] | None]] = []
                for part in files:
                    if part.data is None:
                        handles.append(_open_part(part))
                    opened.append((part, None if part.data is not None else handles[-1]))
                body = MultipartBody(list(form or ()), opened)
                headers["Content-Type"] = body.content_type
                data = body.in_memory() or body
            connect = min(timeout, self.connect_timeout)
            try:
                return self._session.request(
                    method, url, params=list(params) if params else None, data=data, headers=headers,
                    timeout=(connect, timeout),
                )
            except requests.exceptions.SSLError as exc:
                if _plain_http_answer(exc):  # https:// to a plain-HTTP server that answered at once
                    raise APIConnectionError(
                        f"{_netloc(url)} answered in plain HTTP, not TLS: use http:// instead of https:// in the "
                        "base URL",
                        method=method, url=url, request_sent=False, diagnosis="scheme") from None
                raise APIConnectionError(f"TLS error talking to {_netloc(url)} ({_reason(exc)})",
                                      method=method, url=url, request_sent=False) from None
            except requests.exceptions.ProxyError as exc:
                raise _Retryable(APIConnectionError(_proxy_failure(self._session, url, exc), method=method,
                                                    url=url, request_sent=False, diagnosis="proxy"),
                                 not_sent=True) from None
            except requests.exceptions.ConnectTimeout as exc:
                if _selected_proxy(self._session, url):  # the connection that timed out was the proxy's
                    raise _Retryable(APIConnectionError(_proxy_failure(self._session, url, exc), method=method,
                                                        url=url, request_sent=False, diagnosis="proxy"),
                                     not_sent=True) from None
                raise _Retryable(APIConnectionError(
                    f"Could not connect to {_address(url)} within {_seconds(connect)} s ({_reason(exc)})",
                    method=method, url=url, request_sent=False), not_sent=True) from None
            except requests.exceptions.ReadTimeout as exc:
                if _tls_handshake_timed_out(exc):  # https:// to a plain-HTTP server: another try is no better
                    raise APIConnectionError(
                        f"The TLS handshake for {method} {_address(url)} got no answer within {_seconds(connect)} s: "
                        f"does {_netloc(url)} speak plain HTTP? If so, use http:// instead of https:// in the "
                        "base URL",
                        method=method, url=url, request_sent=False, diagnosis="scheme") from None
                raise _Retryable(APITimeoutError(
                    f"No response from {method} {_address(url)} within {_seconds(timeout)} s",
                    method=method, url=url)) from None
            except requests.exceptions.ConnectionError as exc:
                if _not_http(exc):  # http:// to a TLS server, or another protocol: another try is no better
                    raise APIConnectionError(
                        f"{_netloc(url)} does not answer in HTTP: is it an https:// server, or another service?",
                        method=method, url=url, request_sent=False, diagnosis="scheme") from None
                not_sent = _never_connected(exc)
                if not_sent and _selected_proxy(self._session, url):  # a SOCKS proxy fails as a connection does
                    raise _Retryable(APIConnectionError(_proxy_failure(self._session, url, exc), method=method,
                                                        url=url, request_sent=False, diagnosis="proxy"),
                                     not_sent=True) from None
                what = (f"Could not connect to {_netloc(url)}" if not_sent
                        else "The connection broke before the response was complete")
                raise _Retryable(APIConnectionError(f"{what} ({_reason(exc)})", method=method, url=url,
                                                 request_sent=not not_sent), not_sent=not_sent) from None
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
                raise _Retryable(APIConnectionError(
                    f"The connection broke before the response was complete ({_reason(exc)})",
                    method=method, url=url)) from None
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema) as exc:
                bad_proxy = _bad_proxy_url(self._session, url, exc)
                if bad_proxy:  # the proxy's URL is what requests could not use, not the API's
                    raise ValueError(bad_proxy) from None
                raise ValueError(f"Invalid URL {url} ({_reason(exc)})") from None
            except requests.exceptions.TooManyRedirects:
                raise ServerError(f"Too many redirects from {_netloc(url)}", method=method, url=url) from None
            except requests.exceptions.RequestException as exc:  # anything else: still ours, never chained
                raise APIConnectionError(f"Request to {_netloc(url)} failed ({_reason(exc)})",
                                      method=method, url=url) from None
        finally:
            for handle in handles:
                handle.close()


class _Retryable(Exception):
    """An attempt failed in a way that another attempt may fix; ``error`` is what to raise if none does."""

    def __init__(self, error: NanonetsError, *, not_sent: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        #: True when the request surely never reached the server (safe to retry even a creating call).
        self.not_sent = not_sent


def _gave_up(error: NanonetsError, attempts: int, spent: float) -> NanonetsError:
    """``error``, its message saying how long the client tried (the one raised after the last attempt)."""
    if attempts > 1:
        error.message = f"{error.message} (gave up after {attempts} attempts over {spent:.0f} s)"
        error.args = (error.message,)
    return error


def _short(method: str, url: str) -> str:
    """'POST UploadFile/' for a log line: the method and the operation, not the whole URL."""
    path = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return f"{method} {path}/"


def _one_line(error: NanonetsError) -> str:
    status = getattr(error, "status", None)
    return f"HTTP {status}" + (f" ({error.message})" if error.message else "") if status else error.message


def _tls_handshake_timed_out(exc: BaseException) -> bool:
    """True when a read timeout happened in the TLS handshake (the server is not speaking TLS)."""
    return any(isinstance(item, OSError) and "handshake" in str(item).lower() for item in _causes(exc))


def _plain_http_answer(exc: BaseException) -> bool:
    """True when a TLS handshake failed because the server answered in plain HTTP (OpenSSL's "wrong
    version number", or "record layer failure" / "packet length too long" in some versions)."""
    text = " ".join(str(item) for item in _causes(exc)).lower()
    return any(sign in text for sign in ("wrong version number", "record layer failure", "packet length too long",
                                         "http request"))


def _proxy_failure(session: requests.Session, url: str, exc: BaseException) -> str:
    """What to say when the proxy (not the API) could not be reached or refused: which proxy, from
    which setting, and how to go around it."""
    return (f"Could not reach {_address(url)} through {_proxy_in_use(session, url)} ({_reason(exc)}): "
            f"check the proxy, or bypass it with NO_PROXY={urlsplit(url).hostname}")


def _bad_proxy_url(session: requests.Session, url: str, exc: BaseException) -> str:
    """What to say when requests cannot use the proxy's URL (malformed, or SOCKS without PySocks);
    '' when no proxy is in use or ``url`` itself is what is wrong."""
    proxy = _selected_proxy(session, url)
    if not proxy:
        return ""
    try:
        requests.Request("GET", url).prepare()
    except requests.exceptions.RequestException:
        return ""
    reason = _hide_credentials_in(_reason(exc), proxy)  # a parse error quotes pieces of the URL
    return (f"Cannot use {_proxy_in_use(session, url)} for {_address(url)} ({reason}): fix it, or bypass it "
            f"with NO_PROXY={urlsplit(url).hostname}")


def _selected_proxy(session: requests.Session, url: str) -> str:
    """The proxy requests uses for ``url`` (from the session, else the environment), or ''."""
    from requests.utils import get_environ_proxies, select_proxy

    proxies = dict(session.proxies)
    if session.trust_env:
        proxies.update({k: v for k, v in get_environ_proxies(url).items() if k not in proxies})
    return select_proxy(url, proxies) or ""


def _proxy_in_use(session: requests.Session, url: str) -> str:
    """'the proxy http://***@host:3128 (from HTTPS_PROXY)': the proxy requests chose for ``url``, its
    credentials hidden, and the environment variable it came from ('a proxy' if none is found)."""
    proxy = _selected_proxy(session, url)
    if not proxy:
        return "a proxy"
    scheme = urlsplit(url).scheme
    source = next((name for name in (f"{scheme.upper()}_PROXY", f"{scheme}_proxy", "ALL_PROXY", "all_proxy")
                   if os.environ.get(name) == proxy), "")
    return f"the proxy {_hide_credentials(proxy)}" + (f" (from {source})" if source else "")


def _hide_credentials(proxy: str) -> str:
    """A proxy's URL with any user name and password replaced by ***, with or without a scheme (users
    set ``user:secret@host:3128``, which requests then refuses, and that error names it too)."""
    scheme, sep, rest = proxy.partition("://") if "://" in proxy else ("", "", proxy)
    if "@" not in rest:
        return proxy
    # up to the last @, not the first /: a password may hold an unescaped / (a proxy's URL has no path)
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


def _hide_credentials_in(text: str, proxy: str) -> str:
    """``text``, or 'not a valid URL' if it quotes any piece of the proxy's user name or password."""
    rest = proxy.partition("://")[2] if "://" in proxy else proxy
    userinfo = rest.rpartition("@")[0]
    pieces = [piece for piece in re.split(r"[:/@]", userinfo) if piece]
    return "not a valid URL" if any(piece in text for piece in pieces) else text


def _seconds(value: float) -> str:
    """Seconds for a message: '30', '2.5', '0.25' (an attempt cut short by the deadline is no '4.99999')."""
    return f"{value:.2g}" if value < 1 else f"{round(value, 1):g}"


def _address(url: str) -> str:
    """The URL without its query string (which may hold a model id but never the key): scheme, host, port, path."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


def _not_http(exc: BaseException) -> bool:
    """True when the server answered, but not in HTTP (urllib3/http.client's BadStatusLine)."""
    return any(type(item).__name__ == "BadStatusLine" for item in _causes(exc))


def may_have_been_processed(error: BaseException) -> bool:
    """True when a failed request may still have been carried out by the server.

    A read timeout, a connection that broke after the request went out, a 5xx other than 503
    and a 2xx that could not be read leave the outcome unknown; a refused connection, a 429,
    a 503 and any other 4xx mean that nothing was done.
    """
    if isinstance(error, APIConnectionError):  # APITimeoutError included: request_sent stays True
        return error.request_sent
    if isinstance(error, ServerError):
        return error.status not in NOT_PROCESSED_STATUSES
    return False


def _open_part(part: FilePart) -> IO[bytes]:
    """The file of a part, open for reading; an OSError naming the path if it cannot be read."""
    try:
        return open(part.path, "rb")
    except OSError as exc:
        raise type(exc)(f"Cannot read {os.fspath(part.path)}: {exc.strerror or exc}") from None


def _decode_success(response: requests.Response, method: str, url: str) -> Any:
    """The JSON body of a 2xx response (a body that is not JSON is a server fault)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ServerError(
            f"HTTP {response.status_code} from server (not JSON): {_snippet(response)}",
            status=response.status_code, method=method, url=url, from_api=False,
        ) from None


def error_from_response(response: requests.Response, method: str, url: str) -> APIStatusError:
    """The ``nanoclient.errors`` exception for a non-2xx response, filled from its JSON error body."""
    status = response.status_code
    cls = error_class_for_status(status)
    message: str | None = None
    errors: list[dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        if body.get("message"):
            message = str(body["message"])
        raw = body.get("errors")
        if isinstance(raw, list):
            errors = [item if isinstance(item, dict) else {"message": str(item)} for item in raw]
    if message is None:
        if body is None and response.content:
            message = f"HTTP {status} from server (not JSON): {_snippet(response)}"
        else:
            message = f"HTTP {status} {response.reason or ''}".rstrip()
    if cls is BadRequestError and errors and all(e.get("reason") == INVALID_IMAGE_REASON for e in errors):
        cls = InvalidImageError  # the local server's InvalidImageError, named the same on this side
    elif cls is BadRequestError and any(e.get("reason") == MODEL_NOT_TRAINED_REASON for e in errors):
        cls = ModelNotTrainedError
    # The API answers errors as JSON objects with a message; anything else (an HTML page, another
    # service's JSON, the local server's "no such path") says that the URL is not the API's.
    from_api = isinstance(body, Mapping) and "message" in body and not any(
        e.get("reason") == UNKNOWN_PATH_REASON for e in errors)
    kwargs: dict[str, Any] = {"status": status, "method": method, "url": url, "errors": errors, "from_api": from_api}
    if cls is RateLimitError:
        kwargs["retry_after"] = _retry_after_seconds(response.headers.get("Retry-After"))
    return cls(message, **kwargs)


def _snippet(response: requests.Response) -> str:
    """The first 100 characters of a body, on one line."""
    text = response.content[:400].decode("utf-8", errors="replace")
    return " ".join(text.split())[:100]


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, seconds)


def _never_connected(exc: BaseException) -> bool:
    """True when a requests ConnectionError happened while opening the connection (nothing was sent)."""
    from urllib3.exceptions import NewConnectionError

    return any(isinstance(item, NewConnectionError) for item in _causes(exc))


def _reason(exc: BaseException) -> str:
    """A short, one-line cause of a requests exception (e.g. 'connection refused')."""
    causes = _causes(exc)
    for item in causes:
        if type(item).__name__ == "NameResolutionError":
            return "host name not resolved"
    for item in reversed(causes):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror[:1].lower() + item.strerror[1:]
    innermost = causes[-1]
    text = " ".join(str(innermost).split())
    return text[:160] if text else type(innermost).__name__


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception it wraps (args, ``reason``, context), outermost first."""
    found: list[BaseException] = []
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        queue.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            queue.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                queue.append(linked)
    return found


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (no name lookup: other names count as remote)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _netloc(url: str) -> str:
    parts = urlsplit(url)
    if not parts.hostname:
        return url
    return parts.hostname + (f":{parts.port}" if parts.port else "")


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests may patch time.sleep


def _random() -> float:
    return random.random()


__all__ = ["Transport", "Reply", "FilePart", "MultipartBody", "error_from_response", "is_loopback_host",
           "may_have_been_processed", "DEFAULT_POOL_SIZE"]
