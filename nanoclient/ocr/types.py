"""Typed results of OCR models: what the JSON of docs/OCR-API.md becomes in Python.

A prediction is a list of pages (``OcrPage``: which input, which page, its ids and status), each with
the fields found on it (``OcrField``: label, text, score and box) and, when the service finds them,
tables (``OcrTable`` with ``OcrCell``s). ``from_json`` reads the API's forms (the synchronous entry,
the asynchronous one, an inference listing's item); ``to_json`` is the form ``--json`` prints, which
``from_json`` reads back.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..types import ListedUploadReport

#: The status of a page read: done, still waiting (asynchronous), or given up by the service.
PAGE_SUCCESS, PAGE_PENDING, PAGE_FAILURE = "success", "pending", "failure"


def _box(data: dict[str, Any]) -> tuple[int, int, int, int]:
    return tuple(int(round(float(data.get(k) or 0))) for k in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[return-value]


@dataclass(frozen=True)
class OcrField:
    """One field found on a page: its label (the model's field), text, score and box in page pixels."""

    label: str
    text: str
    score: float | None
    xmin: int
    ymin: int
    xmax: int
    ymax: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OcrField:
        score = data.get("score")
        text = data.get("ocr_text", data.get("text"))
        return cls(str(data.get("label") or ""), "" if text is None else str(text),
                   None if score is None else float(score), *_box(data))

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "ocr_text": self.text, "score": self.score, "xmin": self.xmin,
                "ymin": self.ymin, "xmax": self.xmax, "ymax": self.ymax}

    def as_date(self, locale: str | None = None) -> datetime.date | None:
        """The text as a date (``7. Mai 2014``, ``07.05.2014``, ``May 7, 2014``...), or None if it is none;
        ``locale`` (``de``, ``en_US``) says whether ``05/07/2014`` is day or month first (``nanoclient.values``)."""
        from .values import parse_date

        return parse_date(self.text, locale)

    def as_amount(self, locale: str | None = None) -> Decimal | None:
        """The text as an amount (``€4.904,94`` is ``Decimal("4904.94")``), or None if it is none; ``locale``
        says what ``1.234`` is (``de``: 1234, ``en``: 1.234) (``nanoclient.values``)."""
        from .values import parse_amount

        return parse_amount(self.text, locale)


@dataclass(frozen=True)
class OcrCell:
    """One cell of a table: its row and column (from 1), spans, column label, text, score and box."""

    row: int
    col: int
    text: str
    label: str = ""
    score: float | None = None
    row_span: int = 1
    col_span: int = 1
    box: tuple[int, int, int, int] = (0, 0, 0, 0)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OcrCell:
        score = data.get("score")
        return cls(int(data.get("row") or 0), int(data.get("col") or 0), str(data.get("text") or ""),
                   str(data.get("label") or ""), None if score is None else float(score),
                   int(data.get("row_span") or 1), int(data.get("col_span") or 1), _box(data))

    def to_json(self) -> dict[str, Any]:
        xmin, ymin, xmax, ymax = self.box
        return {"row": self.row, "col": self.col, "row_span": self.row_span, "col_span": self.col_span,
                "label": self.label, "text": self.text, "score": self.score,
                "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}


@dataclass(frozen=True)
class OcrTable:
    """A table found on a page (scores as the service gives them: the reference shows 0 to 100)."""

    text: str
    score: float | None
    box: tuple[int, int, int, int]
    cells: tuple[OcrCell, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OcrTable:
        score = data.get("score")
        return cls(str(data.get("ocr_text") or ""), None if score is None else float(score), _box(data),
                   tuple(OcrCell.from_json(c) for c in data.get("cells") or [] if isinstance(c, dict)))

    def to_json(self) -> dict[str, Any]:
        xmin, ymin, xmax, ymax = self.box
        return {"type": "table", "label": "", "ocr_text": self.text, "score": self.score, "xmin": xmin,
                "ymin": ymin, "xmax": xmax, "ymax": ymax, "cells": [c.to_json() for c in self.cells]}


@dataclass(frozen=True)
class OcrPage:
    """One page of a document as an OCR model read it (or is reading it: ``status`` pending)."""

    #: The input it came from: the file's name as sent, or the URL.
    input: str
    page: int = 0
    #: The page's inference id (fetch it again with ``client.ocr.inference``), and its input's.
    id: str = ""
    request_file_id: str = ""
    status: str = PAGE_SUCCESS
    message: str = ""
    fields: tuple[OcrField, ...] = ()
    tables: tuple[OcrTable, ...] = ()

    @property
    def done(self) -> bool:
        """Whether the page is read (successfully or not): not pending."""
        return self.status != PAGE_PENDING

    def field(self, label: str) -> OcrField | None:
        """The best-scored field with this label, or None."""
        found = [f for f in self.fields if f.label == label]
        return max(found, key=lambda f: f.score or 0.0) if found else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OcrPage:
        """A page from a prediction's entry, an asynchronous entry or an inference listing's item."""
        message = str(data.get("message") or "")
        status = str(data.get("status") or "").lower()
        if status not in (PAGE_SUCCESS, PAGE_PENDING, PAGE_FAILURE):
            status = PAGE_PENDING if message.lower() == "pending" else (
                PAGE_FAILURE if message.lower().startswith("fail") else PAGE_SUCCESS)
        boxes = data.get("prediction")
        if boxes is None:
            boxes = data.get("predicted_boxes") or []
        fields = tuple(OcrField.from_json(b) for b in boxes if isinstance(b, dict) and b.get("type") != "table")
        tables = tuple(OcrTable.from_json(b) for b in boxes if isinstance(b, dict) and b.get("type") == "table")
        return cls(input=str(data.get("input") or data.get("file") or ""), page=int(data.get("page") or 0),
                   id=str(data.get("id") or ""), request_file_id=str(data.get("request_file_id") or ""),
                   status=status, message=message, fields=fields, tables=tables)

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input, "page": self.page, "id": self.id, "request_file_id": self.request_file_id,
                "status": self.status, "message": self.message,
                "prediction": [f.to_json() for f in self.fields] + [t.to_json() for t in self.tables]}


#: What became of each document of an OCR upload, by path (the upload engine's report: ``_listed_upload``).
OcrUploadReport = ListedUploadReport


__all__ = ["OcrCell", "OcrField", "OcrPage", "OcrTable", "OcrUploadReport", "PAGE_FAILURE", "PAGE_PENDING",
           "PAGE_SUCCESS"]
