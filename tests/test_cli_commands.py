"""Every CLI command and option, through click's CliRunner, against nanoclient.testing's fake."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import colour_folder, make_image

from nanoclient._journal import UploadJournal, file_digest
from nanoclient.cli import cli
from nanoclient.testing import fake_nanonets

#: The fake answers here, in-process; were it to miss a request, nothing listens on port 9.
BASE_URL = "http://127.0.0.1:9/api/v2"
KEY = "cli-test-key"
COLOURS = {"Red": (220, 30, 30), "Green": (30, 200, 40), "Blue": (30, 40, 220)}


@pytest.fixture(autouse=True)
def fake_settings(isolated_settings, monkeypatch):
    """Settings from these tests only: the fake's URL and key, no model id or config file, a private cache."""
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", BASE_URL)


@pytest.fixture
def fake(tmp_path):
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=5) as running:
        yield running


def make_folder(root: Path, counts: dict[str, int], *, start: int = 0) -> list[Path]:
    """Write ``counts[category]`` noisy solid-colour PNGs into ``root/<category>/``."""
    return colour_folder(root, COLOURS, counts, start=start)


def invoke(runner: CliRunner, *args: str, code: int = 0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def create(runner: CliRunner, *categories: str) -> str:
    model = json.loads(invoke(runner, "create-model", *categories, "--json").stdout)
    return model["model_id"]


def trained_model(runner: CliRunner, tmp_path: Path) -> str:
    make_folder(tmp_path / "set" / "train", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
    invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    return model_id


# ----------------------------------------------------------------------------- create-model


def test_create_model_prints_the_export_line(runner, fake):
    result = invoke(runner, "create-model", "Bag", "Coat")
    model_id = result.stdout.strip().split("=", 1)[1]
    assert result.stdout == f"export NANONETS_MODEL_ID={model_id}\n"
    assert f"created model {model_id}" in result.stderr and "Bag, Coat" in result.stderr
    assert fake.backend is not None


def test_create_model_json_is_the_model_object(runner, fake):
    model = json.loads(invoke(runner, "create-model", "Bag", "Coat", "--json").stdout)
    assert model["state"] == 0 and model["model_type"] == "classification"
    assert model["categories"] == [{"name": "Bag", "count": 0}, {"name": "Coat", "count": 0}]
    assert model["accuracy"] is None


def test_create_model_from_dir_uses_train_subfolders(runner, fake, tmp_path):
    make_folder(tmp_path / "set" / "train", {"Red": 1, "Green": 1})
    make_folder(tmp_path / "set" / "test", {"Blue": 1, "Red": 1})
    model = json.loads(invoke(runner, "create-model", "--from-dir", tmp_path / "set", "--json").stdout)
    assert [c["name"] for c in model["categories"]] == ["Green", "Red"]
    plain = json.loads(invoke(runner, "create-model", "--from-dir", tmp_path / "set" / "test", "--json").stdout)
    assert [c["name"] for c in plain["categories"]] == ["Blue", "Red"]


def test_create_model_duplicate_categories_is_one_line(runner, fake):
    result = invoke(runner, "create-model", "Bag", "Bag", code=2)  # a usage error
    assert "Duplicated categories: Bag" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- upload


def test_upload_reports_counts_and_model(runner, fake, tmp_path):
    make_folder(tmp_path / "set" / "train", {"Red": 5, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    result = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id, "--workers", "3")
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["skipped"], report["failed"]) == (11, 0, 0)
    assert report["model"]["state"] == 2
    assert {c["name"]: c["count"] for c in report["model"]["categories"]} == {"Red": 5, "Blue": 6}


def test_upload_text_output_and_env_model_id(runner, fake, tmp_path, monkeypatch):
    make_folder(tmp_path / "set", {"Red": 2})
    monkeypatch.setenv("NANONETS_MODEL_ID", create(runner, "Red", "Blue"))
    result = invoke(runner, "upload", tmp_path / "set")
    assert result.stdout.splitlines()[0] == ("uploaded 2 (2 newly stored, 0 the server already had), "
                                             "already there 0, not images 0, invalid 0, failed 0: 2 files")
    assert "needs more images" in result.stdout


def test_upload_skips_corrupt_images_and_sends_the_rest(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 3, "Blue": 3})
    (tmp_path / "set" / "Red" / "broken.png").write_bytes(make_image((1, 2, 3))[:40])
    (tmp_path / "set" / "Blue" / "notes.txt").write_text("not an image")
    model_id = create(runner, "Red", "Blue")
    result = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id, code=1)  # a file failed
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["invalid"], report["not_images"], report["failed"]) == (6, 1, 1, 0)
    assert f"invalid {tmp_path / 'set' / 'Red' / 'broken.png'}:" in result.stderr
    assert f"skipped {tmp_path / 'set' / 'Blue' / 'notes.txt'}" in result.stderr
    [broken] = [f for f in report["files"] if f["outcome"] == "invalid"]
    assert broken["file"].endswith("broken.png") and broken["category"] == "Red" and broken["reason"]
    counts = {c["name"]: c["count"] for c in report["model"]["categories"]}
    assert counts == {"Red": 3, "Blue": 3}


