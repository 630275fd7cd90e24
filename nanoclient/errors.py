"""The exceptions nanoclient raises, one class per failure a caller can act on.

    NanonetsError                 base of everything below
    ├── BadRequestError           400: a missing field, unknown category, invalid image, model
    │   │                         not ready; also raised *before* sending a request that the
    │   │                         server would refuse (missing file, empty category list, ...)
    │   └── InvalidImageError     bytes that are not a valid PNG or JPEG
    ├── AuthenticationError       401: missing or unknown API key
    ├── PaymentRequiredError      402: quota exhausted (hosted plans)
    ├── NotFoundError             404: model unknown to this API key
    ├── PayloadTooLargeError      413: upload larger than the server accepts
    ├── RateLimitError            429: too many requests; ``retry_after`` in seconds
    ├── ServerError               5xx: a server fault (retried for you first)
    ├── TrainingFailedError       the model reached state -1; ``model`` says why
    ├── TimeoutError              a request or a wait ran out of time
    └── ConnectionError           the server could not be reached

Every error carries ``status`` (HTTP status, or None), ``message`` (the server's text),
``method`` and ``url`` of the request when there was one, and ``errors`` (the detail list
of the JSON error body). None of them ever contains the API key: it travels only in the
``Authorization`` header, which is never copied here.

The local server raises these same classes from its backend and renders them as the JSON
error body of API.md, so the two sides agree on what each failure is called.
"""
from __future__ import annotations

import builtins
from typing import Any


class NanonetsError(Exception):
    """Base class of every error raised by nanoclient."""

    #: HTTP status that this class stands for (used by the local server to render it).
    http_status: int = 500
    #: Short machine-readable reason, as in the ``errors[].reason`` field of API.md.
    reason: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        url: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.url = url
        self.errors = list(errors or [])
        if hint and not self.errors:
            self.errors = [{"reason": self.reason, "message": hint}]

    @property
    def hint(self) -> str | None:
        """The first detail message of the error body, usually what to do about it."""
        for item in self.errors:
            if isinstance(item, dict) and item.get("message"):
                return str(item["message"])
        return None

    def __str__(self) -> str:
        text = self.message
        if self.status is not None:
            text = f"{self.status} {text}"
        if self.method and self.url:
            text = f"{text} ({self.method} {self.url})"
        hint = self.hint
        if hint and hint != self.message:
            text = f"{text}: {hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def to_body(self) -> dict[str, Any]:
        """The JSON error body of API.md for this error."""
        errors = self.errors or [{"reason": self.reason, "message": self.message}]
        return {"message": self.message, "code": self.http_status, "errors": errors}


class BadRequestError(NanonetsError):
    """400: the request is invalid (or would be, if it were sent)."""

    http_status = 400
    reason = "bad_request"


class InvalidImageError(BadRequestError):
    """The bytes are not a valid PNG or JPEG image (corrupt, truncated, other format, too big)."""

    reason = "invalid_image"


class AuthenticationError(NanonetsError):
    """401: the API key is missing or unknown."""

    http_status = 401
    reason = "unauthorized"


class PaymentRequiredError(NanonetsError):
    """402: the account's quota is exhausted."""

    http_status = 402
    reason = "payment_required"


class NotFoundError(NanonetsError):
    """404: the model does not exist for this API key."""

    http_status = 404
    reason = "not_found"


class PayloadTooLargeError(NanonetsError):
    """413: the upload is larger than the server accepts."""

    http_status = 413
    reason = "payload_too_large"


class RateLimitError(NanonetsError):
    """429: too many requests; ``retry_after`` is the number of seconds to wait, if given."""

    http_status = 429
    reason = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(NanonetsError):
    """5xx: the server failed; idempotent calls were already retried."""

    http_status = 500
    reason = "server_error"


class TrainingFailedError(NanonetsError):
    """Training ended in state -1; ``model.status`` says why."""

    reason = "training_failed"

    def __init__(self, message: str, *, model: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.model = model


class TimeoutError(NanonetsError, builtins.TimeoutError):
    """A request, or a wait for training, took longer than allowed."""

    http_status = 504
    reason = "timeout"


class ConnectionError(NanonetsError, builtins.ConnectionError):
    """The server could not be reached, or the connection broke mid-response.

    ``request_sent`` is False when the request surely never reached the server (the
    connection could not be opened), True when it may have been received and acted on.
    """

    http_status = 503
    reason = "connection_error"

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type:
    """The exception class for an HTTP error status (5xx -> ServerError, other 4xx -> BadRequestError)."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, BadRequestError)


__all__ = [
    "NanonetsError",
    "BadRequestError",
    "InvalidImageError",
    "AuthenticationError",
    "PaymentRequiredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServerError",
    "TrainingFailedError",
    "TimeoutError",
    "ConnectionError",
    "error_class_for_status",
]
