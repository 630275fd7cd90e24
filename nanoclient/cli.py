"""The ``nanoclient`` command: the image classification workflow from a terminal.

Commands only format: they take settings (``config``), call the SDK (``Client``) and print.
Shared pieces, for whoever adds a command:

* ``@api_command(group)`` registers a command that takes the global options (``--json``,
  ``--quiet``, ``--debug``, ``--retries``, ``--api-key``, ``--base-url``, ``--model-id``: each
  accepted before and after the command name, the later one winning) and receives
  ``state: State`` first; ``state.client()`` and ``state.model_id()`` fail with the line
  that says what to set.
* ``state.emit(data, text)`` prints the JSON (``--json``) or the text result on stdout;
  ``info()`` prints messages on stderr (not with ``--quiet``), ``warn()`` problems with files
  (always); ``state.progress(total)`` is a tqdm bar on stderr.
* Exit codes (README.md): 0 success; 1 the work failed (API, network, files; some files
  failed); 2 usage error; 130 interrupted. Every nanoclient error raised in a command becomes
  one line on stderr (``error_line``), or with ``--json`` one JSON object
  (``{"error": {"type", "message", "status", "hint"}}``, ``error_object``), and stdout stays
  empty; ``--debug`` shows the traceback instead.

Heavy modules (requests, Pillow, numpy, tqdm) are imported inside commands, so that
``nanoclient --help`` and shell completion stay fast.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ._env import HOSTED_BASE_URL, RETRIES_ENV, TIMEOUT_ENV, mask_key
from ._tuning import (
    DEFAULT_PREDICT_BATCH_SIZE,
    DEFAULT_PREDICT_WORKERS,
    DEFAULT_UPLOAD_BATCH_SIZE,
    DEFAULT_UPLOAD_WORKERS,
    MAX_WORKERS,
)
from ._version import __version__

if TYPE_CHECKING:  # imported for annotations only: `nanoclient --help` loads none of them
    from pathlib import Path

    from tqdm import tqdm

    from . import config
    from .client import Client
    from .errors import APIStatusError
    from .types import Model, PathLike

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: Seconds one request may take in all, its retries and their waits included: past it the command
#: says what failed and how long it tried, instead of going on in silence (--timeout sets it).
REQUEST_DEADLINE = 300.0
#: Seconds one attempt may wait for the server (to connect, for each part of its answer).
ATTEMPT_TIMEOUT = 30.0
#: Retries per request. Higher than the SDK's 3: a CLI run is often a long unattended upload.
#: (An upload is resent blindly only when surely not processed, or to a server that deduplicates.)
DEFAULT_RETRIES = 10

#: Files listed one by one in a skip report before the rest are summarised.
MAX_LISTED = 20


class CliUsageError(click.ClickException):
    """A setting or argument is missing or wrong: one line, exit code 2."""

    exit_code = 2


class CliFailure(click.ClickException):
    """The work could not be done (API, network, files): one line, exit code 1."""

    exit_code = 1


#: The exit code of a command interrupted by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


class Interrupted(click.ClickException):
    """Ctrl-C ended the command: what was left undone and how to go on, exit code 130."""

    exit_code = EXIT_INTERRUPTED

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"\ninterrupted: {self.format_message()}", err=True)  # after the terminal's ^C


# --------------------------------------------------------------------------- state


class State:
    """What a command invocation knows: the flags given, output mode, and the client once made."""

    def __init__(self, debug: bool = False) -> None:
        self.flags: dict[str, str | None] = {"api_key": None, "base_url": None, "model_id": None}
        self.json = False
        self.quiet = False
        self.debug = debug
        self.retries = DEFAULT_RETRIES
        self.timeout = REQUEST_DEADLINE
        self._settings: config.Settings | None = None
        self._client: Client | None = None

    @property
    def settings(self) -> config.Settings:
        """Flags, environment and config file resolved (flag > env > file)."""
        from . import config

        if self._settings is None:
            try:
                flags = self.flags
                self._settings = config.resolve(flags["api_key"], flags["base_url"], flags["model_id"])
            except config.ConfigFileError as exc:
                raise CliUsageError(str(exc)) from exc
        return self._settings

    def client(self) -> Client:
        """The SDK client for the resolved key and base URL (made once, closed with the context)."""
        if self._client is None:
            settings = self.settings
            if not settings.api_key:
                raise CliUsageError("no API key: set NANONETS_API_KEY or pass --api-key")
            from .client import Client

            self._client = Client(api_key=settings.api_key, base_url=settings.base_url, max_retries=self.retries,
                                  timeout=min(ATTEMPT_TIMEOUT, self.timeout), deadline=self.timeout)
            click.get_current_context().call_on_close(self._client.close)
            if not self.quiet:
                _show_retries()
        return self._client

    @property
    def base_url(self) -> str:
        """The base URL in use (the client's default when none was set)."""
        if self._client is not None:
            return str(self._client.base_url)
        return self.settings.base_url or "the Nanonets API"

    def model_id(self) -> str:
        """The model id from --model-id, NANONETS_MODEL_ID or the config file."""
        model_id = self.settings.model_id
        if not model_id:
            raise CliUsageError("no model id: pass --model-id or set NANONETS_MODEL_ID")
        return model_id

    def emit(self, data: Any, text: str | None = None) -> None:
        """The command's result on stdout: JSON with --json, else ``text`` (if any)."""
        if self.json:
            import json

            click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        elif text is not None:
            click.echo(text)

    def progress(self, total: int, unit: str = "img", *, min_total: int = 2) -> tqdm[NoReturn]:
        """A tqdm bar on stderr; silent with --json or --quiet, off a terminal, or for fewer than ``min_total``."""
        from tqdm import tqdm

        disable = self.json or self.quiet or total < min_total or not _is_tty(sys.stderr)
        return tqdm(total=total, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True, leave=False)


#: The name of the logging handler that prints the SDK's retries.
_RETRY_LINES = "nanoclient-cli-retries"


def _show_retries() -> None:
    """Print each retry of the SDK as one line on stderr: what failed, the wait, and the attempt
    (once per process, however many commands run in it). ``logging`` is imported only here: it
    costs ``--help`` a tenth of its start-up."""
    import logging

    class RetryLines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            click.echo(f"retrying: {record.getMessage()}", err=True)

    logger = logging.getLogger("nanoclient")
    if not any(handler.get_name() == _RETRY_LINES for handler in logger.handlers):
        handler = RetryLines(logging.INFO)
        handler.set_name(_RETRY_LINES)
        handler.addFilter(lambda record: record.getMessage().find("; attempt ") > 0)
        logger.addHandler(handler)
        logger.setLevel(min(logger.level or logging.INFO, logging.INFO))


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def info(message: str) -> None:
    """A message for the user, on stderr (stdout holds only results); --quiet silences it."""
    context = click.get_current_context(silent=True)
    state = context.find_object(State) if context is not None else None
    if state is None or not state.quiet:
        click.echo(message, err=True)


def warn(message: str) -> None:
    """A problem the user must see even with --quiet (a file skipped or failed), on stderr."""
    click.echo(message, err=True)


# --------------------------------------------------------------------------- errors


def error_line(exc: BaseException, state: State | None) -> str:
    """One line that says what went wrong and what to do about it."""
    from . import errors

    base_url = state.base_url if state else "the server"
    hint = getattr(exc, "hint", None)
    detail = getattr(exc, "message", None) or str(exc)
    if hint and hint != detail:
        detail = f"{detail} ({hint})"
    if isinstance(exc, errors.APIStatusError) and _not_from_the_api(exc):
        source = state.settings.source_of("base_url") if state else "nowhere"
        where = "" if source == "nowhere" else f" (from {source})"
        status = f"{exc.status} " if exc.status and not detail.startswith(("HTTP", str(exc.status))) else ""
        return (f"{base_url}{where} does not look like the API's base URL, which looks like "
                f"{HOSTED_BASE_URL} or http://127.0.0.1:8765/api/v2; it answered {status}{detail}")
    if isinstance(exc, errors.AuthenticationError):
        source = state.settings.source_of("api_key") if state else "the API key"
        return f"the API key from {source} was refused by {base_url}: check NANONETS_API_KEY or --api-key"
    if isinstance(exc, errors.NotFoundError):
        model = state.settings.model_id if state else None
        what = f"model {model}" if model else "the model"
        return f"{what} does not exist at {base_url} for this API key: check --model-id (see `nanoclient models`)"
    if isinstance(exc, errors.InvalidImageError):
        return f"invalid image: {detail}"
    if isinstance(exc, errors.PaymentRequiredError):
        return f"the account's quota is exhausted: {detail}; upgrade the plan or wait for the quota to renew"
    if isinstance(exc, errors.PayloadTooLargeError):
        kind = "a prediction" if "/Label" in (exc.url or "") else "an upload"
        return (f"the server refused {kind} request as too large: {detail}; send fewer files per request "
                "(--batch-size) or smaller images")
    if isinstance(exc, errors.RateLimitError):
        wait = f" {exc.retry_after:g} s" if exc.retry_after else " a while"
        return f"too many requests to {base_url}, even after retrying: wait{wait} and try again"
    if isinstance(exc, errors.ServerError):
        status = f" ({exc.status})" if exc.status else ""
        return f"the server at {base_url} failed{status}: {detail}; try again later"
    if isinstance(exc, errors.TrainingFailedError):
        model = getattr(exc, "model", None)
        why = getattr(model, "status", None) or detail
        if not why.lower().startswith("training failed"):
            why = f"training failed: {why}"
        return f"{why}; check the images and run `nanoclient train` again"
    if isinstance(exc, errors.APITimeoutError):
        return f"timed out: {detail}; --timeout SECONDS sets how long a request may take"
    if isinstance(exc, errors.APIConnectionError) and exc.diagnosis == "proxy":  # not the server's fault
        return f"proxy error: {detail}"
    if isinstance(exc, errors.APIConnectionError) and exc.diagnosis == "scheme":
        source = state.settings.source_of("base_url") if state else "nowhere"
        where = "" if source == "nowhere" else f" (from {source})"
        return f"cannot talk to {base_url}{where}: {detail}"
    if isinstance(exc, errors.APIConnectionError) and exc.request_sent:  # it may have been carried out
        return (f"the connection to {base_url} broke before its answer: {detail}; the server may have done it, "
                "so check (`nanoclient models`, `nanoclient status`) before running the command again")
    if isinstance(exc, errors.APIConnectionError):
        return f"cannot reach {base_url}: is the server running? ({detail})"
    if isinstance(exc, errors.BadRequestError) and "not trained" in exc.message.lower():
        return f"the model is not trained yet: run `nanoclient train --wait` first (the server said: {exc.message})"
    if isinstance(exc, errors.BadRequestError):
        return detail
    if isinstance(exc, errors.NanonetsError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _not_from_the_api(exc: APIStatusError) -> bool:
    """True when an answer came from no API operation (``from_api`` False), which a wrong base URL explains.

    Not for 5xx, 408 or 429: a proxy's error page in front of the right URL looks the same, and those pass.
    """
    return not exc.from_api and exc.status not in (408, 429) and (exc.status or 0) < 500


#: Commands whose module is imported only when they run or their help is asked for, so that
#: `nanoclient --help` stays fast: name -> (module, attribute, the first line of its help).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("nanoclient.server.command", "serve",
              "Run the Image Categorization API on this machine, with real storage and training."),
}


