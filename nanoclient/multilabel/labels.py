"""The labels of images for multi-label classification, read from one of three sources.

    from nanoclient.multilabel.labels import read_labels
    labels = read_labels(["a.jpg", "b.jpg"], "labels.csv")   # {Path("a.jpg"): ("cat", "dog"), ...}
    labels = read_labels(["a.jpg", "b.jpg"])                  # a.txt and b.txt beside the images

- a CSV file with a ``file,labels`` header, the labels of a file separated by ``;`` (``a.jpg,cat;dog``);
- a JSON file: an object ``{"a.jpg": ["cat", "dog"]}``, or the wire's list
  ``[{"filename": "a.jpg", "categories": ["cat", "dog"]}]``;
- no labels file: a ``.txt`` beside each image with the same stem (``a.jpg`` -> ``a.txt``), one label per
  line, as Nanonets' own multi-label sample has them.

A file named in a labels file matches an image by its path relative to the labels file's folder, by the
path as given, or by its base name when only one image has it. An image may have no labels (an empty
``labels`` cell, ``[]``, an empty ``.txt``): that is a negative example. An image the source says nothing
about (no row, no ``.txt``) is *unlabelled*: ``find_labels`` reports it, ``read_labels`` refuses it. Every
problem is a ``LabelsError`` whose message names the file (and line) and says what to do.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A file path as the functions take it.
PathLike = str | os.PathLike[str]
#: Separator of the labels in a CSV's ``labels`` cell.
SEPARATOR = ";"
#: Unlabelled images named in a LabelsError's message before "and N more".
NAMED = 5


class LabelsError(ValueError):
    """Labels that cannot be read or do not fit the images; the message names the file (and line) and
    says what to do."""


@dataclass(frozen=True)
class FoundLabels:
    """What ``find_labels`` found: each labelled image's labels, and what did not fit."""

    #: image path (as given) -> its labels, in the source's order, without repeats (may be empty).
    labels: dict[Path, tuple[str, ...]]
    #: The images the source says nothing about, in the order given.
    unlabelled: tuple[Path, ...]
    #: Entries of the labels file that name none of the images (as written there).
    unused: tuple[str, ...]


def read_labels(images: Sequence[PathLike], labels_file: PathLike | None = None) -> dict[Path, tuple[str, ...]]:
    """``{image: labels}`` for every image of ``images``, from ``labels_file`` (CSV or JSON, by its suffix
    or content) or, without one, from the ``.txt`` beside each image. LabelsError when the source cannot be
    read or says nothing about some image (the message lists them)."""
    found = find_labels(images, labels_file)
    if found.unlabelled:
        raise LabelsError(_unlabelled_message(found.unlabelled, labels_file))
    return found.labels


def find_labels(images: Sequence[PathLike], labels_file: PathLike | None = None) -> FoundLabels:
    """Like ``read_labels``, but the images without labels are reported in the result, not refused."""
    paths = [Path(image) for image in images]
    if labels_file is None:
        return _beside(paths)
    source = Path(labels_file)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelsError(f"{source}: no such labels file; pass a CSV (file,labels) or JSON file, "
                          "or leave it out to read a .txt beside each image") from None
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{source}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise LabelsError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    stripped = text.lstrip()
    if source.suffix.lower() == ".json" or (source.suffix.lower() != ".csv" and stripped[:1] in ("{", "[")):
        entries = _json_entries(source, text)
    else:
        entries = _csv_entries(source, text)
    return _match(paths, source, entries)


def parse_label_lines(text: str) -> tuple[str, ...]:
    """The labels of a ``.txt`` file's text: one per line, blank lines and surrounding spaces ignored,
    repeats dropped."""
    return _unique(line.strip() for line in text.splitlines())


# --- sources ----------------------------------------------------------------------------------------

#: An entry of a labels file: (the file as written, its labels, where: "line 3" or "entry 2").
_Entry = tuple[str, tuple[str, ...], str]


