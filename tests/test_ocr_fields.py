"""The field extractor (server/ocr_fields.py) and its label lexicon (server/ocr_labels.py), on pages of words
made here (no engine): labels in other languages, values below their label, kinds, whole values, values
given without a box, page context, the saved format."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from nanoclient.ocr import values as V
from nanoclient.server.ocr import fields as F
from nanoclient.server.ocr.engine import Page, Word
from nanoclient.server.ocr.labels import concept, concepts_in, document_kind

# ---------------------------------------------------------------------- pages of words

WIDTH, HEIGHT, LINE = 850, 1100, 16


def _words(text: str, x: int, y: int) -> list[Word]:
    found = []
    for part in text.split():
        width = 10 * len(part)
        found.append(Word(part, 0.95, x, y, x + width, y + LINE))
        x += width + 8
    return found


def _page(rows: list[tuple[str, int, int]]) -> Page:
    return Page(WIDTH, HEIGHT, tuple(w for text, x, y in rows for w in _words(text, x, y)))


def _box(page: Page, text: str, field: str) -> F.LabelledBox:
    """The labelled box of ``text`` (consecutive words of the page)."""
    parts = text.split()
    words = list(page.words)
    for start in range(len(words)):
        run = words[start:start + len(parts)]
        if [w.text for w in run] == parts:
            return F.LabelledBox(field, text, run[0].xmin, min(w.ymin for w in run), run[-1].xmax,
                                 max(w.ymax for w in run))
    raise AssertionError(f"{text!r} is not on the page")


NUMBER_LABELS = ["Invoice No:", "Invoice Number:", "Invoice #", "Inv. No.", "Invoice:"]
DATE_LABELS = ["Invoice Date:", "Issued:", "Date of Issue:"]
DUE_LABELS = ["Due Date:", "Payment Due:", "Due By:"]
TOTAL_LABELS = ["Total:", "Total Due:", "Amount Due:", "Balance Due:"]
CUSTOMER_LABELS = ["Bill To:", "Customer:", "Sold To:"]


def _invoice(rng: random.Random, *, labels: tuple[str, str, str, str, str] | None = None, below: bool = False,
             vendor: str | None = None) -> tuple[Page, dict[str, str]]:
    """An invoice page: a vendor on top, the number, the invoice and due dates (in either order, either
    earlier: only their labels tell them apart) and the customer with their labels (beside their value, or
    above it with ``below``), line amounts and a total; its values by field."""
    number_label, date_label, due_label, total_label, customer_label = labels or (
        rng.choice(NUMBER_LABELS), rng.choice(DATE_LABELS), rng.choice(DUE_LABELS), rng.choice(TOTAL_LABELS),
        rng.choice(CUSTOMER_LABELS))
    values = {
        "invoice_number": f"INV-{rng.randrange(10000, 99999)}",
        "invoice_date": f"{rng.randrange(1, 28):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(15, 25)}",
        "due_date": f"{rng.randrange(1, 28):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(15, 25)}",
        "customer_name": rng.choice(["Jane Doe", "Acme Labs", "Harbor Foods", "Silver Oak"]),
        "total_amount": f"{rng.randrange(1, 9)}.{rng.randrange(100, 999)},{rng.randrange(10, 99)}",
        "vendor_name": vendor or rng.choice(["Granite Supply Co.", "Beacon Trading Co.", "Maple Systems Inc."]),
    }
    top = 60 + rng.randrange(0, 40)
    rows = [(values["vendor_name"].replace(".", ""), 60, top)]  # the engine drops the period, as Tesseract does
    x = 520 + rng.randrange(0, 60)
    y = 150 + rng.randrange(0, 40)
    dates = [(date_label, "invoice_date"), (due_label, "due_date")]
    rng.shuffle(dates)
    for label, field in [(number_label, "invoice_number"), *dates]:
        if below:
            rows += [(label, x, y), (values[field], x, y + 24)]
            x += 160
        else:
            rows += [(label, x, y), (values[field], x + 150, y)]
            y += 30
    y = 300 + rng.randrange(0, 40)
    rows += [(customer_label, 60, y), (values["customer_name"], 60, y + 24), ("12 Main Street", 60, y + 48)]
    y += 120
    for _ in range(rng.randrange(2, 5)):  # line amounts: amounts that are not the total
        rows += [("Widget", 60, y), (str(rng.randrange(1, 9)), 400, y),
                 (f"{rng.randrange(10, 99)},{rng.randrange(10, 99)}", 650, y)]
        y += 30
    rows += [(total_label, 450, y + 20), (values["total_amount"], 650, y + 20)]
    return _page(rows), values


def _documents(pages: list[tuple[Page, dict[str, str]]], fields: list[str]) -> list[F.Document]:
    return [[(page, [_box(page, found[f].replace(".", "") if f == "vendor_name" else found[f], f) for f in fields])]
            for page, found in pages]


FIELDS = ["invoice_number", "invoice_date", "due_date", "customer_name", "total_amount"]


def test_labels_in_other_languages_carry_to_a_new_issuer() -> None:
    rng = random.Random(1)
    training = _documents([_invoice(rng) for _ in range(30)], FIELDS)
    extractor, _, _ = F.train(training, FIELDS)
    german = ("Rechnungsnummer:", "Rechnungsdatum:", "Fälligkeitsdatum:", "Gesamtbetrag:", "Rechnungsempfänger:")
    dutch = ("Factuurnummer:", "Factuurdatum:", "Vervaldatum:", "Te betalen:", "Klant:")
    french = ("Facture n°", "Date de facture:", "Échéance:", "Net à payer:", "Client:")
    spanish = ("Número de factura:", "Fecha de factura:", "Vencimiento:", "Importe total:", "Cliente:")
    for labels in (german, dutch, french, spanish):
        for seed in range(3):
            page, found = _invoice(random.Random(seed), labels=labels)
            answers = {value.field: value.text for value in extractor.predict(page)}
            for field in ("invoice_number", "invoice_date", "due_date", "total_amount"):
                assert answers.get(field) == found[field], (labels, field, answers)


def test_values_below_their_label_are_found() -> None:
    rng = random.Random(2)
    pages = [_invoice(rng, below=index % 2 == 0) for index in range(30)]
    extractor, _, _ = F.train(_documents(pages, FIELDS), FIELDS)
    for seed in range(4):
        page, found = _invoice(random.Random(seed), below=True,
                               labels=("Rechnungs-Nr.", "Rechnungsdatum", "Zahlbar bis", "Summe", "Kunde"))
        answers = {value.field: value.text for value in extractor.predict(page)}
        for field in ("invoice_number", "invoice_date", "due_date"):
            assert answers.get(field) == found[field], (field, answers)


def test_an_identifier_field_never_answers_an_amount_nor_a_date_field_anything_but_dates() -> None:
    rng = random.Random(3)
    extractor, _, _ = F.train(_documents([_invoice(rng) for _ in range(20)], FIELDS), FIELDS)
    assert extractor.kinds["invoice_date"] == {V.DATE}
    assert V.AMOUNT not in extractor.kinds["invoice_number"] and V.DATE not in extractor.kinds["invoice_number"]
    assert extractor.kinds["total_amount"] == {V.AMOUNT, V.NUMBER}
    # a page without its invoice number and date: the labels stand beside amounts
    page = _page([("Invoice No:", 520, 150), ("1.234,56", 670, 150), ("Date:", 520, 180), ("77,10", 670, 180),
                  ("Total:", 450, 500), ("9.876,54", 650, 500)])
    answers = {value.field: value.text for value in extractor.predict(page)}
    assert "invoice_number" not in answers and "invoice_date" not in answers, answers
    assert answers["total_amount"] == "9.876,54"


def test_whole_values_keep_the_period_the_engine_dropped() -> None:
    rng = random.Random(4)
    fields = [*FIELDS, "vendor_name"]
    pages = [_invoice(rng) for _ in range(20)]
    documents = [[(page, [*boxes[:-1], F.LabelledBox("vendor_name", found["vendor_name"], *_coords(boxes[-1]))])]
                 for (page, found), [(_, boxes)] in zip(pages, _documents(pages, fields), strict=True)]
    extractor, _, _ = F.train(documents, fields)
    assert extractor.periods["vendor_name"] >= {"Co", "Inc"}
    page, _ = _invoice(random.Random(5), vendor="Redwood Design Co.")
    answers = {value.field: value.text for value in extractor.predict(page)}
    assert answers["vendor_name"] == "Redwood Design Co."


def _coords(box: F.LabelledBox) -> tuple[float, float, float, float]:
    assert box.xmin is not None and box.ymin is not None and box.xmax is not None and box.ymax is not None
    return box.xmin, box.ymin, box.xmax, box.ymax


def test_values_without_boxes_are_found_by_their_normalised_form() -> None:
    page = _page([("ACME Supply Co.", 60, 60), ("Invoice No:", 520, 150), ("INV-4411", 670, 150),
                  ("Date:", 520, 180), ("March 4, 2025", 670, 180), ("Widget", 60, 400), ("$1,234.56", 650, 400),
                  ("Total:", 450, 500), ("$1,234.56", 650, 500)])
    labels = [F.LabelledBox("total_amount", "1234.56", anywhere=True),
              F.LabelledBox("invoice_date", "2025-03-04", anywhere=True),
              F.LabelledBox("vendor_name", "Acme Supply Co", anywhere=True),
              F.LabelledBox("invoice_number", "INV-9999", anywhere=True)]
    placed, missing = F.locate_values([[(page, labels)]])
    found = {box.field: box for box in placed[0][0][1]}
    assert found["invoice_date"].text == "March 4, 2025" and found["vendor_name"].text == "ACME Supply Co."
    assert found["total_amount"].text == "$1,234.56" and found["total_amount"].ymin == 400  # the first of two
    assert all(box.has_box for box in found.values())
    assert missing == [F.MissingValue(0, "invoice_number", "INV-9999", None)]


def test_a_value_written_twice_is_placed_where_the_other_documents_teach() -> None:
    """A total that is also a line's amount: the labels placed without doubt decide which is the total."""
    rng = random.Random(6)
    documents: list[F.Document] = []
    truths = []
    for index in range(12):
        amount = f"{rng.randrange(100, 999)},{rng.randrange(10, 99)}"
        rows = [("Invoice No:", 520, 150), (f"INV-{index}", 670, 150), ("Widget", 60, 400),
                (amount if index % 3 == 0 else f"{rng.randrange(10, 99)},00", 650, 400), ("Total:", 450, 500),
                (amount, 650, 500)]
        page = _page(rows)
        truths.append(amount)
        documents.append([(page, [F.LabelledBox("invoice_number", f"INV-{index}", anywhere=True),
                                  F.LabelledBox("total_amount", amount, anywhere=True)])])
    placed, missing = F.place_values(documents, ["invoice_number", "total_amount"])
    assert not missing
    totals = [box for document in placed for _, boxes in document for box in boxes if box.field == "total_amount"]
    assert [box.ymin for box in totals] == [500] * 12


