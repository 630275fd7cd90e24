"""``nanoclient predict`` and ``nanoclient evaluate``: the commands; the runs are in ``_predict_run``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..._tuning import DEFAULT_PREDICT_BATCH_SIZE, DEFAULT_PREDICT_WORKERS, MAX_WORKERS
from .._errors import error_line
from .._framework import CliFailure, State, _as_path, api_command, cli, info, warn

if TYPE_CHECKING:
    from pathlib import Path


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
    from ...images import find_images
    from ._predict_run import run_predictions

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
    from ...image_categorization.evaluate import format_text
    from ._predict_run import run_evaluation

    model_id = state.model_id()
    result = run_evaluation(state, model_id, folder, batch_size=batch_size, workers=workers)
    if report_path is not None:
        from ...image_categorization.report import write_report

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
    from ...errors import NanonetsError

    try:
        stored = state.client().local_put_report(model_id, path)
    except NanonetsError as exc:
        warn(f"the report could not be stored on the server for its dashboard: {error_line(exc, state)}")
        return
    if stored:
        info("report stored on the local server too: its dashboard links to it from the model's page")


