"""The CLI's long runs, through CliRunner against the in-process fake: every file accounted for by its
path (upload --report, --json, --dry-run), identical copies sent once, and per-file prediction output
streamed to --output in JSON Lines or CSV.
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from helpers import colour_folder, make_image

from nanoclient.cli import cli
from nanoclient.server.image_categorization import TYPE as IMAGE_CATEGORIZATION
from nanoclient.server.image_categorization.models import ImageCategorizationModels
from nanoclient.testing import fake_nanonets

BASE_URL = "http://127.0.0.1:9/api/v2"
KEY = "runs-key"
COLOURS = {"Red": (220, 30, 30), "Blue": (30, 40, 220)}


def ic_part(backend: object) -> ImageCategorizationModels:
    """The backend's Image Categorization part (made on first use)."""
    return backend.part(IMAGE_CATEGORIZATION)  # type: ignore[attr-defined]


@pytest.fixture
def fake(tmp_path, isolated_settings, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", BASE_URL)
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=3) as running:
        yield running


def invoke(runner, *args, code=0):
    result = runner.invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result


def folder(root: Path, per_category: int, start: int = 0) -> list[Path]:
    return colour_folder(root, COLOURS, dict.fromkeys(COLOURS, per_category), start=start)


def new_model(runner) -> str:
    return json.loads(invoke(runner, "create-model", *COLOURS, "--json").stdout)["model_id"]


def test_upload_report_names_every_file_with_its_outcome(runner, fake, tmp_path):
    files = folder(tmp_path / "set", 3)
    copy = tmp_path / "set" / "Red" / "copy.png"
    copy.write_bytes(files[0].read_bytes())  # the same bytes twice in one category: sent once
    broken = tmp_path / "set" / "Blue" / "broken.png"
    broken.write_bytes(make_image((1, 2, 3))[:40])
    model_id = new_model(runner)
    report = tmp_path / "out" / "upload.jsonl"
    result = invoke(runner, "upload", tmp_path / "set", "--report", report, "--json", "--model-id", model_id, code=1)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    by_file = {line["file"]: line for line in lines}
    assert set(by_file) == {str(p) for p in [*files, copy, broken]}
    assert {by_file[str(p)]["outcome"] for p in files[1:]} == {"uploaded"}
    twins = sorted([by_file[str(files[0])], by_file[str(copy)]], key=lambda line: line["outcome"])
    assert [t["outcome"] for t in twins] == ["already there", "uploaded"]  # one of the two is sent
    assert twins[1]["file"] in twins[0]["reason"]  # "the same bytes as <the one sent>"
    assert by_file[str(broken)]["outcome"] == "invalid" and by_file[str(broken)]["reason"]
    assert by_file[str(files[1])]["sha256"] == hashlib.sha256(files[1].read_bytes()).hexdigest()
    assert by_file[str(files[1])]["category"] == "Red"
    data = json.loads(result.stdout)
    assert sorted(f["file"] for f in data["files"]) == sorted(by_file)  # --json carries the same list
    assert (data["uploaded"], data["newly_stored"], data["already_there"], data["invalid"]) == (6, 6, 1, 1)
    assert {c["name"]: c["count"] for c in data["model"]["categories"]} == {"Red": 3, "Blue": 3}


def test_a_server_that_already_had_the_images_is_counted_apart(runner, tmp_path, isolated_settings, monkeypatch):
    monkeypatch.setenv("NANONETS_API_KEY", KEY)
    monkeypatch.setenv("NANONETS_BASE_URL", BASE_URL)
    with fake_nanonets(BASE_URL, data_dir=tmp_path / "fake", min_images=3, dedupe=True):
        folder(tmp_path / "set", 3)
        model_id = new_model(runner)
        invoke(runner, "upload", tmp_path / "set", "--model-id", model_id)
        again = invoke(runner, "upload", tmp_path / "set", "--force", "--model-id", model_id)
        assert again.stdout.startswith("uploaded 6 (0 newly stored, 6 the server already had)")


