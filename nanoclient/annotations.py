"""Reading the training annotations of OCR models: which field is where on each document.

Users label documents with different tools; this module reads the formats they export into one
form, ``Annotation`` (a document's file name and its ``FieldBox`` es), whose ``to_json`` is the
entry the API's annotation list takes (docs/OCR-API.md, "The annotation list (data)").

Formats, chosen by the file's suffix (``read_annotations``):

- ``.json``, the API's own form: one object ``{"filename": "a.png", "object": [{"name": "total",
  "ocr_text": "12.50", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 30, "ymax": 20}, "page": 1}]}``, or
  a list of them. Read as leniently as the local server reads it: ``object`` may be a list, a
  single object, ``{}``, ``[]`` or absent; ``ocr_text`` a string (kept as it is), a number or a
  boolean (kept as its JSON text: ``123`` is ``"123"``), ``null`` or absent (no text given);
  ``page`` counts from 0 and is optional; unknown keys are ignored.
- ``.json``, COCO: an object with ``images`` (``id``, ``file_name``, ``width``, ``height``),
  ``categories`` (``id``, ``name``: the fields) and ``annotations`` (``image_id``, ``category_id``,
  ``bbox`` as ``[x, y, width, height]``, the text in ``text``, ``ocr_text`` or
  ``attributes.text``). One ``Annotation`` per image, with no box for an image without annotations.
- ``.xml``, Pascal VOC (one document per file): ``<annotation><filename>``, an optional ``<size>``
  (``<width>``, ``<height>``) and ``<object>`` s with ``<name>``, an optional ``<ocr_text>`` (or
  ``<text>``) kept exactly as written (``00123`` stays ``00123``) and ``<bndbox>``. A file that
  declares a DOCTYPE or an ENTITY is refused.
- ``.csv``, one box per row under the header ``file,field,text,xmin,ymin,xmax,ymax`` and an optional
  ``page`` column (columns found by name, any order; ``text`` may be left out); an empty ``text``
  cell means no text given. Rows are grouped by file in the order files first appear.

YOLO label files (``read_yolo``) are read apart, since a ``.txt`` says nothing of its image: one box per
line, ``class cx cy w h``, the class an index into the names of ``classes.txt`` or ``obj.names``
(``read_yolo_classes``, one name per line; ``find_yolo_classes`` looks beside the labels and one folder
up), the centre and size fractions of the image's width and height, which the caller gives. Its boxes
carry no text; object detection's classes are the fields.

A field may be given by its value alone, without a box, as users who have the values (from their
accounting system) and no boxes give it: a JSON entry without ``bndbox``, or a CSV row whose four
box cells are empty (or a header without box columns: ``file,field,text``), with a non-empty text.
It is a ``FieldBox`` whose ``has_box`` is False (its four coordinates are 0, which no box can be);
the local server finds the value on the page when it trains (on the given page, else on any).

In every format coordinates are pixels from the page's top-left corner; a number, or text that is
one, and fractions are rounded outwards (minimums down, maximums up) to whole pixels. A file name
is reduced to its base name (``scans/a.png`` is ``a.png``): the API names a file by its upload's
name.

Every problem raises ``AnnotationError``, whose text names the annotation file (and the line, for
CSV) and says what to do. A missing file raises ``FileNotFoundError``. Reading checks what the file
itself can tell (a box inverted, negative, or outside the page size the file gives);
``check_annotation`` checks an annotation against the model's fields and the document's size, and
``match_documents`` pairs the annotation files of a folder with the documents they label.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import _reader

__all__ = [
    "ANNOTATION_SUFFIXES",
    "Annotation",
    "AnnotationError",
    "FieldBox",
    "check_annotation",
    "match_documents",
    "read_annotations",
    "annotation_from_json",
    "YOLO_CLASS_FILES",
    "find_yolo_classes",
    "read_yolo",
    "read_yolo_classes",
]

#: File name endings of the annotation files ``read_annotations`` reads (compared lower-cased).
ANNOTATION_SUFFIXES: frozenset[str] = frozenset({".json", ".xml", ".csv"})

_CSV_COLUMNS = ("file", "field", "text", "xmin", "ymin", "xmax", "ymax", "page")
_CSV_REQUIRED = ("file", "field")
_CSV_BOX = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class FieldBox:
    """One labelled field on a page: which field, its text (None: not given), its box in whole pixels.

    ``line`` is the line of the CSV file the box was read from (None for other formats), for
    messages; like ``Annotation.source`` it takes no part in equality. A field given by its value
    alone (``FieldBox.value``) has no box: ``has_box`` is False and its coordinates are all 0.
    """

    field: str
    text: str | None
    xmin: int
    ymin: int
    xmax: int
    ymax: int
    page: int = 0
    line: int | None = dataclasses.field(default=None, compare=False, repr=False)

    @classmethod
    def value(cls, field: str, text: str, page: int = 0, line: int | None = None) -> FieldBox:
        """A field given by its value alone, without a box (found on the page by the server's training)."""
        return cls(field, text, 0, 0, 0, 0, page, line)

    @property
    def has_box(self) -> bool:
        """Whether the field's place is given (False for a value alone)."""
        return not self.xmin == self.ymin == self.xmax == self.ymax == 0

    def to_json(self) -> dict[str, object]:
        """The box as an entry of the API's ``object`` list (a value alone has no ``bndbox``)."""
        out: dict[str, object] = {"name": self.field}
        if self.text is not None:
            out["ocr_text"] = self.text
        if self.has_box:
            out["bndbox"] = {"xmin": self.xmin, "ymin": self.ymin, "xmax": self.xmax, "ymax": self.ymax}
        if self.page > 0:
            out["page"] = self.page
        return out


@dataclass(frozen=True)
class Annotation:
    """The labelled fields of one document file.

    ``filename`` is the base name the annotation gives the document (``invoice_001.png``);
    ``source`` the annotation file it was read from, for messages (it takes no part in equality).
    """

    filename: str
    boxes: tuple[FieldBox, ...]
    source: str = dataclasses.field(default="", compare=False)

    def to_json(self) -> dict[str, object]:
        """The annotation as an entry of the API's annotation list."""
        return {"filename": self.filename, "object": [box.to_json() for box in self.boxes]}

    @property
    def fields(self) -> set[str]:
        """The names of the fields labelled in this document."""
        return {box.field for box in self.boxes}


class AnnotationError(ValueError):
    """An annotation that cannot be used: says the file (and line, where the format has lines) and what to do."""

    path: str
    line: int | None
    message: str

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[type[AnnotationError], tuple[str, str, int | None]]:
        return (type(self), (self.path, self.message, self.line))


class _Bad(Exception):
    """A problem found inside a value; the reader adds where it is."""


# ---------------------------------------------------------------------------------------------
# values


def _base_name(name: str) -> str:
    """The last component of a file name written with / or \\ separators."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _Bad(f"{what} {json.dumps(value)} is not a number: give pixels, like 120")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Bad(f"{what} {value!r} is not a number: give pixels, like 120") from None
    else:
        number = float(value)
    if not math.isfinite(number):
        raise _Bad(f"{what} {value!r} is not a finite number: give pixels, like 120")
    return number


def _low(value: object, what: str) -> int:
    """A minimum coordinate in whole pixels, rounded down."""
    return math.floor(_number(value, what))


def _high(value: object, what: str) -> int:
    """A maximum coordinate in whole pixels, rounded up."""
    return math.ceil(_number(value, what))


def _page(value: object) -> int:
    if value is None or value == "":
        return 0
    number = _number(value, "page")
    if number != int(number) or number < 0:
        raise _Bad(f"page {value!r} is not a whole number from 0: pages count from 0 (the first page is 0)")
    return int(number)


def _json_text(value: object, what: str) -> str | None:
    """Text as the server takes it: a string as it is, a number or boolean as its JSON text, null: none."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise _Bad(f"{what} is {json.dumps(value)}: give the text inside the box as a string")


def _field_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        shown = json.dumps(value) if not isinstance(value, str) else repr(value)
        raise _Bad(f"field name {shown} is not a name: give each box the name of a field, like \"total\"")
    return value


def _size(width: object, height: object, what: str) -> tuple[int, int] | None:
    """A page size from a format that gives one; None when absent or 0 (tools write 0 for unknown)."""
    if width is None or height is None or width == "" or height == "":
        return None
    w, h = _number(width, f"{what} width"), _number(height, f"{what} height")
    if w != int(w) or h != int(h) or w < 0 or h < 0:
        raise _Bad(f"{what} {width!r} x {height!r} is not whole pixels: give the document's width and height")
    if w == 0 or h == 0:
        return None
    return int(w), int(h)


def _box_problem(box: FieldBox, size: tuple[int, int] | None) -> str | None:
    """What is wrong with a box on its own or on a page of ``size`` (width, height), or None."""
    if not box.has_box:
        return None if box.text and box.text.strip() else "has neither a box nor a text: give one of them"
    for name in ("xmin", "ymin", "xmax", "ymax"):
        value = getattr(box, name)
        if value < 0:
            return f"{name} {value} is negative: coordinates are pixels from the page's top-left corner, from 0"
    if box.xmin >= box.xmax:
        return (f"xmin {box.xmin} is not less than xmax {box.xmax}: "
                "the box's left edge must be left of its right edge")
    if box.ymin >= box.ymax:
        return (f"ymin {box.ymin} is not less than ymax {box.ymax}: "
                "the box's top edge must be above its bottom edge")
    if size is not None:
        width, height = size
        if box.xmax > width:
            return (f"xmax {box.xmax} is beyond the page's width {width}: "
                    "fix the box, or check that the annotation is for this document")
        if box.ymax > height:
            return (f"ymax {box.ymax} is beyond the page's height {height}: "
                    "fix the box, or check that the annotation is for this document")
    return None


def _label(box: FieldBox) -> str:
    return f"field {box.field!r}"


def _check_boxes(source: str, boxes: Sequence[FieldBox], size: tuple[int, int] | None, where: str = "") -> None:
    """AnnotationError for the first box with a problem; ``where`` names the document in a multi-document file."""
    for box in boxes:
        problem = _box_problem(box, size)
        if problem is not None:
            if box.line is not None:
                raise AnnotationError(source, problem, box.line)
            raise AnnotationError(source, f"{where}{_label(box)}: {problem}")


# ---------------------------------------------------------------------------------------------
# reading


def read_annotations(path: str | os.PathLike[str]) -> list[Annotation]:
    """Every annotation in one file, by its format: .xml Pascal VOC (one document); .csv; .json either the
    API's form (one object {"filename", "object"} or a list of them) or COCO (a dict with "images",
    "annotations", "categories").

    Raises AnnotationError for a file that cannot be used, FileNotFoundError for one that does not exist.
    """
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    if suffix not in ANNOTATION_SUFFIXES:
        raise AnnotationError(source, "is not an annotation file: use .json (the API's form or COCO), "
                                      ".xml (Pascal VOC) or .csv")
    data = Path(source).read_bytes()
    if suffix == ".xml":
        return [_read_voc(source, data)]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                                      "save it with the UTF-8 encoding") from None
    if suffix == ".csv":
        return _read_csv(source, text)
    return _read_json(source, text)


