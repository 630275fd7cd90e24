"""nanoclient.object_detection.evaluate: AP, mAP, COCO mAP and the count error on hand-computed cases."""
from __future__ import annotations

import json

import pytest

from nanoclient.annotations import Annotation, FieldBox
from nanoclient.object_detection.evaluate import (
    average_precision,
    coco_average_precision,
    evaluate,
    iou,
    true_boxes,
)
from nanoclient.object_detection.types import DetectedObject, DetectionResult

A = (10, 10, 50, 50)
B = (100, 100, 140, 160)


def det(label: str, box: tuple[int, int, int, int], score: float | None) -> DetectedObject:
    return DetectedObject(label, *box, score)


def test_iou_of_equal_disjoint_and_half_overlapping_boxes():
    assert iou(A, A) == 1.0
    assert iou(A, B) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 10), (0, 0, 0, 10)) == 0.0


def test_all_point_ap_of_a_hit_a_false_positive_and_a_hit():
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1: the envelope is 1 then 2/3, AP = 0.5 * 1 + 0.5 * 2/3
    assert average_precision([True, False, True], 2) == pytest.approx(5 / 6)
    # COCO: the 51 recall points 0..0.5 read precision 1, the 50 points 0.51..1 read 2/3
    assert coco_average_precision([True, False, True], 2) == pytest.approx((51 + 50 * 2 / 3) / 101)
    assert average_precision([], 3) == 0.0 and coco_average_precision([], 3) == 0.0
    assert average_precision([True], 0) is None and coco_average_precision([], 0) is None
    assert average_precision([False, True], 2) == pytest.approx(0.25)  # recall 1/2 at precision 1/2


def test_a_duplicate_detection_of_one_object_is_a_false_positive():
    truths = [("car", *A), ("car", *B)]
    shifted = (12, 10, 52, 50)  # IoU 0.9 with A
    result = evaluate([("x.jpg", truths, [det("car", A, 0.9), det("car", shifted, 0.8), det("car", B, 0.7)])])
    (car,) = result.classes
    assert car.ap50 == pytest.approx(5 / 6)  # the same ranking as hit, miss, hit
    assert car.precision == pytest.approx(2 / 3) and car.recall == 1.0
    (image,) = result.images
    assert [(e.kind, e.score) for e in image.errors] == [("duplicate", 0.8)]
    assert image.count_error == 1


def test_no_predictions_gives_ap_zero_and_every_truth_missed():
    result = evaluate([("x.jpg", [("car", *A), ("clock", *B)], [])], ["car", "clock"])
    assert [c.ap50 for c in result.classes] == [0.0, 0.0]
    assert result.map50 == 0.0 and result.coco_map == 0.0
    assert [c.precision for c in result.classes] == [None, None] and [c.recall for c in result.classes] == [0, 0]
    assert [e.kind for e in result.images[0].errors] == ["missed", "missed"]
    assert result.count_error == 2


def test_a_class_without_truths_has_no_ap_and_stays_out_of_the_mean():
    images = [("a.jpg", [("car", *A)], [det("car", A, 0.9), det("bottle", B, 0.8)]),
              ("b.jpg", [], [det("bottle", A, 0.3)])]
    result = evaluate(images, ["car", "bottle"])
    car, bottle = result.classes
    assert car.ap50 == 1.0 and bottle.ap50 is None and bottle.coco_ap is None
    assert bottle.predictions == 2 and bottle.precision == 0.0 and bottle.recall is None
    assert result.map50 == 1.0
    assert [e.kind for e in result.images[0].errors] == ["background"]
    assert result.images[1].errors == ()  # 0.3 is below the threshold: not an answer
    assert result.count_error == pytest.approx((1 + 0) / 2)


def test_no_truths_at_all_and_no_images():
    empty = evaluate([])
    assert empty.classes == () and empty.map50 is None and empty.count_error is None
    only_false = evaluate([("x.jpg", [], [det("car", A, 0.9)])])
    assert only_false.map50 is None and only_false.classes[0].precision == 0.0


def test_wrong_class_and_ranking_across_images_by_score():
    images = [("a.jpg", [("car", *A)], [det("clock", A, 0.95), det("car", A, 0.4)]),
              ("b.jpg", [("car", *B)], [det("car", B, 0.9), det("car", A, 0.6)])]
    result = evaluate(images, ["car", "clock"])
    car = result.classes[0]
    # car ranked: 0.9 hit (b), 0.6 false (b), 0.4 hit (a): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    assert car.ap50 == pytest.approx(5 / 6)
    errors_a = result.images[0].errors
    assert [(e.kind, e.label) for e in errors_a] == [("wrong class", "clock"), ("missed", "car")]
    assert result.images[1].errors[0].kind == "background"


