#!/usr/bin/env python3
"""Benchmark object detection end to end: a fresh ``nanoclient serve`` driven through the SDK on images/detection.

    python scripts/bench_detection_http.py               # upload train/, train, predict and evaluate test/
    python scripts/bench_detection_http.py --json --predict-rounds 3

Prints a markdown table: upload (images per second, batches of ``--batch-size`` per request), training (wall
time until state 5, and the server's held-out mAP@0.5), prediction (images per second, ``--batch-size`` images
per request, ``--workers`` requests at once; best of ``--predict-rounds`` rounds over the test images) and the
evaluation of the answers (AP@0.5 per class, mAP@0.5, COCO mAP@[.5:.95], count error at ``--threshold``). The
server runs in a subprocess on a temporary data folder, stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from nanoclient import Client  # noqa: E402
from nanoclient.object_detection.dataset import labelled_images  # noqa: E402
from nanoclient.object_detection.evaluate import COUNT_THRESHOLD, evaluate, true_boxes  # noqa: E402

URL_LINE = re.compile(r"^http://\S+/api/v2$")


def start_server(data_dir: Path, timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """``python -m nanoclient.server`` on a free port; the process and the API's URL it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "nanoclient.server", "--port", "0", "--data-dir", str(data_dir),
                             "--min-images", "5"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if URL_LINE.match(line.strip()):
            return proc, line.strip()
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("the server printed no URL")


def run(data: Path, *, batch_size: int, workers: int, rounds: int, threshold: float) -> dict[str, object]:
    """Upload data/train, train, predict and evaluate data/test through a fresh server; the figures."""
    train, skipped = labelled_images(data / "train")
    test, _ = labelled_images(data / "test")
    if skipped:
        raise ValueError(f"{len(skipped)} training files skipped, e.g. {skipped[0][0]}: {skipped[0][1]}")
    labels = sorted({box.field for _, annotation in train for box in annotation.boxes})
    with tempfile.TemporaryDirectory(prefix="bench-detection-") as folder:
        proc, url = start_server(Path(folder))
        try:
            with Client(api_key="bench", base_url=url) as client:
                detection = client.object_detection
                model = detection.create_model(labels)
                started = time.perf_counter()
                report = detection.upload(model.id, train, batch_size=batch_size, workers=workers)
                upload_seconds = time.perf_counter() - started
                if not report.ok:
                    raise ValueError(f"upload failed: {report.failed[0]}")
                started = time.perf_counter()
                detection.train(model.id)
                trained = detection.wait_until_trained(model.id, timeout=1800, poll_interval=0.5)
                train_seconds = time.perf_counter() - started
                paths = [path for path, _ in test]
                best = float("inf")
                answers: dict[str, object] = {}
                for _ in range(rounds):
                    started = time.perf_counter()
                    answers = dict(detection.predict_files(model.id, paths, batch_size=batch_size, workers=workers))
                    best = min(best, time.perf_counter() - started)
                started = time.perf_counter()
                single = detection.predict_file(model.id, paths[0])
                single_ms = (time.perf_counter() - started) * 1000
        finally:
            proc.terminate()
            proc.wait(30)
    failed = [path for path, outcome in answers.items() if isinstance(outcome, Exception)]
    if failed:
        raise ValueError(f"{len(failed)} predictions failed, e.g. {failed[0]}: {answers[failed[0]]}")
    result = evaluate([(str(path), true_boxes(annotation), answers[str(path)].objects)  # type: ignore[union-attr]
                       for path, annotation in test], labels, threshold=threshold)
    return {"train_images": len(train), "train_boxes": sum(len(a.boxes) for _, a in train), "test_images": len(test),
            "batch_size": batch_size, "workers": workers,
            "upload_seconds": round(upload_seconds, 2), "upload_images_per_s": round(len(train) / upload_seconds, 1),
            "train_seconds": round(train_seconds, 1), "server_map50": trained.accuracy,
            "server_map50_images": trained.accuracy_images,
            "predict_seconds": round(best, 3), "predict_images_per_s": round(len(test) / best, 1),
            "single_image_ms": round(single_ms, 1), "single_objects": len(single.objects),
            "evaluation": result.to_json() | {"per_image": None}}


def table(figures: dict[str, object]) -> str:
    """The figures as a markdown table."""
    evaluation = figures["evaluation"]
    assert isinstance(evaluation, dict)

    def shown(value: object) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [("train images / boxes", f"{figures['train_images']} / {figures['train_boxes']}"),
            (f"upload (images/s, {figures['batch_size']} per request, {figures['workers']} at once)",
             f"{figures['upload_images_per_s']} ({figures['upload_seconds']} s)"),
            ("training, Train to state 5 (s)", f"{figures['train_seconds']}"),
            ("the server's held-out mAP@0.5", f"{shown(figures['server_map50'])} on {figures['server_map50_images']} "
                                              "images"),
            (f"predict (images/s, {figures['test_images']} images)",
             f"{figures['predict_images_per_s']} ({figures['predict_seconds']} s)"),
            ("predict one image, round trip (ms)", f"{figures['single_image_ms']}")]
    rows += [(f"AP@0.5 {c['label']}", shown(c["ap50"])) for c in evaluation["classes"]]
    rows += [("mAP@0.5", shown(evaluation["map50"])), ("COCO mAP@[.5:.95]", shown(evaluation["coco_map"])),
             (f"count error per image (score >= {evaluation['threshold']:g})", shown(evaluation["count_error"])),
             ("test images without error", f"{evaluation['images_correct']} of {evaluation['images']}")]
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'measure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "images" / "detection",
                        help="folder with train/ and test/ (default: the repository's images/detection)")
    parser.add_argument("--batch-size", type=int, default=10, help="images per request (default 10)")
    parser.add_argument("--workers", type=int, default=4, help="requests at once (default 4)")
    parser.add_argument("--predict-rounds", type=int, default=2, help="prediction rounds; the best counts")
    parser.add_argument("--threshold", type=float, default=COUNT_THRESHOLD,
                        help=f"score threshold of the count error (default {COUNT_THRESHOLD})")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        if not (args.data / split).is_dir():
            parser.error(f"{args.data / split} is not a folder: make it with scripts/make_detection.py")
    try:
        figures = run(args.data, batch_size=args.batch_size, workers=args.workers, rounds=max(1, args.predict_rounds),
                      threshold=args.threshold)
    except ValueError as exc:
        parser.exit(1, f"bench_detection_http: {exc}\n")
    print(json.dumps(figures, indent=1) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
