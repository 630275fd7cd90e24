"""The server's fast multipart reading gives what Werkzeug's gives, or leaves the body to it.

Every body is read twice, by Flask's own request and by the server's ``FormRequest``, and the
results must be equal: the same fields, the same files (name, file name, headers, bytes), or
the same error. The usual bodies must take the fast path (``multipart.parse`` not None), so
that the comparison is not between Werkzeug and itself.
"""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import requests
from flask import Request
from werkzeug.exceptions import HTTPException
from werkzeug.test import EnvironBuilder

from nanoclient._transport import FilePart, MultipartBody
from nanoclient.server import multipart
from nanoclient.server.forms import FormRequest

B = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
CT = f"multipart/form-data; boundary={B}"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 3 + b"\r\n\r\n--not-the-boundary\r\n" + b"\xff\xd9"


def read(cls: type[Request], body: bytes, content_type: str = CT, *, memory: int | None = 8 << 20,
         parts: int | None = 1000) -> object:
    environ = EnvironBuilder(method="POST", data=body, content_type=content_type).get_environ()
    req = cls(environ)
    req.max_form_memory_size = memory
    req.max_form_parts = parts
    try:
        form = list(req.form.items(multi=True))
        files = [(name, f.filename, list(f.headers.items()), f.read()) for name, f in req.files.items(multi=True)]
        return form, files, req.get_data()
    except HTTPException as exc:
        return type(exc).__name__


def same(body: bytes, content_type: str = CT, **limits: int | None) -> object:
    ours = read(FormRequest, body, content_type, **limits)
    assert ours == read(Request, body, content_type, **limits)
    return ours


def fast(body: bytes, boundary: str = B) -> bool:
    try:
        return multipart.parse(body, boundary.encode(), max_field_bytes=None, max_parts=None) is not None
    except HTTPException:
        return True


def prepared(files: list[tuple[str, tuple[str, bytes] | tuple[str, bytes, str]]],
             data: dict[str, str] | None = None) -> tuple[bytes, str]:
    req = requests.Request("POST", "http://x/", files=files, data=data).prepare()
    assert isinstance(req.body, bytes)
    return req.body, req.headers["Content-Type"]


NAMES = ["a.jpeg", "with space.png", "ünïcödé.jpg", "semi;colon.png", "quote\"d.png", "back\\slash.png",
         "per%20cent.png", "../../etc/passwd", "", "tab\tname.png", "comma,=eq.png"]


@pytest.mark.parametrize("filename", NAMES)
def test_bodies_from_requests(filename: str) -> None:
    """As ``requests`` (the official wrapper, the tutorial) sends them: files, fields, empty file names."""
    body, content_type = prepared(
        [("file", (filename, JPEG, "image/jpeg")), ("file", ("b.png", b"")), ("modelId", ("", "m-1")),
         ("category", ("", "shoes"))], data={"extra": "ünï"})
    result = same(body, content_type)
    assert isinstance(result, tuple) and len(result[1]) == 4
    boundary = content_type.split("boundary=")[1]
    assert fast(body, boundary) == ('"' not in filename and "\\" not in filename and "%" not in filename)


def test_body_of_the_sdk(tmp_path: Path) -> None:
    """The SDK's own streamed body takes the fast path; a file name with a quote (sent as %22) does not."""
    (tmp_path / "x.jpeg").write_bytes(JPEG)
    (tmp_path / "y.jpeg").write_bytes(JPEG[:100])
    for second, on_fast_path in (("y.jpeg", True), ('y"z.jpeg', False)):
        with open(tmp_path / "x.jpeg", "rb") as one, open(tmp_path / "y.jpeg", "rb") as two:
            files = [(FilePart("file", one.name, "x.jpeg", "image/jpeg"), one),
                     (FilePart("file", two.name, second), two)]
            sdk = MultipartBody([("modelId", "m"), ("category", "c")], files)
            body = sdk.read()
        assert fast(body, sdk.boundary) == on_fast_path
        result = same(body, sdk.content_type)
        assert isinstance(result, tuple) and [f[1] for f in result[1]] == ["x.jpeg", second]