class NanoGroup(click.Group):
    """The command group: nanoclient and file errors become one line and exit code 1, an argument
    the SDK refuses (ValueError) one line and exit code 2 (unless --debug). Commands of
    LAZY_COMMANDS are loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, attribute, _ = LAZY_COMMANDS[cmd_name]
            try:
                self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
            except ImportError:  # an install without the server module
                return None
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of --help, without loading the lazy commands for their one line."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            if name in LAZY_COMMANDS and name not in self.commands:
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][2])  # shortened as click shortens
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        from .errors import InvalidImageError, NanonetsError

        try:
            return super().invoke(ctx)
        except (NanonetsError, OSError, ValueError) as exc:
            state = ctx.find_object(State)
            if state is not None and state.debug:
                raise
            if isinstance(exc, ValueError) and not isinstance(exc, InvalidImageError):
                raise CliUsageError(error_line(exc, state)) from exc
            raise CliFailure(error_line(exc, state)) from exc

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        """click's main, but an error is one JSON object with --json, and Ctrl-C exits with 130."""
        argv = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, False, **extra)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except click.ClickException as exc:
            show_error(exc, as_json=_wants_json(argv))
            code = exc.exit_code
        except click.Abort as exc:
            if not isinstance(exc.__cause__, KeyboardInterrupt):  # end of input at a prompt: click's way
                click.echo("Aborted!", err=True)
                sys.exit(1)
            if _wants_json(argv):
                interrupted = Interrupted("the command did not finish")
                interrupted.__cause__ = exc.__cause__
                show_error(interrupted, as_json=True)
            code = EXIT_INTERRUPTED
        sys.exit(code if isinstance(code, int) else 0)


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the command line asks for --json (before any ``--``), as click parses it."""
    options = argv[: list(argv).index("--")] if "--" in argv else argv
    return "--json" in options


def show_error(exc: click.ClickException, *, as_json: bool) -> None:
    """Show a command's error on stderr: click's way (one line), or one JSON object (``error_object``)."""
    if not as_json:
        exc.show()
        return
    import json

    click.echo(json.dumps({"error": error_object(exc)}, ensure_ascii=False), err=True)


def error_object(exc: click.ClickException) -> dict[str, Any]:
    """An error as JSON: ``{"type", "message", "status", "hint"}``.

    ``type`` is "UsageError" for every usage error (exit code 2), else the class of the exception
    behind it (``NotFoundError``, ``FileNotFoundError``, ``KeyboardInterrupt``, ...); ``message`` is
    the line shown without --json; ``status`` the HTTP status received, if any; ``hint`` what to do.
    """
    cause = exc.__cause__
    if exc.exit_code == 2:
        kind = "UsageError"
    else:
        kind = type(cause if cause is not None else exc).__name__
    hint = getattr(cause, "hint", None)
    if hint is None and isinstance(exc, click.UsageError) and exc.ctx is not None:
        hint = f"Try '{exc.ctx.command_path} {exc.ctx.help_option_names[0]}' for help."
    status = getattr(cause, "status", None)
    return {"type": kind, "message": exc.format_message(), "status": status if isinstance(status, int) else None,
            "hint": hint}


# --------------------------------------------------------------------------- options


def _as_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A path option's value (or values) as ``pathlib.Path``; pathlib is imported only when a command
    runs, not for ``--help`` (whose start-up it would lengthen by a twentieth)."""
    from pathlib import Path

    if value is None:
        return None
    return tuple(Path(v) for v in value) if isinstance(value, tuple) else Path(value)


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that puts the option's value, when given, into the State (the last one given wins)."""

    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value
        if value == "":
            raise click.BadParameter("cannot be empty: leave it out to use the environment or the config file",
                                     ctx=ctx, param=param)
        state = ctx.ensure_object(State)
        if name in state.flags:
            state.flags[name] = value
        else:
            setattr(state, name, value)
        return value

    return callback


