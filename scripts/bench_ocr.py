#!/usr/bin/env python3
"""OCR models on the local server, on documents as users bring them: exact-text accuracy per variation, language
and layout, leave-one-layout-out accuracy, pages per second through the CLI, the clean-up's time per page, and
the server's peak memory.

    python scripts/bench_ocr.py                         # 60 training, 40 test documents made by make_documents.py
    python scripts/bench_ocr.py --quick                 # a few documents, two held-out layouts: for trying
    python scripts/bench_ocr.py --data images/invoices  # an existing set (train/, test/, manifest.json if any)
    python scripts/bench_ocr.py --json bench-results/ocr.json

In one run against a fresh ``nanoclient serve`` (Tesseract installed), through the installed CLI as a user runs it:
  * the documents: made into a temporary folder by ``scripts/make_documents.py`` (layouts, languages,
    variations: clean, scanned, photo, two-page PDF), or ``--data``; a set's ``manifest.json`` says each
    document's layout, language and variation (without one, each is "unknown");
  * ``ocr create-model --from-dir``, ``ocr upload``, ``ocr train --wait`` (time);
  * ``ocr predict --output`` on half of the held-out documents and ``ocr predict --async --output`` on the
    other half: pages per second, each on pages the server has not read before; then ``ocr predict`` on all
    of them (read already: the words are cached) for field-level exact-text accuracy (the text read equals
    the labelled text on the labelled page, whitespace runs as one space), overall, per variation (page 1
    and page 2 of PDFs apart), per language, per layout, per kind, per field; and ``ocr evaluate --json``
    as a check; how well the scores are calibrated (expected calibration error against exact text);
  * leave-one-layout-out: for each layout, a model trained on every document (both splits) of the other
    layouts, tested on that layout's documents; each layout's accuracy and their mean;
  * the server's peak resident memory (VmHWM from /proc, the serve process and its PDF renderers);
  * in this process, on a sample of held-out pages: ``TesseractEngine.read`` (clean-up, then Tesseract)
    against Tesseract alone on the page as stored, and the clean-up alone (``ocr_clean.clean_page``):
    milliseconds per page and the clean-up's added share, and how many of the sample's labelled values the
    engine's words hold exactly in their box (with ``--readable``: of every held-out page, per variation and
    language, read in the document's own language and English: the best any extractor could do).
It prints a table and, with --json, writes the figures. Everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from bench import API_KEY, cli_env, nanoclient_command  # noqa: E402

#: The issue's bars: exact text overall, in each variation and language, and on a layout never trained on.
MIN_ACCURACY = 0.95
MIN_GROUP_ACCURACY = 0.90
MIN_UNSEEN_LAYOUT = 0.85
#: The clean-up may add at most this share to Tesseract's time per page.
MAX_CLEANUP_SHARE = 0.30
DOCUMENT_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".tif", ".tiff")
GROUPS = ("variation", "language", "layout", "kind")

Truth = dict[tuple[str, int, str], str]  # (file name, page, field) -> labelled text


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[-4:])} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return elapsed, done


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([*nanoclient_command(), "serve", "--port", "0", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        raise RuntimeError(f"server did not start (printed {url!r})")
    return proc, url


# --- the documents ------------------------------------------------------------------------------

def documents(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in DOCUMENT_SUFFIXES) if folder.is_dir() else []


def load_manifest(data: Path) -> dict[str, dict[str, Any]]:
    """File name -> its entry (split, layout, language, variation, kind, pages): from ``manifest.json``, or made
    up for a set without one (every group "unknown", pages from the file)."""
    path = data / "manifest.json"
    if path.is_file():
        return {Path(str(e["file"])).name: e for e in json.loads(path.read_text(encoding="utf-8"))}
    from nanoclient.server.ocr.engine import page_count

    entries: dict[str, dict[str, Any]] = {}
    for split in ("train", "test"):
        for doc in documents(data / split):
            entries[doc.name] = {"file": f"{split}/{doc.name}", "split": split, "layout": "unknown",
                                 "language": "unknown", "variation": "unknown", "kind": "unknown",
                                 "pages": page_count(doc.read_bytes())}
    return entries


def truths(docs: Iterable[Path]) -> Truth:
    """The labelled texts of the documents, from the annotation beside each."""
    found: Truth = {}
    for doc in docs:
        label = doc.with_suffix(".json")
        if not label.is_file():
            continue
        entry = json.loads(label.read_text(encoding="utf-8"))
        for item in entry["object"]:
            if item.get("ocr_text"):
                found[(doc.name, int(item.get("page") or 0), item["name"])] = item["ocr_text"]
    return found


def link_set(target: Path, train: Sequence[Path], test: Sequence[Path]) -> Path:
    """A folder with train/ and test/ of symbolic links to the documents and their annotations."""
    for split, docs in (("train", train), ("test", test)):
        folder = target / split
        folder.mkdir(parents=True, exist_ok=True)
        for doc in docs:
            for path in (doc, doc.with_suffix(".json")):
                if path.is_file():
                    (folder / path.name).symlink_to(path.resolve())
    return target


# --- scoring ------------------------------------------------------------------------------------

def read_rows(rows_csv: Path) -> dict[tuple[str, int, str], tuple[str, float]]:
    """(file name, page, field) -> (text, score) of the rows ``ocr predict --output`` wrote."""
    answers = {}
    with rows_csv.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("field"):
                key = (Path(row["file"]).name, int(row.get("page") or 0), row["field"])
                answers[key] = (row.get("text") or "", float(row["score"]) if row.get("score") else 0.0)
    return answers


def same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def score(truth: Truth, answers: dict[tuple[str, int, str], tuple[str, float]],
          manifest: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Exact-text accuracy overall and per group: variation (PDF pages apart), language, layout, kind, field;
    each group as [exact, labelled]; and the failures."""
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    failures = []
    for (name, page, field), text in sorted(truth.items()):
        entry = manifest.get(name, {})
        answer = answers.get((name, page, field))
        exact = answer is not None and same_text(answer[0], text)
        variation = str(entry.get("variation", "unknown"))
        if variation in ("pdf", "scanned_pdf"):
            variation = f"{variation} page {page + 1 if page < 2 else '3+'}"
        keys = {"all": "all", "variation": variation, "field": field,
                **{g: str(entry.get(g, "unknown")) for g in GROUPS if g != "variation"}}
        for group, key in keys.items():
            cell = groups[group][key]
            cell[0] += exact
            cell[1] += 1
        if not exact:
            failures.append({"file": name, "page": page, "field": field, "truth": text,
                             "read": None if answer is None else answer[0]})
    return {"groups": {g: dict(sorted(v.items())) for g, v in groups.items()}, "failures": failures}


