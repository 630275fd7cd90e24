"""The exceptions nanoclient raises, one class per failure a caller can act on.

    NanonetsError                    base of everything below
    ├── APIStatusError               the server answered with an error status (``status``)
    │   ├── BadRequestError          400: a missing field, unknown category, model not ready, ...
    │   │   ├── InvalidImageError    400: not a valid PNG or JPEG; also raised before sending
    │   │   │                        (then ``status`` is None), and a ValueError too
    │   │   └── ModelNotTrainedError 400: no finished training to predict with (local server)
    │   ├── AuthenticationError      401: missing or unknown API key
    │   ├── PaymentRequiredError     402: quota exhausted (hosted plans)
    │   ├── NotFoundError            404: model unknown to this API key (``model_type``: of
    │   │                            another type, whose paths serve it)
    │   ├── PayloadTooLargeError     413: request larger than the server accepts
    │   ├── RateLimitError           429: too many requests; ``retry_after`` in seconds
    │   └── ServerError              5xx, or an answer that is not the API's JSON
    ├── APIConnectionError           the server could not be reached, or the connection broke
    │   └── APITimeoutError          no answer in time
    ├── TrainingFailedError          the model reached state -1; ``model`` says why
    ├── TrainingTimeoutError         ``wait_until_trained`` ran out of time
    └── UploadInProgressError        another upload is using the same upload journal (``pid``)

Every error carries ``message`` (the server's text, or ours), ``method`` and ``url`` of the
request when there was one, and ``errors`` (the detail list of the JSON error body, whose
first message is ``hint``). None of them ever contains the API key: it travels only in the
``Authorization`` header, which is never copied here.

Arguments that cannot be right (an empty model id, no categories, ``workers=0``, a base URL
that is not http(s)) raise ``ValueError`` or ``TypeError`` before anything is sent; a file that
does not exist raises ``FileNotFoundError``.

``ConnectionError`` and ``TimeoutError``, the names of 0.x, remain as aliases of
``APIConnectionError`` and ``APITimeoutError`` for one release.
"""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .types import Model

#: The ``errors[].reason`` by which an API error body says that an image is not valid.
INVALID_IMAGE_REASON = "invalid_image"
#: The ``errors[].reason`` of a prediction asked of a model with no finished training.
MODEL_NOT_TRAINED_REASON = "model_not_trained"
#: The ``errors[].reason`` of a model asked for on the paths of another type (its ``model_type`` beside).
OTHER_MODEL_TYPE_REASON = "other_model_type"

#: One detail of a JSON error body: ``{"reason": ..., "message": ...}`` and perhaps more.
ErrorDetail = dict[str, Any]


