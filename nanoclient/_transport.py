"""HTTP transport: one pooled session, auth, timeouts, retries and error mapping.

Knows nothing of the API's operations: it sends a request to a path under the base URL and
either returns the decoded JSON body or raises the matching ``nanoclient.errors`` class.

Retry policy (like openai-python's): connection errors, read timeouts, 408, 429 and 5xx are
retried up to ``max_retries`` times with capped exponential backoff and jitter, honouring
``Retry-After``; every other status is final at once.
"""
from __future__ import annotations

import email.utils
import ipaddress
import random
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import errors
from ._version import __version__

#: Statuses worth another attempt: timeout, conflict of a concurrent change, rate limit, server faults.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0

#: A file to send: (field name, (file name, opener returning a fresh binary stream, content type)).
FilePart = Tuple[str, Tuple[str, Callable[[], Any], str]]


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses that never leave this machine."""
    name = (host or "").strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class Transport:
    """Sends requests under ``base_url`` with the key as HTTP Basic username, retrying what is safe."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        pool_size: int = 16,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise errors.BadRequestError(f"Base URL must be an http(s) URL, not {base_url!r}")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise errors.BadRequestError(
                f"Refusing to send the API key over plain http to {parts.hostname}",
                hint="Use an https:// base URL (plain http is only allowed for 127.0.0.1 / localhost)",
            )
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self._sleep = sleep
        self._session = requests.Session()
        self._session.auth = (api_key, "")
        self._session.headers["User-Agent"] = f"nanoclient/{__version__}"
        self._session.headers["Accept"] = "application/json"
        self._session.trust_env = False if is_loopback_host(parts.hostname) else True
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def url(self, path: str) -> str:
        """The full URL of ``path`` (relative to the base URL)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Dict[str, Any]] = None,
        data: Any = None,
        files: Optional[Sequence[FilePart]] = None,
        ok_statuses: Iterable[int] = (200, 201, 202),
    ) -> Tuple[int, Any]:
        """Send the request (retrying what is safe); return (status, decoded JSON body).

        ``files`` are opened anew for every attempt, so a retried upload sends whole files.
        """
        url = self.url(path)
        ok = set(ok_statuses)
        attempt = 0
        while True:
            try:
                response = self._send(method, url, params, data, files)
            except requests.exceptions.Timeout as exc:
                error: errors.NanonetsError = errors.TimeoutError(
                    f"No answer within {self.timeout:g} s", method=method, url=url
                )
                error.__cause__ = exc
                retry_after = None
            except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                error = errors.ConnectionError(_connection_message(exc), method=method, url=url)
                error.__cause__ = exc
                retry_after = None
            else:
                if response.status_code in ok:
                    return response.status_code, _decode(response, method, url)
                error = error_from_response(response, method, url)
                retry_after = getattr(error, "retry_after", None)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt >= self.max_retries:
                raise error
            self._sleep(self._backoff(attempt, retry_after))
            attempt += 1

    def _send(self, method: str, url: str, params: Any, data: Any, files: Optional[Sequence[FilePart]]) -> requests.Response:
        if not files:
            return self._session.request(method, url, params=params, data=data, timeout=self.timeout)
        handles: List[Any] = []
        try:
            parts = []
            for field, (name, opener, ctype) in files:
                handle = opener()
                handles.append(handle)
                parts.append((field, (name, handle, ctype)))
            return self._session.request(method, url, params=params, data=data, files=parts, timeout=self.timeout)
        finally:
            for handle in handles:
                handle.close()

    @staticmethod
    def _backoff(attempt: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        delay = min(INITIAL_BACKOFF * (2 ** attempt), MAX_BACKOFF)
        return delay * (1 - 0.25 * random.random())


def _connection_message(exc: Exception) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "Connection refused"
    if "reset" in text.lower() or "aborted" in text.lower() or "RemoteDisconnected" in text:
        return "Connection broken before the answer was complete"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "Host name could not be resolved"
    return f"Connection failed ({type(exc).__name__})"


def _decode(response: requests.Response, method: str, url: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        snippet = response.text[:100].strip().replace("\n", " ")
        raise errors.ServerError(
            f"HTTP {response.status_code} from server was not JSON: {snippet!r}",
            status=response.status_code, method=method, url=url,
        ) from exc


def error_from_response(response: requests.Response, method: str, url: str) -> errors.NanonetsError:
    """The nanoclient error for a non-success response (JSON error body or not)."""
    status = response.status_code
    cls = errors.error_class_for_status(status)
    message = f"HTTP {status}"
    details: List[Dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        snippet = response.text[:100].strip().replace("\n", " ")
        message = f"HTTP {status} {response.reason or ''} from server (not JSON): {snippet!r}".replace("  ", " ")
    else:
        if isinstance(body, dict):
            message = str(body.get("message") or message)
            raw = body.get("errors")
            if isinstance(raw, list):
                details = [e for e in raw if isinstance(e, dict)]
    kwargs: Dict[str, Any] = {"status": status, "method": method, "url": url, "errors": details}
    if cls is errors.RateLimitError:
        kwargs["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
    error = cls(message, **kwargs)
    if status >= 500 or status == 429 or status == 408:
        error.retry_after = parse_retry_after(response.headers.get("Retry-After"))  # type: ignore[attr-defined]
    return error
