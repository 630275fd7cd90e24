"""The local server's field extractor for OCR models: which words of a page are which field.

Training documents come with labelled fields: a box ("the invoice number is here"), or only a value
("the invoice number is INV-20413", as an accounting system has it), which ``locate_values`` finds on
its page by its normalised form (``nanoclient.values``: the same amount, date or text). The engine
(``ocr_engine``) reads each page's words; the words, where they stand on the page as it was read (turned
upright and flattened by the clean-up: ``Page.upright``), are grouped into rows (by their vertical centres)
and rows into segments (words closer than ``SEGMENT_GAP`` line heights); every run of up to
``MAX_SPAN`` consecutive words of a segment, and a whole segment of up to ``WHOLE_SPAN``, is a
candidate value. A labelled box is matched to the candidate that covers it best. Each candidate is
described by
- its place on the page (where it starts, ends and sits, in tenths of the page), and the page's place
  in its document (first, last, only, in between);
- its text's shape (``INV-20413`` is ``A-d``, ``$1,234.56`` is ``$d,d.d``) and kind (``values``: date,
  amount, bare number, identifier, name, address), locale-aware (``1.234,56``, ``7. Mai 2014``), and
  for amounts and dates their rank on the page (the largest amount, the earliest and latest date);
- the words to its left on its row, in the row above it (a grid's cell above, a label over its
  value), below it, the column header further up, and the word to its right: as words, and as the
  concept their label names in any of the languages of ``ocr_labels`` (``Rechnungsnummer``, ``Facture
  n°`` and ``Invoice No`` are all ``invoice_number``), alone, with the candidate's kind and with what
  the page calls itself (an invoice's letterhead is its vendor, a purchase order's its buyer); whether
  it is itself a label or a title, or starts with one; its text's size against the page's,
hashed into ``FEATURES`` dimensions; a multinomial logistic regression over "none" and the fields
gives each candidate a probability for each field. A page's answer for a field is its most probable
candidate of a kind the field's training values have (``FieldExtractor.kinds``: a field whose values
are identifiers never answers an amount, a date field answers dates), if that probability reaches
``MIN_SCORE``; its score is that probability calibrated (Platt's method, fitted on the held-out
documents) into the chance that the text is exactly right. An answer never starts with its label
(``Factuuradres: ...``); where the engine drops a value's last period (``Co.`` read ``Co``) or reads an
identifier's letters as digits (``10-2015-8256`` for ``IO-2015-8256``) and the training values show it,
the answer gets them back. Its box is in the given page's pixels.

``train`` holds out a fifth of the documents (at least ``HOLD_OUT_MIN`` of them) to measure the
field-level exact-text accuracy, then fits again on every document. A saved extractor is a plain
``.npz`` of arrays (no pickle); files of the formats before (1, 2) are read too. This module knows
pages and words, nothing of HTTP or SQLite.
"""
from __future__ import annotations

import functools
import os
import random
import re
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ...ocr import values as V
from ...ocr.evaluate import iou, same_text
from . import labels as ocr_labels
from .engine import Page, Word

#: Longest run of words a value may have.
MAX_SPAN = 6
#: A whole segment of up to this many words is a candidate too (a long name or address line).
WHOLE_SPAN = 12
#: Words further apart than this many line heights are in different segments (columns of a table).
SEGMENT_GAP = 1.6
#: Dimensions the features are hashed into.
FEATURES = 1 << 15
#: The least probability at which a field is reported; below it the field is left out of the page.
MIN_SCORE = 0.02
#: Candidates that are no field kept per training page (a random sample; every labelled one is kept): what
#: training holds grows by pages, not by the candidates of every page (several hundred on an invoice).
NEGATIVES_PER_PAGE = 200
#: How many held-out documents accuracy needs at least (fewer training documents: no accuracy).
HOLD_OUT_MIN = 3
#: The share of a field's training values that must be of one kind for the field to answer only that kind.
KIND_SHARE = 0.9
#: Words left of a candidate read as its label.
LABEL_WORDS = 5
#: Rows above a candidate searched for its column's header.
HEADER_ROWS = 8
#: The regression's inverse regularisation strength (scikit-learn's C).
REGULARISATION = 4.0
#: How many of a model's own documents a pretrained extractor it starts from counts as (``adapt``).
BASE_DOCUMENTS = 20
#: The class of a candidate that is no field.
NONE = ""
#: Saved-file format version (3: the fields' kinds and learnt period endings; 1 and 2 are read too).
_FORMAT = 3

Progress = Callable[[str], object]


@dataclass(frozen=True)
class LabelledBox:
    """A field labelled on a training page: its name, its text (None: read it from the page), and its box in
    page pixels; a label given by its value alone has no box (``locate_values`` finds it). ``anywhere``: the
    label's page is not known, so it is listed on every page of its document and belongs to the one it is
    found on."""

    field: str
    text: str | None
    xmin: float | None = None
    ymin: float | None = None
    xmax: float | None = None
    ymax: float | None = None
    anywhere: bool = False

    @property
    def has_box(self) -> bool:
        return self.xmin is not None and self.ymin is not None and self.xmax is not None and self.ymax is not None


@dataclass(frozen=True)
class FieldValue:
    """A field found on a page: its text, its box in page pixels, and the probability that it is the field."""

    field: str
    text: str
    score: float
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class MissingValue:
    """A value given without a box that training could not find on its document's pages."""

    document: int
    field: str
    text: str
    page: int | None  # None: any page


#: One training document: its pages, each with the boxes labelled on it.
Document = Sequence[tuple[Page, Sequence[LabelledBox]]]