def part(name: str, value: bytes, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return f"--{B}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode() + value + b"\r\n"


END = f"--{B}--\r\n".encode()


@pytest.mark.parametrize("body", [
    part("file", JPEG, "a.jpeg") + END,
    part("modelId", b"m") + part("file", JPEG, "a.jpeg", "Content-Type: image/jpeg\r\n") + END,
    part("category", "é".encode("latin-1"), extra="Content-Type: text/plain; charset=iso-8859-1\r\n") + END,
    part("category", b"\xff\xfe", extra="Content-Type: text/plain; charset=koi8-r\r\n") + END,
    part("file", b"", "") + END,
    part("file", JPEG, "a.jpeg") + END + b"epilogue\r\n" + part("x", b"y") + END,
    part("file", JPEG, "a.jpeg", "X-Odd:no-space\r\nNoColon\r\n") + END,
], ids=["file", "field-and-file", "latin-1", "unknown-charset", "empty", "epilogue", "odd-headers"])
def test_usual_bodies_take_the_fast_path(body: bytes) -> None:
    assert fast(body)
    same(body)


@pytest.mark.parametrize("body", [
    b"",
    END,
    b"preamble\r\n" + part("file", JPEG, "a.jpeg") + END,
    part("file", JPEG, "a.jpeg"),  # no closing delimiter
    part("file", JPEG, "a.jpeg").replace(b"\r\n", b"\n") + END.replace(b"\r\n", b"\n"),
    part("file", JPEG, "a.jpeg").replace(f"--{B}\r\n".encode(), f"--{B}  \r\n".encode()) + END,
    part("file", JPEG + b"\n--" + B.encode() + b"\r\n", "a.jpeg") + END,
    part("file", b"--" + B.encode() + b"x", "a.jpeg") + END,
    part("file", b"\r\n--" + B.encode() + b"x", "a.jpeg") + END,
    part("file", JPEG, "a.jpeg", "X-Folded: a\r\n b\r\n") + END,
    f"--{B}\r\nContent-Type: text/plain\r\n\r\nvalue\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: form-data; filename=\"a\"; name=\"file\"\r\n\r\nv\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%C3%A9.png\r\n\r\nv\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: form-data; name=file\r\n\r\nv\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\nv\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: form-data; name=\"f\xe9\"\r\n\r\nv\r\n".encode("latin-1") + END,
    f"--{B}\r\n\r\nno headers\r\n".encode() + END,
    f"--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\nx\r\n".encode() + END,  # no blank line
], ids=["empty", "only-end", "preamble", "unclosed", "lf-only", "padding", "lf-boundary-in-data",
        "boundary-prefix-in-data", "crlf-boundary-prefix-in-data", "folded",
        "no-disposition", "reordered", "rfc2231", "token-name", "attachment", "latin-1-header", "no-headers",
        "no-blank-line"])
def test_unusual_bodies_are_left_to_werkzeug(body: bytes) -> None:
    assert not fast(body)
    same(body)


def test_file_parts_are_the_files_without_werkzeug_objects() -> None:
    body = part("file", JPEG, "a.jpeg") + part("modelId", b"m") + part("file", b"two", "") + part("x", b"1", "x") + END
    ours = FormRequest(EnvironBuilder(method="POST", data=body, content_type=CT).get_environ())
    ours.max_form_memory_size = 1 << 20  # the server's least (outside an app: Werkzeug's 500 kB, left to it)
    assert ours.file_parts("file") == [("a.jpeg", JPEG), ("", b"two")] and ours.parsed_files is not None
    assert ours.form["modelId"] == "m"
    theirs = Request(EnvironBuilder(method="POST", data=body, content_type=CT).get_environ())
    assert [(f.filename, f.read()) for f in theirs.files.getlist("file")] == ours.file_parts("file")
    unusual = FormRequest(EnvironBuilder(method="POST", data=b"preamble\r\n" + body, content_type=CT).get_environ())
    unusual.max_form_memory_size = 1 << 20
    assert unusual.file_parts("file") == [("a.jpeg", JPEG), ("", b"two")] and unusual.parsed_files is None


def test_limits_are_werkzeugs() -> None:
    big_field = part("category", b"x" * 5000) + END
    assert same(big_field, memory=4096) == "RequestEntityTooLarge"
    assert isinstance(same(big_field, memory=1 << 20), tuple)
    assert isinstance(same(part("file", b"x" * 5000, "a.png") + END, memory=1 << 20), tuple)  # files are not fields
    many = b"".join(part("file", JPEG, f"{i}.jpeg") for i in range(30)) + END
    assert same(many, parts=29) == "RequestEntityTooLarge"
    assert isinstance(same(many, parts=30), tuple)
    for content_type in (f"multipart/form-data; boundary={'é' * 3}", "multipart/form-data"):
        assert same(part("file", JPEG, "a.jpeg") + END, content_type)[:2] == ([], [])  # type: ignore[index]


def test_self_overlapping_boundary_is_left_to_werkzeug() -> None:
    boundary = "x--x"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--x--x--x\r\n"
            f"--{boundary}--\r\n").encode()
    assert not fast(body, boundary)
    same(body, f"multipart/form-data; boundary={boundary}")


def test_mangled_bodies_agree() -> None:
    """Random damage near the structure (line breaks, dashes, quotes, colons) never makes the two differ."""
    rng = random.Random(11)
    base = part("modelId", b"m-1") + part("file", JPEG[:40], "a.jpeg", "Content-Type: image/jpeg\r\n") \
        + part("file", b"\r\n--\r\n", "b;c.png") + END
    alphabet = [b"\r", b"\n", b"\r\n", b"-", b"--", b" ", b"\t", b'"', b":", b";", b"\\", b"%", B.encode()[:5]]
    for _ in range(1500):
        body = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(body) + 1)
            if rng.random() < 0.3 and at < len(body):
                del body[at:at + rng.randint(1, 4)]
            else:
                body[at:at] = rng.choice(alphabet)
        same(bytes(body), memory=1 << 20, parts=3)
