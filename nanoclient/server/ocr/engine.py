"""The local server's text engine: the words on a document's pages, each with its box and confidence.

A document is a PNG or JPEG (one page, turned as its EXIF orientation says) or a PDF (each page
rendered at ``PDF_DPI`` with pypdfium2, the ``nanoclient[ocr]`` extra, in renderer processes: see
``pdf_render``). Words are read by Tesseract
(the system's ``tesseract`` program, 4 or newer, English), run once per page as a child process with
one thread, so that pages can be read in parallel: its TSV output gives every word's box, line and
confidence. Nothing here knows HTTP, SQL or fields: ``ocr_fields`` learns which words are which field.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from . import pdf_render
from .pdf_render import PDF_DPI

#: The longest side a page is read at: larger scans are read downsized (boxes are scaled back).
MAX_SIDE = 4000
#: Seconds Tesseract may take for one page.
PAGE_TIMEOUT = 120.0
#: A read whose mean word confidence is below this, on a page whose way up was not clear, is tried turned over.
LOW_CONFIDENCE = 0.6
#: Below this mean confidence a read is garbled whatever the clean-up thought of the way up, and the page is
#: read turned over too (on generated scans and photos: 0.22 and 0.31 read upside down, 0.79 to 0.96 upright).
GARBLED = 0.5
#: What the engine needs, said when it is missing.
INSTALL_HINT = ("install Tesseract: `sudo apt-get install tesseract-ocr` (Debian, Ubuntu), "
                "`brew install tesseract` (macOS), or see https://tesseract-ocr.github.io")


class EngineMissingError(RuntimeError):
    """The text engine (Tesseract), or the PDF renderer for a PDF, is not installed."""


@dataclass(frozen=True)
class Word:
    """One word read on a page: its text, Tesseract's confidence (0 to 1), its box in page pixels."""

    text: str
    confidence: float
    xmin: int
    ymin: int
    xmax: int
    ymax: int

    @property
    def height(self) -> int:
        return self.ymax - self.ymin


@dataclass(frozen=True)
class Page:
    """The words of one page, in reading order, and the page's size in pixels. Where the clean-up turned,
    deskewed or flattened the page before it was read, ``upright`` holds the same words (in the same order)
    where they stand on the page as read, of ``upright_size``, for the field extractor to see lines and
    columns as a reader does; ``words`` are in the given page's pixels all the same."""

    width: int
    height: int
    words: tuple[Word, ...]
    upright: tuple[Word, ...] | None = None
    upright_size: tuple[int, int] | None = None


def is_pdf(data: bytes) -> bool:
    """Whether the bytes are a PDF (by their first bytes, whatever the file is called)."""
    return data[:5] == b"%PDF-"


