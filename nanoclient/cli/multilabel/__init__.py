"""``nanoclient multilabel ...``: the multi-label classification workflow (create-model, upload, train,
status, predict, evaluate).

Commands only format: they call ``client.multilabel`` and print; the long runs (upload, predict, evaluate)
live in ``_run``, imported when they run. The group is one of ``LAZY_COMMANDS``: this module is imported
only when ``nanoclient multilabel`` runs, so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from ...types import Model
from .._framework import (
    CONTEXT_SETTINGS,
    CliFailure,
    CliUsageError,
    Interrupted,
    State,
    _as_path,
    api_command,
    format_model,
    global_options,
    info,
)

#: The help of --labels FILE, shared by the commands that read labels.
LABELS_HELP = ("The images' labels: a CSV (file,labels with ';' between labels) or a JSON file "
               '({"a.jpg": ["cat", "dog"]}); without it, a .txt beside each image, one label per line.')


@click.group(context_settings=CONTEXT_SETTINGS)
def multilabel() -> None:
    """Multi-label classification: which of a model's labels each image shows (none, one or several).

    \b
    The whole workflow, against a local server:
      eval "$(nanoclient multilabel create-model --from-dir images/multilabel)"
      nanoclient multilabel upload images/multilabel
      nanoclient multilabel train --wait
      nanoclient multilabel predict images/multilabel/test --output labels.csv
      nanoclient multilabel evaluate images/multilabel --report multilabel-report.html

    Images are PNG or JPEG files; their labels come from a .txt beside each image (one label per line,
    an empty file for an image with none), or from a CSV or JSON file given with --labels.
    """


# `nanoclient multilabel --json predict ...` as well, without defaults of their own (see the ocr group)
multilabel.params.extend(global_options(on_group=False))


def split_root(folder: Path, split: str) -> Path:
    """FOLDER/train (or FOLDER/test) when FOLDER has one, else FOLDER."""
    inner = folder / split
    return inner if inner.is_dir() else folder


@api_command(multilabel, "create-model")
@click.argument("labels", nargs=-1, metavar="[LABEL]...")
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False), callback=_as_path,
              metavar="DIR", help="Use the labels found on the images of DIR (or DIR/train).")
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), callback=_as_path,
              metavar="FILE", help="With --from-dir: " + LABELS_HELP)
def create_model(state: State, labels: tuple[str, ...], from_dir: Path | None, labels_file: Path | None) -> None:
    """Create a multi-label model from label names or from a folder's labelled images.

    Prints the new model id on stderr and the line to export it on stdout, for `eval`.

    \b
    Examples:
      nanoclient multilabel create-model circle cross square star triangle
      eval "$(nanoclient multilabel create-model --from-dir images/multilabel)"
      nanoclient multilabel create-model --from-dir photos --labels photos/labels.csv
    """
    import shlex

    names = [name.strip() for name in labels if name.strip()]
    if from_dir is not None and names:
        raise CliUsageError("give label names or --from-dir, not both")
    if labels_file is not None and from_dir is None:
        raise CliUsageError("--labels FILE goes with --from-dir DIR")
    if from_dir is not None:
        from ._run import labelled_images

        found, _ = labelled_images(split_root(from_dir, "train"), labels_file)
        names = sorted({label for _, image_labels in found for label in image_labels})
        if not names:
            raise CliUsageError(f"no labelled image in {from_dir}: label some, or name the labels")
    if not names:
        raise CliUsageError("no labels: name them (nanoclient multilabel create-model cat dog) or pass --from-dir DIR")
    model = state.client().multilabel.create_model(names)
    info(f"created multi-label model {model.id} with {len(model.categories)} "
         f"{'label' if len(model.categories) == 1 else 'labels'}: " + ", ".join(c.name for c in model.categories))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={shlex.quote(model.id)}")


@api_command(multilabel)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), callback=_as_path,
              metavar="FILE", help=LABELS_HELP)
@click.option("--batch-size", type=click.IntRange(1, 100), default=20, show_default=True, help="Images per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
@click.option("--dry-run", is_flag=True, help="Only check the images and their labels; send nothing.")
@click.option("--wait-lock", is_flag=True,
              help="If another upload to the model runs on this machine, wait for it instead of exiting 1.")
def upload(state: State, folder: Path, labels_file: Path | None, batch_size: int, workers: int, dry_run: bool,
           wait_lock: bool) -> None:
    """Upload a folder's images (FOLDER/train if it has one) with their labels.

    Each image goes exactly once: images the model already lists are not sent again, so an
    interrupted upload resumes when run again. A bad image or label costs that file only (named on
    stderr, exit 1 at the end); --json lists every file's outcome by its path.

    \b
    Examples:
      nanoclient multilabel upload images/multilabel
      nanoclient multilabel upload photos --labels photos/labels.csv --dry-run
    """
    from ._run import upload_folder

    upload_folder(state, split_root(folder, "train"), labels_file, batch_size=batch_size, workers=workers,
                  dry_run=dry_run, wait_lock=wait_lock)


def _described(model: Model) -> list[str]:
    """The lines of ``status``: an image counts for each of its labels, so the counts are per label only."""
    return format_model(model, items="image files", names="labels")


def _wait(state: State, model_id: str, timeout: float, poll_interval: float) -> None:
    from ...errors import TrainingTimeoutError

    def show(model: Model) -> None:
        info(f"state {model.state} ({model.state_name})" + (f": {model.status}" if model.status else ""))

    again = "nanoclient multilabel status --wait"
    try:
        state.client().multilabel.wait_until_trained(model_id, timeout=timeout, poll_interval=poll_interval,
                                                     on_update=show)
    except KeyboardInterrupt as exc:
        raise Interrupted(f"model {model_id} goes on training on the server; wait for it again with `{again}`") \
            from exc
    except TrainingTimeoutError as exc:
        if state.debug:
            raise
        raise CliFailure(f"training did not finish within {timeout:g} s; check again with `{again}`") from exc


_WAIT_TIMEOUT = click.option("--wait-timeout", "timeout", type=click.FloatRange(min=0, min_open=True), default=3600.0,
                             show_default=True, metavar="S", help="With --wait: give up after S seconds (exit 1).")
_POLL = click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=2.0, show_default=True,
                     metavar="S", help="With --wait: seconds between status checks.")


@api_command(multilabel)
@click.option("--wait", is_flag=True, help="Wait until training ends, showing each state change.")
@_WAIT_TIMEOUT
@_POLL
def train(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Train the multi-label model (--wait to wait until it is trained).

    \b
    Examples:
      nanoclient multilabel train --wait
    """
    model_id = state.model_id()
    model = state.client().multilabel.train(model_id)
    info(f"training multi-label model {model_id}: {model.state_name}")
    if wait:
        _wait(state, model_id, timeout, poll_interval)
        model = state.client().multilabel.get_model(model_id)
    state.emit({"model": model.to_json()}, "\n".join(_described(model)))


