"""nanoclient.multilabel.evaluate, types and report: scores computed by hand, the wire's entry read."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from nanoclient.multilabel.evaluate import evaluate_multilabel, evaluate_predictions, label_scores
from nanoclient.multilabel.report import render_report, write_report
from nanoclient.multilabel.types import LabelScore, MultilabelPrediction

TRUE = {"f1": ["a", "b"], "f2": ["b"], "f3": [], "f4": ["c"]}
PREDICTED = {"f1": ["a"], "f2": ["b", "c"], "f3": [], "f4": ["a"]}


def test_scores_by_hand():
    result = evaluate_multilabel(TRUE, PREDICTED)
    assert result.labels == ("a", "b", "c")
    a, b, c = (result.per_label[label] for label in "abc")
    assert (a.precision, a.recall, a.f1, a.support, a.predicted) == (0.5, 1.0, pytest.approx(2 / 3), 1, 2)
    assert (b.precision, b.recall, b.f1, b.support, b.predicted) == (1.0, 0.5, pytest.approx(2 / 3), 2, 1)
    assert (c.precision, c.recall, c.f1, c.support, c.predicted) == (0.0, 0.0, 0.0, 1, 1)
    assert (result.micro.precision, result.micro.recall, result.micro.f1) == (0.5, 0.5, 0.5)
    assert result.macro.f1 == pytest.approx(4 / 9)
    assert (result.macro.precision, result.macro.recall) == (0.5, 0.5)
    assert result.hamming_loss == pytest.approx(4 / 12)  # f1: b, f2: c, f4: a and c wrong, of 4 x 3
    assert result.subset_accuracy == 0.25  # only f3 (nothing, rightly) is exact
    assert [m.file for m in result.mistakes] == ["f1", "f2", "f4"]
    assert (result.mistakes[2].missed, result.mistakes[2].extra) == (("c",), ("a",))


def test_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=["a", "b", "c"]).fit([])
    files = sorted(TRUE)
    y_true = binarizer.transform([TRUE[f] for f in files])
    y_pred = binarizer.transform([PREDICTED[f] for f in files])
    result = evaluate_multilabel(TRUE, PREDICTED)
    assert result.micro.f1 == pytest.approx(metrics.f1_score(y_true, y_pred, average="micro", zero_division=0))
    assert result.macro.f1 == pytest.approx(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert result.hamming_loss == pytest.approx(metrics.hamming_loss(y_true, y_pred))
    assert result.subset_accuracy == pytest.approx(metrics.accuracy_score(y_true, y_pred))


def test_a_model_label_never_seen_counts_in_the_macro_average_and_the_hamming_loss():
    result = evaluate_multilabel({"x": ["a"]}, {"x": ["a"]}, labels=["a", "z"])
    assert result.labels == ("a", "z")
    assert result.per_label["z"] == label_scores(0, 0, 0)
    assert (result.micro.f1, result.macro.f1, result.hamming_loss, result.subset_accuracy) == (1.0, 0.5, 0.0, 1.0)


def test_files_must_agree():
    with pytest.raises(ValueError, match=r"no prediction for \['f2'\]"):
        evaluate_multilabel({"f1": ["a"], "f2": []}, {"f1": ["a"]})


def test_json_and_text_forms():
    result = evaluate_multilabel(TRUE, PREDICTED, model_id="m1", skipped=[("bad.png", "not an image")])
    data = json.loads(json.dumps(result.to_json()))
    assert data["micro_f1"] == 0.5 and data["per_label"]["c"]["f1"] == 0.0 and data["model_id"] == "m1"
    assert data["mistakes"][0] == {"file": "f1", "true": ["a", "b"], "predicted": ["a"], "missed": ["b"],
                                   "extra": [], "scores": []}
    text = result.format_text()
    assert text.splitlines()[0].startswith("micro F1 0.500  macro F1 0.444  Hamming loss 0.333  subset accuracy 0.250")
    assert "(1/4 images exactly right)" in text
    assert any(line.split() == ["b", "1.000", "0.500", "0.667", "2", "1"] for line in text.splitlines())
    assert "bad.png: not an image" in text


def test_prediction_from_the_wire_entry():
    entry = {"message": "Success", "file": "a.jpg", "labels": ["cat"],
             "prediction": [{"label": "dog", "probability": 0.4}, {"label": "cat", "probability": 0.9}]}
    prediction = MultilabelPrediction.from_json(entry)
    assert prediction == MultilabelPrediction("a.jpg", ("cat",), (LabelScore("cat", 0.9), LabelScore("dog", 0.4)))
    assert MultilabelPrediction.from_json(prediction.to_json()) == prediction
    assert prediction.probability("dog") == 0.4 and prediction.probability("bird") == 0.0
    # no labels key: those at 0.5 or above
    del entry["labels"]
    entry["prediction"].append({"label": "bird", "probability": 0.5})
    assert MultilabelPrediction.from_json(entry).labels == ("cat", "bird")
    # the model gives none: an empty list is kept as it is
    assert MultilabelPrediction.from_json({**entry, "labels": []}).labels == ()


def test_evaluate_predictions_keeps_the_scores_for_the_report(tmp_path):
    image = tmp_path / "a.png"
    Image.new("RGB", (20, 20), "red").save(image)
    predictions = [MultilabelPrediction(str(image), ("dog",), (LabelScore("dog", 0.8), LabelScore("<cat>", 0.3)))]
    result = evaluate_predictions({str(image): ["<cat>"]}, predictions, labels=["<cat>", "dog"])
    assert result.mistakes[0].scores[0] == LabelScore("dog", 0.8)
    html = render_report(result, generated="2026-01-01 00:00")
    assert "&lt;cat&gt;" in html and "<cat>" not in html  # every label escaped
    assert "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")
    assert "Micro F1" in html and "Hamming loss" in html
    written = write_report(result, tmp_path / "out" / "report.html")
    assert written.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_report_without_mistakes_says_so():
    html = render_report(evaluate_multilabel({"x": ["a"]}, {"x": ["a"]}), generated="now")
    assert "No mistakes" in html
