"""The ``nanoclient`` command: the image classification workflow from a terminal.

Commands only format: they take settings (``config``), call the SDK (``Client``) and print.
Shared pieces, for whoever adds a command:

* ``@api_command(group)`` registers a command that takes ``--json``, ``--api-key``,
  ``--base-url`` and ``--model-id`` (also accepted before the command name) and receives
  ``state: State`` first; ``state.client()`` and ``state.model_id()`` fail with the line
  that says what to set.
* ``state.emit(data, text)`` prints the JSON (``--json``) or the text result on stdout;
  ``info()`` prints messages on stderr; ``state.progress(total)`` is a tqdm bar on stderr.
* Every nanoclient error raised in a command becomes one line on stderr and exit code 1
  (``error_line``); usage problems exit with 2; ``--debug`` shows the traceback instead.

Heavy modules (requests, Pillow, numpy, tqdm) are imported inside commands, so that
``nanoclient --help`` and shell completion stay fast.
"""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

import click

from ._env import RETRIES_ENV, mask_key
from ._tuning import (
    DEFAULT_PREDICT_BATCH_SIZE,
    DEFAULT_PREDICT_WORKERS,
    DEFAULT_UPLOAD_BATCH_SIZE,
    DEFAULT_UPLOAD_WORKERS,
    MAX_WORKERS,
)
from ._version import __version__

if TYPE_CHECKING:  # imported for annotations only: `nanoclient --help` loads none of them
    from tqdm import tqdm

    from . import config
    from .client import Client
    from .types import Model, PathLike, Prediction

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

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


# --------------------------------------------------------------------------- state


