"""The whole CLI workflow as a user runs it: `python -m nanoclient` against a real `nanoclient serve`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from helpers import make_image

COLOURS = {"Red": (220, 30, 30), "Blue": (30, 40, 220), "Green": (30, 200, 40)}


def _write(root: Path, per_class: int, start: int = 0) -> None:
    for name, colour in COLOURS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(start, start + per_class):
            (folder / f"{name.lower()}_{i:02d}.png").write_bytes(make_image(colour, seed=i))


def test_whole_flow_against_a_real_server(server_factory, tmp_path):
    server = server_factory()
    env = dict(os.environ)
    env.update(
        NANONETS_API_KEY="e2e-key",
        NANONETS_BASE_URL=server.url,
        NANOCLIENT_CONFIG=str(tmp_path / "config.ini"),
        NANOCLIENT_CACHE_DIR=str(tmp_path / "cache"),
    )
    env.pop("NANONETS_MODEL_ID", None)

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "nanoclient", *map(str, args)],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    images = tmp_path / "images"
    _write(images / "train", per_class=6)
    _write(images / "test", per_class=2, start=40)
    (images / "train" / "Red" / "truncated.png").write_bytes(make_image((9, 9, 9))[:50])

    created = run("create-model", "--from-dir", images)
    assert created.stdout.startswith("export NANONETS_MODEL_ID=")
    env["NANONETS_MODEL_ID"] = created.stdout.strip().split("=", 1)[1]

    uploaded = json.loads(run("upload", images, "--json", code=1).stdout)  # 1: the truncated file failed
    assert (uploaded["uploaded"], uploaded["invalid"], uploaded["failed"]) == (18, 1, 0)
    assert uploaded["model"]["state"] == 2

    # Run again: the upload journal says everything is there, so nothing is sent.
    again = json.loads(run("upload", images, "--json", code=1).stdout)
    assert (again["uploaded"], again["already_there"], again["invalid"]) == (0, 18, 1)

    trained = run("train", "--wait", "--poll-interval", "0.2", "--wait-timeout", "120", "--json")
    model = json.loads(trained.stdout)["model"]
    assert model["state"] == 5 and 0 <= model["accuracy"] <= 1
    assert "trained" in trained.stderr

    status = run("status")
    assert status.stdout.startswith(f"model {env['NANONETS_MODEL_ID']}: trained")
    assert "18 in 3 categories" in status.stdout

    predictions = [json.loads(line) for line in run("predict", images / "test", "--json").stdout.splitlines()]
    assert len(predictions) == 6
    assert all(p["label"] == Path(p["file"]).parent.name for p in predictions)
    text = run("predict", images / "test" / "Blue").stdout.splitlines()
    assert len(text) == 2 and all(line.split()[1] == "Blue" for line in text)

    evaluated = run("evaluate", images / "test")
    assert "for training" not in evaluated.stderr
    on_training = run("evaluate", images / "train", code=1)  # 1: the truncated file
    assert "18 of the 19 images were uploaded to this model for training" in on_training.stderr

    listed = json.loads(run("models", "--json").stdout)
    assert [m["model_id"] for m in listed] == [env["NANONETS_MODEL_ID"]]

    # Errors a user meets, each one line on stderr with the right exit code.
    missing = run("predict", tmp_path / "nope.png", code=2)
    assert "nope.png" in missing.stderr
    unknown = run("status", "--model-id", "not-a-model", code=1)
    assert "does not exist" in unknown.stderr
    server.stop()
    down = run("status", code=1)
    assert f"cannot reach {server.url}" in down.stderr
