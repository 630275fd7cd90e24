"""Ctrl-C and long runs, with real processes and real signals: a frozen server does not hold the CLI
hostage, the run says what it did and how to go on (exit 130), and running the same command
again finishes the job with every file accounted for once.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from helpers import cli_env, colour_folder, counts, run_cli

from nanoclient import Client

KEY = "interrupt-key"
COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220)}


def folder_of(root: Path, per_category: int, start: int = 0) -> list[Path]:
    return colour_folder(root, COLOURS, dict.fromkeys(COLOURS, per_category), start=start, size=(12, 12))


def trained_model(server, tmp_path: Path) -> str:
    """A model of the server trained on 6 images per colour (in tmp_path/train)."""
    folder_of(tmp_path / "train", 6)
    with Client(KEY, server.url) as client:
        model_id = client.create_model(list(COLOURS)).id
        assert client.upload_files(model_id, [(p, p.parent.name) for p in (tmp_path / "train").rglob("*.png")]).ok
        client.train(model_id)
        client.wait_until_trained(model_id, timeout=180, poll_interval=0.1)
    return model_id


def start_cli(url: str, *args: str, cache: Path, model_id: str) -> subprocess.Popen[str]:
    """The CLI in its own process, with SIGINT at its default whatever the test runner's (a runner
    started with ``&`` from a non-interactive shell ignores SIGINT, and its children would too)."""
    return subprocess.Popen([sys.executable, "-m", "nanoclient", *args], env=cli_env(url, KEY, cache=cache,
                            model_id=model_id), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt(proc: subprocess.Popen[str]) -> tuple[float, str, str]:
    """SIGINT, as Ctrl-C sends it; return (seconds until the process ended, stdout, stderr)."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return time.monotonic() - sent, out, err


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)


def connected(proc: subprocess.Popen[str], url: str) -> bool:
    """Whether ``proc`` holds a TCP connection to the server at ``url`` (Linux's /proc): it is past
    starting and sending; a stopped server's kernel still accepts, so its requests hang there."""
    port = urlsplit(url).port
    try:
        sockets = {os.readlink(fd)[len("socket:["):-1] for fd in Path(f"/proc/{proc.pid}/fd").iterdir()
                   if os.readlink(fd).startswith("socket:[")}
    except FileNotFoundError:  # the process (or one of its descriptors) is gone
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if inode in sockets and state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                return True
    return False


def wait_connected(proc: subprocess.Popen[str], url: str) -> None:
    """Until ``proc`` is connected to the server (its first request sent and hanging), or it ended."""
    wait_for(lambda: proc.poll() is not None or connected(proc, url))


def test_ctrl_c_against_a_frozen_server_stops_the_upload_at_once_and_the_rerun_finishes(server_factory, tmp_path):
    files = folder_of(tmp_path / "imgs", 150)
    server = server_factory("--latency-ms", "30")
    model_id = Client(KEY, server.url).create_model(list(COLOURS)).id
    cache = tmp_path / "cache"
    upload = start_cli(server.url, "upload", str(tmp_path / "imgs"), "--batch-size", "2", "--workers", "2",
                       cache=cache, model_id=model_id)
    try:
        wait_for(lambda: upload.poll() is not None or sum(counts(server.url, model_id, KEY).values()) >= 20)
        server.proc.send_signal(signal.SIGSTOP)  # the server hangs: requests in flight get no answer
        time.sleep(0.5)
        took, _, err = interrupt(upload)
    finally:
        server.proc.send_signal(signal.SIGCONT)
        if upload.poll() is None:
            upload.kill()
    assert upload.returncode == 130, err
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    assert "interrupted:" in err and "run the same command to resume" in err
    rerun = run_cli(server.url, KEY, "upload", tmp_path / "imgs", "--json", cache=cache, model_id=model_id)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["already_there"] >= 20 and report["uploaded"] + report["already_there"] == len(files)
    assert counts(server.url, model_id, KEY) == {"red": 150, "blue": 150}  # each stored once


def test_ctrl_c_stops_predict_at_once_and_the_same_output_file_resumes(server_factory, tmp_path):
    server = server_factory()
    model_id = trained_model(server, tmp_path)
    tests = folder_of(tmp_path / "test", 60, start=100)
    output = tmp_path / "results.jsonl"
    cache = tmp_path / "cache"
    server.proc.send_signal(signal.SIGSTOP)
    try:
        predict = start_cli(server.url, "predict", str(tmp_path / "test"), "--output", str(output),
                            "--batch-size", "5", cache=cache, model_id=model_id)
        wait_connected(predict, server.url)  # the first requests are sent, and hang
        took, _, err = interrupt(predict)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert predict.returncode == 130, err
    assert took < 2.0, f"Ctrl-C took {took:.1f} s"
    assert f"results so far are in {output}" in err
    first = run_cli(server.url, KEY, "predict", tmp_path / "test", "--output", output, "--top", "1",
                    cache=cache, model_id=model_id)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(r["file"] for r in records) == sorted(str(p) for p in tests)  # every file once, none torn
    assert all(r["label"] == Path(r["file"]).parent.name for r in records)
    again = run_cli(server.url, KEY, "predict", tmp_path / "test", "--output", output,
                    cache=cache, model_id=model_id)
    assert f"{len(tests)} files already have a result" in again.stderr and again.stdout == ""
    assert len(output.read_text().splitlines()) == len(tests)
    server.proc.send_signal(signal.SIGSTOP)  # evaluate stops at once too
    try:
        evaluate = start_cli(server.url, "evaluate", str(tmp_path / "test"), cache=cache, model_id=model_id)
        wait_connected(evaluate, server.url)
        took, _, err = interrupt(evaluate)
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert evaluate.returncode == 130 and took < 2.0, (took, err)
    assert "interrupted: the evaluation did not finish" in err


def test_a_torn_last_record_is_cut_off_and_that_file_predicted_again(server_factory, tmp_path):
    server = server_factory()
    model_id = trained_model(server, tmp_path)
    tests = folder_of(tmp_path / "test", 3, start=100)
    output = tmp_path / "results.csv"
    first = run_cli(server.url, KEY, "predict", *tests, "--output", output, cache=tmp_path / "c", model_id=model_id)
    assert first.returncode == 0, first.stderr
    lines = output.read_text().splitlines()
    assert lines[0] == "file,label,probability,error,scores" and len(lines) == 1 + len(tests)
    output.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:10])  # a crash in the middle of the last record
    again = run_cli(server.url, KEY, "predict", *tests, "--output", output, cache=tmp_path / "c", model_id=model_id)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("\n") == 1  # only the file whose record was torn
    import csv

    rows = list(csv.DictReader(output.open()))
    assert sorted(row["file"] for row in rows) == sorted(str(p) for p in tests)


def test_each_retry_is_one_line_and_the_last_error_says_how_long_it_tried(tmp_path):
    from helpers import closed_port

    result = run_cli(f"http://127.0.0.1:{closed_port()}/api/v2", KEY, "--retries", "2", "models",
                     cache=tmp_path / "c")
    assert result.returncode == 1
    retries = [line for line in result.stderr.splitlines() if line.startswith("retrying: ")]
    assert len(retries) == 2 and "attempt 2 of 3" in retries[0] and "attempt 3 of 3" in retries[1]
    assert "gave up after 3 attempts over" in result.stderr
    quiet = run_cli(f"http://127.0.0.1:{closed_port()}/api/v2", KEY, "--retries", "1", "--quiet", "models",
                    cache=tmp_path / "c")
    assert "retrying" not in quiet.stderr and quiet.returncode == 1
