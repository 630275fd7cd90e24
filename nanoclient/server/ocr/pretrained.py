"""Field extractors that ship with the package, for OCR models that start from one (``--pretrained invoices``).

Each is a ``FieldExtractor`` saved as plain arrays (``extractors/NAME.npz``, no pickle), trained by
``scripts/train_pretrained.py`` on the project's generated documents across many layouts, languages, scans
and photos. A model created from one serves predictions at once; its own documents, once it trains, adapt
it (``ocr_fields.train``'s ``base``). Nothing here knows HTTP or SQL.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from .fields import FieldExtractor

#: Where the shipped extractors live (package data).
FOLDER = Path(__file__).with_name("extractors")


def available() -> dict[str, Path]:
    """The shipped extractors by name."""
    return {path.stem: path for path in sorted(FOLDER.glob("*.npz"))}


def path(name: str) -> Path:
    """The file of the shipped extractor ``name``; KeyError naming the ones there are."""
    found = available()
    if name not in found:
        raise KeyError(f"no pretrained extractor {name!r} (there are: {', '.join(found) or 'none'})")
    return found[name]


def load(name: str) -> FieldExtractor:
    """The shipped extractor ``name``."""
    return FieldExtractor.load(path(name))


def file_name(name: str) -> str:
    """A name for a copy of the extractor among a server's classifiers: the same bytes, the same name."""
    digest = hashlib.sha256(path(name).read_bytes()).hexdigest()[:12]
    return f"pretrained-{name}-{digest}.ocr"


__all__ = ["FOLDER", "available", "file_name", "load", "path"]