class Document:
    """A document open for reading: its page count (``pages``), each page's size and each page as an image.

    A PDF is opened in a renderer process (``pdf_render``: PDFium is not thread-safe, and a hostile PDF
    can crash it, which then costs that document only); an image is opened here. Use ``open_document``.
    """

    pages: int

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) in pixels of each page, as ``page`` draws them (a PDF's from its page boxes)."""
        raise NotImplementedError

    def page(self, index: int) -> Image.Image:
        """Page ``index`` (from 0) in greyscale, a PDF's drawn at PDF_DPI."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the document."""


class _ImageDocument(Document):
    """A PNG or JPEG: one page, turned as its EXIF orientation says."""

    pages = 1

    def __init__(self, data: bytes) -> None:
        self._data = data

    def sizes(self) -> list[tuple[int, int]]:
        try:
            with Image.open(io.BytesIO(self._data)) as image:
                return [ImageOps.exif_transpose(image).size]
        except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
            raise ValueError(f"not a PNG, JPEG or PDF ({exc})") from None

    def page(self, index: int) -> Image.Image:
        if index != 0:
            raise IndexError(f"page {index} of an image")
        try:
            with Image.open(io.BytesIO(self._data)) as image:
                return ImageOps.exif_transpose(image).convert("L")
        except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
            raise ValueError(f"not a PNG, JPEG or PDF ({exc})") from None


class _PdfDocument(Document):
    """A PDF open in a renderer process."""

    def __init__(self, data: bytes) -> None:
        if importlib.util.find_spec("pypdfium2") is None:
            raise EngineMissingError("Reading PDFs needs pypdfium2: pip install 'nanoclient[ocr]'")
        self._pdf = pdf_render.renderers().open(data)
        self.pages = self._pdf.pages

    def sizes(self) -> list[tuple[int, int]]:
        return self._pdf.sizes()

    def page(self, index: int) -> Image.Image:
        image: Image.Image = self._pdf.render(index)
        return image

    def close(self) -> None:
        self._pdf.close()


@contextmanager
def open_document(data: bytes) -> Iterator[Document]:
    """The document open for reading, closed on leaving the block.

    ValueError if a PDF cannot be read (``pdf_render.DocumentError``: encrypted, broken, or it crashed or
    hung the renderer, each said in words); EngineMissingError for a PDF without pypdfium2. An image's
    errors come when its pages or sizes are asked for (ValueError too).
    """
    document: Document = _PdfDocument(data) if is_pdf(data) else _ImageDocument(data)
    try:
        yield document
    finally:
        document.close()


def render_pages(data: bytes) -> Iterator[Image.Image]:
    """The pages of a document as images: one for PNG or JPEG, every page of a PDF at PDF_DPI, drawn one at
    a time as they are asked for.

    ValueError if the bytes are neither (or the PDF cannot be read); EngineMissingError for a PDF without
    pypdfium2.
    """
    with open_document(data) as document:
        for index in range(document.pages):
            yield document.page(index)


def page_count(data: bytes) -> int:
    """How many pages a document has (1 for an image)."""
    if not is_pdf(data):
        return 1
    with open_document(data) as document:
        return document.pages


def page_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) in pixels of each page, as ``render_pages`` draws them (a PDF's from its page boxes,
    without drawing them)."""
    with open_document(data) as document:
        return document.sizes()


class TesseractEngine:
    """Reads the words of a page with the ``tesseract`` program (``command``: its path or name)."""

    def __init__(self, command: str = "tesseract", *, language: str = "eng") -> None:
        self.command = command
        self.language = language

    def available(self) -> bool:
        """Whether the program is installed."""
        return shutil.which(self.command) is not None

    def read(self, page: Image.Image, languages: Sequence[str] = ()) -> Page:
        """Every word Tesseract finds on the page (sparse text: labels and values apart count as words), read
        in ``languages`` (Tesseract's codes, most likely first; none: the engine's ``language``).

        The page is cleaned first (``ocr_clean``: turned upright, deskewed, a photo flattened, its lighting
        evened, small text enlarged, as needed); boxes are in the given page's pixels all the same.
        """
        if not self.available():
            raise EngineMissingError(f"The OCR engine is missing: {INSTALL_HINT}")
        language = "+".join(languages) or self.language
        try:
            from .clean import clean_page
        except ImportError:  # without OpenCV (the OCR extra), pages are read as they come
            return Page(width=page.width, height=page.height, words=tuple(self._words(page, language)))
        cleaned = clean_page(page)
        words = self._words(cleaned.image, language)
        confidence = _mean_confidence(words)
        if confidence < GARBLED or (cleaned.unsure and confidence < LOW_CONFIDENCE):  # maybe upside down after all
            over = clean_page(page, turn_over=True)
            other = self._words(over.image, language)
            if _mean_confidence(other) * len(other) > _mean_confidence(words) * len(words):
                cleaned, words = over, other
        upright = None
        if cleaned.matrix is not None and words:
            upright = tuple(words)
            boxes = cleaned.to_upload(np.array([[w.xmin, w.ymin, w.xmax, w.ymax] for w in words], dtype=np.float64))
            words = [Word(w.text, w.confidence, *(int(v) for v in box)) for w, box in zip(words, boxes, strict=True)]
        return Page(width=cleaned.width, height=cleaned.height, words=tuple(words), upright=upright,
                    upright_size=cleaned.image.size if upright is not None else None)

    def _run(self, page: Image.Image, *options: str) -> subprocess.CompletedProcess[bytes]:
        """Tesseract run on the page (a PNG on its standard input) with the options."""
        buffer = io.BytesIO()
        page.save(buffer, "PNG", compress_level=1)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            return subprocess.run([self.command, "stdin", "stdout", *options], input=buffer.getvalue(),
                                  capture_output=True, env=env, timeout=PAGE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Tesseract took more than {PAGE_TIMEOUT:.0f} s on one page") from None

    def _words(self, page: Image.Image, language: str) -> list[Word]:
        """The words of a page as Tesseract reads it, boxes in the page's pixels."""
        scale = 1.0
        if max(page.size) > MAX_SIDE:
            scale = MAX_SIDE / max(page.size)
            page = page.resize((round(page.width * scale), round(page.height * scale)))
        done = self._run(page, "-l", language, "--psm", "11", "tsv")
        if done.returncode != 0:
            raise RuntimeError("Tesseract failed: " + done.stderr.decode("utf-8", "replace").strip()[-300:])
        words = []
        rows = csv.DictReader(io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t",
                              quoting=csv.QUOTE_NONE)
        for row in rows:
            text = (row.get("text") or "").strip()
            if row.get("level") != "5" or not text:
                continue
            left, top, width, height = (int(row[k]) for k in ("left", "top", "width", "height"))
            words.append(Word(
                text=text,
                confidence=max(0.0, min(1.0, float(row.get("conf") or 0) / 100)),
                xmin=int(left / scale), ymin=int(top / scale),
                xmax=int((left + width) / scale + 0.999), ymax=int((top + height) / scale + 0.999),
            ))
        return words


def _mean_confidence(words: list[Word]) -> float:
    return sum(word.confidence for word in words) / len(words) if words else 0.0


__all__ = ["Document", "EngineMissingError", "INSTALL_HINT", "PDF_DPI", "Page", "TesseractEngine", "Word", "is_pdf",
           "open_document", "page_count", "page_sizes", "render_pages"]
