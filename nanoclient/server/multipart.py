"""A fast reading of the usual multipart/form-data body, equal to Werkzeug's or declining.

Werkzeug's parser streams the body through regular expressions, one event at a time, and
compiles two of them for every new boundary: for an upload of 20 small images it cost the
server 1.4 ms (2 ms with a boundary it had not seen), a sixth of the whole request. ``parse``
reads the whole body, already in memory, with a few ``bytes`` operations instead.

It takes only the bodies every client this server knows sends (``requests``, urllib3, the SDK,
browsers): the first line is the boundary, every line break is CRLF, no header is folded,
Content-Disposition reads ``form-data; name="..."[; filename="..."]``. For those it gives what
Werkzeug gives, limits included (413 past ``max_parts`` parts or a field past
``max_field_bytes``). For anything else it returns None, and the caller leaves the body to
Werkzeug, whose reading then decides (``tests/test_server_multipart.py`` checks both agree).
"""
from __future__ import annotations

import functools
import re

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header

#: A field: (name, value decoded as Werkzeug decodes it).
Field = tuple[str, str]
#: A file: (name, file name, its part's headers in order, its bytes).
File = tuple[str, str, list[tuple[str, str]], bytes]

#: The Content-Disposition of nearly every part, whose parameters need no unquoting.
_DISPOSITION = re.compile(r'form-data; name="([^"\\%]*)"(?:; filename="([^"\\%]*)")?')
#: Header blocks longer than this go to Werkzeug (whose buffer limit could then apply).
_MAX_HEADER_BYTES = 16 * 1024
#: The charsets Werkzeug accepts for a field (else UTF-8).
_FIELD_CHARSETS = {"ascii", "us-ascii", "utf-8", "iso-8859-1"}


def parse(body: bytes, boundary: bytes, *, max_field_bytes: int | None,
          max_parts: int | None) -> tuple[list[Field], list[File]] | None:
    """(fields, files) of a multipart body, in the order sent; None if it is not of the usual
    shape (then Werkzeug's reading applies). Raises RequestEntityTooLarge as Werkzeug would."""
    dash = b"--" + boundary
    delimiter = b"\r\n" + dash
    if not _plain(boundary) or not body.startswith(dash + b"\r\n"):
        return None
    # Werkzeug also takes a boundary after a lone CR or LF, or before spaces: any such is not ours
    if body.count(dash) != body.count(delimiter) + 1:
        return None
    segments = body.split(delimiter)
    segments[0] = segments[0][len(dash):]
    fields: list[Field] = []
    files: list[File] = []
    parts = 0
    for segment in segments:
        if segment.startswith(b"--"):  # the closing delimiter; what follows is the epilogue
            return fields, files
        if not segment.startswith(b"\r\n"):
            return None
        end = segment.find(b"\r\n\r\n", 2)
        if end < 0 or end > _MAX_HEADER_BYTES:
            return None
        headers = _headers(segment[2:end])
        if headers is None:
            return None
        disposition = next((value for name, value in headers if name.lower() == "content-disposition"), None)
        if disposition is None:
            return None
        match = _DISPOSITION.fullmatch(disposition)
        if match is None:
            return None
        parts += 1
        if max_parts is not None and parts > max_parts:
            raise RequestEntityTooLarge()
        data = segment[end + 4:]
        name, filename = match.group(1), match.group(2)
        if filename is not None:
            files.append((name, filename, headers, data))
            continue
        if max_field_bytes is not None and len(data) > max_field_bytes:
            raise RequestEntityTooLarge()
        fields.append((name, data.decode(_field_charset(headers), "replace")))
    return None  # no closing delimiter: Werkzeug finds the form invalid


@functools.lru_cache(maxsize=64)
def _plain(boundary: bytes) -> bool:
    """A boundary of 1 to 70 characters whose delimiter cannot overlap itself (so counting and
    splitting find every occurrence Werkzeug would)."""
    dash = b"--" + boundary
    return 0 < len(boundary) <= 70 and not any(dash.startswith(dash[i:]) for i in range(1, len(dash)))


def _headers(block: bytes) -> list[tuple[str, str]] | None:
    """A part's header lines as (name, value), as Werkzeug reads them; None if any is unusual."""
    headers = []
    for line in block.split(b"\r\n"):
        if not line or line[:1] in (b" ", b"\t") or b"\r" in line or b"\n" in line:
            return None  # empty, folded, or broken by a lone CR or LF
        try:
            text = line.strip(b" \t").decode()
        except UnicodeDecodeError:
            return None
        name, _, value = text.partition(":")
        headers.append((name.strip(" \t"), value.strip(" \t")))
    return headers


def _field_charset(headers: list[tuple[str, str]]) -> str:
    content_type = next((value for name, value in headers if name.lower() == "content-type"), None)
    if content_type:
        charset = parse_options_header(content_type)[1].get("charset", "").lower()
        if charset in _FIELD_CHARSETS:
            return charset
    return "utf-8"


__all__ = ["parse"]