def _read_json(source: str, text: str) -> list[Annotation]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(source, f"is not valid JSON ({exc.msg}, column {exc.colno}): fix the syntax",
                              exc.lineno) from None
    if isinstance(document, dict):
        if "filename" not in document and any(key in document for key in ("images", "annotations", "categories")):
            return _read_coco(source, document)
        return [_api_entry(source, document, None)]
    if isinstance(document, list):
        return [_api_entry(source, entry, index) for index, entry in enumerate(document)]
    raise AnnotationError(source, 'is neither an annotation ({"filename", "object"}), a list of them, nor COCO '
                                  '({"images", "annotations", "categories"}): give one of these forms')


def annotation_from_json(entry: object, *, source: str = "") -> Annotation:
    """One document's annotation in the API's form (``{"filename", "object"}``), as a service lists it;
    AnnotationError (naming ``source``) if it is not one."""
    return _api_entry(source, entry, None)


def _api_entry(source: str, entry: object, index: int | None) -> Annotation:
    """One document's annotation; ``index``: its place in the file's list, None when the file is one object."""
    where = "" if index is None else f"entry {index}: "
    if not isinstance(entry, dict):
        raise AnnotationError(source, f'{where}is {json.dumps(entry)}, not an object: give '
                                      '{"filename": ..., "object": [...]} for each document')
    filename = entry.get("filename")
    if not isinstance(filename, str) or not _base_name(filename):
        problem = "has no \"filename\"" if filename is None else f"has filename {json.dumps(filename)}"
        raise AnnotationError(source, f"{where}{problem}: give the name of the document it labels, "
                                      'like "filename": "invoice_001.png"')
    name = _base_name(filename)
    where = f"{name}: " if index is None else f"entry {index} ({name}): "
    objects = entry.get("object")
    items: list[object]
    if objects is None:
        items = []
    elif isinstance(objects, dict):
        items = [objects] if objects else []
    elif isinstance(objects, list):
        items = list(objects)
    else:
        raise AnnotationError(source, f'{where}"object" is {json.dumps(objects)}: give a list of '
                                      '{"name", "ocr_text", "bndbox"} objects')
    boxes: list[FieldBox] = []
    for index, item in enumerate(items):
        try:
            boxes.append(_api_box(item))
        except _Bad as exc:
            raise AnnotationError(source, f"{where}object {index}: {exc}") from None
    _check_boxes(source, boxes, None, where)
    return Annotation(name, tuple(boxes), source)


