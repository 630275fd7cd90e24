"""Waiting for training to end, for every model type: poll the model until it is trained or failed."""
from __future__ import annotations

from collections.abc import Callable

from .errors import TrainingFailedError, TrainingTimeoutError
from .types import STATE_FAILED, STATE_TRAINED, Model


def wait_until_trained(get_model: Callable[[str], Model], model_id: str, *, timeout: float, poll_interval: float,
                       on_update: Callable[[Model], object] | None, sleep: Callable[[float], object],
                       monotonic: Callable[[], float]) -> Model:
    """Poll ``get_model(model_id)`` until training ends; return the model trained (state 5).

    Any state but 5 (trained) and -1 (failed) counts as "not yet": a service may report other states
    than 3 and 4 for a while after training starts. ``on_update(model)`` is called on the first
    observation and whenever the state or the status text changes. Raises TrainingFailedError
    (``.model`` says why) if training fails, and TrainingTimeoutError after ``timeout`` seconds.
    """
    if poll_interval <= 0:
        raise ValueError("poll_interval must be positive")
    deadline = monotonic() + timeout
    last: tuple[int, str] | None = None
    while True:
        model = get_model(model_id)
        if (model.state, model.status) != last:
            last = (model.state, model.status)
            if on_update is not None:
                on_update(model)
        if model.state == STATE_TRAINED:
            return model
        if model.state == STATE_FAILED:
            raise TrainingFailedError(
                f"Training of model {model_id} failed" + (f": {model.status}" if model.status else ""), model=model)
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise TrainingTimeoutError(
                f"Model {model_id} was still in state {model.state} ({model.state_name}) after {timeout:g} s",
                hint="Wait longer, or check again later with get_model()", model=model)
        sleep(min(poll_interval, remaining))


__all__ = ["wait_until_trained"]