@dataclass(frozen=True)
class Candidate:
    """A run of consecutive words of one segment: a possible value, with its kind (``values.value_kind``).
    ``words`` stand where the page was read (upright); ``given``, when the page was turned or flattened
    before, are the same words in the given page's pixels, where its ``box`` is."""

    words: tuple[Word, ...]
    features: tuple[int, ...]
    kind: str = V.OTHER
    given: tuple[Word, ...] | None = None

    @property
    def text(self) -> str:
        """The words' text, without the separator a value never ends with (``INV-4892,`` is ``INV-4892``)."""
        return _clean(_join(self.words)) or self.words[0].text

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Where the value is on the given page: the box of its words, in its pixels."""
        words = self.given if self.given is not None else self.words
        return (min(w.xmin for w in words), min(w.ymin for w in words),
                max(w.xmax for w in words), max(w.ymax for w in words))


_QUOTES = "‘’‚“”„'\"|«»"


def _join(words: Sequence[Word]) -> str:
    """The words' text, one space apart, but none after a word that ends with a hyphen or slash (an identifier
    the engine read in two, ``PO15- 32673``)."""
    out = words[0].text
    for word in words[1:]:
        glued = len(out) > 1 and out[-1] in "-/" and out[-2].isalnum()
        out += ("" if glued else " ") + word.text
    return out


def _clean(text: str) -> str:
    """A value's text without what never ends a value (``INV-4892,``) nor stray quotes the engine reads in
    the margin of a frame (``‘USD 8,157.11``)."""
    return text.strip(_QUOTES).rstrip(",;:").strip(_QUOTES)


# ---------------------------------------------------------------------- candidates and their features


def _rows(words: Sequence[Word]) -> list[list[Word]]:
    """Words grouped into rows by their vertical centres, each row left to right, rows top to bottom."""
    rows: list[tuple[float, float, list[Word]]] = []  # (centre, height, words)
    for word in sorted(words, key=lambda w: (w.ymin + w.ymax) / 2):
        centre = (word.ymin + word.ymax) / 2
        for index, (row_centre, row_height, members) in enumerate(rows):
            if abs(centre - row_centre) < 0.45 * max(word.height, row_height, 1):
                members.append(word)
                n = len(members)
                rows[index] = ((row_centre * (n - 1) + centre) / n, max(row_height, word.height), members)
                break
        else:
            rows.append((centre, word.height, [word]))
    return [sorted(members, key=lambda w: w.xmin) for _, _, members in sorted(rows, key=lambda r: r[0])]


def _segments(row: list[Word]) -> list[list[Word]]:
    heights = sorted(w.height for w in row)
    middle = len(heights) // 2
    height = max(1, int(heights[middle] if len(heights) % 2 else (heights[middle - 1] + heights[middle]) / 2))
    segments = [[row[0]]]
    for word in row[1:]:
        if word.xmin - segments[-1][-1].xmax > SEGMENT_GAP * height:
            segments.append([word])
        else:
            segments[-1].append(word)
    return segments


_TOKEN = re.compile(r"[^a-z0-9]+")
_DATE = re.compile(r"^(\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}"
                   r"|\d{1,2} [A-Za-z]{3,9}\.? \d{4})$")
_AMOUNT = re.compile(r"^[$€£]?\s?\d{1,3}(,\d{3})*(\.\d{2})$|^[$€£]?\s?\d+\.\d{2}$")


def _token(text: str) -> str:
    return _TOKEN.sub("", text.lower())


def _shape(text: str) -> str:
    out: list[str] = []
    for char in text:
        kind = "A" if char.isupper() else "a" if char.isalpha() else "d" if char.isdigit() else char
        if not out or out[-1] != kind:
            out.append(kind)
    return "".join(out)[:16]


def _hash(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) % FEATURES


@functools.lru_cache(maxsize=1 << 16)
def _kind(text: str) -> str:
    return V.value_kind(text)


@functools.lru_cache(maxsize=1 << 16)
def _amount(text: str) -> Decimal | None:
    return V.parse_amount(text)


@functools.lru_cache(maxsize=1 << 16)
def _comparable(text: str) -> str:
    return V.comparable_text(text)


@functools.lru_cache(maxsize=1 << 16)
def _date_ordinal(text: str) -> int | None:
    found = V.parse_date(text)
    return None if found is None else found.toordinal()


def _page_place(page_index: int, page_count: int | None) -> str:
    if page_count == 1:
        return "only"
    if page_index == 0:
        return "first"
    if page_count is not None and page_index == page_count - 1:
        return "last"
    return "middle"


@dataclass
class _Span:
    words: tuple[Word, ...]
    segment: list[Word]
    start: int
    end: int
    row_index: int
    text: str
    kind: str


def candidates(page: Page, page_index: int = 0, page_count: int | None = 1) -> list[Candidate]:
    """Every possible value of a page, with its hashed features; ``page_index`` and ``page_count`` place the
    page in its document (count None: not known). Lines, columns and labels are seen on the page as it was
    read (``Page.upright``, where the clean-up turned or flattened it); boxes are the given page's."""
    words, size, given = page.words, (page.width, page.height), None
    if page.upright is not None and page.upright_size is not None and len(page.upright) == len(page.words):
        words, size = page.upright, page.upright_size
        given = {id(upright): word for upright, word in zip(page.upright, page.words, strict=True)}
    rows = _rows(words)
    row_segments = [_segments(row) for row in rows]
    spans: list[_Span] = []
    for row_index, segments in enumerate(row_segments):
        for segment in segments:
            ends = [(start, end) for start in range(len(segment))
                    for end in range(start + 1, min(len(segment), start + MAX_SPAN) + 1)]
            if MAX_SPAN < len(segment) <= WHOLE_SPAN:
                ends.append((0, len(segment)))
            for start, end in ends:
                words = tuple(segment[start:end])
                text = _clean(_join(words)) or words[0].text
                spans.append(_Span(words, segment, start, end, row_index, text, _kind(text)))
    context = _PageContext(size, rows, row_segments, spans, _page_place(page_index, page_count))
    return [Candidate(span.words, context.features(span), span.kind,
                      None if given is None else tuple(given[id(w)] for w in span.words)) for span in spans]