def global_options(*, on_group: bool) -> list[click.Option]:
    """The options of the group and of every command (so they work before and after its name), kept in the State.

    Only the group's --retries reads NANOCLIENT_RETRIES and has a default: a command's --retries, when
    given, overrides it.
    """
    retries_from: dict[str, Any] = {"default": DEFAULT_RETRIES, "envvar": RETRIES_ENV} if on_group else {}
    timeout_from: dict[str, Any] = {"default": REQUEST_DEADLINE, "envvar": TIMEOUT_ENV} if on_group else {}
    return [
        click.Option(["--json"], is_flag=True, expose_value=False, callback=_store("json"),
                     help="Print machine-readable JSON on stdout (messages, and errors as JSON, on stderr)."),
        click.Option(["--quiet", "-q"], is_flag=True, expose_value=False, callback=_store("quiet"),
                     help="No messages or progress on stderr; errors and problem files still show."),
        click.Option(["--debug"], is_flag=True, expose_value=False, callback=_store("debug"),
                     help="Show the full traceback of errors."),
        click.Option(["--retries"], type=click.IntRange(0, 50), metavar="N", expose_value=False,
                     callback=_store("retries"), **retries_from,
                     help="Retry a request that failed on the network, with 408, 429 or 5xx, up to N times with "
                          f"exponential backoff [default: {DEFAULT_RETRIES}; env {RETRIES_ENV}]."),
        click.Option(["--timeout"], type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", expose_value=False,
                     callback=_store("timeout"), **timeout_from,
                     help="Give up on a request after SECONDS, its retries included (an attempt waits at most "
                          f"{ATTEMPT_TIMEOUT:g} s) [default: {REQUEST_DEADLINE:g}; env {TIMEOUT_ENV}]."),
        click.Option(["--api-key"], metavar="KEY", expose_value=False, callback=_store("api_key"),
                     help="API key [env NANONETS_API_KEY]."),
        click.Option(["--base-url"], metavar="URL", expose_value=False, callback=_store("base_url"),
                     help="API base URL, e.g. http://127.0.0.1:8765/api/v2 [env NANONETS_BASE_URL; "
                          "default: the hosted Nanonets API]."),
        click.Option(["--model-id"], metavar="ID", expose_value=False, callback=_store("model_id"),
                     help="Model to work on [env NANONETS_MODEL_ID]."),
    ]


