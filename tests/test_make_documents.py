"""scripts/make_documents.py: documents in many layouts, languages and variations, with field annotations whose boxes
lie on the stored pages; reproducible from a seed."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import load_script
from PIL import Image

from nanoclient.ocr.values import parse_amount, parse_date, value_kind

ROOT = Path(__file__).resolve().parent.parent

make_documents = load_script(ROOT / "scripts" / "make_documents.py")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "README.md"}  # the README names the --out folder


def _page_sizes(path: Path) -> list[tuple[int, int]]:
    """Pixel sizes of a document's pages as the server draws them (a PDF's at 150 dpi)."""
    if path.suffix != ".pdf":
        with Image.open(path) as image:
            return [image.size]
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(path.read_bytes())
    try:
        return [pdf[k].render(scale=150 / 72).to_pil().size for k in range(len(pdf))]
    finally:
        pdf.close()


def _make(out: Path, seed: int) -> None:
    assert make_documents.main(["--out", str(out), "--train", "4", "--test", "2", "--seed", str(seed),
                                "--languages", "en,de,fr", "--layouts", "grid,two_column,receipt"]) == 0


def test_documents_annotations_and_reproducibility(tmp_path: Path) -> None:
    out = tmp_path / "a"
    _make(out, 5)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [entry["split"] for entry in manifest] == ["train"] * 4 + ["test"] * 2
    assert {entry["variation"] for entry in manifest} == {"clean", "scanned", "photo", "pdf"}
    assert {entry["language"] for entry in manifest} == {"en", "de", "fr"}
    listed = {entry["file"] for entry in manifest}
    stored = {p.relative_to(out).as_posix() for p in out.glob("*/*") if p.suffix != ".json"}
    assert listed == stored
    pdfs = 0
    for entry in manifest:
        path = out / entry["file"]
        assert path.stem.split("_")[-1] == entry["variation"] and entry["language"] in path.stem
        annotation = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert annotation["filename"] == path.name
        sizes = _page_sizes(path)
        assert len(sizes) == entry["pages"]
        names = [o["name"] for o in annotation["object"]]
        expected = set(make_documents.FIELDS) - ({"due_date"} if entry["kind"] == "receipt" else set())
        assert sorted(names) == sorted(expected)
        for o in annotation["object"]:
            box, (width, height) = o["bndbox"], sizes[o.get("page", 0)]
            assert 0 <= box["xmin"] < box["xmax"] <= width and 0 <= box["ymin"] < box["ymax"] <= height, (path, o)
            assert o["ocr_text"] == o["ocr_text"].strip() and o["ocr_text"]
        values = {o["name"]: o["ocr_text"] for o in annotation["object"]}
        assert value_kind(values["invoice_number"]) != "amount"  # never an amount as an identifier
        assert parse_amount(values["total_amount"]) is not None
        assert parse_date(values["invoice_date"]) is not None
        if entry["variation"] == "pdf":
            pdfs += 1
            assert entry["pages"] == 2 and path.read_bytes().startswith(b"%PDF")
            pages = {o["name"]: o["page"] for o in annotation["object"]}
            assert pages["total_amount"] == 1 and pages["invoice_number"] == 0
        elif entry["variation"] in ("scanned", "photo"):
            assert path.suffix == ".jpg"
    assert pdfs >= 1

    _make(tmp_path / "b", 5)
    _make(tmp_path / "c", 6)
    first, again, other = (_files(tmp_path / d) for d in "abc")
    assert first == again
    assert all(other.get(name) != data for name, data in first.items() if name != "manifest.json")


@pytest.mark.parametrize("language, words", [
    ("en", ["Invoice", "Total"]),
    ("de", ["Rechnungsnummer", "Rechnungsnr.", "Rechnung Nr.", "Beleg-Nr.", "Gesamtbetrag", "Zu zahlen"]),
    ("fr", ["Numéro de facture", "Facture n°", "N° de facture", "Total TTC", "Net à payer"]),
    ("nl", ["Factuurnummer", "Factuurnr.", "Factuur nr.", "Totaal", "Te betalen"]),
    ("es", ["Número de factura", "Factura n.º", "N.º factura", "Total", "Importe total"]),
])
def test_each_language_has_its_own_words(language: str, words: list[str]) -> None:
    """A document in a language is drawn with that language's labels, date and amount forms."""
    families = make_documents.available_families()
    spec = make_documents.Spec(1, "train", "invoice", "two_column", language, "clean")
    pages = make_documents.draw_document(spec, random.Random(f"words/{language}"), families)
    drawn = " | ".join(word for page in pages for word in page.words)
    assert any(word in drawn for word in words), drawn
    fields = {name: text for page in pages for name, (text, _) in page.fields.items()}
    if language != "en":
        assert "," in fields["total_amount"] and "." not in fields["total_amount"][-3:]  # decimal comma
    locale = {"en": "en_US"}.get(language, language)
    assert parse_amount(fields["total_amount"], locale) is not None