def _api_box(item: object) -> FieldBox:
    if not isinstance(item, dict):
        raise _Bad(f'is {json.dumps(item)}, not an object: give {{"name", "ocr_text", "bndbox"}}')
    field = _field_name(item.get("name"))
    text = _json_text(item.get("ocr_text"), "ocr_text")
    bndbox = item.get("bndbox")
    if bndbox is None and text is not None and text.strip():
        try:
            return FieldBox.value(field, text, _page(item.get("page")))
        except _Bad as exc:
            raise _Bad(f"field {field!r}: {exc}") from None
    if not isinstance(bndbox, dict):
        raise _Bad(f'field {field!r} has no "bndbox": give {{"xmin", "ymin", "xmax", "ymax"}} in pixels, '
                   'or its value as "ocr_text"')
    for key in ("xmin", "ymin", "xmax", "ymax"):
        if bndbox.get(key) is None:
            raise _Bad(f'field {field!r}: "bndbox" has no "{key}": give xmin, ymin, xmax and ymax in pixels')
    try:
        return FieldBox(field, text, _low(bndbox["xmin"], "xmin"), _low(bndbox["ymin"], "ymin"),
                        _high(bndbox["xmax"], "xmax"), _high(bndbox["ymax"], "ymax"), _page(item.get("page")))
    except _Bad as exc:
        raise _Bad(f"field {field!r}: {exc}") from None


