"""``nanoclient train`` and ``nanoclient status``, with ``--wait``."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from .._framework import CliFailure, Interrupted, State, api_command, cli, format_model, info

if TYPE_CHECKING:

    from ...types import Model

# --------------------------------------------------------------------------- train / status


def wait_for_training(state: State, model_id: str, timeout: float, poll_interval: float, *,
                      ocr: bool = False) -> Model:
    """Wait for training to end (of an OCR model with ``ocr``), naming each state the model passes through on
    stderr (Ctrl-C: exit 130)."""
    from ...errors import TrainingTimeoutError

    def show(model: Model) -> None:
        info(f"state {model.state} ({model.state_name})" + (f": {model.status}" if model.status else ""))

    resource = state.client().ocr if ocr else state.client()
    again = "nanoclient ocr status --wait" if ocr else "nanoclient status --wait"
    try:
        return resource.wait_until_trained(model_id, timeout=timeout, poll_interval=poll_interval, on_update=show)
    except KeyboardInterrupt as exc:
        raise Interrupted(f"model {model_id} goes on training on the server; wait for it again with `{again}`") \
            from exc
    except TrainingTimeoutError as exc:
        if state.debug:
            raise
        raise CliFailure(f"training did not finish within {timeout:g} s; check again with `{again}`") from exc


_wait_options = [
    click.option("--wait-timeout", "timeout", type=click.FloatRange(min=0, min_open=True), default=3600.0,
                 show_default=True, metavar="S", help="With --wait: give up after S seconds (exit 1)."),
    click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
                 metavar="S", help="With --wait: seconds between status checks."),
]


def wait_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--wait-timeout and --poll-interval, for commands with --wait."""
    for option in reversed(_wait_options):
        func = option(func)
    return func


@api_command(cli)
@click.option("--wait", is_flag=True, help="Wait until training ends, showing each state change.")
@wait_options
def train(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Train the model (--wait to wait until it is trained).

    Exits with 1 if training fails or --wait-timeout passes first. Ctrl-C stops the waiting, not
    the training (exit 130): `nanoclient status --wait` waits again.

    \b
    Examples:
      nanoclient train --wait
      nanoclient train --wait --wait-timeout 600 --json
    """
    model_id = state.model_id()
    model = state.client().train(model_id)
    info(f"training model {model_id}: {model.state_name}")
    if wait:
        model = wait_for_training(state, model_id, timeout, poll_interval)
    state.emit({"model": model.to_json()}, "\n".join(format_model(model)))


@api_command(cli)
@click.option("--wait", is_flag=True, help="If the model is queued or training, wait until that ends.")
@wait_options
def status(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Show the model's state, images per category and accuracy.

    With --wait, Ctrl-C stops the waiting, not the training (exit 130).

    \b
    Examples:
      nanoclient status
      nanoclient status --wait --json
    """
    from ...types import STATE_QUEUED, STATE_TRAINING

    model_id = state.model_id()
    model = state.client().get_model(model_id)
    if wait and model.state in (STATE_QUEUED, STATE_TRAINING):
        model = wait_for_training(state, model_id, timeout, poll_interval)
    state.emit({"model": model.to_json()}, "\n".join(format_model(model)))