def test_dry_run_checks_everything_and_sends_nothing(runner, fake, tmp_path):
    folder(tmp_path / "set", 2)
    (tmp_path / "set" / "Red" / "fake.png").write_text("not an image")  # skipped: images go by content
    (tmp_path / "set" / "Red" / "cut.png").write_bytes(make_image((9, 9, 9))[:60])  # a PNG, truncated: invalid
    model_id = new_model(runner)
    before = fake.request_count
    result = invoke(runner, "upload", tmp_path / "set", "--dry-run", "--model-id", model_id, code=1)
    assert "would upload 4 images" in result.stdout and "nothing was sent" in result.stdout
    assert "below the training minimum of 3" in result.stdout  # the local server says its minimum
    assert "not images 1, invalid 1" in result.stdout
    assert "skipped" in result.stderr and "fake.png: not a PNG or JPEG image" in result.stderr
    assert "invalid" in result.stderr and "cut.png" in result.stderr
    assert fake.request_count - before == 1  # one read of the model, no upload
    report_path = tmp_path / "dry.jsonl"
    invoke(runner, "upload", tmp_path / "set", "--dry-run", "--report", report_path, "--model-id", model_id, code=1)
    outcomes = [json.loads(line)["outcome"] for line in report_path.read_text().splitlines()]
    assert sorted(outcomes) == ["invalid", "skipped", *["would upload"] * 4]  # one line per file, as an upload
    stored = ic_part(fake.backend).get_model(fake.backend.authenticate(KEY), model_id)
    assert sum(c.count for c in stored.categories) == 0


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_predict_output_holds_a_record_per_file_and_a_rerun_skips_them(runner, fake, tmp_path, suffix):
    folder(tmp_path / "train", 3)
    model_id = new_model(runner)
    invoke(runner, "upload", tmp_path / "train", "--model-id", model_id)
    invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    tests = folder(tmp_path / "test", 2, start=50)
    broken = tmp_path / "test" / "Red" / "broken.png"
    broken.write_bytes(make_image((9, 9, 9))[:30])
    output = tmp_path / f"results{suffix}"
    result = invoke(runner, "predict", tmp_path / "test", "--output", output, "--model-id", model_id, code=1)
    assert len(result.stdout.splitlines()) == len(tests)  # one line per predicted file
    if suffix == ".csv":
        rows = list(csv.DictReader(output.open()))
        scores = {row["file"]: json.loads(row["scores"]) for row in rows if row["scores"]}
    else:
        rows = [json.loads(line) for line in output.read_text().splitlines()]
        scores = {row["file"]: row["scores"] for row in rows if "scores" in row}
    assert sorted(row["file"] for row in rows) == sorted(str(p) for p in [*tests, broken])
    assert [row["file"] for row in rows if row.get("error")] == [str(broken)]
    assert all(len(s) == 2 for s in scores.values())
    again = invoke(runner, "predict", tmp_path / "test", "--output", output, "--model-id", model_id, code=1)
    assert f"{len(tests)} files already have a result" in again.stderr  # the failed one is tried again
    assert again.stdout == "" and "broken.png" in again.stderr


