"""`nanoclient serve` options: --api-key, --fail-rate, refusing to expose itself, one server per folder,
and dropping its kindnesses: --no-dedupe, --shuffle-results, --fail-after-rate."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from helpers import URL_LINE, ServerProcess, counts, make_image, upload_images

from nanoclient.server.config import DEDUPE_HEADER
from nanoclient.server.serve import THREAD_VARIABLES, one_thread_per_computation


def _get(server, key, op="Models/"):
    return requests.get(f"{server.url}/ImageCategorization/{op}", auth=(key, ""), timeout=30)


def test_api_keys_restrict_access_and_the_data_dir_is_locked(server_factory, tmp_path):
    server = server_factory("--api-key", "k1", "--api-key", "k2", env={"NANOCLIENT_SERVER_API_KEYS": "from-env"})
    assert _get(server, "k1").json() == [] and _get(server, "k2").status_code == 200
    for key in ("k3", "from-env", "k1 "):
        refused = _get(server, key)
        assert refused.status_code == 401 and refused.json()["code"] == 401
    created = requests.post(f"{server.url}/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                            auth=("k1", ""), timeout=30)
    assert created.status_code == 200
    assert _get(server, "k2").json() == []  # each accepted key is still its own account

    second = subprocess.run([sys.executable, "-m", "nanoclient.server", "--port", "0", "--data-dir",
                             str(server.data_dir)], capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "Another nanoclient server" in second.stderr
    assert [m["model_id"] for m in _get(server, "k1").json()] == [created.json()["model_id"]]


def test_fail_rate_one_answers_every_api_request_with_503(server_factory):
    server = server_factory("--fail-rate", "1.0")
    responses = [
        _get(server, "k"),
        _get(server, "k", "Model/?modelId=whatever"),
        requests.post(f"{server.url}/ImageCategorization/Model/", data={"categories": ["a", "b"]}, auth=("k", ""),
                      timeout=30),
        requests.post(f"{server.url}/ImageCategorization/Train/", timeout=30),  # even without a key
    ]
    for response in responses:
        assert response.status_code == 503
        body = response.json()
        assert body["code"] == 503 and body["errors"][0]["reason"] == "unavailable"
    assert requests.get(server.root + "/healthz", timeout=30).status_code == 200


def test_listening_beyond_loopback_needs_a_key(tmp_path):
    data = tmp_path / "never-created"
    for host in ("0.0.0.0", "::"):
        refused = subprocess.run([sys.executable, "-m", "nanoclient.server", "--host", host, "--port", "0",
                                  "--data-dir", str(data)], capture_output=True, text=True, timeout=60,
                                 env={**__import__("os").environ, "NANOCLIENT_SERVER_API_KEYS": ""})
        assert refused.returncode == 2
        assert "--api-key" in refused.stderr and refused.stdout == ""
    assert not data.exists()


def test_one_thread_per_computation_unless_the_user_chose():
    environ: dict[str, str] = {"PATH": "/bin"}
    assert one_thread_per_computation(environ)
    assert environ == {"PATH": "/bin", **dict.fromkeys(THREAD_VARIABLES, "1")}
    for name in THREAD_VARIABLES:  # any one of them set: the user has chosen, all are left alone
        chosen = {name: "2"}
        assert not one_thread_per_computation(chosen)
        assert chosen == {name: "2"}


def _numpy_uses_openblas() -> bool:
    import numpy  # noqa: F401  (loads its BLAS)
    from threadpoolctl import threadpool_info

    return any(info["internal_api"] == "openblas" for info in threadpool_info())


@pytest.mark.skipif(not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2 or not _numpy_uses_openblas(),
                    reason="counts OpenBLAS's threads in /proc: Linux, 2 cores or more, NumPy on OpenBLAS")
def test_the_server_runs_numpys_blas_on_one_thread(server_factory, tmp_path, monkeypatch):
    """OpenBLAS starts a worker thread for each thread beyond the first as NumPy loads it: the server,
    which runs its computations side by side itself, has one fewer than when 2 are asked for."""
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def threads(env: dict[str, str]) -> int:
        server = server_factory(data_dir=tmp_path / f"server-{len(env)}", env=env)
        count = len(os.listdir(f"/proc/{server.proc.pid}/task"))
        server.stop()
        return count

    assert threads({"OPENBLAS_NUM_THREADS": "2"}) == threads({}) + 1


def test_serve_command_imports_only_click():
    code = ("import sys, nanoclient.server.command as c; "
            "heavy = [m for m in ('flask', 'waitress', 'numpy', 'sklearn', 'requests', 'PIL') if m in sys.modules]; "
            "print(c.serve.name, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "serve []", out.stderr


# ---------------------------------------------------------------- kindnesses dropped: --no-dedupe, --shuffle-results,
# ---------------------------------------------------------------- --fail-after-rate

def _model_with(server, key="k"):
    created = requests.post(f"{server.url}/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                            auth=(key, ""), timeout=30)
    assert created.status_code == 200, created.text
    return created


def test_serve_declares_deduplication_and_no_dedupe_drops_it(server_factory, tmp_path):
    image = make_image((200, 10, 10))
    kind = server_factory()
    created = _model_with(kind)
    model_id = created.json()["model_id"]
    twice = upload_images(kind.url, model_id, "a", [image, image], "k")
    again = upload_images(kind.url, model_id, "a", [image], "k")
    refused = _get(kind, "")
    assert (twice.status_code, again.status_code, refused.status_code) == (200, 200, 401)
    for answer in (created, twice, again, refused):
        assert answer.headers[DEDUPE_HEADER] == "sha256"
    assert counts(kind.url, model_id, "k") == {"a": 1, "b": 0}
    assert DEDUPE_HEADER not in requests.get(kind.root + "/healthz", timeout=10).headers

    # started by hand to see its whole stdout: the base URL first, nothing else
    command = ServerProcess(tmp_path / "unkind", ["--no-dedupe"]).command
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert URL_LINE.match(url), url
        created = requests.post(f"{url}/ImageCategorization/Model/", data={"categories": ["a", "b"]},
                                auth=("k", ""), timeout=30)
        model_id = created.json()["model_id"]
        twice = upload_images(url, model_id, "a", [image, image], "k")
        again = upload_images(url, model_id, "a", [image], "k")
        for answer in (created, twice, again, requests.get(f"{url}/ImageCategorization/Models/", timeout=30)):
            assert DEDUPE_HEADER not in answer.headers
        assert counts(url, model_id, "k") == {"a": 3, "b": 0}  # within one request and across requests
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert out == "" and "deduplication off" in err


def test_fail_after_rate_one_stores_the_upload_then_answers_500_or_drops(server_factory):
    server = server_factory("--fail-after-rate", "1", "--fail-seed", "2")
    url = server.url + "/ImageCategorization"
    outcomes = []

    def outcome(send):
        try:
            answer = send()
        except requests.exceptions.ChunkedEncodingError as exc:  # the answer was cut short
            assert "IncompleteRead" in str(exc)
            return "dropped"
        assert answer.status_code == 500, answer.text
        body = answer.json()
        assert body["code"] == 500 and body["errors"][0]["reason"] == "injected_after_processing"
        assert answer.headers[DEDUPE_HEADER] == "sha256"
        return 500

    outcomes.append(outcome(lambda: requests.post(url + "/Model/", data={"categories": ["a", "b"]},
                                                  auth=("k", ""), timeout=30)))
    [model] = _get(server, "k").json()  # created, whatever the answer said
    for n in range(1, 7):
        image = make_image((30 * n, 0, 0))
        outcomes.append(outcome(lambda image=image: upload_images(server.url, model["model_id"], "a", [image], "k")))
        assert counts(server.url, model["model_id"], "k") == {"a": n, "b": 0}  # stored each time
    assert set(outcomes) == {500, "dropped"}
    assert requests.get(server.root + "/healthz", timeout=10).status_code == 200  # dropping hurt nothing
    assert "fail after processing" in server.log()


def test_shuffle_results_answers_predictions_out_of_input_order(server_factory, tmp_path):
    server = server_factory("--shuffle-results", "--fail-seed", "5", "--min-images", "3")
    url = server.url + "/ImageCategorization"
    model_id = _model_with(server).json()["model_id"]
    assert upload_images(server.url, model_id, "a", [make_image((220, 20, 20), seed=i) for i in range(3)], "k").ok
    assert upload_images(server.url, model_id, "b", [make_image((20, 20, 220), seed=i) for i in range(3)], "k").ok
    assert requests.post(url + "/Train/", params={"modelId": model_id}, auth=("k", ""), timeout=30).ok
    deadline = time.monotonic() + 180
    while (state := requests.get(url + "/Model/", params={"modelId": model_id}, auth=("k", ""),
                                 timeout=30).json()["state"]) != 5:
        assert state in (2, 3, 4) and time.monotonic() < deadline, state
        time.sleep(0.1)
    names = [f"probe{i:02d}.png" for i in range(20)]
    files = [("file", (name, make_image((220, 20, 20), seed=50 + i), "image/png")) for i, name in enumerate(names)]
    answer = requests.post(url + "/LabelFile/", params={"modelId": model_id}, files=files, auth=("k", ""), timeout=60)
    order = [entry["file"] for entry in answer.json()["result"]]
    assert answer.status_code == 200 and sorted(order) == names and order != names
    assert "results shuffled" in server.log()


def test_serve_help_names_the_options_that_drop_kindnesses():
    from click.testing import CliRunner

    from nanoclient.server.command import serve

    result = CliRunner().invoke(serve, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option in ("--dedupe / --no-dedupe", "--shuffle-results", "--fail-after-rate", "--fail-seed"):
        assert option in text, option
    assert "promises no deduplication" in text and "Nanoclient-Dedupe" in text and "promises no order" in text


def test_serve_option_defaults_are_server_config_defaults():
    from dataclasses import fields

    from nanoclient.server.command import serve
    from nanoclient.server.config import ServerConfig

    defaults = {param.name: param.default for param in serve.params}
    shared = [f for f in fields(ServerConfig) if f.name in defaults and f.name not in ("data_dir", "api_keys")]
    assert len(shared) >= 9
    for f in shared:
        assert defaults[f.name] == f.default, f.name
    assert defaults["fetch_max_mb"] * 1024 * 1024 == ServerConfig.fetch_max_bytes
