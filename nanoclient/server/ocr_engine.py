"""The local server's text engine: the words on a document's pages, each with its box and confidence.

A document is a PNG or JPEG (one page, turned as its EXIF orientation says) or a PDF (each page
rendered at ``PDF_DPI`` with pypdfium2, the ``nanoclient[ocr]`` extra). Words are read by Tesseract
(the system's ``tesseract`` program, 4 or newer, English), run once per page as a child process with
one thread, so that pages can be read in parallel: its TSV output gives every word's box, line and
confidence. Nothing here knows HTTP, SQL or fields: ``ocr_fields`` learns which words are which field.
"""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

#: Resolution at which a PDF page becomes pixels: an A4 page is 1240 x 1754 (docs/OCR-API.md).
PDF_DPI = 150
#: The longest side a page is read at: larger scans are read downsized (boxes are scaled back).
MAX_SIDE = 4000
#: Seconds Tesseract may take for one page.
PAGE_TIMEOUT = 120.0
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
    """The words of one page, in reading order, and the page's size in pixels."""

    width: int
    height: int
    words: tuple[Word, ...]


def is_pdf(data: bytes) -> bool:
    """Whether the bytes are a PDF (by their first bytes, whatever the file is called)."""
    return data[:5] == b"%PDF-"


@contextmanager
def _pdf(data: bytes) -> Iterator[Any]:
    """The PDF open with pypdfium2 (EngineMissingError without it, ValueError if it is not a readable PDF)."""
    try:
        import pypdfium2
    except ImportError:
        raise EngineMissingError("Reading PDFs needs pypdfium2: pip install 'nanoclient[ocr]'") from None
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise ValueError(f"not a readable PDF ({exc})") from None
    try:
        yield pdf
    finally:
        pdf.close()


def render_pages(data: bytes) -> Iterator[Image.Image]:
    """The pages of a document as images: one for PNG or JPEG, every page of a PDF at PDF_DPI.

    ValueError if the bytes are neither; EngineMissingError for a PDF without pypdfium2.
    """
    if is_pdf(data):
        with _pdf(data) as pdf:
            for index in range(len(pdf)):
                page = pdf[index]
                yield page.render(scale=PDF_DPI / 72).to_pil().convert("L")
                page.close()
        return
    try:
        with Image.open(io.BytesIO(data)) as image:
            yield ImageOps.exif_transpose(image).convert("L")
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"not a PNG, JPEG or PDF ({exc})") from None


def page_count(data: bytes) -> int:
    """How many pages a document has (1 for an image)."""
    if not is_pdf(data):
        return 1
    with _pdf(data) as pdf:
        return len(pdf)


def page_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) in pixels of each page, as ``render_pages`` draws them (a PDF's from its page boxes,
    without drawing them)."""
    if not is_pdf(data):
        with Image.open(io.BytesIO(data)) as image:
            return [ImageOps.exif_transpose(image).size]
    scale = PDF_DPI / 72
    sizes = []
    with _pdf(data) as pdf:
        for index in range(len(pdf)):
            page = pdf[index]
            sizes.append((math.ceil(page.get_width() * scale), math.ceil(page.get_height() * scale)))
            page.close()
    return sizes


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
        in ``languages`` (Tesseract's codes, most likely first; none: the engine's ``language``)."""
        if not self.available():
            raise EngineMissingError(f"The OCR engine is missing: {INSTALL_HINT}")
        scale = 1.0
        if max(page.size) > MAX_SIDE:
            scale = MAX_SIDE / max(page.size)
            page = page.resize((round(page.width * scale), round(page.height * scale)))
        buffer = io.BytesIO()
        page.save(buffer, "PNG", compress_level=1)
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        try:
            done = subprocess.run(
                [self.command, "stdin", "stdout", "-l", "+".join(languages) or self.language, "--psm", "11", "tsv"],
                input=buffer.getvalue(), capture_output=True, env=env, timeout=PAGE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Tesseract took more than {PAGE_TIMEOUT:.0f} s on one page") from None
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
        width, height = (round(side / scale) for side in page.size)
        return Page(width=width, height=height, words=tuple(words))


__all__ = ["EngineMissingError", "INSTALL_HINT", "PDF_DPI", "Page", "TesseractEngine", "Word", "is_pdf",
           "page_count", "page_sizes", "render_pages"]
