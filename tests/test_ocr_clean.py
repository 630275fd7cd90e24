"""The clean-up before Tesseract reads a page (nanoclient/server/ocr_clean.py, TesseractEngine.read).

Pages are made here (tests/ocr_pages.py): text drawn with DejaVuSans, then turned, skewed, scanned badly,
lit unevenly or photographed in perspective on a dark table. Each change is a known matrix, so the true
box of every word on the uploaded page is known: the clean-up must find the words and give their boxes
back in the uploaded page's pixels.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import needs_tesseract
from ocr_pages import FONT, LINES, Sample, photo, scanned, shadowed, text_page, turned
from PIL import Image, ImageDraw, ImageFont

from nanoclient.ocr.evaluate import iou
from nanoclient.server.ocr.clean import clean_page
from nanoclient.server.ocr.engine import Page, TesseractEngine

#: Words that occur once on the test page, with their punctuation stripped.
KNOWN = ("INV-20417", "Harbour", "Quayside", "recycled", "cartridges", "Toner", "handling", "thirty",
         "1,284.50", "overleaf")
SHORT = text_page(lines=LINES[:8], height=560)


def _words(page: Page) -> dict[str, tuple[float, float, float, float]]:
    return {word.text.strip(",."): (word.xmin, word.ymin, word.xmax, word.ymax) for word in page.words}


def _check_read(sample: Sample, engine: TesseractEngine, least_iou: float = 0.6) -> None:
    """Tesseract reads the known words on the page, each where it truly is on the uploaded page."""
    page = engine.read(sample.image)
    assert (page.width, page.height) == sample.image.size
    found = _words(page)
    known = [word for word in KNOWN if word in sample.boxes]
    read = [word for word in known if word in found]
    assert len(read) >= len(known) - 1, f"read {read} of {known}; all: {sorted(found)}"
    for word in read:
        overlap = iou(found[word], sample.boxes[word])
        assert overlap >= least_iou, (word, found[word], sample.boxes[word], overlap)


def _turn_error(sample_turn: float, cleaned_turn: float) -> float:
    """Degrees left over once the clean-up's turn undoes the page's turn."""
    return abs((sample_turn + cleaned_turn + 180) % 360 - 180)


# ---------------------------------------------------------------------------------------------- no engine


@pytest.mark.parametrize("size", [17, 20, 26, 34])
def test_an_upright_flat_page_is_left_as_it_is(size: int) -> None:
    page = text_page(size=size, width=size * 44, height=size * 25).image
    cleaned = clean_page(page)
    assert cleaned.image is page and cleaned.matrix is None and cleaned.steps == ()
    assert (cleaned.width, cleaned.height) == page.size


def test_a_dark_banner_and_pictures_are_neither_a_photo_edge_nor_uneven_light() -> None:
    sample = text_page()
    ImageDraw.Draw(sample.image).rectangle((0, 0, sample.image.width, 40), fill=30)
    ImageDraw.Draw(sample.image).rectangle((700, 800, 1050, 980), fill=90)  # a flat picture
    pixels = np.asarray(sample.image).copy()
    pixels[500:750, 100:700] = np.random.default_rng(1).integers(0, 256, (250, 600))  # a busy one
    page = Image.fromarray(pixels)
    cleaned = clean_page(page)
    assert cleaned.steps == () and cleaned.image is page


def test_white_text_on_black_is_no_paper_to_light() -> None:
    page = Image.fromarray(255 - np.asarray(text_page().image))
    assert clean_page(page).image is page


@pytest.mark.parametrize("degrees", [90, 180, 270, 3, -3, 5, -7, 93, 176, 265.5])
def test_turned_and_skewed_pages_are_turned_back(degrees: float) -> None:
    cleaned = clean_page(turned(text_page(), degrees).image)
    assert _turn_error(degrees, cleaned.turn) < 0.4, (degrees, cleaned.turn, cleaned.steps)
    assert not cleaned.unsure


def test_a_skew_below_half_a_degree_is_left_alone() -> None:
    cleaned = clean_page(turned(text_page(), 0.2).image)
    assert cleaned.matrix is None


def test_boxes_map_back_through_the_inverse_warp() -> None:
    sample = turned(text_page(), 95)
    cleaned = clean_page(sample.image)
    assert cleaned.matrix is not None
    # where the known words are on the cleaned page: their true boxes mapped forward
    for word in KNOWN:
        x0, y0, x1, y1 = sample.boxes[word]
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x1, y1, 1], [x0, y1, 1]]) @ cleaned.matrix.T
        corners = corners[:, :2] / corners[:, 2:]
        box = (*corners.min(0), *corners.max(0))
        back = cleaned.to_upload(np.array([box]))[0]
        # a box turned twice grows (the box of a box), never moves away from the truth
        assert back[0] <= x0 + 1 and back[1] <= y0 + 1 and back[2] >= x1 - 1 and back[3] >= y1 - 1
        assert iou(tuple(back), sample.boxes[word]) > 0.5


def test_a_photo_is_found_and_flattened() -> None:
    sample = photo(text_page())
    cleaned = clean_page(sample.image)
    assert "flattened" in cleaned.steps and "lit" in cleaned.steps
    assert cleaned.image.size[0] < sample.image.size[0]  # the table is cut away


def test_a_shadow_is_lifted_and_a_grey_table_header_is_no_shadow() -> None:
    assert "shade lifted" in clean_page(shadowed(text_page()).image).steps
    sample = text_page()
    draw = ImageDraw.Draw(sample.image)
    draw.rectangle((40, 150, 1060, 210), fill=170)  # a grey header row with dark text on it
    draw.text((60, 165), "Description Quantity Unit price Amount", fill=0, font=ImageFont.truetype(str(FONT), 26))
    draw.rectangle((40, 860, 1060, 990), fill=60)  # a dark banner with white text
    draw.text((60, 900), "Thank you for your order", fill=255, font=ImageFont.truetype(str(FONT), 30))
    cleaned = clean_page(sample.image)
    assert cleaned.steps == () and cleaned.image is sample.image


def test_small_text_is_scaled_up_and_large_text_down() -> None:
    small = clean_page(text_page(size=11, width=520, height=300).image)
    assert small.steps and small.steps[-1].startswith("scaled") and small.image.width > 1000
    large = clean_page(text_page(size=110, width=4800, height=2900, lines=("Large print", "only here")).image)
    assert large.steps and large.steps[-1].startswith("scaled") and large.image.width < 3000


# ---------------------------------------------------------------------------------------------- with Tesseract


@pytest.fixture(scope="module")
def engine() -> TesseractEngine:
    return TesseractEngine()


@needs_tesseract
def test_a_clean_page_reads_exactly_as_without_the_clean_up(engine: TesseractEngine) -> None:
    page = SHORT.image
    before = engine._words(page, "eng")  # what read did before it cleaned pages
    after = engine.read(page).words
    assert [w.text for w in after] == [w.text for w in before]
    for a, b in zip(after, before, strict=True):
        assert max(abs(a.xmin - b.xmin), abs(a.ymin - b.ymin), abs(a.xmax - b.xmax), abs(a.ymax - b.ymax)) <= 2


@needs_tesseract
@pytest.mark.parametrize("degrees", [90, 180, 270, 4, -6])
def test_turned_and_skewed_pages_are_read_with_boxes_on_the_upload(engine: TesseractEngine, degrees: int) -> None:
    _check_read(turned(SHORT, degrees), engine)


@needs_tesseract
def test_a_poor_scan_is_read(engine: TesseractEngine) -> None:
    _check_read(scanned(turned(SHORT, -5), seed=3), engine)


@needs_tesseract
@pytest.mark.parametrize("degrees", [0, 90])
def test_a_phone_photo_is_read(engine: TesseractEngine, degrees: int) -> None:
    _check_read(photo(turned(SHORT, degrees) if degrees else SHORT, seed=degrees), engine, least_iou=0.5)


@needs_tesseract
@pytest.mark.parametrize("photographed", [False, True])
def test_a_page_under_a_shadow_is_read(engine: TesseractEngine, photographed: bool) -> None:
    # Tesseract alone reads about a third of the words of such a page (a seventh of the photo)
    _check_read(shadowed(photo(SHORT, seed=5) if photographed else SHORT, depth=0.4), engine, least_iou=0.5)


@needs_tesseract
def test_a_framed_total_on_a_deskewed_scan_is_read(engine: TesseractEngine) -> None:
    # Tesseract's sparse mode loses text in a level frame: the deskew makes the frame level, so its lines go
    sample = text_page(lines=LINES[:4], width=1000, height=420)
    draw, font = ImageDraw.Draw(sample.image), ImageFont.truetype(str(FONT), 30)
    draw.text((560, 300), "Total:", font=font, fill=0)
    draw.text((700, 300), "£24,690.65", font=font, fill=0)
    sample.boxes["£24,690.65"] = tuple(float(v) for v in draw.textbbox((700, 300), "£24,690.65", font=font))
    draw.rectangle((540, 285, 900, 350), outline=0, width=3)
    skewed = turned(sample, 2.4)
    assert "unruled" in clean_page(skewed.image).steps
    found = _words(engine.read(skewed.image))
    assert "£24,690.65" in found and iou(found["£24,690.65"], skewed.boxes["£24,690.65"]) > 0.6


@needs_tesseract
def test_small_text_is_read_that_tesseract_misses_at_its_own_size(engine: TesseractEngine) -> None:
    sample = text_page(size=9, width=400, height=300, lines=LINES[:6])
    raw = _words(Page(sample.image.width, sample.image.height, tuple(engine._words(sample.image, "eng"))))
    cleaned = _words(engine.read(sample.image))
    truth = [word for word in sample.boxes if len(word) > 3]
    assert sum(word in cleaned for word in truth) > sum(word in raw for word in truth)
    assert sum(word in cleaned for word in truth) >= len(truth) - 1
    for word in KNOWN:  # Tesseract's own boxes of small words run a little tall: the truth is inside
        if word in cleaned and word in sample.boxes:
            (x0, y0, x1, y1), found = sample.boxes[word], cleaned[word]
            assert abs(found[0] - x0) <= 4 and abs(found[2] - x1) <= 4, (word, found, sample.boxes[word])
            assert found[1] <= y0 + 1 and found[3] >= y1 - 1 and found[3] - found[1] < 3 * (y1 - y0)


@needs_tesseract
def test_small_text_on_a_poor_scan_is_read(engine: TesseractEngine) -> None:
    # blur joins its letters: the size is taken from the words' x-height bands, not from the blobs
    sample = scanned(text_page(size=12, width=528, height=300, lines=LINES[:7]), seed=12)
    assert any(step.startswith("scaled") for step in clean_page(sample.image).steps)
    raw = {word.text.strip(",.") for word in engine._words(sample.image, "eng")}
    cleaned = _words(engine.read(sample.image))
    truth = [word for word in sample.boxes if len(word) > 3]
    assert sum(word in cleaned for word in truth) >= max(len(truth) - 1, sum(word in raw for word in truth))


@needs_tesseract
def test_an_upside_down_page_of_capitals_is_read_turned_over(engine: TesseractEngine) -> None:
    lines = ("INVOICE INV-20417 DATE 14.03.2024", "HARBOUR SUPPLY COMPANY", "TOTAL DUE 1,284.50 EUR",
             "ORDER 55120 REF QX-7", "VAT 19% 205.09")
    upside_down = turned(text_page(lines=lines, width=900, height=360), 180)
    assert clean_page(upside_down.image).unsure  # capitals and digits: no ascenders nor descenders
    found = _words(engine.read(upside_down.image))
    assert {"HARBOUR", "SUPPLY", "INV-20417", "1,284.50"} <= set(found)
    assert iou(found["HARBOUR"], upside_down.boxes["HARBOUR"]) > 0.6


def test_an_image_too_small_to_look_at_is_left_alone() -> None:
    page = Image.new("L", (20, 400), 255)
    assert clean_page(page).image is page


@needs_tesseract
def test_without_opencv_pages_are_read_as_they_come(engine: TesseractEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoclient.server.ocr.clean", None)  # import fails: OpenCV not installed
    sample = turned(SHORT, 180)
    page = engine.read(sample.image)
    assert (page.width, page.height) == sample.image.size
    assert [w.text for w in page.words] == [w.text for w in engine._words(sample.image, "eng")]


@needs_tesseract
def test_a_framed_total_on_an_upright_page_is_read_where_it_is(engine: TesseractEngine) -> None:
    page = Image.new("L", (1275, 700), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(FONT), 26)
    draw.text((700, 200), "Subtotal:", fill=20, font=font)
    draw.text((930, 200), "76,459.05", fill=20, font=font)
    draw.rectangle((680, 300, 1110, 370), outline=10, width=3)  # the total in its frame
    draw.text((700, 320), "Total:", fill=10, font=font)
    draw.text((930, 320), "92,515.45", fill=10, font=font)
    truth = draw.textbbox((930, 320), "92,515.45", font=font)
    cleaned = clean_page(page)
    assert cleaned.steps == ("unruled",) and (cleaned.width, cleaned.height) == page.size
    found = _words(engine.read(page))
    assert "92,515.45" in found and iou(found["92,515.45"], truth) > 0.6, found
