"""Exactly once across interruptions, for object detection: ``nanoclient detection upload`` stopped by SIGINT
(Ctrl-C) and SIGKILL at several moments, then run again until it succeeds, neither loses nor doubles an image.

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
from pathlib import Path

import pytest
import requests
from helpers import cli_env, run_cli, start_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "detection-interrupt-key"
#: Seconds a stopped run gets to end, and a run to finish.
PATIENCE = 60.0
#: (signal, images the model holds when it is sent): 0 while it lists the model's images or sends the first.
MOMENTS = [(signal.SIGINT, 0), (signal.SIGKILL, 2), (signal.SIGINT, 5), (signal.SIGKILL, 9), (signal.SIGINT, 13),
           (signal.SIGKILL, 17)]


class Followed:
    """A CLI run in its own process (SIGINT at its default), whose stderr is read as it writes it."""

    def __init__(self, url: str, cache: Path, model_id: str, *args: object) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "nanoclient", *map(str, args)],
                                     env=cli_env(url, KEY, cache=cache, model_id=model_id), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr or ()), daemon=True)
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
    answer = requests.get(f"{url}/ObjectDetection/Model/{model_id}/Annotations", auth=(KEY, ""), timeout=30)
    assert answer.status_code == 200, answer.text
    return [entry["filename"] for entry in answer.json()["Data"]]


def _until(condition, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + PATIENCE
    while proc.poll() is None and not condition():
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("detection-interrupts")
    running = start_server(root / "data", "--no-dedupe", "--latency-ms", "150", "--min-images", "2")
    try:
        yield running, root
    finally:
        running.stop()


def test_upload_stopped_at_many_moments_then_run_again_stores_each_image_once(server):
    running, root = server
    scenes = root / "scenes"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_detection.py"), "--out", str(scenes), "--train", "24",
                    "--test", "1", "--seed", "3"], check=True, capture_output=True)
    folder = scenes / "train"
    names = sorted(p.name for p in folder.glob("*.jpg"))
    cache = root / "cache"
    created = run_cli(running.url, KEY, "detection", "create-model", "--from-dir", folder, cache=cache)
    assert created.returncode == 0, created.stderr
    model_id = created.stdout.strip().split("=", 1)[1]
    command = ("detection", "upload", folder, "--batch-size", "2", "--workers", "2")
    stopped = []
    for sig, count in MOMENTS:
        run = Followed(running.url, cache, model_id, *command)
        _until(lambda r=run: r.said("labelled image"), run.proc)  # past starting: its Ctrl-C handling in place
        _until(lambda n=count: len(_listed(running.url, model_id)) >= n, run.proc)
        code, text = run.stop(sig)
        stopped.append((sig.name, count, code, len(_listed(running.url, model_id))))
        if code == 0:
            continue
        if sig == signal.SIGINT:  # Ctrl-C: exit 130 and one line saying how to go on
            assert code == 130, (stopped[-1], text)
            assert [line for line in text.splitlines() if line.startswith("interrupted:")] == [
                "interrupted: run the same command again: images the model already holds are not sent again"], text
        else:
            assert code == -signal.SIGKILL, (stopped[-1], text)
    assert any(0 < held < len(names) and code != 0 for _, _, code, held in stopped), stopped
    already = stopped[-1][-1]
    for _ in range(3):
        final = run_cli(running.url, KEY, *command, cache=cache, model_id=model_id, timeout=PATIENCE)
        if final.returncode == 0:
            break
    assert final.returncode == 0, final.stderr
    assert sorted(_listed(running.url, model_id)) == names, stopped  # each image once
    said = re.search(r"(\d+) uploaded, (\d+) already in the model", final.stderr)
    assert said is not None, final.stderr
    uploaded, found = map(int, said.groups())
    assert uploaded + found == len(names) and found >= already, (stopped, final.stderr)
