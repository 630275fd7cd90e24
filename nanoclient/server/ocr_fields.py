"""The local server's field extractor for OCR models: which words of a page are which field.

Training documents come with labelled boxes (``LabelledBox``: "the invoice number is here"). The
engine (``ocr_engine``) reads each page's words; the words are grouped into rows (by their vertical
centres) and rows into segments (words closer than ``SEGMENT_GAP`` line heights); every run of up to
``MAX_SPAN`` consecutive words of a segment is a candidate value. A labelled box is matched to the
candidate that covers it best. Each candidate is described by
- its place on the page (where it starts, ends and sits, in tenths of the page),
- its text's shape (``INV-20413`` is ``A-d``, ``$1,234.56`` is ``$d,d.d``; digits, dates, amounts),
- the words to its left on its row and in the row above it (``Invoice No``, ``Bill To``, ``Total``),
  and the word to its right,
hashed into ``FEATURES`` dimensions; a multinomial logistic regression over "none" and the fields
gives each candidate a probability for each field. A page's answer for a field is its most probable
candidate, if that probability reaches ``MIN_SCORE``; its score is that probability calibrated (Platt's
method, fitted on the held-out documents) into the chance that the text is exactly right.

``train`` holds out a fifth of the documents (at least ``HOLD_OUT_MIN`` of them) to measure the
field-level exact-text accuracy, then fits again on every document. A saved extractor is a plain
``.npz`` of arrays (no pickle). This module knows pages and words, nothing of HTTP or SQLite.
"""
from __future__ import annotations

import os
import random
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ocr_evaluate import iou, same_text
from .ocr_engine import Page, Word

#: Longest run of words a value may have.
MAX_SPAN = 6
#: Words further apart than this many line heights are in different segments (columns of a table).
SEGMENT_GAP = 1.6
#: Dimensions the features are hashed into.
FEATURES = 1 << 15
#: The least probability at which a field is reported; below it the field is left out of the page.
MIN_SCORE = 0.05
#: Candidates that are no field kept per training page (a random sample; every labelled one is kept): what
#: training holds grows by pages, not by the candidates of every page (several hundred on an invoice).
NEGATIVES_PER_PAGE = 200
#: How many held-out documents accuracy needs at least (fewer training documents: no accuracy).
HOLD_OUT_MIN = 3
#: The class of a candidate that is no field.
NONE = ""
#: Saved-file format version.
_FORMAT = 2

Progress = Callable[[str], object]


@dataclass(frozen=True)
class LabelledBox:
    """A field labelled on a training page: its name, its text (None: read it from the page), its box."""

    field: str
    text: str | None
    xmin: float
    ymin: float
    xmax: float
    ymax: float


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


#: One training document: its pages, each with the boxes labelled on it.
Document = Sequence[tuple[Page, Sequence[LabelledBox]]]


@dataclass(frozen=True)
class Candidate:
    """A run of consecutive words of one segment: a possible value."""

    words: tuple[Word, ...]
    features: tuple[int, ...]

    @property
    def text(self) -> str:
        """The words' text, without the separator a value never ends with (``INV-4892,`` is ``INV-4892``)."""
        return " ".join(word.text for word in self.words).rstrip(",;:") or self.words[0].text

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (min(w.xmin for w in self.words), min(w.ymin for w in self.words),
                max(w.xmax for w in self.words), max(w.ymax for w in self.words))


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
    height = max(1, int(np.median([w.height for w in row])))
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


def candidates(page: Page) -> list[Candidate]:
    """Every possible value of a page, with its hashed features."""
    rows = _rows(page.words)
    found: list[Candidate] = []
    width, height = max(page.width, 1), max(page.height, 1)
    for row_index, row in enumerate(rows):
        above = rows[row_index - 1] if row_index else []
        below = rows[row_index + 1] if row_index + 1 < len(rows) else []
        for segment in _segments(row):
            for start in range(len(segment)):
                for end in range(start + 1, min(len(segment), start + MAX_SPAN) + 1):
                    words = tuple(segment[start:end])
                    found.append(Candidate(words, _features(words, segment, start, end, row, above, below,
                                                            width, height)))
    return found


