"""PDFs never take the OCR server down, and long documents are read once, page by page (issue 33).

PDFium is not thread-safe and a hostile PDF can crash or hang it: the server renders every PDF in renderer
processes (``pdf_render``). These tests read many PDFs at once in training and in concurrent predictions
through a real waitress server in this process (a crash of PDFium in the server would end pytest), make a
renderer crash (SIGSEGV on a marked document, SIGKILL mid-page) and hang, and check that only that
document fails. Renderers that crash on purpose run this module's ``RENDERER`` (the real renderer, with a
trap for marked documents). Most tests read pages with ``CheapEngine`` (no Tesseract: the rendered pixels
are checked, and fixed words returned) to stay fast; one reads PDFs with real Tesseract from threads.
Lanes (tests/lanes.py): the renderer alone is ``unit``; through the server (training models in this
process) ``server``, the 600-page one ``slow`` too; real Tesseract ``ocr``.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import needs_tesseract
from PIL import Image, ImageDraw, ImageFont

from nanoclient.server.app import create_app
from nanoclient.server.config import ServerConfig
from nanoclient.server.ocr import TYPE as OCR
from nanoclient.server.ocr import models as ocr_backend
from nanoclient.server.ocr import pdf_render
from nanoclient.server.ocr.engine import Page, Word, page_count, page_sizes, render_pages
from nanoclient.server.serve import CLIENT_LOOKAHEAD

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pypdfium2") is None, reason="needs pypdfium2")

KEY = "pdf-key"
FIELDS = ["invoice_number"]
#: Where CheapEngine puts its words, as fractions of the page: (text, x0, y0, x1, y1).
LAYOUT = (("Invoice", 0.10, 0.10, 0.30, 0.15), ("No", 0.31, 0.10, 0.38, 0.15), ("INV-2044", 0.40, 0.10, 0.70, 0.15))

#: A renderer that crashes or stalls on documents carrying a marker (a PDF comment after %%EOF, which
#: PDFium ignores); every other document is served by the real renderer's code.
RENDERER = '''
import os, signal, sys, time
from nanoclient.server.ocr import pdf_render

real_answer = pdf_render._answer

def answer(documents, header, payload):
    data = payload if header.get("op") == "open" else documents.get(int(header.get("id", 0)), (None, b""))[1]
    if header.get("op") == "open" and b"%CRASH-ON-OPEN" in data:
        os.kill(os.getpid(), signal.SIGSEGV)
    if header.get("op") == "render" and int(header["page"]) >= 1:
        if b"%CRASH-ON-RENDER" in data:
            os.kill(os.getpid(), signal.SIGSEGV)
        if b"%SLOW-ON-RENDER" in data:
            flag = os.environ.get("SLOW_RENDER_FLAG")
            if flag:
                with open(flag, "w") as out:
                    out.write(str(os.getpid()))
            time.sleep(60)
    return real_answer(documents, header, payload)

pdf_render._answer = answer
pdf_render.main()
'''


# ---------------------------------------------------------------------- documents


def pdf_file(objects: Sequence[bytes], trailer: bytes = b"") -> bytes:
    """A PDF of these objects (numbered from 1; the first is the catalogue) with its cross-reference table."""
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return out


#: The standard fonts make_pdf's pages are set in (PDFium's font code is where threads crashed it).
FONTS = (b"Helvetica", b"Times-Roman", b"Courier", b"Helvetica-Bold")


def make_pdf(pages: int, *, seed: int = 0, marker: bytes = b"") -> bytes:
    """A PDF of ``pages`` small pages (3 x 4 inches: 450 x 600 pixels once drawn at 150 dpi) of invoice-like
    lines in four fonts and a box, each page different, with ``marker`` appended as a comment.

    Drawn by PDFium from two threads of one process, such documents crashed it (SIGSEGV, SIGABRT) in two
    runs of three; drawn in the renderers, never."""
    fonts = b" ".join(b"/F%d %d 0 R" % (i, 3 + i) for i in range(len(FONTS)))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    objects += [b"<< /Type /Font /Subtype /Type1 /BaseFont /%s >>" % font for font in FONTS]
    kids = []
    for index in range(pages):
        lines = b"".join(b"BT /F%d %d Tf 12 %d Td (Invoice %d-%d line %d: total 1,234.%02d EUR) Tj ET\n"
                         % (k % len(FONTS), 6 + (k + seed) % 5, 270 - k * 14, seed, index, k, (k * 7 + index) % 100)
                         for k in range(18))
        lines += b"2 w 8 8 %d %d re S\n" % (60 + (seed * 13 + index * 7) % 140, 20 + (seed + index * 5) % 40)
        objects.append(b"<< /Length %d >>\nstream\n%sendstream" % (len(lines), lines))
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 216 288] /Contents %d 0 R "
                       b"/Resources << /Font << %s >> >> >>" % (len(objects), fonts))
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    return pdf_file(objects) + (b"\n" + marker + b"\n" if marker else b"")


def encrypted_pdf() -> bytes:
    """A one-page PDF protected by a user password (the standard security handler, revision 2)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
               b"<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> /P -4 >>"]
    file_id = b"<00112233445566778899aabbccddeeff>"
    return pdf_file(objects, b"/Encrypt 4 0 R /ID [%s %s]" % (file_id, file_id))