class State:
    """What a command invocation knows: the flags given, output mode, and the client once made."""

    def __init__(self, debug: bool = False) -> None:
        self.flags: dict[str, str | None] = {"api_key": None, "base_url": None, "model_id": None}
        self.json = False
        self.debug = debug
        self.retries = DEFAULT_RETRIES
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
                raise CliFailure(str(exc)) from exc
        return self._settings

    def client(self) -> Client:
        """The SDK client for the resolved key and base URL (made once, closed with the context)."""
        if self._client is None:
            settings = self.settings
            if not settings.api_key:
                raise CliUsageError("no API key: set NANONETS_API_KEY or pass --api-key")
            from .client import Client

            self._client = Client(api_key=settings.api_key, base_url=settings.base_url, max_retries=self.retries)
            click.get_current_context().call_on_close(self._client.close)
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
        """A tqdm bar on stderr; silent with --json, off a terminal, or for fewer than ``min_total``."""
        from tqdm import tqdm

        disable = self.json or total < min_total or not _is_tty(sys.stderr)
        return tqdm(total=total, unit=unit, file=sys.stderr, disable=disable, dynamic_ncols=True, leave=False)


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def info(message: str) -> None:
    """A message for the user, on stderr (stdout holds only results)."""
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
        return f"the server refused an upload as too large: {detail}; send smaller images"
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
        return f"timed out: {detail}"
    if isinstance(exc, errors.APIConnectionError):
        return f"cannot reach {base_url}: is the server running? ({detail})"
    if isinstance(exc, errors.BadRequestError):
        return detail
    if isinstance(exc, errors.NanonetsError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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


# --------------------------------------------------------------------------- options


def _store_flag(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            state = ctx.ensure_object(State)
            if name == "json":
                state.json = True
            else:
                state.flags[name] = value
        return value

    return callback


def _connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--api-key, --base-url, --model-id: stored in the State, usable before or after the command name."""
    options = [
        click.option("--api-key", metavar="KEY", expose_value=False, callback=_store_flag("api_key"),
                     help="API key [env NANONETS_API_KEY]."),
        click.option("--base-url", metavar="URL", expose_value=False, callback=_store_flag("base_url"),
                     help="API base URL, e.g. http://127.0.0.1:8765/api/v2 [env NANONETS_BASE_URL; "
                          "default: the hosted Nanonets API]."),
        click.option("--model-id", metavar="ID", expose_value=False, callback=_store_flag("model_id"),
                     help="Model to work on [env NANONETS_MODEL_ID]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def api_command(group: click.Group, name: str | None = None, **settings: Any) -> Callable[..., click.Command]:
    """Register a command taking --json and the connection options; it receives ``state`` first."""

    def decorator(func: Callable[..., Any]) -> click.Command:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            return func(click.get_current_context().ensure_object(State), *args, **kwargs)

        with_options = _connection_options(run)
        json_option = click.option("--json", "json_output", is_flag=True, expose_value=False,
                                   callback=_store_flag("json"),
                                   help="Print machine-readable JSON on stdout (messages stay on stderr).")
        with_options = json_option(with_options)
        return group.command(name, **settings)(with_options)

    return decorator


# --------------------------------------------------------------------------- the group


@click.group(cls=NanoGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="nanoclient")
@_connection_options
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.option("--retries", default=DEFAULT_RETRIES, show_default=True, envvar=RETRIES_ENV,
              type=click.IntRange(0, 50), metavar="N",
              help="Retry a request that failed on the network, with 408, 429 or 5xx, up to N times with "
                   "exponential backoff [env NANOCLIENT_RETRIES].")
@click.pass_context
def cli(ctx: click.Context, debug: bool, retries: int) -> None:
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
    """
    state = ctx.ensure_object(State)
    state.debug = debug
    state.retries = retries


# --------------------------------------------------------------------------- formatting


def format_model(model: Model) -> list[str]:
    """Lines describing a model: id and state, accuracy, images per category."""
    lines = [f"model {model.id}: {model.state_name}" + (f" ({model.status})" if model.status else "")]
    if model.accuracy is not None:
        lines.append(f"  accuracy  {model.accuracy:.3f}  (held out by the server)")
    if model.categories:
        width = max(len(c.name) for c in model.categories)
        lines.append(f"  images    {model.image_count} in {len(model.categories)} categories")
        lines.extend(f"    {c.name:<{width}}  {c.count}" for c in model.categories)
    return lines


def list_skipped(skipped: Sequence[tuple[PathLike, str]], limit: int = MAX_LISTED) -> None:
    """Name skipped files with the reason on stderr; past ``limit``, count the rest."""
    for path, reason in skipped[:limit]:
        info(f"skipped {path}: {reason}")
    if len(skipped) > limit:
        info(f"... and {len(skipped) - limit} more skipped")


# --------------------------------------------------------------------------- create-model


@api_command(cli, "create-model")
@click.argument("categories", nargs=-1)
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Use the sub-folder names of DIR (or of DIR/train) as the categories.", metavar="DIR")
def create_model(state: State, categories: tuple[str, ...], from_dir: Path | None) -> None:
    """Create a model from category names or from folder names.

    The categories are the CATEGORY arguments, or the sub-folder names of --from-dir.
    Prints the new model id on stderr and the line to export it on stdout, so that
    `eval` can pick it up.

    \b
    Examples:
      nanoclient create-model Bag Coat Dress
      eval "$(nanoclient create-model --from-dir images)"
    """
    from .images import category_folders

    if from_dir is not None and categories:
        raise CliUsageError("give category names or --from-dir, not both")
    if from_dir is not None:
        categories = tuple(folder.name for folder in category_folders(from_dir))
        if not categories:
            raise CliUsageError(f"{from_dir} has no sub-folders to use as categories")
    if not categories:
        raise CliUsageError("no categories: name them (nanoclient create-model Bag Coat) or pass --from-dir DIR")
    model = state.client().create_model(list(categories))
    info(f"created model {model.id} with {len(model.categories)} categories: "
         + ", ".join(c.name for c in model.categories))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={model.id}")


# --------------------------------------------------------------------------- upload


@api_command(cli)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_UPLOAD_WORKERS, show_default=True,
              help="Upload requests in parallel.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_UPLOAD_BATCH_SIZE, show_default=True,
              help="Images of one category per request.")
@click.option("--force", is_flag=True, help="Send every image again, even those the local record says were sent.")
def upload(state: State, folder: Path, workers: int, batch_size: int, force: bool) -> None:
    """Upload labelled images from a folder.

    DIR holds one sub-folder per category, or a train/ folder that does.
    Images are checked before sending; files that are not PNG or JPEG are skipped and
    named. Each image is stored once, even against a server that does not deduplicate
    (the counts are checked); an image whose fate the client could not find out is named
    as unsettled. What each model received is recorded locally, so running the same command
    again after an interruption sends only what is missing (--force sends everything).
    Exits with 1 if any upload failed or is unsettled.

    \b
    Examples:
      nanoclient upload images                 # images/train/<category>/*.png
      nanoclient upload photos --workers 16 --batch-size 50 --json
    """
    from ._record import UploadRecord, file_digest
    from .images import find_labelled_images

    client = state.client()
    model_id = state.model_id()
    model = client.get_model(model_id)
    items, skipped = find_labelled_images(folder)
    if not items:
        raise CliFailure(f"no images in {folder}: expected one sub-folder per category with .png or .jpg files")
    items, strangers = _split_by_category(folder, items, model)
    skipped_files: list[tuple[PathLike, str]] = [*skipped, *strangers]

    record = UploadRecord.for_model(client.base_url, model_id)
    click.get_current_context().call_on_close(record.close)
    digests = {str(path): file_digest(path) for path, _ in items}
    to_send = _round_robin([(path, category) for path, category in items
                            if force or (digests[str(path)], category) not in record])
    already = len(items) - len(to_send)
    if already:
        info(f"{already} images already uploaded to this model (local record); --force sends them again")

    def remember(path: PathLike, category: str, _model: Model) -> None:
        record.add(digests[str(path)], category, str(path))

    with state.progress(len(to_send)) as bar:
        try:
            report = client.upload_files(model_id, to_send, workers=workers, batch_size=batch_size,
                                         progress=bar.update, on_uploaded=remember)
        except KeyboardInterrupt:
            bar.close()
            info(f"interrupted: {len(record)} images are recorded as uploaded; run the same command to resume")
            raise
    skipped_files += report.skipped
    list_skipped(skipped_files)
    for path, exc in report.failed:
        info(f"failed {path}: {error_line(exc, state)}")
    for path, why in report.unsettled:
        info(f"unsettled {path}: {why}; check the model's counts before sending it again")

    final = client.get_model(model_id)
    result = {"uploaded": len(report.uploaded), "skipped": already + len(skipped_files), "failed": len(report.failed),
              "unsettled": len(report.unsettled), "model": final.to_json()}
    summary = f"uploaded {result['uploaded']}, skipped {result['skipped']}, failed {result['failed']}"
    if report.unsettled:
        summary += f", unsettled {result['unsettled']}"
    state.emit(result, "\n".join([summary, *format_model(final)]))
    if report.failed or report.unsettled:
        raise click.exceptions.Exit(1)


def _round_robin(items: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The items with categories taken in turn, so that batches of several categories can go at once."""
    by_category: dict[str, list[tuple[Path, str]]] = {}
    for item in items:
        by_category.setdefault(item[1], []).append(item)
    queues = list(by_category.values())
    mixed: list[tuple[Path, str]] = []
    for index in range(max((len(q) for q in queues), default=0)):
        mixed.extend(q[index] for q in queues if index < len(q))
    return mixed


def _split_by_category(folder: Path, items: list[tuple[Path, str]], model: Model
                       ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Keep the items whose folder is a category of the model; name the other folders (error if none match)."""
    known = {c.name for c in model.categories}
    found = sorted({category for _, category in items})
    strangers = [name for name in found if name not in known]
    if len(strangers) == len(found):
        raise CliFailure(
            f"none of the folders in {folder} ({', '.join(found)}) is a category of model {model.id} "
            f"({', '.join(sorted(known))})"
        )
    if strangers:
        info(f"not categories of model {model.id}, skipped: {', '.join(strangers)}")
    kept = [(path, category) for path, category in items if category in known]
    dropped = [(path, f"folder {category} is not a category of the model") for path, category in items
               if category not in known]
    return kept, dropped


# --------------------------------------------------------------------------- train / status


def _wait(state: State, model_id: str, timeout: float, poll_interval: float) -> Model:
    """Wait for training to end, naming each state the model passes through on stderr."""
    from .errors import TrainingTimeoutError

    def show(model: Model) -> None:
        info(f"state {model.state} ({model.state_name})" + (f": {model.status}" if model.status else ""))

    try:
        return state.client().wait_until_trained(model_id, timeout=timeout, poll_interval=poll_interval,
                                                 on_update=show)
    except TrainingTimeoutError as exc:
        if state.debug:
            raise
        raise CliFailure(f"training did not finish within {timeout:g} s; "
                         "check again with `nanoclient status --wait`") from exc


_wait_options = [
    click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=3600.0, show_default=True,
                 metavar="S", help="With --wait: give up after S seconds (exit 1)."),
    click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
                 metavar="S", help="With --wait: seconds between status checks."),
]


