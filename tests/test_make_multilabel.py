"""scripts/make_multilabel.py: the project's own multi-label image set, reproducible from a seed."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from helpers import load_script
from PIL import Image

from nanoclient.multilabel.labels import read_labels

ROOT = Path(__file__).resolve().parent.parent
make_multilabel = load_script(ROOT / "scripts" / "make_multilabel.py")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_other_seed_differs_and_counts_do_not_matter(tmp_path):
    make_multilabel.make_multilabel(tmp_path / "a", seed=11, train=6, test=2)
    make_multilabel.make_multilabel(tmp_path / "b", seed=11, train=6, test=2)
    make_multilabel.make_multilabel(tmp_path / "c", seed=12, train=6, test=2)
    make_multilabel.make_multilabel(tmp_path / "more", seed=11, train=9, test=3)
    a, b, c, more = (_files(tmp_path / name) for name in ("a", "b", "c", "more"))
    assert a == b
    assert len(a) == 2 * 8
    assert all(a[name] != c[name] for name in a if name.endswith(".png"))
    assert all(more[name] == data for name, data in a.items())


def test_each_image_has_its_labels_beside_it_and_draws_one_shape_per_label(tmp_path):
    written = make_multilabel.make_multilabel(tmp_path, seed=3, train=30, test=0)
    labels = read_labels(written)
    assert set(labels) == set(written)
    for path, names in labels.items():
        assert set(names) <= set(make_multilabel.LABELS)
        assert names == tuple(sorted(names))
        with Image.open(path) as image:
            assert image.size == (96, 96)
        # the image is the drawing of exactly these labels (the generator's own random stream)
        rng = make_multilabel.image_rng(3, "train", int(path.stem.split("_")[1]))
        assert make_multilabel.choose_labels(rng) == names
        drawn = np.asarray(make_multilabel.draw_image(names, rng).convert("L"), dtype=np.float32)
        saved = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        assert np.abs(drawn - saved).mean() < 6  # the same picture, but for the palette
    sizes = Counter(len(names) for names in labels.values())
    assert sizes[1] + sizes[2] + sizes[3] > 20 and max(sizes) <= 4


def test_a_label_changes_the_picture_where_its_shape_is(tmp_path):
    rng_a, rng_b = make_multilabel.image_rng(5, "x", 0), make_multilabel.image_rng(5, "x", 0)
    with_star = np.asarray(make_multilabel.draw_image(("star",), rng_a), dtype=np.float32)
    bare = np.asarray(make_multilabel.draw_image((), rng_b), dtype=np.float32)
    assert np.abs(with_star - bare).mean() > 1.0


def test_the_repository_set_is_the_default_seeds_with_over_50_images_per_label_in_train(tmp_path):
    folder = ROOT / "images" / "multilabel"
    train = sorted((folder / "train").glob("*.png"))
    per_label = Counter(label for names in read_labels(train).values() for label in names)
    assert set(per_label) == set(make_multilabel.LABELS)
    assert min(per_label.values()) > 50  # the wrapper's state check asks for more than 50 per label
    assert len(list((folder / "test").glob("*.png"))) == make_multilabel.DEFAULT_TEST
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 2_000_000
    make_multilabel.make_multilabel(tmp_path)
    assert _files(tmp_path) == _files(folder)
