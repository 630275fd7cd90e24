"""The local extension for OCR models, for the dashboard: training documents read back, with their boxes.

The hosted API lists an OCR model's training files only all at once (``Annotations``) and never gives
their pages back as pictures; the dashboard needs both, a page at a time. Like ``local.py`` it lives
under ``/local/v1`` (``Operation(..., local=True)``), keeps the API's isolation (another account's
model, or a model of another type, is ``NotFoundError``) and is never failed by injected faults.

- Documents: the model's training documents, newest first, a page at a time, each with its page
  count, the size of each page in pixels (PDFs at ``ocr_engine.PDF_DPI``, as the engine reads
  them) and its labelled boxes in those pixels, exactly as they were uploaded.
- Pages: one page of a document as a PNG (greyscale, as the engine reads it), downsized to at
  most ``width`` pixels wide (1000 unless asked for 300 or 600), never enlarged; the answer says
  the page's size and the scale, so boxes can be drawn over it. Made once and cached in the data
  folder beside the thumbnails, named by the document's content hash: its ETag never changes.

``OcrLocal`` holds the rules (no Flask, no SQL: ``OcrModels`` and the store's public methods); the
handlers and the table ``OCR_LOCAL_OPERATIONS`` follow it, in the style of ``operations.py``.
"""
from __future__ import annotations

import io
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response

from ...errors import BadRequestError, NotFoundError
from ...types import Model
from .. import forms
from ..backend import Account
from ..openapi import FILE, STRING, WHOLE, Schema
from ..operations import Call, Operation, Reply, json_response
from ..store import DocumentRecord
from . import TYPE
from .engine import EngineMissingError, open_document, page_sizes
from .models import OcrModels

#: Documents per page of a listing, by default and at most.
DOCUMENTS_PER_PAGE = 12
MAX_DOCUMENTS_PER_PAGE = 100
#: The widths a page may be asked for, in pixels (a few, so that the cache stays small); the default.
PAGE_WIDTHS = (300, 600, 1000)
PAGE_WIDTH = 1000
#: Bumped when pages are drawn differently, so that caches (the disk's, the browser's) renew.
PAGE_VERSION = 1
#: How long a browser may keep a page without asking again (it never changes).
PAGE_MAX_AGE = 24 * 3600
#: Documents whose page sizes are kept at hand (by content hash: the same bytes have the same pages).
_SIZES_CACHED = 20000
_sizes: OrderedDict[str, tuple[tuple[int, int], ...]] = OrderedDict()
_sizes_lock = threading.Lock()


@dataclass(frozen=True)
class DocumentView:
    """One training document as the dashboard shows it: its record, its pages' sizes, its boxes."""

    record: DocumentRecord
    #: (width, height) in pixels of each page, in the pixels of its boxes.
    sizes: tuple[tuple[int, int], ...]

    @property
    def boxes(self) -> list[dict[str, Any]]:
        """Its labelled boxes, flat: name, ocr_text (None if not given), page (from 0) and the corners."""
        found = []
        try:
            items = json.loads(self.record.annotation)
        except ValueError:
            items = []
        for item in items if isinstance(items, list) else []:
            box = item.get("bndbox") if isinstance(item, dict) else None
            if not isinstance(box, dict):
                continue
            try:
                corners = {key: int(box[key]) for key in ("xmin", "ymin", "xmax", "ymax")}
                page = int(item.get("page", 0) or 0)
            except (KeyError, TypeError, ValueError):
                continue
            text = item.get("ocr_text")
            found.append({"name": str(item.get("name", "")), "ocr_text": None if text is None else str(text),
                          "page": page, **corners})
        return found

    def to_json(self) -> dict[str, object]:
        record = self.record
        return {"id": record.id, "name": record.name, "sha256": record.sha256, "created_at": record.created_at,
                "page_count": len(self.sizes),
                "page_sizes": [{"width": width, "height": height} for width, height in self.sizes],
                "boxes": self.boxes}


@dataclass(frozen=True)
class DocumentPage:
    """One page of an OCR model's training documents, newest first."""

    model: Model
    page: int
    per_page: int
    total: int
    documents: list[DocumentView]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_json(self) -> dict[str, object]:
        return {"model_id": self.model.id, "fields": [c.name for c in self.model.categories], "page": self.page,
                "per_page": self.per_page, "pages": self.pages, "total": self.total,
                "documents": [document.to_json() for document in self.documents]}


