"""The long runs of ``nanoclient ocr``: upload, predict (sync and async) and evaluate, each document's
outcome named by its path as it comes, results streamed to ``--output`` and resumed from it.
Imported when the commands run."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..._results import RecordFile
from ...ocr.types import PAGE_FAILURE, PAGE_PENDING, PAGE_SUCCESS, OcrPage
from .._framework import CliFailure, CliUsageError, Interrupted, State, _plural, info, list_skipped, warn
from ._journal import PENDING, SENDING, SendJournal

if TYPE_CHECKING:
    from ...ocr._resource import Ocr

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


def stop_if_every_file_fails(error: Exception) -> None:
    """Raise a failure that every other document would meet too (a key refused, no such model, a model not
    trained, the quota spent): one line for the run, not one per document."""
    from ...errors import AuthenticationError, BadRequestError, NotFoundError, PaymentRequiredError

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
    from ...documents import labelled_documents, training_root

    root = training_root(folder)
    fields = None
    model_id = ""
    if not dry_run:
        model_id = state.model_id()
        fields = [c.name for c in state.client().ocr.get_model(model_id).categories]
    pairs, skipped = labelled_documents(root, fields=fields)
    list_skipped(skipped)
    info(f"{_count(len(pairs), 'annotated document')} in {root}"
         + (f", {_count(len(skipped), 'file')} skipped" if skipped else ""))
    if dry_run:
        state.emit({"documents": len(pairs), "skipped": [{"path": str(p), "reason": r} for p, r in skipped]})
        return
    if not pairs:
        raise CliFailure(f"nothing to upload: no annotated document in {root}")
    bar = state.progress(len(pairs), "doc")

    def done(path: str, error: Exception | None) -> None:
        bar.update(1)
        if error is not None:
            warn(f"failed {path}: {reason(error, path)}")

    from ..._journal import UploadJournal

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
        count = len(report.failed) + len(skipped)
        raise CliFailure(f"{_count(count, 'file')} {'was' if count == 1 else 'were'} not uploaded (named above)")


# --------------------------------------------------------------------------- predict


def page_rows(file: str, pages: Sequence[OcrPage], normalize: str | None = None) -> list[dict[str, Any]]:
    """The rows of one document: one per field per page; a page without a field has one row without. With
    ``normalize`` (a locale, or "" for none), each field's row has its ``value`` (``values.normalized``)."""
    rows = []
    for page in pages:
        base = {"file": file, "page": page.page, "id": page.id, "status": page.status,
                "error": page.message if page.status == "failure" else ""}
        if not page.fields or page.status == PAGE_PENDING:
            rows.append({**base, "field": "", "text": ""})
        rows.extend({**base, "field": f.label, "text": f.text, "score": f.score, "xmin": f.xmin, "ymin": f.ymin,
                     "xmax": f.xmax, "ymax": f.ymax} for f in page.fields)
    if normalize is not None:
        from ...ocr.values import normalized

        for row in rows:
            row["value"] = normalized(str(row["text"]), normalize or None) if row["field"] else ""
    return rows


def reason(error: Exception, file: str = "") -> str:
    """One line for why a document failed, said once: the error's message and its hint (unless the message
    says it already), without the request's URL, and without the file's name when the message starts with
    it (the line names the file already)."""
    from ...errors import BadRequestError
    from .._errors import error_line

    if isinstance(error, BadRequestError) and error.status is not None and "not trained" not in error.message:
        hint = error.hint  # the server's reason for this document: said as it is
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


class Progress:
    """What an output file and its journal (``_ocr_journal``) say of each document: read, waiting for its
    pages by id, or sent without an answer kept (the name it was sent under and the day).

    A file is read when the output holds its rows (written all at once, when every page is read). Output
    files of older versions, which kept their "sending" and "pending" records among the results, are read
    the same way."""

    def __init__(self, results: Sequence[dict[str, Any]], journal: Sequence[dict[str, Any]] = ()) -> None:
        pending: dict[str, list[str]] = {}
        #: file -> (the name it was sent under, the day sent as YYYY-MM-DD) of a send not answered yet
        self.sending: dict[str, tuple[str, str]] = {}
        #: the files whose every page is read
        self.finished: set[str] = set()
        for record in [*journal, *results]:
            file, status = str(record.get("file") or ""), record.get("status")
            if status == SENDING:
                self.sending[file] = (str(record.get("sent_as") or record.get("id") or ""),
                                      str(record.get("day") or record.get("text") or ""))
            elif status == PENDING:
                self.sending.pop(file, None)
                listed = record.get("ids")
                ids = listed if isinstance(listed, list) else [record.get("id")]
                for page_id in (str(i) for i in ids if i):
                    if page_id not in pending.setdefault(file, []):
                        pending[file].append(page_id)
            elif status in (PAGE_SUCCESS, PAGE_FAILURE):
                self.finished.add(file)
        #: file -> the ids of its pages sent and not read yet
        self.waiting = {file: ids for file, ids in pending.items() if ids and file not in self.finished}
        for file in self.finished | set(self.waiting):
            self.sending.pop(file, None)


