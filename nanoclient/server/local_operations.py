"""The local server's own extension, for its dashboard: stored images read back as thumbnails, evaluation
reports (``local.py`` over the backend's accounts and store). Declared as operations with ``local=True``:
their routes live under ``/local/v1`` at the root, outside the hosted API's paths, the document tags them
local-only, and no fault is injected into them."""
from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from . import forms
from .config import LOCAL_ROOT
from .dashboard import REPORT_CSP
from .openapi import FILE, IMAGE_PAGE, REPORT_INFO, REPORT_LINK, STRING, WHOLE, Schema
from .operations import Call, Form, Operation, Reply, json_response

#: How long a browser may keep a thumbnail without asking again (it never changes: see local.py).
THUMBNAIL_MAX_AGE = 24 * 3600


# ---------------------------------------------------------------------- handlers


def local_images(call: Call) -> Response:
    page = call.extension.images(call.account, call.path["model_id"], forms.field("category"),
                                 forms.field("page"), forms.field("per_page"))
    return json_response(page.to_json())


def local_thumbnail(call: Call) -> Response:
    ref = call.extension.thumbnail_ref(call.account, call.path["model_id"], call.path["image_id"])
    if forms.if_none_match(ref.etag):
        response = Response(status=304)
    else:
        data, media_type = call.extension.thumbnail(ref)
        response = Response(data, mimetype=media_type)
    response.set_etag(ref.etag)
    response.headers["Cache-Control"] = f"private, max-age={THUMBNAIL_MAX_AGE}, immutable"
    return response


def local_put_report(call: Call) -> Response:
    info = call.extension.put_report(call.account, call.path["model_id"], forms.file_bytes("report"))
    return json_response(info.to_json())


def local_report_info(call: Call) -> Response:
    return json_response(call.extension.report_info(call.account, call.path["model_id"]).to_json())


def local_report_link(call: Call) -> Response:
    token, seconds = call.extension.report_link(call.account, call.path["model_id"])
    return json_response({"token": token, "url": f"{LOCAL_ROOT}/report-links/{token}", "expires_in": seconds})


def local_open_report(call: Call) -> Response:
    response = Response(call.extension.report_by_link(call.path["token"]), mimetype="text/html")
    response.headers["Content-Security-Policy"] = REPORT_CSP
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------- the table

_LOCAL = ("Local server only (`nanoclient serve`): not part of the hosted Nanonets API. "
          "For the dashboard at `/`.")
_CACHE_HEADERS: Mapping[str, Schema] = {
    "ETag": {"description": "The image's content hash, with the thumbnail's size and version", "schema": STRING},
    "Cache-Control": {"description": "private, with a max-age: a thumbnail never changes", "schema": STRING},
}

LOCAL_OPERATIONS: tuple[Operation, ...] = (
    # ------------------------------------------------------------------ the local extension
    Operation(
        "localListImages", "GET", "/models/{model_id}/images", local_images,
        summary="List a model's stored images, newest first, a page at a time",
        description=_LOCAL + " `category` limits it to one category; `page` counts from 1, "
                             "`per_page` is 24 unless given (at most 100).",
        options={"category": STRING, "page": WHOLE, "per_page": {**WHOLE, "maximum": 100}},
        replies={200: Reply(IMAGE_PAGE, "One page of images")}, errors=(400, 404), local=True,
    ),
    Operation(
        "localThumbnail", "GET", "/models/{model_id}/images/{image_id}/thumbnail", local_thumbnail,
        summary="A downsized copy of one stored image (96 px)",
        description=_LOCAL + " PNG, or JPEG for a JPEG; its ETag is the image's content hash: send it back as "
                             "If-None-Match for a 304.",
        headers={"If-None-Match": STRING},
        replies={200: Reply(FILE, "The thumbnail", ("image/png", "image/jpeg"), _CACHE_HEADERS),
                 304: Reply(None, "Not modified: the ETag sent is the thumbnail's", (), _CACHE_HEADERS)},
        errors=(404,), local=True,
    ),
    Operation(
        "localPutReport", "PUT", "/models/{model_id}/report", local_put_report,
        summary="Store the evaluation report of a model (the HTML of `nanoclient evaluate --report`)",
        description=_LOCAL + " Replaces the previous one; at most 20 MB. `nanoclient evaluate --report` "
                             "sends it when the server says `Nanoclient-Server: local`.",
        body=Form({"report": FILE}, multipart=True, content_types={"report": "text/html"}),
        replies={200: Reply(REPORT_INFO, "The report was stored")}, errors=(400, 404, 413), local=True,
    ),
    Operation(
        "localGetReport", "GET", "/models/{model_id}/report", local_report_info,
        summary="Whether a model has a stored report: its size and when it was stored",
        description=_LOCAL + " The HTML itself opens through a link (localReportLink).",
        replies={200: Reply(REPORT_INFO, "The stored report")}, errors=(404,), local=True,
    ),
    Operation(
        "localReportLink", "POST", "/models/{model_id}/report/link", local_report_link,
        summary="A one-use link that opens the stored report in a browser tab, good for 60 s",
        description=_LOCAL + " A tab opened on a URL cannot send the API key, and the key never goes into a "
                             "URL: the link carries a random token instead, which opens this report once.",
        replies={200: Reply(REPORT_LINK, "The link")}, errors=(404,), local=True,
    ),
    Operation(
        "localOpenReport", "GET", "/report-links/{token}", local_open_report,
        summary="Open a stored report through its one-use link (no API key: the token is the permission)",
        description=_LOCAL + " Served with its own Content-Security-Policy: a sandbox in which only the report's "
                             "inline styles and script run.",
        replies={200: Reply(STRING, "The report's HTML", ("text/html",))}, errors=(404,), local=True, auth=False,
    ),
)



__all__ = ["LOCAL_OPERATIONS"]
