"""nanoclient.annotations' YOLO reader: label files (class cx cy w h, fractions) and their class lists."""
from __future__ import annotations

import pytest

from nanoclient.annotations import (
    AnnotationError,
    FieldBox,
    find_yolo_classes,
    read_annotations,
    read_yolo,
    read_yolo_classes,
)

NAMES = ["car", "bottle", "clock"]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_boxes_in_pixels_rounded_outwards_with_the_class_names(tmp_path):
    label = write(tmp_path / "scene_001.txt", "0 0.5 0.5 0.25 0.5\n\n2 0.1 0.2 0.1 0.1\n1 0.333 0.5 0.1 0.3\n")
    annotation = read_yolo(label, (200, 100), NAMES)
    assert annotation.filename == "scene_001" and annotation.source == str(label)
    assert annotation.boxes == (
        FieldBox("car", None, 75, 25, 125, 75),        # centre (100, 50), 50 x 50
        FieldBox("clock", None, 10, 15, 30, 25),       # centre (20, 20), 20 x 10
        FieldBox("bottle", None, 56, 35, 77, 65),      # x 56.6 .. 76.6 rounded outwards
    )
    assert [box.line for box in annotation.boxes] == [1, 3, 4]
    assert annotation.to_json()["object"][0] == {"name": "car", "bndbox": {"xmin": 75, "ymin": 25, "xmax": 125,
                                                                           "ymax": 75}}
    named = read_yolo(label, (200, 100), NAMES, image_name="photos/scene_001.jpg")
    assert named.filename == "scene_001.jpg" and named == annotation.__class__("scene_001.jpg", annotation.boxes)


def test_an_empty_file_is_an_image_without_objects_and_rounding_slack_is_clamped(tmp_path):
    assert read_yolo(write(tmp_path / "a.txt", ""), (64, 48), NAMES).boxes == ()
    edge = read_yolo(write(tmp_path / "b.txt", "1 0.5 0.5 1.0004 1.0\n"), (64, 48), NAMES)
    assert edge.boxes == (FieldBox("bottle", None, 0, 0, 64, 48),)


@pytest.mark.parametrize(("line", "message"), [
    ("0 0.5 0.5 0.2", "has 4 values"),
    ("0 0.5 0.5 0.2 0.2 0.93", "a sixth, the confidence"),
    ("3 0.5 0.5 0.2 0.2", "class 3 is not one of 0 to 2"),
    ("1.5 0.5 0.5 0.2 0.2", "class 1.5 is not one of"),
    ("car 0.5 0.5 0.2 0.2", "class .car. is not a number: give the class.s index"),
    ("0 1.2 0.5 0.2 0.2", "cx 1.2 is not between 0 and 1"),
    ("0 0.5 0.5 0 0.2", "must both be more than 0"),
])
def test_a_bad_line_is_named_with_what_to_do(tmp_path, line, message):
    label = write(tmp_path / "x.txt", "0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(AnnotationError, match=message) as caught:
        read_yolo(label, (100, 100), NAMES)
    assert caught.value.line == 2 and str(caught.value).startswith(f"{label}:2: ")


def test_class_lists_and_where_they_are_found(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    assert find_yolo_classes(labels) is None
    names = write(tmp_path / "obj.names", "\ufeffcar\nbottle\n\nclock  \n")
    assert find_yolo_classes(labels) == names
    assert read_yolo_classes(names) == NAMES
    own = write(labels / "classes.txt", "person\n")
    assert find_yolo_classes(labels) == own
    with pytest.raises(AnnotationError, match="names class 'car' twice"):
        read_yolo_classes(write(tmp_path / "twice.txt", "car\nbus\ncar\n"))
    with pytest.raises(AnnotationError, match="names no class"):
        read_yolo_classes(write(tmp_path / "empty.txt", "\n \n"))
    with pytest.raises(FileNotFoundError):
        read_yolo(tmp_path / "missing.txt", (10, 10), NAMES)
    with pytest.raises(ValueError, match="image size"):
        read_yolo(write(tmp_path / "z.txt", ""), (0, 10), NAMES)


def test_read_annotations_still_refuses_txt(tmp_path):
    """A .txt is YOLO's only through read_yolo (it needs the image's size), never by its suffix."""
    with pytest.raises(AnnotationError, match="is not an annotation file"):
        read_annotations(write(tmp_path / "a.txt", "0 0.5 0.5 0.1 0.1\n"))
