#!/usr/bin/env python3
"""Benchmark object detection's learner alone (no server, no HTTP) on images/detection.

    python scripts/bench_detection.py                        # train on train/, score on test/
    python scripts/bench_detection.py --train 30 --test 10 --report /tmp/detection.html

Prints a markdown table: training time, prediction time per image, AP@0.5 per class, mAP@0.5,
COCO mAP@[.5:.95] and the count error per image at the score threshold (``--threshold``). The images
are the ``.jpg``/``.png`` files of each folder with a Pascal VOC ``.xml`` of the same stem beside them
(``scripts/make_detection.py`` makes them); an image without one has no objects.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from nanoclient.annotations import read_annotations  # noqa: E402
from nanoclient.object_detection.evaluate import COUNT_THRESHOLD, evaluate, true_boxes  # noqa: E402
from nanoclient.object_detection.types import DetectedObject  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_split(folder: Path, limit: int | None = None) -> list[tuple[Path, list[tuple[str, int, int, int, int]]]]:
    """The images of ``folder`` (sorted by name, at most ``limit``) with their true boxes (from the VOC file)."""
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    out = []
    for image in images:
        xml = image.with_suffix(".xml")
        boxes = true_boxes(read_annotations(xml)[0]) if xml.is_file() else []
        out.append((image, boxes))
    return out


def run(data: Path, *, train_limit: int | None, test_limit: int | None, threads: int, calibrate: bool,
        threshold: float, report: Path | None) -> dict[str, object]:
    """Train on ``data/train``, score on ``data/test``; the figures as a dict (see ``table``)."""
    from nanoclient.server.object_detection.learner import train_detector

    train = load_split(data / "train", train_limit)
    test = load_split(data / "test", test_limit)
    labels = sorted({box[0] for _, boxes in train for box in boxes})
    started = time.perf_counter()
    detector = train_detector([p.read_bytes() for p, _ in train], [boxes for _, boxes in train], labels,
                              threads=threads, calibrate=calibrate)
    train_seconds = time.perf_counter() - started
    predictions = []
    started = time.perf_counter()
    for path, _ in test:
        found = detector.detect(path.read_bytes())
        predictions.append([DetectedObject(d.label, d.xmin, d.ymin, d.xmax, d.ymax, d.score) for d in found])
    predict_ms = (time.perf_counter() - started) * 1000 / max(1, len(test))
    result = evaluate([(p.name, boxes, found) for (p, boxes), found in zip(test, predictions, strict=True)],
                      labels, threshold=threshold)
    if report is not None:
        from nanoclient.object_detection.report import write_report

        write_report(report, result, {p.name: p for p, _ in test}, model_id="local learner",
                     title=f"Object detection on {data.name}/test")
    return {"train_images": len(train), "test_images": len(test), "train_boxes": sum(len(b) for _, b in train),
            "train_seconds": round(train_seconds, 2), "predict_ms": round(predict_ms, 1),
            "calibrated": calibrate, "evaluation": result.to_json() | {"per_image": None}}


def table(figures: dict[str, object]) -> str:
    """The figures as a markdown table."""
    evaluation = figures["evaluation"]
    assert isinstance(evaluation, dict)

    def shown(value: object) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [("train images / boxes", f"{figures['train_images']} / {figures['train_boxes']}"),
            ("test images", str(figures["test_images"])),
            ("training time (s)" + ("" if figures["calibrated"] else ", not calibrated"),
             f"{figures['train_seconds']:.1f}"),
            ("prediction (ms per image)", f"{figures['predict_ms']:.1f}")]
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
    parser.add_argument("--train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--test", type=int, default=None, help="score only the first N test images")
    parser.add_argument("--threads", type=int, default=2, help="threads dlib trains with (default 2)")
    parser.add_argument("--no-calibrate", action="store_true", help="skip the score calibration (faster)")
    parser.add_argument("--threshold", type=float, default=COUNT_THRESHOLD,
                        help=f"score threshold of the count error (default {COUNT_THRESHOLD})")
    parser.add_argument("--report", type=Path, help="also write the HTML report of the test images here")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        if not (args.data / split).is_dir():
            parser.error(f"{args.data / split} is not a folder: make it with scripts/make_detection.py")
    try:
        figures = run(args.data, train_limit=args.train, test_limit=args.test, threads=args.threads,
                      calibrate=not args.no_calibrate, threshold=args.threshold, report=args.report)
    except ValueError as exc:
        parser.exit(1, f"bench_detection: {exc}\n")
    print(json.dumps(figures, indent=1) if args.json else table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