def _features(words: tuple[Word, ...], segment: list[Word], start: int, end: int, row: list[Word],
              above: list[Word], below: list[Word], width: int, height: int) -> tuple[int, ...]:
    text = " ".join(w.text for w in words)
    xmin, xmax = words[0].xmin, words[-1].xmax
    ymin = min(w.ymin for w in words)
    line = max(1, max(w.height for w in words))
    shape = _shape(text)
    names = [
        "bias", f"n:{min(len(words), 4)}", f"x0:{int(10 * xmin / width)}", f"x1:{int(10 * xmax / width)}",
        f"y:{int(10 * ymin / height)}", f"y20:{int(20 * ymin / height)}", f"shape:{shape}",
        f"len:{min(len(text) // 3, 8)}",
    ]
    if start == 0:
        names.append("first")
    if end == len(segment):
        names.append("last")
    if start == 0 and end == len(segment):
        names.append("whole")
    if any(c.isdigit() for c in text):
        names.append("digit")
        names.append(f"digits:{min(sum(c.isdigit() for c in text) * 4 // max(len(text), 1), 3)}")
    if _DATE.match(text):
        names.append("date")
    if _AMOUNT.match(text):
        names.append("amount")
    if text.endswith(":"):
        names.append("colon_end")
    names.extend(f"tok:{_token(w.text)}" for w in words if _token(w.text))
    # the words before it on its row, nearest first
    before = [w for w in row if w.xmax <= xmin + 1][::-1]
    left = [t for t in (_token(w.text) for w in before) if t][:4]
    if before and xmin - before[0].xmax > SEGMENT_GAP * line:
        names.append("left_far")
    if not before:
        names.append("left_none")
    for rank, token in enumerate(left):
        names.extend((f"left:{token}", f"left_prefix:{token[:3]}"))  # a misread label keeps its start
        if rank == 0:
            names.extend((f"left1:{token}", f"left1_shape:{token}|{shape}"))
        if rank == 1:
            names.append(f"left12:{token}|{left[0]}")
    after = [w for w in row if w.xmin >= xmax - 1]
    if after:
        names.append(f"right1:{_token(after[0].text)}")
    else:
        names.append("right_none")
    # the row above, where it overlaps the candidate horizontally
    if above and ymin - max(w.ymax for w in above) < 3 * line:
        over = [t for t in (_token(w.text) for w in above if w.xmax > xmin - line and w.xmin < xmax + line) if t]
        for rank, token in enumerate(over[:4]):
            names.append(f"above:{token}")
            if rank == 0:
                names.extend((f"above1:{token}", f"above1_shape:{token}|{shape}"))
        if not over:
            names.append("above_none")
    else:
        names.append("above_none")
    # the row below, where it overlaps the candidate (the last line of a block has none)
    if below and min(w.ymin for w in below) - max(w.ymax for w in words) < 3 * line:
        under = [t for t in (_token(w.text) for w in below if w.xmax > xmin - line and w.xmin < xmax + line) if t]
        names.extend(f"below:{token}" for token in under[:2])
        if not under:
            names.append("below_none")
        elif _AMOUNT.match(below[-1].text):
            names.append("below_amount")
    else:
        names.append("below_none")
    return tuple(sorted({_hash(name) for name in names}))


def _matrix(rows: Sequence[Candidate]) -> Any:
    from scipy.sparse import csr_matrix

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(c.features) for c in rows], out=indptr[1:])
    indices = np.fromiter((i for c in rows for i in c.features), dtype=np.int32, count=int(indptr[-1]))
    data = np.ones(len(indices), dtype=np.float32)
    return csr_matrix((data, indices, indptr), shape=(len(rows), FEATURES))


# ---------------------------------------------------------------------- labels


def match(page_candidates: Sequence[Candidate], box: LabelledBox) -> int | None:
    """The index of the candidate a labelled box marks: the one covering it best (None if none overlaps enough)."""
    target = (box.xmin, box.ymin, box.xmax, box.ymax)
    best, best_score = None, 0.3
    for index, candidate in enumerate(page_candidates):
        score = iou(candidate.box, target)
        if box.text is not None and same_text(candidate.text, box.text):
            score += 0.5
        if score > best_score:
            best, best_score = index, score
    return best


# ---------------------------------------------------------------------- the extractor


