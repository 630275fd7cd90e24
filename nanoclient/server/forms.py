"""Reading the request being served in every form API.md allows.

A field may come in the query string, a form, a JSON body or a multipart part without a
file name (the Nanonets tutorial sends those); the API key is the username of HTTP Basic auth.
Reading the form may raise 413 (werkzeug's RequestEntityTooLarge), which the app renders.
"""
from __future__ import annotations

from flask import request

from ..errors import BadRequestError

#: Largest field accepted as a file-less multipart part (model ids and category names are short).
_FIELD_MAX_BYTES = 4096


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
    return [(part.filename or f"file{index}", part.read()) for index, part in enumerate(request.files.getlist("file"))]


def file_bytes(name: str) -> bytes | None:
    """The bytes of the first part called ``name`` (with a file name or not); None if there is none."""
    part = request.files.get(name)
    if part is not None:
        return bytes(part.read())
    value = request.form.get(name)
    return value.encode("utf-8") if value else None


def if_none_match(etag: str) -> bool:
    """True when the request's If-None-Match names ``etag`` (or is ``*``): the client has it already."""
    return request.if_none_match.contains_weak(etag) or request.if_none_match.star_tag


__all__ = ["api_key", "field", "file_bytes", "files", "if_none_match", "json_body", "values"]