class NanonetsError(Exception):
    """Base class of every error raised by nanoclient."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        errors: list[ErrorDetail] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.errors: list[ErrorDetail] = list(errors or [])
        if hint and not self.errors:
            self.errors = [{"message": hint}]

    @property
    def hint(self) -> str | None:
        """The first detail message of the error body, usually what to do about it."""
        for item in self.errors:
            if isinstance(item, dict) and item.get("message"):
                return str(item["message"])
        return None

    def _label(self) -> str:
        return self.message

    def __str__(self) -> str:
        text = self._label()
        if self.method and self.url and self.url.split("?", 1)[0] not in text:  # unless the message names it
            text = f"{text} ({self.method} {self.url})"
        hint = self.hint
        if hint and hint not in self.message:  # a message that already says it is not said twice
            text = f"{text}: {hint}"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


#: The ``errors[].reason`` by which the local server says that a path is no API operation.
UNKNOWN_PATH_REASON = "unknown_path"


class APIStatusError(NanonetsError):
    """The server answered with an error status; ``status`` is the status received.

    ``from_api`` is False when the answer did not come from an operation of the API (an HTML
    page, JSON of another shape, a path the server does not know): the base URL is probably
    wrong, whatever the status says.
    """

    def __init__(self, message: str, *, status: int | None = None, from_api: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        self.from_api = from_api

    def _label(self) -> str:
        return self.message if self.status is None else f"{self.status} {self.message}"


class BadRequestError(APIStatusError):
    """400: the request is invalid (a missing field, an unknown category, a model not ready)."""


class ModelNotTrainedError(BadRequestError):
    """400: the model has no finished training to predict with (train it, and wait for state 5).

    Raised for a 400 whose details give the reason ``model_not_trained`` (the local server's); the hosted
    service says it in words only, which stay a BadRequestError.
    """


class InvalidImageError(BadRequestError, ValueError):
    """The bytes are not a valid PNG or JPEG image (corrupt, truncated, other format, too big).

    Raised for a 400 whose details say so, and before sending for a file that is not an image
    (``status`` None).
    """


class AuthenticationError(APIStatusError):
    """401: the API key is missing or unknown."""


class PaymentRequiredError(APIStatusError):
    """402: the account's quota is exhausted."""


class NotFoundError(APIStatusError):
    """404: the model does not exist for this API key (``model_type``: the local server found it, of another
    model type, whose paths serve it)."""

    @property
    def model_type(self) -> str | None:
        """The type of the model asked for, when the server says it is of another type than the path's."""
        for item in self.errors:
            if isinstance(item, dict) and item.get("reason") == OTHER_MODEL_TYPE_REASON and item.get("model_type"):
                return str(item["model_type"])
        return None


class PayloadTooLargeError(APIStatusError):
    """413: the request is larger than the server accepts."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` is the number of seconds to wait, if given."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx, or an answer that is not the API's JSON: the server failed (idempotent calls were retried)."""


#: What the client found wrong when a server could not be talked to: the proxy between them
#: (``"proxy"``), or the base URL's scheme (``"scheme"``: https:// to a plain-HTTP server, http:// to
#: a TLS one, or a port that does not speak HTTP).
Diagnosis = Literal["proxy", "scheme"]


class APIConnectionError(NanonetsError, builtins.ConnectionError):
    """The server could not be reached, or the connection broke mid-response.

    ``request_sent`` is False when the request surely never reached the server (the
    connection could not be opened), True when it may have been received and acted on.
    ``diagnosis`` is ``"proxy"`` when the proxy (HTTPS_PROXY, ...) failed rather than the server,
    ``"scheme"`` when the base URL's scheme does not match what the port speaks, None otherwise;
    the message then says what to change.
    """

    def __init__(self, message: str, *, request_sent: bool = True, diagnosis: Diagnosis | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent
        self.diagnosis = diagnosis


class APITimeoutError(APIConnectionError, builtins.TimeoutError):
    """No answer within the request's timeout (the request may have been acted on)."""


class TrainingFailedError(NanonetsError):
    """Training ended in state -1; ``model.status`` says why."""

    def __init__(self, message: str, *, model: Model | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: The model as last seen.
        self.model = model


class TrainingTimeoutError(NanonetsError, builtins.TimeoutError):
    """``wait_until_trained`` gave up before training ended; ``model`` is the model as last seen."""

    def __init__(self, message: str, *, model: Model | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.model = model


class UploadInProgressError(NanonetsError):
    """Another upload (``pid``: its process) holds the upload journal this one would use: two at once
    to the same model would confuse the counts by which each keeps its files stored once."""

    def __init__(self, message: str, *, pid: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.pid = pid


#: The 0.x names, kept for one release: use APIConnectionError and APITimeoutError.
ConnectionError = APIConnectionError
TimeoutError = APITimeoutError

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP error status (5xx -> ServerError, other 4xx -> BadRequestError)."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, BadRequestError)


__all__ = [
    "NanonetsError",
    "APIStatusError",
    "BadRequestError",
    "InvalidImageError",
    "AuthenticationError",
    "PaymentRequiredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "TrainingFailedError",
    "TrainingTimeoutError",
    "UploadInProgressError",
    "ConnectionError",
    "TimeoutError",
    "INVALID_IMAGE_REASON",
    "MODEL_NOT_TRAINED_REASON",
    "OTHER_MODEL_TYPE_REASON",
    "ModelNotTrainedError",
    "UNKNOWN_PATH_REASON",
    "error_class_for_status",
]