def test_every_file_of_the_folder_has_one_report_line_and_the_counts_add_up(runner, fake, tmp_path):
    """Broken and looping links, other formats, a JPEG without a suffix, a file beside the category folders,
    hidden and system names: each in --report and counted; the hidden and system ones not named on stderr."""
    good = folder(tmp_path / "set", 2)
    red = tmp_path / "set" / "Red"
    (red / "photo").write_bytes(make_image((200, 10, 10), fmt="JPEG"))  # a JPEG with no suffix: uploaded
    (red / "pic.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8))
    (red / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (red / "gone.png").symlink_to(tmp_path / "deleted.png")
    (red / "loop.png").symlink_to(red / "loop.png")
    (tmp_path / "set" / "stray.png").write_bytes(make_image((1, 200, 1)))  # no category
    (red / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(12))
    (red / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (red / ".cache").mkdir()
    (red / ".cache" / "copy.png").write_bytes(good[0].read_bytes())  # inside a hidden folder: not walked
    report_path = tmp_path / "report.jsonl"
    result = invoke(runner, "upload", tmp_path / "set", "--report", report_path, "--json", "--model-id",
                    new_model(runner))
    lines = [json.loads(line) for line in report_path.read_text().splitlines()]
    seen = sorted(str(path) for path in (tmp_path / "set").rglob("*")
                  if (path.is_file() or path.is_symlink()) and ".cache" not in path.parts)
    assert sorted(line["file"] for line in lines) == sorted([*seen, str(red / ".cache")])  # one line each
    outcomes = {Path(line["file"]).name: line["outcome"] for line in lines}
    assert outcomes["photo"] == "uploaded" and all(outcomes[p.name] == "uploaded" for p in good)
    skipped = ("pic.webp", "anim.gif", "gone.png", "loop.png", "stray.png", "Thumbs.db", ".DS_Store", ".cache")
    assert {outcomes[name] for name in skipped} == {"skipped"}
    summary = json.loads(result.stdout)
    assert (summary["not_images"], summary["ignored"]) == (5, 3)
    assert summary["files_seen"] == len(lines) == summary["uploaded"] + summary["not_images"] + summary["ignored"]
    assert "Thumbs.db" not in result.stderr and ".DS_Store" not in result.stderr and ".cache" not in result.stderr
    assert "stray.png: not in a category folder" in result.stderr
    text = invoke(runner, "upload", tmp_path / "set", "--model-id",
                  json.loads(invoke(runner, "create-model", *COLOURS, "--json").stdout)["model_id"]).stdout
    assert "not images 5, ignored 3 (hidden or system), invalid 0, failed 0: 13 files" in text


def test_the_same_bytes_under_two_categories_are_named_with_both_paths(runner, fake, tmp_path):
    files = folder(tmp_path / "set", 2)
    twin = tmp_path / "set" / "Blue" / "twin.png"
    twin.write_bytes(files[0].read_bytes())  # a Red image, filed under Blue too
    report_path = tmp_path / "report.jsonl"
    result = invoke(runner, "upload", tmp_path / "set", "--json", "--report", report_path, "--model-id",
                    new_model(runner))
    named = [line for line in result.stderr.splitlines() if "the same image in two categories" in line]
    assert len(named) == 1 and f"{twin} (Blue)" in named[0] and f"{files[0]} (Red)" in named[0]
    [conflict] = json.loads(result.stdout)["conflicts"]
    assert {(conflict["file"], conflict["category"]), (conflict["same_as"], conflict["same_as_category"])} == {
        (str(twin), "Blue"), (str(files[0]), "Red")}
    reasons = {line["file"]: line["reason"] for line in map(json.loads, report_path.read_text().splitlines())}
    assert reasons[str(twin)] == f"the same bytes as {files[0]}, in category 'Red'"  # --report says it too
    assert reasons[str(files[0])] == f"the same bytes as {twin}, in category 'Blue'"


def test_a_folder_that_is_no_category_is_one_line_not_one_per_file(runner, fake, tmp_path):
    folder(tmp_path / "set", 2)
    colour_folder(tmp_path / "set", {"Green": (30, 200, 40)}, {"Green": 30})
    result = invoke(runner, "upload", tmp_path / "set", "--dry-run", "--model-id", new_model(runner), code=1)
    lines = [line for line in result.stderr.splitlines() if "Green" in line]
    assert lines == [f"not sent: the 30 images in folder 'Green': it is not a category of model "
                     f"{result.stdout.split('model ')[1].split(';')[0]}"]


def test_predict_lines_are_not_all_padded_to_the_longest_path(runner, fake, tmp_path):
    folder(tmp_path / "train", 3)
    model_id = new_model(runner)
    invoke(runner, "upload", tmp_path / "train", "--model-id", model_id)
    invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    short = folder(tmp_path / "t", 1, start=40)[0]
    deep = tmp_path.joinpath(*["a-rather-long-folder-name"] * 8, "x.png")
    deep.parent.mkdir(parents=True)
    deep.write_bytes(short.read_bytes())
    result = invoke(runner, "predict", short, deep, "--model-id", model_id)
    by_file = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert len(by_file[str(short)]) < 100 < len(str(deep))


def test_predict_on_an_untrained_model_says_the_command_to_run(runner, fake, tmp_path):
    files = folder(tmp_path / "set", 1)
    result = invoke(runner, "predict", files[0], "--model-id", new_model(runner), code=1)
    assert "not trained yet: run `nanoclient train --wait` first" in result.stderr


def test_upload_and_predict_take_the_same_files_of_a_folder_and_name_the_same_skipped(runner, fake, tmp_path):
    folder(tmp_path / "set", 3)
    red = tmp_path / "set" / "Red"
    (red / "IMG_0001").write_bytes(make_image((210, 20, 20), fmt="JPEG"))  # no suffix
    (red / "photo.jfif").write_bytes(make_image((215, 25, 25), fmt="JPEG", seed=2))
    (red / "pic.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8))
    (red / "gone.png").symlink_to(tmp_path / "deleted.png")
    (red / "loop.png").symlink_to(red / "loop.png")
    (red / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(12))
    (red / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    model_id = new_model(runner)
    upload = invoke(runner, "upload", tmp_path / "set", "--json", "--model-id", model_id)
    uploaded = {entry["file"] for entry in json.loads(upload.stdout)["files"] if entry["outcome"] == "uploaded"}
    invoke(runner, "train", "--wait", "--poll-interval", "0.05", "--model-id", model_id)
    predict = invoke(runner, "predict", tmp_path / "set", "--json", "--model-id", model_id)
    assert {json.loads(line)["file"] for line in predict.stdout.splitlines()} == uploaded
    assert {str(red / "IMG_0001"), str(red / "photo.jfif")} <= uploaded
    for result in (upload, predict):
        named = sorted(line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("skipped "))
        assert named == [f"skipped {red / name}" for name in ("gone.png", "loop.png", "pic.webp")]
        assert "Thumbs.db" not in result.stderr and ".DS_Store" not in result.stderr
    assert f"predicted {len(uploaded)} files, 3 skipped" in predict.stderr
