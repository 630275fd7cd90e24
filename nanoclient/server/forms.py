"""Reading the request being served in every form docs/api.md allows.

A field may come in the query string, a form, a JSON body or a multipart part without a
file name (the Nanonets tutorial sends those); the API key is the username of HTTP Basic auth.
Reading the form may raise 413 (werkzeug's RequestEntityTooLarge), which the app renders.
"""
from __future__ import annotations

import json
from io import BytesIO

from flask import Request, request
from werkzeug.datastructures import FileStorage, Headers, ImmutableMultiDict
from werkzeug.utils import cached_property

from ..errors import BadRequestError
from . import multipart

#: Largest field accepted as a file-less multipart part (model ids and category names are short).
_FIELD_MAX_BYTES = 4096
#: Multipart bodies up to this size are read whole by ``multipart.parse``; larger ones are
#: streamed by Werkzeug (which keeps big files in temporary files rather than in memory).
_FAST_BODY_MAX_BYTES = 16 * 1024 * 1024


class FormRequest(Request):
    """Flask's request, reading the usual multipart body with ``multipart.parse`` (the same
    form and files as Werkzeug's parser, in a tenth of the time); any other body as before.

    The files of a body read so are kept as bytes (``parsed_files``) and made into Werkzeug's
    ``files`` only if asked for: ``file_parts`` gives them without that.
    """

    #: The files of a body read by ``multipart.parse``: (name, file name, headers, bytes) in order.
    parsed_files: list[multipart.File] | None = None

    @cached_property
    def files(self) -> ImmutableMultiDict[str, FileStorage]:
        self._load_form_data()
        if "files" in self.__dict__:  # set by Werkzeug's own parsing
            return self.__dict__["files"]  # type: ignore[no-any-return]
        return ImmutableMultiDict(
            [(name, FileStorage(BytesIO(data), filename, name, headers=Headers(headers)))
             for name, filename, headers, data in self.parsed_files or ()])

    def file_parts(self, name: str) -> list[tuple[str, bytes]]:
        """(file name, bytes) of every file part called ``name``, in order."""
        self._load_form_data()
        if self.parsed_files is not None and "files" not in self.__dict__:
            return [(filename, data) for part, filename, _, data in self.parsed_files if part == name]
        return [(part.filename or "", part.read()) for part in self.files.getlist(name)]

    def _load_form_data(self) -> None:
        if "form" in self.__dict__ or self.mimetype != "multipart/form-data" or not self._fits():
            super()._load_form_data()
            return
        kept = getattr(self, "_cached_data", None) is not None
        body = self.get_data()  # 413 past MAX_CONTENT_LENGTH; Werkzeug reads this copy if parse declines
        if not self._read_multipart(body):
            super()._load_form_data()
        if not kept:  # as after Werkzeug's own parsing: the body is consumed, not kept
            del self._cached_data

    def _fits(self) -> bool:
        """Whether the body is small enough to read whole (the field limit is Werkzeug's to apply if small)."""
        length, memory = self.content_length, self.max_form_memory_size
        return length is not None and length <= _FAST_BODY_MAX_BYTES and (memory is None or memory >= 1 << 20)

    def _read_multipart(self, body: bytes) -> bool:
        """Parse the body into ``form`` and ``files``; False to leave it to Werkzeug."""
        try:
            boundary = self.mimetype_params.get("boundary", "").encode("ascii")
        except UnicodeEncodeError:
            return False
        parsed = multipart.parse(body, boundary, max_field_bytes=self.max_form_memory_size,
                                 max_parts=self.max_form_parts)
        if parsed is None:
            return False
        fields, self.parsed_files = parsed
        self.__dict__["form"] = self.parameter_storage_class(fields)
        return True



def api_key() -> str | None:
    """The username of HTTP Basic auth (the password is ignored)."""
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    return auth.username or None


def json_body() -> dict[str, object]:
    """The JSON object sent as the body; empty if there is none or it is not an object."""
    if not request.is_json:
        return {}
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def field(name: str) -> str | None:
    """A single value from the query string, the form, a JSON body or a file-less part, in that order."""
    value = request.values.get(name)
    if value:
        return value.strip()
    sent = json_body().get(name)
    if sent not in (None, ""):
        return str(sent).strip()
    return _field_sent_as_part(name)


def _field_sent_as_part(name: str) -> str | None:
    """A field sent as a multipart part with an empty file name.

    The Nanonets tutorial sends ``files={"category": ("", category), "modelId": ("", id)}``,
    which makes such parts; the hosted API takes them as fields, so this server does too.
    """
    part = request.files.get(name)
    if part is None or part.filename:
        return None
    data = part.read(_FIELD_MAX_BYTES + 1)
    if len(data) > _FIELD_MAX_BYTES:
        raise BadRequestError(f"Field {name} is too long", hint=f"Send at most {_FIELD_MAX_BYTES} bytes")
    try:
        return data.decode("utf-8").strip() or None
    except UnicodeDecodeError:
        raise BadRequestError(f"Field {name} is not UTF-8 text", hint="Send it as a plain form field") from None


def values(name: str) -> list[str]:
    """A repeated value (``urls=a&urls=b``) from query, form or a JSON list."""
    sent = request.values.getlist(name)
    if sent:
        return sent
    raw = json_body().get(name)
    if isinstance(raw, list):
        return [str(v) for v in raw]
    return [str(raw)] if raw else []


def files() -> list[tuple[str, bytes]]:
    """Every ``file`` part as (file name, bytes), in the order sent."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    parts = current.file_parts("file") if isinstance(current, FormRequest) else \
        [(part.filename or "", part.read()) for part in request.files.getlist("file")]
    return [(filename or f"file{index}", data) for index, (filename, data) in enumerate(parts)]


def file_bytes(name: str) -> bytes | None:
    """The bytes of the first part called ``name`` (with a file name or not); None if there is none."""
    part = request.files.get(name)
    if part is not None:
        return bytes(part.read())
    value = request.form.get(name)
    return value.encode("utf-8") if value else None


def json_field(name: str, *, shape: str) -> object:
    """A field holding JSON (the annotation list ``data``): a JSON body's value, or a form field or a file-less
    part with JSON text; None when not sent. BadRequestError naming ``shape`` (what to send) if it is not JSON."""
    sent = json_body().get(name)
    if sent is not None:
        return sent
    raw = file_bytes(name)
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadRequestError(f"{name} is not JSON", hint=f"Send {name} as {shape}") from None


def if_none_match(etag: str) -> bool:
    """True when the request's If-None-Match names ``etag`` (or is ``*``): the client has it already."""
    return request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag


__all__ = ["api_key", "field", "file_bytes", "files", "if_none_match", "json_body", "values"]
