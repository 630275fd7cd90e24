#!/usr/bin/env python3
"""Make the project's own OCR data set: synthetic invoice pages with annotated fields.

    python scripts/make_invoices.py                  # writes images/invoices/train/ and images/invoices/test/
    python scripts/make_invoices.py --out /tmp/inv --train 5 --test 2 --seed 3

For training and testing OCR models (field extraction) offline. Each page is an 850 x 1100
grayscale invoice (letter at 100 dpi) drawn with Pillow, with one of four layouts, varied
label wording, fonts and sizes, a vendor address block, a line-items table and a totals
block, so that numbers and dates that are not fields stand beside the ones that are. Beside
each page, ``invoice_NNN.json`` is its annotation in the Nanonets OCR form::

    {"filename": "invoice_001.png",
     "object": [{"name": "invoice_number", "ocr_text": "INV-20413",
                 "bndbox": {"xmin": 612, "ymin": 88, "xmax": 731, "ymax": 110}}, ...]}

with the six fields of FIELDS in every document, each box the value's ink plus a 2 px margin.
About one page in eight is a JPEG (quality 90), the others PNG.

The same seed gives byte-identical files: every document draws from its own generators
seeded by (seed, split, number), and nothing depends on the clock.

For documents as users bring them (more layouts, other languages, scans, phone photos, multi-page
PDFs), see ``scripts/make_documents.py``, which draws with this file's fonts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEFAULT_SEED = 29
DEFAULT_TRAIN = 50
DEFAULT_TEST = 30
WIDTH, HEIGHT = 850, 1100
#: Pixels around a value's ink in its annotated box.
BOX_MARGIN = 2
#: Free space kept around every field's box (no other ink within it).
CLEARANCE = 6
#: Least horizontal space between two texts on a line (a long description must not run into the quantity).
TEXT_GAP = 10
#: Body text sizes in pixels (headings up to MAX_SIZE, the "INVOICE" title larger).
MIN_SIZE, MAX_SIZE = 17, 22
JPEG_EVERY = 8
FIELDS = ("invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount")

FONT_DIR = Path("/usr/share/fonts")
#: Family -> (regular file, bold file).
FONT_FILES = {
    "DejaVuSans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "DejaVuSerif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "LiberationSans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    "LiberationSerif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    "LiberationMono": ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Box = tuple[int, int, int, int]

# --- word lists (ASCII only: the OCR engine reads English) ---------------------------------

VENDOR_FIRST = ["Acme", "Northwind", "Bluestone", "Redwood", "Summit", "Harbor", "Granite", "Silver Oak",
                "Pioneer", "Lakeside", "Evergreen", "Cedar", "Atlas", "Beacon", "Crescent", "Ironbridge",
                "Maple", "Orion", "Keystone", "Brightline"]
VENDOR_SECOND = ["Supply", "Logistics", "Systems", "Consulting", "Industries", "Trading", "Labs", "Printing",
                 "Foods", "Electric", "Software", "Design", "Builders", "Medical"]
VENDOR_SUFFIX = ["Inc.", "LLC", "Ltd", "Co.", "Corp.", "Group"]
FIRST_NAMES = ["Maria", "James", "Linda", "Robert", "Susan", "David", "Karen", "Michael", "Emily", "Daniel",
               "Sarah", "Thomas", "Laura", "Kevin", "Nancy", "Brian", "Olivia", "George", "Hannah", "Peter"]
LAST_NAMES = ["Lopez", "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
              "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young"]
STREETS = ["Main Street", "Oak Avenue", "Market Street", "Elm Road", "Park Lane", "River Drive", "Hill Street",
           "Lake View Road", "Commerce Way", "Industrial Blvd"]
CITIES = [("Springfield", "IL"), ("Portland", "OR"), ("Austin", "TX"), ("Denver", "CO"), ("Madison", "WI"),
          ("Raleigh", "NC"), ("Columbus", "OH"), ("Boise", "ID"), ("Albany", "NY"), ("Tucson", "AZ")]
ITEMS = ["Consulting services", "Office chairs", "Printer paper (box)", "Web hosting", "Software license",
         "Delivery fee", "Maintenance visit", "Network cables", "Design work (hours)", "Toner cartridge",
         "Laptop stand", "Training session", "Cloud storage", "Cleaning service", "Desk lamp", "Support plan"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

LABELS = {
    "invoice_number": ["Invoice No:", "Invoice #", "Invoice Number", "Invoice No.", "Invoice"],
    "invoice_date": ["Date:", "Invoice Date", "Issued", "Date of Issue"],
    "due_date": ["Due Date", "Payment Due", "Due:", "Due By"],
    "customer_name": ["Bill To", "Customer", "Billed To", "Invoice To"],
    "total_amount": ["Total", "Total Due", "Amount Due", "Balance Due"],
}
TITLES = ["INVOICE", "Invoice", "TAX INVOICE"]
FOOTERS = ["Thank you for your business!", "Please pay within the terms stated above.",
           "Questions? Contact our billing team.", "Late payments are subject to a 1.5% monthly fee."]


# --- values ---------------------------------------------------------------------------------

def _invoice_number(rng: random.Random, year: int) -> str:
    style = rng.randrange(5)
    if style == 0:
        return f"INV-{rng.randrange(10000, 99999)}"
    if style == 1:
        return f"{year}-{rng.randrange(1, 9999):04d}"
    if style == 2:
        return f"{rng.choice('ABCDEFGHKMNPRST')}-{rng.randrange(10000, 99999)}"
    if style == 3:
        return f"#{rng.randrange(10000, 99999)}"
    return f"INV{rng.randrange(100000, 999999)}"


def _format_date(day: dt.date, style: int) -> str:
    if style == 0:
        return day.isoformat()
    if style == 1:
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def _money(cents: int, dollar: bool) -> str:
    text = f"{cents // 100:,}.{cents % 100:02d}"
    return f"${text}" if dollar else text


def _company(rng: random.Random) -> str:
    return f"{rng.choice(VENDOR_FIRST)} {rng.choice(VENDOR_SECOND)} {rng.choice(VENDOR_SUFFIX)}"


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _address(rng: random.Random) -> list[str]:
    city, state = rng.choice(CITIES)
    lines = [f"{rng.randrange(10, 9999)} {rng.choice(STREETS)}"]
    if rng.random() < 0.3:
        lines.append(f"Suite {rng.randrange(100, 999)}")
    lines.append(f"{city}, {state} {rng.randrange(10000, 99999)}")
    return lines


class Invoice(NamedTuple):
    """The content of one document: the six field values and the distractors around them."""

    values: dict[str, str]
    vendor_address: list[str]
    vendor_contact: str
    customer_address: list[str]
    items: list[tuple[str, int, str, str]]  # description, quantity, unit price, amount
    subtotal: str
    tax_label: str
    tax: str
    po_number: str
    order_date: str


def make_content(rng: random.Random) -> Invoice:
    issued = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(540))
    due = issued + dt.timedelta(days=rng.choice([14, 15, 30, 45, 60]))
    date_style = rng.randrange(3)
    dollar = rng.random() < 0.5
    items = []
    subtotal = 0
    for description in rng.sample(ITEMS, rng.randint(2, 6)):
        quantity = rng.randint(1, 20)
        unit = rng.randrange(500, 50000)
        if rng.random() < 0.25:  # a distractor date in the description
            start = issued - dt.timedelta(days=rng.randrange(20, 60))
            description = f"{description.split(' (')[0]} from {_format_date(start, date_style)}"
        items.append((description, quantity, _money(unit, dollar), _money(quantity * unit, dollar)))
        subtotal += quantity * unit
    rate = rng.choice([0, 5, 7, 8, 10, 20])
    tax = subtotal * rate // 100
    vendor = _company(rng)
    domain = vendor.split()[0].lower() + ".com"
    contact = rng.choice([f"Phone: (555) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}",
                          f"billing@{domain}", f"www.{domain}"])
    return Invoice(
        values={
            "invoice_number": _invoice_number(rng, issued.year),
            "invoice_date": _format_date(issued, date_style),
            "due_date": _format_date(due, date_style),
            "vendor_name": vendor,
            "customer_name": _person(rng) if rng.random() < 0.6 else _company(rng),
            "total_amount": _money(subtotal + tax, dollar),
        },
        vendor_address=_address(rng),
        vendor_contact=contact,
        customer_address=_address(rng),
        items=items,
        subtotal=_money(subtotal, dollar),
        tax_label=f"Tax ({rate}%)",
        tax=_money(tax, dollar),
        po_number=f"PO-{rng.randrange(10000, 99999)}",
        order_date=_format_date(issued - dt.timedelta(days=rng.randrange(1, 20)), date_style),
    )


# --- drawing --------------------------------------------------------------------------------

def _font_path(name: str) -> Path | None:
    found = sorted(FONT_DIR.rglob(name)) if FONT_DIR.is_dir() else []
    return found[0] if found else None


def available_families() -> dict[str, tuple[Path, Path]]:
    """The families of FONT_FILES installed here, each with its regular and bold file."""
    families = {}
    for family, (regular, bold) in FONT_FILES.items():
        regular_path, bold_path = _font_path(regular), _font_path(bold)
        if regular_path is not None:
            families[family] = (regular_path, bold_path or regular_path)
    return families


class Fonts:
    """One family at every size, regular or bold, loaded once."""

    def __init__(self, files: tuple[Path, Path] | None) -> None:
        self.files = files
        self.cache: dict[tuple[int, bool], Font] = {}

    def get(self, size: int, bold: bool = False) -> Font:
        key = (size, bold)
        if key not in self.cache:
            if self.files is None:
                self.cache[key] = ImageFont.load_default(size)
            else:
                self.cache[key] = ImageFont.truetype(str(self.files[1 if bold else 0]), size)
        return self.cache[key]


class Overlap(Exception):
    """A field's box comes too near other ink or the page's edge: the document is drawn again."""


class Page:
    """A page being drawn: the ink boxes of everything on it and the boxes of the fields."""

    def __init__(self, draw: ImageDraw.ImageDraw, ink: int) -> None:
        self.draw = draw
        self.ink = ink
        self.boxes: list[Box] = []  # text and rules
        self.texts: list[Box] = []
        self.fields: dict[str, tuple[str, Box]] = {}

    def text(self, x: float, y: float, text: str, font: Font, anchor: str = "la", name: str | None = None) -> Box:
        """Draw ``text`` with its ``anchor`` at (x, y); return its box (exclusive right and bottom).

        The box is the font's for other text, and the exact ink's for a field (``name``): the
        text drawn alone on a scrap, moved by whole pixels so that it is rasterized the same.
        """
        left, top, right, bottom = (int(v) for v in self.draw.textbbox((x, y), text, font=font, anchor=anchor))
        self.draw.text((x, y), text, fill=self.ink, font=font, anchor=anchor)
        box = (left, top, right + 1, bottom + 1)
        if name is not None:
            pad = 4
            scrap = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
            ImageDraw.Draw(scrap).text((x - left + pad, y - top + pad), text, fill=255, font=font, anchor=anchor)
            ink = scrap.getbbox()
            assert ink is not None, text
            box = (ink[0] + left - pad, ink[1] + top - pad, ink[2] + left - pad, ink[3] + top - pad)
            self.fields[name] = (text, box)
        self.boxes.append(box)
        self.texts.append(box)
        return box

    def line(self, x0: float, y0: float, x1: float, y1: float, width: int = 1) -> None:
        self.draw.line([(x0, y0), (x1, y1)], fill=self.ink, width=width)
        self.boxes.append((int(x0), int(y0) - width, int(x1) + 1, int(y1) + width + 1))

    def check(self) -> None:
        """No two texts on a line nearer than TEXT_GAP, every field box clear of other ink by CLEARANCE and
        inside the page, or Overlap."""
        for k, a in enumerate(self.texts):
            for b in self.texts[k + 1:]:
                if a[0] - TEXT_GAP < b[2] and b[0] < a[2] + TEXT_GAP and a[1] < b[3] and b[1] < a[3]:
                    raise Overlap(f"texts at {a} and {b} overlap")
        for name, (_, box) in self.fields.items():
            x0, y0, x1, y1 = box[0] - CLEARANCE, box[1] - CLEARANCE, box[2] + CLEARANCE, box[3] + CLEARANCE
            if x0 < 0 or y0 < 0 or x1 > WIDTH or y1 > HEIGHT:
                raise Overlap(f"{name} too near the edge")
            for other in self.boxes:
                if other == box:
                    continue
                if other[0] < x1 and x0 < other[2] and other[1] < y1 and y0 < other[3]:
                    raise Overlap(f"{name} overlaps {other}")


class Style(NamedTuple):
    """The look of one document: fonts, sizes, label wording, jitter."""

    fonts: Fonts
    body: int
    head: int
    small: int
    title: int
    line: int  # line height of body text
    labels: dict[str, str]
    labels_bold: bool
    rng: random.Random

    def jitter(self, amount: int = 15) -> int:
        return self.rng.randint(-amount, amount)

    def font(self, bold: bool = False, size: int | None = None) -> Font:
        return self.fonts.get(size or self.body, bold)

    def label_font(self) -> Font:
        return self.font(self.labels_bold)


def _vendor_block(page: Page, s: Style, inv: Invoice, x: int, y: int, anchor: str = "la") -> int:
    """Vendor name and address from (x, y); return the y below it."""
    page.text(x, y, inv.values["vendor_name"], s.font(True, s.head), anchor, name="vendor_name")
    y += s.head + s.head // 2
    for line in [*inv.vendor_address, inv.vendor_contact]:
        page.text(x, y, line, s.font(size=s.small), anchor)
        y += s.small + s.small // 2
    return y


def _customer_block(page: Page, s: Style, inv: Invoice, x: int, y: int, inline: bool) -> int:
    """'Bill To' and the customer, on one line or above it, then the address; return the y below."""
    label = s.labels["customer_name"]
    if inline:
        box = page.text(x, y, label + ":", s.label_font())
        page.text(box[2] + s.body // 2 + 4, y, inv.values["customer_name"], s.font(), name="customer_name")
    else:
        page.text(x, y, label, s.label_font())
        y += s.line
        page.text(x, y, inv.values["customer_name"], s.font(), name="customer_name")
    y += s.line
    for line in inv.customer_address:
        page.text(x, y, line, s.font(size=s.small))
        y += s.small + s.small // 2
    return y


def _meta_rows(s: Style, inv: Invoice, distractors: bool) -> list[tuple[str, str, str | None]]:
    rows: list[tuple[str, str, str | None]] = [
        (s.labels["invoice_number"], inv.values["invoice_number"], "invoice_number"),
        (s.labels["invoice_date"], inv.values["invoice_date"], "invoice_date"),
        (s.labels["due_date"], inv.values["due_date"], "due_date"),
    ]
    if distractors:
        extra = [("PO Number", inv.po_number, None), ("Order Date", inv.order_date, None)]
        rows.insert(s.rng.randint(1, 3), extra[s.rng.randrange(2)])
    return rows


def _meta_inline(page: Page, s: Style, rows: list[tuple[str, str, str | None]], right: int, y: int,
                 aligned: bool) -> int:
    """Label and value on one line; the block right-aligned at ``right``.

    With ``aligned`` the values start in one column after the longest label, else each value
    follows its label.
    """
    label_font, value_font = s.label_font(), s.font()
    gap = s.body
    labels = [label if label.endswith((":", "#", ".")) else label + ":" for label, _, _ in rows]
    label_w = max(int(label_font.getlength(label)) for label in labels)
    value_w = max(int(value_font.getlength(value)) for _, value, _ in rows)
    if aligned:
        x = right - label_w - gap - value_w
        for label, (_, value, name) in zip(labels, rows, strict=True):
            page.text(x, y, label, label_font)
            page.text(x + label_w + gap, y, value, value_font, name=name)
            y += s.line
    else:
        for label, (_, value, name) in zip(labels, rows, strict=True):
            page.text(right, y, value, value_font, "ra", name=name)
            page.text(right - value_font.getlength(value) - gap, y, label, label_font, "ra")
            y += s.line
    return y


def _meta_stacked(page: Page, s: Style, rows: list[tuple[str, str, str | None]], x: int, y: int,
                  anchor: str = "la") -> int:
    """Label above value, one pair under the other."""
    for label, value, name in rows:
        page.text(x, y, label.rstrip(":"), s.label_font(), anchor)
        y += s.line
        page.text(x, y, value, s.font(), anchor, name=name)
        y += s.line + s.body // 2
    return y


def _meta_row(page: Page, s: Style, rows: list[tuple[str, str, str | None]], left: int, right: int, y: int) -> int:
    """Labels side by side in columns across the page, each value under its label."""
    step = (right - left) // len(rows)
    for k, (label, value, name) in enumerate(rows):
        x = left + k * step
        page.text(x, y, label.rstrip(":"), s.label_font())
        page.text(x, y + s.line, value, s.font(), name=name)
    return y + 2 * s.line


def _items_table(page: Page, s: Style, inv: Invoice, left: int, right: int, y: int) -> int:
    """The line items: description, quantity, unit price, amount; return the y below."""
    head = s.label_font()
    qty_x, unit_x = left + int((right - left) * 0.58), left + int((right - left) * 0.78)
    page.line(left, y - 6, right, y - 6)
    page.text(left + 8, y, "Description", head)
    page.text(qty_x, y, "Qty", head, "ra")
    page.text(unit_x, y, s.rng.choice(["Unit Price", "Rate", "Price"]), head, "ra")
    page.text(right - 8, y, "Amount", head, "ra")
    y += s.line + 2
    page.line(left, y - 6, right, y - 6)
    for description, quantity, unit, amount in inv.items:
        page.text(left + 8, y, description, s.font())
        page.text(qty_x, y, str(quantity), s.font(), "ra")
        page.text(unit_x, y, unit, s.font(), "ra")
        page.text(right - 8, y, amount, s.font(), "ra")
        y += s.line + 4
    page.line(left, y, right, y)
    return y + s.line


def _totals(page: Page, s: Style, inv: Invoice, right: int, y: int) -> int:
    """Subtotal, tax and total at the bottom right; only the total is a field."""
    label_x = right - int(s.font(True).getlength("$99,999.99")) - 3 * s.body - int(
        s.font(True).getlength(s.labels["total_amount"] + ":"))
    for label, value in (("Subtotal", inv.subtotal), (inv.tax_label, inv.tax)):
        page.text(label_x, y, label + ":", s.font())
        page.text(right, y, value, s.font(), "ra")
        y += s.line + 2
    y += 6
    page.line(label_x, y - 6, right, y - 6)
    page.text(label_x, y, s.labels["total_amount"] + ":", s.font(True))
    page.text(right, y, inv.values["total_amount"], s.font(True), "ra", name="total_amount")
    return y + s.line


def _footer(page: Page, s: Style, y: int, left: int) -> None:
    y = max(y + 30, HEIGHT - 120 + s.jitter())
    page.text(left, y, s.rng.choice(FOOTERS), s.font(size=s.small))
    if s.rng.random() < 0.5:
        page.text(left, y + s.line, f"Bank account {s.rng.randrange(10**7, 10**8)}, routing "
                  f"{s.rng.randrange(10**8, 10**9)}", s.font(size=s.small))


def _layout_classic(page: Page, s: Style, inv: Invoice) -> None:
    """Vendor top left, title and inline meta top right, 'Bill To' above the customer."""
    left, right = 60 + s.jitter(), 790 + s.jitter()
    y = _vendor_block(page, s, inv, left, 60 + s.jitter())
    title_y = 60 + s.jitter()
    page.text(right, title_y, s.rng.choice(TITLES), s.font(True, s.title), "ra")
    _meta_inline(page, s, _meta_rows(s, inv, s.rng.random() < 0.4), right, title_y + s.title + 25,
                 s.rng.random() < 0.5)
    y = max(y, title_y + s.title + 25 + 4 * s.line) + 30 + s.jitter()
    y = _customer_block(page, s, inv, left + s.jitter(), y, inline=False)
    y = _items_table(page, s, inv, left, right, y + 40 + s.jitter())
    y = _totals(page, s, inv, right + s.jitter(10), y + s.jitter(10))
    _footer(page, s, y, left)


def _layout_title_left(page: Page, s: Style, inv: Invoice) -> None:
    """Title top left, vendor right-aligned top right, the meta in a row of columns."""
    left, right = 60 + s.jitter(), 790 + s.jitter()
    page.text(left, 60 + s.jitter(), s.rng.choice(TITLES), s.font(True, s.title))
    y = _vendor_block(page, s, inv, right, 60 + s.jitter(), "ra")
    y = _meta_row(page, s, _meta_rows(s, inv, False), left, right, y + 35 + s.jitter())
    y = _customer_block(page, s, inv, left + s.jitter(), y + 30 + s.jitter(), inline=True)
    y = _items_table(page, s, inv, left, right, y + 40 + s.jitter())
    y = _totals(page, s, inv, right, y + s.jitter(10))
    _footer(page, s, y, left)


def _layout_two_column(page: Page, s: Style, inv: Invoice) -> None:
    """Vendor and customer on the left, a label/value meta table on the right."""
    left, right = 60 + s.jitter(), 790 + s.jitter()
    top = 60 + s.jitter()
    y = _vendor_block(page, s, inv, left, top)
    y = _customer_block(page, s, inv, left + s.jitter(), y + 30 + s.jitter(), inline=s.rng.random() < 0.5)
    meta_y = top + s.jitter()
    page.text(right, meta_y, s.rng.choice(TITLES), s.font(True, s.title), "ra")
    meta_end = _meta_inline(page, s, _meta_rows(s, inv, True), right, meta_y + s.title + 25, aligned=True)
    y = _items_table(page, s, inv, left, right, max(y, meta_end) + 40 + s.jitter())
    y = _totals(page, s, inv, right, y + s.jitter(10))
    _footer(page, s, y, left)


def _layout_banner(page: Page, s: Style, inv: Invoice) -> None:
    """Vendor centred at the top over a rule, customer left, stacked meta right."""
    left, right = 60 + s.jitter(), 790 + s.jitter()
    centre = WIDTH // 2 + s.jitter()
    y = 50 + s.jitter()
    page.text(centre, y, inv.values["vendor_name"], s.font(True, s.head), "ma", name="vendor_name")
    y += s.head + s.head // 2
    page.text(centre, y, ", ".join(inv.vendor_address), s.font(size=s.small), "ma")
    y += s.small + s.small // 2
    page.text(centre, y, inv.vendor_contact, s.font(size=s.small), "ma")
    y += s.small + 20
    page.line(left, y, right, y, width=2)
    y += 25 + s.jitter(10)
    page.text(left, y, s.rng.choice(TITLES), s.font(True, s.title))
    meta_end = _meta_stacked(page, s, _meta_rows(s, inv, s.rng.random() < 0.3), right, y, "ra")
    y = _customer_block(page, s, inv, left + s.jitter(), y + s.title + 30, inline=False)
    y = _items_table(page, s, inv, left, right, max(y, meta_end) + 30 + s.jitter())
    y = _totals(page, s, inv, right, y + s.jitter(10))
    _footer(page, s, y, left)


LAYOUTS = {
    "classic": _layout_classic,
    "title_left": _layout_title_left,
    "two_column": _layout_two_column,
    "banner": _layout_banner,
}


def _style(rng: random.Random, families: dict[str, tuple[Path, Path]]) -> Style:
    files = families[rng.choice(sorted(families))] if families else None
    body = rng.randint(MIN_SIZE, MAX_SIZE - 2)
    return Style(
        fonts=Fonts(files),
        body=body,
        head=min(MAX_SIZE, body + rng.randint(2, 4)),
        small=max(MIN_SIZE, body - rng.randint(0, 2)),
        title=rng.randint(26, 34),
        line=int(body * rng.uniform(1.45, 1.7)),
        labels={name: rng.choice(words) for name, words in LABELS.items()},
        labels_bold=rng.random() < 0.6,
        rng=rng,
    )


def _degrade(image: Image.Image, rng: random.Random, gen: np.random.Generator, paper: int) -> Image.Image:
    """Mild scanner look: blur on some pages, noise in the ink of some, a sprinkle of light specks.

    The noise stays on the ink and in sparse specks: noise over the whole white page would
    make each PNG ten times larger.
    """
    if rng.random() < 0.25:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.7)))
    pixels = np.asarray(image, dtype=np.int16).copy()
    if rng.random() < 0.5:
        ink = pixels < paper - 8
        pixels[ink] += gen.normal(0, rng.uniform(4, 12), int(ink.sum())).round().astype(np.int16)
    specks = int(gen.integers(150, 800))  # light grey dust, mostly below the reader's threshold
    ys, xs = gen.integers(0, HEIGHT, specks), gen.integers(0, WIDTH, specks)
    pixels[ys, xs] -= gen.integers(15, 70, specks).astype(np.int16)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")


def draw_invoice(rng: random.Random, families: dict[str, tuple[Path, Path]]) -> tuple[Image.Image, Page]:
    """One page and its fields, all of its variation drawn from ``rng``; redrawn until no field is crowded."""
    for _ in range(50):
        content = make_content(rng)
        style = _style(rng, families)
        paper = 255 if rng.random() < 0.6 else rng.randint(238, 250)
        image = Image.new("L", (WIDTH, HEIGHT), paper)
        page = Page(ImageDraw.Draw(image), ink=0 if rng.random() < 0.5 else rng.randint(20, 70))
        LAYOUTS[rng.choice(sorted(LAYOUTS))](page, style, content)
        try:
            page.check()
        except Overlap:
            continue
        gen = np.random.default_rng(rng.getrandbits(64))
        return _degrade(image, rng, gen, paper), page
    raise RuntimeError("no layout without crowded fields after 50 tries")


def annotation(filename: str, page: Page) -> dict[str, object]:
    """The Nanonets OCR annotation of a page: each field's text and its box with BOX_MARGIN."""
    objects = []
    for name in FIELDS:
        text, (x0, y0, x1, y1) = page.fields[name]
        objects.append({"name": name, "ocr_text": text, "bndbox": {
            "xmin": max(0, x0 - BOX_MARGIN), "ymin": max(0, y0 - BOX_MARGIN),
            "xmax": min(WIDTH, x1 + BOX_MARGIN), "ymax": min(HEIGHT, y1 + BOX_MARGIN)}})
    return {"filename": filename, "object": objects}


