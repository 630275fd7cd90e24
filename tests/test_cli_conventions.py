"""The CLI's conventions (issue 17): folders and names, output for the shell, global options anywhere,
the README's exit codes, errors as one line or one JSON object, Ctrl-C, and a wrong base URL."""
from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import responses
from helpers import cli_env, upload_images, write_image

from nanoclient.cli import cli, error_line
from nanoclient.testing import fake_nanonets

#: The fake answers here, in-process; were it to miss a request, nothing listens on port 9.
BASE_URL = "http://127.0.0.1:9/api/v2"
KEY = "cli-conventions-key"

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def env(monkeypatch):
    """The fake's URL and key in the environment."""
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", BASE_URL)


@pytest.fixture
def fake(env, tmp_path):
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=5) as running:
        yield running


def images(folder: Path, count: int, colour: tuple[int, int, int], start: int = 0) -> list[Path]:
    """``count`` noisy images of one colour in ``folder``, each different (seeds from ``start``)."""
    return [write_image(folder / f"{i:02d}.png", colour, seed=i) for i in range(start, start + count)]


def run(runner, *args, code: int = 0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def created(runner, *args) -> dict:
    return json.loads(run(runner, "create-model", *args, "--json").stdout)


# ----------------------------------------------------------------------------- folders and names


def test_create_model_from_a_folder_with_a_train_category(runner, fake, tmp_path):
    for name in ("bus", "car", "train"):
        images(tmp_path / "vehicles" / name, 1, (200, 30, 30))
    model = created(runner, "--from-dir", tmp_path / "vehicles")
    assert [c["name"] for c in model["categories"]] == ["bus", "car", "train"]


def test_a_folder_name_with_spaces_is_the_same_category_everywhere(runner, fake, tmp_path):
    images(tmp_path / "set" / "Bag ", 5, (220, 30, 30))
    images(tmp_path / "set" / " Coat", 5, (30, 40, 220))
    model = created(runner, "--from-dir", tmp_path / "set")
    assert [c["name"] for c in model["categories"]] == ["Bag", "Coat"]
    model_id = model["model_id"]
    report = json.loads(run(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id).stdout)
    assert (report["uploaded"], report["skipped"], report["failed"]) == (10, 0, 0)
    assert report["model"]["categories"] == [{"name": "Bag", "count": 5}, {"name": "Coat", "count": 5}]
    run(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    evaluation = json.loads(run(runner, "evaluate", tmp_path / "set", "--json", "--model-id", model_id).stdout)
    assert evaluation["n"] == 10 and evaluation["confusion"]["labels"] == ["Bag", "Coat"]
    # names given as arguments go through the same rule
    assert [c["name"] for c in created(runner, " Bag", "Coat ")["categories"]] == ["Bag", "Coat"]


def test_upload_names_a_dangling_link_and_sends_the_rest(runner, fake, tmp_path):
    images(tmp_path / "set" / "Bag", 3, (220, 30, 30))
    images(tmp_path / "set" / "Coat", 3, (30, 40, 220))
    images(tmp_path / "elsewhere", 2, (220, 30, 30), start=10)
    (tmp_path / "set" / "Bag" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    gone = tmp_path / "set" / "Coat" / "gone.png"
    gone.symlink_to(tmp_path / "deleted.png")
    model_id = created(runner, "Bag", "Coat")["model_id"]
    result = runner.invoke(cli, ["upload", str(tmp_path / "set"), "--json", "--model-id", model_id])
    assert result.exit_code in (0, 1), result.stderr  # whether a skipped file fails the upload is upload's rule
    report = json.loads(result.stdout)
    assert report["uploaded"] == 6  # not the linked folder's images: they would have two labels
    # each named by its path with the walk's reason (images.find_labelled_images returns them as skipped)
    named = [line for line in result.stderr.splitlines() if str(gone) in line]
    assert named and "broken symbolic link" in named[0], result.stderr
    linked = [line for line in result.stderr.splitlines() if str(tmp_path / "set" / "Bag" / "more") in line]
    assert linked and "a symbolic link to a folder" in linked[0] and "not followed" in linked[0]
    assert report["not_images"] == 2 and report["files_seen"] == 8


@pytest.mark.parametrize("args", [["Bag"], ["Bag", "--json"], ["--from-dir", "{one}"]])
def test_create_model_refuses_fewer_than_two_categories(runner, fake, tmp_path, args):
    images(tmp_path / "one" / "Bag", 1, (220, 30, 30))
    result = run(runner, "create-model", *[a.format(one=tmp_path / "one") for a in args], code=2)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    assert "a model needs at least two categories" in result.stderr and "(Bag)" in result.stderr
    assert fake.request_count == 0  # refused before anything is sent


HOSTILE_IDS = ["x; touch f #", "$(touch g)", "`touch h`", "a'b\"c", "x\ntouch i"]


@pytest.mark.parametrize("model_id", HOSTILE_IDS)
def test_the_export_line_is_quoted_for_eval(runner, env, tmp_path, model_id):
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE_URL}/ImageCategorization/Model/", json={
            "model_id": model_id, "model_type": "classification", "state": 0, "status": "",
            "categories": [{"name": "Bag", "count": 0}, {"name": "Coat", "count": 0}]})
        line = run(runner, "create-model", "Bag", "Coat").stdout
    assert shlex.split(line) == ["export", f"NANONETS_MODEL_ID={model_id}"]
    shell = tmp_path / "shell"
    shell.mkdir()
    out = subprocess.run(["bash", "-c", 'eval "$LINE"; printf %s "$NANONETS_MODEL_ID"'], cwd=shell,
                         env={"LINE": line, "PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == model_id
    assert list(shell.iterdir()) == []  # nothing ran


# ----------------------------------------------------------------------------- global options anywhere


@pytest.mark.parametrize("args,env_retries,attempts", [
    (["models", "--retries", "2"], None, 3),
    (["--retries", "2", "models"], None, 3),
    (["--retries", "5", "models", "--retries", "1"], None, 2),  # the later one wins
    (["models", "--retries", "2"], "0", 3),                      # an option beats the environment
    (["models"], "0", 1),
])
def test_retries_works_before_and_after_the_command(runner, env, monkeypatch, args, env_retries, attempts):
    monkeypatch.setattr("nanoclient._transport._sleep", lambda seconds: None)
    if env_retries is not None:
        monkeypatch.setenv("NANOCLIENT_RETRIES", env_retries)
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE_URL}/ImageCategorization/Models/", status=503,
                 json={"message": "Service unavailable", "code": 503})
        result = run(runner, *args, code=1)
        assert len(mock.calls) == attempts
    assert "failed (503)" in result.stderr