def wait_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--timeout and --poll-interval, for commands with --wait."""
    for option in reversed(_wait_options):
        func = option(func)
    return func


@api_command(cli)
@click.option("--wait", is_flag=True, help="Wait until training ends, showing each state change.")
@wait_options
def train(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Train the model (--wait to wait until it is trained).

    Exits with 1 if training fails or --timeout passes first.

    \b
    Examples:
      nanoclient train --wait
      nanoclient train --wait --timeout 600 --json
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
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path), metavar="PATH...")
@click.option("--top", type=click.IntRange(min=1), default=None, metavar="K",
              help="Show the K most likely labels per file (JSON: keep K scores).")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_PREDICT_BATCH_SIZE, show_default=True,
              help="Files per request.")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_PREDICT_WORKERS, show_default=True,
              help="Requests in parallel.")
def predict(state: State, paths: tuple[Path, ...], top: int | None, batch_size: int, workers: int) -> None:
    """Predict the labels of images.

    PATH is an image file or a folder (searched recursively for .png and .jpg files).
    Prints one line per file: the path, the label and its probability. Files that are
    not valid images are named on stderr and make the exit code 1; the rest are still
    predicted.

    \b
    Examples:
      nanoclient predict photo.jpg
      nanoclient predict images/test --top 3
      nanoclient predict images/test --json > predictions.json
    """
    from .images import check_files, find_images

    model_id = state.model_id()
    found = find_images(paths)
    if not found:
        raise CliFailure(f"no images found in {', '.join(map(str, paths))} (looked for .png, .jpg, .jpeg)")
    valid, invalid = check_files(found)
    list_skipped(invalid)
    predictions = []
    if valid:
        client = state.client()
        with state.progress(len(valid), min_total=batch_size + 1) as bar:
            predictions = client.predict_files(model_id, valid, batch_size=batch_size, workers=workers,
                                               progress=bar.update)
    rows = [_prediction_row(path, prediction, top) for path, prediction in zip(valid, predictions, strict=True)]
    state.emit(rows, _format_predictions(rows, top) if rows else None)
    if invalid:
        raise click.exceptions.Exit(1)


def _prediction_row(path: Path, prediction: Prediction, top: int | None) -> dict[str, Any]:
    row = prediction.to_json()
    row["file"] = str(path)  # the path as given or found, not the name the server saw
    if top is not None:
        row["scores"] = row["scores"][:top]
    return row


def _format_predictions(rows: Sequence[dict[str, Any]], top: int | None) -> str:
    width = max(len(row["file"]) for row in rows)
    lines = []
    for row in rows:
        if top is None:
            labels = f"{row['label']}  {row['probability']:.3f}"
        else:
            labels = "  ".join(f"{s['label']} {s['probability']:.3f}" for s in row["scores"])
        lines.append(f"{row['file']:<{width}}  {labels}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- evaluate


@api_command(cli)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              metavar="FILE", help="Also write a self-contained HTML report (heat map, every mistake) to FILE.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_PREDICT_BATCH_SIZE, show_default=True,
              help="Files per request.")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_PREDICT_WORKERS, show_default=True,
              help="Requests in parallel.")
def evaluate(state: State, folder: Path, report_path: Path | None, batch_size: int, workers: int) -> None:
    """Measure the model on labelled images: accuracy, per-class scores, confusion matrix.

    DIR holds one sub-folder of images per category, or a test/ folder that does (as
    images/ does). Every image is predicted in batches; files that are not valid images
    are named on stderr and left out. JSON: accuracy, n, per_class, confusion, mistakes.

    \b
    Examples:
      nanoclient evaluate images
      nanoclient evaluate images --report report.html
      nanoclient evaluate images/test --json > evaluation.json
    """
    from .evaluate import evaluate_images, find_test_images, format_text

    model_id = state.model_id()
    items, skipped = find_test_images(folder)
    list_skipped(skipped)
    client = state.client()
    with state.progress(len(items), min_total=batch_size + 1) as bar:
        result = evaluate_images(client, model_id, items, skipped=skipped, progress=bar.update,
                                 batch_size=batch_size, workers=workers)
    if report_path is not None:
        from .report import write_report

        write_report(result, report_path, title=f"Model {model_id} on {folder}")
        info(f"report written to {report_path}")
    state.emit(result.to_json(), format_text(result))


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
    """Entry point of the `nanoclient` console script and `python -m nanoclient`."""
    return cli.main(args=None if argv is None else list(argv), prog_name="nanoclient")


__all__ = ["cli", "main", "State", "api_command", "error_line", "info", "format_model", "CliFailure", "CliUsageError"]
