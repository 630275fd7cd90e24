"""The CLI without a server: help, version, light imports, completion, settings and usage errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nanoclient.cli import cli, error_line

COMMANDS = ["create-model", "upload", "train", "status", "predict", "evaluate", "models", "config"]


#: No key, URL or model id from the developer's environment or config file (conftest.py).
pytestmark = pytest.mark.usefixtures("isolated_settings")


def help_in_a_fresh_process(*commands: str, then: str) -> list[str]:
    """The output lines of `nanoclient --help` and of `nanoclient COMMAND --help` for each command,
    run in a new Python, followed by what printing ``then`` (an expression) gives there."""
    code = (
        "import sys\n"
        "from nanoclient.cli import cli\n"
        f"for args in [['--help'], *[[name, '--help'] for name in {list(commands)!r}]]:\n"
        "    try:\n"
        "        cli.main(args, prog_name='nanoclient')\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print({then})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()


def test_help_does_not_import_heavy_modules():
    lines = help_in_a_fresh_process("upload", "predict", "serve", then=(
        "'HEAVY=' + ','.join(sorted(m for m in ('requests', 'PIL', 'numpy', 'tqdm', 'flask', 'sklearn') "
        "if m in sys.modules))"))
    assert any(line.startswith("Usage: nanoclient") for line in lines)
    assert lines[-1] == "HEAVY="


def test_version_and_module_entry_point():
    from nanoclient import __version__

    result = subprocess.run([sys.executable, "-m", "nanoclient", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"nanoclient, version {__version__}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(runner, command):
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert f"nanoclient {command}" in result.output.split("Options:")[0]
    assert "--json" in result.output
    assert "--model-id" in result.output


def test_serve_has_help_with_examples_and_says_it_takes_no_json(runner):
    result = runner.invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output and "nanoclient serve --port 8765 &" in result.output
    assert "without --json" in result.output and "--json " not in result.output.split("Options:")[1]


def test_group_help_lists_commands_and_serve_without_loading_it():
    lines = help_in_a_fresh_process(then="'LOADED=' + str('nanoclient.server.command' in sys.modules)")
    for command in [*COMMANDS, "serve"]:
        assert any(line.startswith(f"  {command} ") for line in lines), command
    assert lines[-1] == "LOADED=False"


def test_the_lazy_serve_line_is_the_first_line_of_its_help():
    from nanoclient.cli import LAZY_COMMANDS
    from nanoclient.server.command import serve

    assert serve.help is not None
    assert LAZY_COMMANDS["serve"][2] == serve.help.strip().splitlines()[0]


def test_bash_completion_script(runner):
    result = runner.invoke(cli, [], prog_name="nanoclient", env={"_NANOCLIENT_COMPLETE": "bash_source"})
    assert result.exit_code == 0
    assert "_nanoclient_completion" in result.output
    completed = runner.invoke(
        cli, [], prog_name="nanoclient",
        env={"_NANOCLIENT_COMPLETE": "bash_complete", "COMP_WORDS": "nanoclient up", "COMP_CWORD": "1"},
    )
    assert "upload" in completed.output


@pytest.mark.parametrize("command", [["models"], ["create-model", "A", "B"], ["status", "--model-id", "m"]])
def test_no_api_key_says_what_to_set(runner, command):
    result = runner.invoke(cli, command)
    assert result.exit_code == 2
    assert "set NANONETS_API_KEY or pass --api-key" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [["status"], ["train"], ["predict", "."]])
def test_no_model_id_says_what_to_set(runner, command):
    result = runner.invoke(cli, ["--api-key", "k", *command])
    assert result.exit_code == 2
    assert "pass --model-id or set NANONETS_MODEL_ID" in result.output


def test_usage_errors_exit_2(runner, tmp_path):
    assert runner.invoke(cli, ["upload"]).exit_code == 2  # missing DIR
    assert runner.invoke(cli, ["predict", str(tmp_path / "missing.png")]).exit_code == 2
    assert runner.invoke(cli, ["upload", "--workers", "0", str(tmp_path)]).exit_code == 2
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    result = runner.invoke(cli, ["--api-key", "k", "create-model"])
    assert result.exit_code == 2 and "no categories" in result.output
    (tmp_path / "A").mkdir()
    result = runner.invoke(cli, ["--api-key", "k", "create-model", "X", "--from-dir", str(tmp_path)])
    assert result.exit_code == 2 and "not both" in result.output


def test_broken_config_file_is_one_line_and_a_usage_error(runner, tmp_path):
    ini = tmp_path / "config.ini"
    for content, what in [("no section\n", "line 1 comes before the [nanoclient] header"),
                          ("[nanoclient]\napi_key = a\napi_key = b\n", "line 3 sets api_key a second time"),
                          ("[nanoclient]\ngarbage\n", "line 2 is not a 'name = value' line")]:
        ini.write_text(content)
        result = runner.invoke(cli, ["models"])
        assert result.exit_code == 2
        assert result.stderr == f"Error: cannot read config file {ini}: {what}; fix or delete it\n"
        assert "PosixPath" not in result.output
    ini.write_bytes(b"\xff\xfe[nanoclient]\n")
    result = runner.invoke(cli, ["config", "--save", "--api-key", "k", "--base-url", "http://127.0.0.1:9/api/v2",
                                 "--model-id", "m"])  # nothing to read, but --save reads the file to keep it
    assert result.exit_code == 2 and "it is not UTF-8 text" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_config_shows_sources_and_saves(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("NANONETS_BASE_URL", "http://127.0.0.1:9/api/v2")
    result = runner.invoke(cli, ["--api-key", "secret-key-0000-1234", "config", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["api_key"] == "****1234"  # the same rule as the SDK's repr: the last 4 of a long key only
    short = json.loads(runner.invoke(cli, ["--api-key", "short-1234", "config", "--json"]).stdout)
    assert short["api_key"] == "****"
    assert shown["sources"] == {"api_key": "flag", "base_url": "env"}
    assert shown["model_id"] is None
    assert "secret-key" not in result.output

    result = runner.invoke(cli, ["--api-key", "secret-key-1234", "--model-id", "m7", "config", "--save"])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("NANONETS_BASE_URL")
    result = runner.invoke(cli, ["config", "--json"])
    shown = json.loads(result.stdout)
    ini = str(tmp_path / "config.ini")
    assert shown["model_id"] == "m7" and shown["base_url"] == "http://127.0.0.1:9/api/v2"
    assert shown["sources"] == {"api_key": ini, "base_url": ini, "model_id": ini}
    # An environment variable beats the file, an option beats both.
    monkeypatch.setenv("NANONETS_MODEL_ID", "env-model")
    assert json.loads(runner.invoke(cli, ["config", "--json"]).stdout)["model_id"] == "env-model"
    assert json.loads(runner.invoke(cli, ["config", "--json", "--model-id", "opt"]).stdout)["model_id"] == "opt"


def test_error_lines_for_every_error_class():
    from nanoclient import errors

    class FakeState:
        base_url = "http://127.0.0.1:9/api/v2"

        class settings:  # noqa: N801 - a stand-in for config.Settings
            model_id = "m1"

            @staticmethod
            def source_of(name):
                return "--api-key"

    state = FakeState()
    expectations = {
        errors.AuthenticationError("Unauthorized", status=401): "check NANONETS_API_KEY or --api-key",
        errors.NotFoundError("Model does not exist", status=404): "model m1 does not exist",
        errors.InvalidImageError("x.png is corrupt", hint="Check the file"): "invalid image: x.png is corrupt",
        errors.PaymentRequiredError("Quota exceeded", status=402): "quota is exhausted",
        errors.PayloadTooLargeError("Too large", status=413, method="POST",
                                    url="http://h/api/v2/ImageCategorization/UploadFile/"): "refused an upload request",
        errors.PayloadTooLargeError("Too large", status=413, method="POST",
                                    url="http://h/api/v2/ImageCategorization/LabelFile/"): "a prediction request",
        errors.RateLimitError("Slow down", status=429, retry_after=7): "wait 7 s",
        errors.ServerError("Boom", status=503): "failed (503): Boom",
        errors.TrainingFailedError("failed", model=type("M", (), {"status": "only one class"})()): "only one class",
        errors.APITimeoutError("read timed out"): "timed out: read timed out",
        errors.TrainingTimeoutError("still training"): "still training",
        ValueError("Invalid base URL: use e.g. https://app.nanonets.com/api/v2"): "Invalid base URL",
        FileNotFoundError("No such file: a.png"): "No such file: a.png",
        errors.APIConnectionError("refused", request_sent=False):
            "cannot reach http://127.0.0.1:9/api/v2: is the server running?",
        # what the transport recognised is said as such, not as a server that may be down (issue 27)
        errors.APIConnectionError("Could not reach X through the proxy http://p:3128", request_sent=False,
                                  diagnosis="proxy"): "proxy error: Could not reach X through the proxy http://p:3128",
        errors.APIConnectionError("h:1 answered in plain HTTP, not TLS: use http://", request_sent=False,
                                  diagnosis="scheme"):
            "cannot talk to http://127.0.0.1:9/api/v2",
        errors.APIConnectionError("The connection broke before the response was complete"):
            "broke before its answer: The connection broke before the response was complete; the server may have",
        errors.BadRequestError("Model is not ready to train", hint="Upload more images"): "Upload more images",
        errors.NanonetsError("odd"): "odd",
    }
    for exc, expected in expectations.items():
        line = error_line(exc, state)
        assert expected in line, (type(exc).__name__, line)
        assert "\n" not in line
        if getattr(exc, "diagnosis", None):
            assert "is the server running" not in line, line


@pytest.mark.parametrize("args,env,attempts", [([], {}, 11), (["--retries", "2"], {}, 3),
                                               ([], {"NANOCLIENT_RETRIES": "0"}, 1)])
def test_retries_option_sets_how_often_a_failing_request_is_tried(runner, monkeypatch, args, env, attempts):
    import responses

    monkeypatch.setattr("nanoclient._transport._sleep", lambda seconds: None)
    with responses.RequestsMock() as mock:
        mock.get("http://127.0.0.1:9/api/v2/ImageCategorization/Models/", status=503,
                 json={"message": "Service unavailable", "code": 503})
        result = runner.invoke(cli, [*args, "models", "--api-key", "k", "--base-url", "http://127.0.0.1:9/api/v2"],
                               env=env)
        assert len(mock.calls) == attempts
    assert result.exit_code == 1
    assert "failed (503)" in result.stderr