#: The global options of every command: one set of objects, which click keeps no state in, shared by
#: all (built once, not once per command: that was a tenth of ``--help``'s start-up).
_COMMAND_OPTIONS = global_options(on_group=False)


def api_command(group: click.Group, name: str | None = None, **settings: Any) -> Callable[..., click.Command]:
    """Register a command taking the global options (before its own); it receives ``state`` first."""

    def decorator(func: Callable[..., Any]) -> click.Command:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            return func(click.get_current_context().ensure_object(State), *args, **kwargs)

        command = group.command(name, **settings)(run)
        command.params[:0] = _COMMAND_OPTIONS
        return command

    return decorator


# --------------------------------------------------------------------------- the group


@click.group(cls=NanoGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="nanoclient")
def cli() -> None:
    """Train and use an image classifier: the Nanonets API or a local server.

    \b
    The whole workflow, against a local server:
      nanoclient serve --port 8765 &
      export NANONETS_BASE_URL=http://127.0.0.1:8765/api/v2 NANONETS_API_KEY=my-key
      eval "$(nanoclient create-model --from-dir images)"
      nanoclient upload images
      nanoclient train --wait
      nanoclient predict images/test

    Settings come from the options, else the environment (NANONETS_API_KEY,
    NANONETS_BASE_URL, NANONETS_MODEL_ID), else the config file (see `nanoclient config`).
    The options above work after a command's name too. Exit codes: 0 success, 1 the work
    failed (API, network, files), 2 usage error, 130 interrupted.
    """