def _read_coco(source: str, document: Mapping[str, object]) -> list[Annotation]:
    lists: dict[str, list[object]] = {}
    for key, shape in (("images", "{id, file_name, width, height}"), ("categories", "{id, name}"),
                       ("annotations", "{image_id, category_id, bbox}")):
        value = document.get(key)
        if not isinstance(value, list):
            wrong = f'has no "{key}"' if value is None else f'"{key}" is not a list'
            raise AnnotationError(source, f"{wrong}: a COCO file needs \"{key}\", a list of {shape}")
        lists[key] = value

    images: dict[object, tuple[str, tuple[int, int] | None]] = {}
    order: list[object] = []
    for index, image in enumerate(lists["images"]):
        where = f"images[{index}]"
        if not isinstance(image, dict) or "id" not in image:
            raise AnnotationError(source, f"{where} has no \"id\": give each image an id its annotations name")
        file_name = image.get("file_name")
        if not isinstance(file_name, str) or not _base_name(file_name):
            raise AnnotationError(source, f'{where} has no "file_name": give the name of the document, '
                                          'like "invoice_001.png"')
        image_key = _coco_id(image["id"])
        if image_key in images:
            raise AnnotationError(source, f"{where}: image id {json.dumps(image['id'])} is used twice: "
                                          "give each image its own id")
        try:
            size = _size(image.get("width"), image.get("height"), "size")
        except _Bad as exc:
            raise AnnotationError(source, f"{where}: {exc}") from None
        images[image_key] = (_base_name(file_name), size)
        order.append(image_key)

    categories: dict[object, str] = {}
    for index, category in enumerate(lists["categories"]):
        where = f"categories[{index}]"
        if not isinstance(category, dict) or "id" not in category:
            raise AnnotationError(source, f'{where} has no "id": give each category an id and a name')
        try:
            categories[_coco_id(category["id"])] = _field_name(category.get("name"))
        except _Bad as exc:
            raise AnnotationError(source, f"{where}: {exc}") from None

    boxes: dict[object, list[FieldBox]] = {key: [] for key in order}
    for index, item in enumerate(lists["annotations"]):
        where = f"annotations[{index}]"
        if not isinstance(item, dict):
            raise AnnotationError(source, f"{where} is not an object: give {{image_id, category_id, bbox}}")
        image_id, category_id = item.get("image_id"), item.get("category_id")
        if _coco_id(image_id) not in images:
            raise AnnotationError(source, f"{where} names image_id {json.dumps(image_id)}, which is not among "
                                          "the images: fix the id or add the image to \"images\"")
        if _coco_id(category_id) not in categories:
            known = ", ".join(json.dumps(key) for key in categories) or "none"
            raise AnnotationError(source, f"{where} names category_id {json.dumps(category_id)}, which is not "
                                          f"among the categories (ids: {known}): fix the id or add the category")
        field = categories[_coco_id(category_id)]
        image_name, image_size = images[_coco_id(image_id)]
        try:
            box = _coco_box(item, field)
        except _Bad as exc:
            raise AnnotationError(source, f"{where} ({image_name}, field {field!r}): {exc}") from None
        problem = _box_problem(box, image_size)
        if problem is not None:
            raise AnnotationError(source, f"{where} ({image_name}, field {field!r}): {problem}")
        boxes[_coco_id(image_id)].append(box)
    return [Annotation(images[key][0], tuple(boxes[key]), source) for key in order]