def accuracy(cell: Sequence[int]) -> float | None:
    return cell[0] / cell[1] if cell[1] else None


def calibration(truth: Truth, answers: dict[tuple[str, int, str], tuple[str, float]],
                bins: int = 10) -> tuple[float, int]:
    """Expected calibration error of the answers' scores against exact text: (ECE, fields scored)."""
    scored = [(s, same_text(text, truth[key])) for key, (text, s) in answers.items() if key in truth]
    if not scored:
        return 0.0, 0
    error = 0.0
    for low in range(bins):
        members = [(s, ok) for s, ok in scored if low / bins <= s < (low + 1) / bins or (low == bins - 1 and s == 1)]
        if members:
            confidence = sum(s for s, _ in members) / len(members)
            right = sum(ok for _, ok in members) / len(members)
            error += len(members) / len(scored) * abs(confidence - right)
    return error, len(scored)


# --- the server ---------------------------------------------------------------------------------

def peak_memory_mb(pid: int) -> dict[str, float]:
    """VmHWM (peak resident set) of a process and the largest of its descendants', in MB (Linux only)."""
    def hwm(p: int) -> float | None:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def children(p: int) -> list[int]:
        found = []
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return found

    own = hwm(pid)
    descendants, todo = [], children(pid)
    while todo:
        child = todo.pop()
        descendants.append(child)
        todo += children(child)
    child_peaks = [v for v in (hwm(c) for c in descendants) if v is not None]
    return {"serve_mb": own or 0.0, "largest_child_mb": max(child_peaks, default=0.0)}