def document_rng(seed: int, split: str, number: int) -> random.Random:
    """The generator of one document: independent of every other and of the counts asked for."""
    return random.Random(f"{seed}/{split}/{number}")


README = """# Synthetic invoices

{total} invoice pages ({width} x {height} px, grayscale, letter at 100 dpi) for training and
testing OCR models (field extraction), made by `scripts/make_invoices.py`:

    python scripts/make_invoices.py {args}

- `train/`: {train} documents, `invoice_{first_train}` to `invoice_{last_train}`
- `test/`: {test} documents, `invoice_{first_test}` to `invoice_{last_test}`

Each page is `invoice_NNN.png` (one in {jpeg_every}: `invoice_NNN.jpg`, JPEG quality 90) with its
annotation `invoice_NNN.json` in the Nanonets OCR form: `{{"filename": ..., "object": [{{"name": ...,
"ocr_text": ..., "bndbox": {{"xmin": ..., "ymin": ..., "xmax": ..., "ymax": ...}}}}]}}`, pixel
coordinates from the top left, each box the value's ink with a {margin} px margin.

Fields, all present in every document: {fields}.

The pages are drawn, not scanned: four layouts, varied label wording, DejaVu and Liberation
fonts at {min_size}-{max_size} px, line items, subtotal and tax as distractors, light noise and blur.
The same command gives byte-identical files.
"""


