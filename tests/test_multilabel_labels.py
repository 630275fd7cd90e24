"""nanoclient.multilabel.labels: the labels of images from a CSV, a JSON or a .txt beside each image."""
from __future__ import annotations

from pathlib import Path

import pytest

from nanoclient.multilabel.labels import LabelsError, find_labels, parse_label_lines, read_labels


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "sub" / "c.jpg"]
    for path in paths:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\x89PNG")
    return paths


def test_csv_with_semicolons_empty_cells_and_spaces(tmp_path, images):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,labels\na.png, cat ; dog;cat\nb.png,\nsub/c.jpg,bird\n", encoding="utf-8")
    assert read_labels(images, labels) == {images[0]: ("cat", "dog"), images[1]: (), images[2]: ("bird",)}


def test_csv_header_in_any_order_with_a_bom_and_quoted_cells(tmp_path, images):
    labels = tmp_path / "labels.csv"
    labels.write_text('\ufeffLabels,File\n"x,y;z",a.png\nq,b.png\nr,c.jpg\n', encoding="utf-8")
    assert read_labels(images, labels) == {images[0]: ("x,y", "z"), images[1]: ("q",), images[2]: ("r",)}


def test_json_object_and_wire_list(tmp_path, images):
    as_object = tmp_path / "labels.json"
    as_object.write_text('{"a.png": ["cat"], "b.png": [], "c.jpg": ["dog", "cat"]}', encoding="utf-8")
    assert read_labels(images, as_object) == {images[0]: ("cat",), images[1]: (), images[2]: ("dog", "cat")}
    as_list = tmp_path / "wire.json"
    as_list.write_text('[{"filename": "a.png", "categories": ["cat"]}, {"filename": "b.png", "categories": []},'
                       ' {"filename": "sub/c.jpg", "categories": ["dog"]}]', encoding="utf-8")
    assert read_labels(images, as_list) == {images[0]: ("cat",), images[1]: (), images[2]: ("dog",)}


def test_txt_beside_each_image(images):
    images[0].with_suffix(".txt").write_text("cat\n\n dog \n", encoding="utf-8")
    images[1].with_suffix(".txt").write_text("", encoding="utf-8")
    images[2].with_suffix(".txt").write_text("bird", encoding="utf-8")
    assert read_labels(images) == {images[0]: ("cat", "dog"), images[1]: (), images[2]: ("bird",)}


def test_unlabelled_images_are_reported_by_find_and_refused_by_read(tmp_path, images):
    images[0].with_suffix(".txt").write_text("cat\n", encoding="utf-8")
    found = find_labels(images)
    assert found.labels == {images[0]: ("cat",)}
    assert found.unlabelled == (images[1], images[2])
    with pytest.raises(LabelsError, match=r"2 images without a \.txt.*b\.png.*c\.jpg.*one label per line"):
        read_labels(images)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,labels\na.png,cat\nghost.png,dog\n", encoding="utf-8")
    found = find_labels(images, labels)
    assert found.unused == ("ghost.png",) and found.unlabelled == (images[1], images[2])
    with pytest.raises(LabelsError, match=r"labels\.csv: says nothing about 2 images"):
        read_labels(images, labels)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("l.csv", "name,tags\na.png,cat\n", r"l\.csv, line 1: the header must name the columns file and labels"),
    ("l.csv", "file,labels\na.png,cat\nb.png,cat,dog\n", r"l\.csv, line 3: 3 cells .* separate the labels with ';'"),
    ("l.csv", "file,labels\n,cat\n", r"l\.csv, line 2: the file cell is empty"),
    ("l.csv", "file,labels\na.png,cat\na.png,dog\n", r"l\.csv, line 3: a\.png is labelled again \(first at line 2\)"),
    ("l.csv", "", r"l\.csv: empty; write the header"),
    ("l.json", '{"a.png": "cat"}', r'l\.json, entry "a\.png": the labels must be a list of strings'),
    ("l.json", '[{"file": "a.png"}]', r"l\.json, entry 1: expected \{\"filename\""),
    ("l.json", '{"a.png": [\n"cat",]}', r"l\.json, line 2: not valid JSON"),
    ("l.json", '"cat"', r"l\.json: expected an object"),
])
def test_errors_name_the_file_and_line_and_say_what_to_do(tmp_path, images, name, text, message):
    labels = tmp_path / name
    labels.write_text(text, encoding="utf-8")
    with pytest.raises(LabelsError, match=message):
        read_labels(images, labels)


def test_a_bare_name_shared_by_two_images_must_be_a_path(tmp_path):
    paths = [tmp_path / "x" / "a.png", tmp_path / "y" / "a.png"]
    for path in paths:
        path.parent.mkdir()
        path.write_bytes(b"")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,labels\na.png,cat\n", encoding="utf-8")
    with pytest.raises(LabelsError, match=r"line 2: a\.png names 2 images .* relative to"):
        read_labels(paths, labels)
    labels.write_text("file,labels\nx/a.png,cat\ny/a.png,dog\n", encoding="utf-8")
    assert read_labels(paths, labels) == {paths[0]: ("cat",), paths[1]: ("dog",)}


def test_a_missing_labels_file_is_a_labels_error(tmp_path, images):
    with pytest.raises(LabelsError, match=r"nope\.csv: no such labels file"):
        read_labels(images, tmp_path / "nope.csv")
    assert issubclass(LabelsError, ValueError)


def test_parse_label_lines():
    assert parse_label_lines("a\r\nb\n\na\n  c  ") == ("a", "b", "c")
    assert parse_label_lines("") == ()