def test_upload_names_folders_that_are_not_categories(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 2, "Green": 2})
    model_id = create(runner, "Red", "Blue")
    result = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id, code=1)
    assert "the 2 images in folder 'Green': it is not a category of model" in result.stderr
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["invalid"]) == (2, 2)


def test_upload_no_matching_folder_is_an_error_naming_them(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Green": 2})
    model_id = create(runner, "Red", "Blue")
    result = invoke(runner, "upload", tmp_path / "set", "--model-id", model_id, code=1)
    assert "Green" in result.stderr and "Blue, Red" in result.stderr
    assert result.stdout == ""


def test_upload_folder_without_images_is_an_error(runner, fake, tmp_path):
    (tmp_path / "empty" / "Red").mkdir(parents=True)
    (tmp_path / "empty" / "Red" / "readme.txt").write_text("nothing here")
    model_id = create(runner, "Red", "Blue")
    result = invoke(runner, "upload", tmp_path / "empty", "--model-id", model_id, code=1)
    assert "no images in" in result.stderr


def test_upload_resumes_from_the_record(runner, tmp_path):
    # A server that declares deduplication, as `nanoclient serve` does: there the CLI sends
    # several files per request, which the request count below checks.
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=5, dedupe=True) as fake:
        _upload_resumes_from_the_record(runner, fake, tmp_path)


def _upload_resumes_from_the_record(runner, fake, tmp_path):
    files = make_folder(tmp_path / "set", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    # An earlier run that was interrupted after 5 files: the record holds just those.
    record = UploadJournal.for_model(BASE_URL, model_id)
    for path in files[:5]:
        record.add(file_digest(path), path.parent.name, str(path))
    before = fake.request_count
    report = json.loads(invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id).stdout)
    assert (report["uploaded"], report["skipped"], report["failed"]) == (7, 5, 0)
    # the model read by the command and by upload_files, one batch per category with only the
    # missing files (1 Red, 6 Blue), and the final counts
    assert fake.request_count - before == 2 + 2 + 1
    assert report["model"]["categories"] == [{"name": "Red", "count": 1}, {"name": "Blue", "count": 6}]

    again = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id)
    assert json.loads(again.stdout)["uploaded"] == 0
    assert "12 images already uploaded" in again.stderr

    forced = json.loads(invoke(runner, "upload", tmp_path / "set", "--json", "--force", "--model-id", model_id).stdout)
    assert forced["uploaded"] == 12
    # The server counts identical bytes once: the 5 it never received plus 7 = 12 images, not 24.
    assert forced["model"]["categories"] == [{"name": "Red", "count": 6}, {"name": "Blue", "count": 6}]


def test_upload_interrupted_then_resumed_sends_only_the_rest(runner, fake, tmp_path, monkeypatch):
    """A real interruption: the process dies mid-upload; what succeeded is recorded and not sent again."""
    from nanoclient import client as client_module

    make_folder(tmp_path / "set", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    original = client_module.Client.upload_files

    def upload_then_die(self, model_id, items, **kwargs):
        items = list(items)
        original(self, model_id, items[:4], **kwargs)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(client_module.Client, "upload_files", upload_then_die)
        result = runner.invoke(cli, ["upload", str(tmp_path / "set"), "--model-id", model_id])
    assert result.exit_code != 0
    assert "run the same command to resume" in result.stderr and result.exit_code == 130

    report = json.loads(invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id).stdout)
    assert (report["uploaded"], report["skipped"]) == (8, 4)
    assert report["model"]["state"] == 2


