"""``nanoclient ocr ...``: the OCR workflow (create-model, upload, train, status, predict, inferences, evaluate).

Commands only format: they call ``client.ocr`` and print; the long runs (upload, predict, evaluate)
live in ``_ocr_run``, imported when they run. The group is one of ``LAZY_COMMANDS``: this module is
imported only when ``nanoclient ocr`` runs, so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from pathlib import Path

import click

from .._framework import (
    CONTEXT_SETTINGS,
    CliUsageError,
    State,
    _as_path,
    api_command,
    format_model,
    global_options,
    info,
)
from ..image_categorization.training import wait_for_training, wait_options


@click.group(context_settings=CONTEXT_SETTINGS)
def ocr() -> None:
    """OCR models: read named fields (invoice number, date, total) from documents.

    \b
    The whole workflow, against a local server (Tesseract installed):
      eval "$(nanoclient ocr create-model --from-dir images/invoices)"
      nanoclient ocr upload images/invoices
      nanoclient ocr train --wait
      nanoclient ocr predict images/invoices/test --output fields.csv
      nanoclient ocr evaluate images/invoices --report ocr-report.html

    Documents are PNG, JPEG or PDF files; their annotations (the API's JSON, COCO JSON, Pascal VOC
    XML, or CSV file,field,text,xmin,ymin,xmax,ymax) sit beside them, matched by file name.
    """


# `nanoclient ocr --json predict ...` as well; without defaults of their own, which would override the
# `nanoclient --retries 0 --timeout 5 ocr ...` given before (the top group reads the environment and defaults)
ocr.params.extend(global_options(on_group=False))


@api_command(ocr, "create-model")
@click.argument("fields", nargs=-1, metavar="[FIELD]...")
@click.option("--fields", "listed", metavar="A,B,...", help="The fields, comma-separated (or as arguments).")
@click.option("--from-dir", "from_dir", type=click.Path(exists=True, file_okay=False), callback=_as_path,
              metavar="DIR", help="Use the fields named by the annotations in DIR (or DIR/train).")
@click.option("--languages", metavar="L,L,...",
              help="The documents' languages as Tesseract's codes (deu,eng); by default the local server finds "
                   "them in the training documents.")
@click.option("--pretrained", metavar="NAME",
              help="Start from an extractor the local server ships (invoices): answers at once, and your own "
                   "documents adapt it when it trains. Its fields, unless you name others.")
def create_model(state: State, fields: tuple[str, ...], listed: str | None, from_dir: Path | None,
                 languages: str | None, pretrained: str | None) -> None:
    """Create an OCR model from field names or from a folder's annotations.

    Prints the new model id on stderr and the line to export it on stdout, for `eval`.

    \b
    Examples:
      nanoclient ocr create-model invoice_number invoice_date total_amount
      nanoclient ocr create-model --fields invoice_number,invoice_date,total_amount
      eval "$(nanoclient ocr create-model --from-dir images/invoices)"
      nanoclient ocr create-model --fields rechnungsnummer,datum,betrag --languages deu,eng
      eval "$(nanoclient ocr create-model --pretrained invoices)"
    """
    import shlex

    names = [*fields, *(name.strip() for name in (listed or "").split(",") if name.strip())]
    if from_dir is not None and names:
        raise CliUsageError("give field names or --from-dir, not both")
    if from_dir is not None:
        from ...documents import labelled_documents, training_root

        pairs, _ = labelled_documents(training_root(from_dir))
        names = sorted({box.field for _, annotation in pairs for box in annotation.boxes})
        if not names:
            raise CliUsageError(f"no annotated document in {from_dir}: label some, or name the fields")
    if not names and not pretrained:
        raise CliUsageError("no fields: name them (nanoclient ocr create-model total date), pass --from-dir DIR "
                            "or --pretrained invoices")
    codes = [code.strip() for code in (languages or "").split(",") if code.strip()]
    model = state.client().ocr.create_model(names, languages=codes, pretrained=pretrained)
    count = len(model.categories)
    info(f"created OCR model {model.id} with {count} {'field' if count == 1 else 'fields'}: "
         + ", ".join(c.name for c in model.categories)
         + (f" (read in {'+'.join(model.languages)})" if codes and model.languages else ""))
    state.emit(model.to_json(), f"export NANONETS_MODEL_ID={shlex.quote(model.id)}")


@api_command(ocr)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--batch-size", type=click.IntRange(1, 20), default=10, show_default=True,
              help="Documents per request.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
@click.option("--dry-run", is_flag=True, help="Only check the documents and annotations; send nothing.")
@click.option("--wait-lock", is_flag=True,
              help="If another upload to the model runs on this machine, wait for it instead of exiting 1.")
def upload(state: State, folder: Path, batch_size: int, workers: int, dry_run: bool, wait_lock: bool) -> None:
    """Upload a folder's documents (FOLDER/train if it has one) with their annotations.

    Each document goes exactly once: documents the model already lists are not sent again, so an
    interrupted upload resumes when run again. A bad document or annotation costs that file only
    (named on stderr, exit 1 at the end). One upload per model at a time on this machine: a second
    one exits 1 naming the first one's process (--wait-lock waits for it).

    \b
    Examples:
      nanoclient ocr upload images/invoices
      nanoclient ocr upload scans/ --dry-run
    """
    from ._run import upload_folder

    upload_folder(state, folder, batch_size=batch_size, workers=workers, dry_run=dry_run, wait_lock=wait_lock)


@api_command(ocr)
@click.option("--wait", is_flag=True, help="Wait until training ends, showing each state change.")
@wait_options
def train(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Train the OCR model (--wait to wait until it is trained).

    \b
    Examples:
      nanoclient ocr train --wait
    """
    model_id = state.model_id()
    model = state.client().ocr.train(model_id)
    info(f"training OCR model {model_id}: {model.state_name}")
    if wait:
        model = wait_for_training(state, model_id, timeout, poll_interval, ocr=True)
    state.emit({"model": model.to_json()}, "\n".join(format_model(model, items="documents", names="fields")))