@dataclass(frozen=True)
class PageRef:
    """One page of a training document at one width, as it can be named before it is drawn."""

    document: DocumentRecord
    #: The page, counted from 0, and its size in the pixels of the document's boxes.
    page: int
    page_width: int
    page_height: int
    #: The size of the picture answered: the page downsized to the asked width, never enlarged.
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Picture pixels per page pixel (1 when the page is no wider than asked)."""
        return self.width / self.page_width

    @property
    def etag(self) -> str:
        """The document's content hash, with the page, the width and the drawing's version (unquoted)."""
        return f"{self.document.sha256}-p{self.page}-w{self.width}-v{PAGE_VERSION}"

    @property
    def cache_name(self) -> str:
        return f"page{self.page}-w{self.width}-v{PAGE_VERSION}.png"


class OcrLocal:
    """The extension's OCR operations over one ``OcrModels`` (its accounts and store); thread-safe."""

    def __init__(self, ocr: OcrModels) -> None:
        self.ocr = ocr
        self.store = ocr.store

    def documents(self, account: Account, model_id: str, page: str | None, per_page: str | None) -> DocumentPage:
        """A page (from 1) of the OCR model's training documents, newest first."""
        number = _whole(page, "page", 1, 1, 1_000_000)
        size = _whole(per_page, "per_page", DOCUMENTS_PER_PAGE, 1, MAX_DOCUMENTS_PER_PAGE)
        model, records = self.ocr.annotations(account, model_id)  # NotFoundError unless this account's OCR model
        newest = records[::-1][(number - 1) * size: number * size]
        return DocumentPage(model, number, size, len(records),
                            [DocumentView(record, self._sizes(record)) for record in newest])

    def page_ref(self, account: Account, model_id: str, document_id: str, page: str,
                 width: str | None) -> PageRef:
        """One page of one of the model's documents (NotFoundError for any other document or page)."""
        _, records = self.ocr.annotations(account, model_id)
        number = int(document_id) if document_id.isdigit() and len(document_id) < 19 else None
        record = next((r for r in records if r.id == number), None)
        if record is None:
            raise NotFoundError("Document does not exist", hint="List the model's documents for their ids")
        if not page.isdigit() or len(page) > 9:
            raise BadRequestError("The page must be a whole number, counted from 0", hint="For example pages/0")
        wanted = _whole(width, "width", PAGE_WIDTH, 1, max(PAGE_WIDTHS))
        if wanted not in PAGE_WIDTHS:
            raise BadRequestError(f"width must be one of {', '.join(map(str, PAGE_WIDTHS))}",
                                  hint=f"For example width={PAGE_WIDTH}")
        sizes = self._sizes(record)
        index = int(page)
        if index >= len(sizes):
            raise NotFoundError(f"The document has {len(sizes)} page{'s' if len(sizes) != 1 else ''}: "
                                f"no page {index}", hint="Count pages from 0")
        page_width, page_height = sizes[index]
        out_width = min(wanted, page_width)
        out_height = max(1, round(page_height * out_width / page_width))
        return PageRef(record, index, page_width, page_height, out_width, out_height)

    def page_png(self, ref: PageRef) -> bytes:
        """The PNG of a page: the cached one, or drawn now and cached."""
        sha = ref.document.sha256
        try:
            return self.store.thumbnail_path(sha, ref.cache_name).read_bytes()
        except FileNotFoundError:
            pass
        from PIL import Image

        try:
            with open_document(self._content(ref.document)) as document:
                image = document.page(ref.page)  # that page only, however long the document
        except (ValueError, IndexError, EngineMissingError) as exc:
            raise BadRequestError(f"{ref.document.name}: its pages cannot be drawn ({exc})") from None
        if image.size != (ref.width, ref.height):
            image = image.resize((ref.width, ref.height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "PNG", optimize=True)
        data = out.getvalue()
        self.store.put_thumbnail(sha, ref.cache_name, data)
        return data

    # ------------------------------------------------------------------ plumbing

    def _content(self, record: DocumentRecord) -> bytes:
        try:
            return self.store.image_path(record.sha256).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("The document's file is no longer stored", hint="Upload it again") from None

    def _sizes(self, record: DocumentRecord) -> tuple[tuple[int, int], ...]:
        """(width, height) of each page of a document, as the engine reads it (kept at hand by content hash)."""
        with _sizes_lock:
            known = _sizes.get(record.sha256)
            if known is not None:
                _sizes.move_to_end(record.sha256)
                return known
        try:
            measured = tuple(_measure(self._content(record)))
        except (ValueError, OSError, EngineMissingError) as exc:
            raise BadRequestError(f"{record.name}: its pages cannot be measured ({exc})") from None
        with _sizes_lock:
            _sizes[record.sha256] = measured
            while len(_sizes) > _SIZES_CACHED:
                _sizes.popitem(last=False)
        return measured


def _measure(content: bytes) -> list[tuple[int, int]]:
    """Each page's size as ``render_pages`` draws it (a PDF's from its page boxes, without drawing them)."""
    return page_sizes(content)


def _whole(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number from a query parameter, ``default`` when absent; BadRequestError out of [low, high]."""
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 9 or not low <= int(value) <= high:
        raise BadRequestError(f"{name} must be a whole number from {low} to {high}", hint=f"For example {name}={low}")
    return int(value)


# ---------------------------------------------------------------------- handlers



def _models(call: Call) -> OcrModels:
    return call.backend.part(TYPE)


def local_ocr_documents(call: Call) -> Response:
    listing = OcrLocal(_models(call)).documents(call.account, call.path["model_id"], forms.field("page"),
                                                  forms.field("per_page"))
    return json_response(listing.to_json())


def local_ocr_page(call: Call) -> Response:
    local = OcrLocal(_models(call))
    ref = local.page_ref(call.account, call.path["model_id"], call.path["document_id"], call.path["page"],
                         forms.field("width"))
    if forms.if_none_match(ref.etag):
        response = Response(status=304)
    else:
        response = Response(local.page_png(ref), mimetype="image/png")
    response.set_etag(ref.etag)
    response.headers["Cache-Control"] = f"private, max-age={PAGE_MAX_AGE}, immutable"
    response.headers["X-Page-Width"] = str(ref.page_width)
    response.headers["X-Page-Height"] = str(ref.page_height)
    response.headers["X-Page-Scale"] = f"{ref.scale:.6g}"
    return response


# ---------------------------------------------------------------------- the table

_LOCAL = ("Local server only (`nanoclient serve`): not part of the hosted Nanonets API. "
          "For the dashboard at `/`.")
_INTEGER: Schema = {"type": "integer", "minimum": 0}
_BOX: Schema = {
    "type": "object",
    "required": ["name", "ocr_text", "page", "xmin", "ymin", "xmax", "ymax"],
    "properties": {"name": STRING, "ocr_text": {"type": "string", "nullable": True}, "page": _INTEGER,
                   "xmin": {"type": "integer"}, "ymin": {"type": "integer"}, "xmax": {"type": "integer"},
                   "ymax": {"type": "integer"}},
}
DOCUMENT_PAGE: Schema = {
    "type": "object",
    "description": "Local server only: one page of an OCR model's training documents, newest first",
    "required": ["model_id", "fields", "page", "per_page", "pages", "total", "documents"],
    "properties": {
        "model_id": STRING,
        "fields": {"type": "array", "items": STRING},
        "page": WHOLE,
        "per_page": WHOLE,
        "pages": WHOLE,
        "total": _INTEGER,
        "documents": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "sha256", "created_at", "page_count", "page_sizes", "boxes"],
                "properties": {
                    "id": WHOLE,
                    "name": STRING,
                    "sha256": STRING,
                    "created_at": {"type": "number"},
                    "page_count": WHOLE,
                    "page_sizes": {"type": "array", "items": {
                        "type": "object", "required": ["width", "height"],
                        "properties": {"width": WHOLE, "height": WHOLE}}},
                    "boxes": {"type": "array", "items": _BOX},
                },
            },
        },
    },
}
_PAGE_HEADERS: Mapping[str, Schema] = {
    "ETag": {"description": "The document's content hash, with the page, the width and the version", "schema": STRING},
    "Cache-Control": {"description": "private, with a max-age: a page never changes", "schema": STRING},
    "X-Page-Width": {"description": "The page's width in the pixels of its boxes", "schema": STRING},
    "X-Page-Height": {"description": "The page's height in the pixels of its boxes", "schema": STRING},
    "X-Page-Scale": {"description": "Pixels of the picture per pixel of the page (1 if not downsized)",
                     "schema": STRING},
}

OCR_LOCAL_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "localOcrDocuments", "GET", "/models/{model_id}/documents", local_ocr_documents,
        summary="List an OCR model's training documents with their labelled boxes, newest first, a page at a time",
        description=_LOCAL + " `page` counts from 1, `per_page` is 12 unless given (at most 100). Boxes and page "
                             "sizes are in the pixels the server reads the pages in (PDFs at 150 dpi).",
        options={"page": WHOLE, "per_page": {**WHOLE, "maximum": MAX_DOCUMENTS_PER_PAGE}},
        replies={200: Reply(DOCUMENT_PAGE, "One page of documents")}, errors=(400, 404), local=True,
    ),
    Operation(
        "localOcrDocumentPage", "GET", "/models/{model_id}/documents/{document_id}/pages/{page}", local_ocr_page,
        summary="One page of an OCR model's training document as a PNG, at most 1000 px wide",
        description=_LOCAL + " `page` counts from 0; `width` is 1000 unless given (300, 600 or 1000; a narrower "
                             "page is never enlarged). X-Page-Scale says how much it was downsized; its ETag is the "
                             "document's content hash: send it back as If-None-Match for a 304.",
        options={"width": {"type": "integer", "enum": list(PAGE_WIDTHS)}},
        headers={"If-None-Match": STRING},
        replies={200: Reply(FILE, "The page", ("image/png",), _PAGE_HEADERS),
                 304: Reply(None, "Not modified: the ETag sent is the page's", (), _PAGE_HEADERS)},
        errors=(400, 404), local=True,
    ),
)

__all__ = ["DOCUMENTS_PER_PAGE", "OCR_LOCAL_OPERATIONS", "PAGE_WIDTHS", "DocumentPage", "DocumentView", "OcrLocal",
           "PageRef"]