class CheapEngine:
    """A text engine for load tests: checks that each page it gets was really drawn (its size, ink on it)
    and returns LAYOUT's words; counts its reads, each taking ``delay`` seconds."""

    command = "cheap-engine"  # no such program: the server asks no Tesseract for its language packs
    language = "eng"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.reads = 0
        self.read_pixels: list[bytes] = []
        self._lock = threading.Lock()

    def available(self) -> bool:
        return True

    def read(self, page: Image.Image, languages: Sequence[str] = ()) -> Page:
        assert page.mode == "L" and page.size[0] >= 400, page.size
        assert page.getextrema()[0] < 128, "a drawn page has ink on it"
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            self.reads += 1
            self.read_pixels.append(page.tobytes()[:: 997])
        width, height = page.size
        words = tuple(Word(text, 0.95, int(x0 * width), int(y0 * height), int(x1 * width), int(y1 * height))
                      for text, x0, y0, x1, y1 in LAYOUT)
        return Page(width=width, height=height, words=words)


# ---------------------------------------------------------------------- a real server in this process


class Server:
    """The app served by waitress in a thread, with the settings of ``nanoclient serve``."""

    def __init__(self, data_dir: Path) -> None:
        from waitress.server import create_server

        self.app = create_app(ServerConfig(data_dir=data_dir, min_images=5, train_in_child=False))
        self.ocr: ocr_backend.OcrModels = self.app.extensions["nanoclient"]["backend"].part(OCR)
        self.engine = CheapEngine()
        self.ocr.engine = self.engine  # type: ignore[assignment]
        self.server = create_server(self.app, host="127.0.0.1", port=0, threads=12,
                                    channel_request_lookahead=CLIENT_LOOKAHEAD)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}/api/v2/OCR/Model"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        self.http = requests.Session()
        self.http.auth = (KEY, "")

    def stop(self) -> None:
        from waitress import wasyncore

        self.http.close()
        self.server.task_dispatcher.shutdown()
        # closed in the loop's own thread (woken by its trigger): closing its sockets from here while it waits
        # in select() made it fail with EBADF
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(10)
        assert not self.thread.is_alive(), "the server's loop did not end"
        self.app.extensions["nanoclient"]["backend"].close()

    # the API, as a client uses it

    def create(self) -> str:
        response = self.http.post(self.url + "/", json={"categories": FIELDS, "model_type": "ocr"}, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["model_id"])

    def upload(self, model_id: str, documents: Sequence[tuple[str, bytes]]) -> requests.Response:
        boxes = []
        for name, content in documents:
            try:
                width, height = page_sizes(content)[0]
            except ValueError:  # a hostile document: sent without boxes
                continue
            _, x0, y0, x1, y1 = LAYOUT[2]
            boxes.append({"filename": name, "object": [{"name": "invoice_number", "ocr_text": LAYOUT[2][0],
                                                        "bndbox": {"xmin": int(x0 * width) + 1,
                                                                   "ymin": int(y0 * height) + 1,
                                                                   "xmax": int(x1 * width) - 1,
                                                                   "ymax": int(y1 * height) - 1}}]})
        return self.http.post(f"{self.url}/{model_id}/UploadFile/", timeout=60,
                              files=[("file", (name, content)) for name, content in documents],
                              data={"data": json.dumps(boxes)})

    def train(self, model_id: str) -> None:
        response = self.http.post(f"{self.url}/{model_id}/Train/", timeout=30)
        assert response.status_code == 200, response.text

    def trained(self, model_id: str, timeout: float = 60) -> dict[str, Any]:
        assert self.app.extensions["nanoclient"]["backend"].wait_idle(timeout)
        model: dict[str, Any] = self.http.get(f"{self.url}/{model_id}", timeout=30).json()
        return model

    def predict(self, model_id: str, documents: Sequence[tuple[str, bytes]]) -> requests.Response:
        return self.http.post(f"{self.url}/{model_id}/LabelFile/", timeout=120,
                              files=[("file", (name, content)) for name, content in documents])