class _PageContext:
    """What the features of a page's candidates share: its rows, the amounts and dates on it, its place."""

    def __init__(self, size: tuple[int, int], rows: list[list[Word]], row_segments: list[list[list[Word]]],
                 spans: Sequence[_Span], place: str) -> None:
        self.width, self.height = max(size[0], 1), max(size[1], 1)
        self.rows = rows
        self.row_segments = row_segments
        #: Each word's segment (by the word's identity): (row, segment) indices.
        self.segment_of = {id(word): (r, i) for r, segments in enumerate(row_segments)
                           for i, segment in enumerate(segments) for word in segment}
        self._cells: dict[tuple[int, int, int], str | None] = {}
        self.place = place
        amounts = sorted({a for s in spans if s.kind == V.AMOUNT and (a := _amount(s.text)) is not None},
                         reverse=True)
        self.amount_rank = {a: i for i, a in enumerate(amounts)}
        dates = sorted({d for s in spans if s.kind == V.DATE and (d := _date_ordinal(s.text)) is not None})
        self.date_rank = {d: ("first" if i == 0 else "last" if i == len(dates) - 1 else "mid")
                          for i, d in enumerate(dates)}
        self.date_count = len(dates)
        heights = sorted(w.height for row in rows for w in row)
        self.line = max(1, heights[len(heights) // 2]) if heights else 1
        #: Names standing alone on their line (whole segments), top to bottom: the first is often the issuer.
        names = sorted({(min(w.ymin for w in s.words), s.words[0].xmin, id(s.segment)) for s in spans
                        if s.kind == V.NAME and s.start == 0 and s.end == len(s.segment)})
        self.name_rank = {key[2]: rank for rank, key in enumerate(names)}
        #: What the page says it is (an invoice, an order, a receipt): who stands where depends on it.
        self.kind = ocr_labels.document_kind(
            [[w.text for w in segment] for segments in row_segments for segment in segments]) or "unknown"
        #: Who issued it, which is what says who stands where: the seller (an invoice's, a receipt's letterhead
        #: is its vendor) or the buyer (a purchase order's).
        self.document = {"order": "buyer", "invoice": "seller", "receipt": "seller"}.get(self.kind, "unknown")

    def features(self, span: _Span) -> tuple[int, ...]:
        words, segment, start, end = span.words, span.segment, span.start, span.end
        row = self.rows[span.row_index]
        above = self.rows[span.row_index - 1] if span.row_index else []
        below = self.rows[span.row_index + 1] if span.row_index + 1 < len(self.rows) else []
        width, height = self.width, self.height
        text = " ".join(w.text for w in words)
        kind = span.kind
        xmin, xmax = words[0].xmin, words[-1].xmax
        ymin = min(w.ymin for w in words)
        line = max(1, max(w.height for w in words))
        shape = _shape(text)
        y10 = int(10 * ymin / height)
        names = [
            "bias", f"n:{min(len(words), 4)}", f"x0:{int(10 * xmin / width)}", f"x1:{int(10 * xmax / width)}",
            f"y:{y10}", f"y20:{int(20 * ymin / height)}", f"shape:{shape}",
            f"len:{min(len(text) // 3, 8)}",
            f"kind:{kind}", f"page:{self.place}", f"page_y:{self.place}|{y10}", f"page_kind:{self.place}|{kind}",
        ]
        if start == 0:
            names.append("first")
        if end == len(segment):
            names.append("last")
        if start == 0 and end == len(segment):
            names.append("whole")
        if end < len(segment) and segment[end].text[:1].islower():
            names.append("cut_before_lower")
        if words[0].text[:1].islower() and words[0].text.isalpha() and len(words) > 1:
            names.append("lead_lower")  # "le 29 novembre 2016", "am 7. Mai": a word of the sentence before it
        if text.endswith("."):
            names.append("period_end")
        if any(c.isdigit() for c in text):
            names.append("digit")
            names.append(f"digits:{min(sum(c.isdigit() for c in text) * 4 // max(len(text), 1), 3)}")
        if _DATE.match(text):
            names.append("date")
        if _AMOUNT.match(text):
            names.append("amount")
        if kind == V.AMOUNT:
            amount = _amount(span.text)
            rank = self.amount_rank.get(amount) if amount is not None else None
            if rank is not None:
                names.append(f"amount_rank:{min(rank, 3)}")
        elif kind == V.DATE:
            ordinal = _date_ordinal(span.text)
            if ordinal is not None and self.date_count > 1:
                names.append(f"date_rank:{self.date_rank[ordinal]}")
            elif ordinal is not None:
                names.append("date_rank:alone")
        if text.endswith(":"):
            names.append("colon_end")
        if any(w.text.endswith(":") for w in words[:-1]):
            names.append("inner_colon")
        size = line / self.line
        names.append(f"size:{0 if size < 0.85 else 1 if size < 1.15 else 2 if size < 1.4 else 3 if size < 1.8 else 4}")
        document = self.document
        names.extend((f"doc:{self.kind}", f"doc_kind:{document}|{kind}", f"doc_y:{document}|{y10}"))
        if kind == V.NAME and start == 0 and end == len(segment):
            rank = min(self.name_rank.get(id(segment), 3), 3)
            names.extend((f"name_rank:{rank}", f"doc_name_rank:{document}|{rank}"))
        own = ocr_labels.concept([w.text for w in words])
        if own is not None:
            names.extend((f"self_concept:{own}", "is_label"))
        if ocr_labels.document_kind([[w.text for w in words]]) is not None:
            names.append("is_title")
        for head in range(min(3, len(words) - 1), 0, -1):  # the longest label it starts with
            starts = ocr_labels.concept([w.text for w in words[:head]])
            if starts is not None:
                names.extend((f"starts_concept:{starts}", "starts_label"))
                break
        names.extend(f"tok:{_token(w.text)}" for w in words if _token(w.text))
        # the words before it on its row, nearest first
        before = [w for w in row if w.xmax <= xmin + 1][::-1]
        left = [t for t in (_token(w.text) for w in before) if t][:4]
        if before and xmin - before[0].xmax > SEGMENT_GAP * line:
            names.append("left_far")
        if not before:
            names.append("left_none")
        elif before[0].text.endswith(":"):
            names.append("left_colon")
        for rank, token in enumerate(left):
            names.extend((f"left:{token}", f"left_prefix:{token[:3]}"))  # a misread label keeps its start
            if rank == 0:
                names.extend((f"left1:{token}", f"left1_shape:{token}|{shape}"))
            if rank == 1:
                names.append(f"left12:{token}|{left[0]}")
        left_concept = ocr_labels.concept([w.text for w in before[:LABEL_WORDS][::-1]])
        if left_concept is not None:
            names.extend((f"left_concept:{left_concept}", f"left_concept_kind:{left_concept}|{kind}",
                          f"doc_left_concept:{document}|{left_concept}"))
            if before and xmin - before[0].xmax > SEGMENT_GAP * line:
                names.append(f"left_concept_far:{left_concept}")
        if left_concept is None:  # a skewed page: the label left of it may have fallen into the next row
            near = self._near_left(span, xmin, line)
            if near is not None:  # the same features as a label on its row: what they taught applies
                names.extend(("left_near", f"left_concept:{near}", f"left_concept_kind:{near}|{kind}",
                              f"doc_left_concept:{document}|{near}"))
        after = [w for w in row if w.xmin >= xmax - 1]
        if after:
            names.append(f"right1:{_token(after[0].text)}")
        else:
            names.append("right_none")
        # the row above, where it overlaps the candidate horizontally
        if above and ymin - max(w.ymax for w in above) < 3 * line:
            over_words = [w for w in above if w.xmax > xmin - line and w.xmin < xmax + line]
            over = [t for t in (_token(w.text) for w in over_words) if t]
            for rank, token in enumerate(over[:4]):
                names.append(f"above:{token}")
                if rank == 0:
                    names.extend((f"above1:{token}", f"above1_shape:{token}|{shape}"))
            if not over:
                names.append("above_none")
            above_concept = self._cell_concept(over_words, line)
            if above_concept is not None:
                names.extend((f"above_concept:{above_concept}", f"above_concept_kind:{above_concept}|{kind}",
                              f"doc_above_concept:{document}|{above_concept}"))
        else:
            names.append("above_none")
        header = self._header(span, xmin, xmax, line)
        if header is not None:
            names.extend((f"header_concept:{header}", f"header_concept_kind:{header}|{kind}",
                          f"doc_header_concept:{document}|{header}"))
        # the row below, where it overlaps the candidate (the last line of a block has none)
        if below and min(w.ymin for w in below) - max(w.ymax for w in words) < 3 * line:
            under = [t for t in (_token(w.text) for w in below if w.xmax > xmin - line and w.xmin < xmax + line) if t]
            names.extend(f"below:{token}" for token in under[:2])
            below_concept = self._cell_concept(
                [w for w in below if w.xmax > xmin - line and w.xmin < xmax + line], line)
            if below_concept is not None:
                names.extend((f"below_concept:{below_concept}", f"below_concept_kind:{below_concept}|{kind}",
                              f"doc_below_concept:{document}|{below_concept}"))
            if not under:
                names.append("below_none")
            elif _AMOUNT.match(below[-1].text):
                names.append("below_amount")
        else:
            names.append("below_none")
        return tuple(sorted({_hash(name) for name in names}))

    def _header(self, span: _Span, xmin: int, xmax: int, line: int) -> str | None:
        """The concept of the nearest label above the candidate's column (a table's header), beyond the row
        just above."""
        for row in self.rows[max(0, span.row_index - HEADER_ROWS):max(0, span.row_index - 1)][::-1]:
            over = [w for w in row if w.xmax > xmin - line and w.xmin < xmax + line]
            if not over:
                continue
            found = self._cell_concept(over, line)
            if found is not None:
                return found
        return None

    def _near_left(self, span: _Span, xmin: int, line: int) -> str | None:
        """The concept of the words left of a candidate in the rows beside its own whose middles are within a
        line height of its middle (rows split by a skew the clean-up left)."""
        middle = sum(w.ymin + w.ymax for w in span.words) / (2 * len(span.words))
        for index in (span.row_index - 1, span.row_index + 1):
            if 0 <= index < len(self.rows):
                left = [w for w in self.rows[index]
                        if w.xmax <= xmin + 1 and abs((w.ymin + w.ymax) / 2 - middle) < line]
                found = ocr_labels.concept([w.text for w in left[-LABEL_WORDS:]])
                if found is not None:
                    return found
        return None

    def _cell_concept(self, over: list[Word], line: int) -> str | None:
        """The concept of the label in the cell above a value: the segment that holds ``over``, the words over
        it, up to their right end."""
        if not over:
            return None
        row, index = self.segment_of[id(over[0])]
        limit = over[-1].xmax + line
        key = (row, index, limit)
        if key not in self._cells:
            segment = self.row_segments[row][index]
            self._cells[key] = ocr_labels.concept([w.text for w in segment if w.xmax <= limit])
        return self._cells[key]


def _matrix(rows: Sequence[Candidate]) -> Any:
    from scipy.sparse import csr_matrix

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(c.features) for c in rows], out=indptr[1:])
    indices = np.fromiter((i for c in rows for i in c.features), dtype=np.int32, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float32)
    return csr_matrix((data, indices, indptr), shape=(len(rows), FEATURES))


