"""Exactly once across interruptions, for OCR: ``nanoclient ocr upload`` and ``nanoclient ocr predict``
(sync and --async) stopped by SIGINT (Ctrl-C) and SIGKILL at several moments, then run again until
they succeed, neither lose nor double a single document.

One ``serve --no-dedupe --latency-ms 150`` for the module (it stores and reads whatever is sent, as
often as it is sent, and every request is in flight long enough to be cut); the truth is read from
the server itself (``Annotations``, ``ImageLevelInferences``) and from the output file.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
from helpers import ServerProcess, cli_env, make_invoices, needs_tesseract, run_cli, start_server

from nanoclient.cli.ocr._journal import journal_path

pytestmark = needs_tesseract

KEY = "ocr-interrupt-key"
#: Seconds a stopped run gets to end, and a run to finish.
PATIENCE = 60.0

#: The CLI with every record write of its output file slowed down (a slow disk): a kill lands between
#: two writes, where a document may have some of its rows written and not the others.
SLOW_WRITES = textwrap.dedent("""
    import time
    from nanoclient import _results
    from nanoclient.cli import main

    write_line = _results.RecordFile._write_line

    def slow(self, line):
        write_line(self, line)
        time.sleep(0.4)

    _results.RecordFile._write_line = slow
    main()
""")


class Setting(NamedTuple):
    """The module's server, invoices and a model trained on 8 of them."""

    server: ServerProcess
    invoices: Path  # train/ (24 annotated invoices) and test/ (6)
    trained: str  # the id of a model trained on 8 invoices
    cache: Path


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("ocr-interrupts")
    invoices = make_invoices(root / "invoices", train=24, test=6, seed=5)
    eight = root / "eight"
    eight.mkdir()
    for path in sorted((invoices / "train").iterdir())[:16]:  # 8 documents and their annotations
        shutil.copy(path, eight)
    server = start_server(root / "data", "--no-dedupe", "--latency-ms", "150", "--min-images", "2")
    try:
        cache = root / "cache"
        model_id = new_model(server.url, eight, cache)
        assert run_cli(server.url, KEY, "ocr", "upload", eight, cache=cache, model_id=model_id).returncode == 0
        trained = run_cli(server.url, KEY, "ocr", "train", "--wait", "--poll-interval", "0.3", cache=cache,
                          model_id=model_id)
        assert trained.returncode == 0, trained.stderr
        yield Setting(server, invoices, model_id, cache)
    finally:
        server.stop()


# ---------------------------------------------------------------------- helpers


def new_model(url: str, folder: Path, cache: Path) -> str:
    created = run_cli(url, KEY, "ocr", "create-model", "--from-dir", folder, cache=cache)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().split("=", 1)[1]


