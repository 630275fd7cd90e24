"""The OCR models' operations, one declaration each (see ``operations`` for what a declaration drives).

They live in three families of paths (docs/OCR-API.md): ``OCR/Model/{model_id}/...`` and
``Inferences/Model/{model_id}/...`` of the reference, and ``ObjectDetection/Model/...``, which the
official wrapper sends for OCR models: every OCR operation is declared in both the OCR and the
ObjectDetection family (``_both``), the same handler on the same model.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, request

from ..._wire import INFERENCES, OBJECT_DETECTION
from ..._wire import OCR as OCR_FAMILY
from ...errors import BadRequestError
from ...types import Model
from .. import forms
from ..backend import url_errors
from ..openapi import FILES, STRING, STRINGS, Schema
from ..operations import (
    Call,
    Form,
    Operation,
    Reply,
    annotations_body,
    json_response,
    model_response,
    path_model_id,
)
from ..store import DocumentRecord
from . import TYPE
from .models import OCR_TYPE, OcrModels, PageResult

_OBJECT: Schema = {"type": "object"}
_MODEL: Schema = {"$ref": "#/components/schemas/Model"}
_ASYNC: Schema = {"type": "string", "enum": ["true", "false"]}


# ---------------------------------------------------------------------- handlers


def _models(call: Call) -> OcrModels:
    return call.backend.part(TYPE)


def create_model(call: Call) -> Response:
    model_type = _sent_model_type()
    if model_type not in (None, "", OCR_TYPE):
        raise BadRequestError(f"model_type {model_type!r} is not served here", hint='Send "model_type": "ocr"')
    languages = [code for value in forms.values("languages") for code in value.split(",")]
    return model_response(_models(call).create_model(call.account, forms.values("categories"), languages,
                                               pretrained=forms.field("pretrained")))


def get_model(call: Call) -> Response:
    return model_response(_models(call).get_model(call.account, call.path["model_id"]))


def get_annotations(call: Call) -> Response:
    model, documents = _models(call).annotations(call.account, call.path["model_id"])
    return _meta_and_data(model, documents)


def upload_file(call: Call) -> Response:
    model, documents = _models(call).upload(call.account, path_model_id(call), forms.files(), _data())
    return _meta_and_data(model, documents)


def upload_urls(call: Call) -> Response:
    model, documents, failed = _models(call).upload_urls(call.account, path_model_id(call), forms.values("urls"),
                                                           _data())
    if not failed:
        return _meta_and_data(model, documents)
    body = {**_meta_and_data_body(model, documents), "message": "Some URLs could not be fetched",
            "errors": url_errors(failed)}
    return json_response(body, 202)


def train(call: Call) -> Response:
    return model_response(_models(call).train(call.account, path_model_id(call)))


def label_file(call: Call) -> Response:
    asynchronous = _asynchronous()
    results = _models(call).predict(call.account, path_model_id(call), forms.files(), asynchronous=asynchronous,
                                      cancelled=_client_gone())
    return _predictions(call.in_answer_order(results), asynchronous=asynchronous)


def label_urls(call: Call) -> Response:
    asynchronous = _asynchronous()
    results, failed = _models(call).predict_urls(call.account, path_model_id(call), forms.values("urls"),
                                                   asynchronous=asynchronous, cancelled=_client_gone())
    return _predictions(call.in_answer_order(results), asynchronous=asynchronous, status=202 if failed else 200)


def _client_gone() -> Callable[[], bool]:
    """What says whether the request's client has disconnected: waitress's check (``nanoclient serve`` turns
    it on with channel_request_lookahead), else never."""
    check = request.environ.get("waitress.client_disconnected")
    return check if callable(check) else _never


def _never() -> bool:
    return False


def inference(call: Call) -> Response:
    pages = _models(call).inference(call.account, call.path["model_id"], call.path["inference_id"])
    return _predictions(pages)


def inferences(call: Call) -> Response:
    pages = _models(call).inferences(call.account, call.path["model_id"], forms.field("start_day_interval"),
                                       forms.field("current_batch_day"))
    items = [{
        "id": page.id, "model_id": call.path["model_id"], "day_since_epoch": int(page.created_at // 86400),
        "hour_of_day": int(page.created_at % 86400 // 3600), "is_moderated": False, "input": page.input,
        "page": page.page, "request_file_id": page.request_file_id, "status": page.state,
        "url": f"inferences/{page.id}",
        "predicted_boxes": [{"label": v.field, "ocr_text": v.text, "score": v.score, "xmin": v.xmin, "ymin": v.ymin,
                             "xmax": v.xmax, "ymax": v.ymax} for v in page.fields],  # score: ours, not the reference's
    } for page in pages]
    return json_response({"moderated_images_count": 0, "unmoderated_images_count": len(items),
                          "moderated_images": [], "unmoderated_images": items})


# ---------------------------------------------------------------------- reading and rendering




def _asynchronous() -> bool:
    return str(request.args.get("async", "")).strip().lower() in ("true", "1", "yes")






def _meta_and_data_body(model: Model, documents: Sequence[DocumentRecord]) -> dict[str, Any]:
    return annotations_body(model, [{"id": str(doc.id), "filename": doc.name, "object": json.loads(doc.annotation)}
                                    for doc in documents])


def _meta_and_data(model: Model, documents: Sequence[DocumentRecord]) -> Response:
    return json_response(_meta_and_data_body(model, documents))


def _predictions(results: Sequence[PageResult], *, asynchronous: bool = False, status: int = 200) -> Response:
    pages = [result.to_json() for result in results]
    message = "Success" if status == 200 else "Some inputs could not be predicted"
    if not asynchronous:
        return json_response({"message": message, "result": pages}, status)
    by_input: dict[str, list[dict[str, Any]]] = {}
    for page in pages:
        by_input.setdefault(page["request_file_id"] or page["input"], []).append(page)
    return json_response({"message": message, "result": [{"message": "Success", "result": group}
                                                         for group in by_input.values()]}, status)



def _data() -> object:
    """The ``data`` list sent with the files."""
    return forms.json_field("data", shape='a JSON list of {"filename", "object"}')


# ---------------------------------------------------------------------- the table

_MODEL_REPLY = {200: Reply(_MODEL, "The model")}
_META = {200: Reply(_OBJECT, "The model (Meta) and its training files (Data)")}
_PAGES = {200: Reply(_OBJECT, "One result per page of each input")}


def _claims_create() -> bool:
    """Whether a create sent to a family OCR shares asks for an OCR model (``"model_type": "ocr"``)."""
    return _sent_model_type() == OCR_TYPE


def _sent_model_type() -> str | None:
    sent = forms.json_body().get("model_type") or forms.field("model_type")
    return None if sent is None else str(sent)


def _both(name: str, method: str, path: str, handler: Any, **kwargs: Any) -> tuple[Operation, ...]:
    """The operation in the OCR family, and under ObjectDetection as the official wrapper sends it (a path
    detection models share: the app serves it by the model's type, and a create by ``_claims_create``)."""
    return (Operation(name, method, path, handler, family=OCR_FAMILY, model_type=OCR_TYPE, **kwargs),
            Operation(name + "ObjectDetection", method, path, handler, family=OBJECT_DETECTION, model_type=OCR_TYPE,
                      claims=_claims_create if path == "/Model/" else None, **kwargs))


OCR_OPERATIONS: tuple[Operation, ...] = (
    *_both("ocrCreateModel", "POST", "/Model/", create_model,
           summary="Create an OCR model with its fields (JSON categories and model_type ocr, or a form); "
                   "local server: the documents' languages (deu,eng) and a pretrained extractor to start from, "
                   "as JSON or query",
           body=Form({"categories": STRINGS}), options={"languages": STRING, "pretrained": STRING},
           replies=_MODEL_REPLY,
           errors=(400,), mutates=True),
    *_both("ocrGetModel", "GET", "/Model/{model_id}", get_model,
           summary="Get an OCR model", replies=_MODEL_REPLY, errors=(400, 404)),
    *_both("ocrAnnotations", "GET", "/Model/{model_id}/Annotations", get_annotations,
           summary="The model and every training file with its labelled boxes", replies=_META, errors=(400, 404)),
    *_both("ocrUploadFile", "POST", "/Model/{model_id}/UploadFile/", upload_file,
           summary="Upload training documents (PNG, JPEG, PDF) with their annotations",
           body=Form({"file": FILES, "data": STRING}, multipart=True,
                     content_types={"file": "image/png, image/jpeg, application/pdf, application/octet-stream"}),
           replies=_META, errors=(400, 404, 413), mutates=True),
    *_both("ocrUploadUrls", "POST", "/Model/{model_id}/UploadUrls/", upload_urls,
           summary="Upload training documents by URL with their annotations",
           body=Form({"urls": STRINGS, "data": STRING}),
           replies={**_META, 202: Reply(_OBJECT, "Only some URLs could be fetched: those were stored")},
           errors=(400, 404), mutates=True),
    *_both("ocrTrain", "POST", "/Model/{model_id}/Train/", train,
           summary="Start training", replies=_MODEL_REPLY, errors=(400, 404), mutates=True),
    *_both("ocrLabelFile", "POST", "/Model/{model_id}/LabelFile/", label_file,
           summary="Read the fields of documents (async=true: answer at once, fetch by id later)",
           body=Form({"file": FILES}, multipart=True,
                     content_types={"file": "image/png, image/jpeg, application/pdf, application/octet-stream"}),
           options={"async": _ASYNC}, replies=_PAGES, errors=(400, 404, 413)),
    *_both("ocrLabelUrls", "POST", "/Model/{model_id}/LabelUrls/", label_urls,
           summary="Read the fields of documents given by URL",
           body=Form({"urls": STRINGS}), options={"async": _ASYNC},
           replies={**_PAGES, 202: Reply(_OBJECT, "Only some URLs could be fetched")}, errors=(400, 404)),
    Operation("ocrInference", "GET", "/Model/{model_id}/ImageLevelInferences/{inference_id}", inference,
              family=INFERENCES, model_type=OCR_TYPE,
              summary="One page's prediction by its id (or every page of an input by its "
                                         "request_file_id)", replies=_PAGES, errors=(400, 404)),
    Operation("ocrInferences", "GET", "/Model/{model_id}/ImageLevelInferences", inferences,
              family=INFERENCES, model_type=OCR_TYPE,
              summary="The predicted pages of days start_day_interval to current_batch_day (days since 1970-01-01)",
              query=("start_day_interval", "current_batch_day"),
              replies={200: Reply(_OBJECT, "The pages predicted on those days")}, errors=(400, 404)),
)

__all__ = ["OCR_OPERATIONS"]