def test_page_context_is_a_feature() -> None:
    page, _ = _invoice(random.Random(8))
    alone = F.candidates(page, 0, 1)
    last = F.candidates(page, 1, 2)
    assert [c.text for c in alone] == [c.text for c in last]
    assert all(a.features != b.features for a, b in zip(alone, last, strict=True))
    assert F.candidates(page, 1, None)[0].features != last[0].features  # count unknown: a middle page


def test_a_value_running_to_its_segment_end_is_a_candidate() -> None:
    long_name = "Fournitures de Bureau Lefèvre et Fils Associés Réunis SARL"
    page = _page([(long_name, 60, 60)])
    assert long_name in {c.text for c in F.candidates(page)}


def test_saved_extractor_keeps_kinds_and_periods_and_older_formats_load(tmp_path: Path) -> None:
    rng = random.Random(10)
    extractor, _, _ = F.train(_documents([_invoice(rng) for _ in range(10)], FIELDS), FIELDS)
    extractor.periods = {"customer_name": frozenset({"Co", "Inc"})}
    extractor.save(tmp_path / "x.ocr")
    again = F.FieldExtractor.load(tmp_path / "x.ocr")
    assert again.kinds == extractor.kinds and again.periods == extractor.periods
    page, _ = _invoice(random.Random(11))
    assert again.predict(page) == extractor.predict(page)
    with np.load(tmp_path / "x.ocr", allow_pickle=False) as data:
        assert not any(data[key].dtype == object for key in data.files)  # plain arrays
    with open(tmp_path / "old.ocr", "wb") as handle:  # format 2: no kinds, no periods
        np.savez(handle, format=np.array(2), fields=np.array(extractor.fields), classes=np.array(extractor.classes),
                 coef=extractor.coef, intercept=extractor.intercept, calibration=np.array((1.0, 0.0)))
    old = F.FieldExtractor.load(tmp_path / "old.ocr")
    assert old.kinds == {} and old.periods == {} and old.predict(page)