def test_json_debug_and_connection_options_work_before_and_after(runner, fake, tmp_path):
    model_id = created(runner, "Bag", "Coat")["model_id"]
    for args in (["--json", "status", "--model-id", model_id], ["status", "--json", "--model-id", model_id],
                 ["--model-id", model_id, "--json", "status"], ["status", "--model-id", model_id, "--json"]):
        assert json.loads(run(runner, *args).stdout)["model"]["model_id"] == model_id, args
    from nanoclient.errors import NotFoundError

    for args in (["--debug", "status", "--model-id", "nope"], ["status", "--model-id", "nope", "--debug"]):
        assert isinstance(runner.invoke(cli, args).exception, NotFoundError), args
    images(tmp_path / "set" / "Bag", 2, (220, 30, 30))
    result = run(runner, "upload", tmp_path / "set", "--retries", "2", "--model-id", model_id, "--json")
    assert json.loads(result.stdout)["uploaded"] == 2  # options between and after the arguments


def test_quiet_silences_messages_but_not_results_or_errors(runner, fake, tmp_path):
    result = run(runner, "-q", "create-model", "Bag", "Coat")
    assert result.stdout.startswith("export NANONETS_MODEL_ID=") and result.stderr == ""
    model_id = shlex.split(result.stdout)[1].split("=", 1)[1]
    images(tmp_path / "set" / "Bag", 5, (220, 30, 30))
    images(tmp_path / "set" / "Coat", 5, (30, 40, 220))
    upload = run(runner, "upload", tmp_path / "set", "--model-id", model_id, "--quiet")
    assert upload.stdout.startswith("uploaded 10") and upload.stderr == ""
    trained = run(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id, "--quiet")
    assert trained.stderr == "" and "trained" in trained.stdout
    failed = run(runner, "--quiet", "status", "--model-id", "nope", code=1)
    assert "model nope does not exist" in failed.stderr
    broken = tmp_path / "set" / "Coat" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    problem = runner.invoke(cli, ["upload", str(tmp_path / "set"), "--model-id", model_id, "-q"])
    assert problem.exit_code in (0, 1) and str(broken) in problem.stderr  # a problem file still shows
    assert all(str(broken) in line for line in problem.stderr.splitlines())