# ---------------------------------------------------------------------- labels


def match(page_candidates: Sequence[Candidate], box: LabelledBox) -> int | None:
    """The index of the candidate a labelled box marks: the one covering it best (None if none overlaps enough);
    for a label without a box, the candidate whose text is its value (``value_matches``' best)."""
    if not box.has_box:
        found = value_matches(page_candidates, box.text or "")
        return found[0][1] if found else None
    assert box.xmin is not None and box.ymin is not None and box.xmax is not None and box.ymax is not None
    target = (box.xmin, box.ymin, box.xmax, box.ymax)
    best, best_score = None, 0.3
    for index, candidate in enumerate(page_candidates):
        score = iou(candidate.box, target)
        if box.text is not None and same_text(candidate.text, box.text):
            score += 0.5
        if score > best_score:
            best, best_score = index, score
    return best


def value_matches(page_candidates: Sequence[Candidate], value: str) -> list[tuple[int, int]]:
    """The candidates that write ``value`` (``values.same_value``), best first, as (quality, index): 0 the same
    text, 1 the same letters and digits, 2 the same date or amount; among equals, in page order."""
    wanted = _comparable(value)
    if not wanted:
        return []
    date = _date_ordinal(value)
    amount = _amount(value) if date is None else None
    found = []
    for index, candidate in enumerate(page_candidates):
        text = candidate.text
        if same_text(text, value):
            found.append((0, index))
        elif _comparable(text) == wanted:
            found.append((1, index))
        elif date is not None and candidate.kind == V.DATE and _date_ordinal(text) == date:
            found.append((2, index))
        elif amount is not None and candidate.kind in (V.AMOUNT, V.NUMBER) and _amount(text) == amount:
            found.append((2, index))
    found.sort()
    return found