class Model:
    """One OCR model on the bench's server, driven through the CLI."""

    def __init__(self, url: str, folder: Path, languages: str | None, pretrained: str | None = None) -> None:
        self.command = [*nanoclient_command(), "ocr"]
        create = [*self.command, "create-model", *(["--pretrained", pretrained] if pretrained else
                                                   ["--from-dir", str(folder)])]
        if languages:
            create += ["--languages", languages]
        _, created = _run(create, cli_env(url))
        self.id = created.stdout.strip().split("=", 1)[1]
        self.env = cli_env(url, self.id)
        self.folder = folder

    def train(self) -> tuple[float, float]:
        """Upload FOLDER/train and train; (upload seconds, train seconds)."""
        upload_s, _ = _run([*self.command, "upload", str(self.folder)], self.env)
        train_s, _ = _run([*self.command, "train", "--wait", "--poll-interval", "0.5"], self.env)
        return upload_s, train_s

    def languages(self, url: str) -> list[str]:
        """The languages the server reads the model's documents in (named, or found when it trained)."""
        from nanoclient import Client

        with Client(API_KEY, url) as client:
            return list(client.ocr.get_model(self.id).languages)

    def predict(self, folder: Path, output: Path, asynchronous: bool = False) -> float:
        cmd = [*self.command, "predict", str(folder), *(["--async"] if asynchronous else []), "--output", str(output)]
        seconds, _ = _run(cmd, self.env)
        return seconds

    def evaluate(self) -> dict[str, Any]:
        _, done = _run([*self.command, "--json", "evaluate", str(self.folder)], self.env)
        result: dict[str, Any] = json.loads(done.stdout)
        return result


# --- the engine in this process -----------------------------------------------------------------

def engine_times(sample: Sequence[tuple[Path, str, str]], model_file: Path | None,
                 repeats: int = 2) -> dict[str, Any]:
    """On each (document, its Tesseract language, its variation): ms of ``TesseractEngine.read`` (clean-up and
    Tesseract), of Tesseract alone on the page as stored, of the clean-up alone, of the extractor; medians,
    per variation, and the clean-up's added share of time (sum over pages). Each time is the least of
    ``repeats`` runs: other work on the machine only ever adds to it."""
    from nanoclient.server.ocr.engine import TesseractEngine, render_pages
    from nanoclient.server.ocr.fields import FieldExtractor

    clean_page: Any = None
    try:
        from nanoclient.server.ocr.clean import clean_page
    except ImportError:  # the clean-up is not installed (or not built yet)
        pass
    engine = TesseractEngine()
    extractor = FieldExtractor.load(model_file) if model_file is not None else None
    rows: list[dict[str, Any]] = []
    for path, language, variation in sample:
        for number, image in enumerate(render_pages(path.read_bytes())):
            languages = [language] if language and language != "unknown" else []
            row: dict[str, Any] = {"file": path.name, "page": number, "variation": variation}
            words = getattr(engine, "_words", None)
            for _ in range(max(1, repeats)):
                start = time.perf_counter()
                page = engine.read(image, languages) if languages else engine.read(image)
                least(row, "read_ms", start)
                if words is not None:  # Tesseract alone, on the page as stored
                    start = time.perf_counter()
                    words(image, "+".join(languages) or engine.language)
                    least(row, "tesseract_ms", start)
                if clean_page is not None:
                    start = time.perf_counter()
                    clean_page(image)
                    least(row, "cleanup_ms", start)
            label = path.with_suffix(".json")
            if label.is_file():  # could the extractor have found the values at all: are their words read?
                boxes = [o for o in json.loads(label.read_text(encoding="utf-8"))["object"]
                         if int(o.get("page") or 0) == number and "bndbox" in o]
                row["values"] = len(boxes)
                row["values_read"] = sum(words_read(page.words, o["bndbox"], o["ocr_text"]) for o in boxes)
            if extractor is not None:
                start = time.perf_counter()
                extractor.predict(page)
                row["extract_ms"] = (time.perf_counter() - start) * 1000
            rows.append(row)
            break  # the first page of each document: a sample
    figures: dict[str, Any] = {"pages": len(rows)}
    for key in ("read_ms", "tesseract_ms", "cleanup_ms", "extract_ms"):
        values = [float(r[key]) for r in rows if key in r]
        if values:
            figures[f"median_{key}"] = statistics.median(values)
            by_variation: dict[str, list[float]] = defaultdict(list)
            for r in rows:
                if key in r:
                    by_variation[str(r["variation"])].append(float(r[key]))
            figures[f"{key}_by_variation"] = {k: statistics.median(v) for k, v in sorted(by_variation.items())}
    labelled = sum(int(r.get("values", 0)) for r in rows)
    if labelled:
        figures["values_read"] = [sum(int(r.get("values_read", 0)) for r in rows), labelled]
    read = sum(float(r["read_ms"]) for r in rows if "tesseract_ms" in r)
    alone = sum(float(r["tesseract_ms"]) for r in rows if "tesseract_ms" in r)
    if alone:
        figures["cleanup_added_share"] = read / alone - 1
    figures["rows"] = rows
    return figures