def _coco_id(value: object) -> object:
    """An id as a dictionary key: 1 and 1.0 are the same id, True is not 1, a list is no id."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return ("other", json.dumps(value))


def _coco_box(item: Mapping[str, object], field: str) -> FieldBox:
    bbox = item.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise _Bad(f"bbox is {json.dumps(bbox)}: give [x, y, width, height] in pixels")
    x, y = _number(bbox[0], "bbox x"), _number(bbox[1], "bbox y")
    width, height = _number(bbox[2], "bbox width"), _number(bbox[3], "bbox height")
    if width <= 0 or height <= 0:
        raise _Bad(f"bbox width {bbox[2]!r} and height {bbox[3]!r} must both be more than 0: "
                   "bbox is [x, y, width, height]")
    text: object = None
    attributes = item.get("attributes")
    for candidate in (item.get("text"), item.get("ocr_text"),
                      attributes.get("text") if isinstance(attributes, dict) else None):
        if candidate is not None:
            text = candidate
            break
    return FieldBox(field, _json_text(text, "text"), math.floor(x), math.floor(y),
                    math.ceil(x + width), math.ceil(y + height))


class _Declaration(Exception):
    """A DOCTYPE declaration (where entities are declared) met while parsing."""


class _NoDoctypeBuilder(ET.TreeBuilder):
    """The standard tree builder, refusing a DOCTYPE as soon as the parser meets one."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise _Declaration


def _read_voc(source: str, data: bytes) -> Annotation:
    refused = ("declares a DOCTYPE or an ENTITY, which are refused for safety: "
               "remove the declaration (Pascal VOC needs none)")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise AnnotationError(source, refused)
    # Also refused while parsing, whatever the file's encoding (an ENTITY can only be declared in a DOCTYPE).
    parser: ET.XMLParser[ET.Element] = ET.XMLParser(target=_NoDoctypeBuilder())
    try:
        parser.feed(data)
        root = parser.close()
    except _Declaration:
        raise AnnotationError(source, refused) from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise AnnotationError(source, f"is not well-formed XML (column {column + 1}): fix the syntax",
                              line) from None
    if root.tag != "annotation":
        raise AnnotationError(source, f"has <{root.tag}> at its root, not <annotation>: "
                                      "give a Pascal VOC annotation")
    filename = _xml_text(root, "filename")
    if not filename:
        filename = _base_name(_xml_text(root, "path") or "")
    if not filename or not _base_name(filename):
        raise AnnotationError(source, "has no <filename>: give the name of the document it labels, "
                                      "like <filename>invoice_001.png</filename>")
    name = _base_name(filename)
    size_element = root.find("size")
    size: tuple[int, int] | None = None
    if size_element is not None:
        try:
            size = _size(_xml_text(size_element, "width"), _xml_text(size_element, "height"), "<size>")
        except _Bad as exc:
            raise AnnotationError(source, str(exc)) from None
    boxes: list[FieldBox] = []
    for index, element in enumerate(root.findall("object")):
        try:
            box = _voc_box(element)
        except _Bad as exc:
            raise AnnotationError(source, f"<object> {index}: {exc}") from None
        problem = _box_problem(box, size)
        if problem is not None:
            raise AnnotationError(source, f"<object> {index} ({_label(box)}): {problem}")
        boxes.append(box)
    return Annotation(name, tuple(boxes), source)


def _xml_text(parent: ET.Element, tag: str) -> str | None:
    """The stripped text of a child, None when there is no such child."""
    child = parent.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()


