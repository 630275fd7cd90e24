"""The long runs of ``nanoclient detection``: upload, predict and evaluate, each image's outcome named by its
path as it comes, predictions streamed to ``--output`` and resumed from it. Imported when the commands run."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..._results import RecordFile
from ...object_detection.types import DetectionResult
from .._framework import CliFailure, Interrupted, State, _plural, info, list_skipped, warn


def _count(count: int, noun: str) -> str:
    return f"{count} {_plural(count, noun)}"


def stop_if_every_file_fails(error: Exception) -> None:
    """Raise a failure every other image would meet too (a key refused, no such model, a model not trained,
    the quota spent): one line for the run, not one per image."""
    from ...errors import AuthenticationError, ModelNotTrainedError, NotFoundError, PaymentRequiredError

    if isinstance(error, (AuthenticationError, NotFoundError, PaymentRequiredError, ModelNotTrainedError)):
        raise error


def reason(error: Exception) -> str:
    """One line for why an image failed: the server's message and hint as they are, else the error's line."""
    from ...errors import BadRequestError
    from .._errors import error_line

    if isinstance(error, BadRequestError) and error.status is not None:
        return error.message + (f" ({error.hint})" if error.hint and error.hint not in error.message else "")
    if isinstance(error, (OSError, ValueError)) and not isinstance(error, BadRequestError):
        return str(error)
    return error_line(error, None)


# --------------------------------------------------------------------------- upload


def upload_folder(state: State, folder: Path, *, annotation_file: Path | None, batch_size: int, workers: int,
                  dry_run: bool, wait_lock: bool = False) -> None:
    """``nanoclient detection upload``: every labelled image of FOLDER (or FOLDER/train) exactly once.

    Ctrl-C at any moment says how to go on: the same command again, which sends only what the model does not
    list yet (the listing is the journal). One upload per model at a time on this machine (the lock of the
    model's upload journal): two at once could both send what neither saw listed."""
    try:
        _upload_folder(state, folder, annotation_file=annotation_file, batch_size=batch_size, workers=workers,
                       dry_run=dry_run, wait_lock=wait_lock)
    except KeyboardInterrupt as exc:
        raise Interrupted("run the same command again: images the model already holds are not sent again") \
            from exc


def _upload_folder(state: State, folder: Path, *, annotation_file: Path | None, batch_size: int, workers: int,
                   dry_run: bool, wait_lock: bool) -> None:
    from ...object_detection.dataset import labelled_images, training_root

    root = training_root(folder)
    categories = None
    model_id = ""
    if not dry_run:
        model_id = state.model_id()
        categories = [c.name for c in state.client().object_detection.get_model(model_id).categories]
    pairs, skipped = labelled_images(root, categories=categories, annotation_file=annotation_file)
    list_skipped(skipped)
    boxes = sum(len(annotation.boxes) for _, annotation in pairs)
    info(f"{_count(len(pairs), 'labelled image')} ({boxes} {'box' if boxes == 1 else 'boxes'}) in {root}"
         + (f", {_count(len(skipped), 'file')} skipped" if skipped else ""))
    if dry_run:
        state.emit({"images": len(pairs), "boxes": boxes,
                    "skipped": [{"path": str(p), "reason": r} for p, r in skipped]})
        return
    if not pairs:
        raise CliFailure(f"nothing to upload: no labelled image in {root}")
    bar = state.progress(len(pairs), "img")
    outcomes: list[dict[str, Any]] = []

    def done(path: str, error: Exception | None) -> None:
        bar.update(1)
        outcomes.append({"path": path, "error": None if error is None else reason(error)})
        if error is not None:
            warn(f"failed {path}: {reason(error)}")

    from ..._journal import UploadJournal

    client = state.client()
    journal = UploadJournal.for_model(client.base_url, model_id, wait=wait_lock)
    click.get_current_context().call_on_close(journal.close)
    try:
        with journal.locked():
            report = client.object_detection.upload(model_id, pairs, batch_size=batch_size, workers=workers,
                                                    on_result=done)
    finally:
        bar.close()
    info(f"{len(report.uploaded)} uploaded, {len(report.already)} already in the model"
         + (f", {len(report.failed)} failed" if report.failed else ""))
    state.emit({**report.to_json(), "skipped": [{"path": str(p), "reason": r} for p, r in skipped],
                "files": outcomes})
    if report.failed or skipped:
        count = len(report.failed) + len(skipped)
        raise CliFailure(f"{_count(count, 'file')} {'was' if count == 1 else 'were'} not uploaded (named above)")


# --------------------------------------------------------------------------- predict


def result_record(file: str, result: DetectionResult, threshold: float) -> dict[str, Any]:
    """The record of one image: its file and the objects scored at ``threshold`` or more."""
    return {"file": file, "objects": [o.to_json() for o in result.above(threshold)]}


def predict_images(state: State, paths: Sequence[Path], *, output: Path | None, threshold: float, batch_size: int,
                   workers: int) -> None:
    """``nanoclient detection predict``: each image's objects printed or written as its answer comes; with
    --output, images already answered there are not sent again."""
    from ...object_detection.dataset import find_images

    images, skipped = find_images(paths)
    list_skipped(skipped)
    if not images:
        raise CliFailure("no PNG or JPEG image among the paths given")
    model_id = state.model_id()
    results = RecordFile(output) if output is not None else None
    if results is not None:
        click.get_current_context().call_on_close(results.close)
    answered = {str(r.get("file")) for r in (results.records if results is not None else []) if not r.get("error")}
    todo = [path for path in images if str(path) not in answered]
    if len(todo) < len(images):
        info(f"{len(images) - len(todo)} of {_count(len(images), 'image')} already answered in {output}; "
             f"sending the other {len(todo)}")
    failed = 0
    bar = state.progress(len(todo), "img")
    try:
        for file, outcome in state.client().object_detection.predict_files(model_id, todo, batch_size=batch_size,
                                                                           workers=workers):
            bar.update(1)
            if isinstance(outcome, Exception):
                stop_if_every_file_fails(outcome)
                failed += 1
                warn(f"failed {file}: {reason(outcome)}")
                if results is not None:
                    results.write({"file": file, "objects": [], "error": reason(outcome)})
                continue
            record = result_record(file, outcome, threshold)
            if results is not None:
                results.write(record)
            elif state.json:
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                for o in record["objects"]:
                    click.echo(f"{file}  {o['label']}  {o['xmin']},{o['ymin']},{o['xmax']},{o['ymax']}"
                               + (f"  {o['score']:.3f}" if o["score"] is not None else ""))
                if not record["objects"]:
                    click.echo(f"{file}  -")
    except KeyboardInterrupt as exc:
        where = f" with --output {output}: images already answered are not sent again" if output else ""
        raise Interrupted(f"run the same command again{where}") from exc
    finally:
        bar.close()
    if failed:
        raise CliFailure(f"{failed} of {_count(len(todo), 'image')} could not be read (named above)")


# --------------------------------------------------------------------------- evaluate


def evaluate_folder(state: State, folder: Path, *, report: Path | None, threshold: float, workers: int) -> None:
    """``nanoclient detection evaluate``: find the objects in every labelled image of FOLDER (or FOLDER/test)
    and score them against the true boxes (``object_detection.evaluate``)."""
    from ...object_detection.dataset import evaluation_root, labelled_images
    from ...object_detection.evaluate import evaluate, true_boxes

    root = evaluation_root(folder)
    model_id = state.model_id()
    detection = state.client().object_detection
    categories = [c.name for c in detection.get_model(model_id).categories]
    pairs, skipped = labelled_images(root, categories=categories)
    list_skipped(skipped)
    if not pairs:
        raise CliFailure(f"no labelled image in {root} to evaluate on")
    truths = {str(path): true_boxes(annotation) for path, annotation in pairs}
    scored: list[tuple[str, Any, Any]] = []
    failures: list[tuple[str, str]] = []
    bar = state.progress(len(pairs), "img")
    try:
        for file, outcome in detection.predict_files(model_id, [path for path, _ in pairs], workers=workers):
            bar.update(1)
            if isinstance(outcome, Exception):
                stop_if_every_file_fails(outcome)
                failures.append((file, reason(outcome)))
                warn(f"failed {file}: {failures[-1][1]}")
                continue
            scored.append((file, truths[file], outcome.objects))
    except KeyboardInterrupt as exc:
        raise Interrupted("the evaluation did not finish; run it again") from exc
    finally:
        bar.close()
    result = evaluate(scored, categories, threshold=threshold)
    if report is not None:
        from ...object_detection.report import write_report

        write_report(report, result, {file: file for file, _, _ in scored}, model_id=model_id,
                     title=f"Object detection model {model_id} on {root}", failures=failures)
        info(f"report written to {report}")
    body = result.to_json()
    state.emit({**body, "failed": [{"path": p, "error": e} for p, e in failures]},
               f"{_count(len(scored), 'image')}\n" + result.format_text())
    if failures:
        raise CliFailure(f"{_count(len(failures), 'image')} could not be read (named above)")


__all__ = ["evaluate_folder", "predict_images", "reason", "result_record", "upload_folder"]
