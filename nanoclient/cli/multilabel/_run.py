"""The long runs of ``nanoclient multilabel``: upload, predict and evaluate, each image's outcome named by its
path as it comes, predictions streamed to ``--output`` and resumed from it. Imported when the commands run."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..._results import RecordFile
from ...multilabel.labels import LabelsError, find_labels
from ...multilabel.types import MultilabelPrediction
from .._framework import CliFailure, CliUsageError, Interrupted, State, _plural, info, list_skipped, warn

#: The columns of ``multilabel predict --output``: one row per image.
COLUMNS = ("file", "labels", "error", "scores")
#: What separates the labels in a CSV cell (as in a labels CSV).
SEPARATOR = ";"


def labelled_images(root: Path, labels_file: Path | None) -> tuple[list[tuple[Path, tuple[str, ...]]],
                                                                   list[tuple[Path, str]]]:
    """(image, its labels) of every image under ``root``, and (path, why) of what was skipped: files that are
    not images (but the ``.txt`` of labels beside an image, and the labels file), and images the labels say
    nothing about. A labels file that cannot be read is a usage
    error (it concerns every image)."""
    from ...images import find_images

    images, skipped = find_images([root])
    skipped = not_labels(images, skipped, labels_file)
    try:
        found = find_labels(images, labels_file)
    except LabelsError as exc:
        raise CliUsageError(str(exc)) from None
    hint = f"no entry in {labels_file}" if labels_file is not None else "no .txt of labels beside it"
    skipped = [*skipped, *((path, hint) for path in found.unlabelled)]
    return [(path, found.labels[path]) for path in images if path in found.labels], skipped


def not_labels(images: Sequence[Path], skipped: Sequence[tuple[Path, str]],
               labels_file: Path | None = None) -> list[tuple[Path, str]]:
    """The files skipped as no images, but the labels themselves (the ``.txt`` beside an image, the labels
    file): those are no images to tell the user about."""
    stems = {path.with_suffix("") for path in images}
    labels_path = labels_file.resolve() if labels_file is not None else None
    return [(path, why) for path, why in skipped
            if not (path.suffix.lower() == ".txt" and path.with_suffix("") in stems)
            and (labels_path is None or path.resolve() != labels_path)]


def reason(error: Exception, file: str = "") -> str:
    """One line for why an image failed, without its name when the message starts with it."""
    from ...errors import BadRequestError
    from .._errors import error_line

    if isinstance(error, BadRequestError) and error.status is not None:
        hint = error.hint
        text = error.message + (f" ({hint})" if hint and hint not in error.message else "")
    elif isinstance(error, OSError) and not error.filename:
        text = str(error)
    else:
        text = error_line(error, None)
    name = Path(file).name
    for prefix in (f"{name}: ", f"{name} "):
        if name and text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix):]
    return text


# --------------------------------------------------------------------------- upload


def upload_folder(state: State, root: Path, labels_file: Path | None, *, batch_size: int, workers: int,
                  dry_run: bool, wait_lock: bool = False) -> None:
    """``nanoclient multilabel upload``: every labelled image of ``root`` exactly once (Ctrl-C: run the same
    command again, which sends only what the model does not list yet)."""
    try:
        _upload_folder(state, root, labels_file, batch_size=batch_size, workers=workers, dry_run=dry_run,
                       wait_lock=wait_lock)
    except KeyboardInterrupt as exc:
        raise Interrupted("run the same command again: images the model already holds are not sent again") \
            from exc


def _upload_folder(state: State, root: Path, labels_file: Path | None, *, batch_size: int, workers: int,
                   dry_run: bool, wait_lock: bool) -> None:
    pairs, skipped = labelled_images(root, labels_file)
    model_id = ""
    if not dry_run:
        model_id = state.model_id()
        known = {c.name for c in state.client().multilabel.get_model(model_id).categories}
        kept = []
        for path, labels in pairs:
            unknown = [label for label in labels if label not in known]
            if unknown:
                verb = "is not a label" if len(unknown) == 1 else "are not labels"
                skipped.append((path, f"{', '.join(unknown)} {verb} of the model ({', '.join(sorted(known))})"))
            else:
                kept.append((path, labels))
        pairs = kept
    list_skipped(skipped)
    info(f"{_count(len(pairs), 'labelled image')} in {root}"
         + (f", {_count(len(skipped), 'file')} skipped" if skipped else ""))
    outcomes: dict[str, dict[str, Any]] = {
        str(path): {"path": str(path), "outcome": "skipped", "error": why} for path, why in skipped}
    if dry_run:
        state.emit({"images": len(pairs), "skipped": [{"path": str(p), "reason": r} for p, r in skipped]})
        return
    if not pairs:
        raise CliFailure(f"nothing to upload: no labelled image in {root}")
    bar = state.progress(len(pairs), "img")

    def done(path: str, error: Exception | None) -> None:
        bar.update(1)
        if error is not None:
            outcomes[path] = {"path": path, "outcome": "failed", "error": reason(error, path)}
            warn(f"failed {path}: {reason(error, path)}")

    from ..._journal import UploadJournal

    client = state.client()
    journal = UploadJournal.for_model(client.base_url, model_id, wait=wait_lock)
    click.get_current_context().call_on_close(journal.close)
    try:
        with journal.locked():
            report = client.multilabel.upload(model_id, pairs, batch_size=batch_size, workers=workers,
                                              on_result=done)
    finally:
        bar.close()
    for sent in report.uploaded:
        outcomes[sent] = {"path": sent, "outcome": "uploaded", "error": ""}
    for held in report.already:
        outcomes[held] = {"path": held, "outcome": "already", "error": ""}
    info(f"{len(report.uploaded)} uploaded, {len(report.already)} already in the model"
         + (f", {len(report.failed)} failed" if report.failed else ""))
    state.emit({**report.to_json(), "skipped": len(skipped),
                "files": sorted(outcomes.values(), key=lambda item: str(item["path"]))})
    if report.failed or skipped:
        count = len(report.failed) + len(skipped)
        raise CliFailure(f"{_count(count, 'file')} {'was' if count == 1 else 'were'} not uploaded (named above)")


# --------------------------------------------------------------------------- predict


def prediction_row(file: str, outcome: MultilabelPrediction | Exception) -> dict[str, Any]:
    """The row of one image: its labels (``;`` between them), the error, and every label's probability."""
    if isinstance(outcome, Exception):
        return {"file": file, "labels": "", "error": reason(outcome, file), "scores": {}}
    return {"file": file, "labels": SEPARATOR.join(outcome.labels), "error": "",
            "scores": {score.label: round(score.probability, 6) for score in outcome.scores}}


