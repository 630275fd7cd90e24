"""Exactly once across interruptions, for multi-label classification: ``nanoclient multilabel upload`` stopped by
SIGINT (Ctrl-C) and SIGKILL at several moments, then run again until it succeeds, neither loses nor doubles an
image.

One ``serve --no-dedupe --latency-ms 150`` (it stores whatever is sent, as often as it is sent, and every
request is in flight long enough to be cut); the truth is read from the server itself (``Annotations``).
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests
from helpers import cli_env, run_cli, start_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "multilabel-interrupt-key"
#: Seconds a stopped run gets to end, and a run to finish.
PATIENCE = 60.0
#: (signal, images the model holds when it is sent): 2 images a request, 2 requests at once, each held
#: 150 ms by the server: every stop falls with a request on its way.
MOMENTS = [(signal.SIGINT, 0), (signal.SIGKILL, 2), (signal.SIGINT, 6), (signal.SIGKILL, 10), (signal.SIGINT, 14),
           (signal.SIGKILL, 18)]


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
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        assert self.proc.stdout is not None
        self.proc.stdout.read()
        self.proc.wait(timeout=PATIENCE)
        self._reader.join(timeout=PATIENCE)
        return self.proc.returncode, "".join(self.lines)


def _listed(url: str, model_id: str) -> list[str]:
    answer = requests.get(f"{url}/MultiLabelClassification/Model/{model_id}/Annotations", auth=(KEY, ""), timeout=30)
    answer.raise_for_status()
    return [entry["filename"] for entry in answer.json()["Data"]]


def _wait_until(condition, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + PATIENCE
    while proc.poll() is None and not condition():
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


def test_upload_stopped_at_many_moments_then_run_again_stores_each_image_once(tmp_path):
    images = tmp_path / "set"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_multilabel.py"), "--out", str(images), "--train",
                    "24", "--test", "1", "--seed", "4"], check=True, capture_output=True)
    names = sorted(p.name for p in (images / "train").glob("*.png"))
    server = start_server(tmp_path / "data", "--no-dedupe", "--latency-ms", "150", "--min-images", "2")
    cache = tmp_path / "cache"
    try:
        created = run_cli(server.url, KEY, "multilabel", "create-model", "--from-dir", images, cache=cache)
        assert created.returncode == 0, created.stderr
        model_id = created.stdout.strip().split("=", 1)[1]
        command = ("multilabel", "upload", images, "--batch-size", "2", "--workers", "2")
        stopped = []
        for sig, count in MOMENTS:
            run = Followed(subprocess.Popen(
                [sys.executable, "-m", "nanoclient", *map(str, command)], text=True,
                env=cli_env(server.url, KEY, cache=cache, model_id=model_id), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)))
            _wait_until(lambda r=run: r.said("labelled image"), run.proc)  # past starting: Ctrl-C handled
            _wait_until(lambda n=count: len(_listed(server.url, model_id)) >= n, run.proc)
            code, text = run.stop(sig)
            stopped.append((sig.name, count, code, len(_listed(server.url, model_id))))
            if code == 0:
                continue
            if sig == signal.SIGINT:
                assert code == 130, (stopped[-1], text)
                assert [line for line in text.splitlines() if line.startswith("interrupted:")] == [
                    "interrupted: run the same command again: images the model already holds are not sent again"], text
            else:
                assert code == -signal.SIGKILL, (stopped[-1], text)
        assert any(0 < held < len(names) and code != 0 for _, _, code, held in stopped), stopped
        already = stopped[-1][-1]
        for _ in range(5):
            final = run_cli(server.url, KEY, *command, cache=cache, model_id=model_id)
            if final.returncode == 0:
                break
        assert final.returncode == 0, final.stderr
        listed = _listed(server.url, model_id)
        assert Counter(listed) == Counter(names), stopped  # each image once: none lost, none doubled
        said = re.search(r"(\d+) uploaded, (\d+) already in the model", final.stderr)
        assert said is not None, final.stderr
        uploaded, found = map(int, said.groups())
        assert uploaded + found == len(names) and found >= already, (stopped, final.stderr)
    finally:
        server.stop()
