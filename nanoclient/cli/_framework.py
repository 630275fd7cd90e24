"""The command-line framework: settings and the client (``State``), the global options, the command
group (lazy commands, one error line per failure), messages, and the entry point.



* ``@api_command(group)`` registers a command that takes the global options (``--json``,
  ``--quiet``, ``--debug``, ``--retries``, ``--api-key``, ``--base-url``, ``--model-id``: each
  accepted before and after the command name, the later one winning) and receives
  ``state: State`` first; ``state.client()`` and ``state.model_id()`` fail with the line
  that says what to set.
* ``state.emit(data, text)`` prints the JSON (``--json``) or the text result on stdout;
  ``info()`` prints messages on stderr (not with ``--quiet``), ``warn()`` problems with files
  (always); ``state.progress(total)`` is a tqdm bar on stderr.
* Exit codes (docs/cli.md): 0 success; 1 the work failed (API, network, files; some files
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

from .._env import RETRIES_ENV, TIMEOUT_ENV
from .._version import __version__
from ._errors import error_line

if TYPE_CHECKING:  # imported for annotations only: `nanoclient --help` loads none of them

    from tqdm import tqdm

    from .. import config
    from ..client import Client
    from ..types import Model, PathLike

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
        #: The command running (``nanoclient ocr predict``), once it runs.
        self.command_path = ""

    @property
    def settings(self) -> config.Settings:
        """Flags, environment and config file resolved (flag > env > file)."""
        from .. import config

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
            from ..client import Client

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



#: Commands whose module is imported only when they run or their help is asked for, so that
#: `nanoclient --help` stays fast: name -> (module, attribute, the first line of its help). The model types'
#: groups register themselves here (``cli/__init__.py``).
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("nanoclient.server.command", "serve",
              "Run the Nanonets API (every model type) on this machine, with real storage and training."),
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
        from ..errors import InvalidImageError, NanonetsError

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
            context = click.get_current_context()
            state = context.ensure_object(State)
            state.command_path = context.command_path
            return func(state, *args, **kwargs)

        command = group.command(name, **settings)(run)
        command.params[:0] = _COMMAND_OPTIONS
        return command

    return decorator


# --------------------------------------------------------------------------- the group


@click.group(cls=NanoGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="nanoclient")
def cli() -> None:
    """Train and use models on the Nanonets API or a local server: image classifiers (the commands below),
    OCR models that read named fields from documents (`nanoclient ocr`), multi-label classifiers
    (`nanoclient multilabel`) and object detectors (`nanoclient detection`).

    \b
    Image classification, against a local server:
      nanoclient serve --port 8765 &
      export NANONETS_BASE_URL=http://127.0.0.1:8765/api/v2 NANONETS_API_KEY=my-key
      eval "$(nanoclient create-model --from-dir images)"
      nanoclient upload images
      nanoclient train --wait
      nanoclient predict images/test

    \b
    The other types, the same way (PNG, JPEG or PDF documents with annotated fields; images with a
    .txt of labels; images with their boxes):
      nanoclient ocr create-model --from-dir images/invoices         (then ocr upload, ocr train ...)
      nanoclient multilabel create-model --from-dir images/multilabel
      nanoclient detection create-model --from-dir images/detection

    Settings come from the options, else the environment (NANONETS_API_KEY,
    NANONETS_BASE_URL, NANONETS_MODEL_ID), else the config file (see `nanoclient config`).
    The options above work after a command's name too. Exit codes: 0 success, 1 the work
    failed (API, network, files), 2 usage error, 130 interrupted.
    """


cli.params.extend(global_options(on_group=True))


# --------------------------------------------------------------------------- formatting


def _plural(count: int, word: str) -> str:
    """``word``, or its plural for any count but one ("1 file", "2 files")."""
    return word if count == 1 else f"{word}s"


def format_model(model: Model, *, items: str = "images", names: str = "categories") -> list[str]:
    """Lines describing a model: id and state, accuracy, ``items`` per category (an OCR model: documents
    per field, its accuracy measured on held-out values)."""
    lines = [f"model {model.id}: {model.state_name}" + (f" ({model.status})" if model.status else "")]
    if model.accuracy is not None:
        unit = "values" if items == "documents" else "images"
        measured = f": {model.accuracy_images} {unit}" if model.accuracy_images is not None else ""
        lines.append(f"  accuracy  {model.accuracy:.3f}  (held out by the server{measured})")
    if model.categories:
        width = max(len(c.name) for c in model.categories)
        if items == "images":
            lines.append(f"  images    {model.image_count} in {len(model.categories)} {names}")
        else:  # a document counts for every field it labels: the counts do not add up
            lines.append(f"  {names:<9} {len(model.categories)}, each with the {items} in which it is labelled")
        lines.extend(f"    {c.name:<{width}}  {c.count}" for c in model.categories)
    return lines


def list_skipped(skipped: Sequence[tuple[PathLike, str]], limit: int = MAX_LISTED) -> None:
    """Name skipped files with the reason on stderr; past ``limit``, count the rest."""
    for path, reason in skipped[:limit]:
        warn(f"skipped {path}: {reason}")
    if len(skipped) > limit:
        warn(f"... and {len(skipped) - limit} more skipped")


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


__all__ = ["cli", "main", "State", "api_command", "global_options", "error_object", "info", "warn", "format_model",
           "list_skipped", "CliFailure", "CliUsageError", "Interrupted", "EXIT_INTERRUPTED", "LAZY_COMMANDS",
           "NanoGroup", "CONTEXT_SETTINGS"]
