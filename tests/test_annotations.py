"""Reading OCR training annotations: each format, each error naming its file (and line), matching documents."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from nanoclient.annotations import (
    ANNOTATION_SUFFIXES,
    Annotation,
    AnnotationError,
    FieldBox,
    check_annotation,
    match_documents,
    read_annotations,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def write_json(path: Path, value: object) -> Path:
    return write(path, json.dumps(value))


def voc(filename: str, objects: str, size: str = "") -> str:
    return f"<annotation><folder>x</folder><filename>{filename}</filename>{size}{objects}</annotation>"


def voc_object(name: str, box: tuple[object, object, object, object], text: str | None = None,
               tag: str = "ocr_text") -> str:
    xmin, ymin, xmax, ymax = box
    text_xml = "" if text is None else f"<{tag}>{text}</{tag}>"
    return (f"<object><name>{name}</name><pose>Unspecified</pose>{text_xml}<bndbox><xmin>{xmin}</xmin>"
            f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")


def raises(path: Path, match: str, line: int | None = None) -> AnnotationError:
    with pytest.raises(AnnotationError) as info:
        read_annotations(path)
    error = info.value
    assert error.path == str(path)
    assert error.line == line
    assert match in error.message, error.message
    prefix = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(error) == prefix + error.message
    return error


# --- the API's JSON ------------------------------------------------------------------------------

def test_api_json_list_of_documents(tmp_path: Path) -> None:
    path = write_json(tmp_path / "labels.json", [
        {"filename": "invoice_007.png",
         "object": [{"name": "invoice_no", "ocr_text": "INV-0042",
                     "bndbox": {"xmin": 880, "ymin": 140, "xmax": 1105, "ymax": 176}},
                    {"name": "total", "bndbox": {"xmin": "10", "ymin": " 20 ", "xmax": 30, "ymax": 40}, "page": 2,
                     "difficult": 0}]},
        {"filename": "scans/invoice_008.png"},
    ])
    first, second = read_annotations(path)
    assert first == Annotation("invoice_007.png", (
        FieldBox("invoice_no", "INV-0042", 880, 140, 1105, 176),
        FieldBox("total", None, 10, 20, 30, 40, page=2),
    ))
    assert first.source == str(path)
    assert first.fields == {"invoice_no", "total"}
    assert second == Annotation("invoice_008.png", ())


def test_api_json_as_the_wrapper_sends_it(tmp_path: Path) -> None:
    # xmljson's Parker form: a single object, numbers for text, fractional coordinates.
    path = write_json(tmp_path / "one.json", {
        "filename": "a.png",
        "object": {"name": "total", "ocr_text": 1.5, "pose": "Unspecified",
                   "bndbox": {"xmin": 10.7, "ymin": 20.2, "xmax": 30.1, "ymax": 40.9}}})
    (annotation,) = read_annotations(path)
    assert annotation.boxes == (FieldBox("total", "1.5", 10, 20, 31, 41),)


@pytest.mark.parametrize(("value", "text"), [(123, "123"), (True, "true"), (None, None), ("00123", "00123"),
                                             ("", "")])
def test_api_json_ocr_text_forms(tmp_path: Path, value: object, text: str | None) -> None:
    path = write_json(tmp_path / "a.json", {"filename": "a.png", "object": [
        {"name": "n", "ocr_text": value, "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]})
    assert read_annotations(path)[0].boxes[0].text == text


@pytest.mark.parametrize("objects", [{}, [], None, "absent"])
def test_api_json_no_objects(tmp_path: Path, objects: object) -> None:
    entry: dict[str, object] = {"filename": "a.png"}
    if objects != "absent":
        entry["object"] = objects
    path = write_json(tmp_path / "a.json", entry)
    assert read_annotations(path) == [Annotation("a.png", ())]


def test_round_trip_through_to_json(tmp_path: Path) -> None:
    path = write_json(tmp_path / "in.json", [
        {"filename": "a.png", "object": {"name": "total", "ocr_text": 12.5,
                                         "bndbox": {"xmin": 1.2, "ymin": 2, "xmax": 30, "ymax": 20.5}}},
        {"filename": "b.pdf", "object": [{"name": "date", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4},
                                          "page": 1},
                                         {"name": "date", "ocr_text": "00123",
                                          "bndbox": {"xmin": 5, "ymin": 6, "xmax": 7, "ymax": 8}}]},
    ])
    first = read_annotations(path)
    written = [annotation.to_json() for annotation in first]
    assert written[0] == {"filename": "a.png", "object": [
        {"name": "total", "ocr_text": "12.5", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 30, "ymax": 21}}]}
    assert written[1]["object"] == [
        {"name": "date", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}, "page": 1},
        {"name": "date", "ocr_text": "00123", "bndbox": {"xmin": 5, "ymin": 6, "xmax": 7, "ymax": 8}}]
    again = read_annotations(write_json(tmp_path / "out.json", written))
    assert again == first
    assert [a.source for a in again] == [str(tmp_path / "out.json")] * 2


def test_api_json_errors(tmp_path: Path) -> None:
    raises(write(tmp_path / "bad.json", '[\n{"filename": "a.png",\n}'), "is not valid JSON", line=3)
    raises(write_json(tmp_path / "nofile.json", {"object": []}), 'has no "filename"')
    raises(write_json(tmp_path / "nofile2.json", [{"filename": "a.png"}, {"object": []}]),
           'entry 1: has no "filename"')
    raises(write_json(tmp_path / "scalar.json", 3), "is neither an annotation")
    raises(write_json(tmp_path / "noname.json", {"filename": "a.png", "object": [
        {"bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]}), "a.png: object 0: field name null")
    raises(write_json(tmp_path / "nobox.json", [{"filename": "x.png"}, {"filename": "a.png", "object": [
        {"name": "total"}]}]), "entry 1 (a.png): object 0: field 'total' has no \"bndbox\"")
    raises(write_json(tmp_path / "nokey.json", {"filename": "a.png", "object": [
        {"name": "total", "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1}}]}), '"bndbox" has no "ymax"')
    raises(write_json(tmp_path / "nan.json", {"filename": "a.png", "object": [
        {"name": "total", "bndbox": {"xmin": "abc", "ymin": 0, "xmax": 1, "ymax": 1}}]}),
        "field 'total': xmin 'abc' is not a number")
    raises(write_json(tmp_path / "bool.json", {"filename": "a.png", "object": [
        {"name": "total", "bndbox": {"xmin": True, "ymin": 0, "xmax": 1, "ymax": 1}}]}), "xmin true is not a number")
    raises(write_json(tmp_path / "inverted.json", {"filename": "a.png", "object": [
        {"name": "total", "bndbox": {"xmin": 9, "ymin": 0, "xmax": 8, "ymax": 1}}]}),
        "a.png: field 'total': xmin 9 is not less than xmax 8: the box's left edge must be left of its right edge")
    raises(write_json(tmp_path / "page.json", {"filename": "a.png", "object": [
        {"name": "total", "page": -1, "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]}),
        "page -1 is not a whole number from 0")
    raises(write_json(tmp_path / "text.json", {"filename": "a.png", "object": [
        {"name": "total", "ocr_text": ["x"], "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]}),
        'ocr_text is ["x"]')
    raises(write_json(tmp_path / "objects.json", {"filename": "a.png", "object": "total"}), '"object" is "total"')


# --- COCO ----------------------------------------------------------------------------------------

COCO: dict[str, object] = {
    "images": [{"id": 1, "file_name": "images/a.png", "width": 100, "height": 50},
               {"id": 2, "file_name": "b.png", "width": 100, "height": 50},
               {"id": 3, "file_name": "c.png"}],
    "categories": [{"id": 7, "name": "total"}, {"id": 8, "name": "date"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [10.5, 20, 30, 10.25], "text": "12.50"},
        {"id": 2, "image_id": 1, "category_id": 8, "bbox": [0, 0, 5, 5], "attributes": {"text": "00123"}},
        {"id": 3, "image_id": 3, "category_id": 8, "bbox": [1, 2, 3, 4], "ocr_text": 42},
    ],
}


def test_coco(tmp_path: Path) -> None:
    path = write_json(tmp_path / "coco.json", COCO)
    assert read_annotations(path) == [
        Annotation("a.png", (FieldBox("total", "12.50", 10, 20, 41, 31), FieldBox("date", "00123", 0, 0, 5, 5))),
        Annotation("b.png", ()),
        Annotation("c.png", (FieldBox("date", "42", 1, 2, 4, 6),)),
    ]


def coco_with(**changes: object) -> dict[str, object]:
    document = json.loads(json.dumps(COCO))
    assert isinstance(document, dict)
    document.update(changes)
    return document


def test_coco_errors(tmp_path: Path) -> None:
    annotations = json.loads(json.dumps(COCO["annotations"]))
    annotations[2]["category_id"] = 9
    raises(write_json(tmp_path / "cat.json", coco_with(annotations=annotations)),
           "annotations[2] names category_id 9, which is not among the categories (ids: 7, 8)")
    annotations[2]["category_id"] = 8
    annotations[1]["image_id"] = 5
    raises(write_json(tmp_path / "img.json", coco_with(annotations=annotations)),
           "annotations[1] names image_id 5, which is not among the images")
    annotations[1]["image_id"] = 1
    annotations[0]["bbox"] = [90, 0, 20, 5]
    raises(write_json(tmp_path / "outside.json", coco_with(annotations=annotations)),
           "annotations[0] (a.png, field 'total'): xmax 110 is beyond the page's width 100")
    annotations[0]["bbox"] = [0, 0, 0, 5]
    raises(write_json(tmp_path / "flat.json", coco_with(annotations=annotations)),
           "annotations[0] (a.png, field 'total'): bbox width 0 and height 5 must both be more than 0")
    annotations[0]["bbox"] = [0, 0, 5]
    raises(write_json(tmp_path / "short.json", coco_with(annotations=annotations)),
           "bbox is [0, 0, 5]: give [x, y, width, height]")
    document = coco_with()
    del document["categories"]
    raises(write_json(tmp_path / "nocat.json", document), 'has no "categories": a COCO file needs')
    raises(write_json(tmp_path / "dup.json", coco_with(images=[{"id": 1, "file_name": "a.png"},
                                                               {"id": 1, "file_name": "b.png"}])),
           "images[1]: image id 1 is used twice")
    raises(write_json(tmp_path / "noname.json", coco_with(images=[{"id": 1}])), 'images[0] has no "file_name"')


# --- Pascal VOC ----------------------------------------------------------------------------------

def test_voc(tmp_path: Path) -> None:
    path = write(tmp_path / "invoice_1.xml", voc(
        "invoice_1.png",
        voc_object("invoice_number", (1, 2, 30, 20), "00123")
        + voc_object("total", ("10.5", 2, "30.2", 20), " 1,250.00 ", tag="text")
        + voc_object("date", (5, 6, 7, 8)),
        size="<size><width>100</width><height>50</height><depth>3</depth></size>"))
    (annotation,) = read_annotations(path)
    assert annotation == Annotation("invoice_1.png", (
        FieldBox("invoice_number", "00123", 1, 2, 30, 20),
        FieldBox("total", " 1,250.00 ", 10, 2, 31, 20),
        FieldBox("date", None, 5, 6, 7, 8),
    ))
    assert annotation.source == str(path)


def test_voc_without_filename_uses_path(tmp_path: Path) -> None:
    path = write(tmp_path / "a.xml", "<annotation><path>C:\\scans\\a.png</path></annotation>")
    assert read_annotations(path) == [Annotation("a.png", ())]


def test_voc_zero_size_means_unknown(tmp_path: Path) -> None:
    path = write(tmp_path / "a.xml", voc("a.png", voc_object("t", (1, 2, 300, 400)),
                                         size="<size><width>0</width><height>0</height></size>"))
    assert read_annotations(path)[0].boxes == (FieldBox("t", None, 1, 2, 300, 400),)


def test_voc_errors(tmp_path: Path) -> None:
    size = "<size><width>100</width><height>50</height></size>"
    raises(write(tmp_path / "outside.xml", voc("a.png", voc_object("t", (1, 2, 3, 4)) + voc_object("total",
                                                                                                   (1, 2, 30, 60)),
                                               size)),
           "<object> 1 (field 'total'): ymax 60 is beyond the page's height 50")
    raises(write(tmp_path / "neg.xml", voc("a.png", voc_object("total", (-1, 2, 30, 40)))),
           "xmin -1 is negative")
    raises(write(tmp_path / "nofile.xml", voc("", "")), "has no <filename>")
    raises(write(tmp_path / "root.xml", "<annotations/>"), "has <annotations> at its root")
    raises(write(tmp_path / "broken.xml", "<annotation>\n<filename>a.png</filename>\n<object>\n</annotation>"),
           "is not well-formed XML", line=4)
    raises(write(tmp_path / "nobox.xml", voc("a.png", "<object><name>total</name></object>")),
           "<object> 0: field 'total' has no <bndbox>")
    raises(write(tmp_path / "nocoord.xml", voc("a.png", voc_object("total", (1, 2, "", 4)))),
           "<bndbox> has no <xmax>")
    raises(write(tmp_path / "badcoord.xml", voc("a.png", voc_object("total", (1, "two", 3, 4)))),
           "field 'total': ymin 'two' is not a number")
    raises(write(tmp_path / "size.xml", voc("a.png", "", "<size><width>wide</width><height>5</height></size>")),
           "<size> width 'wide' is not a number")
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE annotation [<!ENTITY a "aaaaaaaa">]>\n'
            "<annotation><filename>&a;</filename></annotation>")
    raises(write(tmp_path / "entity.xml", bomb), "declares a DOCTYPE or an ENTITY")
    # In UTF-16 the byte check cannot see the declaration: the parser refuses it.
    (tmp_path / "entity16.xml").write_bytes(bomb.replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16"))
    raises(tmp_path / "entity16.xml", "declares a DOCTYPE or an ENTITY")


# --- CSV -----------------------------------------------------------------------------------------

def test_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.csv",
                 "file,field,text,xmin,ymin,xmax,ymax,page\n"
                 'a.png,total,"1,250.00",10,20,30,40,\n'
                 "b.pdf,date,00123,1,2,3,4,2\n"
                 "\n"
                 'a.png,note,"two\nlines",1.5,2,3.5,4,0\n'
                 "a.png,empty,,1,2,3,4,\n")
    assert read_annotations(path) == [
        Annotation("a.png", (FieldBox("total", "1,250.00", 10, 20, 30, 40),
                             FieldBox("note", "two\nlines", 1, 2, 4, 4),
                             FieldBox("empty", None, 1, 2, 3, 4))),
        Annotation("b.pdf", (FieldBox("date", "00123", 1, 2, 3, 4, page=2),)),
    ]
    lines = [box.line for annotation in read_annotations(path) for box in annotation.boxes]
    assert lines == [2, 5, 7, 3]


def test_csv_header_by_name_with_bom_and_no_page(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeffFile, Field ,xmin,ymin,xmax,ymax,text\r\na.png,total,1,2,3,4,x\r\n".encode())
    assert read_annotations(path) == [Annotation("a.png", (FieldBox("total", "x", 1, 2, 3, 4),))]


CSV_HEADER = "file,field,text,xmin,ymin,xmax,ymax\n"


@pytest.mark.parametrize(("rows", "line", "message"), [
    ("a.png,total,x,1,2,3,4\n" * 5 + "a.png,total,x,900,2,850,4\n", 7,
     "xmin 900 is not less than xmax 850: the box's left edge must be left of its right edge"),
    ("a.png,total,x,1,4,3,4\n", 2, "ymin 4 is not less than ymax 4: the box's top edge"),
    ("a.png,total,x,1,2,3,4\na.png,total,x,1,2,three,4\n", 3, "xmax 'three' is not a number"),
    ("a.png,total,x,1,2,3\n", 2, "has no ymax column (only 6 of 7)"),
    ("a.png,,x,1,2,3,4\n", 2, "the field is empty"),
    (",total,x,1,2,3,4\n", 2, "the file is empty"),
    ("a.png,total,1,250.00,1,2,3,4\n", 2, "has 8 columns, the header 7: quote text that contains commas"),
    ('"a.png,total,x,1,2,3,4\nb.png,total,x,1,2,3,4\n', 2,
     "has no field column (only 1 of 7), and a quote is left open"),
])
def test_csv_errors_name_the_line(tmp_path: Path, rows: str, line: int, message: str) -> None:
    raises(write(tmp_path / "labels.csv", CSV_HEADER + rows), message, line=line)


def test_csv_header_errors(tmp_path: Path) -> None:
    raises(write(tmp_path / "empty.csv", ""), "is empty: give the header")
    raises(write(tmp_path / "nofield.csv", "file,text,xmin,ymin,xmax,ymax\n"), "has no field column", line=1)
    raises(write(tmp_path / "typo.csv", "file,field,txt,xmin,ymin,xmax,ymax\n"),
           "column 'txt' is not one of", line=1)
    raises(write(tmp_path / "twice.csv", "file,field,field,xmin,ymin,xmax,ymax\n"), "'field' twice", line=1)
    (tmp_path / "latin.csv").write_bytes(CSV_HEADER.encode() + "a.png,total,caf\xe9,1,2,3,4\n".encode("latin-1"))
    raises(tmp_path / "latin.csv", "is not UTF-8 text")


# --- values without boxes ------------------------------------------------------------------------

def test_json_values_without_boxes(tmp_path: Path) -> None:
    path = write_json(tmp_path / "values.json", [{"filename": "a.png", "object": [
        {"name": "total", "ocr_text": "4904.94"},
        {"name": "number", "ocr_text": 20413, "page": 1},
        {"name": "date", "ocr_text": "2014-05-07", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}]}])
    [annotation] = read_annotations(path)
    total, number, date = annotation.boxes
    assert total == FieldBox.value("total", "4904.94") and not total.has_box
    assert number == FieldBox.value("number", "20413", page=1) and not number.has_box
    assert date.has_box
    assert annotation.to_json()["object"] == [
        {"name": "total", "ocr_text": "4904.94"}, {"name": "number", "ocr_text": "20413", "page": 1},
        {"name": "date", "ocr_text": "2014-05-07", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}]
    write_json(tmp_path / "again.json", [annotation.to_json()])
    assert read_annotations(tmp_path / "again.json") == [annotation]
    check_annotation(annotation, fields={"total", "number", "date"}, size=(10, 10))  # no box to be outside


def test_json_value_without_box_needs_a_text(tmp_path: Path) -> None:
    for text in (None, "", "  "):
        raises(write_json(tmp_path / "none.json", {"filename": "a.png", "object": [
            {"name": "total", "ocr_text": text}]}), 'field \'total\' has no "bndbox": give {"xmin", "ymin", '
            '"xmax", "ymax"} in pixels, or its value as "ocr_text"')
    raises(write_json(tmp_path / "page.json", {"filename": "a.png", "object": [
        {"name": "total", "ocr_text": "12", "page": -2}]}), "field 'total': page -2 is not a whole number from 0")


def test_csv_values_without_boxes(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.csv",
                 "file,field,text,xmin,ymin,xmax,ymax,page\n"
                 'a.png,total,"4.904,94",,,,,\n'
                 "a.png,date,7. Mai 2014,1,2,3,4,\n"
                 "b.pdf,total,12.50, , , , ,1\n")
    assert read_annotations(path) == [
        Annotation("a.png", (FieldBox.value("total", "4.904,94"), FieldBox("date", "7. Mai 2014", 1, 2, 3, 4))),
        Annotation("b.pdf", (FieldBox.value("total", "12.50", page=1),)),
    ]
    assert [box.line for a in read_annotations(path) for box in a.boxes] == [2, 3, 4]
    # a header without box columns: every row a value
    only = write(tmp_path / "values.csv", "file,field,text\na.png,total,12.50\na.png,number,INV-1\n")
    assert read_annotations(only) == [
        Annotation("a.png", (FieldBox.value("total", "12.50"), FieldBox.value("number", "INV-1")))]


@pytest.mark.parametrize(("rows", "message"), [
    ("a.png,total,,,,,\n", "has neither a box nor a text: give xmin, ymin, xmax and ymax, or the value's text"),
    ("a.png,total,12,1,2,,\n", "has no xmax, ymax: give all of xmin, ymin, xmax and ymax, or none"),
])
def test_csv_value_rows_errors(tmp_path: Path, rows: str, message: str) -> None:
    raises(write(tmp_path / "labels.csv", CSV_HEADER + rows), message, line=2)
    # without a text column, boxes are needed
    raises(write(tmp_path / "notext.csv", "file,field\na.png,total\n"), "has no xmin, ymin, xmax, ymax column",
           line=1)


# --- any format ----------------------------------------------------------------------------------

def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    assert ANNOTATION_SUFFIXES == {".json", ".xml", ".csv"}
    raises(write(tmp_path / "labels.txt", ""), "is not an annotation file")
    with pytest.raises(FileNotFoundError):
        read_annotations(tmp_path / "absent.json")


def test_suffix_in_capitals(tmp_path: Path) -> None:
    path = write(tmp_path / "A.XML", voc("a.png", ""))
    assert read_annotations(path) == [Annotation("a.png", ())]


def test_error_text_and_pickling() -> None:
    error = AnnotationError("labels.csv", "bad", 7)
    assert (str(error), error.path, error.line, error.message) == ("labels.csv:7: bad", "labels.csv", 7, "bad")
    assert str(AnnotationError("a.xml", "bad")) == "a.xml: bad"
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.line) == (str(error), 7)


def test_to_json_omits_text_and_first_page() -> None:
    assert FieldBox("total", None, 1, 2, 3, 4).to_json() == {
        "name": "total", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}}
    assert FieldBox("total", "", 1, 2, 3, 4, page=3).to_json() == {
        "name": "total", "ocr_text": "", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}, "page": 3}


# --- check_annotation ----------------------------------------------------------------------------

def test_check_annotation_fields_and_size(tmp_path: Path) -> None:
    path = write(tmp_path / "invoice_3.xml", voc("invoice_3.png", voc_object("total", (1, 2, 30, 40))
                                                 + voc_object("totl", (1, 2, 30, 40))))
    (annotation,) = read_annotations(path)
    check_annotation(annotation)
    check_annotation(annotation, fields=["total", "totl"], size=(30, 40))
    with pytest.raises(AnnotationError) as info:
        check_annotation(annotation, fields=("total", "invoice_number"))
    assert str(info.value) == (f"{path}: field 'totl' is not a field of the model (fields: invoice_number, total): "
                               "fix the name or create the model with it")
    with pytest.raises(AnnotationError, match="xmax 30 is beyond the page's width 29"):
        check_annotation(annotation, size=(29, 40))
    with pytest.raises(AnnotationError, match="ymax 40 is beyond the page's height 39"):
        check_annotation(annotation, size=(30, 39))


def test_check_annotation_names_the_csv_line(tmp_path: Path) -> None:
    path = write(tmp_path / "labels.csv", CSV_HEADER + "a.png,total,x,1,2,3,4\nb.png,x,,1,2,3,4\n"
                                                      "a.png,totl,x,1,2,30,4\n")
    first, _ = read_annotations(path)
    with pytest.raises(AnnotationError) as info:
        check_annotation(first, fields={"total"})
    assert (info.value.path, info.value.line) == (str(path), 4)
    assert str(info.value).startswith(f"{path}:4: field 'totl' is not a field of the model (fields: total)")
    with pytest.raises(AnnotationError) as info:
        check_annotation(first, size=(20, 20))
    assert str(info.value) == (f"{path}:4: xmax 30 is beyond the page's width 20: "
                               "fix the box, or check that the annotation is for this document")


def test_check_annotation_names_the_document_of_a_json_list(tmp_path: Path) -> None:
    path = write_json(tmp_path / "labels.json", [{"filename": "a.png"}, {"filename": "b.png", "object": [
        {"name": "totl", "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]}])
    _, second = read_annotations(path)
    with pytest.raises(AnnotationError) as info:
        check_annotation(second, fields=["total"])
    assert str(info.value).startswith(f"{path}: b.png: field 'totl' is not a field of the model (fields: total)")


@pytest.mark.parametrize(("box", "message"), [
    (FieldBox("total", None, 5, 1, 5, 2), "field 'total': xmin 5 is not less than xmax 5"),
    (FieldBox("total", None, 1, 3, 5, 2), "field 'total': ymin 3 is not less than ymax 2"),
    (FieldBox("total", None, 1, -2, 5, 2), "field 'total': ymin -2 is negative"),
])
def test_check_annotation_geometry(box: FieldBox, message: str) -> None:
    annotation = Annotation("a.png", (FieldBox("date", None, 0, 0, 1, 1), box), source="labels.json")
    with pytest.raises(AnnotationError) as info:
        check_annotation(annotation)
    assert str(info.value).startswith(f"labels.json: a.png: {message}")
    assert info.value.line is None
    # Without a source the message names the document.
    with pytest.raises(AnnotationError, match=r"^a\.png: "):
        check_annotation(Annotation("a.png", (box,)))


# --- match_documents -----------------------------------------------------------------------------

def documents(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(b"")
    return paths


def test_match_documents(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs", "a.png", "b.png", "c.jpg", "d.png", "e.pdf")
    labels = tmp_path / "labels"
    labels.mkdir()
    write_json(labels / "api.json", [{"filename": "a.png", "object": [
        {"name": "total", "bndbox": {"xmin": 0, "ymin": 0, "xmax": 1, "ymax": 1}}]}])
    write(labels / "b.xml", voc("b.png", ""))
    write(labels / "c.xml", voc("c.png", voc_object("date", (1, 2, 3, 4))))  # same stem, another suffix
    write(labels / "rows.csv", CSV_HEADER + "e.pdf,total,x,1,2,3,4\n")
    write(labels / ".hidden.json", "not json")
    write(labels / "notes.txt", "not an annotation")
    (labels / "sub").mkdir()
    write_json(labels / "sub" / "x.json", {"filename": "zzz.png"})
    found = match_documents(labels, docs)
    assert list(found) == [docs[0], docs[1], docs[2], docs[4]]
    assert found[docs[0]].fields == {"total"}
    assert found[docs[1]].source == str(labels / "b.xml")
    assert found[docs[2]].boxes == (FieldBox("date", None, 1, 2, 3, 4),)
    assert found[docs[4]].filename == "e.pdf"


def test_match_stem_only_for_voc(tmp_path: Path) -> None:
    docs = documents(tmp_path, "a.jpg")
    labels = tmp_path / "labels"
    labels.mkdir()
    write_json(labels / "a.json", {"filename": "a.png"})
    with pytest.raises(AnnotationError) as info:
        match_documents(labels, docs)
    assert str(info.value) == (f"{labels / 'a.json'}: names a.png, which is not in {tmp_path}: "
                               "add the document, or remove its annotation")


def test_match_missing_document(tmp_path: Path) -> None:
    docs = documents(tmp_path / "docs", "invoice_001.png")
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels / "labels.csv", CSV_HEADER + "invoice_001.png,t,,1,2,3,4\ninvoice_009.png,t,,1,2,3,4\n")
    with pytest.raises(AnnotationError) as info:
        match_documents(labels, docs)
    assert info.value.path == str(labels / "labels.csv")
    assert f"names invoice_009.png, which is not in {tmp_path / 'docs'}" in str(info.value)


def test_match_duplicate(tmp_path: Path) -> None:
    docs = documents(tmp_path, "a.png")
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels / "a.xml", voc("a.png", ""))
    write_json(labels / "b.json", {"filename": "a.png"})
    with pytest.raises(AnnotationError) as info:
        match_documents(labels, docs)
    assert str(info.value) == (f"{labels / 'b.json'}: is a second annotation for a.png (the other is in "
                               f"{labels / 'a.xml'}): keep only one annotation per document")
    (labels / "a.xml").unlink()
    write_json(labels / "b.json", [{"filename": "a.png"}, {"filename": "a.png"}])
    with pytest.raises(AnnotationError, match=r"is a second annotation for a\.png: keep only one"):
        match_documents(labels, docs)


def test_match_ambiguous_stem(tmp_path: Path) -> None:
    docs = documents(tmp_path, "a.png", "a.jpg")
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels / "a.xml", voc("a", ""))
    with pytest.raises(AnnotationError, match="names a, which could be any of"):
        match_documents(labels, docs)
    write(labels / "a.xml", voc("a.jpg", ""))
    assert list(match_documents(labels, docs)) == [docs[1]]


def test_match_read_error_propagates(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    write(labels / "bad.csv", CSV_HEADER + "a.png,total,x,1,2,3\n")
    with pytest.raises(AnnotationError) as info:
        match_documents(labels, documents(tmp_path, "a.png"))
    assert (info.value.path, info.value.line) == (str(labels / "bad.csv"), 2)
