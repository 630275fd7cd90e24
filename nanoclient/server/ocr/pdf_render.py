"""PDF pages drawn in child processes, so that no PDF can take the server down.

PDFium (pypdfium2) is not thread-safe, and a hostile or broken PDF can crash or hang it: the server died
(SIGSEGV, SIGABRT inside libpdfium) when two of its threads rendered at once. Every PDF operation of the
server (opening, counting pages, page sizes, drawing a page) therefore runs here, in a small pool of
renderer processes (``python -m nanoclient.server.ocr.pdf_render``), each used by one thread at a time.

A document is opened in one renderer and stays there (``RemotePdf``: its page count, sizes and pages by
index, one page in memory at a time). A renderer that dies or hangs during a request costs the document
of that request only (``RendererCrashedError``, ``RendererTimeoutError``); it is killed and started again
on the next request, and the other documents it held are opened again in the new one, without their
callers noticing. An encrypted PDF is said to be so (``PdfEncryptedError``). ``stop`` ends the
processes (``OcrModels.close`` calls it), and a renderer idle for IDLE seconds ends by itself; they start
again when needed. A renderer also ends when its parent does (its standard input closes).

The wire between parent and child: frames of a 4-byte header length, a JSON header, an 8-byte payload
length and the payload (the PDF's bytes going, a page's grey pixels coming back).
"""
from __future__ import annotations

import atexit
import itertools
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from typing import IO, Any

#: Resolution at which a PDF page becomes pixels: an A4 page is 1240 x 1754 (docs/OCR-API.md).
PDF_DPI = 150
#: Renderer processes of the pool (documents are spread over them; each serves one request at a time).
PROCESSES = 2
#: Seconds a renderer may take for one request (opening a document, or drawing one page) before it is
#: killed and the document is said to hang it.
TIMEOUT = 60.0
#: Seconds a renderer may stay idle before it is ended, giving its memory back (PDFium keeps fonts and
#: caches: some 60 MB); the next request starts it again and reopens the documents it held.
IDLE = 120.0
#: The most pixels a page may have at PDF_DPI (Pillow's own bound on an image's pixels): a larger
#: page is refused instead of drawn.
MAX_PAGE_PIXELS = 89_478_485
#: Address space a renderer may use, in bytes: a document that wants more fails in the renderer, not
#: in the server.
MEMORY_LIMIT = 3 << 30

_HEADER = struct.Struct(">I")
_PAYLOAD = struct.Struct(">Q")
#: PDFium's error code for a document that needs a password (FPDF_ERR_PASSWORD).
_ERR_PASSWORD = 4


class DocumentError(ValueError):
    """A document that cannot be read; its text is the reason, said to the user as it is."""


class PdfEncryptedError(DocumentError):
    """The PDF is protected by a password."""

    def __init__(self) -> None:
        super().__init__("the PDF is encrypted: remove its password")


class RendererCrashedError(DocumentError):
    """The renderer process died while working on this document."""

    def __init__(self) -> None:
        super().__init__("the PDF renderer crashed on this document")