cli.params.extend(global_options(on_group=True))


# --------------------------------------------------------------------------- formatting


def format_model(model: Model) -> list[str]:
    """Lines describing a model: id and state, accuracy, images per category."""
    lines = [f"model {model.id}: {model.state_name}" + (f" ({model.status})" if model.status else "")]
    if model.accuracy is not None:
        measured = f": {model.accuracy_images} images" if model.accuracy_images is not None else ""
        lines.append(f"  accuracy  {model.accuracy:.3f}  (held out by the server{measured})")
    if model.categories:
        width = max(len(c.name) for c in model.categories)
        lines.append(f"  images    {model.image_count} in {len(model.categories)} categories")
        lines.extend(f"    {c.name:<{width}}  {c.count}" for c in model.categories)
    return lines


def list_skipped(skipped: Sequence[tuple[PathLike, str]], limit: int = MAX_LISTED) -> None:
    """Name skipped files with the reason on stderr; past ``limit``, count the rest."""
    for path, reason in skipped[:limit]:
        warn(f"skipped {path}: {reason}")
    if len(skipped) > limit:
        warn(f"... and {len(skipped) - limit} more skipped")


# --------------------------------------------------------------------------- create-model


@api_command(cli, "create-model")
@click.argument("categories", nargs=-1, metavar="[CATEGORY]...")
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False), callback=_as_path,
              help="Use the sub-folder names of DIR (or of DIR/train) as the categories.", metavar="DIR")