def start_cli(setting: Setting, *args: object, model_id: str, slow_writes: bool = False) -> subprocess.Popen[str]:
    """``nanoclient ARGS`` in its own process, SIGINT at its default (a runner started with & ignores it)."""
    program = ["-c", SLOW_WRITES] if slow_writes else ["-m", "nanoclient"]
    return subprocess.Popen([sys.executable, *program, *map(str, args)],
                            env=cli_env(setting.server.url, KEY, cache=setting.cache, model_id=model_id),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop(proc: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    """Send ``sig`` unless the run already ended; (its exit code, its stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=PATIENCE)
    return proc.returncode, err


def wait_until(condition, proc: subprocess.Popen[str]) -> None:
    """Until ``condition()`` holds or the run ends."""
    deadline = time.monotonic() + PATIENCE
    while proc.poll() is None and not condition():
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def rerun_until_done(setting: Setting, *args: object, model_id: str) -> subprocess.CompletedProcess:
    """The same command again until it exits 0 (at most three times)."""
    for _ in range(3):
        done = run_cli(setting.server.url, KEY, *args, cache=setting.cache, model_id=model_id, timeout=PATIENCE)
        if done.returncode == 0:
            return done
    raise AssertionError(f"the rerun did not succeed: {done.returncode}\n{done.stderr}")


def annotations(setting: Setting, model_id: str) -> dict[str, Any]:
    answer = requests.get(f"{setting.server.url}/ObjectDetection/Model/{model_id}/Annotations",
                          auth=(KEY, ""), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def held(setting: Setting, model_id: str) -> int:
    return len(annotations(setting, model_id)["Data"])


def listed_pages(setting: Setting, model_id: str) -> list[dict[str, Any]]:
    """Every page the model read yesterday and today, as the server lists them."""
    today = (dt.datetime.now(dt.timezone.utc).date() - dt.date(1970, 1, 1)).days
    answer = requests.get(f"{setting.server.url}/Inferences/Model/{model_id}/ImageLevelInferences",
                          params={"start_day_interval": today - 1, "current_batch_day": today}, auth=(KEY, ""),
                          timeout=30)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    return [*(data.get("unmoderated_images") or []), *(data.get("moderated_images") or [])]


def rows_of(output: Path) -> list[dict[str, Any]]:
    """The records of an output file (.csv or JSON lines), the whole lines only (a run may be writing it)."""
    text = output.read_text() if output.exists() else ""
    text = text[: text.rfind("\n") + 1]
    if output.suffix == ".csv":
        return [dict(row) for row in csv.DictReader(io.StringIO(text))]
    return [json.loads(line) for line in text.splitlines()]


def final_rows(output: Path) -> list[tuple[str, str, str]]:
    """(file, page, field) of every success row of an output file."""
    return [(str(r["file"]), str(r["page"]), str(r["field"])) for r in rows_of(output) if r["status"] == "success"]


def documents(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix != ".json")


# ---------------------------------------------------------------------- upload

#: (signal, documents the model holds when it is sent): the moments an upload is stopped, each once the run
#: said how many documents it found (it asked for the model and read the folder) and the model holds that
#: many; 0: while it lists the model's files or sends the first ones. It sends 2 documents a request, 2
#: requests at once, each held 150 ms by the server: every stop falls with a request on its way.
UPLOAD_MOMENTS = [(signal.SIGINT, 0), (signal.SIGKILL, 2), (signal.SIGINT, 5), (signal.SIGKILL, 9),
                  (signal.SIGINT, 13), (signal.SIGKILL, 17)]


class Followed:
    """A run whose stderr is read as it writes it (``lines``), to see how far it got."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(proc.stderr or ()), daemon=True)
        self._reader.start()

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self, sig: signal.Signals) -> tuple[int, str]:
        """Send ``sig`` unless the run already ended; (its exit code, its stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        assert self.proc.stdout is not None
        self.proc.stdout.read()
        self.proc.wait(timeout=PATIENCE)
        self._reader.join(timeout=PATIENCE)
        return self.proc.returncode, "".join(self.lines)


def test_ocr_upload_stopped_at_many_moments_then_run_again_stores_each_document_once(setting):
    folder = setting.invoices / "train"
    names = sorted(p.name for p in documents(folder))
    model_id = new_model(setting.server.url, folder, setting.cache)
    command = ("ocr", "upload", folder, "--batch-size", "2", "--workers", "2")
    stopped = []
    for sig, count in UPLOAD_MOMENTS:
        before = held(setting, model_id)
        upload = Followed(start_cli(setting, *command, model_id=model_id))
        # the run is past starting (its Ctrl-C handling in place), then the model holds enough
        wait_until(lambda run=upload: run.said("annotated document"), upload.proc)
        wait_until(lambda n=count: held(setting, model_id) >= n, upload.proc)
        code, text = upload.stop(sig)
        stopped.append((sig.name, count, code, before, held(setting, model_id)))
        if code == 0:
            continue
        if sig == signal.SIGINT:  # Ctrl-C: exit 130 and one line saying how to go on
            assert code == 130, (stopped[-1], text)
            hints = [line for line in text.splitlines() if line.startswith("interrupted:")]
            assert hints == ["interrupted: run the same command again: documents the model already holds "
                             "are not sent again"], text
        else:
            assert code == -signal.SIGKILL, (stopped[-1], text)
    # the moments fell while documents were being sent: some runs stopped with some of them stored
    assert any(0 < after_count < len(names) and code != 0 for _, _, code, _, after_count in stopped), stopped
    already = stopped[-1][-1]
    final = rerun_until_done(setting, *command, model_id=model_id)
    held_now = annotations(setting, model_id)
    assert sorted(entry["filename"] for entry in held_now["Data"]) == names, stopped  # each once
    counts = {c["name"]: c["count"] for c in held_now["Meta"]["Categories"]}
    assert counts == dict.fromkeys(counts, len(names)) and len(counts) == 6
    # the rerun sent what the model did not hold; a request of the killed run may have landed after its count
    said = re.search(r"(\d+) uploaded, (\d+) already in the model", final.stderr)
    assert said is not None, final.stderr
    uploaded, found = map(int, said.groups())
    assert uploaded + found == len(names) and found >= already, (stopped, final.stderr)


# ---------------------------------------------------------------------- predict --async


def test_async_predict_killed_while_sending_then_run_again_sends_each_document_once(setting, tmp_path):
    folder = setting.invoices / "test"
    names = [p.name for p in documents(folder)]
    before = Counter(page["input"] for page in listed_pages(setting, setting.trained))
    output = tmp_path / "fields.jsonl"
    command = ("ocr", "predict", folder, "--async", "--output", output)
    stops = []
    for pending in (1, 3):  # killed with a request in flight after 1, then 3 documents were sent
        run = start_cli(setting, *command, model_id=setting.trained)
        # the journal beside the output says which documents the service holds (the output: results only)
        wait_until(lambda n=pending: sum(r["status"] == "pending" for r in rows_of(journal_path(output))) >= n, run)
        time.sleep(0.05)  # the next document is on its way
        stops.append(stop(run, signal.SIGKILL)[0])
    assert stops == [-signal.SIGKILL] * 2
    rerun = rerun_until_done(setting, *command, model_id=setting.trained)
    # on the server: each document was sent once
    listed = Counter(page["input"] for page in listed_pages(setting, setting.trained)) - before
    sent = Counter(name.split("~")[-1] for name in listed.elements())  # however the CLI named what it sent
    assert sent == Counter(names), listed
    # the send cut by the last kill had reached the server: the rerun found it there instead of sending again
    assert "1 document sent by the stopped run found on the service: not sent again" in rerun.stderr, rerun.stderr
    # in the output file: each document's final rows once, one per page and field
    rows = final_rows(output)
    assert sorted({file for file, _, _ in rows}) == [str(p) for p in documents(folder)]
    assert {r["status"] for r in rows_of(output)} == {"success"} and not journal_path(output).exists()
    assert [key for key, count in Counter(rows).items() if count > 1] == []
    again = run_cli(setting.server.url, KEY, *command, cache=setting.cache, model_id=setting.trained)
    assert again.returncode == 0 and f"{len(names)} of {len(names)} documents already read" in again.stderr
    assert final_rows(output) == rows


# ---------------------------------------------------------------------- predict (synchronous)


def reference_rows(setting: Setting, folder: Path, tmp_path: Path) -> Counter[tuple[str, str, str]]:
    """(file, page, field) of each row of an uninterrupted run."""
    output = tmp_path / "reference.csv"
    done = run_cli(setting.server.url, KEY, "ocr", "predict", folder, "--output", output, cache=setting.cache,
                   model_id=setting.trained)
    assert done.returncode == 0, done.stderr
    return Counter(final_rows(output))


def test_sync_predict_killed_between_two_rows_of_a_document_then_run_again_has_each_row_once(setting, tmp_path):
    folder = setting.invoices / "test"
    reference = reference_rows(setting, folder, tmp_path)
    assert len(reference) > len(documents(folder))  # several rows per document
    output = tmp_path / "fields.csv"
    command = ("ocr", "predict", folder, "--output", output, "--workers", "2")
    for rows in (1, 8):  # the output is written slowly: each kill lands between two writes
        run = start_cli(setting, *command, model_id=setting.trained, slow_writes=True)
        wait_until(lambda n=rows: len(rows_of(output)) >= n, run)
        assert stop(run, signal.SIGKILL)[0] == -signal.SIGKILL
    rerun_until_done(setting, *command, model_id=setting.trained)
    assert Counter(final_rows(output)) == reference  # every document, each of its rows once


def test_sync_predict_interrupted_by_ctrl_c_then_run_again_has_each_row_once(setting, tmp_path):
    folder = setting.invoices / "test"
    reference = reference_rows(setting, folder, tmp_path)
    output = tmp_path / "fields.jsonl"
    command = ("ocr", "predict", folder, "--output", output, "--workers", "2")
    run = start_cli(setting, *command, model_id=setting.trained, slow_writes=True)
    wait_until(lambda: len(rows_of(output)) >= 1, run)
    sent = time.monotonic()
    code, err = stop(run, signal.SIGINT)
    assert code == 130 and time.monotonic() - sent < 3.0, err
    assert "interrupted: run the same command again with --output" in err
    rerun_until_done(setting, *command, model_id=setting.trained)
    assert Counter(final_rows(output)) == reference
