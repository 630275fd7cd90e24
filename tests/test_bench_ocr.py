"""scripts/bench_ocr.py's scoring, without a server: truths from annotations, answers from ``ocr predict``'s rows,
exact text per group with the pages of PDFs apart, leave-one-layout-out folders, the words-in-box check."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from helpers import load_script

ROOT = Path(__file__).resolve().parent.parent

bench_ocr = load_script(ROOT / "scripts" / "bench_ocr.py")


def _write(folder: Path, name: str, objects: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = folder / name
    doc.write_bytes(b"%PDF-1.4" if name.endswith(".pdf") else b"\x89PNG")
    doc.with_suffix(".json").write_text(json.dumps({"filename": name, "object": objects}), encoding="utf-8")
    return doc


def _box(page: int | None = None) -> dict[str, object]:
    item: dict[str, object] = {"bndbox": {"xmin": 1, "ymin": 1, "xmax": 9, "ymax": 9}}
    if page is not None:
        item["page"] = page
    return item


def test_scores_per_group_with_pdf_pages_apart(tmp_path: Path) -> None:
    data = tmp_path / "set"
    pdf = _write(data / "test", "001_invoice_grid_de_pdf.pdf", [
        {"name": "invoice_number", "ocr_text": "RE-2014-0457", **_box(0)},
        {"name": "total_amount", "ocr_text": "1.234,56 €", **_box(1)}])
    png = _write(data / "test", "002_invoice_letter_fr_scanned.png", [
        {"name": "invoice_number", "ocr_text": "F2015-0312", **_box()},
        {"name": "vendor_name", "ocr_text": "Bâtiment  Dupré SA", **_box()}])
    (data / "manifest.json").write_text(json.dumps([
        {"file": "test/" + pdf.name, "split": "test", "kind": "invoice", "layout": "grid", "language": "de",
         "variation": "pdf", "pages": 2},
        {"file": "test/" + png.name, "split": "test", "kind": "invoice", "layout": "letter", "language": "fr",
         "variation": "scanned", "pages": 1}]), encoding="utf-8")
    rows = tmp_path / "rows.csv"
    with rows.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["file", "page", "field", "text", "score"])
        writer.writeheader()
        writer.writerow({"file": str(pdf), "page": 0, "field": "invoice_number", "text": "RE-2014-0457", "score": 0.9})
        writer.writerow({"file": str(pdf), "page": 0, "field": "total_amount", "text": "1.234,56 €", "score": 0.8})
        writer.writerow({"file": str(pdf), "page": 1, "field": "total_amount", "text": "99,00 €", "score": 0.7})
        writer.writerow({"file": str(png), "page": 0, "field": "invoice_number", "text": "F2015-0312", "score": 0.6})
        writer.writerow({"file": str(png), "page": 0, "field": "vendor_name", "text": "Bâtiment Dupré SA", "score": 1})
        writer.writerow({"file": str(png), "page": 0, "field": "", "text": "", "score": ""})

    manifest = bench_ocr.load_manifest(data)
    truth = bench_ocr.truths(bench_ocr.documents(data / "test"))
    assert truth[(pdf.name, 1, "total_amount")] == "1.234,56 €"
    result = bench_ocr.score(truth, bench_ocr.read_rows(rows), manifest)
    groups = result["groups"]
    assert groups["all"]["all"] == [3, 4]
    # the total answered on page 1 does not count for the total labelled on page 2
    assert groups["variation"] == {"pdf page 1": [1, 1], "pdf page 2": [0, 1], "scanned": [2, 2]}
    assert groups["language"] == {"de": [1, 2], "fr": [2, 2]}
    assert groups["layout"] == {"grid": [1, 2], "letter": [2, 2]}
    assert result["failures"] == [{"file": pdf.name, "page": 1, "field": "total_amount", "truth": "1.234,56 €",
                                   "read": "99,00 €"}]
    ece, scored = bench_ocr.calibration(truth, bench_ocr.read_rows(rows))
    assert scored == 4 and 0 <= ece <= 1

    linked = bench_ocr.link_set(tmp_path / "lolo", [png], [pdf])
    assert sorted(p.name for p in (linked / "train").iterdir()) == sorted([png.name, png.with_suffix(".json").name])
    assert (linked / "test" / pdf.name).resolve() == pdf.resolve()


def test_words_read_in_their_box() -> None:
    class Word:
        def __init__(self, text: str, x: int, y: int) -> None:
            self.text, self.xmin, self.ymin, self.xmax, self.ymax = text, x, y, x + 10, y + 10

    box = {"xmin": 0, "ymin": 0, "xmax": 40, "ymax": 40}
    assert bench_ocr.words_read([Word("Mai", 0, 20), Word("7.", 0, 0), Word("2014", 0, 30)], box, "7. Mai 2014")
    assert bench_ocr.words_read([Word("Mai", 0, 20), Word("Datum", 0, 10), Word("7.", 0, 0), Word("2014", 0, 30)],
                                box, "7. Mai 2014")  # a neighbour inside a skewed line's box does no harm
    assert not bench_ocr.words_read([Word("Mai", 0, 20), Word("7.", 0, 0)], box, "7. Mai 2014")
    assert not bench_ocr.words_read([Word("Mal", 0, 20), Word("7.", 0, 0), Word("2014", 0, 30)], box, "7. Mai 2014")
    assert not bench_ocr.words_read([Word("Mai", 0, 20), Word("7.", 0, 0), Word("2014", 90, 90)], box,
                                    "7. Mai 2014")


def test_table_reports_every_figure_and_the_bars() -> None:
    """The table the bench prints at the end of a long run: every figure, and a missed bar makes it fail."""
    figures = {
        "training_documents": 6, "test_documents": 2, "test_pages": 3, "labelled_values": 12, "data": "x",
        "model_languages": ["deu", "eng"], "upload_s": 1.0, "train_s": 2.0, "evaluate_exact_text_accuracy": 0.75,
        "accuracy": {"groups": {"all": {"all": [9, 12]}, "variation": {"clean": [6, 6], "pdf page 2": [0, 1]},
                                "language": {"de": [9, 12]}, "field": {"total_amount": [1, 2]}}, "failures": []},
        "pretrained": {"name": "invoices", "groups": {"all": {"all": [3, 12]}, "variation": {"clean": [3, 6]}}},
        "leave_one_layout_out": {"layouts": {"grid": [5, 6], "letter": [6, 6]}, "mean": 0.917},
        "score_ece": 0.05, "scored_fields": 12, "sync_pages_per_s": 1.5, "async_pages_per_s": None,
        "peak_memory": {"serve_mb": 300.0, "largest_child_mb": 40.0},
        "engine": {"pages": 2, "median_read_ms": 800.0, "read_ms_by_variation": {"clean": 800.0},
                   "median_tesseract_ms": 700.0, "tesseract_ms_by_variation": {"clean": 700.0},
                   "values_read": [5, 6], "cleanup_added_share": 0.14},
    }
    text, met = bench_ocr.table(figures)
    assert not met  # 0.75 overall, page 2 of PDFs 0.0
    for expected in ("0.750  (9/12)  < 0.95", "variation pdf page 2", "deu+eng", "pretrained invoices",
                     "unseen layout grid", "0.917", "1.50 pages/s", "300 MB", "+14%", "(5/6)"):
        assert expected in text, expected
    figures["accuracy"]["groups"] = {"all": {"all": [12, 12]}, "variation": {"clean": [12, 12]}}
    assert not bench_ocr.table(figures)[1]  # the held-out grid: 5/6 < 0.85
    figures["leave_one_layout_out"] = {"layouts": {"grid": [6, 6]}, "mean": 1.0}
    assert bench_ocr.table(figures)[1]