def test_upload_names_unsettled_files_and_exits_1(runner, fake, tmp_path, monkeypatch):
    """A file the SDK could not settle (stored or not, nobody knows) is named, counted apart, and fails the run."""
    from nanoclient import client as client_module

    files = make_folder(tmp_path / "set", {"Red": 3})
    model_id = create(runner, "Red", "Blue")
    original = client_module.Client.upload_files

    def upload_leaving_one_unsettled(self, model_id, items, **kwargs):
        items = list(items)
        report = original(self, model_id, items[1:], **kwargs)
        report.unsettled.append((str(items[0][0]), "the count could not be checked"))
        return report

    monkeypatch.setattr(client_module.Client, "upload_files", upload_leaving_one_unsettled)
    result = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id, code=1)
    report = json.loads(result.stdout)
    assert (report["uploaded"], report["unsettled"], report["failed"]) == (2, 1, 0)
    assert f"unsettled {files[0]}: the count could not be checked" in result.stderr
    assert "invalid 0, failed 0, unsettled 1" in invoke(
        runner, "upload", tmp_path / "set", "--model-id", model_id, "--force", code=1).stdout


def test_train_wait_shows_raw_states_it_passes_through(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
    result = invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    assert "state 5 (trained): Model trained" in result.stderr


def test_upload_unknown_model_id(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 1})
    result = invoke(runner, "upload", tmp_path / "set", "--model-id", "no-such-model", code=1)
    assert "model no-such-model does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- train / status


def test_train_wait_shows_state_changes_and_ends_trained(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
    result = invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--json", "--model-id", model_id)
    model = json.loads(result.stdout)["model"]
    assert model["state"] == 5 and model["model_id"] == model_id
    assert model["accuracy"] is not None
    assert "trained" in result.stderr
    assert f"training model {model_id}" in result.stderr


def test_train_without_wait_returns_at_once(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 6, "Blue": 6})
    model_id = create(runner, "Red", "Blue")
    invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
    model = json.loads(invoke(runner, "train", "--json", "--model-id", model_id).stdout)["model"]
    assert model["state"] in (3, 4, 5)
    fake.wait_idle()
    status = json.loads(invoke(runner, "status", "--json", "--model-id", model_id).stdout)["model"]
    assert status["state"] == 5


def test_train_with_too_few_images_is_one_line(runner, fake, tmp_path):
    make_folder(tmp_path / "set", {"Red": 2})
    model_id = create(runner, "Red", "Blue")
    invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
    result = invoke(runner, "train", "--wait", "--model-id", model_id, code=1)
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_timeout_reached(runner, tmp_path):
    """A training that cannot finish: --wait gives up after --wait-timeout with exit 1."""
    release = threading.Event()

    class SlowTrainer:
        from nanoclient.server.image_categorization import trainer as real

        Classifier = real.Classifier

        @classmethod
        def train(cls, images, labels, **kwargs):
            release.wait(30)
            return cls.real.train(images, labels, **kwargs)

    with fake_nanonets(BASE_URL, data_dir=tmp_path / "slow", trainer=SlowTrainer) as slow:
        make_folder(tmp_path / "set", {"Red": 5, "Blue": 5})
        model_id = create(runner, "Red", "Blue")
        invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
        result = invoke(runner, "train", "--wait", "--wait-timeout", "0.3", "--poll-interval", "0.05",
                        "--model-id", model_id, code=1)
        assert "did not finish within 0.3 s" in result.stderr
        status = invoke(runner, "status", "--wait", "--wait-timeout", "0.2", "--poll-interval", "0.05",
                        "--model-id", model_id, code=1)
        assert "did not finish" in status.stderr
        release.set()
        waited = invoke(runner, "status", "--wait", "--poll-interval", "0.05", "--json", "--model-id", model_id)
        assert json.loads(waited.stdout)["model"]["state"] == 5
        slow.wait_idle()


