"""``nanoclient ocr ...`` as a user runs it: subprocesses against a real ``nanoclient serve``."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import cli_env, run_cli, start_server

from nanoclient._journal import UploadJournal
from nanoclient.cli.ocr._journal import journal_path

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None,
                                reason="Tesseract is not installed (scripts/test.sh installs tesseract-ocr)")

ROOT = Path(__file__).resolve().parent.parent
KEY = "cli-ocr"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    """A server with a trained OCR model of synthetic invoices (10 training, 3 test documents)."""
    root = tmp_path_factory.mktemp("ocr-cli")
    invoices = root / "invoices"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_invoices.py"), "--out", str(invoices), "--train",
                    "10", "--test", "3", "--seed", "11"], check=True, capture_output=True)
    server = start_server(root / "data", "--min-images", "5")
    try:
        cache = root / "cache"
        created = run_cli(server.url, KEY, "ocr", "create-model", "--from-dir", invoices, cache=cache)
        assert created.returncode == 0, created.stderr
        model_id = created.stdout.strip().split("=", 1)[1]
        upload = run_cli(server.url, KEY, "ocr", "upload", invoices, cache=cache, model_id=model_id)
        assert upload.returncode == 0, upload.stderr
        assert "10 uploaded, 0 already in the model" in upload.stderr
        again = run_cli(server.url, KEY, "ocr", "upload", invoices, cache=cache, model_id=model_id)
        assert again.returncode == 0 and "0 uploaded, 10 already in the model" in again.stderr
        trained = run_cli(server.url, KEY, "ocr", "train", "--wait", "--poll-interval", "0.5", cache=cache,
                          model_id=model_id)
        assert trained.returncode == 0, trained.stderr
        assert "trained" in trained.stdout and "fields    6, each with the documents in which it is labelled" \
            in trained.stdout and "invoice_number  10" in trained.stdout
        yield server, invoices, model_id, cache
    finally:
        server.stop()


def test_predict_writes_a_row_per_field_per_page_and_resumes(setup, tmp_path):
    server, invoices, model_id, cache = setup
    output = tmp_path / "fields.csv"
    first = run_cli(server.url, KEY, "ocr", "predict", invoices / "test", "--output", output, cache=cache,
                    model_id=model_id)
    assert first.returncode == 0, first.stderr
    rows = list(csv.DictReader(output.open()))
    documents = sorted(p for p in (invoices / "test").iterdir() if p.suffix != ".json")
    assert {row["file"] for row in rows} == {str(p) for p in documents}
    assert all(row["status"] == "success" and row["page"] == "0" for row in rows)
    assert {row["field"] for row in rows} <= {"invoice_number", "invoice_date", "due_date", "vendor_name",
                                              "customer_name", "total_amount"}
    lines = run_cli(server.url, KEY, "--json", "ocr", "predict", invoices / "test", cache=cache, model_id=model_id)
    read = [json.loads(line) for line in lines.stdout.splitlines()]  # JSON lines: a document a line
    assert [r["file"] for r in read] == [str(p) for p in documents] and read[0]["pages"][0]["status"] == "success"
    again = run_cli(server.url, KEY, "ocr", "predict", invoices / "test", "--output", output, cache=cache,
                    model_id=model_id)
    assert again.returncode == 0 and "3 of 3 documents already read" in again.stderr
    assert len(list(csv.DictReader(output.open()))) == len(rows)  # nothing written twice


def test_async_output_holds_results_only_and_a_rerun_fetches_by_the_journal_never_resends(setup, tmp_path):
    server, invoices, model_id, cache = setup
    output = tmp_path / "fields.jsonl"
    one = sorted(p for p in (invoices / "test").iterdir() if p.suffix == ".png")[0]
    done = run_cli(server.url, KEY, "ocr", "predict", one, "--async", "--output", output, cache=cache,
                   model_id=model_id)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert records and {r["status"] for r in records} == {"success"}  # results only: no bookkeeping rows
    assert not journal_path(output).exists()  # every document read: nothing left to resume
    listed = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    sent = [page for page in json.loads(listed.stdout) if page["input"].endswith("~" + one.name)]
    assert [page["id"] for page in sent] == [records[0]["id"]]  # sent once, under a name used once
    # a run killed once the service answered: its journal holds the name sent and the ids; no result yet
    output.write_text("")
    journal_path(output).write_text(
        json.dumps({"file": str(one), "status": "sending", "sent_as": sent[0]["input"], "day": "2026-01-01"}) + "\n"
        + json.dumps({"file": str(one), "status": "pending", "ids": [sent[0]["id"]]}) + "\n")
    resumed = run_cli(server.url, KEY, "ocr", "predict", one, "--async", "--output", output, cache=cache,
                      model_id=model_id)
    assert resumed.returncode == 0, resumed.stderr
    after = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    assert len(json.loads(after.stdout)) == len(json.loads(listed.stdout))  # fetched, not sent again
    assert [json.loads(line) for line in output.read_text().splitlines()] == records
    assert not journal_path(output).exists()


def test_evaluate_scores_each_field_and_writes_the_report(setup, tmp_path):
    server, invoices, model_id, cache = setup
    report = tmp_path / "report.html"
    result = run_cli(server.url, KEY, "--json", "ocr", "evaluate", invoices, "--report", report, cache=cache,
                     model_id=model_id)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)
    assert scores["documents"] == 3 and scores["labelled"] == 18
    assert {f["field"] for f in scores["fields"]} == {"invoice_number", "invoice_date", "due_date", "vendor_name",
                                                      "customer_name", "total_amount"}
    assert 0 <= scores["exact_text_accuracy"] <= 1
    auto = scores["auto_accept"]  # the suggested auto-accept threshold
    assert auto["target"] == 0.99 and auto["fields"] == 18 and auto["answers"] > 0
    assert auto["threshold"] is None or (0 < auto["threshold"] <= 1 and auto["precision"] >= 0.99)
    text = report.read_text()
    assert "exact text" in text and text.count("data:image/jpeg;base64,") == 3
    assert "auto-accept threshold" in text and "score 0." in text and 'id="show-errors"' in text
    plain = run_cli(server.url, KEY, "ocr", "evaluate", invoices, cache=cache, model_id=model_id)
    assert plain.returncode == 0 and "auto-accept threshold: " in plain.stdout


def test_one_bad_annotation_costs_its_document_only(setup, tmp_path):
    server, invoices, _, cache = setup
    folder = tmp_path / "docs"
    shutil.copytree(invoices / "test", folder)
    annotation = sorted(folder.glob("*.json"))[0]
    entry = json.loads(annotation.read_text())
    entry["object"][0]["name"] = "totl"
    annotation.write_text(json.dumps(entry))
    created = run_cli(server.url, KEY, "ocr", "create-model", "invoice_number", "invoice_date", "--fields",
                      "due_date,vendor_name, customer_name,total_amount", cache=cache)
    model_id = created.stdout.strip().split("=", 1)[1]
    upload = run_cli(server.url, KEY, "ocr", "upload", folder, cache=cache, model_id=model_id)
    assert upload.returncode == 1
    assert "'totl' is not a field of the model" in upload.stderr and entry["filename"] in upload.stderr
    assert "2 uploaded" in upload.stderr


def test_a_model_of_the_other_type_is_named_so(setup, tmp_path):
    server, invoices, model_id, cache = setup
    status = run_cli(server.url, KEY, "status", cache=cache, model_id=model_id)
    assert status.returncode == 1
    assert status.stderr.strip().endswith("is an OCR model: use the `nanoclient ocr ...` commands for it")
    listed = run_cli(server.url, KEY, "models", cache=cache)
    assert f"{model_id}  trained" in listed.stdout and "OCR: " in listed.stdout and "(10 docs)" in listed.stdout
    created = run_cli(server.url, KEY, "ocr", "create-model", "total", cache=cache)
    assert "with 1 field: total" in created.stderr  # was "1 fields"
    untrained = run_cli(server.url, KEY, "ocr", "predict", invoices / "test", cache=cache,
                        model_id=created.stdout.strip().split("=", 1)[1])
    assert untrained.returncode == 1 and untrained.stderr.count("\n") == 1  # one line, not one per document
    assert "run `nanoclient ocr train --wait` first" in untrained.stderr


def test_usage_errors_are_one_line_and_exit_2(setup, tmp_path):
    server, invoices, _, cache = setup
    no_model = run_cli(server.url, KEY, "ocr", "predict", invoices / "test", cache=cache)
    assert no_model.returncode == 2 and "no model id" in no_model.stderr
    no_output = run_cli(server.url, KEY, "ocr", "predict", invoices / "test", "--async", cache=cache, model_id="x")
    assert no_output.returncode == 2 and "--async needs --output" in no_output.stderr
    bad_day = run_cli(server.url, KEY, "ocr", "inferences", "--since", "yesterday", cache=cache, model_id="x")
    assert bad_day.returncode == 2 and "not a day" in bad_day.stderr


def test_a_second_upload_to_the_same_model_waits_or_is_refused(setup, tmp_path):
    server, invoices, model_id, cache = setup

    env = cli_env(server.url, KEY, cache=cache, model_id=model_id)
    journal = UploadJournal.for_model(server.url, model_id, folder=cache)
    with journal.locked():  # as a first upload holds it
        refused = run_cli(server.url, KEY, "ocr", "upload", invoices, cache=cache, model_id=model_id)
        assert refused.returncode == 1 and "Another upload to model" in refused.stderr
        assert f"process {os.getpid()}" in refused.stderr
        waiting = subprocess.Popen([sys.executable, "-m", "nanoclient", "ocr", "upload", invoices, "--wait-lock"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            waiting.wait(1.5)
            pytest.fail("the upload did not wait for the lock")
        except subprocess.TimeoutExpired:
            pass
    assert waiting.wait(60) == 0 and "0 uploaded, 10 already in the model" in waiting.stderr.read()


# ---------------------------------------------------------------------- issue 33: long documents, names, errors

#: The CLI with its attempt timeout (seconds) and the per-page wait of a synchronous prediction set from its
#: first two arguments: a small document then takes longer than an attempt, as a 150-page scan does with the
#: defaults (30 s an attempt; the local server reads a scanned page in about 0.5 s).
SHORT_ATTEMPTS = """
import sys
import time
from nanoclient.ocr import _resource as _ocr
from nanoclient.cli import _framework, main

