#!/usr/bin/env python3
"""Train the field extractor that ships with the package (``nanoclient ocr create-model --pretrained invoices``).

    python scripts/train_pretrained.py                       # writes nanoclient/server/pretrained/invoices.npz
    python scripts/train_pretrained.py --documents 60 --out /tmp/try.npz

Generates documents with the project's own generator (scripts/make_documents.py: every layout, language,
kind and variation it makes, from a seed of its own, apart from the data sets in images/ and the bench's),
reads every page with the local server's engine (Tesseract, with its clean-up, in each document's language
and English, as a model naming its languages reads), fits ``ocr_fields.train`` on them and saves the
extractor as plain arrays (compressed; nothing is pickled). Prints the held-out exact-text accuracy that
training measured and the file's size. The same seed and generator give the same documents; the words
Tesseract reads may differ across its versions, so the weights are not byte-reproducible everywhere.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nanoclient.server.ocr import fields as ocr_fields  # noqa: E402
from nanoclient.server.ocr.engine import Page, TesseractEngine, render_pages  # noqa: E402
from nanoclient.server.ocr.fields import LabelledBox  # noqa: E402

DEFAULT_OUT = ROOT / "nanoclient" / "server" / "pretrained" / "invoices.npz"
DEFAULT_SEED = 4242


def generate(out: Path, documents: int, seed: int, extra: list[str]) -> list[tuple[Path, tuple[str, ...]]]:
    """Generate the documents into ``out``; return their annotation files, each with the languages to read
    it in."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_documents.py"), "--out", str(out), "--train",
                    str(documents), "--test", "0", "--seed", str(seed), *extra], check=True, stdout=subprocess.DEVNULL)
    found = []
    for entry in json.loads((out / "manifest.json").read_text(encoding="utf-8")):
        languages = tuple(dict.fromkeys((entry["tesseract"], "eng")))
        found.append(((out / entry["file"]).with_suffix(".json"), languages))
    return found


def read(annotation_file: Path, engine: TesseractEngine, languages: tuple[str, ...]) -> ocr_fields.Document:
    """One generated document as the extractor trains on it: each page's words with its labelled boxes."""
    entry = json.loads(annotation_file.read_text(encoding="utf-8"))
    boxes: dict[int, list[LabelledBox]] = {}
    for item in entry["object"]:
        box = item["bndbox"]
        boxes.setdefault(int(item.get("page", 0)), []).append(LabelledBox(
            item["name"], item.get("ocr_text"), box["xmin"], box["ymin"], box["xmax"], box["ymax"]))
    content = (annotation_file.parent / entry["filename"]).read_bytes()
    pages: list[Page] = [engine.read(image, languages) for image in render_pages(content)]
    return [(page, boxes.get(index, [])) for index, page in enumerate(pages)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=400, help="documents to generate and train on (400)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the generator's seed ({DEFAULT_SEED})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the extractor")
    parser.add_argument("--work", type=Path, help="keep the generated documents here (default: a temporary folder)")
    parser.add_argument("generator_args", nargs="*", help="further options for make_documents.py (after --)")
    args = parser.parse_args(argv)
    engine = TesseractEngine()
    if not engine.available():
        parser.error("Tesseract is not installed (scripts/system_deps.sh installs it)")
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        started = time.perf_counter()
        files = generate(work, args.documents, args.seed, args.generator_args)
        print(f"generated {len(files)} documents in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            documents = list(pool.map(lambda item: read(item[0], engine, item[1]), files))
        pages = sum(len(document) for document in documents)
        print(f"read {pages} pages in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        fields = sorted({box.field for document in documents for _, boxes in document for box in boxes})
        started = time.perf_counter()
        extractor, accuracy, held = ocr_fields.train(documents, fields)
        print(f"fitted in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    extractor.save(args.out, compressed=True)
    size = args.out.stat().st_size
    print(json.dumps({"documents": len(files), "pages": pages, "fields": fields,
                      "held_out_exact": None if accuracy is None else round(accuracy, 4), "held_out_values": held,
                      "file": str(args.out), "bytes": size}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
