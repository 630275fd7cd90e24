"""The HTML report: self-contained, escaped, one heat-map cell per label pair, one item per mistake."""
from __future__ import annotations

import base64
import io
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from nanoclient.image_categorization.evaluate import evaluate_labels
from nanoclient.image_categorization.report import EMBED_LIMIT, THUMB_SIZE, render_report, thumbnail, write_report

EVIL = '<script>alert("x")</script>'


def _noisy(path: Path, size, mode="RGB", fmt="PNG") -> Path:
    """An image of random pixels (incompressible, so its file is large for its size)."""
    rng = random.Random(1)
    channels = len(mode)
    data = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * channels))
    Image.frombytes(mode, size, data).save(path, format=fmt)
    return path


def _result(tmp_path: Path):
    """A small result whose labels and file names need escaping; one mistake has no readable file."""
    small = tmp_path / 'a&b "small".png'
    Image.new("RGB", (24, 24), (200, 30, 30)).save(small)
    big = _noisy(tmp_path / "big<1>.png", (300, 200))
    missing = tmp_path / "gone.png"
    good = tmp_path / "good.png"
    Image.new("RGB", (24, 24), (0, 0, 0)).save(good)
    true = ["Bag", EVIL, "Bag", "Coat & Hat"]
    pred = [EVIL, "Bag", "Bag", "Bag"]
    files = [str(small), str(big), str(good), str(missing)]
    scores = [
        [(EVIL, 0.6), ("Bag", 0.3), ("Coat & Hat", 0.1)],
        [("Bag", 0.7), (EVIL, 0.2), ("Coat & Hat", 0.1)],
        [("Bag", 0.9), (EVIL, 0.05), ("Coat & Hat", 0.05)],
        [("Bag", 0.5), ("Coat & Hat", 0.4), (EVIL, 0.1)],
    ]
    result = evaluate_labels(true, pred, files=files, probabilities=[s[0][1] for s in scores], scores=scores)
    result.model_id = "model<&>"
    return result


def test_report_is_self_contained_and_escaped(tmp_path):
    result = _result(tmp_path)
    html = render_report(result, title="Check <this>")

    assert '<meta name="viewport"' in html
    # Nothing loaded from the network: no http(s) URLs in src/href/url()/@import.
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", html, re.I)
    assert "@import" not in html
    assert "<link" not in html and "<script src" not in html
    assert "data:image/png;base64," in html
    # Every label, file name, title and model id is escaped.
    assert EVIL not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "Coat &amp; Hat" in html and "Coat & Hat" not in html
    assert "big&lt;1&gt;.png" in html and "big<1>" not in html
    assert "Check &lt;this&gt;" in html and "model&lt;&amp;&gt;" in html
    assert html.count("<script>") == 1  # only the report's own inline script


def test_heatmap_has_one_cell_per_label_pair_and_gallery_one_item_per_mistake(tmp_path):
    result = _result(tmp_path)
    html = render_report(result)
    labels = result.labels
    cells = re.findall(r'<td class="cell[^"]*" data-true="([^"]*)" data-predicted="([^"]*)" data-count="(\d+)"', html)
    assert len(cells) == len(labels) ** 2 == 9
    import html as html_lib

    got = {(html_lib.unescape(t), html_lib.unescape(p)): int(n) for t, p, n in cells}
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            assert got[(t, p)] == result.matrix[i][j]
    # Right cells are green, wrong ones red, empty ones uncoloured.
    assert re.search(r'class="cell diag[^"]*" data-true="Bag" data-predicted="Bag" data-count="1" '
                     r'style="background-color: rgba\(22, 163, 74', html)
    assert re.search(r'class="cell off[^"]*" data-true="Coat &amp; Hat" data-predicted="Bag" data-count="1" '
                     r'style="background-color: rgba\(220, 38, 38', html)

    items = re.findall(r'<figure class="mistake" data-true="([^"]*)" data-predicted="([^"]*)"', html)
    assert len(items) == len(result.mistakes) == 3
    assert sorted(html_lib.unescape(t) + ">" + html_lib.unescape(p) for t, p in items) == sorted(
        m.label + ">" + m.predicted for m in result.mistakes
    )
    assert html.count('class="thumb') == 2 and "image not readable" in html  # gone.png has a placeholder
    assert "60.0%" in html and "30.0%" in html  # top scores are shown


def test_small_image_is_embedded_byte_for_byte(tmp_path):
    path = tmp_path / "s.png"
    Image.new("RGB", (10, 7), (1, 2, 3)).save(path)
    uri, width, height = thumbnail(path)
    assert (width, height) == (10, 7)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == path.read_bytes()

    jpeg = tmp_path / "s.jpg"
    Image.new("RGB", (10, 7), (1, 2, 3)).save(jpeg, quality=90)
    uri, _, _ = thumbnail(jpeg)
    assert uri.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == jpeg.read_bytes()


@pytest.mark.parametrize("mode, mime", [("RGB", "image/jpeg"), ("RGBA", "image/png")])
def test_large_image_becomes_a_capped_thumbnail(tmp_path, mode, mime):
    path = _noisy(tmp_path / "big.png", (640, 400), mode=mode)
    assert path.stat().st_size > EMBED_LIMIT
    uri, width, height = thumbnail(path)
    assert (width, height) == (640, 400)
    assert uri.startswith(f"data:{mime};base64,")
    with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as thumb:
        assert max(thumb.size) == THUMB_SIZE
        assert thumb.size[0] > thumb.size[1]  # aspect ratio kept
        assert ("A" in thumb.mode) == (mode == "RGBA")


def test_unreadable_files_have_no_thumbnail(tmp_path):
    assert thumbnail(tmp_path / "missing.png") is None
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nthis is not really a png")
    assert thumbnail(broken) is None


def test_write_report_and_no_mistakes(tmp_path):
    result = evaluate_labels(["a", "b"], ["a", "b"], files=["x.png", "y.png"])
    out = write_report(result, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "No mistakes" in html and 'class="mistake"' not in html
    assert "100.0%" in html
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind


def test_no_label_is_called_hardest_when_every_label_scores_alike(tmp_path):
    perfect = render_report(evaluate_labels(["a", "b", "a"], ["a", "b", "a"], files=["1", "2", "3"]))
    assert "Hardest label" not in perfect
    mixed = render_report(evaluate_labels(["a", "a", "a", "b"], ["a", "a", "b", "b"], files=["1", "2", "3", "4"]))
    assert "Hardest label" in mixed