_framework.ATTEMPT_TIMEOUT = float(sys.argv.pop(1))
_ocr.SYNC_SECONDS_PER_PAGE = float(sys.argv.pop(1))
main()
"""


def run_short(server, cache, model_id, attempt: float, per_page: float, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SHORT_ATTEMPTS, str(attempt), str(per_page), *map(str, args)],
                          env=cli_env(server.url, KEY, cache=cache, model_id=model_id), capture_output=True,
                          text=True, timeout=300)


def pdf_of(invoices: Path, path: Path, pages: int) -> Path:
    """A PDF of ``pages`` pages: the test invoices over and over, at 150 dpi (as the server renders them)."""
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in sorted((invoices / "test").glob("*.png"))]
    pages_drawn = [images[i % len(images)] for i in range(pages)]
    pages_drawn[0].save(path, save_all=True, append_images=pages_drawn[1:], resolution=150)
    return path


def listed_inputs(server, cache, model_id) -> list[str]:
    listed = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    assert listed.returncode == 0, listed.stderr
    return [page["input"] for page in json.loads(listed.stdout)]


def test_a_long_document_is_read_once_asynchronously_and_a_timeout_never_resends(setup, tmp_path):
    from nanoclient.ocr._resource import ASYNC_PAGES

    server, invoices, model_id, cache = setup
    long_pdf = pdf_of(invoices, tmp_path / "long.pdf", ASYNC_PAGES + 2)
    output = tmp_path / "fields.csv"
    # one attempt waits 1 s, the document takes several: it goes asynchronously, sent once, read once
    done = run_short(server, cache, model_id, 1.0, 10.0, "ocr", "predict", long_pdf, "--output", output)
    assert done.returncode == 0, done.stderr
    assert f"1 document of more than {ASYNC_PAGES} pages (long.pdf): read asynchronously" in done.stderr
    rows = list(csv.DictReader(output.open()))
    assert sorted({int(row["page"]) for row in rows}) == list(range(ASYNC_PAGES + 2))
    assert {row["status"] for row in rows} == {"success"} and {row["file"] for row in rows} == {str(long_pdf)}
    inputs = listed_inputs(server, cache, model_id)
    assert len([name for name in inputs if name.endswith("~long.pdf")]) == ASYNC_PAGES + 2  # each page once
    assert not journal_path(output).exists()
    # a short document whose answer does not come in time is not sent again: one line, exit 1
    three = pdf_of(invoices, tmp_path / "three.pdf", 3)
    cut = run_short(server, cache, model_id, 0.3, 0.1, "ocr", "predict", three)
    assert cut.returncode == 1 and "not sent again" in cut.stderr and "--async" in cut.stderr, cut.stderr
    assert "Traceback" not in cut.stderr
    assert listed_inputs(server, cache, model_id).count("three.pdf") == 3  # its 3 pages, sent once


def encrypted_pdf(path: Path) -> Path:
    """A one-page PDF whose standard security handler wants a password (its /O and /U match none)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
               b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"]
    body, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, content in enumerate(objects, 1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt 4 0 R /ID [<aa> <aa>] >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    path.write_bytes(bytes(body))
    return path


def test_predictions_are_listed_under_the_users_names_with_scores(setup, tmp_path):
    server, invoices, model_id, cache = setup
    one = tmp_path / "Rechnung März.png"
    shutil.copy(sorted((invoices / "test").glob("*.png"))[0], one)
    read = run_cli(server.url, KEY, "ocr", "predict", one, cache=cache, model_id=model_id)
    assert read.returncode == 0, read.stderr
    listed = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    mine = [page for page in json.loads(listed.stdout) if page["input"] == one.name]
    assert len(mine) == 1 and mine[0]["prediction"]  # was listed as 0.png
    assert all(isinstance(box["score"], float) for box in mine[0]["prediction"])  # were null
    text = run_cli(server.url, KEY, "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    line = next(line for line in text.stdout.splitlines() if one.name in line)
    assert re.search(r"=[^,]+ \(0\.\d\d\)", line), line


def test_a_document_that_fails_is_named_as_the_user_named_it_with_its_reason_said_once(setup, tmp_path):
    from PIL import Image

    server, invoices, model_id, cache = setup
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nnot a pdf at all\n")
    encrypted_pdf(folder / "locked.pdf")
    Image.new("L", (12_000, 12_000), 255).save(folder / "huge.png")
    failed = run_cli(server.url, KEY, "ocr", "predict", folder, cache=cache, model_id=model_id)
    assert failed.returncode == 1
    lines = failed.stderr.splitlines()
    assert "DecompressionBomb" not in failed.stderr and "site-packages" not in failed.stderr
    assert "0.pdf" not in failed.stderr and "0.png" not in failed.stderr and "http" not in failed.stderr
    for name in ("broken.pdf", "locked.pdf", "huge.png"):
        (line,) = [line for line in lines if line.startswith(f"failed {folder / name}: ")]
        clauses = [c.strip() for c in re.split(r"[:;()]", line.split(": ", 1)[1]) if len(c.strip()) > 12]
        assert len(clauses) == len(set(clauses)), line  # no reason said twice
    assert lines[-1] == "Error: 3 of 3 documents could not be read (named above)"
    one = run_cli(server.url, KEY, "ocr", "predict", folder / "broken.pdf", cache=cache, model_id=model_id)
    assert one.stderr.splitlines()[-1] == "Error: 1 of 1 document could not be read (named above)"
    # the huge image beside an annotation: no raw warning when the CLI reads its size either
    (folder / "huge.json").write_text(json.dumps({"filename": "huge.png", "object": [
        {"name": "total_amount", "ocr_text": "1", "bndbox": {"xmin": 1, "ymin": 1, "xmax": 9, "ymax": 9}}]}))
    checked = run_cli(server.url, KEY, "ocr", "upload", folder, "--dry-run", cache=cache, model_id=model_id)
    assert "DecompressionBomb" not in checked.stderr and "1 annotated document in" in checked.stderr
    assert "1 files" not in checked.stderr + failed.stderr + one.stderr


def test_the_top_help_names_every_kind_of_model(setup, tmp_path):
    server, _, _, cache = setup
    shown = " ".join(run_cli(server.url, KEY, "--help", cache=cache).stdout.split())  # as wrapped to the terminal
    for words in ("image classifiers", "OCR models", "nanoclient ocr", "multi-label classifiers",
                  "nanoclient multilabel", "object detectors", "nanoclient detection"):
        assert words in shown


def test_retries_and_timeout_given_before_ocr_hold(tmp_path):
    """`nanoclient --retries 0 ocr ...`: the ocr group's own defaults used to override it (10 retries, 47 s
    against a closed port)."""
    from helpers import closed_port

    url = f"http://127.0.0.1:{closed_port()}/api/v2"
    for args in (("--retries", "0", "ocr", "status"), ("ocr", "--retries", "0", "status"),
                 ("ocr", "status", "--retries", "0")):
        started = time.monotonic()
        failed = run_cli(url, KEY, *args, cache=tmp_path, model_id="m")
        assert failed.returncode == 1 and "cannot reach" in failed.stderr, failed.stderr
        assert "retrying" not in failed.stderr and time.monotonic() - started < 20, (args, failed.stderr)