class RendererTimeoutError(DocumentError):
    """The renderer took longer than its timeout on this document (it was killed)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the PDF renderer timed out on this document (more than {seconds:g} s)")


class _Gone(Exception):
    """The renderer process ended (or could not be written to or read from) during a request."""


class _TimedOut(Exception):
    """The renderer did not answer in time."""


# ---------------------------------------------------------------------- the parent's side


class _Renderer:
    """One renderer process, started when first needed and again after it died; one request at a time."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = list(command)
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None
        #: Incremented at each start: documents opened in an earlier process are opened again.
        self.generation = 0
        #: Documents open in this renderer (to spread new ones over the pool).
        self.open = 0
        #: When it last answered (time.monotonic()).
        self.last_used = 0.0

    def ensure(self) -> None:
        """A live process (call with ``lock`` held): the one there is, or a new one."""
        if self.process is not None and self.process.poll() is None:
            return
        self.kill()
        self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        close_fds=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        for stream in (self.process.stdin, self.process.stdout):
            os.set_blocking(stream.fileno(), False)
        self.generation += 1

    def kill(self) -> None:
        """End the process, if any (call with ``lock`` held)."""
        process, self.process = self.process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if process.poll() is None:
            process.kill()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a killed process always ends
            pass

    @property
    def pid(self) -> int | None:
        process = self.process
        return None if process is None or process.poll() is not None else process.pid

    def call(self, header: dict[str, Any], payload: bytes, timeout: float) -> tuple[dict[str, Any], bytes]:
        """Send one request and read its answer (call with ``lock`` held, after ``ensure``).

        _Gone if the process ended, _TimedOut after ``timeout`` seconds; either way the process is killed.
        """
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        deadline = time.monotonic() + timeout
        try:
            _write(process.stdin, _frame(header, payload), deadline)
            size = _HEADER.unpack(_read(process.stdout, _HEADER.size, deadline))[0]
            answer = json.loads(_read(process.stdout, size, deadline))
            length = _PAYLOAD.unpack(_read(process.stdout, _PAYLOAD.size, deadline))[0]
            data = _read(process.stdout, length, deadline)
        except (_Gone, _TimedOut):
            self.kill()
            raise
        self.last_used = time.monotonic()
        return answer, data


def _frame(header: dict[str, Any], payload: bytes) -> bytes:
    encoded = json.dumps(header).encode()
    return b"".join((_HEADER.pack(len(encoded)), encoded, _PAYLOAD.pack(len(payload)), payload))


