"""The local extension for object detection models, for the dashboard: training images read back with their boxes.

The hosted API gives a detection model's training images only as their annotations, all at once
(``Annotations``), never the images; the dashboard needs both, a page at a time. Like ``server/local.py``'s
operations these live under ``/local/v1`` (``Operation(..., local=True)``), keep the API's isolation (another
account's model, or a model of another type, is 404) and are never failed by injected faults.

- Images: the model's training images, newest first, a page at a time, each with its size in pixels (as it
  is shown: EXIF orientation applied) and its labelled boxes in those pixels, exactly as they were stored.
- Image: one training image, as stored (with its media type) or downsized to ``width`` (96, 300 or 600).

The listing and the pictures are ``local_files.StoredFiles`` over ``DetectionModels.annotations``; what is
detection's here is the boxes and the size.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from flask import Response

from .. import forms
from ..local_files import PICTURE_HEADERS, PICTURE_WIDTHS, StoredFiles, files_schema, picture_response
from ..openapi import FILE, STRING, WHOLE, Schema
from ..operations import Call, Operation, Reply, json_response
from ..store import DocumentRecord
from . import TYPE
from .models import DetectionModels, image_size

#: Image sizes kept at hand, by content hash (the same bytes have the same size).
_SIZES_CACHED = 20000
_sizes: OrderedDict[str, tuple[int, int]] = OrderedDict()
_sizes_lock = threading.Lock()


def boxes_of(document: DocumentRecord) -> list[dict[str, Any]]:
    """A training image's boxes, flat: ``{"name", "xmin", "ymin", "xmax", "ymax"}`` in its pixels."""
    found = []
    try:
        items = json.loads(document.annotation)
    except ValueError:
        items = []
    for item in items if isinstance(items, list) else []:
        box = item.get("bndbox") if isinstance(item, dict) else None
        if not isinstance(box, dict):
            continue
        try:
            corners = {key: int(box[key]) for key in ("xmin", "ymin", "xmax", "ymax")}
        except (KeyError, TypeError, ValueError):
            continue
        found.append({"name": str(item.get("name", "")), **corners})
    return found


def _size(files: StoredFiles, document: DocumentRecord) -> tuple[int, int]:
    """(width, height) of a stored image as it is shown (kept at hand by content hash)."""
    with _sizes_lock:
        known = _sizes.get(document.sha256)
        if known is not None:
            _sizes.move_to_end(document.sha256)
            return known
    try:
        measured = image_size(files.store.image_path(document.sha256).read_bytes())
    except (OSError, ValueError):
        measured = (0, 0)  # gone or unreadable: the listing still shows its name and boxes
    with _sizes_lock:
        _sizes[document.sha256] = measured
        while len(_sizes) > _SIZES_CACHED:
            _sizes.popitem(last=False)
    return measured


# ---------------------------------------------------------------------- handlers


def _files(call: Call) -> StoredFiles:
    models: DetectionModels = call.backend.part(TYPE)
    return StoredFiles(models.store, models.annotations)


def local_detection_images(call: Call) -> Response:
    files = _files(call)
    listing = files.page(call.account, call.path["model_id"], forms.field("page"), forms.field("per_page"))

    def describe(document: DocumentRecord) -> dict[str, object]:
        width, height = _size(files, document)
        return {"width": width, "height": height, "boxes": boxes_of(document)}

    return json_response(listing.to_json(describe))


def local_detection_image(call: Call) -> Response:
    files = _files(call)
    ref = files.picture_ref(call.account, call.path["model_id"], call.path["image_id"], forms.field("width"))
    return picture_response(files, ref)


# ---------------------------------------------------------------------- the table

_LOCAL = ("Local server only (`nanoclient serve`): not part of the hosted Nanonets API. "
          "For the dashboard at `/`.")
_BOX: Schema = {
    "type": "object", "required": ["name", "xmin", "ymin", "xmax", "ymax"],
    "properties": {"name": STRING, "xmin": {"type": "integer"}, "ymin": {"type": "integer"},
                   "xmax": {"type": "integer"}, "ymax": {"type": "integer"}},
}
DETECTION_IMAGES: Schema = files_schema(
    "Local server only: one page of an object detection model's training images, newest first",
    {"width": {"type": "integer", "minimum": 0}, "height": {"type": "integer", "minimum": 0},
     "boxes": {"type": "array", "items": _BOX}})

DETECTION_LOCAL_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "localDetectionImages", "GET", "/models/{model_id}/detection/images", local_detection_images,
        summary="List an object detection model's training images with their boxes, newest first, a page at a time",
        description=_LOCAL + " `page` counts from 1, `per_page` is 12 unless given (at most 100). Each image's size "
                             "and boxes are in its pixels as it is shown (EXIF orientation applied).",
        options={"page": WHOLE, "per_page": {**WHOLE, "maximum": 100}},
        replies={200: Reply(DETECTION_IMAGES, "One page of images")}, errors=(400, 404), local=True,
    ),
    Operation(
        "localDetectionImage", "GET", "/models/{model_id}/detection/images/{image_id}", local_detection_image,
        summary="One training image of an object detection model: as stored, or downsized to a width",
        description=_LOCAL + " Without `width`, the stored bytes with their media type; with it (96, 300 or 600), a "
                             "copy at most that wide and high, never enlarged. Its ETag is the image's content hash: "
                             "send it back as If-None-Match for a 304.",
        options={"width": {"type": "integer", "enum": list(PICTURE_WIDTHS)}},
        headers={"If-None-Match": STRING},
        replies={200: Reply(FILE, "The image", ("image/png", "image/jpeg"), PICTURE_HEADERS),
                 304: Reply(None, "Not modified: the ETag sent is the image's", (), PICTURE_HEADERS)},
        errors=(400, 404), local=True,
    ),
)

__all__ = ["DETECTION_LOCAL_OPERATIONS", "boxes_of"]