class _Pages:
    """A document's pages' candidates, found once, and an extractor's probabilities for them."""

    def __init__(self, document: Document, extractor: FieldExtractor | None) -> None:
        self.document = document
        self.extractor = extractor
        self._found: dict[int, list[Candidate]] = {}
        self._probabilities: dict[int, Any] = {}

    def candidates(self, index: int) -> list[Candidate]:
        if index not in self._found:
            self._found[index] = candidates(self.document[index][0], index, len(self.document))
        return self._found[index]

    def probability(self, index: int, candidate: int, field: str) -> float:
        """How likely the extractor finds ``field`` in this candidate (0 without an extractor or the field)."""
        if self.extractor is None or field not in self.extractor.classes:
            return 0.0
        if index not in self._probabilities:
            self._probabilities[index] = self.extractor.probabilities(self.candidates(index))
        return float(self._probabilities[index][candidate, self.extractor.classes.index(field)])


def locate_values(documents: Sequence[Document], extractor: FieldExtractor | None = None
                  ) -> tuple[list[list[tuple[Page, list[LabelledBox]]]], list[MissingValue]]:
    """The documents with every label given without a box placed on the words that write its value, and the
    labels that could not be found. Where a value is written in several places (a total that is also a line's
    amount), the best written wins (the same text before the same amount), then the place ``extractor`` (if
    given) thinks likeliest for the field, then the first on the page. A placed label's text is the page's."""
    placed, missing, _ = _locate(documents, extractor)
    return placed, missing


def _locate(documents: Sequence[Document], extractor: FieldExtractor | None, *, skip_ambiguous: bool = False
            ) -> tuple[list[list[tuple[Page, list[LabelledBox]]]], list[MissingValue], bool]:
    """``locate_values``, and whether some value was written in several equally good places (with
    ``skip_ambiguous`` those are left out, not placed)."""
    placed: list[list[tuple[Page, list[LabelledBox]]]] = []
    missing: list[MissingValue] = []
    ambiguous = False
    for number, document in enumerate(documents):
        pages = [(page, [box for box in boxes if box.has_box]) for page, boxes in document]
        read = _Pages(document, extractor)
        seen_anywhere: set[tuple[str, str | None]] = set()
        for page_index, (_, boxes) in enumerate(document):
            for box in boxes:
                if box.has_box:
                    continue
                if box.anywhere:  # listed on every page: look on all of them, once
                    if (box.field, box.text) in seen_anywhere:
                        continue
                    seen_anywhere.add((box.field, box.text))
                where = range(len(document)) if box.anywhere else range(page_index, page_index + 1)
                options = [(quality, index, candidate) for index in where
                           for quality, candidate in value_matches(read.candidates(index), box.text or "")]
                if not options:
                    missing.append(MissingValue(number, box.field, box.text or "",
                                                None if box.anywhere else page_index))
                    continue
                best = min(quality for quality, _, _ in options)
                options = [option for option in options if option[0] == best]
                if len(options) > 1:
                    ambiguous = True
                    if skip_ambiguous:
                        continue
                _, index, chosen = max(options, key=lambda o: read.probability(o[1], o[2], box.field))
                candidate = read.candidates(index)[chosen]
                xmin, ymin, xmax, ymax = candidate.box
                pages[index][1].append(LabelledBox(box.field, candidate.text, xmin, ymin, xmax, ymax))
        placed.append(pages)
    return placed, missing, ambiguous


# ---------------------------------------------------------------------- the extractor