def _wait(fd: int, writing: bool, deadline: float) -> None:
    """Wait until ``fd`` can be written (or read), _TimedOut at ``deadline`` (poll: any descriptor number)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _TimedOut
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writing else select.POLLIN)
        ready = bool(poller.poll(remaining * 1000))
    else:  # pragma: no cover - no poll on this system
        ready = any(select.select([] if writing else [fd], [fd] if writing else [], [], remaining)[:2])
    if not ready:
        raise _TimedOut


def _write(stream: IO[bytes], data: bytes, deadline: float) -> None:
    view = memoryview(data)
    fd = stream.fileno()
    while view:
        _wait(fd, True, deadline)
        try:
            written = os.write(fd, view[:1 << 20])
        except BlockingIOError:
            continue
        except OSError:  # BrokenPipeError: the process is gone
            raise _Gone from None
        view = view[written:]


def _read(stream: IO[bytes], size: int, deadline: float) -> bytes:
    chunks = []
    fd = stream.fileno()
    while size:
        _wait(fd, False, deadline)
        try:
            chunk = os.read(fd, min(size, 1 << 20))
        except BlockingIOError:
            continue
        except OSError:
            raise _Gone from None
        if not chunk:
            raise _Gone
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class RemotePdf:
    """A PDF open in a renderer process: its page count (``pages``), sizes and pages, drawn one at a time.

    Close it (or use it in a ``with`` block): the renderer holds its bytes until then.
    """

    def __init__(self, pool: Renderers, renderer: _Renderer, data: bytes) -> None:
        self._pool = pool
        self._renderer = renderer
        self._data = data
        self._id = next(pool._ids)
        self._generation = 0  # the renderer generation it is open in; 0: not open yet
        self._closed = False
        self.pages = int(self._request({"op": "count"})[0]["pages"])

    def __enter__(self) -> RemotePdf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) in pixels of each page at PDF_DPI, from the page boxes (without drawing them)."""
        return [(int(w), int(h)) for w, h in self._request({"op": "sizes"})[0]["sizes"]]

    def render(self, index: int) -> Any:
        """Page ``index`` (from 0) drawn at PDF_DPI, as a greyscale PIL image."""
        from PIL import Image

        if not 0 <= index < self.pages:
            raise IndexError(f"page {index} of a {self.pages}-page PDF")
        answer, pixels = self._request({"op": "render", "page": index})
        return Image.frombytes("L", (answer["width"], answer["height"]), pixels)

    def close(self) -> None:
        """Let the renderer forget the document (nothing to do if its process has ended since)."""
        if self._closed:
            return
        self._closed = True
        renderer = self._renderer
        with self._pool._choose:
            renderer.open -= 1
        with renderer.lock:
            if self._generation == renderer.generation and renderer.pid is not None:
                try:
                    renderer.call({"op": "close", "id": self._id}, b"", self._pool.timeout)
                except (_Gone, _TimedOut):
                    pass

    def _request(self, header: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """One request about this document, opening it in the renderer first if the renderer is new."""
        if self._closed:
            raise ValueError("the PDF is closed")
        renderer = self._renderer
        timeout = self._pool.timeout
        with renderer.lock:
            try:
                renderer.ensure()
                if self._generation != renderer.generation:
                    answer, _ = renderer.call({"op": "open", "id": self._id}, self._data, timeout)
                    _raise_for(answer)
                    self._generation = renderer.generation
                answer, payload = renderer.call({**header, "id": self._id}, b"", timeout)
            except _Gone:
                raise RendererCrashedError() from None
            except _TimedOut:
                raise RendererTimeoutError(timeout) from None
        _raise_for(answer)
        return answer, payload


def _raise_for(answer: dict[str, Any]) -> None:
    if answer.get("ok"):
        return
    if answer.get("kind") == "encrypted":
        raise PdfEncryptedError()
    raise DocumentError(str(answer.get("message") or "the PDF cannot be read"))


class Renderers:
    """A pool of renderer processes (``processes`` of them, started when first needed)."""

    def __init__(self, processes: int = PROCESSES, *, timeout: float = TIMEOUT, idle: float = IDLE,
                 command: Sequence[str] | None = None) -> None:
        self.timeout = timeout
        self.idle = idle
        self.command = list(command or (sys.executable, "-m", __name__))
        self._renderers = [_Renderer(self.command) for _ in range(max(1, processes))]
        self._choose = threading.Lock()
        self._ids = itertools.count(1)
        self._reaper: threading.Thread | None = None

    def open(self, data: bytes) -> RemotePdf:
        """The PDF open in the renderer holding the fewest documents (DocumentError if it cannot be read)."""
        with self._choose:
            renderer = min(self._renderers, key=lambda r: r.open)
            renderer.open += 1
            if self._reaper is None:
                self._reaper = threading.Thread(target=_reap, args=(weakref.ref(self),), daemon=True,
                                                name="nanoclient-pdf-reaper")
                self._reaper.start()
        try:
            return RemotePdf(self, renderer, data)
        except BaseException:
            with self._choose:
                renderer.open -= 1
            raise

    def pids(self) -> list[int]:
        """The process ids of the renderers running now."""
        return [pid for pid in (r.pid for r in self._renderers) if pid is not None]

    def end_idle(self) -> None:
        """End the renderers that have been idle for ``idle`` seconds (not one serving a request)."""
        for renderer in self._renderers:
            if renderer.lock.acquire(blocking=False):
                try:
                    if renderer.process is not None and time.monotonic() - renderer.last_used >= self.idle:
                        renderer.kill()
                finally:
                    renderer.lock.release()

    def stop(self, wait: bool = True) -> None:
        """End the renderer processes; the next request starts them again. With ``wait``, a request being
        served is finished first; without it, it is given a second before the process is killed."""
        for renderer in self._renderers:
            locked = renderer.lock.acquire(timeout=-1 if wait else 1.0)
            try:
                renderer.kill()
            finally:
                if locked:
                    renderer.lock.release()


def _reap(pool: weakref.ref[Renderers]) -> None:
    """End a pool's idle renderers now and then, for as long as the pool exists."""
    while True:
        alive = pool()
        if alive is None:
            return
        pause = max(0.05, min(alive.idle / 4, 15.0))
        del alive
        time.sleep(pause)
        alive = pool()
        if alive is None:
            return
        alive.end_idle()
        del alive


_default: Renderers | None = None
_default_lock = threading.Lock()


def renderers() -> Renderers:
    """The process's pool of renderers, made on first use (every PDF of the server goes through it)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Renderers()
        return _default


def configure(*, processes: int = PROCESSES, timeout: float = TIMEOUT, idle: float = IDLE,
              command: Sequence[str] | None = None) -> None:
    """Replace the process's pool by one of ``processes`` renderers with this ``timeout`` per request, ended
    after ``idle`` seconds unused, running ``command`` (default: this module); the old pool's processes end
    once their requests are served."""
    global _default
    with _default_lock:
        old, _default = _default, Renderers(processes, timeout=timeout, idle=idle, command=command)
    if old is not None:
        old.stop()


def stop(wait: bool = True) -> None:
    """End the process's renderers, if any were started (they start again when needed)."""
    with _default_lock:
        pool = _default
    if pool is not None:
        pool.stop(wait)


atexit.register(stop, False)


# ---------------------------------------------------------------------- the renderer's side


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):  # pragma: no cover - a lower hard limit is kept
        pass