# ----------------------------------------------------------------------------- exit codes, errors


@pytest.mark.parametrize("args", [
    ["--base-url", "http://example.com/api/v2", "models"],   # the key would travel in plain http
    ["models", "--base-url", "not a url"],
    ["create-model", "Bag", "Bag"],
    ["create-model", "Bag", "Bag "],                         # the same category once normalised
    ["--api-key", "", "models"],                              # not a silent fall-back to NANONETS_API_KEY
    ["models", "--api-key", ""],
    ["status", "--model-id", ""],
    ["status"],                                               # no model id
    ["--api-key", " ", "models"],                             # no key left
])
def test_usage_errors_exit_2_and_with_json_are_one_object(runner, env, args):
    text = run(runner, *args, code=2)
    assert text.stdout == "" and text.stderr.splitlines()[-1].startswith("Error: ")
    as_json = run(runner, *args, "--json", code=2)
    assert as_json.stdout == "" and len(as_json.stderr.splitlines()) == 1
    error = json.loads(as_json.stderr)["error"]
    assert error["type"] == "UsageError" and set(error) == {"type", "message", "status", "hint"}
    assert error["message"] in text.stderr


def test_no_api_key_is_a_usage_error(runner):
    assert "set NANONETS_API_KEY or pass --api-key" in run(runner, "models", code=2).stderr


def test_an_api_error_with_json_is_one_object_and_stdout_stays_empty(runner, fake):
    text = run(runner, "status", "--model-id", "nope", code=1)
    result = run(runner, "status", "--model-id", "nope", "--json", code=1)
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "NotFoundError" and error["status"] == 404
    assert error["message"].startswith("model nope does not exist at") and f"Error: {error['message']}\n" == text.stderr
    assert error["hint"]  # the server's detail, kept
    missing = runner.invoke(cli, ["--json", "upload", "/no/such/dir", "--model-id", "m"], prog_name="nanoclient")
    assert missing.exit_code == 2 and missing.stdout == ""
    assert json.loads(missing.stderr)["error"]["hint"] == "Try 'nanoclient upload -h' for help."


def test_wrong_base_url_says_so_and_not_that_the_model_is_missing(runner, server_factory, tmp_path):
    """A real server asked at its root, without /api/v2: the answers come from no API operation."""
    server = server_factory()
    for args in (["create-model", "Bag", "Coat"], ["models"], ["status", "--model-id", "m1"]):
        result = run(runner, "--api-key", KEY, "--base-url", server.root, *args, code=1)
        line = result.stderr.strip()
        assert "\n" not in line and "does not exist" not in line, line
        assert line.startswith(f"Error: {server.root} (from --base-url) does not look like the API's base URL"), line
        assert "https://app.nanonets.com/api/v2 or http://127.0.0.1:8765/api/v2" in line
        assert "Check the path" in line  # the server's hint, kept
    right = run(runner, "--api-key", KEY, "--base-url", server.url, "status", "--model-id", "m1", code=1)
    assert "model m1 does not exist" in right.stderr