def predict_documents(state: State, paths: Sequence[Path], *, output: Path | None, asynchronous: bool,
                      workers: int, normalize: str | None = None) -> None:
    """``nanoclient ocr predict``: each document's rows printed or written as it is read.

    Documents go in one request each, except with ``--async`` and for documents of more than
    ``ASYNC_PAGES`` pages, which are sent once and fetched by id (``_ocr`` says why): those are sent
    first, so that the server reads them while the others are read, then waited for. With --output, what
    was sent and not yet read is kept in the journal beside it (``_ocr_journal``), so a rerun fetches
    it instead of sending it again."""
    from ...documents import find_documents
    from ...ocr._resource import ASYNC_PAGES, async_wait, page_count

    documents, skipped = find_documents(paths)
    list_skipped(skipped)
    if not documents:
        raise CliFailure("no PNG, JPEG or PDF document among the paths given")
    model_id = state.model_id()
    ocr = state.client().ocr
    columns = COLUMNS if normalize is None else (*COLUMNS[:4], "value", *COLUMNS[4:])
    results = RecordFile(output, columns) if output is not None else None
    journal = SendJournal(output) if output is not None else None
    if results is not None and journal is not None:
        click.get_current_context().call_on_close(results.close)
        click.get_current_context().call_on_close(journal.close)
    progress = Progress(results.records if results is not None else [],
                        journal.records if journal is not None else [])
    todo = [path for path in documents if str(path) not in progress.finished]
    if len(todo) < len(documents):
        info(f"{len(documents) - len(todo)} of {_count(len(documents), 'document')} already read into {output}; "
             f"reading the other {len(todo)}")
    if asynchronous:
        later = list(todo)
    else:
        later = [path for path in todo if str(path) in progress.waiting or str(path) in progress.sending
                 or _pages(path, page_count) > ASYNC_PAGES]
        fresh = [path for path in later if str(path) not in progress.waiting and str(path) not in progress.sending]
        if fresh:
            info(f"{_count(len(fresh), 'document')} of more than {ASYNC_PAGES} pages "
                 f"({_names(fresh)}): read asynchronously, sent once then fetched by id")
    now = [path for path in todo if path not in set(later)]
    read: set[str] = set()
    failed = 0

    def emit(file: str, pages: Sequence[OcrPage]) -> None:
        read.add(file)
        rows = page_rows(file, pages, normalize)
        if results is not None:
            results.write_all(rows)
        elif not state.json:
            for row in rows:
                click.echo(f"{file}  page {row['page']}  {row['field'] or '-'}  {row['text']}"
                           + (f"  = {row['value']}" if row.get("value") not in (None, "", row["text"]) else "")
                           + (f"  {row['score']:.3f}" if row.get("score") is not None else "")
                           + (f"  {row['error']}" if row["error"] else ""))
        if results is None and state.json:  # JSON lines: one document a line, as it is read
            click.echo(json.dumps({"file": file, "pages": [page.to_json() for page in pages]}, ensure_ascii=False))

    def fail(file: str, error: Exception) -> None:
        nonlocal failed
        failed += 1
        warn(f"failed {file}: {reason(error, file)}")

    bar = state.progress(len(todo), "doc")
    try:
        waiting = {file: ids for file, ids in progress.waiting.items() if file in {str(p) for p in later}}
        waiting.update(_sent_before(ocr, model_id, {str(path) for path in later}, progress, emit, journal))
        bar.update(len(read))  # read by the stopped run: found whole on the service
        for path in later:  # send what was never sent; a rerun only fetches
            if str(path) in waiting or str(path) in read:
                continue
            sent = _send(ocr, model_id, path, journal)
            if isinstance(sent, Exception):
                stop_if_every_file_fails(sent)
                fail(str(path), sent)
                bar.update(1)
                continue
            waiting[str(path)] = sent
        for file, outcome in ocr.predict_files(model_id, now, workers=workers, asynchronous=False):
            bar.update(1)
            if isinstance(outcome, Exception):
                stop_if_every_file_fails(outcome)
                fail(file, outcome)
                if results is not None:
                    results.write({"file": file, "status": "", "error": reason(outcome, file)})
                continue
            emit(file, outcome)
        for file, ids in waiting.items():
            try:
                emit(file, ocr.wait_for(model_id, ids, timeout=async_wait(len(ids))))
            except TimeoutError as exc:
                fail(file, TimeoutError(f"{exc}; run the same command again to fetch it (it is not sent again)"
                                        if journal is not None else f"{exc}: {', '.join(ids)}"))
            except Exception as exc:  # one document's fetch failing costs that document only
                fail(file, exc)
            bar.update(1)
    except KeyboardInterrupt as exc:
        where = (f" with --output {output}: documents already read are skipped, documents sent are fetched "
                 "and not sent again") if output else ""
        raise Interrupted(f"run the same command again{where}") from exc
    finally:
        bar.close()
    if journal is not None and journal.files() <= progress.finished | read:
        journal.remove()  # every document it names is read: nothing left to resume
    if failed:
        raise CliFailure(f"{failed} of {_count(len(todo), 'document')} could not be read (named above)")


