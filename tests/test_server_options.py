"""`nanoclient serve` options: --api-key, --fail-rate, refusing to expose itself, one server per folder."""
from __future__ import annotations

import subprocess
import sys

import requests


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
        requests.post(f"{server.url}/ImageCategorization/Model/", data={"categories": ["a", "b"]}, auth=("k", ""), timeout=30),
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


def test_serve_command_imports_only_click():
    code = ("import sys, nanoclient.server.command as c; "
            "heavy = [m for m in ('flask', 'waitress', 'numpy', 'sklearn', 'requests', 'PIL') if m in sys.modules]; "
            "print(c.serve.name, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "serve []", out.stderr