@api_command(ocr)
@click.option("--wait", is_flag=True, help="If the model is queued or training, wait until that ends.")
@wait_options
def status(state: State, wait: bool, timeout: float, poll_interval: float) -> None:
    """Show the OCR model's state, documents per field and accuracy.

    \b
    Examples:
      nanoclient ocr status --wait
    """
    from ...types import STATE_QUEUED, STATE_TRAINING

    model_id = state.model_id()
    model = state.client().ocr.get_model(model_id)
    if wait and model.state in (STATE_QUEUED, STATE_TRAINING):
        model = wait_for_training(state, model_id, timeout, poll_interval, ocr=True)
    state.emit({"model": model.to_json()}, "\n".join(format_model(model, items="documents", names="fields")))


@api_command(ocr)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), callback=_as_path)
@click.option("--output", "output", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write one row per field per page to FILE (.csv, else JSON lines), as each document is "
                   "read; run again to go on where it stopped. What was sent and not read yet is kept beside "
                   "it, in FILE.sent.jsonl, removed once every document is read.")
@click.option("--async", "asynchronous", is_flag=True,
              help="Send every document first, then fetch the results by id (a rerun fetches, never resends). "
                   "Documents of more than 10 pages are read so anyway.")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
@click.option("--normalize", is_flag=True,
              help="Add a value column: dates as YYYY-MM-DD, amounts as plain decimals (1234.56), whatever the "
                   "document's form (7. Mai 2014, 1.234,56 €).")
@click.option("--locale", metavar="LOCALE", default=None,
              help="With --normalize: the documents' locale (de, fr, en_US) for forms only it settles: "
                   "05/07/2014 (day first but in en_US), 1.234 (1234 in de).")
def predict(state: State, paths: tuple[Path, ...], output: Path | None, asynchronous: bool, workers: int,
            normalize: bool, locale: str | None) -> None:
    """Read the fields of documents (files or folders of PNG, JPEG, PDF).

    Prints one line per field per page (file, page, field, text, score), or writes them to --output.
    A document of more than 10 pages (counted here) is sent once and fetched by id, as with --async,
    rather than in one request that would outwait the timeout; a request that gets no answer in time
    is never sent again.

    \b
    Examples:
      nanoclient ocr predict scan.pdf
      nanoclient ocr predict images/invoices/test --output fields.csv
      nanoclient ocr predict inbox/ --async --output fields.jsonl
    """
    from ._run import predict_documents

    if asynchronous and output is None:
        raise CliUsageError("--async needs --output FILE (the results go there, the ids to fetch beside it)")
    predict_documents(state, list(paths), output=output, asynchronous=asynchronous, workers=workers,
                      normalize=(locale or "") if normalize else None)


@api_command(ocr)
@click.option("--since", default="0", show_default=True, metavar="DAY",
              help="First day: YYYY-MM-DD, or days before today (0: today).")
@click.option("--until", default="0", show_default=True, metavar="DAY", help="Last day, the same way.")
def inferences(state: State, since: str, until: str) -> None:
    """List the pages the OCR model read on some days, with their fields.

    \b
    Examples:
      nanoclient ocr inferences --since 7
      nanoclient ocr inferences --since 2026-12-01 --until 2026-12-03 --json
    """
    from ._run import day

    pages = state.client().ocr.inferences(state.model_id(), day(since), day(until))
    lines = [f"{page.id}  {page.input}  page {page.page}  {page.status}  "
             + ", ".join(f"{f.label}={f.text}" + (f" ({f.score:.2f})" if f.score is not None else "")
                         for f in page.fields) for page in pages]
    if not pages:
        info("no pages read on those days")
    state.emit([page.to_json() for page in pages], "\n".join(lines) if lines else None)


@api_command(ocr)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path)
@click.option("--report", type=click.Path(dir_okay=False), callback=_as_path, metavar="FILE",
              help="Write an HTML report: per-field scores, the threshold, and each document drawn with its "
                   "boxes, answers' scores and page numbers, errors first (a filter shows errors only).")
@click.option("--workers", type=click.IntRange(1, 16), default=4, show_default=True, help="Requests at once.")
def evaluate(state: State, folder: Path, report: Path | None, workers: int) -> None:
    """Measure the OCR model on annotated documents (FOLDER/test if it has one): per field, precision,
    recall and exact-text accuracy, and a suggested auto-accept threshold: the lowest score at which at
    least 99% of the answers scored that or more are exact, with the share of fields it accepts.

    \b
    Examples:
      nanoclient ocr evaluate images/invoices --report ocr-report.html
    """
    from ._run import evaluate_folder

    evaluate_folder(state, folder, report=report, workers=workers)