def _voc_box(element: ET.Element) -> FieldBox:
    field = _field_name(_xml_text(element, "name") or "")
    text: str | None = None
    for tag in ("ocr_text", "text"):
        child = element.find(tag)
        if child is not None:
            text = child.text or ""
            break
    bndbox = element.find("bndbox")
    if bndbox is None:
        raise _Bad(f"field {field!r} has no <bndbox>: give <xmin>, <ymin>, <xmax>, <ymax> in pixels")
    values: dict[str, str] = {}
    for key in ("xmin", "ymin", "xmax", "ymax"):
        value = _xml_text(bndbox, key)
        if not value:
            raise _Bad(f"field {field!r}: <bndbox> has no <{key}>: give <xmin>, <ymin>, <xmax>, <ymax> in pixels")
        values[key] = value
    try:
        return FieldBox(field, text, _low(values["xmin"], "xmin"), _low(values["ymin"], "ymin"),
                        _high(values["xmax"], "xmax"), _high(values["ymax"], "ymax"))
    except _Bad as exc:
        raise _Bad(f"field {field!r}: {exc}") from None


def _read_csv(source: str, text: str) -> list[Annotation]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = _csv_rows(reader)
        header_line, header = next(rows, (1, []))
        columns = _csv_header(source, header, header_line)
        grouped: dict[str, list[FieldBox]] = {}
        for line, row in rows:
            try:
                name, box = _csv_box(row, columns, len(header), line)
            except _Bad as exc:
                raise AnnotationError(source, str(exc), line) from None
            problem = _box_problem(box, None)
            if problem is not None:
                raise AnnotationError(source, problem, line)
            grouped.setdefault(name, []).append(box)
    except csv.Error as exc:
        raise AnnotationError(source, f"is not valid CSV ({exc}): check the quotes", reader.line_num) from None
    return [Annotation(name, tuple(boxes), source) for name, boxes in grouped.items()]


def _csv_rows(reader: _reader) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of every row that is not blank."""
    end = 0
    for row in reader:
        start, end = end + 1, reader.line_num
        if any(cell.strip() for cell in row):
            yield start, row


def _csv_header(source: str, header: list[str], line: int) -> dict[str, int]:
    wanted = ("file,field,text,xmin,ymin,xmax,ymax (and optionally page; file,field,text for values without "
              "boxes)")
    if not header:
        raise AnnotationError(source, f"is empty: give the header {wanted}, then one box per row")
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = cell.strip().lower()
        if name in columns:
            raise AnnotationError(source, f"the header names column {name!r} twice: name each column once", line)
        if name in _CSV_COLUMNS:
            columns[name] = index
        elif name:
            raise AnnotationError(source, f"the header's column {cell.strip()!r} is not one of {wanted}: "
                                          "fix the header", line)
    missing = [name for name in _CSV_REQUIRED if name not in columns]
    if any(name in columns for name in _CSV_BOX) or "text" not in columns:  # boxes: all four columns
        missing.extend(name for name in _CSV_BOX if name not in columns)
    if missing:
        raise AnnotationError(source, f"the header has no {', '.join(missing)} column: the header must be "
                                      f"{wanted}", line)
    return columns


def _csv_box(row: list[str], columns: Mapping[str, int], width: int, line: int) -> tuple[str, FieldBox]:
    if len(row) > width and any(cell.strip() for cell in row[width:]):
        raise _Bad(f"has {len(row)} columns, the header {width}: quote text that contains commas, "
                   'like "1,250.00"')
    cells: dict[str, str] = {}
    for name, index in columns.items():
        if index >= len(row):
            if any("\n" in cell for cell in row):
                raise _Bad(f"has no {name} column (only {len(row)} of {width}), and a quote is left open: "
                           "close the quote, or its text runs on to the next quote")
            raise _Bad(f"has no {name} column (only {len(row)} of {width}): give every column of the header")
        cells[name] = row[index]
    name = _base_name(cells["file"].strip())
    if not name:
        raise _Bad("the file is empty: give the name of the document, like invoice_001.png")
    if not cells["field"].strip():
        raise _Bad("the field is empty: give the name of the field the box labels, like total")
    text = cells.get("text") or None
    corners = [cells.get(key, "").strip() for key in _CSV_BOX]
    if not any(corners):  # a value without a box
        if text is None or not text.strip():
            raise _Bad("has neither a box nor a text: give xmin, ymin, xmax and ymax, or the value's text")
        return name, FieldBox.value(cells["field"].strip(), text, _page(cells.get("page", "").strip()), line)
    if not all(corners):
        empty = ", ".join(key for key, corner in zip(_CSV_BOX, corners, strict=True) if not corner)
        raise _Bad(f"has no {empty}: give all of xmin, ymin, xmax and ymax, or none (a value without a box)")
    box = FieldBox(cells["field"].strip(), text, _low(cells["xmin"], "xmin"), _low(cells["ymin"], "ymin"),
                   _high(cells["xmax"], "xmax"), _high(cells["ymax"], "ymax"),
                   _page(cells.get("page", "").strip()), line)
    return name, box


# ---------------------------------------------------------------------------------------------
# YOLO

#: The names a YOLO class list goes by (Ultralytics' and labelImg's ``classes.txt``, Darknet's ``obj.names``).
YOLO_CLASS_FILES = ("classes.txt", "obj.names")
#: How far beyond 0..1 a YOLO fraction may stray (tools' rounding) before it is an error; it is then clamped.
_YOLO_SLACK = 1e-3


def find_yolo_classes(folder: str | os.PathLike[str]) -> Path | None:
    """The YOLO class list for the label files of ``folder``: one of YOLO_CLASS_FILES in it or its parent."""
    root = Path(folder)
    for place in (root, root.parent):
        for name in YOLO_CLASS_FILES:
            if (place / name).is_file():
                return place / name
    return None


def read_yolo_classes(path: str | os.PathLike[str]) -> list[str]:
    """The class names of a ``classes.txt`` / ``obj.names``: one per line, in index order (blank lines skipped).

    AnnotationError for a file with no name or with a name twice; FileNotFoundError for one that does not exist.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                                      "save it with the UTF-8 encoding") from None
    names: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in names:
            raise AnnotationError(source, f"names class {name!r} twice (first as class {names.index(name)}): "
                                          "give each class one line", number)
        names.append(name)
    if not names:
        raise AnnotationError(source, "names no class: give one class name per line, class 0 first")
    return names