@api_command(multilabel)
@click.option("--wait", is_flag=True, help="If the model is queued or training, wait until that ends.")
@_WAIT_TIMEOUT
@_POLL
def status(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Show the multi-label model's state and images per label.

    \b
    Examples:
      nanoclient multilabel status --wait
    """
    from ...types import STATE_QUEUED, STATE_TRAINING

    model_id = state.model_id()
    model = state.client().multilabel.get_model(model_id)
    if wait and model.state in (STATE_QUEUED, STATE_TRAINING):
        _wait(state, model_id, timeout, poll_interval)
        model = state.client().multilabel.get_model(model_id)
    state.emit({"model": model.to_json()}, "\n".join(_described(model)))


@api_command(multilabel)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), callback=_as_path)
@click.option("--output", "output", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write one row per image (.csv, else JSON lines) as each is predicted; run again to go on "
                   "where it stopped.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=20, show_default=True, help="Images per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
def predict(state: State, paths: tuple[Path, ...], output: Path | None, batch_size: int, workers: int) -> None:
    """Predict the labels of images (files or folders of PNG and JPEG).

    Prints one line per image: the labels given (each at or above its threshold), then every label's
    probability; --json prints one JSON object per image; --output writes them to FILE.

    \b
    Examples:
      nanoclient multilabel predict photo.jpg
      nanoclient multilabel predict images/multilabel/test --output labels.csv
    """
    from ._run import predict_images

    predict_images(state, list(paths), output=output, batch_size=batch_size, workers=workers)


@api_command(multilabel)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--labels", "labels_file", type=click.Path(exists=True, dir_okay=False), callback=_as_path,
              metavar="FILE", help=LABELS_HELP)
@click.option("--report", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write an HTML report: the scores, the per-label table and every wrong image with its right, "
                   "missed and extra labels and each label's probability.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=20, show_default=True, help="Images per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
def evaluate(state: State, folder: Path, labels_file: Path | None, report: Path | None, batch_size: int,
             workers: int) -> None:
    """Measure the multi-label model on labelled images (FOLDER/test if it has one): per label precision,
    recall and F1, micro and macro F1, the Hamming loss and the share of images exactly right.

    \b
    Examples:
      nanoclient multilabel evaluate images/multilabel --report multilabel-report.html
      nanoclient multilabel evaluate photos/held-out --labels photos/held-out.csv --json
    """
    from ._run import evaluate_folder

    evaluate_folder(state, split_root(folder, "test"), labels_file, report=report, batch_size=batch_size,
                    workers=workers)


__all__ = ["multilabel", "split_root"]