class FieldExtractor:
    """A fitted extractor: the fields it knows, the regression's weights, and how its probabilities map to
    the chance that a field's text is right (``calibration``: slope and bias on their log-odds, Platt's
    method on held-out documents; (1, 0) leaves them as they are). ``kinds``: for each field the kinds of
    value it answers (``values.KINDS``; none: any), learnt from its training values; ``periods``: for each
    field the last words after which its training values have a period the engine did not read; ``prefixes``:
    for each identifier field the letters its training values start with (``IO``, ``PO``), which an answer read
    with look-alike digits (``10-2015-8256``) gets back."""

    def __init__(self, fields: Sequence[str], classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                 calibration: tuple[float, float] = (1.0, 0.0), kinds: dict[str, frozenset[str]] | None = None,
                 periods: dict[str, frozenset[str]] | None = None,
                 prefixes: dict[str, frozenset[str]] | None = None) -> None:
        self.fields = list(fields)
        self.classes = list(classes)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.calibration = (float(calibration[0]), float(calibration[1]))
        self.kinds = dict(kinds or {})
        self.periods = dict(periods or {})
        self.prefixes = dict(prefixes or {})

    def calibrated(self, probability: float) -> float:
        """The chance that a field read with this probability is right."""
        slope, bias = self.calibration
        clipped = min(max(probability, 1e-6), 1 - 1e-6)
        return float(1 / (1 + np.exp(-(slope * np.log(clipped / (1 - clipped)) + bias))))

    def probabilities(self, found: Sequence[Candidate]) -> Any:
        """Each candidate's probability of each class (rows: candidates, columns: ``classes``)."""
        scores = _matrix(found) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

    def predict(self, page: Page, page_index: int = 0, page_count: int | None = 1) -> list[FieldValue]:
        """The fields found on a page, in the order of ``fields``, each at most once; ``page_index`` and
        ``page_count`` place the page in its document (count None: not known)."""
        found = candidates(page, page_index, page_count)
        if not found:
            return []
        probabilities = self.probabilities(found)
        values = []
        for field in self.fields:
            if field not in self.classes:
                continue
            column = np.array(probabilities[:, self.classes.index(field)])
            allowed = self.kinds.get(field)
            if allowed:
                column[[i for i, c in enumerate(found) if c.kind not in allowed]] = 0.0
            best = int(np.argmax(column))
            if column[best] < MIN_SCORE:
                continue
            candidate = _without_label(found[best], found, allowed)
            xmin, ymin, xmax, ymax = candidate.box
            score = round(self.calibrated(float(column[best])), 4)
            text = self._prefixed(field, self._whole(field, candidate.text))
            values.append(FieldValue(field, text, score, xmin, ymin, xmax, ymax))
        return values

    def predict_document(self, pages: Sequence[Page]) -> list[list[FieldValue]]:
        """The fields found on each page of a document (``predict`` with each page's place)."""
        return [self.predict(page, index, len(pages)) for index, page in enumerate(pages)]

    def _prefixed(self, field: str, text: str) -> str:
        """The text with the letters its field's values start with where the engine read look-alike digits
        (``10-2015-8256`` is ``IO-2015-8256`` when the field's values start ``IO``, ``P02018`` is ``PO2018``)."""
        known = self.prefixes.get(field)
        if not known or any(text.startswith(prefix) for prefix in known):
            return text
        for prefix in sorted(known, key=len, reverse=True):
            head, rest = text[:len(prefix)], text[len(prefix):]
            if head.translate(_LOOK_ALIKES) == prefix.translate(_LOOK_ALIKES) and (
                    rest[:1].isdigit() or rest[:1] in "-/#_."):  # 10-, I0-, 1O- are all IO-
                return prefix + rest
        return text

    def _whole(self, field: str, text: str) -> str:
        """The text with the period its last word had in training (``Co`` is ``Co.``) where the engine lost it."""
        ends = self.periods.get(field)
        if ends and not text.endswith(".") and text.rsplit(" ", 1)[-1] in ends:
            return text + "."
        return text

    def save(self, path: str | os.PathLike[str], *, compressed: bool = False) -> None:
        """Write the extractor as arrays (``load`` reads it back); ``compressed`` for one that ships (most of the
        hashed weights are zero)."""
        write = np.savez_compressed if compressed else np.savez
        kinds = [",".join(sorted(self.kinds.get(f, ()))) for f in self.fields]
        periods = ["\t".join(sorted(self.periods.get(f, ()))) for f in self.fields]
        prefixes = ["\t".join(sorted(self.prefixes.get(f, ()))) for f in self.fields]
        with open(path, "wb") as handle:
            write(handle, format=np.array(_FORMAT), fields=np.array(self.fields, dtype=str),
                  classes=np.array(self.classes, dtype=str), coef=self.coef, intercept=self.intercept,
                  calibration=np.array(self.calibration), kinds=np.array(kinds, dtype=str),
                  periods=np.array(periods, dtype=str), prefixes=np.array(prefixes, dtype=str))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FieldExtractor:
        """Read an extractor written by ``save`` (arrays only; nothing is unpickled)."""
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) not in (1, 2, _FORMAT):
                raise ValueError(f"{path}: an extractor of another format ({int(data['format'])})")
            calibration = tuple(data["calibration"]) if "calibration" in data else (1.0, 0.0)  # format 1: none
            fields = [str(f) for f in data["fields"]]
            kinds: dict[str, frozenset[str]] = {}
            periods: dict[str, frozenset[str]] = {}
            if "kinds" in data:  # format 3
                for field, allowed, ends in zip(fields, data["kinds"], data["periods"], strict=True):
                    if str(allowed):
                        kinds[field] = frozenset(str(allowed).split(","))
                    if str(ends):
                        periods[field] = frozenset(str(ends).split("\t"))
            prefixes: dict[str, frozenset[str]] = {}
            if "prefixes" in data:
                for field, starts in zip(fields, data["prefixes"], strict=True):
                    if str(starts):
                        prefixes[field] = frozenset(str(starts).split("\t"))
            return cls(fields, [str(c) for c in data["classes"]], data["coef"], data["intercept"],
                       (float(calibration[0]), float(calibration[1])), kinds, periods, prefixes)


def _without_label(candidate: Candidate, found: Sequence[Candidate], allowed: frozenset[str] | None) -> Candidate:
    """The candidate without the label it starts with (``Factuuradres: Drukkerij de Vries`` is ``Drukkerij de
    Vries``): words up to one ending with a colon that name a label, when the rest is a candidate too (of a
    kind the field answers)."""
    words = candidate.words
    for head in range(min(3, len(words) - 1), 0, -1):
        if words[head - 1].text.endswith(":") and ocr_labels.concept([w.text for w in words[:head]]) is not None:
            rest = [c for c in found if c.words == words[head:] and (not allowed or c.kind in allowed)]
            return rest[0] if rest else candidate
    return candidate


