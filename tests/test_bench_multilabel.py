"""scripts/bench_multilabel.py: its table and its raw-pixel floor (the learner itself: test_multilabel_learner)."""
from __future__ import annotations

from pathlib import Path

from helpers import load_script

from nanoclient.multilabel.evaluate import evaluate_multilabel

ROOT = Path(__file__).resolve().parent.parent
bench = load_script(ROOT / "scripts" / "bench_multilabel.py")
make_multilabel = load_script(ROOT / "scripts" / "make_multilabel.py")


def test_labelled_folders_and_the_floor_answer_every_test_image(tmp_path):
    make_multilabel.make_multilabel(tmp_path, seed=4, train=24, test=5)
    train, test = bench.labelled(tmp_path / "train"), bench.labelled(tmp_path / "test")
    assert len(train) == 24 and len(test) == 5
    assert all(path.suffix == ".png" for path in train)
    names = list(make_multilabel.LABELS)
    floor = bench.raw_pixel_floor(train, test, names)
    assert sorted(floor) == sorted(str(p) for p in test)
    assert all(set(given) <= set(names) for given in floor.values())


def test_table_lists_both_models_with_their_figures():
    learner = evaluate_multilabel({"a": ["x"], "b": ["y"]}, {"a": ["x"], "b": ["x"]}, labels=["x", "y"])
    floor = evaluate_multilabel({"a": ["x"], "b": ["y"]}, {"a": [], "b": []}, labels=["x", "y"])
    text = bench.table({"train_images": 10, "test_images": 2, "train_seconds": 1.25, "predict_ms_per_image": 3.0,
                        "_results": (learner, floor)})
    lines = text.splitlines()
    assert lines[0] == "10 training images, 2 test images"
    assert lines[4].startswith("| learner")
    assert "| 1.2 | 3.0 | 0.500 | 0.333 | 0.500 | 0.500 | x 0.67 y 0.00 |" in lines[4]
    assert lines[5].startswith("| floor: raw pixels") and "| 0.000 | 0.000 | 0.500 | 0.000 |" in lines[5]