def least(row: dict[str, Any], key: str, start: float) -> None:
    """Keep in ``row[key]`` the least milliseconds since ``start`` so far."""
    elapsed = (time.perf_counter() - start) * 1000
    row[key] = min(elapsed, float(row.get(key, elapsed)))


def words_read(words: Sequence[Any], box: dict[str, int], text: str) -> bool:
    """Whether the words the engine read with their centre inside ``box`` include every word of the value, as
    written (in any order, other words allowed: a skewed page's box takes in some of its neighbours)."""
    inside = Counter(str(w.text) for w in words
                     if box["xmin"] - 3 <= (w.xmin + w.xmax) / 2 <= box["xmax"] + 3
                     and box["ymin"] - 3 <= (w.ymin + w.ymax) / 2 <= box["ymax"] + 3)
    return Counter(text.split()) <= inside


def readable(docs: Sequence[Path], manifest: dict[str, dict[str, Any]], workers: int = 2) -> dict[str, Any]:
    """How many labelled values the engine's words hold exactly in their box (``words_read``), every page of
    every document read in this process in its own language and English: what any extractor could find at
    best. Per variation (PDF pages apart) and language, each as [read, labelled]."""
    from concurrent.futures import ThreadPoolExecutor

    from nanoclient.server.ocr.engine import TesseractEngine, render_pages

    engine = TesseractEngine()

    def one(doc: Path) -> list[tuple[str, str, bool]]:
        entry = manifest.get(doc.name, {})
        language = str(entry.get("tesseract") or "")
        languages = [language] + (["eng"] if language != "eng" else []) if language else ["eng"]
        label = json.loads(doc.with_suffix(".json").read_text(encoding="utf-8"))
        found = []
        for number, image in enumerate(render_pages(doc.read_bytes())):
            boxes = [o for o in label["object"] if int(o.get("page") or 0) == number and "bndbox" in o]
            if not boxes:
                continue
            words = engine.read(image, languages).words
            variation = str(entry.get("variation", "unknown"))
            if variation in ("pdf", "scanned_pdf"):
                variation = f"{variation} page {number + 1 if number < 2 else '3+'}"
            found += [(variation, str(entry.get("language", "unknown")), words_read(words, o["bndbox"],
                                                                                      o["ocr_text"])) for o in boxes]
        return found

    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    with ThreadPoolExecutor(workers) as pool:
        for found in pool.map(one, [d for d in docs if d.with_suffix(".json").is_file()]):
            for variation, language, ok in found:
                for group, key in (("all", "all"), ("variation", variation), ("language", language)):
                    groups[group][key][0] += ok
                    groups[group][key][1] += 1
    return {g: dict(sorted(v.items())) for g, v in groups.items()}


def pick_sample(test: Sequence[Path], manifest: dict[str, dict[str, Any]],
                count: int) -> list[tuple[Path, str, str]]:
    """Up to ``count`` held-out documents, taken in turn from each variation."""
    by_variation: dict[str, list[Path]] = defaultdict(list)
    for doc in test:
        by_variation[str(manifest.get(doc.name, {}).get("variation", "unknown"))].append(doc)
    picked: list[Path] = []
    while len(picked) < count and any(by_variation.values()):
        for variation in sorted(by_variation):
            if by_variation[variation] and len(picked) < count:
                picked.append(by_variation[variation].pop(0))
    return [(doc, str(manifest.get(doc.name, {}).get("tesseract", "")), str(manifest.get(doc.name, {}).get(
        "variation", "unknown"))) for doc in picked]