def create_model(state: State, categories: tuple[str, ...], from_dir: Path | None) -> None:
    """Create a model from category names or from folder names.

    The categories (two or more) are the CATEGORY arguments, or the sub-folder names of
    --from-dir: of DIR/train when DIR's only sub-folders are train/ and test/, else of DIR.
    Names lose surrounding spaces, as upload and evaluate read folder names. Prints the new
    model id on stderr and the line to export it on stdout, quoted for the shell, so that
    `eval` can pick it up.

    \b
    Examples:
      nanoclient create-model Bag Coat Dress
      eval "$(nanoclient create-model --from-dir images)"
    """
    import shlex

    from .images import category_folders, category_name

    if from_dir is not None and categories:
        raise CliUsageError("give category names or --from-dir, not both")
    if from_dir is not None:
        names = [name for name, _ in category_folders(from_dir)]
        if not names:
            raise CliUsageError(f"{from_dir} has no sub-folders to use as categories")
    else:
        names = [category_name(name) for name in categories]
    if not names:
        raise CliUsageError("no categories: name them (nanoclient create-model Bag Coat) or pass --from-dir DIR")
    if len(names) < 2:
        given = f"{from_dir} has one sub-folder" if from_dir is not None else "one was given"
        raise CliUsageError(f"a model needs at least two categories, but {given} ({names[0]})")
    model = state.client().create_model(names)
    info(f"created model {model.id} with {len(model.categories)} categories: "
         + ", ".join(c.name for c in model.categories))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={shlex.quote(model.id)}")


# --------------------------------------------------------------------------- upload


@api_command(cli)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path, metavar="DIR")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_UPLOAD_WORKERS, show_default=True,
              help="Upload requests in parallel.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_UPLOAD_BATCH_SIZE, show_default=True,
              help="Images of one category per request (and at most 8 MB).")
@click.option("--force", is_flag=True, help="Send every image again, even those the upload journal says were stored.")
@click.option("--unsettled", type=click.Choice(["skip", "resend", "accept"]), default="skip", show_default=True,
              help="Images an earlier upload could not settle (maybe stored): leave them (exit 1), send them "
                   "again, or record them as uploaded.")
@click.option("--wait-lock", is_flag=True, help="If another upload to this model runs on this machine, wait for "
                                                "it to end (default: exit 1).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), callback=_as_path, default=None,
              metavar="FILE", help="Write one JSON line per file to FILE as its outcome is known: path, category, "
                                   "sha256, outcome and reason.")
@click.option("--dry-run", is_flag=True, help="Check every file and say what would be sent; send nothing.")
def upload(state: State, folder: Path, workers: int, batch_size: int, force: bool, unsettled: str,
           wait_lock: bool, report_path: Path | None, dry_run: bool) -> None:
    """Upload labelled images from a folder.

    DIR holds one sub-folder per category, or train/ (and test/) folders that do.
    Every file ends as uploaded, already there (recorded as uploaded to this model, or the
    same bytes as another file of its category), invalid (not sent: not an image, unreadable,
    not in a category of the model), refused by the server, or unsettled (the client could not
    find out whether the server stored it); each failure is named on stderr. Each image is
    stored once, even against a server that does not deduplicate (the counts are checked).
    What each model received is recorded locally, so running the same command again after an
    interruption sends only what is missing (--force sends everything). Exits with 1 if any
    file is invalid, refused or unsettled; Ctrl-C stops at once (exit 130).

    \b
    Examples:
      nanoclient upload images                 # images/train/<category>/*.png
      nanoclient upload photos --dry-run       # check first, send nothing
      nanoclient upload photos --report upload.jsonl --json
    """
    from ._cli_runs import run_upload

    run_upload(state, folder, workers=workers, batch_size=batch_size, force=force, report_path=report_path,
               dry_run=dry_run, unsettled=unsettled, wait_lock=wait_lock)


