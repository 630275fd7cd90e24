"""``nanoclient predict`` and ``evaluate``'s runs: file by file, each result printed (and written to
``--output``) as it arrives, every failure named by its path, Ctrl-C at once with how to resume.
Imported when the commands run."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ...types import FileError, Prediction
from .._framework import CliFailure, Interrupted, State, _plural, info, warn

if TYPE_CHECKING:
    from ...image_categorization.evaluate import EvaluationResult

def prediction_record(outcome: Prediction | FileError, top: int | None = None) -> dict[str, Any]:
    """One file's result as ``--output`` and ``--json`` write it: the path as given, then the
    label, its probability and the scores (the ``top`` first), or the error."""
    if isinstance(outcome, FileError):
        return {"file": outcome.file, "error": outcome.message}
    scores = [{"label": label, "probability": p} for label, p in outcome.scores]
    return {"file": outcome.file, "label": outcome.label, "probability": outcome.probability,
            "scores": scores[:top] if top is not None else scores}


def text_line(record: dict[str, Any], width: int, top: int | None) -> str:
    """One result as the text output shows it: the path, then the label and probability (or the top K)."""
    if top is None:
        labels = f"{record['label']}  {record['probability']:.3f}"
    else:
        labels = "  ".join(f"{s['label']} {s['probability']:.3f}" for s in record["scores"])
    return f"{record['file']:<{width}}  {labels}"


#: Widest path column of ``predict``'s text lines: longer paths push their line's labels right, not every line's.
MAX_PATH_COLUMN = 60


def run_predictions(state: State, model_id: str, paths: Sequence[Path], *, output: Path | None, top: int | None,
                    batch_size: int, workers: int, skipped: Sequence[tuple[Path, str]] = ()) -> None:
    """``nanoclient predict``: every file predicted, each line printed as its answer comes; ``skipped``
    (files of the folders given that are no images) named and counted."""
    from ..._results import ResultFile

    results = ResultFile(output) if output is not None else None
    if results is not None:
        click.get_current_context().call_on_close(results.close)
    todo = [path for path in paths if results is None or str(path) not in results.done]
    if results is not None and len(todo) < len(paths):
        had = len(paths) - len(todo)
        info(f"{had} {_plural(had, 'file')} already {'has' if had == 1 else 'have'} a result in {output}; "
             f"predicting the other {len(todo)}")
    for path, reason in skipped:
        info(f"skipped {path}: {reason}")
    width = min(max((len(str(path)) for path in todo), default=0), MAX_PATH_COLUMN)
    predicted = failed = 0
    client = state.client()
    with state.progress(len(todo), min_total=batch_size + 1) as bar:
        try:
            for outcome in client.predict_iter(model_id, todo, batch_size=batch_size, workers=workers):
                record = prediction_record(outcome, top)
                if results is not None:
                    results.write(record)
                if isinstance(outcome, FileError):
                    failed += 1
                    warn(f"failed {outcome.file}: {outcome.message}")
                else:
                    predicted += 1
                if state.json:
                    click.echo(json.dumps(record, ensure_ascii=False))
                elif isinstance(outcome, Prediction):
                    click.echo(text_line(record, width, top))
                bar.update(1)
        except KeyboardInterrupt as exc:
            bar.close()
            done = f"{predicted} of {len(todo)} files predicted"
            how = (f"run the same command to resume: the results so far are in {output}" if output is not None
                   else "pass --output FILE to keep the results and resume")
            raise Interrupted(f"{done}; {how}") from exc
    summary = f"predicted {predicted} {_plural(predicted, 'file')}" + (f", {failed} failed" if failed else "")
    if skipped:
        summary += f", {len(skipped)} skipped"
    if output is not None:
        summary += f"; results in {output}"
    info(summary)
    if failed:
        raise click.exceptions.Exit(1)


def run_evaluation(state: State, model_id: str, folder: Path, *, batch_size: int,
                   workers: int) -> EvaluationResult:
    """``nanoclient evaluate``: every readable file predicted and scored; the failures named."""
    from ...image_categorization.evaluate import evaluate_images, find_test_images

    try:
        items, skipped = find_test_images(folder)
    except FileNotFoundError as exc:
        raise CliFailure(str(exc)) from None
    for path, reason in skipped:
        info(f"skipped {path}: {reason}")
    client = state.client()
    seen = trained_on(client.base_url, model_id, items)
    if seen:
        warn(f"{seen} of the {len(items)} images were uploaded to this model for training (upload journal): "
             "its accuracy on them overstates how it does on new images; evaluate on images it was not trained on")
    with state.progress(len(items), min_total=batch_size + 1) as bar:
        try:
            result = evaluate_images(client, model_id, items, skipped=skipped, progress=bar.update,
                                     batch_size=batch_size, workers=workers)
        except KeyboardInterrupt as exc:
            bar.close()
            raise Interrupted("the evaluation did not finish; run the same command again") from exc
    for file, reason in result.failed:
        warn(f"failed {file}: {reason}")
    if not result.n:
        raise CliFailure(f"none of the {len(items)} images under {folder} could be predicted")
    return result


def trained_on(base_url: str, model_id: str, items: Sequence[tuple[Path, str]]) -> int:
    """How many of the labelled ``items`` this machine's upload journal records as uploaded to the model
    under the same label (0 when there is no journal): images the model was trained on."""
    from ..._journal import UploadJournal, file_digest

    journal = UploadJournal.for_model(base_url, model_id)
    if not len(journal):
        return 0
    seen = 0
    for path, category in items:
        try:
            seen += journal.state(file_digest(path), category) == "stored"
        except OSError:  # the evaluation names the file
            continue
    return seen


__all__ = ["run_predictions", "run_evaluation", "prediction_record", "text_line", "trained_on", "MAX_PATH_COLUMN"]