def learn_kinds(values: Sequence[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """For each field, the kinds of value it may answer, from its training values ((field, text) pairs): a field
    whose values are at least ``KIND_SHARE`` dates answers dates; amounts (bare numbers among them): amounts and
    bare numbers; identifiers (bare numbers among them): anything but amounts and dates; names: names,
    identifiers and addresses (no amounts, dates, bare numbers, web addresses or sentences). Other fields
    (addresses, mixed kinds) answer any kind."""
    by_field: dict[str, Counter[str]] = {}
    for field, text in values:
        by_field.setdefault(field, Counter())[_kind(text)] += 1
    learnt: dict[str, frozenset[str]] = {}
    for field, counts in by_field.items():
        total = sum(counts.values())

        def share(*kinds: str) -> float:
            return sum(counts[k] for k in kinds) / total  # noqa: B023 - used at once

        if share(V.DATE) >= KIND_SHARE:
            learnt[field] = frozenset({V.DATE})
        elif share(V.AMOUNT, V.NUMBER) >= KIND_SHARE and counts[V.AMOUNT] >= counts[V.NUMBER]:
            learnt[field] = frozenset({V.AMOUNT, V.NUMBER})
        elif share(V.IDENTIFIER, V.NUMBER) >= KIND_SHARE:
            learnt[field] = frozenset(set(V.KINDS) - {V.AMOUNT, V.DATE})
        elif share(V.NAME) >= KIND_SHARE:
            learnt[field] = frozenset(set(V.KINDS) - {V.AMOUNT, V.DATE, V.NUMBER, V.OTHER})
    return learnt


#: Digits the engine reads for letters at the start of an identifier.
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "S": "5", "B": "8", "Z": "2", "G": "6"})
_PREFIX = re.compile(r"^([A-Z]{1,5})(?=[-/#_.]?\d)")


