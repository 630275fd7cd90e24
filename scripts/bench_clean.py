#!/usr/bin/env python3
"""What the clean-up before Tesseract (nanoclient/server/ocr_clean.py) costs and brings, page by page.

    python scripts/bench_clean.py                      # 24 documents made by make_documents.py, ~1 minute
    python scripts/bench_clean.py --docs 60 --json bench-results/clean.json
    python scripts/bench_clean.py --data DIR           # an existing set (manifest.json, as make_documents.py writes)

For each page, in this process, one page at a time (Tesseract with one thread, as the server runs it):
  * the clean-up alone (``clean_page``), milliseconds, and what it did (flattened, turned, deskewed, lit, scaled);
  * Tesseract alone on the page as uploaded (what the server did before the clean-up), milliseconds;
  * ``TesseractEngine.read``: the clean-up, then Tesseract on the cleaned page (twice when its way up was
    unclear and the first read was poor), milliseconds; its added share over Tesseract alone;
  * each of those also in CPU time (this process and its Tesseract children), which a busy machine
    hardly changes;
  * the annotated values found: a value counts when each of its words is read exactly (punctuation at a
    word's ends aside) with its box overlapping the value's annotated box (boxes on the uploaded page), read
    as uploaded and read through the clean-up.
Then per variation (clean, scanned, photo; PDFs are left out: their pages are clean renders) the medians and
shares; on the synthetic pages of tests/ocr_pages.py turned by 0/90/180/270 and skewed by 0-7 degrees, how
often the clean-up turns them back within half a degree; and on synthetic pages under a shadow and of
small text on a poor scan, the words read as uploaded and cleaned.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # ocr_pages: the test pages, turned and skewed with known matrices

from PIL import Image  # noqa: E402

from nanoclient.server.ocr.clean import clean_page  # noqa: E402
from nanoclient.server.ocr.engine import TesseractEngine, Word  # noqa: E402


def _strip(text: str) -> str:
    return text.strip(".,:;()[]").casefold()


def _overlaps(word: Word, box: dict[str, int]) -> bool:
    return (min(word.xmax, box["xmax"]) > max(word.xmin, box["xmin"])
            and min(word.ymax, box["ymax"]) > max(word.ymin, box["ymin"]))


def found_values(words: list[Word], fields: list[dict[str, Any]]) -> tuple[int, int]:
    """(values found, values) on a page: every word of the value read, where the value is."""
    hits = 0
    for field in fields:
        box = field.get("bndbox")
        tokens = [_strip(token) for token in str(field.get("ocr_text", "")).split()]
        if not box or not tokens:
            continue
        near = {_strip(word.text) for word in words if _overlaps(word, box)}
        hits += all(token in near for token in tokens)
    return hits, sum(1 for field in fields if field.get("bndbox") and str(field.get("ocr_text", "")).split())


def _cpu() -> float:
    """Seconds of CPU used so far by this process and its finished children (Tesseract)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """What the call returns, its wall-clock milliseconds and its CPU milliseconds (this process and the
    Tesseract it runs: a shared machine slows the first, hardly the second)."""
    start, cpu = time.perf_counter(), _cpu()
    result = function(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000, (_cpu() - cpu) * 1000


def bench_documents(data: Path, engine: TesseractEngine) -> list[dict[str, Any]]:
    rows = []
    manifest = json.loads((data / "manifest.json").read_text())
    for entry in manifest:
        if entry["variation"] == "pdf" or entry.get("pages", 1) != 1:
            continue
        path = data / entry["file"]
        fields = json.loads(path.with_suffix(".json").read_text())["object"]
        page = Image.open(path)
        page.load()
        page = page.convert("L")
        language = entry.get("tesseract") or "eng"
        cleaned, clean_ms, clean_cpu = timed(clean_page, page)
        raw, raw_ms, raw_cpu = timed(engine._words, page, language)
        read, read_ms, read_cpu = timed(engine.read, page, [language])
        raw_hits, total = found_values(raw, fields)
        read_hits, _ = found_values(list(read.words), fields)
        rows.append({"file": entry["file"], "variation": entry["variation"], "size": list(page.size),
                     "steps": list(cleaned.steps), "unsure": cleaned.unsure, "clean_ms": clean_ms,
                     "tesseract_ms": raw_ms, "read_ms": read_ms, "clean_cpu_ms": clean_cpu,
                     "tesseract_cpu_ms": raw_cpu, "read_cpu_ms": read_cpu, "values": total,
                     "found_as_uploaded": raw_hits, "found_cleaned": read_hits})
        print(f"  {entry['file']:48s} {clean_ms:6.1f} ms clean {raw_ms:6.0f} ms tesseract {read_ms:6.0f} ms read"
              f" (CPU {clean_cpu:5.1f} / {raw_cpu:4.0f} / {read_cpu:4.0f})"
              f"  values {raw_hits}/{total} -> {read_hits}/{total}  {' '.join(cleaned.steps)}", flush=True)
    return rows


def bench_turns(engine: TesseractEngine) -> dict[str, Any]:
    """The clean-up's turn on synthetic pages turned and skewed by known angles (no Tesseract)."""
    from ocr_pages import text_page, turned

    right = unsure = 0
    misses = []
    times = []
    pages = [text_page(size=size, width=size * 44, height=size * 40) for size in (18, 26)]
    angles = [turn + skew for turn in (0, 90, 180, 270) for skew in (0, 1.5, -3, 5, -7)]
    for page in pages:
        for angle in angles:
            cleaned, ms, _ = timed(clean_page, turned(page, angle).image if angle else page.image)
            times.append(ms)
            error = abs((angle + cleaned.turn + 180) % 360 - 180)
            right += error < 0.5
            unsure += cleaned.unsure
            if error >= 0.5:
                misses.append((angle, round(cleaned.turn, 2)))
    return {"pages": len(pages) * len(angles), "turned_back": right, "unsure": unsure, "misses": misses,
            "clean_ms_median": statistics.median(times)}


def bench_synthetic(engine: TesseractEngine) -> dict[str, list[int]]:
    """Words of tests/ocr_pages.py's pages read by Tesseract as uploaded and through the clean-up, on what
    make_documents.py does not make: shadows, small text on a poor scan."""
    from ocr_pages import LINES, photo, scanned, shadowed, text_page

    base = text_page(lines=LINES[:8], height=560)
    pages = {"shadow": shadowed(base, 0.4), "photo with shadow": shadowed(photo(base, seed=5), 0.4),
             "small text, poor scan": scanned(text_page(size=12, width=528, height=300, lines=LINES[:7]), seed=12)}
    out = {}
    for name, sample in pages.items():
        truth = [word for word in sample.boxes if len(word) > 3]
        raw = {_strip(word.text) for word in engine._words(sample.image, "eng")}
        cleaned = {_strip(word.text) for word in engine.read(sample.image).words}
        out[name] = [sum(_strip(w) in raw for w in truth), sum(_strip(w) in cleaned for w in truth), len(truth)]
    return out


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["variation"]].append(row)
        groups["all"].append(row)
    for name, group in groups.items():
        tesseract = statistics.median(r["tesseract_ms"] for r in group)
        read = statistics.median(r["read_ms"] for r in group)
        added = statistics.median(r["read_ms"] / r["tesseract_ms"] - 1 for r in group)
        out[name] = {
            "pages": len(group),
            "clean_ms_median": round(statistics.median(r["clean_ms"] for r in group), 1),
            "clean_ms_max": round(max(r["clean_ms"] for r in group), 1),
            "tesseract_ms_median": round(tesseract),
            "read_ms_median": round(read),
            "added_share_median": round(added, 3),
            "added_share_total": round(sum(r["read_ms"] for r in group) / sum(r["tesseract_ms"] for r in group) - 1,
                                       3),
            "clean_cpu_ms_median": round(statistics.median(r["clean_cpu_ms"] for r in group), 1),
            "tesseract_cpu_ms_median": round(statistics.median(r["tesseract_cpu_ms"] for r in group)),
            "read_cpu_ms_median": round(statistics.median(r["read_cpu_ms"] for r in group)),
            "added_cpu_share_total": round(sum(r["read_cpu_ms"] for r in group)
                                           / sum(r["tesseract_cpu_ms"] for r in group) - 1, 3),
            "values": sum(r["values"] for r in group),
            "found_as_uploaded": sum(r["found_as_uploaded"] for r in group),
            "found_cleaned": sum(r["found_cleaned"] for r in group),
            "changed_pages": sum(1 for r in group if r["steps"]),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a folder with manifest.json (default: made by make_documents.py)")
    parser.add_argument("--docs", type=int, default=24, help="documents to make (default 24)")
    parser.add_argument("--seed", type=int, default=41)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    engine = TesseractEngine()
    if not engine.available():
        print("Tesseract is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            data = Path(scratch) / "docs"
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_documents.py"), "--out", str(data),
                            "--train", "0", "--test", str(args.docs), "--seed", str(args.seed),
                            "--variations", "clean,scanned,photo"], check=True, capture_output=True)
        clean_page(Image.new("L", (64, 64), 255))  # imports (OpenCV, SciPy) are not a page's cost
        print(f"documents in {data}:")
        rows = bench_documents(data, engine)
    turns = bench_turns(engine)
    synthetic = bench_synthetic(engine)
    figures = {"per_variation": summary(rows), "turns": turns, "synthetic_words": synthetic, "pages": rows}
    print(f"\n{'variation':10s} {'pages':>5s} {'clean ms':>9s} {'max':>6s} {'tess ms':>8s} {'read ms':>8s}"
          f" {'added':>7s} | CPU: {'clean':>6s} {'tess':>6s} {'read':>6s} {'added':>7s}"
          " | values as uploaded -> cleaned")
    for name, s in figures["per_variation"].items():
        print(f"{name:10s} {s['pages']:5d} {s['clean_ms_median']:9.1f} {s['clean_ms_max']:6.0f}"
              f" {s['tesseract_ms_median']:8d} {s['read_ms_median']:8d} {s['added_share_total']:+7.1%} |"
              f"      {s['clean_cpu_ms_median']:6.1f} {s['tesseract_cpu_ms_median']:6d} {s['read_cpu_ms_median']:6d}"
              f" {s['added_cpu_share_total']:+7.1%} | {s['found_as_uploaded']}/{s['values']} -> "
              f"{s['found_cleaned']}/{s['values']}")
    print(f"\nturned/skewed synthetic pages turned back within 0.5 degree: {turns['turned_back']}/{turns['pages']}"
          f" (unsure {turns['unsure']}; clean-up {turns['clean_ms_median']:.1f} ms median); misses {turns['misses']}")
    for name, (raw, cleaned, total) in synthetic.items():
        print(f"{name}: words read as uploaded {raw}/{total}, cleaned {cleaned}/{total}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