def _open(data: bytes) -> Any:
    """The document open with pypdfium2 (the renderer's side)."""
    import pypdfium2

    return pypdfium2.PdfDocument(data)


def _answer(documents: dict[int, Any], header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
    """One request's answer, in the renderer (errors of the document are answers, not exceptions)."""
    import pypdfium2

    op, doc_id = header.get("op"), int(header.get("id", 0))
    if op == "open":
        try:
            documents[doc_id] = (_open(payload), payload)
        except pypdfium2.PdfiumError as exc:
            if getattr(exc, "err_code", None) == _ERR_PASSWORD:
                return {"ok": False, "kind": "encrypted"}, b""
            return {"ok": False, "kind": "unreadable", "message": f"not a readable PDF ({exc})"}, b""
        return {"ok": True}, b""
    if op == "close":
        entry = documents.pop(doc_id, None)
        if entry is not None:
            entry[0].close()
        return {"ok": True}, b""
    entry = documents.get(doc_id)
    if entry is None:
        return {"ok": False, "kind": "protocol", "message": "the renderer does not hold this document"}, b""
    pdf = entry[0]
    scale = PDF_DPI / 72
    try:
        if op == "count":
            return {"ok": True, "pages": len(pdf)}, b""
        if op == "sizes":
            sizes = []
            for index in range(len(pdf)):
                page = pdf[index]
                sizes.append((math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale)))
                page.close()
            return {"ok": True, "sizes": sizes}, b""
        if op == "render":
            index = int(header["page"])
            page = pdf[index]
            try:
                width, height = math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale)
                if width * height > MAX_PAGE_PIXELS:
                    return {"ok": False, "kind": "too_large", "message": f"page {index + 1} is too large to draw "
                            f"({width} x {height} pixels at {PDF_DPI} dpi)"}, b""
                image = page.render(scale=scale).to_pil().convert("L")
            finally:
                page.close()
            return {"ok": True, "width": image.width, "height": image.height}, image.tobytes()
    except pypdfium2.PdfiumError as exc:
        return {"ok": False, "kind": "unreadable", "message": f"the PDF cannot be drawn ({exc})"}, b""
    except MemoryError:
        return {"ok": False, "kind": "too_large", "message": "the PDF needs more memory than the renderer has"}, b""
    return {"ok": False, "kind": "protocol", "message": f"unknown request {op!r}"}, b""


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until ``requests`` ends (the parent closed it, or ended)."""
    documents: dict[int, Any] = {}
    while True:
        raw = _read_exactly(requests, _HEADER.size)
        if raw is None:
            return
        header_bytes = _read_exactly(requests, _HEADER.unpack(raw)[0])
        raw_length = _read_exactly(requests, _PAYLOAD.size)
        if header_bytes is None or raw_length is None:
            return
        payload = _read_exactly(requests, _PAYLOAD.unpack(raw_length)[0])
        if payload is None:
            return
        answer, data = _answer(documents, json.loads(header_bytes), payload)
        answers.write(_frame(answer, data))
        answers.flush()


def main() -> None:
    """The renderer process: requests on standard input, answers on standard output."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal stops the server, which stops this
    _limit_memory()
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything PDFium prints goes to standard error, never into the answers
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()


__all__ = ["DocumentError", "MAX_PAGE_PIXELS", "PDF_DPI", "PdfEncryptedError", "RemotePdf", "RendererCrashedError",
           "RendererTimeoutError", "Renderers", "configure", "renderers", "stop"]