# --------------------------------------------------------------------------- train / status


def _wait(state: State, model_id: str, timeout: float, poll_interval: float) -> Model:
    """Wait for training to end, naming each state the model passes through on stderr (Ctrl-C: exit 130)."""
    from .errors import TrainingTimeoutError

    def show(model: Model) -> None:
        info(f"state {model.state} ({model.state_name})" + (f": {model.status}" if model.status else ""))

    try:
        return state.client().wait_until_trained(model_id, timeout=timeout, poll_interval=poll_interval,
                                                 on_update=show)
    except KeyboardInterrupt as exc:
        raise Interrupted(f"model {model_id} goes on training on the server; "
                          "wait for it again with `nanoclient status --wait`") from exc
    except TrainingTimeoutError as exc:
        if state.debug:
            raise
        raise CliFailure(f"training did not finish within {timeout:g} s; "
                         "check again with `nanoclient status --wait`") from exc


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
        model = _wait(state, model_id, timeout, poll_interval)
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
    from .types import STATE_QUEUED, STATE_TRAINING

    model_id = state.model_id()
    model = state.client().get_model(model_id)
    if wait and model.state in (STATE_QUEUED, STATE_TRAINING):
        model = _wait(state, model_id, timeout, poll_interval)
    state.emit({"model": model.to_json()}, "\n".join(format_model(model)))


# --------------------------------------------------------------------------- predict


@api_command(cli)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), callback=_as_path, metavar="PATH...")
@click.option("--top", type=click.IntRange(min=1), default=None, metavar="K",
              help="Show the K most likely labels per file (JSON: keep K scores).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), callback=_as_path, default=None, metavar="FILE",
              help="Also write each result to FILE as it arrives: JSON Lines, or CSV for a .csv name. "
                   "Run again with the same FILE to predict only the files it has no result for.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_PREDICT_BATCH_SIZE, show_default=True,
              help="Files per request (and at most 8 MB).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_PREDICT_WORKERS, show_default=True,
              help="Requests in parallel.")
def predict(state: State, paths: tuple[Path, ...], top: int | None, output: Path | None, batch_size: int,
            workers: int) -> None:
    """Predict the labels of images.

    PATH is an image file or a folder (searched recursively for .png and .jpg files).
    Prints one line per file as its answer comes (in no particular order): the path, the
    label and its probability; with --json, one JSON object per line. A file that cannot be
    predicted is named on stderr with the reason, the others are predicted all the same, and
    the exit code is 1. Ctrl-C stops at once; with --output, the same command resumes.

    \b
    Examples:
      nanoclient predict photo.jpg
      nanoclient predict images/test --top 3
      nanoclient predict photos/ --output results.jsonl     # again after Ctrl-C: resumes
      nanoclient predict images/test --json > predictions.jsonl
    """
    from ._cli_runs import run_predictions
    from .images import find_images

    model_id = state.model_id()
    found, skipped = find_images(paths)
    if not found:
        raise CliFailure(f"no images found in {', '.join(map(str, paths))} (looked for PNG and JPEG files)")
    run_predictions(state, model_id, found, output=output, top=top, batch_size=batch_size, workers=workers,
                    skipped=skipped)


# --------------------------------------------------------------------------- evaluate


@api_command(cli)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path, metavar="DIR")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True), callback=_as_path,
              metavar="FILE", help="Also write a self-contained HTML report (heat map, every mistake) to FILE.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_PREDICT_BATCH_SIZE, show_default=True,
              help="Files per request (and at most 8 MB).")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_PREDICT_WORKERS, show_default=True,
              help="Requests in parallel.")
