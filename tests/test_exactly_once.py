"""Exactly once across interruptions: uploads to ``nanoclient serve --no-dedupe`` (which stores the
same bytes as often as they are sent, as the hosted service may) stopped by SIGKILL, SIGINT and
SIGTERM at many moments, then run again, leave exactly the folder's images on the server, per
category; for the CLI and for a program of one's own that uses the SDK with a journal. Also: a run
whose outcome could not be found out, two uploads at once, and unsettled files never resent blindly.

The truth is always read from the server itself.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from faultproxy import FaultProxy
from helpers import ServerProcess, cli_env, colour_folder, counts, run_cli

from nanoclient import Client, UploadJournal

KEY = "exactly-once-key"
COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
#: (signal, the server's image count at which it is sent): the moments a run is stopped
MOMENTS = [(signal.SIGKILL, 1), (signal.SIGINT, 25), (signal.SIGKILL, 50), (signal.SIGTERM, 80),
           (signal.SIGINT, 110), (signal.SIGKILL, 140)]

SDK_PROGRAM = textwrap.dedent("""
    import sys
    from pathlib import Path
    from nanoclient import Client

    url, key, model_id, folder, journal = sys.argv[1:]
    items = [(path, path.parent.name) for path in sorted(Path(folder).rglob("*.png"))]
    with Client(key, url) as client:
        report = client.upload_files(model_id, items, batch_size=3, workers=4, journal=journal)
    print(len(report.uploaded), len(report.already), len(report.unsettled), len(report.failed))
""")


def folder_of(root: Path, per_category: int) -> list[Path]:
    return colour_folder(root, COLOURS, dict.fromkeys(COLOURS, per_category), size=(12, 12))


def new_model(url: str) -> str:
    """A model on a server that may lose the answer to its creation (then another one is made)."""
    with Client(KEY, url) as client:
        for _ in range(20):
            try:
                return client.create_model(list(COLOURS)).id
            except Exception:  # the answer was lost after the model was made: make another
                continue
    raise AssertionError("could not create a model")


class Setting(NamedTuple):
    """A folder of images, a ``serve --no-dedupe`` and a model on it (``setting``)."""

    folder: Path
    files: list[Path]
    server: ServerProcess
    model_id: str


def setting(server_factory, tmp_path: Path, per_category: int, *server_args: str) -> Setting:
    """``per_category`` images of each colour in tmp_path/imgs, ``serve --no-dedupe SERVER_ARGS``, a new model."""
    folder = tmp_path / "imgs"
    files = folder_of(folder, per_category)
    server = server_factory("--no-dedupe", *server_args)
    return Setting(folder, files, server, new_model(server.url))


def total(url: str, model_id: str) -> int:
    return sum(counts(url, model_id, KEY).values())


def wait_for_count(proc: subprocess.Popen[str], url: str, model_id: str, count: int) -> None:
    """Until the server holds ``count`` images of the model, or the run ended."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and total(url, model_id) < count:
        assert time.monotonic() < deadline, "the upload made no progress"
        time.sleep(0.01)


def stop_at(proc: subprocess.Popen[str], url: str, model_id: str, sig: signal.Signals, count: int) -> None:
    """Send ``sig`` to ``proc`` once the server holds ``count`` images of the model (or the run ended)."""
    wait_for_count(proc, url, model_id, count)
    if proc.poll() is None:
        proc.send_signal(sig)
    proc.communicate(timeout=30)