def test_coco_map_drops_with_loose_boxes_while_ap50_does_not():
    loose = (10, 10, 60, 50)  # IoU 0.8 with A: a match at 0.50 ... 0.80, not at 0.85 ... 0.95
    result = evaluate([("x.jpg", [("car", *A)], [det("car", loose, 0.9)])])
    assert result.classes[0].ap50 == 1.0
    assert result.coco_map == pytest.approx(7 / 10)


def test_scoreless_predictions_count_as_one_and_threshold_is_stated():
    result = evaluate([("x.jpg", [("car", *A)], [det("car", A, None)])], threshold=0.7)
    assert result.classes[0].ap50 == 1.0 and result.images[0].correct
    data = result.to_json()
    json.dumps(data)
    assert data["threshold"] == 0.7 and data["iou"] == 0.5 and data["images_correct"] == 1
    text = result.format_text()
    assert "mAP@0.5 1.000" in text and "threshold 0.7" in text and text.splitlines()[1].startswith("car")


def test_true_boxes_from_an_annotation_and_results_from_the_wire():
    annotation = Annotation("x.jpg", (FieldBox("car", None, 1, 2, 30, 40), FieldBox.value("note", "text")))
    assert true_boxes(annotation) == [("car", 1, 2, 30, 40)]
    entry = {"message": "Success", "input": "x.jpg",
             "prediction": [{"label": "car", "xmin": 1, "ymin": 2.4, "xmax": "30", "ymax": 40, "score": 0.75}]}
    result = DetectionResult.from_json(entry)
    assert result.input == "x.jpg" and result.objects == (DetectedObject("car", 1, 2, 30, 40, 0.75),)
    assert DetectionResult.from_json(result.to_json()) == result
    assert DetectionResult.from_json({"file": "u", "prediction": None}).objects == ()
    assert result.above(0.8) == ()
    with pytest.raises(ValueError, match="xmax"):
        DetectedObject.from_json({"label": "car", "xmin": 1, "ymin": 2, "ymax": 3})


def test_report_draws_true_and_found_boxes_over_each_image_errors_first(tmp_path):
    import io
    import re

    from PIL import Image

    from nanoclient.object_detection.report import write_report

    picture = io.BytesIO()
    Image.new("RGB", (1000, 500), (200, 210, 220)).save(picture, format="PNG")
    images = [("right.png", [("car", *A)], [det("car", A, 0.9)]),
              ("wrong.png", [("car", *A), ("clock", *B)], [det("clock", A, 0.8), det("car", B, 0.2)])]
    result = evaluate(images, ["car", "clock"])
    path = tmp_path / "out" / "report.html"
    write_report(path, result, {"right.png": picture.getvalue(), "wrong.png": picture.getvalue()},
                 model_id="m-1", title="Detection <test>", failures=[("broken.jpg", "not an image")])
    text = path.read_text(encoding="utf-8")
    assert "<title>Detection &lt;test&gt;</title>" in text and "model m-1" in text
    assert text.index("broken.jpg") < text.index("wrong.png") < text.index("right.png")  # errors first
    assert 'viewBox="0 0 1000 500"' in text and text.count("data:image/jpeg;base64,") == 2
    blocks = text.split('<div class="img ')
    wrong = next(b for b in blocks if b.startswith('wrong"><h3>wrong.png'))
    # two true boxes (dashed), one answer at the threshold (red: a clock where the car is); 0.2 is not drawn
    assert wrong.count("stroke-dasharray") == 2
    assert re.findall(r'<rect x="10" y="10" width="40" height="40" fill="none" stroke="(#[0-9a-f]+)"', wrong) == [
        "#0a0", "#d00"]
    assert "wrong class: clock score 0.80" in wrong and "missed: car" in wrong and "missed: clock" in wrong
    right = next(b for b in blocks if b.startswith('right"><h3>right.png'))
    assert 'stroke="#e68a00"' in right and "all right" in right
    assert "errors only (2)" in text and "all images (3)" in text
    assert "mAP@0.5 <b>" in text and "<td>car</td><td>2</td><td>2</td>" in text