class FieldExtractor:
    """A fitted extractor: the fields it knows, the regression's weights, and how its probabilities map to
    the chance that a field's text is right (``calibration``: slope and bias on their log-odds, Platt's
    method on held-out documents; (1, 0) leaves them as they are)."""

    def __init__(self, fields: Sequence[str], classes: Sequence[str], coef: np.ndarray, intercept: np.ndarray,
                 calibration: tuple[float, float] = (1.0, 0.0)) -> None:
        self.fields = list(fields)
        self.classes = list(classes)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.calibration = (float(calibration[0]), float(calibration[1]))

    def calibrated(self, probability: float) -> float:
        """The chance that a field read with this probability is right."""
        slope, bias = self.calibration
        clipped = min(max(probability, 1e-6), 1 - 1e-6)
        return float(1 / (1 + np.exp(-(slope * np.log(clipped / (1 - clipped)) + bias))))

    def predict(self, page: Page) -> list[FieldValue]:
        """The fields found on a page, in the order of ``fields``, each at most once."""
        found = candidates(page)
        if not found:
            return []
        scores = _matrix(found) @ self.coef.T + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        values = []
        for field in self.fields:
            if field not in self.classes:
                continue
            column = probabilities[:, self.classes.index(field)]
            best = int(np.argmax(column))
            if column[best] < MIN_SCORE:
                continue
            candidate = found[best]
            xmin, ymin, xmax, ymax = candidate.box
            score = round(self.calibrated(float(column[best])), 4)
            values.append(FieldValue(field, candidate.text, score, xmin, ymin, xmax, ymax))
        return values

    def save(self, path: str | os.PathLike[str], *, compressed: bool = False) -> None:
        """Write the extractor as arrays (``load`` reads it back); ``compressed`` for one that ships (most of the
        hashed weights are zero)."""
        write = np.savez_compressed if compressed else np.savez
        with open(path, "wb") as handle:
            write(handle, format=np.array(_FORMAT), fields=np.array(self.fields, dtype=str),
                     classes=np.array(self.classes, dtype=str), coef=self.coef, intercept=self.intercept,
                     calibration=np.array(self.calibration))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FieldExtractor:
        """Read an extractor written by ``save`` (arrays only; nothing is unpickled)."""
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) not in (1, _FORMAT):
                raise ValueError(f"{path}: an extractor of another format ({int(data['format'])})")
            calibration = tuple(data["calibration"]) if "calibration" in data else (1.0, 0.0)  # format 1: none
            return cls([str(f) for f in data["fields"]], [str(c) for c in data["classes"]],
                       data["coef"], data["intercept"], (float(calibration[0]), float(calibration[1])))


def _fit(documents: Sequence[Document], fields: Sequence[str], seed: int = 0) -> FieldExtractor:
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    chance = random.Random(seed)
    blocks = []  # one sparse block of kept candidates per page: memory grows by pages, not by candidates
    labels: list[str] = []
    for document in documents:
        for page, boxes in document:
            found = candidates(page)
            classes = [NONE] * len(found)
            for box in boxes:
                index = match(found, box)
                if index is not None and box.field in fields:
                    classes[index] = box.field
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
    regression = LogisticRegression(C=4.0, max_iter=300)
    regression.fit(vstack(blocks, format="csr"), np.array(labels))
    classes = [str(c) for c in regression.classes_]
    coef, intercept = regression.coef_, regression.intercept_
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: spell out both
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return FieldExtractor(fields, classes, coef, intercept)


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
        for page, boxes in document:
            predicted = {value.field: value for value in extractor.predict(page)}
            found = None
            for box in boxes:
                truth = box.text
                if truth is None:
                    found = found if found is not None else candidates(page)
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
        p = 1 / (1 + np.exp(-(slope * x + bias)))
        weight = np.maximum(p * (1 - p), 1e-9)
        gradient = np.array([np.sum((p - target) * x), np.sum(p - target)])
        hessian = np.array([[np.sum(weight * x * x), np.sum(weight * x)], [np.sum(weight * x), np.sum(weight)]])
        step = np.linalg.solve(hessian + 1e-6 * np.eye(2), gradient)
        slope, bias = slope - step[0], bias - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(slope), float(bias)


def train(documents: Sequence[Document], fields: Sequence[str], *, progress: Progress | None = None,
          seed: int = 0) -> tuple[FieldExtractor, float | None, int]:
    """Fit an extractor on labelled documents; return (extractor, held-out exact-text accuracy or None,
    the number of held-out labelled values it was measured on)."""
    tell = progress or (lambda _: None)
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
        outcomes = _outcomes(_fit(kept, fields), held)
        held_values = len(outcomes)
        measured = sum(right for _, right in outcomes) / held_values if held_values else None
        answered = [(score, right) for score, right in outcomes if score is not None]
        if len(answered) >= 10:
            calibration = platt([s for s, _ in answered], [r for _, r in answered])
    tell("fitting on every document")
    extractor = _fit(documents, fields)
    extractor.calibration = calibration
    return extractor, measured, held_values


__all__ = ["Candidate", "Document", "FieldExtractor", "FieldValue", "LabelledBox", "MIN_SCORE", "accuracy",
           "candidates", "match", "train"]
