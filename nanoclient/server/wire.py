"""How the local server puts a failure on the wire: the status and JSON error body of docs/api.md.

The backend raises the error classes of ``nanoclient.errors`` (the same names the SDK raises
on the other side); this table says which HTTP status and ``errors[].reason`` each one is
sent as. It is the server's alone: the SDK's exceptions know nothing of rendering.
"""
from __future__ import annotations

from ..errors import (
    INVALID_IMAGE_REASON,
    MODEL_NOT_TRAINED_REASON,
    AuthenticationError,
    BadRequestError,
    InvalidImageError,
    ModelNotTrainedError,
    NanonetsError,
    NotFoundError,
    PayloadTooLargeError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
)


class ServiceUnavailableError(ServerError):
    """503: a failure injected by --fail-rate before anything was done (retrying is right)."""


class FailedAfterProcessingError(ServerError):
    """500: a failure injected by --fail-after-rate once the request was processed (blind retries duplicate)."""


#: Status and reason of each error class; a subclass not listed takes its nearest listed base's.
_WIRE: dict[type[NanonetsError], tuple[int, str]] = {
    BadRequestError: (400, "bad_request"),
    InvalidImageError: (400, INVALID_IMAGE_REASON),
    ModelNotTrainedError: (400, MODEL_NOT_TRAINED_REASON),
    AuthenticationError: (401, "unauthorized"),
    PaymentRequiredError: (402, "payment_required"),
    NotFoundError: (404, "not_found"),
    PayloadTooLargeError: (413, "payload_too_large"),
    RateLimitError: (429, "rate_limited"),
    ServerError: (500, "server_error"),
    ServiceUnavailableError: (503, "unavailable"),
    FailedAfterProcessingError: (500, "injected_after_processing"),
}


def wire_form(exc: NanonetsError) -> tuple[int, str]:
    """(HTTP status, reason) for an error raised while serving a request (500 for anything unknown)."""
    for cls in type(exc).__mro__:
        if cls in _WIRE:
            return _WIRE[cls]
    return 500, "server_error"


def error_body(exc: NanonetsError) -> dict[str, object]:
    """The JSON error body of docs/api.md: message, code and details, each detail with a reason."""
    status, reason = wire_form(exc)
    details = exc.errors or [{"message": exc.message}]
    return {
        "message": exc.message,
        "code": status,
        "errors": [{"reason": reason, **detail} if "reason" not in detail else detail for detail in details],
    }


__all__ = ["ServiceUnavailableError", "FailedAfterProcessingError", "wire_form", "error_body"]