def test_learn_kinds() -> None:
    learnt = F.learn_kinds([("date", "7. Mai 2014"), ("date", "2014-05-07"), ("total", "€4.904,94"),
                            ("total", "1939"), ("total", "56,02"), ("number", "20413"), ("number", "INV-1"),
                            ("name", "Acme Co."), ("name", "Jane Doe"), ("mixed", "12.50"), ("mixed", "Acme")])
    assert learnt["date"] == {V.DATE}
    assert learnt["total"] == {V.AMOUNT, V.NUMBER}
    assert V.AMOUNT not in learnt["number"] and V.NUMBER in learnt["number"]
    assert V.NUMBER not in learnt["name"] and V.NAME in learnt["name"]
    assert "mixed" not in learnt


# ---------------------------------------------------------------------- the lexicon


@pytest.mark.parametrize("label, meaning", [
    ("Invoice No", "invoice_number"), ("Rechnungsnummer:", "invoice_number"), ("Rechnungsnr.", "invoice_number"),
    ("Rechnungs-Nr.", "invoice_number"), ("Facture n°", "invoice_number"), ("Numéro de facture", "invoice_number"),
    ("Factuurnummer", "invoice_number"), ("Número de factura", "invoice_number"), ("Fattura n.", "invoice_number"),
    ("Nº da fatura", "invoice_number"), ("Invoice #", "invoice_number"),
    ("Invoice Date", "invoice_date"), ("Rechnungsdatum", "invoice_date"), ("Date de facture", "invoice_date"),
    ("Factuurdatum", "invoice_date"), ("Fecha de factura", "invoice_date"), ("Data fattura", "invoice_date"),
    ("Due Date", "due_date"), ("Fälligkeitsdatum", "due_date"), ("Échéance", "due_date"), ("Vervaldatum", "due_date"),
    ("Fecha de vencimiento", "due_date"), ("Scadenza", "due_date"), ("Vencimento", "due_date"),
    ("Total Due", "total"), ("Gesamtbetrag", "total"), ("Net à payer", "total"), ("Te betalen", "total"),
    ("Importe total", "total"), ("Totale", "total"), ("Valor total", "total"),
    ("Bill To", "customer"), ("Rechnungsempfänger", "customer"), ("Destinataire", "customer"), ("Klant", "customer"),
    ("Supplier", "vendor"), ("Lieferant", "vendor"), ("Fournisseur", "vendor"), ("Proveedor", "vendor"),
    ("PO Number", "order_number"), ("Bestellnummer", "order_number"), ("N° de commande", "order_number"),
    ("Order Date", "order_date"), ("Bestelldatum", "order_date"), ("Date", "date"), ("Datum:", "date"),
    ("Widget", None), ("", None),
])
def test_label_concepts(label: str, meaning: str | None) -> None:
    assert concept(label.split()) == meaning


