"""The files a model lists, read back for the dashboard: a page of them, and each one's picture.

The model types whose models keep their training images in the store's ``documents`` (each with its
annotation: boxes, labels) show them on the dashboard the same way; each type's ``local.py`` says what an
annotation means and declares the operations (``local=True``, under ``/local/v1``), this module does the
rest: pages of the model's files, newest first, and one file's picture, either the stored bytes with their
media type or a copy downsized to a width (Pillow, ``thumbnails.py``: EXIF orientation applied, as the
browser shows the stored bytes), made once and cached in the data folder by the file's content hash, so
that its ETag never changes.

Isolation is the type's: every call goes through the type's ``annotations(account, model_id)``, which
raises ``NotFoundError`` for another account's model or a model of another type. No HTTP, no SQL.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Response

from ..errors import BadRequestError, NotFoundError
from ..types import Model
from . import forms
from .backend import Account
from .openapi import STRING, Schema
from .store import DocumentRecord, Store
from .thumbnails import THUMB_VERSION, make_thumbnail

#: Files per page of a listing, by default and at most.
FILES_PER_PAGE = 12
MAX_FILES_PER_PAGE = 100
#: The widths a downsized picture may be asked for, in pixels (a few, so that the cache stays small).
PICTURE_WIDTHS = (96, 300, 600)
#: How long a browser may keep a picture without asking again (stored bytes never change).
PICTURE_MAX_AGE = 24 * 3600

#: What a type gives: the model and its files, oldest first (NotFoundError unless the account's, of its type).
Annotations = Callable[[Account, str], tuple[Model, list[DocumentRecord]]]


@dataclass(frozen=True)
class FilePage:
    """One page of a model's files, newest first (``files`` after the type's filter, if any)."""

    model: Model
    page: int
    per_page: int
    total: int
    files: list[DocumentRecord]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_json(self, describe: Callable[[DocumentRecord], Mapping[str, object]]) -> dict[str, object]:
        """The listing, each file as ``describe`` says (its annotation) beside its id, name, hash and time."""
        return {"model_id": self.model.id, "categories": [c.name for c in self.model.categories],
                "page": self.page, "per_page": self.per_page, "pages": self.pages, "total": self.total,
                "files": [{"id": f.id, "name": f.name, "sha256": f.sha256, "created_at": f.created_at, **describe(f)}
                          for f in self.files]}


@dataclass(frozen=True)
class PictureRef:
    """One file's picture as it can be named before it is read: the file, the width asked (None: as stored)."""

    file: DocumentRecord
    width: int | None

    @property
    def etag(self) -> str:
        """The file's content hash, with the width and the drawing's version (unquoted)."""
        return f"{self.file.sha256}-{'stored' if self.width is None else f'w{self.width}'}-v{THUMB_VERSION}"


