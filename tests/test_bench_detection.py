"""scripts/bench_detection.py, lightly: its help, its data loading and its table (the learner runs in
tests/test_detection_learner.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import load_script

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_detection.py"
bench = load_script(SCRIPT)
make_detection = load_script(ROOT / "scripts" / "make_detection.py")


def test_help_runs_and_a_missing_folder_is_one_line_and_exit_2(tmp_path):
    shown = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
    assert "--report" in shown.stdout and "--no-calibrate" in shown.stdout
    missing = subprocess.run([sys.executable, str(SCRIPT), "--data", str(tmp_path)], capture_output=True, text=True)
    assert missing.returncode == 2 and "make it with scripts/make_detection.py" in missing.stderr


def test_load_split_pairs_images_with_their_voc_boxes(tmp_path):
    make_detection.make_detection(tmp_path, seed=4, train=5, test=1)
    (tmp_path / "train" / "scene_004.xml").unlink()  # an image without annotation has no objects
    loaded = bench.load_split(tmp_path / "train", limit=5)
    assert [p.name for p, _ in loaded] == [f"scene_{i:03d}.jpg" for i in range(5)]
    scene = make_detection.plan_scene(make_detection.scene_rng(4, "train", 0))
    assert loaded[0][1] == [(t.label, *t.box) for t in scene.things]
    assert loaded[4][1] == []
    assert len(bench.load_split(tmp_path / "train", limit=2)) == 2


def test_table_is_markdown_with_every_figure():
    figures = {"train_images": 10, "test_images": 4, "train_boxes": 23, "train_seconds": 3.25, "predict_ms": 8.0,
               "calibrated": False,
               "evaluation": {"map50": 0.9, "coco_map": 0.55, "count_error": 0.25, "threshold": 0.5, "images": 4,
                              "images_correct": 3,
                              "classes": [{"label": "car", "ap50": 1.0}, {"label": "clock", "ap50": None}]}}
    lines = bench.table(figures).splitlines()
    assert lines[0].startswith("| measure") and set(lines[1]) <= {"|", "-"}
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    text = "\n".join(lines)
    for expected in ("10 / 23", "3.2", "not calibrated", "AP@0.5 car", "| 1.000 |", "AP@0.5 clock", "| - |",
                     "mAP@0.5", "0.900", "0.550", "score >= 0.5", "0.250", "3 of 4"):
        assert expected in text, expected