def test_concepts_in_a_header_row_and_document_kinds() -> None:
    assert concepts_in("Beschreibung Menge Einzelpreis Betrag".split()) == [
        "description", "quantity", "unit_price", "line_amount"]
    assert document_kind([["ACME", "GmbH"], ["RECHNUNG"], ["Datum"]]) == "invoice"
    assert document_kind([["Bon", "de", "commande"]]) == "order"
    assert document_kind([["Betreff:"], ["Bestellung", "Nr.", "4711"]]) == "order"
    assert document_kind([["Order", "Date:", "2024-01-10"]]) is None  # a label, not a title
    assert document_kind([["Kassenbon"]]) == "receipt"
    assert document_kind([["FACTUUR", "Factuurnr.", "F-17-66244"]]) == "invoice"  # a letter's subject line


def test_identifier_letters_read_as_digits_are_given_back(tmp_path: Path) -> None:
    learnt = F._learn_prefixes([("number", "IO-2015-8256"), ("number", "IO-18-99365"), ("number", "PO2018-7374"),
                                ("number", "PO2019-1"), ("number", "RE-1"), ("number", "RE-2"),
                                ("other", "10-55"), ("other", "IO-1"), ("other", "IO-2")])
    assert learnt["number"] == {"IO", "PO"}  # RE has no look-alike digits
    assert "other" not in learnt  # "10-55" is one of its values: 10- may be right as read
    extractor = F.FieldExtractor(["number"], [F.NONE, "number"], np.zeros((2, F.FEATURES)), np.zeros(2),
                                 prefixes=learnt)
    assert extractor._prefixed("number", "10-2016-9130") == "IO-2016-9130"
    assert extractor._prefixed("number", "P02018-7374") == "PO2018-7374"
    assert extractor._prefixed("number", "I0-702130") == "IO-702130"  # half misread
    assert extractor._prefixed("number", "IO-2016-9130") == "IO-2016-9130"
    assert extractor._prefixed("number", "1234") == "1234"
    assert extractor._prefixed("other", "10-2016") == "10-2016"
    extractor.save(tmp_path / "x.ocr")
    assert F.FieldExtractor.load(tmp_path / "x.ocr").prefixes == learnt


