"""The long runs of ``nanoclient ocr``: upload, predict (sync and async) and evaluate, each document's
outcome named by its path as it comes, results streamed to ``--output`` and resumed from it.
Imported when the commands run."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .._results import RecordFile
from ..ocr_types import PAGE_PENDING, OcrPage
from ._framework import CliFailure, CliUsageError, Interrupted, State, _plural, info, list_skipped, warn

#: The columns of ``ocr predict --output``: one row per field per page (a page without fields: one row, no field).
COLUMNS = ("file", "page", "field", "text", "score", "xmin", "ymin", "xmax", "ymax", "id", "status", "error")


def day(value: str) -> int:
    """A day given as YYYY-MM-DD or as days before today, in days since 1970-01-01."""
    text = value.strip()
    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        date = today - dt.timedelta(days=int(text)) if text.lstrip("-").isdigit() else dt.date.fromisoformat(text)
    except ValueError:
        raise CliUsageError(f"not a day: {value!r} (give YYYY-MM-DD, or a number of days before today)") from None
    return (date - dt.date(1970, 1, 1)).days


# --------------------------------------------------------------------------- upload


def upload_folder(state: State, folder: Path, *, batch_size: int, workers: int, dry_run: bool) -> None:
    """``nanoclient ocr upload``: every annotated document of FOLDER (or FOLDER/train) exactly once."""
    from ..documents import labelled_documents, training_root

    root = training_root(folder)
    fields = None
    model_id = ""
    if not dry_run:
        model_id = state.model_id()
        fields = [c.name for c in state.client().ocr.get_model(model_id).categories]
    pairs, skipped = labelled_documents(root, fields=fields)
    list_skipped(skipped)
    info(f"{len(pairs)} annotated {_plural(len(pairs), 'document')} in {root}"
         + (f", {len(skipped)} {_plural(len(skipped), 'file')} skipped" if skipped else ""))
    if dry_run:
        state.emit({"documents": len(pairs), "skipped": [{"path": str(p), "reason": r} for p, r in skipped]})
        return
    if not pairs:
        raise CliFailure(f"nothing to upload: no annotated document in {root}")
    bar = state.progress(len(pairs), "doc")

    def done(path: str, error: Exception | None) -> None:
        bar.update(1)
        if error is not None:
            warn(f"failed {path}: {error}")

    try:
        report = state.client().ocr.upload(model_id, pairs, batch_size=batch_size, workers=workers, on_result=done)
    except KeyboardInterrupt as exc:
        raise Interrupted("run the same command again: documents the model already holds are not sent again") \
            from exc
    finally:
        bar.close()
    info(f"{len(report.uploaded)} uploaded, {len(report.already)} already in the model"
         + (f", {len(report.failed)} failed" if report.failed else ""))
    state.emit({**report.to_json(), "skipped": len(skipped)})
    if report.failed or skipped:
        raise CliFailure(f"{len(report.failed) + len(skipped)} files were not uploaded (named above)")


# --------------------------------------------------------------------------- predict


def page_rows(file: str, pages: Sequence[OcrPage]) -> list[dict[str, Any]]:
    """The rows of one document: one per field per page; a page without a field has one row without."""
    rows = []
    for page in pages:
        base = {"file": file, "page": page.page, "id": page.id, "status": page.status,
                "error": page.message if page.status == "failure" else ""}
        if not page.fields or page.status == PAGE_PENDING:
            rows.append({**base, "field": "", "text": ""})
        rows.extend({**base, "field": f.label, "text": f.text, "score": f.score, "xmin": f.xmin, "ymin": f.ymin,
                     "xmax": f.xmax, "ymax": f.ymax} for f in page.fields)
    return rows


def predict_documents(state: State, paths: Sequence[Path], *, output: Path | None, asynchronous: bool,
                      workers: int) -> None:
    """``nanoclient ocr predict``: each document's rows printed or written as it is read."""
    from ..documents import find_documents

    documents, skipped = find_documents(paths)
    list_skipped(skipped)
    if not documents:
        raise CliFailure("no PNG, JPEG or PDF document among the paths given")
    model_id = state.model_id()
    ocr = state.client().ocr
    results = RecordFile(output, COLUMNS) if output is not None else None
    if results is not None:
        click.get_current_context().call_on_close(results.close)
    finished = {str(r["file"]) for r in results.records if r.get("status") in ("success", "failure")} \
        if results is not None else set()
    waiting: dict[str, list[str]] = {}
    for record in results.records if results is not None else []:
        if record.get("status") == PAGE_PENDING and str(record["file"]) not in finished and record.get("id"):
            waiting.setdefault(str(record["file"]), []).append(str(record["id"]))
    todo = [path for path in documents if str(path) not in finished]
    if len(todo) < len(documents):
        info(f"{len(documents) - len(todo)} of {len(documents)} documents already read into {output}; "
             f"reading the other {len(todo)}")
    failed = 0

    def emit(file: str, pages: Sequence[OcrPage]) -> None:
        for row in page_rows(file, pages):
            if results is not None:
                results.write(row)
            elif not state.json:
                click.echo(f"{file}  page {row['page']}  {row['field'] or '-'}  {row['text']}"
                           + (f"  {row['score']:.3f}" if row.get("score") is not None else "")
                           + (f"  {row['error']}" if row["error"] else ""))
        if results is None and state.json:
            state.emit({"file": file, "pages": [page.to_json() for page in pages]})

    bar = state.progress(len(todo), "doc")
    try:
        if asynchronous:
            for path in todo:  # send what was never sent; a rerun only fetches
                if str(path) in waiting:
                    continue
                try:
                    pending = ocr.submit_file(model_id, path)
                except Exception as exc:  # one bad file costs that file only
                    failed += 1
                    warn(f"failed {path}: {exc}")
                    continue
                emit(str(path), pending)
                waiting[str(path)] = [page.id for page in pending]
            for file, ids in waiting.items():
                pages = ocr.wait_for(model_id, ids, timeout=max(600.0, 30.0 * len(ids)))
                emit(file, pages)
                bar.update(1)
        else:
            for file, outcome in ocr.predict_files(model_id, todo, workers=workers):
                bar.update(1)
                if isinstance(outcome, Exception):
                    failed += 1
                    warn(f"failed {file}: {outcome}")
                    if results is not None:
                        results.write({"file": file, "status": "", "error": str(outcome)})
                    continue
                emit(file, outcome)
    except KeyboardInterrupt as exc:
        where = f" with --output {output}: documents already read are skipped" if output else ""
        raise Interrupted(f"run the same command again{where}") from exc
    finally:
        bar.close()
    if failed:
        raise CliFailure(f"{failed} of {len(todo)} {_plural(len(todo), 'document')} could not be read (named above)")