class StoredFiles:
    """A type's files read back for the dashboard, over the store and the type's ``annotations``."""

    def __init__(self, store: Store, annotations: Annotations) -> None:
        self.store = store
        self.annotations = annotations

    def page(self, account: Account, model_id: str, page: str | None, per_page: str | None,
             keep: Callable[[DocumentRecord], bool] | None = None) -> FilePage:
        """A page (from 1) of the model's files that ``keep`` keeps (all without it), newest first."""
        number = whole(page, "page", 1, 1, 1_000_000)
        size = whole(per_page, "per_page", FILES_PER_PAGE, 1, MAX_FILES_PER_PAGE)
        model, records = self.annotations(account, model_id)
        kept = [r for r in records[::-1] if keep is None or keep(r)]
        return FilePage(model, number, size, len(kept), kept[(number - 1) * size: number * size])

    def picture_ref(self, account: Account, model_id: str, file_id: str, width: str | None) -> PictureRef:
        """One of the model's files, at a width of PICTURE_WIDTHS or as stored (NotFoundError for any other)."""
        _, records = self.annotations(account, model_id)
        number = int(file_id) if file_id.isdigit() and len(file_id) < 19 else None
        record = next((r for r in records if r.id == number), None)
        if record is None:
            raise NotFoundError("Image does not exist", hint="List the model's images for their ids")
        if width is None or width == "":
            return PictureRef(record, None)
        if not width.isdigit() or int(width) not in PICTURE_WIDTHS:
            raise BadRequestError(f"width must be one of {', '.join(map(str, PICTURE_WIDTHS))}",
                                  hint="Or leave it out for the stored image")
        return PictureRef(record, int(width))

    def picture(self, ref: PictureRef) -> tuple[bytes, str]:
        """(bytes, media type) of a picture: the stored file, or its downsized copy (cached, or made now)."""
        sha = ref.file.sha256
        try:
            content = self.store.image_path(sha).read_bytes() if ref.width is None else None
        except FileNotFoundError:
            raise NotFoundError("The image's file is no longer stored", hint="Upload it again") from None
        if content is not None:
            return content, media_type(content)
        for extension, media in (("jpg", "image/jpeg"), ("png", "image/png")):
            try:
                return self.store.thumbnail_path(sha, f"{ref.width}-v{THUMB_VERSION}.{extension}").read_bytes(), media
            except FileNotFoundError:
                continue
        try:
            stored = self.store.image_path(sha).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("The image's file is no longer stored", hint="Upload it again") from None
        data, media = make_thumbnail(stored, ref.width or PICTURE_WIDTHS[-1])
        self.store.put_thumbnail(sha, f"{ref.width}-v{THUMB_VERSION}.{'jpg' if media == 'image/jpeg' else 'png'}",
                                 data)
        return data, media


def media_type(content: bytes) -> str:
    """The media type of stored image bytes (PNG or JPEG: the only ones uploads take)."""
    if content.startswith(b"\x89PNG"):
        return "image/png"
    if content.startswith(b"\xff\xd8"):
        return "image/jpeg"
    return "application/octet-stream"


def whole(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number from a query parameter, ``default`` when absent; BadRequestError out of [low, high]."""
    if value is None or value == "":
        return default
    if not value.isdigit() or len(value) > 9 or not low <= int(value) <= high:
        raise BadRequestError(f"{name} must be a whole number from {low} to {high}", hint=f"For example {name}={low}")
    return int(value)


def picture_response(files: StoredFiles, ref: PictureRef) -> Response:
    """The HTTP answer of a picture: its bytes (or 304 for its ETag), cacheable privately, never changing."""
    if forms.if_none_match(ref.etag):
        response = Response(status=304)
    else:
        data, media = files.picture(ref)
        response = Response(data, mimetype=media)
    response.set_etag(ref.etag)
    response.headers["Cache-Control"] = f"private, max-age={PICTURE_MAX_AGE}, immutable"
    return response


def files_schema(description: str, annotation: Mapping[str, Schema]) -> Schema:
    """The schema of a listing whose files carry the properties ``annotation`` (a type's)."""
    whole_: Schema = {"type": "integer", "minimum": 1}
    return {
        "type": "object",
        "description": description,
        "required": ["model_id", "categories", "page", "per_page", "pages", "total", "files"],
        "properties": {
            "model_id": STRING,
            "categories": {"type": "array", "items": STRING},
            "page": whole_, "per_page": whole_, "pages": whole_, "total": {"type": "integer", "minimum": 0},
            "files": {"type": "array", "items": {
                "type": "object", "required": ["id", "name", "sha256", "created_at", *annotation],
                "properties": {"id": whole_, "name": STRING, "sha256": STRING, "created_at": {"type": "number"},
                               **annotation}}},
        },
    }


#: The headers of a picture's answer.
PICTURE_HEADERS: Mapping[str, Schema] = {
    "ETag": {"description": "The image's content hash, with the width and the version", "schema": STRING},
    "Cache-Control": {"description": "private, with a max-age: a picture never changes", "schema": STRING},
}

__all__ = ["FILES_PER_PAGE", "PICTURE_HEADERS", "PICTURE_WIDTHS", "FilePage", "PictureRef", "StoredFiles",
           "files_schema", "media_type", "picture_response", "whole"]