def predict_images(state: State, paths: Sequence[Path], *, output: Path | None, batch_size: int,
                   workers: int) -> None:
    """``nanoclient multilabel predict``: each image's labels printed or written as it is predicted; with
    --output, the images it holds already are not sent again."""
    from ...images import find_images

    images, skipped = find_images(paths)
    list_skipped(not_labels(images, skipped))
    if not images:
        raise CliFailure("no PNG or JPEG image among the paths given")
    model_id = state.model_id()
    results = RecordFile(output, COLUMNS) if output is not None else None
    if results is not None:
        click.get_current_context().call_on_close(results.close)
    finished = {str(r["file"]) for r in (results.records if results is not None else []) if not r.get("error")}
    todo = [path for path in images if str(path) not in finished]
    if len(todo) < len(images):
        info(f"{len(images) - len(todo)} of {_count(len(images), 'image')} already predicted into {output}; "
             f"predicting the other {len(todo)}")
    failed = 0
    bar = state.progress(len(todo), "img")
    try:
        for file, outcome in state.client().multilabel.predict_files(model_id, todo, batch_size=batch_size,
                                                                     workers=workers):
            bar.update(1)
            row = prediction_row(file, outcome)
            if isinstance(outcome, Exception):
                failed += 1
                warn(f"failed {file}: {row['error']}")
            if results is not None:
                results.write({**row, "scores": json.dumps(row["scores"]) if results.csv else row["scores"]})
            elif state.json:
                click.echo(json.dumps(row, ensure_ascii=False))
            elif not isinstance(outcome, Exception):
                shown = ", ".join(f"{label} {p:.2f}" for label, p in row["scores"].items())
                click.echo(f"{file}  {', '.join(outcome.labels) or '-'}  ({shown})")
    except KeyboardInterrupt as exc:
        again = "run the same command again: the images in the output are not sent again" if output else \
            "predict the remaining images again"
        raise Interrupted(again) from exc
    finally:
        bar.close()
    if output is not None:
        info(f"{len(todo) - failed} predicted into {output}" + (f", {failed} failed" if failed else ""))
    if failed:
        raise CliFailure(f"{_count(failed, 'image')} could not be predicted (named above)")


# --------------------------------------------------------------------------- evaluate


def evaluate_folder(state: State, root: Path, labels_file: Path | None, *, report: Path | None, batch_size: int,
                    workers: int) -> None:
    """``nanoclient multilabel evaluate``: predict every labelled image of ``root`` and score the answers."""
    from ...multilabel.evaluate import evaluate_predictions

    pairs, skipped = labelled_images(root, labels_file)
    list_skipped(skipped)
    if not pairs:
        raise CliFailure(f"nothing to evaluate: no labelled image in {root}")
    model_id = state.model_id()
    client = state.client()
    model_labels = [c.name for c in client.multilabel.get_model(model_id).categories]
    truth = {str(path): labels for path, labels in pairs}
    predictions: list[MultilabelPrediction] = []
    failed: list[tuple[str, str]] = []
    bar = state.progress(len(pairs), "img")
    try:
        for file, outcome in client.multilabel.predict_files(model_id, [path for path, _ in pairs],
                                                             batch_size=batch_size, workers=workers):
            bar.update(1)
            if isinstance(outcome, Exception):
                failed.append((file, reason(outcome, file)))
                warn(f"failed {file}: {reason(outcome, file)}")
            else:
                predictions.append(outcome)
    except KeyboardInterrupt as exc:
        raise Interrupted("evaluate again: nothing was stored") from exc
    finally:
        bar.close()
    if not predictions:
        raise CliFailure("no image could be predicted (named above)")
    for file, _ in failed:
        truth.pop(file, None)
    result = evaluate_predictions(truth, predictions, labels=model_labels, model_id=model_id,
                                  skipped=[*((str(p), why) for p, why in skipped), *failed])
    if report is not None:
        from ...multilabel.report import write_report

        write_report(result, report, title=f"Multi-label model {model_id}")
        info(f"report written to {report}")
    state.emit(result.to_json(), result.format_text())


def _count(count: int, word: str) -> str:
    return f"{count} {_plural(count, word)}"


__all__ = ["COLUMNS", "evaluate_folder", "labelled_images", "predict_images", "prediction_row", "reason",
           "upload_folder"]