# --------------------------------------------------------------------------- evaluate


def evaluate_folder(state: State, folder: Path, *, report: Path | None, workers: int) -> None:
    """``nanoclient ocr evaluate``: read every annotated document of FOLDER (or FOLDER/test) and score it."""
    from ..documents import labelled_documents
    from ..ocr_evaluate import evaluate

    root = folder / "test" if (folder / "test").is_dir() else folder
    model_id = state.model_id()
    ocr = state.client().ocr
    model = ocr.get_model(model_id)
    fields = [c.name for c in model.categories]
    pairs, skipped = labelled_documents(root, fields=fields)
    list_skipped(skipped)
    if not pairs:
        raise CliFailure(f"no annotated document in {root} to evaluate on")
    annotations = {str(path): annotation for path, annotation in pairs}
    read: list[tuple[str, Any, Sequence[OcrPage]]] = []
    bar = state.progress(len(pairs), "doc")
    try:
        for file, outcome in ocr.predict_files(model_id, [path for path, _ in pairs], workers=workers):
            bar.update(1)
            if isinstance(outcome, Exception):
                warn(f"failed {file}: {outcome}")
                continue
            read.append((file, annotations[file], outcome))
    except KeyboardInterrupt as exc:
        raise Interrupted("the evaluation did not finish; run it again") from exc
    finally:
        bar.close()
    result = evaluate(read, fields)
    lines = [f"{len(read)} documents, {result.labelled} labelled values: exact-text accuracy "
             + (f"{result.accuracy:.3f}" if result.accuracy is not None else "-"),
             f"  {'field':<20} {'precision':>9} {'recall':>7} {'exact':>7}"]
    for score in result.fields:
        cells = [f"{value:.3f}" if value is not None else "-" for value in (score.precision, score.recall,
                                                                             score.accuracy)]
        lines.append(f"  {score.field:<20} {cells[0]:>9} {cells[1]:>7} {cells[2]:>7}")
    if report is not None:
        from ..ocr_report import write_report

        write_report(report, result, model_id=model_id, title=f"OCR model {model_id} on {root}")
        info(f"report written to {report}")
    state.emit(result.to_json(), "\n".join(lines))
    if len(read) < len(pairs):
        raise CliFailure(f"{len(pairs) - len(read)} documents could not be read (named above)")


__all__ = ["COLUMNS", "day", "evaluate_folder", "page_rows", "predict_documents", "upload_folder"]