def test_forms_and_names() -> None:
    """The forms users meet: German and French dates and amounts, umlauts and accents in names."""
    day = make_documents.dt.date(2014, 5, 7)
    de, fr, en = (make_documents.LANGUAGES[k] for k in ("de", "fr", "en"))
    assert make_documents.format_date(day, "d. Month y", de) == "7. Mai 2014"
    assert make_documents.format_date(day, "dmy.", de) == "07.05.2014"
    assert make_documents.format_date(make_documents.dt.date(2015, 7, 2), "dd Month y", fr) == "02 Juillet 2015"
    assert make_documents.format_date(day, "iso", en) == "2014-05-07"
    assert make_documents.format_amount(123456, (".", ",", "", " €")) == "1.234,56 €"
    assert make_documents.format_amount(123456, (" ", ",", "", " €")) == "1 234,56 €"
    assert make_documents.format_amount(490494, (".", ",", "€", "")) == "€4.904,94"
    assert make_documents.format_amount(123456, (",", ".", "$", "")) == "$1,234.56"
    rng = random.Random(1)
    german = " ".join(de.company(rng) + " " + " ".join(de.address(rng)) for _ in range(40))
    assert any(ch in german for ch in "äöüß")


def test_scan_and_photo_map_boxes_onto_the_stored_page() -> None:
    """A field's box follows the page through the scan's turn and the photo's perspective: the pixels a black
    bar changes (the same transform with and without it) lie inside the mapped box, which is not much larger."""
    import numpy as np

    blank = Image.new("L", (400, 600), 255)
    marked = blank.copy()
    marked.paste(0, (100, 200, 160, 230))
    # scans turned by 90 (seed 0), 270 (2) and 180 (20) degrees, one not turned (1); two photos
    for k, kind in ((0, "scan"), (2, "scan"), (20, "scan"), (1, "scan"), (3, "photo"), (4, "photo")):
        results = []
        for page in (blank, marked):
            source = make_documents.PageOut(page, {"total_amount": ("x", (100, 200, 160, 230))})
            rng, gen = random.Random(k), np.random.default_rng(k)
            results.append(make_documents.scan(source, rng, gen)[0] if kind == "scan" else
                           make_documents.photograph(source, rng, gen))
        before, after = (np.asarray(r.image.convert("L"), dtype=np.int16) for r in results)
        changed = np.argwhere(before - after > 60)
        x0, y0, x1, y1 = results[1].fields["total_amount"][1]
        assert len(changed) > 100
        inside = (changed[:, 1] >= x0 - 1) & (changed[:, 1] <= x1) & (changed[:, 0] >= y0 - 1) & (changed[:, 0] <= y1)
        assert inside.mean() > 0.99, (k, inside.mean())
        ink_w = changed[:, 1].max() - changed[:, 1].min() + 1
        ink_h = changed[:, 0].max() - changed[:, 0].min() + 1
        assert (x1 - x0) * (y1 - y0) < 1.6 * ink_w * ink_h, k
        assert results[1].image.size == results[0].image.size


def test_a_longer_pdf_of_scanned_pages(tmp_path: Path) -> None:
    """--variations scanned_pdf --pdf-pages 3: the line items fill about three pages, the header's fields on the
    first, the total on the last, every box on its page."""
    out = tmp_path / "long"
    assert make_documents.main(["--out", str(out), "--train", "1", "--test", "0", "--variations", "scanned_pdf",
                                "--pdf-pages", "3", "--layouts", "classic", "--languages", "de"]) == 0
    (entry,) = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    path = out / entry["file"]
    sizes = _page_sizes(path)
    assert entry["variation"] == "scanned_pdf" and len(sizes) == entry["pages"] >= 3
    annotation = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    pages = {o["name"]: o["page"] for o in annotation["object"]}
    assert pages["invoice_number"] == 0 and pages["total_amount"] == len(sizes) - 1
    for o in annotation["object"]:
        box, (width, height) = o["bndbox"], sizes[o["page"]]
        assert 0 <= box["xmin"] < box["xmax"] <= width and 0 <= box["ymin"] < box["ymax"] <= height