def _beside(paths: Sequence[Path]) -> FoundLabels:
    labels: dict[Path, tuple[str, ...]] = {}
    unlabelled: list[Path] = []
    for path in paths:
        txt = path.with_suffix(".txt")
        if path.suffix.lower() == ".txt" or not txt.is_file():
            unlabelled.append(path)
            continue
        try:
            labels[path] = parse_label_lines(txt.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise LabelsError(f"{txt}: not UTF-8 text (byte {exc.start}); "
                              "save it as UTF-8, one label per line") from None
        except OSError as exc:
            raise LabelsError(f"{txt}: cannot be read ({exc.strerror or exc})") from None
    return FoundLabels(labels, tuple(unlabelled), ())


def _csv_entries(source: Path, text: str) -> list[_Entry]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    entries: list[_Entry] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                if "file" not in header or "labels" not in header:
                    raise LabelsError(f"{source}, line {reader.line_num}: the header must name the columns "
                                      f"file and labels (found {','.join(row)}); write file,labels as the first line")
                continue
            where = f"line {reader.line_num}"
            if len(row) != len(header):
                raise LabelsError(f"{source}, {where}: {len(row)} cells where the header has {len(header)}; "
                                  f"separate the labels with {SEPARATOR!r}, not commas (a,cat{SEPARATOR}dog)")
            cells = dict(zip(header, row, strict=True))
            name = cells["file"].strip()
            if not name:
                raise LabelsError(f"{source}, {where}: the file cell is empty; name the image it labels")
            entries.append((name, _unique(part.strip() for part in cells["labels"].split(SEPARATOR)), where))
    except csv.Error as exc:
        raise LabelsError(f"{source}, line {reader.line_num}: not valid CSV ({exc}); "
                          "quote a cell that holds a comma or a quote") from None
    if header is None:
        raise LabelsError(f"{source}: empty; write the header file,labels then one line per image")
    return entries


def _json_entries(source: Path, text: str) -> list[_Entry]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelsError(f"{source}, line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
    if isinstance(data, dict):
        return [(str(name), _json_labels(source, f'entry "{name}"', labels), f'entry "{name}"')
                for name, labels in data.items()]
    if isinstance(data, list):
        entries: list[_Entry] = []
        for index, item in enumerate(data, start=1):
            where = f"entry {index}"
            if not isinstance(item, dict) or not isinstance(item.get("filename"), str) or not item["filename"]:
                raise LabelsError(f'{source}, {where}: expected {{"filename": "a.jpg", "categories": [...]}}; '
                                  "give each entry its filename")
            entries.append((item["filename"], _json_labels(source, where, item.get("categories")), where))
        return entries
    raise LabelsError(f'{source}: expected an object {{"a.jpg": ["cat", "dog"]}} or a list '
                      '[{"filename": "a.jpg", "categories": ["cat", "dog"]}]')


def _json_labels(source: Path, where: str, labels: Any) -> tuple[str, ...]:
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise LabelsError(f'{source}, {where}: the labels must be a list of strings, such as ["cat", "dog"] '
                          "([] for an image with none)")
    return _unique(label.strip() for label in labels)


def _unique(labels: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(label for label in labels if label))


# --- matching entries to images ---------------------------------------------------------------------


def _match(paths: Sequence[Path], source: Path, entries: Sequence[_Entry]) -> FoundLabels:
    folder = source.parent
    by_key: dict[str, list[int]] = {}  # a way to name an image -> the images it names
    by_name: dict[str, list[int]] = {}
    for index, path in enumerate(paths):
        keys = {path.as_posix(), os.path.normpath(path).replace(os.sep, "/")}
        try:
            keys.add(path.resolve().relative_to(folder.resolve()).as_posix())
        except ValueError:
            pass
        for key in keys:
            by_key.setdefault(key, []).append(index)
        by_name.setdefault(path.name, []).append(index)
    labels: dict[int, tuple[str, ...]] = {}
    where_of: dict[int, str] = {}
    unused: list[str] = []
    for name, entry_labels, where in entries:
        key = os.path.normpath(name.replace("\\", "/")).replace(os.sep, "/")
        matches = by_key.get(key) or (by_name.get(name, []) if "/" not in key else [])
        if not matches:
            unused.append(name)
            continue
        if len({paths[i] for i in matches}) > 1:
            raise LabelsError(f"{source}, {where}: {name} names {len(matches)} images "
                              f"({', '.join(str(paths[i]) for i in matches[:3])}); write its path relative to "
                              f"{folder if str(folder) else 'the labels file'} instead")
        for index in matches:
            if index in labels:
                raise LabelsError(f"{source}, {where}: {name} is labelled again (first at {where_of[index]}); "
                                  "give each image one entry with all its labels")
            labels[index], where_of[index] = entry_labels, where
    return FoundLabels({paths[i]: labels[i] for i in sorted(labels)},
                       tuple(path for i, path in enumerate(paths) if i not in labels), tuple(unused))


def _unlabelled_message(unlabelled: Sequence[Path], labels_file: PathLike | None) -> str:
    named = ", ".join(str(path) for path in unlabelled[:NAMED])
    more = f" and {len(unlabelled) - NAMED} more" if len(unlabelled) > NAMED else ""
    count = f"{len(unlabelled)} image{'' if len(unlabelled) == 1 else 's'}"
    if labels_file is None:
        return (f"{count} without a .txt of labels beside it: {named}{more}; write one label per line in "
                "<image name>.txt (an empty file for an image with none), or pass a CSV or JSON labels file")
    return (f"{labels_file}: says nothing about {count}: {named}{more}; add an entry for each "
            "(an empty list of labels for an image with none)")


__all__ = ["FoundLabels", "LabelsError", "PathLike", "SEPARATOR", "find_labels", "parse_label_lines", "read_labels"]
