"""nanoclient.ocr.values: amounts, dates and kinds of values as invoices in several languages write them."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from nanoclient.ocr.values import (
    ADDRESS,
    AMOUNT,
    DATE,
    IDENTIFIER,
    NAME,
    NUMBER,
    OTHER,
    comparable_text,
    parse_amount,
    parse_date,
    same_value,
    value_kind,
)


@pytest.mark.parametrize("text, expected", [
    ("1.234,56", "1234.56"), ("1 234,56", "1234.56"), ("1\u202f234,56", "1234.56"), ("1\u00a0234,56", "1234.56"),
    ("56,02", "56.02"), ("€4.904,94", "4904.94"), ("4.904,94 €", "4904.94"), ("$1,234.56", "1234.56"),
    ("1939", "1939"), ("12.5", "12.5"), ("0,99", "0.99"), ("1,234,567.89", "1234567.89"),
    ("1.234.567,89", "1234567.89"), ("1'234.50", "1234.50"), ("CHF 1'234.50", "1234.50"), ("EUR 12,50", "12.50"),
    ("12,50 EUR", "12.50"), ("USD12.00", "12.00"), ("US$ 7.00", "7.00"), ("£ 3.10", "3.10"), ("12,-", "12"),
    ("-12.50", "-12.50"), ("(12.50)", "-12.50"), ("12.50-", "-12.50"), ("-€12", "-12"), ("€ -12,00", "-12.00"),
    ("1,234", "1234"), ("1.234", "1234"), ("1 234", "1234"),
])
def test_amounts_in_the_ways_invoices_write_them(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", [
    "", "abc", "INV-20413", "07.05.2014", "2014-05-07", "1.2.3", "12,34,56", "1,23,4", "12 34", "1.234,5.6", "€",
    "12a", "Total 12.50", "1 2345", "12345,678,9",
])
def test_what_is_no_amount(text: str) -> None:
    assert parse_amount(text) is None


def test_a_locale_settles_what_the_text_cannot() -> None:
    assert parse_amount("1,234", "en") == Decimal("1234")
    assert parse_amount("1,234", "de_DE") == Decimal("1.234")
    assert parse_amount("1.234", "de") == Decimal("1234")
    assert parse_amount("1.234", "en_US") == Decimal("1.234")
    assert parse_amount("1.234", "de-CH") == Decimal("1.234")
    # a form the locale cannot read is read as without one
    assert parse_amount("12.50", "de") == Decimal("12.50")
    assert parse_amount("56,02", "en") == Decimal("56.02")
    assert parse_amount("1.234,56", "en") == Decimal("1234.56")


@pytest.mark.parametrize("text, expected", [
    ("7. Mai 2014", (2014, 5, 7)), ("02 Juillet 2015", (2015, 7, 2)), ("07.05.2014", (2014, 5, 7)),
    ("2014-05-07", (2014, 5, 7)), ("2014/05/07", (2014, 5, 7)), ("May 7, 2014", (2014, 5, 7)),
    ("7 May 2014", (2014, 5, 7)), ("Jan. 5, 2014", (2014, 1, 5)), ("Sept 30, 2021", (2021, 9, 30)),
    ("7 de mayo de 2014", (2014, 5, 7)), ("7 maggio 2014", (2014, 5, 7)), ("7 de Maio de 2014", (2014, 5, 7)),
    ("7 mei 2014", (2014, 5, 7)), ("3 maart 2020", (2020, 3, 3)), ("3 März 2020", (2020, 3, 3)),
    ("3. Maerz 2020", (2020, 3, 3)), ("12 févr. 2021", (2021, 2, 12)), ("12 fevrier 2021", (2021, 2, 12)),
    ("1er juillet 2015", (2015, 7, 1)), ("Monday, 7th May 2014", (2014, 5, 7)), ("07-May-2014", (2014, 5, 7)),
    ("7th of May 2014", (2014, 5, 7)),
    ("Dezember 24, 2019", (2019, 12, 24)), ("31 dic 2019", (2019, 12, 31)), ("25/12/2014", (2014, 12, 25)),
    ("12/25/2014", (2014, 12, 25)), ("7-5-14", (2014, 5, 7)), ("07.05.14", (2014, 5, 7)),
    ("2014 May 7", (2014, 5, 7)), ("15 août 2016", (2016, 8, 15)), ("1 October 1999", (1999, 10, 1)),
])
def test_dates_in_several_languages_and_orders(text: str, expected: tuple[int, int, int]) -> None:
    assert parse_date(text) == dt.date(*expected)


def test_day_or_month_first() -> None:
    # slashes without a hint: month first, as US invoices write them; dots and dashes day first
    assert parse_date("05/07/2014") == dt.date(2014, 5, 7)
    assert parse_date("05.07.2014") == dt.date(2014, 7, 5)
    assert parse_date("05-07-2014") == dt.date(2014, 7, 5)
    assert parse_date("05/07/2014", "fr") == dt.date(2014, 7, 5)
    assert parse_date("05/07/2014", "en_GB") == dt.date(2014, 7, 5)
    assert parse_date("05/07/2014", "en_US") == dt.date(2014, 5, 7)
    assert parse_date("05/07/2014", "en") == dt.date(2014, 5, 7)
    assert parse_date("05.07.2014", "en_US") == dt.date(2014, 5, 7)
    assert parse_date("05/07/2014", day_first=True) == dt.date(2014, 7, 5)
    assert parse_date("05.07.2014", "de", day_first=False) == dt.date(2014, 5, 7)
    # numbers settle it whatever the hint
    assert parse_date("25/12/2014", "en_US") == dt.date(2014, 12, 25)
    assert parse_date("12/25/2014", "de") == dt.date(2014, 12, 25)


@pytest.mark.parametrize("text", [
    "", "2014", "May", "May 2014 2015 1", "13/13/2014", "31.02.2014", "2014-13-01", "Invoice 7 May 2014",
    "INV-20413", "1.234,56", "7 Foo 2014", "32 May 2014", "5/7", "1939", "2025 28 de mayo de", "le 29 novembre 2016",
])
def test_what_is_no_date(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize("text, kind", [
    ("7. Mai 2014", DATE), ("2014-05-07", DATE), ("$1,234.56", AMOUNT), ("56,02", AMOUNT), ("€4.904,94", AMOUNT),
    ("1939", NUMBER), ("20413", NUMBER), ("INV-20413", IDENTIFIER), ("PO-2014-0042", IDENTIFIER),
    ("No. 4521", IDENTIFIER), ("A123B", IDENTIFIER), ("2014/0042", IDENTIFIER), ("Acme Supply Co.", NAME),
    ("Müller GmbH", NAME), ("Jane Doe", NAME), ("Gartenstraße 12", ADDRESS), ("12 Main Street", ADDRESS),
    ("10115 Berlin", ADDRESS), ("1012 AB Amsterdam", ADDRESS), ("Rue de la Paix", ADDRESS), ("", OTHER),
    ("Total due 12 items and more", OTHER), ("!!", OTHER), ("www.baeckerei.example", OTHER),
    ("info@acme.com", OTHER), ("https://acme.de/rechnung", OTHER),
])
def test_kinds(text: str, kind: str) -> None:
    assert value_kind(text) == kind


@pytest.mark.parametrize("a, b, same", [
    ("4904.94", "€4.904,94", True), ("1939", "1.939,00", True), ("2014-05-07", "7. Mai 2014", True),
    ("2014-05-07", "May 7, 2014", True), ("07.05.2014", "2014-05-07", True), ("ACME Co.", "Acme Co", True),
    ("Müller  GmbH", "muller gmbh", True), ("INV-20413", "INV 20413", True), ("INV-20413", "INV-20414", False),
    ("12.50", "12.51", False), ("2014-05-07", "2014-05-08", False), ("", "", False), ("12.50", "", False),
    ("1939", "INV-1939", False), ("Acme", "Acme Co.", False),
])
def test_same_value(a: str, b: str, same: bool) -> None:
    assert same_value(a, b) is same
    assert same_value(b, a) is same


def test_comparable_text() -> None:
    assert comparable_text(" Straße  Nº 5, Köln. ") == "strasseno5koln"  # NFKD makes º an o


def test_normalized_and_the_sdk_fields() -> None:
    from nanoclient import OcrField
    from nanoclient.ocr.values import normalized

    assert normalized("7. Mai 2014") == "2014-05-07"
    assert normalized("€4.904,94") == "4904.94"
    assert normalized("05/07/2014", "de") == "2014-07-05"
    assert normalized(" INV-20413 ") == "INV-20413"
    assert normalized("Acme   Co.") == "Acme Co."
    field = OcrField("total", "1.234,56 €", 0.9, 1, 2, 3, 4)
    assert field.as_amount() == Decimal("1234.56") and field.as_date() is None
    assert OcrField("total", "1.234", None, 0, 0, 1, 1).as_amount("de") == Decimal("1234")
    assert OcrField("total", "1.234", None, 0, 0, 1, 1).as_amount("en") == Decimal("1.234")
    date = OcrField("due", "05/07/2014", None, 0, 0, 1, 1)
    assert date.as_date() == dt.date(2014, 5, 7) and date.as_date("fr") == dt.date(2014, 7, 5)
    assert date.as_amount() is None


def test_ocr_predict_normalize_rows() -> None:
    """``ocr predict --normalize``: each field's row gets its value in one form; without it, no value column."""
    from nanoclient.cli.ocr._run import page_rows
    from nanoclient.ocr.types import OcrField, OcrPage

    page = OcrPage("a.pdf", 1, fields=(OcrField("date", "7. Mai 2014", 0.9, 0, 0, 1, 1),
                                       OcrField("total", "1.234,56 €", 0.8, 0, 0, 1, 1),
                                       OcrField("number", "INV  42", 0.7, 0, 0, 1, 1)))
    empty = OcrPage("a.pdf", 2)
    rows = page_rows("a.pdf", [page, empty], normalize="")
    assert [(row["field"], row["value"]) for row in rows] == [
        ("date", "2014-05-07"), ("total", "1234.56"), ("number", "INV 42"), ("", "")]
    assert page_rows("a.pdf", [OcrPage("a.pdf", fields=(OcrField("d", "05/07/2014", None, 0, 0, 1, 1),))],
                     normalize="de")[0]["value"] == "2014-07-05"
    assert all("value" not in row for row in page_rows("a.pdf", [page, empty]))