def test_status_text_and_json(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    text = invoke(runner, "status", "--model-id", model_id).stdout
    assert text.startswith(f"model {model_id}: trained")
    assert "(held out by the server: 2 images)" in text  # 20 % of 12, what the accuracy was measured on
    assert "Red" in text and "Blue" in text and "12 in 2 categories" in text
    model = json.loads(invoke(runner, "status", "--json", "--model-id", model_id).stdout)["model"]
    assert model["state"] == 5 and model["accuracy_images"] == 2
    assert {c["name"]: c["count"] for c in model["categories"]} == {"Red": 6, "Blue": 6}
    fresh = create(runner, "A", "B")
    # --wait on a model that is not training returns at once.
    assert json.loads(invoke(runner, "status", "--wait", "--json", "--model-id", fresh).stdout)["model"]["state"] == 0


def test_status_unknown_model(runner, fake):
    result = invoke(runner, "status", "--model-id", "nope", code=1)
    assert "model nope does not exist" in result.stderr


# ----------------------------------------------------------------------------- predict


def test_predict_files_and_folders_in_input_order(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    tests = make_folder(tmp_path / "test", {"Red": 3, "Blue": 3}, start=50)
    single = tests[4]
    result = invoke(runner, "predict", single, tmp_path / "test", "--json", "--batch-size", "2",
                    "--workers", "2", "--model-id", model_id)
    rows = [json.loads(line) for line in result.stdout.splitlines()]  # JSON Lines, one per file as it comes
    expected = [single] + sorted(tests)
    assert sorted(row["file"] for row in rows) == sorted(str(p) for p in expected)
    for row in rows:
        assert row["label"] == Path(row["file"]).parent.name
        assert [s["label"] for s in row["scores"]][0] == row["label"]
        assert len(row["scores"]) == 2
        assert abs(sum(s["probability"] for s in row["scores"]) - 1) < 1e-6
        assert row["probability"] == row["scores"][0]["probability"]


def test_predict_text_and_top(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    tests = make_folder(tmp_path / "test", {"Red": 1, "Blue": 1}, start=60)
    lines = invoke(runner, "predict", *tests, "--model-id", model_id).stdout.splitlines()
    assert len(lines) == 2
    by_file = {line.split()[0]: line.split()[1:] for line in lines}
    for path in tests:
        label, probability = by_file[str(path)]
        assert label == path.parent.name and 0.5 <= float(probability) <= 1
    top = invoke(runner, "predict", tests[0], "--top", "2", "--model-id", model_id).stdout.split()
    assert top[0] == str(tests[0]) and {top[1], top[3]} == {"Red", "Blue"}
    row = json.loads(invoke(runner, "predict", tests[0], "--top", "1", "--json", "--model-id", model_id).stdout)
    assert len(row["scores"]) == 1


def test_predict_skips_invalid_files_and_exits_1(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    good = make_folder(tmp_path / "test", {"Red": 1}, start=70)[0]
    bad = tmp_path / "test" / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)
    result = invoke(runner, "predict", bad, good, "--json", "--model-id", model_id, code=1)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(row["file"] for row in rows) == sorted([str(bad), str(good)])
    assert [row for row in rows if "error" in row] == [{"file": str(bad), "error": rows[0].get("error") or
                                                        rows[1].get("error")}]
    assert f"failed {bad}:" in result.stderr and "predicted 1 file, 1 failed" in result.stderr


def test_predict_missing_file_and_empty_folder(runner, fake, tmp_path):
    result = invoke(runner, "predict", tmp_path / "missing.png", "--model-id", "m", code=2)
    assert "missing.png" in result.stderr and "does not exist" in result.stderr
    (tmp_path / "empty").mkdir()
    result = invoke(runner, "predict", tmp_path / "empty", "--model-id", "m", code=1)
    assert "no images found" in result.stderr


def test_predict_untrained_model_is_one_line(runner, fake, tmp_path):
    model_id = create(runner, "Red", "Blue")
    image = make_folder(tmp_path / "test", {"Red": 1})[0]
    result = invoke(runner, "predict", image, "--model-id", model_id, code=1)
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


# ----------------------------------------------------------------------------- evaluate


def test_evaluate_text_json_and_report(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    make_folder(tmp_path / "set" / "test", {"Red": 3, "Blue": 2}, start=40)
    (tmp_path / "set" / "test" / "Red" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    report = tmp_path / "out" / "report.html"
    # the broken file is named and left out, the others are scored, and the exit code says a file failed
    result = invoke(runner, "evaluate", tmp_path / "set", "--json", "--report", report, "--model-id", model_id,
                    code=1)
    data = json.loads(result.stdout)
    assert data["n"] == 5 and data["accuracy"] == 1.0 and data["mistakes"] == []
    assert data["confusion"] == {"labels": ["Blue", "Red"], "matrix": [[2, 0], [0, 3]]}
    assert data["per_class"]["Red"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    assert "broken.png" in result.stderr and f"report written to {report}" in result.stderr
    assert [Path(f["file"]).name for f in data["failed"]] == ["broken.png"]
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and model_id in html

    text = invoke(runner, "evaluate", tmp_path / "set" / "test", "--model-id", model_id, code=1).stdout
    assert text.startswith("accuracy 1.000 (5/5 correct, 0 mistakes)")
    assert "confusion matrix" in text


def test_evaluate_counts_mistakes_when_labels_are_wrong(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    # blue images filed under Red: every one is a mistake the model makes "predicting" Blue
    for _i, path in enumerate(make_folder(tmp_path / "swapped", {"Blue": 2}, start=60)):
        target = tmp_path / "swapped" / "Red" / path.name
        target.parent.mkdir(exist_ok=True)
        path.rename(target)
    make_folder(tmp_path / "swapped", {"Blue": 2}, start=70)
    data = json.loads(invoke(runner, "evaluate", tmp_path / "swapped", "--json", "--model-id", model_id).stdout)
    assert data["n"] == 4 and data["accuracy"] == 0.5
    assert sorted((m["label"], m["predicted"]) for m in data["mistakes"]) == [("Red", "Blue")] * 2


def test_evaluate_a_folder_without_images_is_one_line_and_exit_1(runner, fake, tmp_path):
    model_id = trained_model(runner, tmp_path)
    (tmp_path / "empty" / "Red").mkdir(parents=True)
    result = invoke(runner, "evaluate", tmp_path / "empty", "--model-id", model_id, code=1)
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "No images found" in result.stderr


# ----------------------------------------------------------------------------- models, keys, errors


def test_models_lists_the_accounts_models(runner, fake):
    assert json.loads(invoke(runner, "models", "--json").stdout) == []
    assert "no models yet" in invoke(runner, "models").stderr
    first, second = create(runner, "A", "B"), create(runner, "C", "D")
    listed = json.loads(invoke(runner, "models", "--json").stdout)
    assert {m["model_id"] for m in listed} == {first, second}
    text = invoke(runner, "models").stdout
    assert first in text and "C, D" in text
    # Another key is another account.
    assert json.loads(invoke(runner, "--api-key", "someone-else", "models", "--json").stdout) == []


def test_refused_key_is_one_line_naming_its_source(runner, tmp_path):
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "locked", api_keys=["the-only-key"]):
        result = invoke(runner, "models", code=1)
        assert "refused" in result.stderr and "NANONETS_API_KEY variable" in result.stderr
        assert KEY not in result.stderr
        assert json.loads(invoke(runner, "models", "--json", "--api-key", "the-only-key").stdout) == []


def test_options_after_the_command_beat_those_before(runner, fake):
    model_id = create(runner, "A", "B")
    result = invoke(runner, "--model-id", "wrong", "status", "--model-id", model_id, "--json")
    assert json.loads(result.stdout)["model"]["model_id"] == model_id


def test_debug_shows_the_exception(runner, fake):
    result = runner.invoke(cli, ["--debug", "status", "--model-id", "nope"])
    assert result.exit_code == 1
    from nanoclient.errors import NotFoundError

    assert isinstance(result.exception, NotFoundError)


def test_unreachable_server_is_one_line(runner, tmp_path, monkeypatch):
    """No fake: the request really goes to 127.0.0.1 where nothing listens."""
    from nanoclient import _transport

    monkeypatch.setattr(_transport.time, "sleep", lambda seconds: None)  # no waiting between retries
    result = invoke(runner, "models", code=1)
    *retries, error = result.stderr.strip().splitlines()
    assert f"cannot reach {BASE_URL}: is the server running?" in error and "gave up after 11 attempts" in error
    assert len(retries) == 10 and all(line.startswith("retrying: GET Models/ failed") for line in retries)