def _fraction(cell: str, what: str) -> float:
    value = _number(cell, what)
    if value < -_YOLO_SLACK or value > 1 + _YOLO_SLACK:
        raise _Bad(f"{what} {cell} is not between 0 and 1: YOLO gives fractions of the image's width and height")
    return min(1.0, max(0.0, value))


def read_yolo(label_path: str | os.PathLike[str], image_size: tuple[int, int], class_names: Sequence[str], *,
              image_name: str | None = None) -> Annotation:
    """The boxes of one YOLO label file (``class cx cy w h`` per line, fractions of the image's size) on an
    image of ``image_size`` (width, height) pixels, the classes named by ``class_names`` (index order).

    The annotation's filename is ``image_name`` (reduced to its base name), else the label file's stem (a
    YOLO label file is named after its image: ``a.txt`` labels ``a.jpg``). An empty file is an image with
    no objects. Boxes are rounded outwards to whole pixels and kept inside the image.

    AnnotationError (naming the file and line) for a line of other than five values, a class that is not a
    whole number or not an index of ``class_names``, a fraction outside 0..1, a zero width or height;
    FileNotFoundError for a file that does not exist.
    """
    source = os.fspath(label_path)
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {image_size!r}: give the image's width and height in pixels")
    try:
        text = Path(source).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(source, f"is not UTF-8 text ({exc.reason} at byte {exc.start}): "
                                      "save it with the UTF-8 encoding") from None
    boxes: list[FieldBox] = []
    for number, line in enumerate(text.splitlines(), start=1):
        cells = line.split()
        if not cells:
            continue
        try:
            if len(cells) != 5:
                raise _Bad(f"has {len(cells)} values: a YOLO line is class cx cy w h (five values; a sixth, "
                           "the confidence of a prediction, is not a label)")
            try:
                index = float(cells[0])
            except ValueError:
                raise _Bad(f"class {cells[0]!r} is not a number: give the class's index in the class list "
                           "(0 for its first line)") from None
            if not math.isfinite(index) or index != int(index) or not 0 <= index < len(class_names):
                raise _Bad(f"class {cells[0]} is not one of 0 to {len(class_names) - 1} (the lines of the class "
                           f"list: {', '.join(class_names) or 'none'}): fix the index or the class list")
            cx, cy = _fraction(cells[1], "cx"), _fraction(cells[2], "cy")
            w, h = _fraction(cells[3], "w"), _fraction(cells[4], "h")
            if w <= 0 or h <= 0:
                raise _Bad(f"w {cells[3]} and h {cells[4]} must both be more than 0: a box has a size")
        except _Bad as exc:
            raise AnnotationError(source, str(exc), number) from None
        xmin = min(width - 1, max(0, math.floor((cx - w / 2) * width + 1e-6)))
        ymin = min(height - 1, max(0, math.floor((cy - h / 2) * height + 1e-6)))
        xmax = min(width, math.ceil((cx + w / 2) * width - 1e-6))
        ymax = min(height, math.ceil((cy + h / 2) * height - 1e-6))
        boxes.append(FieldBox(class_names[int(index)], None, xmin, ymin, max(xmax, xmin + 1), max(ymax, ymin + 1),
                              line=number))
    name = _base_name(image_name) if image_name else Path(source).stem
    return Annotation(name, tuple(boxes), source)


