"""scripts/make_images.py: the project's own image set, reproducible from a seed."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import load_script
from PIL import Image

from nanoclient.images import check_image_file, find_labelled_images

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_images.py"


make_images = load_script(SCRIPT)


def _files(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_layout_counts_and_valid_png(tmp_path):
    written = make_images.make_images(tmp_path, seed=3, train=4, test=2)
    assert len(written) == 5 * 6
    items, skipped = find_labelled_images(tmp_path)
    assert skipped == []
    assert sorted({category for _, category in items}) == sorted(make_images.SHAPES)
    assert len(items) == 5 * 4
    test_items, _ = find_labelled_images(tmp_path, split="test")
    assert len(test_items) == 5 * 2
    for path in written:
        assert check_image_file(path) == ("PNG", 64, 64)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    make_images.make_images(tmp_path / "a", seed=11, train=3, test=1)
    make_images.make_images(tmp_path / "b", seed=11, train=3, test=1)
    make_images.make_images(tmp_path / "c", seed=12, train=3, test=1)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a)


def test_each_image_independent_of_the_counts_asked_for(tmp_path):
    make_images.make_images(tmp_path / "few", seed=5, train=2, test=1)
    make_images.make_images(tmp_path / "many", seed=5, train=6, test=3)
    few, many = _files(tmp_path / "few"), _files(tmp_path / "many")
    assert all(many[name] == data for name, data in few.items())


def test_images_of_a_category_vary(tmp_path):
    make_images.make_images(tmp_path, seed=1, train=8, test=0, categories=["Star"])
    pixels = {Image.open(p).convert("RGB").tobytes() for p in (tmp_path / "train" / "Star").iterdir()}
    assert len(pixels) == 8


def test_rerun_replaces_earlier_files(tmp_path):
    make_images.make_images(tmp_path, seed=1, train=5, test=2)
    make_images.make_images(tmp_path, seed=1, train=2, test=1, categories=["Circle", "Cross"])
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["Circle", "Cross"]
    assert len(list((tmp_path / "train" / "Circle").iterdir())) == 2


def test_unknown_category_refused(tmp_path):
    with pytest.raises(ValueError, match="Hexagon"):
        make_images.make_images(tmp_path, categories=["Hexagon"])


def test_default_set_is_small_enough_to_ship_and_matches_repository(tmp_path):
    """The command line with defaults: 5 x (40 + 10) images, far under 1 MB, the same pixels as images/."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert result.stdout == ""
    assert "wrote 250 images" in result.stderr
    made = sorted(tmp_path.rglob("*.png"))
    assert len(made) == 250
    assert sum(p.stat().st_size for p in made) < 700_000
    shipped = ROOT / "images" / "shapes"
    shipped_files = sorted(p.relative_to(shipped) for p in shipped.rglob("*.png"))
    assert shipped_files == [p.relative_to(tmp_path) for p in made]
    # Pixels rather than bytes: another zlib may compress the same pixels differently.
    for rel in shipped_files:
        with Image.open(shipped / rel) as ours, Image.open(tmp_path / rel) as theirs:
            assert ours.convert("RGB").tobytes() == theirs.convert("RGB").tobytes(), rel


def test_bad_arguments_exit_with_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--train", "-1"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "--train" in result.stderr
