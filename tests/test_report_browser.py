"""The report opened in headless Chromium: the DOM after scripts ran, and phone/desktop screenshots."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from nanoclient.image_categorization.evaluate import evaluate_labels
from nanoclient.image_categorization.report import write_report

CHROMIUM_TIMEOUT = 90  # seconds per call; a hung browser fails the test instead of blocking the suite


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium not installed: apt-get install chromium")
    return found


def _run_chromium(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        return subprocess.run(command, capture_output=True, timeout=CHROMIUM_TIMEOUT, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT}s: {' '.join(args)}")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"chromium failed ({exc.returncode}): {exc.stderr.decode(errors='replace')[-2000:]}")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report of 4 labels (one with characters to escape) and 7 mistakes, with real images."""
    folder = tmp_path_factory.mktemp("report")
    labels = ["Circle", "Square", "Star & <Co>", "Triangle"]
    true, pred, files, scores = [], [], [], []
    for i in range(24):
        t = labels[i % 4]
        p = t if i % 3 else labels[(i + 1) % 4]
        if i == 0:
            p = "Oval"  # a predicted label that is never true
        path = folder / f"img_{i:02d}.png"
        image = Image.new("RGB", (64, 64), (40 + 8 * i, 90, 200 - 6 * i))
        ImageDraw.Draw(image).ellipse([12, 12, 52, 52], fill=(250, 240, 200))
        image.save(path)
        others = [label for label in labels + ["Oval"] if label != p]
        true.append(t)
        pred.append(p)
        files.append(str(path))
        scores.append([(p, 0.7), (others[0], 0.2), (others[1], 0.1)])
    result = evaluate_labels(true, pred, files=files, probabilities=[0.7] * len(true), scores=scores)
    result.model_id = "browser-test"
    path = write_report(result, folder / "report.html")
    return path, result


def _dump_dom(tmp_path: Path, url: str) -> str:
    return _run_chromium(tmp_path, ["--dump-dom", url]).stdout.decode("utf-8")


def test_dom_has_one_cell_per_label_pair_and_one_item_per_mistake(report, tmp_path):
    path, result = report
    dom = _dump_dom(tmp_path, path.as_uri())
    assert len(result.mistakes) == 8 and len(result.labels) == 5
    cells = re.findall(r'<td class="cell[^"]*" data-true="[^"]*" data-predicted="[^"]*"', dom)
    assert len(cells) == len(result.labels) ** 2
    items = re.findall(r'<figure class="mistake"[^>]*>', dom)
    assert len(items) == len(result.mistakes)
    assert not any("hidden" in item for item in items)  # the whole gallery shows by default
    assert len(re.findall(r'<img class="thumb[^"]*" src="data:image/png;base64,', dom)) == len(result.mistakes)
    assert "Star &amp; &lt;Co&gt;" in dom and "<Co>" not in dom


def test_linking_to_a_pair_shows_only_its_mistakes(report, tmp_path):
    path, result = report
    pair = [m for m in result.mistakes if m.label == "Circle" and m.predicted == "Square"]
    assert pair
    dom = _dump_dom(tmp_path, path.as_uri() + "#true=Circle&predicted=Square")
    items = re.findall(r'<figure class="mistake" data-true="([^"]*)" data-predicted="([^"]*)"( hidden="")?>', dom)
    shown = [(t, p) for t, p, hidden in items if not hidden]
    assert shown == [("Circle", "Square")] * len(pair)
    assert len(items) - len(shown) == len(result.mistakes) - len(pair)
    assert re.search(r'class="cell off selected[^"]*" data-true="Circle" data-predicted="Square"', dom)
    assert f"{len(pair)} image" in dom


@pytest.mark.parametrize("name, width, height", [("phone", 390, 844), ("desktop", 1280, 900)])
def test_screenshots_render(report, tmp_path, name, width, height):
    path, _ = report
    png = tmp_path / f"{name}.png"
    _run_chromium(tmp_path, [f"--screenshot={png}", f"--window-size={width},{height}", path.as_uri()])
    assert png.exists() and png.stat().st_size > 10_000
    with Image.open(png) as shot:
        assert shot.size == (width, height)
        colours = shot.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200  # text, heat map and photos, not a blank page
    counts = sorted((c for c, _ in colours), reverse=True)
    assert counts[0] < 0.9 * width * height  # no single colour covers the page