def test_a_page_read_turned_is_seen_upright_and_answered_in_its_own_pixels() -> None:
    """The clean-up turns a page upside down in the upload before reading it: lines and labels are seen where
    the page was read (``Page.upright``), boxes given back where the words are in the upload."""
    rng = random.Random(12)
    extractor, _, _ = F.train(_documents([_invoice(rng) for _ in range(20)], FIELDS), FIELDS)
    page, found = _invoice(random.Random(13))
    turned = tuple(Word(w.text, w.confidence, WIDTH - w.xmax, HEIGHT - w.ymax, WIDTH - w.xmin, HEIGHT - w.ymin)
                   for w in page.words)
    as_read = Page(WIDTH, HEIGHT, turned, upright=page.words, upright_size=(WIDTH, HEIGHT))
    answers = {value.field: value for value in extractor.predict(as_read)}
    upright = {value.field: value for value in extractor.predict(page)}
    for field in ("invoice_number", "invoice_date", "due_date", "total_amount"):
        assert answers[field].text == found[field]
        box = upright[field]
        assert (answers[field].xmin, answers[field].ymin, answers[field].xmax, answers[field].ymax) == (
            WIDTH - box.xmax, HEIGHT - box.ymax, WIDTH - box.xmin, HEIGHT - box.ymin)
    # without the upright words, the turned page reads worse: its lines run backwards
    alone = {value.field: value.text for value in extractor.predict(Page(WIDTH, HEIGHT, turned))}
    assert alone != {field: value.text for field, value in answers.items()}


def test_a_value_never_starts_with_its_label() -> None:
    page = _page([("Factuuradres: Drukkerij de Vries", 60, 300), ("Totaal: 12,50", 450, 500)])
    found = F.candidates(page)
    whole = next(c for c in found if c.text == "Factuuradres: Drukkerij de Vries")
    assert F._without_label(whole, found, None).text == "Drukkerij de Vries"
    assert F._without_label(whole, found, frozenset({V.AMOUNT})) is whole  # the rest is no answer of the field
    named = next(c for c in found if c.text == "Drukkerij de Vries")
    assert F._without_label(named, found, None) is named


def test_an_identifier_read_in_two_at_its_hyphen_is_one_value() -> None:
    page = _page([("PO Number:", 400, 100), ("PO15-", 560, 100), ("32673", 622, 100), ("Jean - Luc", 60, 300)])
    texts = {c.text for c in F.candidates(page)}
    assert "PO15-32673" in texts and "PO15- 32673" not in texts
    assert "Jean - Luc" in texts  # a dash on its own stays apart
