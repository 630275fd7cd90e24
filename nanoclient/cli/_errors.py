"""The one line a failed command prints, by what failed (``error_line``)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from .._env import HOSTED_BASE_URL

if TYPE_CHECKING:
    from ..errors import APIStatusError
    from ._framework import State

#: A rule of the table: the line for a failure it knows, or None to leave it to the next rules.
Rule = Callable[["Failure"], "str | None"]


class Failure(NamedTuple):
    """What a rule sees of a failure: the exception, the command's state (None outside a command), the
    server it talked to, and the exception's message with its hint."""

    exc: Any
    state: State | None
    base_url: str
    detail: str

    def source(self, setting: str, otherwise: str) -> str:
        """Where a setting ("api_key", "base_url") came from: ``otherwise`` outside a command."""
        return self.state.settings.source_of(setting) if self.state else otherwise

    def where(self) -> str:
        """" (from ...)" naming where the base URL came from, or "" when it came from nowhere."""
        source = self.source("base_url", "nowhere")
        return "" if source == "nowhere" else f" (from {source})"


def error_line(exc: BaseException, state: State | None) -> str:
    """One line that says what went wrong and what to do about it: the first rule of ``_rules()``
    for the exception's class that has a line for it."""
    hint = getattr(exc, "hint", None)
    detail = getattr(exc, "message", None) or str(exc)
    if hint and hint not in detail:  # a message that already says it is not said twice
        detail = f"{detail} ({hint})"
    failure = Failure(exc, state, state.base_url if state else "the server", detail)
    for kind, rule in _rules():
        if isinstance(exc, kind):
            line = rule(failure)
            if line is not None:
                return line
    return f"{type(exc).__name__}: {exc}"


@functools.cache
def _rules() -> tuple[tuple[type[BaseException], Rule], ...]:
    """(exception class, rule) in the order they are tried: the narrower before the wider."""
    from .. import errors

    return (
        (errors.APIStatusError, _wrong_base_url),
        (errors.AuthenticationError, lambda f: f"the API key from {f.source('api_key', 'the API key')} was refused "
                                               f"by {f.base_url}: check NANONETS_API_KEY or --api-key"),
        (errors.NotFoundError, _no_such_model),
        (errors.InvalidImageError, lambda f: f"invalid image: {f.detail}"),
        (errors.PaymentRequiredError, lambda f: f"the account's quota is exhausted: {f.detail}; upgrade the plan "
                                                "or wait for the quota to renew"),
        (errors.PayloadTooLargeError, _too_large),
        (errors.RateLimitError, lambda f: f"too many requests to {f.base_url}, even after retrying: wait "
                                          f"{f'{f.exc.retry_after:g} s' if f.exc.retry_after else 'a while'} "
                                          "and try again"),
        (errors.ServerError, lambda f: f"the server at {f.base_url} failed"
                                       f"{f' ({f.exc.status})' if f.exc.status else ''}: {f.detail}; try again later"),
        (errors.TrainingFailedError, _training_failed),
        (errors.APITimeoutError, lambda f: f"timed out: {f.detail}; --timeout SECONDS sets how long a request may "
                                           "take"),
        (errors.APIConnectionError, _connection),
        (errors.ModelNotTrainedError, _not_trained),
        (errors.NanonetsError, lambda f: str(f.exc)),
        (OSError, lambda f: f"{f.exc.strerror or f.exc}: {f.exc.filename}" if f.exc.filename else str(f.exc)),
        (ValueError, lambda f: str(f.exc)),
    )


def _wrong_base_url(f: Failure) -> str | None:
    """An answer no API operation gave (an HTML page, JSON of another shape): the base URL is wrong."""
    if not _not_from_the_api(f.exc):
        return None
    status = f"{f.exc.status} " if f.exc.status and not f.detail.startswith(("HTTP", str(f.exc.status))) else ""
    return (f"{f.base_url}{f.where()} does not look like the API's base URL, which looks like "
            f"{HOSTED_BASE_URL} or http://127.0.0.1:8765/api/v2; it answered {status}{f.detail}")


def _no_such_model(f: Failure) -> str:
    model = f.state.settings.model_id if f.state else None
    what = f"model {model}" if model else "the model"
    if f.exc.model_type:  # the server found it, of another type: say whose commands serve it
        from . import COMMANDS_OF_TYPE

        kind, commands = COMMANDS_OF_TYPE.get(f.exc.model_type, (f"a model of type {f.exc.model_type}", ""))
        use = f": use the `{commands}` commands for it" if commands else ""
        return f"{what} is {kind}{use}"
    return f"{what} does not exist at {f.base_url} for this API key: check --model-id (see `nanoclient models`)"


def _not_trained(f: Failure) -> str:
    group = f.state.command_path.split()[1:-1] if f.state is not None else []  # that of the command that failed
    train = " ".join(["nanoclient", *group, "train --wait"])
    return f"the model is not trained yet: run `{train}` first (the server said: {f.exc.message})"


def _too_large(f: Failure) -> str:
    kind = "a prediction" if "/Label" in (f.exc.url or "") else "an upload"
    return (f"the server refused {kind} request as too large: {f.detail}; send fewer files per request "
            "(--batch-size) or smaller images")


def _training_failed(f: Failure) -> str:
    why = getattr(getattr(f.exc, "model", None), "status", None) or f.detail
    if not why.lower().startswith("training failed"):
        why = f"training failed: {why}"
    return f"{why}; check the images and run `nanoclient train` again"


def _connection(f: Failure) -> str:
    """The server could not be reached: through a proxy, with the wrong scheme, or after sending (maybe done)."""
    if f.exc.diagnosis == "proxy":  # not the server's fault
        return f"proxy error: {f.detail}"
    if f.exc.diagnosis == "scheme":
        return f"cannot talk to {f.base_url}{f.where()}: {f.detail}"
    if f.exc.request_sent:  # it may have been carried out
        return (f"the connection to {f.base_url} broke before its answer: {f.detail}; the server may have done it, "
                "so check (`nanoclient models`, `nanoclient status`) before running the command again")
    return f"cannot reach {f.base_url}: is the server running? ({f.detail})"


def _not_from_the_api(exc: APIStatusError) -> bool:
    """True when an answer came from no API operation (``from_api`` False), which a wrong base URL explains.

    Not for 5xx, 408 or 429: a proxy's error page in front of the right URL looks the same, and those pass.
    """
    return not exc.from_api and exc.status not in (408, 429) and (exc.status or 0) < 500


__all__ = ["error_line", "Failure", "Rule"]
