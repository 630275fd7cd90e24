"""Long documents in the SDK (issue 33): pages counted on the client, a prediction never sent again after
its answer failed to come in time, long documents read asynchronously and once, the user's file names sent.

Against a mocked API (``responses``) that plays a slow service: these tests need no Tesseract and never
wait (the client's sleeps are skipped). tests/test_ocr_cli.py checks the same against ``nanoclient serve``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import responses
from helpers import request_multipart
from PIL import Image

from nanoclient import Client
from nanoclient.errors import APITimeoutError
from nanoclient.ocr import _resource as ocr_module
from nanoclient.ocr._resource import ASYNC_PAGES, once_name, page_count, sent_name, sync_timeout

BASE = "https://ocr.example.test/api/v2"
LABEL = f"{BASE}/OCR/Model/m/LabelFile/"
ONE = re.compile(re.escape(f"{BASE}/Inferences/Model/m/ImageLevelInferences/") + r"[^?]+$")
LISTING = re.compile(re.escape(f"{BASE}/Inferences/Model/m/ImageLevelInferences") + r"\?.*")


def pdf(path: Path, pages: int) -> Path:
    """A PDF of ``pages`` small blank pages (Pillow's writer)."""
    images = [Image.new("RGB", (60, 80), (255, 255, 255 - i)) for i in range(pages)]
    images[0].save(path, save_all=True, append_images=images[1:], resolution=150)
    return path


def png(path: Path) -> Path:
    Image.new("RGB", (40, 30), "white").save(path)
    return path


def client() -> Client:
    made = Client("k", BASE, max_retries=5)
    made._transport._sleep = lambda seconds: None
    made._sleep = lambda seconds: None  # type: ignore[method-assign]
    return made


def entry(name: str, page: int, status: str = "success", page_id: str = "") -> dict[str, object]:
    return {"message": status.title(), "status": status, "input": name, "page": page, "id": page_id or f"p{page}",
            "request_file_id": "f", "prediction": [{"label": "total", "ocr_text": f"{page}.00", "score": 0.9,
                                                    "xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}]
            if status == "success" else []}


# ---------------------------------------------------------------------- counting pages


def test_pages_are_counted_by_pdfium_else_by_page_objects_else_by_size(tmp_path, monkeypatch):
    three = pdf(tmp_path / "three.pdf", 3)
    assert page_count(three) == 3 and page_count(png(tmp_path / "a.png")) == 1
    monkeypatch.setattr(ocr_module, "_pdfium_pages", lambda path: None)  # pypdfium2 not installed
    assert page_count(three) == 3
    tree_only = tmp_path / "tree.pdf"  # page objects hidden (compressed), the page tree's count readable
    tree_only.write_bytes(b"%PDF-1.5\n1 0 obj << /Type /Pages /Count 40 /Kids [] >> endobj\n")
    assert page_count(tree_only) == 40
    opaque = tmp_path / "opaque.pdf"  # nothing readable: judged by its size
    opaque.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 1000)
    assert page_count(opaque) == -(-opaque.stat().st_size // ocr_module.BYTES_PER_PAGE) == 6


def test_names_sent_are_the_files_own_made_safe_for_a_multipart_header():
    assert sent_name("/in/box/Rechnung März 2024.pdf") == "Rechnung März 2024.pdf"
    assert sent_name('a/b"c%d\\e.png') == "b_c_d_e.png"
    first, second = once_name("x/scan.pdf"), once_name("x/scan.pdf")
    assert first != second and first.endswith("~scan.pdf") and re.fullmatch(r"[0-9a-f]{12}~scan\.pdf", first)
    assert sync_timeout(1, 30) == 30 and sync_timeout(10, 30) == 100


# ---------------------------------------------------------------------- no resending


@responses.activate
def test_a_prediction_without_an_answer_in_time_is_not_sent_again(tmp_path):
    document = png(tmp_path / "slow.png")
    responses.add(responses.POST, LABEL, body=requests.exceptions.ReadTimeout("read timed out"))
    with client() as made, pytest.raises(APITimeoutError, match="not sent again") as caught:
        made.ocr.predict_file("m", document)
    assert len(responses.calls) == 1  # was 6: the transport retried read timeouts of predictions
    assert "slow.png" in str(caught.value) and "asynchronously" in str(caught.value)


@responses.activate
def test_a_gateway_timeout_is_not_sent_again_but_a_server_error_is(tmp_path):
    document = png(tmp_path / "a.png")
    responses.add(responses.POST, LABEL, status=504, json={"message": "Gateway Timeout"})
    with client() as made, pytest.raises(APITimeoutError, match="not sent again"):
        made.ocr.predict_file("m", document)
    assert len(responses.calls) == 1
    responses.replace(responses.POST, LABEL, status=500, json={"message": "boom"})
    responses.add(responses.POST, LABEL, json={"message": "Success", "result": [entry("a.png", 0)]})
    with client() as made:
        pages = made.ocr.predict_file("m", document)
    assert [(p.input, p.page) for p in pages] == [(str(document), 0)] and len(responses.calls) == 3


@responses.activate
def test_the_file_is_sent_under_its_own_name_and_a_short_one_may_wait_per_page(tmp_path, monkeypatch):
    document = pdf(tmp_path / "März scan.pdf", 3)
    waits = []
    send = ocr_module.Transport.request

    def spy(self, *args, **kwargs):
        waits.append(kwargs.get("timeout"))
        return send(self, *args, **kwargs)

    monkeypatch.setattr(ocr_module.Transport, "request", spy)

    def answer(request):
        _, parts = request_multipart(request)
        assert [filename for _, filename, _, _ in parts] == ["März scan.pdf"]
        return 200, {}, json.dumps({"message": "Success", "result": [entry("März scan.pdf", p) for p in (2, 0, 1)]})

    responses.add_callback(responses.POST, LABEL, callback=answer)
    with client() as made:
        pages = made.ocr.predict_file("m", document)
    assert [(p.input, p.page) for p in pages] == [(str(document), 0), (str(document), 1), (str(document), 2)]
    assert waits == [30.0]  # three pages: the client's 30 s; a page more than that would get 10 s a page


# ---------------------------------------------------------------------- long documents


class SlowService:
    """An asynchronous reader: each poll reads one more page; it counts what it was sent and asked."""

    def __init__(self, pages: int, *, lose_first_answer: bool = False) -> None:
        self.pages = pages
        self.read = 0
        self.sent: list[str] = []
        self.polls = 0
        self.lose_first_answer = lose_first_answer

    def submit(self, request):
        assert "async=true" in request.url
        _, parts = request_multipart(request)
        self.sent.extend(filename for _, filename, _, _ in parts)
        if self.lose_first_answer and len(self.sent) == 1:
            return 502, {}, json.dumps({"message": "Bad Gateway"})  # processed, the answer lost
        pending = [entry(self.sent[-1], p, "pending") for p in range(self.pages)]
        return 200, {}, json.dumps({"message": "Success", "result": [{"message": "Success", "result": pending}]})

    def poll(self, request):
        self.polls += 1
        self.read = min(self.pages, self.read + 1)
        page = int(request.url.rsplit("/p", 1)[1])
        status = "success" if page < self.read else "pending"
        return 200, {}, json.dumps({"message": "Success", "result": [entry(self.sent[-1], page, status)]})

    def listing(self, request):
        items = [{**entry(name, p, "pending"), "day_since_epoch": 0} for name in self.sent for p in range(self.pages)]
        return 200, {}, json.dumps({"unmoderated_images": items, "moderated_images": []})


@responses.activate
def test_a_long_document_is_sent_once_asynchronously_and_polled_a_page_or_two_a_round(tmp_path):
    pages = ASYNC_PAGES + 20
    document = pdf(tmp_path / "scan.pdf", pages)
    service = SlowService(pages)
    responses.add_callback(responses.POST, LABEL, callback=service.submit)
    responses.add_callback(responses.GET, ONE, callback=service.poll)
    with client() as made:
        read = made.ocr.predict_file("m", document)
    assert len(service.sent) == 1 and service.sent[0].endswith("~scan.pdf")
    assert [(p.input, p.page, p.status) for p in read] == [(str(document), p, "success") for p in range(pages)]
    assert [p.field("total").text for p in read] == [f"{p}.00" for p in range(pages)]
    assert service.polls <= 2 * pages  # each round stops at the first page still pending


@responses.activate
def test_a_long_document_whose_send_answer_was_lost_is_found_by_its_name_not_sent_again(tmp_path):
    document = pdf(tmp_path / "scan.pdf", ASYNC_PAGES + 1)
    service = SlowService(ASYNC_PAGES + 1, lose_first_answer=True)
    responses.add_callback(responses.POST, LABEL, callback=service.submit)
    responses.add_callback(responses.GET, ONE, callback=service.poll)
    responses.add_callback(responses.GET, LISTING, callback=service.listing)
    with client() as made:
        read = made.ocr.predict_file("m", document)
    assert len(service.sent) == 1 and all(p.status == "success" for p in read) and len(read) == ASYNC_PAGES + 1


@responses.activate
def test_asynchronous_false_keeps_a_long_document_in_one_request(tmp_path):
    document = pdf(tmp_path / "scan.pdf", ASYNC_PAGES + 1)
    responses.add(responses.POST, LABEL, json={"message": "Success",
                                               "result": [entry("scan.pdf", p) for p in range(ASYNC_PAGES + 1)]})
    with client() as made:
        assert len(made.ocr.predict_file("m", document, asynchronous=False)) == ASYNC_PAGES + 1
    assert "async" not in responses.calls[0].request.url


def test_the_transport_sends_once_what_timed_out_when_told_and_waits_as_long_as_asked():
    """``retry_timeouts=False`` against a silent socket: one connection, not one per retry; ``timeout=``
    this request's wait instead of the transport's."""
    import threading
    import time

    from helpers import RawServer

    from nanoclient._transport import Transport

    release = threading.Event()
    server = RawServer(lambda conn: release.wait(10))
    try:
        transport = Transport(server.url, "k", timeout=0.2, max_retries=3, sleep=lambda seconds: None)
        with pytest.raises(APITimeoutError, match="within 0.2 s"):
            transport.request("POST", "OCR/Model/m/LabelFile/", retry_timeouts=False)
        assert server.connections == 1
        started = time.monotonic()
        with pytest.raises(APITimeoutError, match="within 0.6 s"):
            transport.request("POST", "OCR/Model/m/LabelFile/", retry_timeouts=False, timeout=0.6)
        assert time.monotonic() - started >= 0.6 and server.connections == 2
        with pytest.raises(APITimeoutError):
            transport.request("GET", "Models/")  # the default: a read timeout is retried
        assert server.connections == 6
    finally:
        release.set()
        server.close()