# ---------------------------------------------------------------------------------------------
# checking and matching


def check_annotation(annotation: Annotation, *, fields: Collection[str] | None = None,
                     size: tuple[int, int] | None = None) -> None:
    """Raise AnnotationError (naming annotation.source and, for CSV, the line) for: a field not in `fields`,
    a box with xmin >= xmax or ymin >= ymax, a negative coordinate, or a box outside the page `size` (width, height).
    """
    source = annotation.source or annotation.filename
    known = None if fields is None else set(fields)
    for box in annotation.boxes:
        if known is not None and box.field not in known:
            listed = ", ".join(sorted(known)) or "none"
            message = (f"field {box.field!r} is not a field of the model (fields: {listed}): "
                       "fix the name or create the model with it")
            if box.line is None and annotation.source and _multi_document(annotation.source):
                message = f"{annotation.filename}: {message}"
            raise AnnotationError(source, message, box.line)
    where = f"{annotation.filename}: " if annotation.source and _multi_document(annotation.source) else ""
    _check_boxes(source, annotation.boxes, size, where)


def _multi_document(source: str) -> bool:
    """Whether an annotation file may hold several documents, so that messages name the document too."""
    return Path(source).suffix.lower() != ".xml"


def match_documents(folder: str | os.PathLike[str], documents: Sequence[Path]) -> dict[Path, Annotation]:
    """Read every annotation file in `folder` (not recursive; files with ANNOTATION_SUFFIXES; skip hidden files)
    and match each annotation to a document of `documents` by file name (the annotation's filename's base name
    == the document's name; for VOC also allow the same stem). AnnotationError for: an annotation naming a file
    that is not among the documents ('... names invoice_009.png, which is not in FOLDER'), two annotations for the
    same document. Documents without an annotation are simply absent from the result.

    The result follows the order of `documents`.
    """
    root = Path(folder)
    files = sorted(path for path in root.iterdir()
                   if not path.name.startswith(".") and path.suffix.lower() in ANNOTATION_SUFFIXES
                   and path.is_file())
    by_name: dict[str, list[Path]] = {}
    by_stem: dict[str, list[Path]] = {}
    for document in documents:
        by_name.setdefault(document.name, []).append(document)
        by_stem.setdefault(Path(document.name).stem, []).append(document)
    parents = {document.parent for document in documents}
    place = str(next(iter(parents))) if len(parents) == 1 else str(root)

    found: dict[Path, Annotation] = {}
    for file in files:
        for annotation in read_annotations(file):
            source = annotation.source
            candidates = by_name.get(annotation.filename, [])
            if not candidates and file.suffix.lower() == ".xml":
                candidates = by_stem.get(Path(annotation.filename).stem, [])
            if not candidates:
                raise AnnotationError(source, f"names {annotation.filename}, which is not in {place}: "
                                              "add the document, or remove its annotation")
            if len(candidates) > 1:
                names = ", ".join(str(path) for path in candidates)
                raise AnnotationError(source, f"names {annotation.filename}, which could be any of {names}: "
                                              "give the document's full file name, or keep one of them")
            document = candidates[0]
            if document in found:
                first = found[document].source
                elsewhere = "" if first == source else f" (the other is in {first})"
                raise AnnotationError(source, f"is a second annotation for {document.name}{elsewhere}: "
                                              "keep only one annotation per document")
            found[document] = annotation
    return {document: found[document] for document in documents if document in found}

