"""The long runs of ``nanoclient ocr``: upload, predict (sync and async) and evaluate, each document's
outcome named by its path as it comes, results streamed to ``--output`` and resumed from it.
Imported when the commands run."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._results import RecordFile
from ..ocr_types import PAGE_FAILURE, PAGE_PENDING, PAGE_SUCCESS, OcrPage
from ._framework import CliFailure, CliUsageError, Interrupted, State, _plural, info, list_skipped, warn

if TYPE_CHECKING:
    from .._ocr import Ocr

#: The columns of ``ocr predict --output``: one row per field per page (a page without fields: one row, no field).
COLUMNS = ("file", "page", "field", "text", "score", "xmin", "ymin", "xmax", "ymax", "id", "status", "error")

#: The status of the record written before a document is sent with --async: its ``id`` is the name it is
#: sent under (used once), its ``text`` the day; a rerun that finds no pending pages after it asks the
#: service whether pages of that name exist before sending the document again.
SENDING = "sending"


def day(value: str) -> int:
    """A day given as YYYY-MM-DD or as days before today, in days since 1970-01-01."""
    text = value.strip()
    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        date = today - dt.timedelta(days=int(text)) if text.lstrip("-").isdigit() else dt.date.fromisoformat(text)
    except ValueError:
        raise CliUsageError(f"not a day: {value!r} (give YYYY-MM-DD, or a number of days before today)") from None
    return (date - dt.date(1970, 1, 1)).days


def stop_if_every_file_fails(error: Exception) -> None:
    """Raise a failure that every other document would meet too (a key refused, no such model, a model not
    trained, the quota spent): one line for the run, not one per document."""
    from ..errors import AuthenticationError, BadRequestError, NotFoundError, PaymentRequiredError

    if isinstance(error, (AuthenticationError, NotFoundError, PaymentRequiredError)) or (
            isinstance(error, BadRequestError) and "not trained" in error.message.lower()):
        raise error


# --------------------------------------------------------------------------- upload


def upload_folder(state: State, folder: Path, *, batch_size: int, workers: int, dry_run: bool,
                  wait_lock: bool = False) -> None:
    """``nanoclient ocr upload``: every annotated document of FOLDER (or FOLDER/train) exactly once.

    Ctrl-C at any moment (asking for the model, reading the folder, sending) says how to go on: the
    same command again, which sends only what the model does not list yet. One upload per model at a
    time on this machine (the lock of the model's upload journal): two at once could both send what
    neither saw listed."""
    try:
        _upload_folder(state, folder, batch_size=batch_size, workers=workers, dry_run=dry_run, wait_lock=wait_lock)
    except KeyboardInterrupt as exc:
        raise Interrupted("run the same command again: documents the model already holds are not sent again") \
            from exc


def _upload_folder(state: State, folder: Path, *, batch_size: int, workers: int, dry_run: bool,
                   wait_lock: bool) -> None:
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

    from .._journal import UploadJournal

    client = state.client()
    journal = UploadJournal.for_model(client.base_url, model_id, wait=wait_lock)
    click.get_current_context().call_on_close(journal.close)
    try:
        with journal.locked():
            report = client.ocr.upload(model_id, pairs, batch_size=batch_size, workers=workers, on_result=done)
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


class Progress:
    """What an output file says of each document: read, waiting for its pages by id, or sent without an
    answer kept (the name it was sent under and the day), read from its records in order."""

    def __init__(self, records: Sequence[dict[str, Any]]) -> None:
        pending: dict[str, list[str]] = {}
        final: set[str] = set()
        read: set[str] = set()
        #: file -> (the name it was sent under, the day sent as YYYY-MM-DD) of a send not answered yet
        self.sending: dict[str, tuple[str, str]] = {}
        for record in records:
            file, status, page_id = str(record.get("file") or ""), record.get("status"), str(record.get("id") or "")
            if status == SENDING:
                self.sending[file] = (page_id, str(record.get("text") or ""))
            elif status == PAGE_PENDING and page_id:
                self.sending.pop(file, None)
                if page_id not in pending.setdefault(file, []):
                    pending[file].append(page_id)
            elif status in (PAGE_SUCCESS, PAGE_FAILURE):
                self.sending.pop(file, None)
                read.add(file)
                final.add(page_id)
        #: file -> the ids of its pages sent and not read yet (a file is done when none is left)
        self.waiting = {file: left for file, ids in pending.items() if (left := [i for i in ids if i not in final])}
        #: the files whose every page is read
        self.finished = {file for file in read if file not in self.waiting}
        for file in self.finished | set(self.waiting):
            self.sending.pop(file, None)


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
    progress = Progress(results.records if results is not None else [])
    todo = [path for path in documents if str(path) not in progress.finished]
    if len(todo) < len(documents):
        info(f"{len(documents) - len(todo)} of {len(documents)} documents already read into {output}; "
             f"reading the other {len(todo)}")
    failed = 0

    def emit(file: str, pages: Sequence[OcrPage]) -> None:
        rows = page_rows(file, pages)
        if results is not None:
            results.write_all(rows)
        elif not state.json:
            for row in rows:
                click.echo(f"{file}  page {row['page']}  {row['field'] or '-'}  {row['text']}"
                           + (f"  {row['score']:.3f}" if row.get("score") is not None else "")
                           + (f"  {row['error']}" if row["error"] else ""))
        if results is None and state.json:  # JSON lines: one document a line, as it is read
            click.echo(json.dumps({"file": file, "pages": [page.to_json() for page in pages]}, ensure_ascii=False))

    bar = state.progress(len(todo), "doc")
    try:
        if asynchronous:
            waiting = {file: ids for file, ids in progress.waiting.items()}
            waiting.update(_sent_before(ocr, model_id, {str(path) for path in todo}, progress, emit))
            for path in todo:  # send what was never sent; a rerun only fetches
                if str(path) in waiting:
                    continue
                name = f"{uuid.uuid4().hex[:12]}~{path.name}"  # used once: a cut send can be looked up
                if results is not None:  # always (--async needs --output)
                    results.write({"file": str(path), "id": name, "status": SENDING, "text": _today().isoformat()})
                try:
                    pending = ocr.submit_file(model_id, path, name=name)
                except Exception as exc:  # one bad file costs that file only
                    failed += 1
                    warn(f"failed {path}: {exc}")
                    continue
                emit(str(path), pending)
                waiting[str(path)] = [page.id for page in pending if not page.done]
            for file, ids in waiting.items():
                if ids:
                    pages = ocr.wait_for(model_id, ids, timeout=max(600.0, 30.0 * len(ids)))
                    emit(file, pages)
                bar.update(1)
        else:
            for file, outcome in ocr.predict_files(model_id, todo, workers=workers):
                bar.update(1)
                if isinstance(outcome, Exception):
                    stop_if_every_file_fails(outcome)
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


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _sent_before(ocr: Ocr, model_id: str, files: set[str], progress: Progress,
                 emit: Callable[[str, Sequence[OcrPage]], None]) -> dict[str, list[str]]:
    """The documents among ``files`` that a stopped run was sending when it stopped and the service got:
    their pages as the service lists them (by the name each was sent under) are written, and {file: the
    ids still pending} returned. A document not listed never arrived and is sent again."""
    sending = {file: sent for file, sent in progress.sending.items() if file in files}
    if not sending:
        return {}
    days = []
    for _, day_sent in sending.values():
        try:
            days.append(dt.date.fromisoformat(day_sent))
        except ValueError:
            days.append(_today() - dt.timedelta(days=7))
    since = min(days) - dt.timedelta(days=1)  # a day's margin: the service may count days in another zone
    by_name: dict[str, list[OcrPage]] = {}
    for page in ocr.inferences(model_id, since, _today() + dt.timedelta(days=1)):
        by_name.setdefault(page.input, []).append(page)
    found: dict[str, list[str]] = {}
    for file, (name, _) in sending.items():
        pages = sorted(by_name.get(name, []), key=lambda page: page.page)
        if pages:
            emit(file, pages)
            found[file] = [page.id for page in pages if not page.done]
    if found:
        info(f"{len(found)} {_plural(len(found), 'document')} sent by the stopped run found on the service: "
             "not sent again")
    return found


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
                stop_if_every_file_fails(outcome)
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


__all__ = ["COLUMNS", "Progress", "SENDING", "day", "evaluate_folder", "page_rows", "predict_documents",
           "upload_folder"]
