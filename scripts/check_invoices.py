#!/usr/bin/env python3
"""Check that Tesseract reads the annotated fields of images/invoices/ (made by make_invoices.py).

    python scripts/check_invoices.py [DIR] [--pages N]

Crops every annotated box with a 4 px margin, reads it with `tesseract crop.png stdout --psm 7
-l eng` and counts the values read exactly (after stripping); then times whole-page reading
(`--psm 11 tsv`) on N pages. Needs `tesseract` on PATH.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

CROP_MARGIN = 4


def read_box(image_path: Path, box: dict[str, int], scratch: Path) -> str:
    with Image.open(image_path) as image:
        crop = image.crop((box["xmin"] - CROP_MARGIN, box["ymin"] - CROP_MARGIN,
                           box["xmax"] + CROP_MARGIN, box["ymax"] + CROP_MARGIN))
    path = scratch / f"{image_path.stem}_{box['xmin']}_{box['ymin']}.png"
    crop.save(path)
    result = subprocess.run(["tesseract", str(path), "stdout", "--psm", "7", "-l", "eng"],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("images/invoices"))
    parser.add_argument("--pages", type=int, default=10, help="pages to time whole-page reading on")
    args = parser.parse_args(argv)
    jobs = []
    for annotation_path in sorted(args.folder.glob("*/*.json")):
        annotation = json.loads(annotation_path.read_text(encoding="utf-8"))
        image_path = annotation_path.with_name(annotation["filename"])
        jobs += [(image_path, obj["name"], obj["ocr_text"], obj["bndbox"]) for obj in annotation["object"]]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        read = list(pool.map(lambda job: read_box(job[0], job[3], Path(scratch)), jobs))
    exact = 0
    for (image_path, name, text, _), got in zip(jobs, read, strict=True):
        if got == text.strip():
            exact += 1
        else:
            print(f"{image_path.name} {name}: {text!r} read as {got!r}")
    print(f"exact: {exact}/{len(jobs)} ({100 * exact / max(1, len(jobs)):.1f}%)")
    pages = sorted(p for p in args.folder.glob("*/invoice_*.*") if p.suffix != ".json")[: args.pages]
    start = time.perf_counter()
    for page in pages:
        subprocess.run(["tesseract", str(page), "stdout", "--psm", "11", "tsv"], capture_output=True, check=True)
    if pages:
        print(f"whole page (--psm 11 tsv): {(time.perf_counter() - start) / len(pages):.2f} s per page")
    return 0


if __name__ == "__main__":
    sys.exit(main())