# --- the run ------------------------------------------------------------------------------------

def generate(out: Path, train: int, test: int, seed: int, more: Sequence[str] = ()) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_documents.py"), "--out", str(out), "--train",
                    str(train), "--test", str(test), "--seed", str(seed), *more], check=True,
                   stderr=subprocess.DEVNULL)


def pages_of(docs: Iterable[Path], manifest: dict[str, dict[str, Any]]) -> int:
    return sum(int(manifest.get(d.name, {}).get("pages", 1)) for d in docs)


def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data: Path = args.data or work / "documents"
    if args.data is None:
        print(f"making {args.train} + {args.test} documents (seed {args.seed}) ...", file=sys.stderr)
        generate(data, args.train, args.test, args.seed, shlex.split(args.make_args or ""))
    manifest = load_manifest(data)
    trains, tests = documents(data / "train"), documents(data / "test")
    truth = truths(tests)
    figures: dict[str, Any] = {
        "date": date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "data": str(args.data) if args.data else f"make_documents.py --train {args.train} --test {args.test} "
                                                  f"--seed {args.seed} {args.make_args or ''}".strip(),
        "training_documents": len(trains), "test_documents": len(tests), "test_pages": pages_of(tests, manifest),
        "labelled_values": len(truth)}
    server, url = _serve(work / "server")
    try:
        print("training the model on every layout ...", file=sys.stderr)
        model = Model(url, data, args.languages)
        figures["upload_s"], figures["train_s"] = model.train()
        figures["model_languages"] = model.languages(url)
        half_a, half_b = tests[0::2], tests[1::2]
        sync_dir = link_set(work / "sync", [], half_a) / "test"
        async_dir = link_set(work / "async", [], half_b) / "test"
        print("reading the held-out documents ...", file=sys.stderr)
        sync_s = model.predict(sync_dir, work / "sync.csv")
        async_s = model.predict(async_dir, work / "async.jsonl", asynchronous=True) if half_b else 0.0
        figures["sync_pages_per_s"] = pages_of(half_a, manifest) / sync_s
        figures["async_pages_per_s"] = pages_of(half_b, manifest) / async_s if async_s else None
        model.predict(data / "test", work / "all.csv")  # every page read already: the words are cached
        answers = read_rows(work / "all.csv")
        figures["accuracy"] = score(truth, answers, manifest)
        figures["score_ece"], figures["scored_fields"] = calibration(truth, answers)
        evaluated = model.evaluate()
        figures["evaluate_exact_text_accuracy"] = evaluated.get("exact_text_accuracy")
        if args.pretrained:  # the shipped extractor as it comes, trained on none of these documents
            shipped = Model(url, data, args.languages, pretrained=args.pretrained)
            shipped.predict(data / "test", work / "pretrained.csv")
            figures["pretrained"] = {"name": args.pretrained, **score(truth, read_rows(work / "pretrained.csv"),
                                                                       manifest)}
        layouts = sorted({str(manifest[d.name]["layout"]) for d in trains + tests if d.name in manifest})
        held_out = [layout for layout in layouts if layout != "unknown"]
        if args.lolo_layouts:
            held_out = [layout for layout in held_out if layout in args.lolo_layouts]
        lolo: dict[str, Any] = {}
        everything = trains + tests
        for layout in held_out if len(layouts) > 1 and not args.no_lolo else []:
            inside = [d for d in everything if manifest.get(d.name, {}).get("layout") == layout]
            outside = [d for d in everything if manifest.get(d.name, {}).get("layout") != layout]
            print(f"leave one layout out: {layout} ({len(outside)} training, {len(inside)} test) ...", file=sys.stderr)
            folder = link_set(work / f"lolo-{layout}", outside, inside)
            # in the main model's languages: the pages are read already (the server caches words by languages)
            held = Model(url, folder, ",".join(figures["model_languages"]) or None)
            held.train()
            held.predict(folder / "test", work / f"lolo-{layout}.csv")
            result = score(truths(inside), read_rows(work / f"lolo-{layout}.csv"), manifest)
            lolo[layout] = result["groups"]["all"]["all"]
        if lolo:
            values = [accuracy(cell) for cell in lolo.values()]
            figures["leave_one_layout_out"] = {"layouts": lolo, "mean": statistics.mean(v for v in values
                                                                                        if v is not None)}
        figures["peak_memory"] = peak_memory_mb(server.pid)
        extractors = sorted((work / "server" / "classifiers").glob("*.ocr"), key=lambda p: p.stat().st_mtime)
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    # in this process: a failure here (the engine's code changed under the run, say) keeps the figures above
    if args.readable:
        print("reading every held-out page in this process, in its own language ...", file=sys.stderr)
        try:
            figures["readable"] = readable(tests, manifest)
        except Exception as exc:  # noqa: BLE001
            figures["readable_error"] = f"{type(exc).__name__}: {exc}"
    print("timing the engine in this process ...", file=sys.stderr)
    try:
        figures["engine"] = engine_times(pick_sample(tests, manifest, args.engine_pages),
                                         extractors[0] if extractors else None, args.engine_repeats)
    except Exception as exc:  # noqa: BLE001
        figures["engine"] = {"pages": 0, "error": f"{type(exc).__name__}: {exc}"}
    return figures


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(figures: dict[str, Any]) -> tuple[str, bool]:
    """The figures as lines of text, and whether every bar is met."""
    groups = figures["accuracy"]["groups"]
    lines: list[tuple[str, str]] = []
    met = True

    def cell(name: str, counts: Sequence[int], bar: float | None) -> None:
        nonlocal met
        value = accuracy(counts)
        below = bar is not None and value is not None and value < bar
        met = met and not below
        lines.append((name, f"{_fmt(value)}  ({counts[0]}/{counts[1]}){'  < ' + str(bar) if below else ''}"))

    lines.append(("documents", f"{figures['training_documents']} training, {figures['test_documents']} held out "
                               f"({figures['test_pages']} pages, {figures['labelled_values']} values); "
                               f"{figures['data']}"))
    lines.append(("model's languages", "+".join(figures.get("model_languages") or []) or "-"))
    lines.append(("upload / train --wait (CLI)", f"{figures['upload_s']:.1f} s / {figures['train_s']:.1f} s"))
    cell("exact text, held out", groups["all"]["all"], MIN_ACCURACY)
    lines.append(("  ocr evaluate says", _fmt(figures.get("evaluate_exact_text_accuracy"))))
    for group in ("variation", "language", "layout", "kind", "field"):
        for key, counts in groups.get(group, {}).items():
            bar = MIN_GROUP_ACCURACY if group in ("variation", "language") and key != "unknown" else None
            cell(f"  {group} {key}", counts, bar)
    shipped = figures.get("pretrained")
    if shipped:
        for key, counts in [("all", shipped["groups"]["all"]["all"]),
                            *shipped["groups"]["variation"].items()]:
            cell(f"pretrained {shipped['name']}, untrained: {key}", counts, None)
    lolo = figures.get("leave_one_layout_out")
    if lolo:
        for layout, counts in lolo["layouts"].items():
            cell(f"unseen layout {layout}", counts, MIN_UNSEEN_LAYOUT)
        mean = lolo["mean"]
        met = met and mean >= MIN_UNSEEN_LAYOUT
        below = f"  < {MIN_UNSEEN_LAYOUT}" if mean < MIN_UNSEEN_LAYOUT else ""
        lines.append(("unseen layout, mean", f"{mean:.3f}{below}"))
    for group, cells in (figures.get("readable") or {}).items():
        for key, counts in cells.items():
            cell(f"values the engine reads in their box: {key}" if group == "all" else f"  {group} {key}", counts,
                 None)
    lines.append(("scores: expected calibration error", f"{figures['score_ece']:.3f} over "
                                                        f"{figures['scored_fields']} fields"))
    lines.append(("ocr predict --output (sync)", f"{figures['sync_pages_per_s']:.2f} pages/s"))
    lines.append(("ocr predict --async --output", f"{_fmt(figures['async_pages_per_s'], 2)} pages/s"))
    memory = figures["peak_memory"]
    lines.append(("server peak RSS (VmHWM)", f"{memory['serve_mb']:.0f} MB serve, "
                                             f"{memory['largest_child_mb']:.0f} MB largest child"))
    engine = figures["engine"]
    lines.append(("engine sample (first pages)", f"{engine['pages']}" + (f"  failed: {engine['error']}"
                                                                          if "error" in engine else "")))
    if "readable_error" in figures:
        lines.append(("values the engine reads in their box", f"failed: {figures['readable_error']}"))
    for key, name in (("read_ms", "TesseractEngine.read (clean-up + Tesseract)"),
                      ("tesseract_ms", "Tesseract alone, page as stored"), ("cleanup_ms", "clean-up alone"),
                      ("extract_ms", "field extractor alone")):
        if f"median_{key}" in engine:
            per = ", ".join(f"{k} {v:.0f}" for k, v in engine[f"{key}_by_variation"].items())
            lines.append((f"  {name}, median", f"{engine[f'median_{key}']:.0f} ms/page ({per})"))
    if "values_read" in engine:
        read, values = engine["values_read"]
        lines.append(("  values whose words the engine reads exactly", f"{read / values:.3f}  ({read}/{values})"))
    share = engine.get("cleanup_added_share")
    if share is not None:
        met = met and share <= MAX_CLEANUP_SHARE
        lines.append(("  clean-up's added time (sum over sample)",
                      f"{share:+.0%}{'  > ' + format(MAX_CLEANUP_SHARE, '.0%') if share > MAX_CLEANUP_SHARE else ''}"))
    width = max(len(name) for name, _ in lines)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in lines), met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="an existing set: a folder with train/ and test/ documents and "
                        "annotations (and manifest.json); default: generate one with make_documents.py")
    parser.add_argument("--train", type=int, default=60, help="documents to generate for training (default 60)")
    parser.add_argument("--test", type=int, default=40, help="documents to generate for testing (default 40)")
    parser.add_argument("--seed", type=int, default=33, help="the generator's seed (default 33)")
    parser.add_argument("--make-args", metavar="ARGS", help="more options for make_documents.py, in one string "
                        "(\"--languages de,en --layouts grid,classic\")")
    parser.add_argument("--quick", action="store_true",
                        help="few documents (32 + 14), two held-out layouts, 4 engine pages: for trying")
    parser.add_argument("--languages", help="create the models with --languages L,L (default: the server finds them)")
    parser.add_argument("--pretrained", metavar="NAME", help="also score a model created with --pretrained NAME "
                        "and not trained (the server's shipped extractor, e.g. invoices)")
    parser.add_argument("--readable", action="store_true", help="also read every held-out page in this process "
                        "(its language and English) and count the labelled values whose words are read exactly in "
                        "their box: the best any extractor could do, per variation and language")
    parser.add_argument("--no-lolo", action="store_true", help="skip leave-one-layout-out")
    parser.add_argument("--lolo-layouts", type=lambda t: [p for p in t.split(",") if p],
                        help="hold out only these layouts (comma-separated; default every layout)")
    parser.add_argument("--engine-pages", type=int, default=12, help="held-out pages timed in this process "
                        "(default 12)")
    parser.add_argument("--engine-repeats", type=int, default=2, help="times each engine page is timed, the "
                        "least kept (default 2)")
    parser.add_argument("--failures", type=int, default=25, help="print up to this many misread values")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and remove the folder on a kill too
    if args.quick:
        args.train, args.test, args.engine_pages = min(args.train, 32), min(args.test, 14), min(args.engine_pages, 4)
        args.lolo_layouts = args.lolo_layouts or ["grid", "two_column"]
    with tempfile.TemporaryDirectory(prefix="nanoclient-bench-ocr-") as tmp:
        figures = bench(args, Path(tmp))
    text, met = table(figures)
    print(text)
    failures = figures["accuracy"]["failures"]
    if failures and args.failures:
        print(f"\nmisread ({len(failures)}; the first {min(len(failures), args.failures)}):")
        for f in failures[:args.failures]:
            print(f"  {f['file']} p{f['page']} {f['field']}: {f['truth']!r} -> {f['read']!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