def make_invoices(out: Path, *, seed: int = DEFAULT_SEED, train: int = DEFAULT_TRAIN,
                  test: int = DEFAULT_TEST, command: str | None = None) -> list[Path]:
    """Write ``out/train/`` and ``out/test/`` (replaced as a whole) and ``out/README.md``; return the files."""
    families = available_families()
    written: list[Path] = []
    number = 0
    for split, count in (("train", train), ("test", test)):
        folder = out / split
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for _ in range(count):
            number += 1
            image, page = draw_invoice(document_rng(seed, split, number), families)
            stem = f"invoice_{number:03d}"
            if number % JPEG_EVERY == 0:
                path = folder / f"{stem}.jpg"
                image.save(path, format="JPEG", quality=90)
            else:
                path = folder / f"{stem}.png"
                image.save(path, format="PNG", optimize=True)
            label = folder / f"{stem}.json"
            label.write_text(json.dumps(annotation(path.name, page), indent=1) + "\n", encoding="utf-8")
            written += [path, label]
    args = command or f"--out {out} --train {train} --test {test} --seed {seed}"
    readme = out / "README.md"
    readme.write_text(README.format(
        total=train + test, width=WIDTH, height=HEIGHT, args=args, train=train, test=test,
        first_train="001", last_train=f"{train:03d}", first_test=f"{train + 1:03d}",
        last_test=f"{train + test:03d}", jpeg_every=JPEG_EVERY, margin=BOX_MARGIN,
        fields=", ".join(f"`{name}`" for name in FIELDS), min_size=MIN_SIZE, max_size=MAX_SIZE), encoding="utf-8")
    written.append(readme)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="images/invoices", help="folder to write train/, test/ and README.md into "
                        "(default: images/invoices)")
    parser.add_argument("--train", type=int, default=DEFAULT_TRAIN,
                        help=f"training documents (default {DEFAULT_TRAIN})")
    parser.add_argument("--test", type=int, default=DEFAULT_TEST, help=f"test documents (default {DEFAULT_TEST})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0 or args.train + args.test > 999:
        parser.error("--train and --test must be >= 0 and together at most 999")
    written = make_invoices(Path(args.out), seed=args.seed, train=args.train, test=args.test,
                            command=f"--out {args.out} --train {args.train} --test {args.test} --seed {args.seed}")
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {args.train + args.test} invoices ({total / 1024:.0f} KiB) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
