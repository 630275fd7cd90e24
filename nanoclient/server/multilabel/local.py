"""The local extension for multi-label models, for the dashboard: training images read back with their labels.

The hosted API gives a multi-label model's training images only as their labels, all at once
(``Annotations``), never the images; the dashboard needs both, a page at a time. Like ``server/local.py``'s
operations these live under ``/local/v1`` (``Operation(..., local=True)``), keep the API's isolation (another
account's model, or a model of another type, is 404) and are never failed by injected faults.

- Images: the model's training images, newest first, a page at a time, each with its labels (``[]`` for an
  image that shows none); ``label`` limits them to the images with that label.
- Image: one training image, as stored (with its media type) or downsized to ``width`` (96, 300 or 600).

The listing and the pictures are ``local_files.StoredFiles`` over ``MultilabelModels.annotations``; what is
multi-label's here is the labels.
"""
from __future__ import annotations

from flask import Response

from ...errors import BadRequestError
from .. import forms
from ..local_files import PICTURE_HEADERS, PICTURE_WIDTHS, StoredFiles, files_schema, picture_response
from ..openapi import FILE, STRING, WHOLE, Schema
from ..operations import Call, Operation, Reply, json_response
from ..store import DocumentRecord
from . import TYPE
from .models import MultilabelModels, labels_of


def _labels(document: DocumentRecord) -> list[str]:
    """A training image's labels ([] if its annotation cannot be read)."""
    try:
        return labels_of(document)
    except (ValueError, TypeError, KeyError):
        return []


# ---------------------------------------------------------------------- handlers


def _files(call: Call) -> StoredFiles:
    models: MultilabelModels = call.backend.part(TYPE)
    return StoredFiles(models.store, models.annotations)


def local_multilabel_images(call: Call) -> Response:
    files = _files(call)
    label = forms.field("label")
    listing = files.page(call.account, call.path["model_id"], forms.field("page"), forms.field("per_page"),
                         None if label is None else (lambda document: label in _labels(document)))
    known = [c.name for c in listing.model.categories]
    if label is not None and label not in known:
        raise BadRequestError(f"Unknown label {label!r}", hint="The model's labels are: " + ", ".join(known))
    return json_response(listing.to_json(lambda document: {"labels": _labels(document)}))


def local_multilabel_image(call: Call) -> Response:
    files = _files(call)
    ref = files.picture_ref(call.account, call.path["model_id"], call.path["image_id"], forms.field("width"))
    return picture_response(files, ref)


# ---------------------------------------------------------------------- the table

_LOCAL = ("Local server only (`nanoclient serve`): not part of the hosted Nanonets API. "
          "For the dashboard at `/`.")
MULTILABEL_IMAGES: Schema = files_schema(
    "Local server only: one page of a multi-label model's training images, newest first",
    {"labels": {"type": "array", "items": STRING}})

MULTILABEL_LOCAL_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "localMultilabelImages", "GET", "/models/{model_id}/multilabel/images", local_multilabel_images,
        summary="List a multi-label model's training images with their labels, newest first, a page at a time",
        description=_LOCAL + " `label` limits them to the images with that label; `page` counts from 1, `per_page` "
                             "is 12 unless given (at most 100).",
        options={"label": STRING, "page": WHOLE, "per_page": {**WHOLE, "maximum": 100}},
        replies={200: Reply(MULTILABEL_IMAGES, "One page of images")}, errors=(400, 404), local=True,
    ),
    Operation(
        "localMultilabelImage", "GET", "/models/{model_id}/multilabel/images/{image_id}", local_multilabel_image,
        summary="One training image of a multi-label model: as stored, or downsized to a width",
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

__all__ = ["MULTILABEL_LOCAL_OPERATIONS"]