def _learn_prefixes(values: Sequence[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """For each field whose values are identifiers, the capital letters they start with (seen at least twice)
    that look like digits (``IO`` in ``IO-2015-8256``, ``PO``), unless that digit form starts one of its values
    too."""
    seen: dict[str, Counter[str]] = {}
    starts: dict[str, set[str]] = {}
    for field, text in values:
        starts.setdefault(field, set()).add(text[:5])
        found = _PREFIX.match(text)
        if found and _kind(text) == V.IDENTIFIER:
            seen.setdefault(field, Counter())[found.group(1)] += 1
    learnt = {field: frozenset(p for p, n in counts.items() if n >= 2 and p.translate(_LOOK_ALIKES) != p
                               and not any(s.startswith(p.translate(_LOOK_ALIKES)) for s in starts[field]))
              for field, counts in seen.items()}
    return {field: prefixes for field, prefixes in learnt.items() if prefixes}


def _learn_periods(values: Sequence[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """For each field, the last words its training values ((field, text) pairs) always end with a period after
    (seen at least twice, never without): ``Co`` when the values end ``Co.``; what the engine reads without it
    gets it back."""
    seen: dict[tuple[str, str], list[bool]] = {}
    for field, text in values:
        last = text.strip().rsplit(" ", 1)[-1]
        if len(last) > 1 and any(c.isalpha() for c in last):
            seen.setdefault((field, last.rstrip(".")), []).append(last.endswith("."))
    learnt: dict[str, set[str]] = {}
    for (field, word), outcomes in seen.items():
        if len(outcomes) >= 2 and all(outcomes):
            learnt.setdefault(field, set()).add(word)
    return {field: frozenset(words) for field, words in learnt.items()}


def _fit(documents: Sequence[Document], fields: Sequence[str], seed: int = 0) -> FieldExtractor:
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    chance = random.Random(seed)
    blocks = []  # one sparse block of kept candidates per page: memory grows by pages, not by candidates
    labels: list[str] = []
    texts: list[tuple[str, str]] = []
    for document in documents:
        for page_index, (page, boxes) in enumerate(document):
            found = candidates(page, page_index, len(document))
            classes = [NONE] * len(found)
            for box in boxes:
                index = match(found, box)
                if index is not None and box.field in fields:
                    classes[index] = box.field
                    read = found[index].text
                    truth = box.text if box.text is not None else read
                    texts.append((box.field, truth))
            negatives = [i for i, c in enumerate(classes) if c == NONE]
            if len(negatives) > NEGATIVES_PER_PAGE:  # every labelled one, a sample of the rest
                dropped = set(negatives) - set(chance.sample(negatives, NEGATIVES_PER_PAGE))
                kept = [i for i in range(len(found)) if i not in dropped]
            else:
                kept = list(range(len(found)))
            blocks.append(_matrix([found[i] for i in kept]))
            labels.extend(classes[i] for i in kept)
    present = sorted(set(labels) - {NONE})
    if not present:
        raise ValueError("No labelled box matched the words read on its page: check the boxes' coordinates")
    regression = LogisticRegression(C=REGULARISATION, max_iter=300)
    regression.fit(vstack(blocks, format="csr"), np.array(labels))
    classes = [str(c) for c in regression.classes_]
    coef, intercept = regression.coef_, regression.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: spell out both
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return FieldExtractor(fields, classes, coef, intercept, kinds=learn_kinds(texts), periods=_learn_periods(texts),
                          prefixes=_learn_prefixes(texts))


def accuracy(extractor: FieldExtractor, documents: Sequence[Document]) -> tuple[int, int]:
    """(labelled values read exactly, labelled values) over the documents' pages.

    A box given without text counts with the text of the words it covers, as read.
    """
    outcomes = _outcomes(extractor, documents)
    return sum(right for _, right in outcomes), len(outcomes)


def _outcomes(extractor: FieldExtractor, documents: Sequence[Document]) -> list[tuple[float | None, bool]]:
    """For each labelled value: the score of the extractor's answer (None: no answer) and whether it is right."""
    outcomes: list[tuple[float | None, bool]] = []
    for document in documents:
        answers = extractor.predict_document([page for page, _ in document])
        for page_index, ((page, boxes), values) in enumerate(zip(document, answers, strict=True)):
            predicted = {value.field: value for value in values}
            found = None
            for box in boxes:
                truth = box.text
                if truth is None:
                    found = found if found is not None else candidates(page, page_index, len(document))
                    index = match(found, box)
                    if index is None:
                        continue
                    truth = found[index].text
                answer = predicted.get(box.field)
                outcomes.append((None if answer is None else answer.score,
                                 answer is not None and same_text(answer.text, truth)))
    return outcomes


def platt(scores: Sequence[float], right: Sequence[bool]) -> tuple[float, float]:
    """Slope and bias on the log-odds of ``scores`` that best predict ``right`` (Platt's method, with his
    targets (n+1)/(n+2) and 1/(n+2), so that a held-out set read all right still gives a finite map)."""
    x = np.log(np.clip(np.asarray(scores, dtype=float), 1e-6, 1 - 1e-6))
    x = x - np.log(np.clip(1 - np.exp(x), 1e-6, None))
    positives = int(sum(right))
    negatives = len(right) - positives
    target = np.where(np.asarray(right), (positives + 1) / (positives + 2), 1 / (negatives + 2))
    slope, bias = 1.0, 0.0
    for _ in range(50):  # Newton's method on the cross-entropy
        p = 1 / (1 + np.exp(-np.clip(slope * x + bias, -500, 500)))
        weight = np.maximum(p * (1 - p), 1e-9)
        gradient = np.array([np.sum((p - target) * x), np.sum(p - target)])
        hessian = np.array([[np.sum(weight * x * x), np.sum(weight * x)], [np.sum(weight * x), np.sum(weight)]])
        step = np.linalg.solve(hessian + 1e-6 * np.eye(2), gradient)
        slope, bias = slope - step[0], bias - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(slope), float(bias)


def place_values(documents: Sequence[Document], fields: Sequence[str]
                 ) -> tuple[list[list[tuple[Page, list[LabelledBox]]]], list[MissingValue]]:
    """``locate_values`` for training: where a value given without a box is written in several equally good
    places, an extractor fitted on the labels placed without doubt (and the boxes) decides."""
    placed, missing, ambiguous = _locate(documents, None, skip_ambiguous=True)
    if not ambiguous:
        return placed, missing
    try:
        provisional: FieldExtractor | None = _fit(placed, fields)
    except ValueError:  # nothing placed without doubt to learn from
        provisional = None
    placed, missing, _ = _locate(documents, provisional)
    return placed, missing


def adapt(base: FieldExtractor, own: FieldExtractor, documents: int) -> FieldExtractor:
    """``own``, fitted on a model's ``documents``, blended with ``base``, the extractor the model started from:
    their weights on the same hashed features averaged, ``base`` counting as ``BASE_DOCUMENTS`` documents (a
    field only one of them knows keeps that one's weights). The blend answers ``own``'s fields; what a field
    answers (its kinds) and the periods the engine drops are ``own``'s where it learnt them, else ``base``'s."""
    share = documents / (documents + BASE_DOCUMENTS)
    classes = sorted(set(own.classes) | {c for c in base.classes if c == NONE or c in own.fields})
    coef = np.zeros((len(classes), own.coef.shape[1]), dtype=np.float32)
    intercept = np.zeros(len(classes), dtype=np.float32)
    for row, name in enumerate(classes):
        parts = [(model, weight) for model, weight in ((own, share), (base, 1 - share)) if name in model.classes]
        total = sum(weight for _, weight in parts)
        for model, weight in parts:
            coef[row] += (weight / total) * model.coef[model.classes.index(name)]
            intercept[row] += (weight / total) * model.intercept[model.classes.index(name)]
    kinds = {field: allowed for field in own.fields
             if (allowed := own.kinds.get(field) or base.kinds.get(field))}
    periods = {field: own.periods.get(field, frozenset()) | base.periods.get(field, frozenset())
               for field in own.fields if field in own.periods or field in base.periods}
    prefixes = {field: own.prefixes.get(field, frozenset()) | base.prefixes.get(field, frozenset())
                for field in own.fields if field in own.prefixes or field in base.prefixes}
    return FieldExtractor(own.fields, classes, coef, intercept, own.calibration, kinds, periods, prefixes)


def train(documents: Sequence[Document], fields: Sequence[str], *, progress: Progress | None = None,
          seed: int = 0, base: FieldExtractor | None = None) -> tuple[FieldExtractor, float | None, int]:
    """Fit an extractor on labelled documents; return (extractor, held-out exact-text accuracy or None,
    the number of held-out labelled values it was measured on). Labels given without a box are placed first
    (``place_values``; call it yourself to learn which could not be found). With ``base``, the extractor a
    model started from, what is fitted is blended with it (``adapt``), and held-out accuracy is the blend's."""

    def fit(chosen: Sequence[Document]) -> FieldExtractor:
        own = _fit(chosen, fields)
        return own if base is None else adapt(base, own, len(chosen))

    tell = progress or (lambda _: None)
    if any(not box.has_box for document in documents for _, boxes in document for box in boxes):
        tell("finding the values given without a box")
        documents, _ = place_values(documents, fields)
    measured: float | None = None
    held_values = 0
    calibration = (1.0, 0.0)
    held_count = max(HOLD_OUT_MIN, len(documents) // 5)
    if len(documents) >= 2 * held_count:
        order = list(range(len(documents)))
        random.Random(seed).shuffle(order)
        held = [documents[i] for i in order[:held_count]]
        kept = [documents[i] for i in order[held_count:]]
        tell("fitting on held-in documents")
        outcomes = _outcomes(fit(kept), held)
        held_values = len(outcomes)
        measured = sum(right for _, right in outcomes) / held_values if held_values else None
        answered = [(score, right) for score, right in outcomes if score is not None]
        if len(answered) >= 10:
            calibration = platt([s for s, _ in answered], [r for _, r in answered])
    tell("fitting on every document")
    extractor = fit(documents)
    extractor.calibration = calibration
    return extractor, measured, held_values


__all__ = ["Candidate", "Document", "FieldExtractor", "adapt", "FieldValue", "LabelledBox", "MIN_SCORE", "MissingValue",
           "accuracy", "candidates", "learn_kinds", "locate_values", "match", "place_values", "train",
           "value_matches"]