def default_sigint() -> None:
    """A child's SIGINT at its default, whatever the test runner's (one started with & ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_upload(url: str, folder: Path, model_id: str, cache: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nanoclient", "upload", str(folder), "--batch-size", "3",
                             "--workers", "4", *extra], env=cli_env(url, KEY, cache=cache, model_id=model_id),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def sdk_upload(url: str, folder: Path, model_id: str, journal: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", SDK_PROGRAM, url, KEY, model_id, str(folder), str(journal)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


@pytest.mark.parametrize("server_args", [("--latency-ms", "40"),
                                         ("--latency-ms", "20", "--fail-after-rate", "0.2", "--fail-seed", "5")],
                         ids=["with-latency", "with-answers-lost-after-storing"])
def test_the_cli_stopped_at_many_moments_then_run_again_stores_each_image_once(server_factory, tmp_path, server_args):
    folder, files, server, model_id = setting(server_factory, tmp_path, 60, *server_args)
    cache = tmp_path / "cache"
    for sig, count in MOMENTS:
        stop_at(cli_upload(server.url, folder, model_id, cache), server.url, model_id, sig, count)
    final = run_cli(server.url, KEY, "upload", folder, "--json", cache=cache, model_id=model_id)
    assert final.returncode == 0, final.stderr
    assert counts(server.url, model_id, KEY) == dict.fromkeys(COLOURS, 60)
    report = json.loads(final.stdout)
    assert report["unsettled"] == 0 and report["uploaded"] + report["already_there"] == 180


def test_a_program_using_the_sdk_with_a_journal_killed_and_restarted_stores_each_image_once(server_factory,
                                                                                          tmp_path):
    folder, files, server, model_id = setting(server_factory, tmp_path, 60, "--latency-ms", "40")
    journal = tmp_path / "uploads.jsonl"
    for sig, count in MOMENTS:
        stop_at(sdk_upload(server.url, folder, model_id, journal), server.url, model_id, sig, count)
    final = sdk_upload(server.url, folder, model_id, journal)
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    uploaded, already, unsettled, failed = map(int, out.split())
    assert (unsettled, failed, uploaded + already) == (0, 0, 180)
    assert counts(server.url, model_id, KEY) == dict.fromkeys(COLOURS, 60)


def test_ctrl_c_says_what_was_done_and_the_rerun_sends_the_rest_once(server_factory, tmp_path):
    folder, files, server, model_id = setting(server_factory, tmp_path, 60, "--latency-ms", "200")
    cache = tmp_path / "cache"
    upload = cli_upload(server.url, folder, model_id, cache)
    wait_for_count(upload, server.url, model_id, 10)
    sent = time.monotonic()
    upload.send_signal(signal.SIGINT)  # requests are in flight: their answers are 200 ms away
    _, err = upload.communicate(timeout=30)
    assert upload.returncode == 130 and time.monotonic() - sent < 2.0, err
    assert "run the same command to resume" in err
    rerun = run_cli(server.url, KEY, "upload", folder, "--json", cache=cache, model_id=model_id)
    assert rerun.returncode == 0, rerun.stderr
    assert counts(server.url, model_id, KEY) == dict.fromkeys(COLOURS, 60)


def test_a_run_whose_outcome_could_not_be_read_is_settled_by_the_next_one(server_factory, tmp_path):
    """Every upload's answer is lost after the server stored it and every other count check is refused:
    the run ends with unsettled files; the next run settles them from the counts and sends nothing twice."""
    folder, files, server, model_id = setting(server_factory, tmp_path, 12)
    items = [(path, path.parent.name) for path in files]
    journal = UploadJournal(tmp_path / "j.jsonl")
    with FaultProxy(server.root, fail_after_rate=1.0, drop_mode="500", rate_limit_every_nth=2,
                    rate_limit_paths=["/Model/"], rate_limit_retry_after=None) as proxy:
        with Client(KEY, proxy.url, max_retries=0) as client:
            first = client.upload_files(model_id, items, batch_size=3, journal=journal)
    assert first.unsettled  # (and failed: those whose count could not be read before sending, not sent)
    with Client(KEY, server.url) as client:
        second = client.upload_files(model_id, items, batch_size=3, journal=journal)
    assert counts(server.url, model_id, KEY) == dict.fromkeys(COLOURS, 12)
    assert not second.unsettled and len(second.already) + len(second.uploaded) == 36
    assert len(second.already) >= len(first.unsettled)  # the unsettled ones were found stored


def test_a_second_upload_to_the_same_model_says_another_runs_or_waits_for_it(server_factory, tmp_path):
    folder, files, server, model_id = setting(server_factory, tmp_path, 40, "--latency-ms", "100")
    cache = tmp_path / "cache"
    first = cli_upload(server.url, folder, model_id, cache)
    wait_for_count(first, server.url, model_id, 1)
    first.send_signal(signal.SIGSTOP)  # it holds the lock, however long the second takes to start
    try:
        second = run_cli(server.url, KEY, "upload", folder, cache=cache, model_id=model_id)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 1
    assert f"Another upload to model {model_id} is running on this machine (process {first.pid})" in second.stderr
    assert "--wait-lock" in second.stderr
    waiting = run_cli(server.url, KEY, "upload", folder, "--wait-lock", "--json", cache=cache, model_id=model_id)
    first.communicate(timeout=60)
    assert first.returncode == 0 and waiting.returncode == 0, waiting.stderr
    assert json.loads(waiting.stdout)["uploaded"] == 0  # it waited, then found every image there
    assert counts(server.url, model_id, KEY) == dict.fromkeys(COLOURS, 40)


def test_unsettled_files_are_not_sent_again_by_a_plain_rerun(server_factory, tmp_path):
    """Two machines (two journals) uploading the same folder at once confuse the counts: the files
    whose fate is unknown stay unsettled, and the next run says so instead of storing them again."""
    folder, files, server, model_id = setting(server_factory, tmp_path, 30, "--latency-ms", "60")
    one = cli_upload(server.url, folder, model_id, tmp_path / "machine-1", "--json")
    wait_for_count(one, server.url, model_id, 1)
    one.send_signal(signal.SIGSTOP)  # the first one waits, its requests in flight, until the second sends too
    try:
        two = cli_upload(server.url, folder, model_id, tmp_path / "machine-2", "--json")
        in_flight = 3 * 3  # at most one batch of 3 per category on its way (a server that does not deduplicate)
        wait_for_count(two, server.url, model_id, total(server.url, model_id) + in_flight + 1)
    finally:
        one.send_signal(signal.SIGCONT)
    out, _ = one.communicate(timeout=120)
    two.communicate(timeout=120)
    unsettled = json.loads(out)["unsettled"]
    assert unsettled > 0 and one.returncode == 1
    held = counts(server.url, model_id, KEY)
    rerun = run_cli(server.url, KEY, "upload", folder, "--json", cache=tmp_path / "machine-1", model_id=model_id)
    assert rerun.returncode == 1
    report = json.loads(rerun.stdout)
    assert (report["uploaded"], report["unsettled"]) == (0, unsettled)
    assert counts(server.url, model_id, KEY) == held  # nothing sent again
    assert "--unsettled resend" in rerun.stderr and "--unsettled accept" in rerun.stderr
    accepted = run_cli(server.url, KEY, "upload", folder, "--unsettled", "accept", "--json",
                       cache=tmp_path / "machine-1", model_id=model_id)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["uploaded"] == 0 and counts(server.url, model_id, KEY) == held
