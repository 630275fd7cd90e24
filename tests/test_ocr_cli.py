"""``nanoclient ocr ...`` as a user runs it: subprocesses against a real ``nanoclient serve``."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli_env, run_cli, start_server

from nanoclient._journal import UploadJournal

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


def test_async_sends_then_fetches_by_id_and_a_rerun_never_resends(setup, tmp_path):
    server, invoices, model_id, cache = setup
    output = tmp_path / "fields.jsonl"
    one = sorted(p for p in (invoices / "test").iterdir() if p.suffix == ".png")[0]
    done = run_cli(server.url, KEY, "ocr", "predict", one, "--async", "--output", output, cache=cache,
                   model_id=model_id)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    # first the name it is sent under (used once), then its pending page, then the page read
    assert [r["status"] for r in records][:2] == ["sending", "pending"] and records[0]["id"].endswith(one.name)
    assert {r["status"] for r in records[2:]} == {"success"} and records[2]["id"] == records[1]["id"]
    listed = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    assert records[1]["id"] in {page["id"] for page in json.loads(listed.stdout)}
    # a pending record left by an interrupted run is fetched by its id, not sent again
    output.write_text("".join(json.dumps(r) + "\n" for r in records[:2]))
    before = len(json.loads(listed.stdout))
    resumed = run_cli(server.url, KEY, "ocr", "predict", one, "--async", "--output", output, cache=cache,
                      model_id=model_id)
    assert resumed.returncode == 0, resumed.stderr
    after = run_cli(server.url, KEY, "--json", "ocr", "inferences", "--since", "1", cache=cache, model_id=model_id)
    assert len(json.loads(after.stdout)) == before
    assert [json.loads(line)["status"] for line in output.read_text().splitlines()][-1] == "success"


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
    text = report.read_text()
    assert "exact text" in text and text.count("data:image/jpeg;base64,") == 3


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
