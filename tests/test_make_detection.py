"""scripts/make_detection.py: the project's own detection set, reproducible from a seed, boxes where the objects are."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from helpers import load_script
from PIL import Image

from nanoclient.annotations import read_annotations

ROOT = Path(__file__).resolve().parent.parent
make_detection = load_script(ROOT / "scripts" / "make_detection.py")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_other_seed_differs_and_scenes_ignore_the_counts(tmp_path):
    make_detection.make_detection(tmp_path / "a", seed=11, train=6, test=2)
    make_detection.make_detection(tmp_path / "b", seed=11, train=6, test=2)
    make_detection.make_detection(tmp_path / "c", seed=12, train=6, test=2)
    make_detection.make_detection(tmp_path / "few", seed=11, train=2, test=1)
    a, b, c, few = (_files(tmp_path / name) for name in ("a", "b", "c", "few"))
    assert len(a) == 2 * 8 and a == b
    assert a.keys() == c.keys()
    assert all(a[name] != c[name] for name in a if name.endswith(".jpg"))
    assert all(a[name] == data for name, data in few.items())


def test_layout_sizes_and_annotations_read_back_as_voc(tmp_path):
    written = make_detection.make_detection(tmp_path, seed=3, train=8, test=2)
    images = [p for p in written if p.suffix == ".jpg"]
    assert len(images) == 10 and (tmp_path / "test" / "scene_001.xml").is_file()
    for path in images:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert 160 <= image.width <= 320 and image.height == image.width * 3 // 4
            size = image.size
        (annotation,) = read_annotations(path.with_suffix(".xml"))
        assert annotation.filename == path.name
        for box in annotation.boxes:
            assert box.field in make_detection.CLASSES
            assert 0 <= box.xmin < box.xmax <= size[0] and 0 <= box.ymin < box.ymax <= size[1]


def test_each_box_is_exactly_where_its_object_is_drawn():
    """Drawn with and without its objects, a scene differs inside the boxes only, and up to each box's edges."""
    checked = Counter()
    for index in range(40):
        scene = make_detection.plan_scene(make_detection.scene_rng(5, "train", index))
        with_objects = np.asarray(make_detection.render(scene), dtype=int)
        without = np.asarray(make_detection.render(scene, objects=False), dtype=int)
        changed = np.abs(with_objects - without).max(axis=2) > 12
        inside = np.zeros_like(changed)
        for thing in scene.things:
            xmin, ymin, xmax, ymax = thing.box
            inside[max(0, ymin - 1):ymax + 1, max(0, xmin - 1):xmax + 1] = True
            ys, xs = np.nonzero(changed[ymin:ymax, xmin:xmax])
            assert xs.min() <= 1 and ys.min() <= 1, (index, thing)
            assert xs.max() >= xmax - xmin - 2 and ys.max() >= ymax - ymin - 2, (index, thing)
            checked[thing.label] += 1
        assert not (changed & ~inside).any(), index
        boxes = [t.box for t in scene.things]
        for i, a in enumerate(boxes):  # objects never overlap: no box hides part of another
            assert all(not make_detection._overlaps(a, b, 0) for b in boxes[i + 1:])
    assert set(checked) == set(make_detection.CLASSES)


def test_the_committed_set_is_the_default_seed_and_has_over_50_boxes_per_class_in_train():
    folder = ROOT / "images" / "detection"
    counts: Counter[str] = Counter()
    for xml in sorted((folder / "train").glob("*.xml")):
        counts.update(box.field for box in read_annotations(xml)[0].boxes)
    assert len(list((folder / "train").glob("*.jpg"))) == make_detection.DEFAULT_TRAIN
    assert len(list((folder / "test").glob("*.jpg"))) == make_detection.DEFAULT_TEST
    assert set(counts) == set(make_detection.CLASSES) and min(counts.values()) > 50, counts
    for split in ("train", "test"):  # the annotations are the generator's (the JPEG bytes depend on libjpeg)
        for index in (0, 1, 7, 19):
            scene = make_detection.plan_scene(make_detection.scene_rng(make_detection.DEFAULT_SEED, split, index))
            name = f"scene_{index:03d}.jpg"
            assert (folder / split / name).with_suffix(".xml").read_text() == make_detection.voc_xml(name, scene)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 3_000_000
