"""Exactly once across Ctrl-C and kills, for the model types whose models list their files (multi-label
here; detection in test_detection_interrupts.py): ``nanoclient <type> upload`` stopped by SIGINT or
SIGKILL while its requests are in flight, then run again until it succeeds, stores each image once,
none lost, none doubled.

One ``serve --no-dedupe --latency-ms 200`` for the module (it stores whatever is sent, as often as it is
sent, and each request is in flight long enough to be cut); the truth is the model's own listing
(``Annotations``). OCR's are in test_ocr_interrupts.py, Image Categorization's in test_interrupts.py; a
type joins with one line of ``CASES``.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from helpers import ServerProcess, cli_env, run_cli, start_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "types-interrupt-key"
#: Seconds a stopped run gets to end, and a run to finish.
PATIENCE = 90.0


class TypeCase(NamedTuple):
    """A model type's command group, its family of paths and how to make a small data set of it."""

    group: str
    family: str
    make: list[str]  # the generator script and its arguments (after --out)


#: Detection's, stopped at more moments: test_detection_interrupts.py.
CASES = {
    "multilabel": TypeCase("multilabel", "MultiLabelClassification",
                           ["make_multilabel.py", "--train", "24", "--test", "1"]),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    served = start_server(tmp_path_factory.mktemp("types-interrupts") / "data", "--no-dedupe", "--latency-ms",
                          "200", "--min-images", "2")
    try:
        yield served
    finally:
        served.stop()


def _data(case: TypeCase, folder: Path) -> Path:
    script, *args = case.make
    subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--out", str(folder), "--seed", "7", *args],
                   check=True, capture_output=True)
    return folder


def _listed(server: ServerProcess, case: TypeCase, model_id: str) -> Counter[str]:
    answer = requests.get(f"{server.url}/{case.family}/Model/{model_id}/Annotations", auth=(KEY, ""), timeout=30)
    answer.raise_for_status()
    return Counter(entry["filename"] for entry in answer.json()["Data"])


def _start(server: ServerProcess, cache: Path, model_id: str, *args: object) -> subprocess.Popen[str]:
    """``nanoclient ARGS`` in its own process, SIGINT at its default (a runner started with & ignores it)."""
    return subprocess.Popen([sys.executable, "-m", "nanoclient", *map(str, args)],
                            env=cli_env(server.url, KEY, cache=cache, model_id=model_id),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
@pytest.mark.parametrize("kind", sorted(CASES))
def test_an_upload_stopped_and_run_again_stores_each_image_once(server, tmp_path, kind, sig):
    case = CASES[kind]
    folder = _data(case, tmp_path / "data")
    images = sorted(p.name for p in (folder / "train").iterdir() if p.suffix in (".jpg", ".png"))
    cache = tmp_path / "cache"
    created = run_cli(server.url, KEY, case.group, "create-model", "--from-dir", folder, cache=cache)
    assert created.returncode == 0, created.stderr
    model_id = created.stdout.strip().split("=", 1)[1]
    upload = ("--retries", "0", case.group, "upload", folder, "--batch-size", "2", "--workers", "2")
    first = _start(server, cache, model_id, *upload)
    deadline = time.monotonic() + PATIENCE
    while first.poll() is None and not _listed(server, case, model_id):  # stopped with requests in flight
        assert time.monotonic() < deadline, "the upload stored nothing"
        time.sleep(0.05)
    if first.poll() is None:
        first.send_signal(sig)
    first.communicate(timeout=PATIENCE)
    assert first.returncode != 0 or sum(_listed(server, case, model_id).values()) == len(images)
    for _ in range(5):  # run again until it succeeds
        again = run_cli(server.url, KEY, *upload, cache=cache, model_id=model_id)
        if again.returncode == 0:
            break
    assert again.returncode == 0, again.stderr
    listed = _listed(server, case, model_id)
    assert sorted(listed) == images  # none lost
    assert set(listed.values()) == {1}  # none doubled