def test_an_html_404_is_a_wrong_base_url_and_an_api_404_a_missing_model(runner, env):
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE_URL}/ImageCategorization/Model/", status=404, content_type="text/html",
                 body="<html><head><title>404 Not Found</title></head><body>nginx</body></html>")
        html = run(runner, "status", "--model-id", "m1", code=1).stderr
    assert f"{BASE_URL} (from the NANONETS_BASE_URL variable) does not look like the API's base URL" in html
    assert "404 Not Found" in html and "does not exist" not in html
    with responses.RequestsMock() as mock:
        mock.get(f"{BASE_URL}/ImageCategorization/Model/", status=404,
                 json={"message": "Model does not exist", "code": 404,
                       "errors": [{"reason": "not_found", "message": "No model m1 for this key"}]})
        api = run(runner, "status", "--model-id", "m1", code=1).stderr
    assert "model m1 does not exist" in api


def test_error_line_of_an_answer_from_no_api_operation():
    from nanoclient import errors

    wrong = errors.NotFoundError("Not found", status=404, from_api=False, hint="Check the path")
    assert "does not look like the API's base URL" in error_line(wrong, None)
    assert "Check the path" in error_line(wrong, None)
    proxy = errors.ServerError("HTTP 502 from server (not JSON): Bad Gateway", status=502, from_api=False)
    assert "try again later" in error_line(proxy, None)  # a proxy's error page in front of the right URL


# ----------------------------------------------------------------------------- Ctrl-C


def _start_cli(url: str, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, queue.Queue]:
    """``python -m nanoclient ARGS`` in its own process (SIGINT at its default, whatever the test runner's
    is), and a queue of the lines it writes on stderr (None at the end)."""
    proc = subprocess.Popen([sys.executable, "-m", "nanoclient", *args], env=cli_env(url, KEY, cache=tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _interrupt_once_waiting(proc: subprocess.Popen, lines: queue.Queue) -> str:
    """Wait for the first state line, send SIGINT, and return everything written on stderr."""
    seen = []
    while True:
        line = lines.get(timeout=60)
        assert line is not None, f"exited {proc.wait()} before showing a state: {''.join(seen)}"
        seen.append(line)
        if line.startswith("state "):
            assert not line.startswith("state 5"), "training ended before the test could interrupt it"
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    return "".join(seen)


def _model_ready_to_train(url: str, categories: dict[str, tuple[int, int, int]]) -> str:
    import requests

    answer = requests.post(f"{url}/ImageCategorization/Model/", data={"categories": list(categories)},
                           auth=(KEY, ""), timeout=30)
    assert answer.status_code == 200, answer.text
    model_id = answer.json()["model_id"]
    from helpers import make_image

    for name, colour in categories.items():
        response = upload_images(url, model_id, name, [make_image(colour, seed=i, size=(32, 32)) for i in range(40)],
                                 KEY)
        assert response.status_code == 200, response.text
    return model_id


def test_ctrl_c_while_waiting_for_training_says_it_goes_on_and_exits_130(server_factory, tmp_path):
    server = server_factory()
    colours = {"Red": (220, 30, 30), "Green": (30, 200, 40), "Blue": (30, 40, 220)}
    first, second = _model_ready_to_train(server.url, colours), _model_ready_to_train(server.url, colours)
    # --poll-interval 60: once it showed the first state, the command waits in its sleep, where Ctrl-C comes
    proc, lines = _start_cli(server.url, tmp_path, "train", "--wait", "--poll-interval", "60", "--model-id", first)
    # the second model trains after the first (one queue), so `status --wait` sees it queued or training
    import requests

    assert requests.post(f"{server.url}/ImageCategorization/Train/", params={"modelId": second}, auth=(KEY, ""),
                         timeout=30).status_code == 200
    stderr = _interrupt_once_waiting(proc, lines)
    assert proc.returncode == 130, stderr
    assert f"interrupted: model {first} goes on training on the server; wait for it again with " \
           "`nanoclient status --wait`" in stderr
    assert "Traceback" not in stderr and proc.stdout is not None and proc.stdout.read() == ""

    proc, lines = _start_cli(server.url, tmp_path, "status", "--wait", "--poll-interval", "60", "--json",
                             "--model-id", second)
    stderr = _interrupt_once_waiting(proc, lines)
    assert proc.returncode == 130, stderr
    error = json.loads(stderr.strip().splitlines()[-1])["error"]
    assert error["type"] == "KeyboardInterrupt" and "nanoclient status --wait" in error["message"]