def evaluate(state: State, folder: Path, report_path: Path | None, batch_size: int, workers: int) -> None:
    """Measure the model on labelled images: accuracy, per-class scores, confusion matrix.

    DIR holds one sub-folder of images per category, or a test/ folder that does (as
    images/ does). Every image is predicted in batches; a file that cannot be predicted is
    named on stderr and left out, and makes the exit code 1. JSON: accuracy, n, per_class,
    confusion, mistakes, failed.

    \b
    Examples:
      nanoclient evaluate images
      nanoclient evaluate images --report report.html
      nanoclient evaluate images/test --json > evaluation.json
    """
    from ._cli_runs import run_evaluation
    from .evaluate import format_text

    model_id = state.model_id()
    result = run_evaluation(state, model_id, folder, batch_size=batch_size, workers=workers)
    if report_path is not None:
        from .report import write_report

        write_report(result, report_path, title=f"Model {model_id} on {folder}")
        info(f"report written to {report_path}")
        _store_report(state, model_id, report_path)
    state.emit(result.to_json(), format_text(result))
    if result.failed:
        raise click.exceptions.Exit(1)


def _store_report(state: State, model_id: str, path: Path) -> None:
    """On a local nanoclient server (which says so), store the report too: its dashboard links to it.

    Against any other server nothing is sent; a report the server refuses is a warning, not a failure.
    """
    from .errors import NanonetsError

    try:
        stored = state.client().local_put_report(model_id, path)
    except NanonetsError as exc:
        warn(f"the report could not be stored on the server for its dashboard: {error_line(exc, state)}")
        return
    if stored:
        info("report stored on the local server too: its dashboard links to it from the model's page")


# --------------------------------------------------------------------------- models / config


@api_command(cli)
def models(state: State) -> None:
    """List the models of the account.

    \b
    Examples:
      nanoclient models
      nanoclient models --json
    """
    found = state.client().list_models()
    if not found:
        info("no models yet: create one with `nanoclient create-model`")
    lines = []
    for model in found:
        accuracy = f"{model.accuracy:.3f}" if model.accuracy is not None else "-"
        names = ", ".join(c.name for c in model.categories)
        lines.append(f"{model.id}  {model.state_name:<17}  {model.image_count:>6} images  "
                     f"accuracy {accuracy:<5}  {names}")
    state.emit([m.to_json() for m in found], "\n".join(lines) if lines else None)


@api_command(cli, "config")
@click.option("--save", is_flag=True, help="Write the key, base URL and model id in use into the config file.")
def config_command(state: State, save: bool) -> None:
    """Show or save the settings in use.

    Shows the API key (masked), base URL and model id, and where each comes from;
    --save writes them into the config file.
    The config file is config.ini in the user's config folder, or the file named by
    NANOCLIENT_CONFIG; options win over the environment, which wins over the file.

    \b
    Examples:
      nanoclient config
      nanoclient --api-key MY-KEY --base-url http://127.0.0.1:8765/api/v2 config --save
    """
    from . import config

    path = config.config_path()
    settings = state.settings
    values = {"api_key": settings.api_key, "base_url": settings.base_url, "model_id": settings.model_id}
    if save:
        config.save_file(path, {k: v for k, v in values.items() if v})
        info(f"saved to {path}")
        state._settings = None  # sources changed: the file now holds these values
        settings = state.settings
    shown = dict(values, api_key=mask_key(settings.api_key) if settings.api_key else None)
    result = {"config_file": str(path), **shown, "sources": settings.sources}
    text = [f"config file: {path}"]
    text += [f"{name:<9} {shown[name] or '(not set)'}" + (f"  from {settings.source_of(name)}" if shown[name] else "")
             for name in config.ENV_VARS]
    state.emit(result, "\n".join(text))


def main(argv: Iterable[str] | None = None) -> Any:
    """Entry point of the `nanoclient` console script and `python -m nanoclient`.

    After Ctrl-C the process ends at once: requests still in flight in worker threads (which
    Python would otherwise wait for at exit, up to their timeout and retries) are abandoned.
    """
    try:
        return cli.main(args=None if argv is None else list(argv), prog_name="nanoclient")
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)
        raise


__all__ = ["cli", "main", "State", "api_command", "global_options", "error_line", "error_object", "info", "warn",
           "format_model", "CliFailure", "CliUsageError", "Interrupted", "EXIT_INTERRUPTED"]
