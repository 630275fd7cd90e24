"""Finding documents (PNG, JPEG, PDF) in users' folders and pairing them with their annotations.

A document is recognised by its first bytes, whatever its name; every other file is reported with
what it is (annotation files are expected beside documents and pass quietly). Annotations are read
file by file (``annotations.read_annotations``), so that one bad annotation file costs the documents it
labels only: each problem is reported with the file (and line) it comes from.
"""
from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

from .annotations import ANNOTATION_SUFFIXES, Annotation, AnnotationError, check_annotation, read_annotations
from .images import is_ignored_name
from .types import PathLike

#: The kinds of documents, by their first bytes.
SIGNATURES = ((b"%PDF-", "pdf"), (b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"))

#: (path, why it was skipped)
Skipped = list[tuple[Path, str]]


def document_kind(path: PathLike) -> str | None:
    """"pdf", "png" or "jpeg" by the file's first bytes; None for anything else (or a file that cannot be read)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    return next((kind for signature, kind in SIGNATURES if head.startswith(signature)), None)


def find_documents(paths: Iterable[PathLike]) -> tuple[list[Path], Skipped]:
    """The documents among files and folders (walked, sorted), and the files skipped with why.

    Annotation files and hidden or system files are left out quietly.
    """
    found: list[Path] = []
    skipped: Skipped = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file() and not is_ignored_name(p)
                                and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.exists():
            candidates = [path]
        else:
            skipped.append((path, "no such file"))
            continue
        for candidate in candidates:
            if candidate.suffix.lower() in ANNOTATION_SUFFIXES and path.is_dir():
                continue
            if document_kind(candidate) is None:
                skipped.append((candidate, "not a PNG, JPEG or PDF document"))
            else:
                found.append(candidate)
    return found, skipped


def training_root(folder: PathLike) -> Path:
    """Where a data set's training documents are: FOLDER/train if it has one, else FOLDER."""
    root = Path(folder)
    return root / "train" if (root / "train").is_dir() else root


def labelled_documents(folder: PathLike, *, fields: Collection[str] | None = None
                       ) -> tuple[list[tuple[Path, Annotation]], Skipped]:
    """The documents of a folder with their annotations (matched by file name), and what was skipped:
    documents without an annotation, annotations that name no document, and every annotation problem
    (a field not in ``fields``, a box outside its page, a file that cannot be read), each by its file."""
    root = Path(folder)
    documents, skipped = find_documents([root])
    by_name: dict[str, Path] = {}
    for document in documents:
        by_name.setdefault(document.name, document)
    annotated: dict[Path, Annotation] = {}
    for annotation_file in sorted(p for p in root.rglob("*") if p.suffix.lower() in ANNOTATION_SUFFIXES
                                  and p.is_file() and not is_ignored_name(p)):
        try:
            annotations = read_annotations(annotation_file)
        except (AnnotationError, OSError, UnicodeDecodeError) as exc:
            skipped.append((annotation_file, str(exc)))
            continue
        for annotation in annotations:
            target = by_name.get(annotation.filename) or by_name.get(_stem_match(annotation_file, by_name))
            if target is None:
                skipped.append((annotation_file, f"names {annotation.filename}, which is not a document in {root}"))
                continue
            document = target
            if document in annotated:
                first = annotated[document].source
                skipped.append((annotation_file, f"labels {document.name} again (first in {first})"))
                continue
            try:
                check_annotation(annotation, fields=fields, size=_size(document))
            except AnnotationError as exc:
                skipped.append((document, str(exc)))
                continue
            annotated[document] = annotation
    pairs = [(document, annotated[document]) for document in documents if document in annotated]
    skipped.extend((document, "no annotation names it") for document in documents if document not in annotated
                   and not any(path == document for path, _ in skipped))
    return pairs, skipped


def _stem_match(annotation_file: Path, by_name: dict[str, Path]) -> str:
    """A document with the annotation file's stem (``a.xml`` labels ``a.png``), if there is exactly one."""
    names = [name for name in by_name if os.path.splitext(name)[0] == annotation_file.stem]
    return names[0] if len(names) == 1 else ""


def _size(document: Path) -> tuple[int, int] | None:
    """The first page's size in pixels for an image (a PDF's pages are checked by the server)."""
    if document_kind(document) == "pdf":
        return None
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # only the header is read: a huge image is no bomb here (the server says
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # whether it takes it), no raw warning
        try:
            opened = Image.open(document)
        except Image.DecompressionBombError:  # too many pixels even to open: the server says what it takes
            return None
        with opened as image:
            width, height = int(image.width), int(image.height)
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
            return (height, width) if turned else (width, height)


__all__ = ["SIGNATURES", "document_kind", "find_documents", "labelled_documents", "training_root"]
