#!/usr/bin/env python3
"""Bench the multi-label learner alone (no server): train on a labelled folder, predict its test images,
score them, and score the floor it must beat, a one-vs-rest logistic regression on raw pixels.

    python scripts/bench_multilabel.py                       # images/multilabel/train and test
    python scripts/bench_multilabel.py --data /tmp/ml --json

Each folder holds images with a .txt of labels beside each (scripts/make_multilabel.py makes them).
Prints a markdown table: train time, predict ms per image, micro and macro F1, Hamming loss, subset
accuracy and each label's F1, for the learner and for the raw-pixel floor.
Like ``nanoclient serve``, it has NumPy's BLAS use one thread per computation unless OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS or MKL_NUM_THREADS is set.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nanoclient.multilabel.evaluate import MultilabelEvaluation, evaluate_multilabel  # noqa: E402
from nanoclient.multilabel.labels import read_labels  # noqa: E402

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def labelled(folder: Path) -> dict[Path, tuple[str, ...]]:
    """The images of ``folder`` (sorted) with the labels of the .txt beside each."""
    return read_labels(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))


def raw_pixel_floor(train: dict[Path, tuple[str, ...]], test: dict[Path, tuple[str, ...]],
                    names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """What a one-vs-rest logistic regression on the standardised raw pixels (the image classifier's
    28x28 RGB) gives each test image, at probability 0.5."""
    from sklearn.linear_model import LogisticRegression

    from nanoclient.server.image_categorization.trainer import load_pixels

    x = load_pixels([str(p) for p in train]).reshape(len(train), -1)
    x_test = load_pixels([str(p) for p in test]).reshape(len(test), -1)
    centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    given = np.zeros((len(test), len(names)), dtype=bool)
    for j, name in enumerate(names):
        y = np.array([name in labels for labels in train.values()])
        model = LogisticRegression(C=1.0, max_iter=2000).fit((x - centre) / scale, y)
        given[:, j] = model.predict_proba((x_test - centre) / scale)[:, 1] >= 0.5
    return {str(path): tuple(n for n, on in zip(names, row, strict=True) if on) for path, row in zip(test, given,
                                                                                                  strict=True)}


def run(data: Path) -> dict[str, Any]:
    """Train, predict and score; the figures as a dict (``table`` prints them)."""
    from nanoclient.server.multilabel.learner import train_multilabel

    train, test = labelled(data / "train"), labelled(data / "test")
    names = sorted({label for labels in train.values() for label in labels})
    started = time.perf_counter()
    model = train_multilabel([p.read_bytes() for p in train], list(train.values()), names)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    answers = model.predict([p.read_bytes() for p in test])
    predict_ms = 1000 * (time.perf_counter() - started) / max(len(test), 1)
    truth = {str(p): labels for p, labels in test.items()}
    learner = evaluate_multilabel(truth, {str(p): given for p, (_, given) in zip(test, answers, strict=True)},
                                  labels=names)
    floor = evaluate_multilabel(truth, raw_pixel_floor(train, test, names), labels=names)
    return {"train_images": len(train), "test_images": len(test), "train_seconds": train_seconds,
            "predict_ms_per_image": predict_ms, "thresholds": dict(zip(names, model.thresholds.tolist(), strict=True)),
            "learner": learner.to_json(), "raw_pixel_floor": floor.to_json(),
            "_results": (learner, floor)}


def table(figures: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    learner, floor = figures["_results"]

    def row(name: str, result: MultilabelEvaluation, seconds: str, ms: str) -> str:
        per_label = " ".join(f"{label} {s.f1:.2f}" for label, s in result.per_label.items())
        return (f"| {name} | {seconds} | {ms} | {result.micro.f1:.3f} | {result.macro.f1:.3f} | "
                f"{result.hamming_loss:.3f} | {result.subset_accuracy:.3f} | {per_label} |")

    return "\n".join([
        f"{figures['train_images']} training images, {figures['test_images']} test images",
        "",
        "| model | train s | predict ms/image | micro F1 | macro F1 | Hamming loss | subset accuracy | F1 per label |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        row("learner (pieces, MI logistic, thresholds)", learner, f"{figures['train_seconds']:.1f}",
            f"{figures['predict_ms_per_image']:.1f}"),
        row("floor: raw pixels, one-vs-rest logistic", floor, "", ""),
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "images" / "multilabel",
                        help="folder with train/ and test/ (default: images/multilabel)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of the table")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits

    from nanoclient.server.serve import THREAD_VARIABLES

    # one BLAS thread per computation, as nanoclient serve trains and predicts (unless the user chose): on
    # a busy 2-core machine two threads per computation made the learner's training 2 to 6 times slower
    with threadpool_limits(limits=None if any(name in os.environ for name in THREAD_VARIABLES) else 1):
        figures = run(args.data)
    if args.json:
        print(json.dumps({k: v for k, v in figures.items() if not k.startswith("_")}, indent=2))
    else:
        print(table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