@pytest.fixture(autouse=True)
def no_renderer_left() -> Iterator[None]:
    """Each test ends the renderer processes it started (the server's close does it by itself)."""
    yield
    pdf_render.stop()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    try:
        yield running
    finally:
        running.stop()
    assert pdf_render.renderers().pids() == [], "closing the backend ends the renderer processes"


@pytest.fixture()
def trapped_renderers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The process's renderers run RENDERER (crashing or stalling on marked documents); yields the file
    the stalling renderer writes its process id to."""
    script = tmp_path / "trapped_renderer.py"
    script.write_text(RENDERER)
    flag = tmp_path / "slow-render.pid"
    monkeypatch.setenv("SLOW_RENDER_FLAG", str(flag))
    pdf_render.configure(command=[sys.executable, str(script)])
    try:
        yield flag
    finally:
        pdf_render.configure()
        pdf_render.stop()


def trained_model(server: Server, *, seed: int = 100, documents: int = 6) -> str:
    model_id = server.create()
    response = server.upload(model_id, [(f"train{i}.pdf", make_pdf(3, seed=seed + i)) for i in range(documents)])
    assert response.status_code == 200, response.text
    server.train(model_id)
    assert server.trained(model_id)["state"] == 5
    return model_id


def drawn(size: tuple[int, int]) -> bool:
    """Whether a size is make_pdf's page at 150 dpi (450 x 600, give or take PDFium's rounding)."""
    return abs(size[0] - 450) <= 1 and abs(size[1] - 600) <= 1


def pages_of(response: requests.Response) -> dict[str, list[dict[str, Any]]]:
    assert response.status_code == 200, response.text
    by_input: dict[str, list[dict[str, Any]]] = {}
    for page in response.json()["result"]:
        by_input.setdefault(page["input"], []).append(page)
    return by_input


# ---------------------------------------------------------------------- the renderer alone


def test_the_renderer_draws_pages_as_before_and_says_what_is_wrong_with_a_pdf():
    content = make_pdf(3, seed=1)
    assert page_count(content) == 3
    sizes = page_sizes(content)
    images = list(render_pages(content))
    assert all(drawn(image.size) for image in images) and all(i.mode == "L" for i in images)
    assert all(drawn(size) for size in sizes)
    assert images[0].tobytes() != images[1].tobytes()
    with pytest.raises(pdf_render.PdfEncryptedError, match="^the PDF is encrypted: remove its password$"):
        page_sizes(encrypted_pdf())
    for broken in (b"%PDF-1.4 nothing else", content[: len(content) // 3]):
        with pytest.raises(ValueError, match="not a readable PDF"):
            page_sizes(broken)
    assert page_count(content) == 3  # the renderer serves on after refusing documents


def test_many_threads_render_many_pdfs_at_once():
    documents = [make_pdf(4, seed=seed) for seed in range(6)]
    expected = [[image.tobytes() for image in render_pages(content)] for content in documents]

    def draw(index: int) -> list[bytes]:
        return [image.tobytes() for image in render_pages(documents[index % len(documents)])]

    with ThreadPoolExecutor(8) as pool:
        drawn = list(pool.map(draw, range(48)))
    assert all(pages == expected[i % len(documents)] for i, pages in enumerate(drawn))


def test_a_crash_or_a_hang_costs_the_document_and_the_renderer_starts_again(trapped_renderers):
    good = make_pdf(2, seed=3)
    with pytest.raises(pdf_render.RendererCrashedError, match="^the PDF renderer crashed on this document$"):
        page_count(make_pdf(2, marker=b"%CRASH-ON-OPEN"))
    assert page_count(good) == 2
    # a document open in a renderer that died of another one is opened again, unnoticed
    pool = pdf_render.renderers()
    with pool.open(good) as first:
        first.render(0)
        for pid in pool.pids():
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert drawn(first.render(1).size)
    pdf_render.configure(command=pool.command, timeout=1.5)
    started = time.monotonic()
    with pytest.raises(pdf_render.RendererTimeoutError, match="timed out on this document"):
        list(render_pages(make_pdf(3, marker=b"%SLOW-ON-RENDER")))
    assert time.monotonic() - started < 10
    assert len(list(render_pages(good))) == 2


def test_an_idle_renderer_ends_and_its_documents_open_again_when_needed():
    pool = pdf_render.Renderers(1, idle=0.3)
    try:
        with pool.open(make_pdf(3, seed=6)) as document:
            first = document.render(0).tobytes()
            assert pool.pids()
            deadline = time.monotonic() + 10
            while pool.pids():  # ended once idle, its memory given back
                assert time.monotonic() < deadline, "the idle renderer was not ended"
                time.sleep(0.05)
            assert document.render(0).tobytes() == first and drawn(document.render(2).size)
    finally:
        pool.stop()
    assert pool.pids() == []


@needs_tesseract
def test_pdfs_read_by_tesseract_from_several_threads_at_once():
    from nanoclient.server.ocr.engine import TesseractEngine

    font = ImageFont.load_default(size=40)
    documents = []
    for seed in range(3):
        pages = []
        for index in range(2):
            image = Image.new("L", (1000, 500), 255)
            ImageDraw.Draw(image).text((50, 200), f"INVOICE {seed}{index}4711", fill=0, font=font)
            pages.append(image)
        out = io.BytesIO()
        pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=150)
        documents.append(out.getvalue())
    engine = TesseractEngine()

    def read(seed: int) -> list[str]:
        return [" ".join(w.text for w in engine.read(image).words) for image in render_pages(documents[seed])]

    with ThreadPoolExecutor(3) as pool:
        texts = list(pool.map(read, [0, 1, 2, 0, 1, 2]))
    for seed, text in zip([0, 1, 2, 0, 1, 2], texts, strict=True):
        assert [f"INVOICE {seed}{index}4711" in line for index, line in enumerate(text)] == [True, True], text


@pytest.mark.ocr  # the fake asks Tesseract for its language packs
def test_the_in_process_fake_reads_pdfs_through_the_renderers_and_ends_them():
    from nanoclient.testing import fake_nanonets

    with fake_nanonets(min_images=1) as fake:
        http = requests.Session()
        http.auth = (fake.api_key, "")
        url = f"{fake.base_url}/OCR/Model"
        model_id = http.post(url + "/", json={"categories": FIELDS, "model_type": "ocr"}).json()["model_id"]
        response = http.post(f"{url}/{model_id}/UploadFile/", files=[("file", ("two.pdf", make_pdf(2)))])
        assert response.status_code == 200, response.text
        locked = http.post(f"{url}/{model_id}/UploadFile/", files=[("file", ("locked.pdf", encrypted_pdf()))])
        assert locked.json()["message"] == "locked.pdf: the PDF is encrypted: remove its password"
        assert pdf_render.renderers().pids()
    assert pdf_render.renderers().pids() == []


# ---------------------------------------------------------------------- through the server


@pytest.mark.server  # trains models (in this process)
@pytest.mark.slow
def test_predictions_and_training_on_pdfs_at_once_three_times_with_a_hostile_pdf(server, trapped_renderers):
    """4 requests of 2 PDFs of 25 pages each (200 pages) at once while another model trains on PDFs,
    three times over; the first time one request, and the training, each carry a PDF that crashes the
    renderer mid-document."""
    model_id = trained_model(server)
    for round_ in range(3):
        learner = server.create()
        training = [(f"r{round_}-{i}.pdf", make_pdf(3, seed=10 * round_ + i)) for i in range(6)]
        if round_ == 0:  # a training document that crashes the renderer is left out of the training
            training.append(("hostile-training.pdf", make_pdf(3, seed=8, marker=b"%CRASH-ON-RENDER")))
        response = server.upload(learner, training)
        assert response.status_code == 200, response.text
        server.train(learner)
        requests_ = [[(f"r{round_}-q{q}-{d}.pdf", make_pdf(25, seed=1000 * round_ + 10 * q + d)) for d in range(2)]
                     for q in range(4)]
        if round_ == 0:
            requests_[1].insert(1, ("hostile.pdf", make_pdf(5, seed=7, marker=b"%CRASH-ON-RENDER")))
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda documents: server.predict(model_id, documents), requests_))
        for documents, answer in zip(requests_, answers, strict=True):
            by_input = pages_of(answer)
            assert list(by_input) == [name for name, _ in documents]
            for name, pages in by_input.items():
                if name == "hostile.pdf":
                    assert pages[0]["status"] == "success"  # drawn before the page that crashes the renderer
                    assert {p["message"] for p in pages[1:]} == {"Failed: the PDF renderer crashed on this document"}
                    continue
                assert [p["page"] for p in pages] == list(range(25))
                assert all(p["status"] == "success" for p in pages), pages
                assert [v["ocr_text"] for v in pages[3]["prediction"]] == ["INV-2044"]
        model = server.trained(learner)
        assert model["state"] == 5, model
    assert server.engine.reads >= 3 * 200 + 18


@pytest.mark.server  # trains models (in this process)
def test_a_renderer_killed_mid_page_or_hanging_costs_that_document_only(server, trapped_renderers):
    model_id = trained_model(server, documents=5)
    slow = make_pdf(4, seed=5, marker=b"%SLOW-ON-RENDER")
    documents = [("before.pdf", make_pdf(3, seed=1)), ("slow.pdf", slow), ("after.pdf", make_pdf(3, seed=2))]
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(server.predict, model_id, documents)
        deadline = time.monotonic() + 30
        while not trapped_renderers.exists() or not trapped_renderers.read_text():
            assert time.monotonic() < deadline, "the renderer never reached the slow page"
            time.sleep(0.05)
        os.kill(int(trapped_renderers.read_text()), signal.SIGKILL)
        by_input = pages_of(answer.result(60))
    assert [p["status"] for p in by_input["before.pdf"] + by_input["after.pdf"]] == ["success"] * 6
    assert by_input["slow.pdf"][0]["status"] == "success"
    assert {p["message"] for p in by_input["slow.pdf"][1:]} == {"Failed: the PDF renderer crashed on this document"}
    # a renderer that hangs is killed after the timeout: the same document, another copy
    trapped_renderers.unlink()
    pdf_render.configure(command=pdf_render.renderers().command, timeout=2)
    by_input = pages_of(server.predict(model_id, [("slow.pdf", slow + b"\n"), ("after.pdf", make_pdf(2, seed=9))]))
    assert {p["message"] for p in by_input["slow.pdf"][1:]} == {
        "Failed: the PDF renderer timed out on this document (more than 2 s)"}
    assert [p["status"] for p in by_input["after.pdf"]] == ["success"] * 2


@pytest.mark.server  # trains models (in this process)
def test_a_pdf_that_cannot_be_read_is_refused_once_in_words(server, trapped_renderers):
    model_id = server.create()
    good = make_pdf(2, seed=4)
    cases = [
        (encrypted_pdf(), "locked.pdf: the PDF is encrypted: remove its password"),
        (good[: len(good) // 3], "broken.pdf: not a readable PDF"),
        (make_pdf(2, marker=b"%CRASH-ON-OPEN"), "crash.pdf: the PDF renderer crashed on this document"),
    ]
    for (content, message), name in zip(cases, ["locked.pdf", "broken.pdf", "crash.pdf"], strict=True):
        response = server.upload(model_id, [("good.pdf", good), (name, content)])
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["message"].startswith(message), body
        assert body["message"].count("encrypted") <= 1 and "not a PNG, JPEG" not in body["message"]
    assert server.upload(model_id, [("good.pdf", good)]).status_code == 200
    many = make_pdf(ocr_backend.PAGES_MAX + 1)  # a few hundred kilobytes, hours of reading
    response = server.upload(model_id, [("many.pdf", many)])
    assert response.status_code == 400
    assert response.json()["message"] == "many.pdf: 1001 pages, more than the 1000 a document may have"


@pytest.mark.server  # trains models (in this process)
def test_a_page_too_large_to_draw_fails_alone(server):
    import pypdfium2

    pdf = pypdfium2.PdfDocument(make_pdf(3, seed=8))  # in this test's thread only
    pdf.new_page(14000, 14000, index=1)  # 194 inches square: 850 million pixels at 150 dpi
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    model_id = trained_model(server, documents=5)
    pages = pages_of(server.predict(model_id, [("huge.pdf", out.getvalue())]))["huge.pdf"]
    assert [p["status"] for p in pages] == ["success", "failure", "success", "success"]
    assert pages[1]["message"] == "Failed: page 2 is too large to draw (29167 x 29167 pixels at 150 dpi)"


@pytest.mark.server  # trains models (in this process)
def test_the_same_document_sent_again_while_it_is_read_is_read_once(server):
    model_id = trained_model(server, documents=5)
    server.engine.delay = 0.05
    before = server.engine.reads
    document = [("long.pdf", make_pdf(20, seed=77))]
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: server.predict(model_id, document), range(3)))
    results = [pages_of(answer)["long.pdf"] for answer in answers]
    assert all(len(pages) == 20 and {p["status"] for p in pages} == {"success"} for pages in results)
    assert [[p["prediction"] for p in pages] for pages in results[1:]] == [[p["prediction"] for p in results[0]]] * 2
    assert server.engine.reads - before == 20, "three requests for one document, one reading"
    pages_of(server.predict(model_id, document))  # read before: its words are kept
    assert server.engine.reads - before == 20


@pytest.mark.server  # trains models (in this process)
def test_a_prediction_whose_client_went_away_stops_being_read(server):
    model_id = trained_model(server, documents=5)
    server.engine.delay = 0.25
    before = server.engine.reads
    prepared = requests.Request("POST", f"{server.url}/{model_id}/LabelFile/", auth=(KEY, ""),
                                files=[("file", ("gone.pdf", make_pdf(40, seed=55)))]).prepare()
    head = f"POST {prepared.path_url} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in prepared.headers.items()) + "\r\n"
    assert isinstance(prepared.body, bytes)
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(head.encode() + prepared.body)
        time.sleep(1.0)  # a few pages read, then the client gives up
    deadline = time.monotonic() + 30
    while True:
        stored = server.ocr.store.inferences(server.ocr._record(_account(server), model_id).id, 0, 1 << 40)
        if stored and all(r.state != "pending" for r in stored):
            break
        assert time.monotonic() < deadline, "the prediction never ended"
        time.sleep(0.2)
    read = server.engine.reads - before
    assert read < 20, f"{read} of 40 pages read after the client went away"
    messages = [json.loads(r.result)["message"] for r in sorted(stored, key=lambda r: r.page)]
    assert messages[:2] == ["Success"] * 2
    assert messages[-1] == f"Failed: {ocr_backend.CLIENT_GONE}"
    assert messages.count("Success") <= read


@pytest.mark.server  # trains models (in this process)
def test_a_retry_after_the_client_went_away_reads_no_page_twice(server):
    """The retry comes as the first reading is given up, its last pages still being read: it takes them up."""
    model_id = trained_model(server, documents=5)
    server.engine.delay = 0.3
    before = server.engine.reads
    content = make_pdf(30, seed=66)
    prepared = requests.Request("POST", f"{server.url}/{model_id}/LabelFile/", auth=(KEY, ""),
                                files=[("file", ("again.pdf", content))]).prepare()
    head = f"POST {prepared.path_url} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in prepared.headers.items()) + "\r\n"
    assert isinstance(prepared.body, bytes)
    with socket.create_connection(("127.0.0.1", server.port)) as connection:
        connection.sendall(head.encode() + prepared.body)
        time.sleep(1.0)
    deadline = time.monotonic() + 10
    while server.ocr._flights:  # the reading is given up once the server sees the client gone
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pages = pages_of(server.predict(model_id, [("again.pdf", content)]))["again.pdf"]
    assert [p["status"] for p in pages] == ["success"] * 30
    assert server.engine.reads - before == 30, "no page read twice"


def _account(server: Server) -> Any:
    return server.app.extensions["nanoclient"]["backend"].authenticate(KEY)