def _send(ocr: Ocr, model_id: str, path: Path, journal: SendJournal | None) -> list[str] | Exception:
    """Send one document to be read asynchronously under a name used once, its journal records written
    before and after: the ids of its pages, or the error (a send whose answer was lost is looked up by
    its name on the next run, not sent again blindly)."""
    from ...ocr._resource import once_name

    name = once_name(path)
    if journal is not None:
        journal.sending(str(path), name, _today().isoformat())
    try:
        pending = ocr.submit_file(model_id, path, name=name)
    except Exception as exc:  # one bad file costs that file only
        return exc
    ids = [page.id for page in pending]
    if journal is not None:
        journal.pending(str(path), ids)
    return ids


def _pages(path: Path, page_count: Callable[[Path], int]) -> int:
    try:
        return page_count(path)
    except OSError:  # said when it is sent
        return 1


def _count(count: int, noun: str) -> str:
    """'1 document', '3 documents'."""
    return f"{count} {_plural(count, noun)}"


def _names(paths: Sequence[Path], most: int = 3) -> str:
    names = ", ".join(path.name for path in paths[:most])
    return names + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _sent_before(ocr: Ocr, model_id: str, files: set[str], progress: Progress,
                 emit: Callable[[str, Sequence[OcrPage]], None], journal: SendJournal | None) -> dict[str, list[str]]:
    """The documents among ``files`` that a stopped run was sending when it stopped and the service got:
    those whose every page is read are emitted, and {file: the ids of its pages} returned for the others
    (and written to the journal, as their send's answer would have been). A document not listed never
    arrived and is sent again."""
    sending = {file: sent for file, sent in progress.sending.items() if file in files}
    if not sending:
        return {}
    days = []
    for _, day_sent in sending.values():
        try:
            days.append(dt.date.fromisoformat(day_sent))
        except ValueError:
            days.append(_today() - dt.timedelta(days=7))
    listed = ocr.sent_pages(model_id, [name for name, _ in sending.values()],
                            since=min(days) - dt.timedelta(days=1))  # a day's margin: another time zone
    found: dict[str, list[str]] = {}
    for file, (name, _) in sending.items():
        pages = listed.get(name, [])
        if pages and all(page.done for page in pages):
            emit(file, pages)
        elif pages:
            found[file] = [page.id for page in pages]
            if journal is not None:
                journal.pending(file, found[file])
    count = sum(1 for _, (name, _) in sending.items() if name in listed)
    if count:
        info(f"{_count(count, 'document')} sent by the stopped run found on the service: not sent again")
    return found


# --------------------------------------------------------------------------- evaluate


def evaluate_folder(state: State, folder: Path, *, report: Path | None, workers: int) -> None:
    """``nanoclient ocr evaluate``: read every annotated document of FOLDER (or FOLDER/test) and score it;
    say the suggested auto-accept threshold (``ocr_evaluate.auto_accept_threshold``)."""
    from ...documents import labelled_documents
    from ...ocr.evaluate import evaluate
    from ...ocr.report import auto_accept_text

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
    failures: list[tuple[str, str]] = []
    bar = state.progress(len(pairs), "doc")
    try:
        for file, outcome in ocr.predict_files(model_id, [path for path, _ in pairs], workers=workers):
            bar.update(1)
            if isinstance(outcome, Exception):
                stop_if_every_file_fails(outcome)
                failures.append((file, reason(outcome, file)))
                warn(f"failed {file}: {failures[-1][1]}")
                continue
            read.append((file, annotations[file], outcome))
    except KeyboardInterrupt as exc:
        raise Interrupted("the evaluation did not finish; run it again") from exc
    finally:
        bar.close()
    result = evaluate(read, fields)
    lines = [f"{_count(len(read), 'document')}, {_count(result.labelled, 'labelled value')}: exact-text accuracy "
             + (f"{result.accuracy:.3f}" if result.accuracy is not None else "-"),
             f"  {'field':<20} {'precision':>9} {'recall':>7} {'exact':>7}"]
    for score in result.fields:
        cells = [f"{value:.3f}" if value is not None else "-" for value in (score.precision, score.recall,
                                                                             score.accuracy)]
        lines.append(f"  {score.field:<20} {cells[0]:>9} {cells[1]:>7} {cells[2]:>7}")
    lines.append(auto_accept_text(result.auto_accept))
    if report is not None:
        from ...ocr.report import write_report

        write_report(report, result, model_id=model_id, title=f"OCR model {model_id} on {root}", failures=failures)
        info(f"report written to {report}")
    state.emit(result.to_json(), "\n".join(lines))
    if failures:
        raise CliFailure(f"{_count(len(failures), 'document')} could not be read (named above)")


__all__ = ["COLUMNS", "Progress", "day", "evaluate_folder", "page_rows", "predict_documents", "reason",
           "upload_folder"]
