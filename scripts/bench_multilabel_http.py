#!/usr/bin/env python3
"""Bench multi-label classification end to end: ``nanoclient serve`` started here, driven by the SDK
(``client.multilabel``) on a labelled folder pair (``train/``, ``test/``, a .txt of labels beside each image).

    python scripts/bench_multilabel_http.py                     # images/multilabel
    python scripts/bench_multilabel_http.py --data /tmp/ml --json

It measures, in one run: the upload of every training image (images/s; then the same upload again,
which sends nothing: the model lists them), training (wall time, from Train to state 5, and the slowest
``get_model`` answered meanwhile), prediction of the test images (images/s, batches of 20 in 4 requests
at once, after one warm-up request that loads the model) and of one image (the round trip, median of 7),
and the evaluation of those predictions (micro and macro F1, Hamming loss, subset accuracy).
Prints a markdown table, or JSON with --json.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nanoclient import Client, MultilabelPrediction  # noqa: E402
from nanoclient.multilabel.evaluate import evaluate_predictions  # noqa: E402
from nanoclient.multilabel.labels import read_labels  # noqa: E402

API_KEY = "bench-multilabel"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@contextmanager
def local_server(data_dir: Path) -> Iterator[str]:
    """Start ``nanoclient serve`` on a free loopback port; yield its base URL; stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "nanoclient", "serve", "--port", "0", "--data-dir", str(data_dir),
                             "--min-images", "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"server did not start (printed {url!r})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def labelled(folder: Path) -> dict[Path, tuple[str, ...]]:
    return read_labels(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))


def run(data: Path, *, timeout: float = 3600) -> dict[str, Any]:
    """Every figure of one run on ``data`` (train/ and test/)."""
    train, test = labelled(data / "train"), labelled(data / "test")
    names = sorted({label for labels in train.values() for label in labels})
    with tempfile.TemporaryDirectory(prefix="nanoclient-bench-multilabel-") as temp, \
            local_server(Path(temp)) as url, Client(API_KEY, url, timeout=600) as client:
        resource = client.multilabel
        model = resource.create_model(names)
        started = time.perf_counter()
        report = resource.upload(model.id, list(train.items()))
        upload_s = time.perf_counter() - started
        assert report.ok and len(report.uploaded) == len(train), report.to_json()
        started = time.perf_counter()
        again = resource.upload(model.id, list(train.items()))
        again_s = time.perf_counter() - started
        assert len(again.already) == len(train)
        started = time.perf_counter()
        resource.train(model.id)
        polls: list[float] = []
        while True:  # polled by hand, to time each request answered while the server trains
            asked = time.perf_counter()
            trained = resource.get_model(model.id)
            polls.append(time.perf_counter() - asked)
            if trained.state in (5, -1) or time.perf_counter() - started > timeout:
                break
            time.sleep(0.5)
        train_s = time.perf_counter() - started
        if trained.state != 5:
            raise RuntimeError(f"training did not end well: {trained.state} {trained.status}")
        paths = list(test)
        resource.predict_file(model.id, paths[0])  # loads the model on the server
        started = time.perf_counter()
        outcomes = list(resource.predict_files(model.id, paths))
        predict_s = time.perf_counter() - started
        predictions = [o for _, o in outcomes if isinstance(o, MultilabelPrediction)]
        rounds = []
        for path in paths[:7]:
            one = time.perf_counter()
            resource.predict_file(model.id, path)
            rounds.append(time.perf_counter() - one)
        started = time.perf_counter()
        result = evaluate_predictions({str(p): labels for p, labels in test.items()}, predictions, labels=names)
        evaluate_s = time.perf_counter() - started
    return {
        "data": str(data), "train_images": len(train), "test_images": len(test), "labels": names,
        "upload_s": upload_s, "upload_images_per_s": len(train) / upload_s, "upload_again_s": again_s,
        "train_s": train_s, "model_status": trained.status, "slowest_get_model_while_training_ms": 1000 * max(polls),
        "predict_s": predict_s, "predict_images_per_s": len(paths) / predict_s,
        "predicted": len(predictions), "predict_one_ms": 1000 * statistics.median(rounds), "evaluate_s": evaluate_s,
        "micro_f1": result.micro.f1, "macro_f1": result.macro.f1, "hamming_loss": result.hamming_loss,
        "subset_accuracy": result.subset_accuracy,
        "per_label_f1": {label: scores.f1 for label, scores in result.per_label.items()},
    }


def table(figures: dict[str, Any]) -> str:
    rows = [
        ("upload", f"{figures['train_images']} images in {figures['upload_s']:.2f} s "
                   f"({figures['upload_images_per_s']:.0f} images/s); again: {figures['upload_again_s']:.2f} s, "
                   "nothing sent"),
        ("train", f"{figures['train_s']:.1f} s to state 5; the slowest get_model meanwhile "
                  f"{figures['slowest_get_model_while_training_ms']:.0f} ms"),
        ("predict", f"{figures['test_images']} images in {figures['predict_s']:.2f} s "
                    f"({figures['predict_images_per_s']:.1f} images/s); one image, round trip: "
                    f"{figures['predict_one_ms']:.0f} ms (median of 7)"),
        ("evaluate", f"micro F1 {figures['micro_f1']:.3f}, macro F1 {figures['macro_f1']:.3f}, Hamming loss "
                     f"{figures['hamming_loss']:.3f}, subset accuracy {figures['subset_accuracy']:.3f} "
                     f"(scored in {figures['evaluate_s'] * 1000:.0f} ms)"),
    ]
    return "\n".join(["| step | measured |", "|---|---|", *(f"| {step} | {text} |" for step, text in rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=ROOT / "images" / "multilabel",
                        help="A folder with train/ and test/ (default: images/multilabel).")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args(argv)
    figures = run(args.data)
    print(json.dumps(figures, indent=2) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
