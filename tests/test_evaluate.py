"""Evaluation metrics: numbers checked by hand, the SDK call run_evaluation makes, the text table."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers import write_image

from nanoclient import errors
from nanoclient.image_categorization.evaluate import (
    EvaluationResult,
    confusion_matrix,
    evaluate_images,
    evaluate_labels,
    evaluate_predictions,
    find_test_images,
    format_text,
    run_evaluation,
)
from nanoclient.images import check_image_file
from nanoclient.types import FileError, Prediction

# 10 items, 3 true labels (A, B, C). C is never predicted; D is predicted but never true.
TRUE = ["A", "A", "A", "A", "B", "B", "B", "C", "C", "C"]
PRED = ["A", "A", "B", "D", "B", "B", "A", "A", "B", "D"]


def test_hand_computed_case():
    files = [f"img{i}.png" for i in range(10)]
    probs = [0.9, 0.8, 0.7, 0.6, 0.95, 0.85, 0.55, 0.65, 0.75, 0.45]
    result = evaluate_labels(TRUE, PRED, files=files, probabilities=probs)

    assert result.n == 10
    assert result.accuracy == pytest.approx(0.4)  # 2 A + 2 B right
    assert result.correct == 4
    assert result.labels == ["A", "B", "C", "D"]
    assert result.matrix == [
        [2, 1, 0, 1],  # true A
        [1, 2, 0, 0],  # true B
        [1, 1, 0, 1],  # true C
        [0, 0, 0, 0],  # true D (never)
    ]
    a, b, c, d = (result.per_class[k] for k in "ABCD")
    # A: predicted 4 times, 2 right; 4 true A.
    assert (a.precision, a.recall, a.f1, a.support) == pytest.approx((0.5, 0.5, 0.5, 4))
    # B: predicted 4 times, 2 right; 3 true B; F1 = 2*(1/2)(2/3)/(1/2+2/3) = 4/7.
    assert (b.precision, b.recall, b.f1, b.support) == pytest.approx((0.5, 2 / 3, 4 / 7, 3))
    # C: never predicted -> precision 0.0 (zero_division=0), recall 0/3.
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 3)
    # D: predicted twice, never right, never true.
    assert (d.precision, d.recall, d.f1, d.support) == (0.0, 0.0, 0.0, 0)

    macro = result.macro
    assert macro.precision == pytest.approx(0.25)
    assert macro.recall == pytest.approx((0.5 + 2 / 3) / 4)
    assert macro.f1 == pytest.approx((0.5 + 4 / 7) / 4)
    weighted = result.weighted
    assert weighted.recall == pytest.approx(0.4)  # weighted recall is accuracy
    assert weighted.precision == pytest.approx((4 * 0.5 + 3 * 0.5) / 10)

    assert [(m.file, m.label, m.predicted) for m in result.mistakes] == [
        ("img2.png", "A", "B"),
        ("img3.png", "A", "D"),
        ("img6.png", "B", "A"),
        ("img7.png", "C", "A"),
        ("img8.png", "C", "B"),
        ("img9.png", "C", "D"),
    ]
    assert [m.probability for m in result.mistakes] == [0.7, 0.6, 0.55, 0.65, 0.75, 0.45]


def test_json_has_the_documented_shape():
    result = evaluate_labels(TRUE, PRED, files=[f"f{i}" for i in range(10)], probabilities=[0.5] * 10)
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) >= {"accuracy", "n", "per_class", "confusion", "mistakes"}
    assert data["accuracy"] == pytest.approx(0.4) and data["n"] == 10
    assert data["per_class"]["B"] == {"precision": 0.5, "recall": pytest.approx(2 / 3), "f1": pytest.approx(4 / 7),
                                      "support": 3}
    assert data["confusion"] == {"labels": ["A", "B", "C", "D"], "matrix": result.matrix}
    assert data["mistakes"][0] == {"file": "f2", "label": "A", "predicted": "B", "probability": 0.5}
    assert len(data["mistakes"]) == 6
    assert data["macro"]["precision"] == pytest.approx(0.25)


def test_agrees_with_scikit_learn_on_random_labels():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = random.Random(7)
    true = [rng.choice("abcd") for _ in range(200)]
    pred = [t if rng.random() < 0.6 else rng.choice("abcde") for t in true]
    result = evaluate_labels(true, pred)
    labels = result.labels
    assert result.accuracy == pytest.approx(metrics.accuracy_score(true, pred))
    assert result.matrix == metrics.confusion_matrix(true, pred, labels=labels).tolist()
    p, r, f, s = metrics.precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        got = result.per_class[label]
        assert (got.precision, got.recall, got.f1, got.support) == pytest.approx((p[i], r[i], f[i], s[i]))
    mp, mr, mf, _ = metrics.precision_recall_fscore_support(true, pred, average="macro", zero_division=0)
    assert (result.macro.precision, result.macro.recall, result.macro.f1) == pytest.approx((mp, mr, mf))


def test_perfect_and_empty_and_mismatched():
    perfect = evaluate_labels(["x", "y", "y"], ["x", "y", "y"])
    assert perfect.accuracy == 1.0 and perfect.mistakes == []
    assert all(s.f1 == 1.0 for s in perfect.per_class.values())
    empty = evaluate_labels([], [])
    assert (empty.n, empty.accuracy, empty.labels, empty.matrix) == (0, 0.0, [], [])
    with pytest.raises(ValueError):
        evaluate_labels(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        confusion_matrix(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        evaluate_predictions([(Path("a.png"), "a")], [])


class FakeClient:
    """Answers predict_iter as the SDK does (a FileError for a file that is not an image, then a
    Prediction named by the path given) from a file-name -> label table, recording every call."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.calls: list[tuple] = []

    def predict_iter(self, model_id, paths, *, batch_size=20, workers=4):
        paths = list(paths)
        self.calls.append((model_id, paths, batch_size, workers))
        for p in reversed(paths):  # not in input order: the SDK promises none either
            try:
                check_image_file(p)
            except errors.InvalidImageError as exc:
                yield FileError(str(p), exc)
                continue
            label = self.answers[Path(p).name]
            other = "cat" if label != "cat" else "dog"
            yield Prediction(file=str(p), label=label, probability=0.8, scores=[(label, 0.8), (other, 0.2)])


def test_run_evaluation_predicts_all_images_in_one_call_and_keeps_order(tmp_path):
    root = tmp_path / "data"
    write_image(root / "train" / "cat" / "ignored.png", (1, 2, 3))  # the train split is not evaluated
    files = [
        write_image(root / "test" / "cat" / "c1.png", (200, 0, 0)),
        write_image(root / "test" / "cat" / "c2.png", (210, 0, 0)),
        write_image(root / "test" / "dog" / "d1.png", (0, 200, 0)),
        write_image(root / "test" / "dog" / "d2.png", (0, 210, 0)),
        write_image(root / "test" / "dog" / "d3.png", (0, 220, 0)),
    ]
    (root / "test" / "dog" / "notes.txt").write_text("not an image")
    (root / "test" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")  # skipped, not sent
    client = FakeClient({"c1.png": "cat", "c2.png": "dog", "d1.png": "dog", "d2.png": "cat", "d3.png": "dog"})
    ticks: list[int] = []

    result = run_evaluation(client, "model-1", root, progress=ticks.append, batch_size=7, workers=3)

    assert len(client.calls) == 1
    model_id, paths, batch_size, workers = client.calls[0]
    assert (model_id, batch_size, workers) == ("model-1", 7, 3)
    assert sorted(Path(p) for p in paths) == sorted([*files, root / "test" / "dog" / "broken.png"])  # once each
    assert ticks == [1] * 6
    assert isinstance(result, EvaluationResult)
    assert result.model_id == "model-1"
    assert result.n == 5 and result.accuracy == pytest.approx(3 / 5)
    assert result.matrix == [[1, 1], [1, 2]]
    assert [(Path(m.file).name, m.label, m.predicted) for m in result.mistakes] == [("c2.png", "cat", "dog"),
                                                                                   ("d2.png", "dog", "cat")]
    assert result.mistakes[0].file == str(files[1])  # the local path, not only the base name
    assert result.mistakes[0].scores == [("dog", 0.8), ("cat", 0.2)]
    assert sorted(Path(f).name for f, _ in result.skipped) == ["broken.png", "notes.txt"]
    assert [Path(f).name for f, _ in result.failed] == ["broken.png"]  # tried, and failed: the run went on
    assert any("corrupt" in reason for f, reason in result.failed)


def test_find_then_evaluate_images_in_two_steps(tmp_path):
    """The CLI's form: find first (to size a progress bar), then predict and score."""
    write_image(tmp_path / "cat" / "c.png", (200, 0, 0))
    write_image(tmp_path / "dog" / "d.png", (0, 200, 0))
    (tmp_path / "dog" / "fake.jpg").write_text("text, not a JPEG")
    (tmp_path / "dog" / "notes.txt").write_text("not named like an image")
    (tmp_path / "dog" / "photo").write_bytes((tmp_path / "dog" / "d.png").read_bytes())  # a PNG without a suffix
    (tmp_path / "dog" / "cut.jpg").write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)  # starts like a JPEG
    (tmp_path / "dog" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(12))  # system and hidden names:
    (tmp_path / "dog" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # neither images nor skipped
    (tmp_path / "__MACOSX" / "dog").mkdir(parents=True)  # no category either
    items, skipped = find_test_images(tmp_path)  # by content, whatever the name
    assert [(p.name, label) for p, label in items] == [("c.png", "cat"), ("cut.jpg", "dog"), ("d.png", "dog"),
                                                       ("photo", "dog")]
    assert sorted((p.name, reason) for p, reason in skipped) == [("fake.jpg", "not a PNG or JPEG image"),
                                                                 ("notes.txt", "not a PNG or JPEG image")]
    client = FakeClient({"c.png": "dog", "d.png": "dog", "photo": "dog"})
    result = evaluate_images(client, "m", items, skipped=skipped)
    assert [Path(p).name for p in client.calls[0][1]] == ["c.png", "cut.jpg", "d.png", "photo"]
    assert result.accuracy == 2 / 3 and result.per_class["dog"].precision == 2 / 3
    assert sorted(Path(f).name for f, _ in result.skipped) == ["cut.jpg", "fake.jpg", "notes.txt"]


def test_run_evaluation_uses_the_folder_itself_without_test_split(tmp_path):
    write_image(tmp_path / "a" / "1.png", (0, 0, 0))
    write_image(tmp_path / "b" / "2.png", (9, 9, 9))
    client = FakeClient({"1.png": "a", "2.png": "b"})
    result = run_evaluation(client, "m", tmp_path)
    assert result.accuracy == 1.0 and result.labels == ["a", "b"]


def test_run_evaluation_refuses_a_folder_without_images(tmp_path):
    (tmp_path / "empty_category").mkdir()
    client = FakeClient({})
    with pytest.raises(FileNotFoundError, match="No images"):
        run_evaluation(client, "m", tmp_path)
    assert client.calls == []


def test_text_format_aligns_columns():
    result = evaluate_labels(TRUE, PRED)
    text = format_text(result)
    lines = text.splitlines()
    assert lines[0] == "accuracy 0.400 (4/10 correct, 6 mistakes)"
    per_class = lines[2 : 2 + lines[2:].index("")]
    # Every line of a table ends at the same column (numbers are right-aligned).
    assert len({len(line) for line in per_class}) == 1
    assert per_class[0].split() == ["label", "precision", "recall", "f1", "support"]
    assert [line.split() for line in per_class if line.startswith("B ")] == [["B", "0.500", "0.667", "0.571", "3"]]
    assert any(line.split()[:2] == ["macro", "avg"] for line in per_class)

    start = lines.index("confusion matrix (rows = true label, columns = predicted)") + 1
    matrix = lines[start:]
    assert len({len(line) for line in matrix}) == 1
    assert matrix[0].split()[-4:] == ["A", "B", "C", "D"]
    rows = {line.split()[0]: line.split()[1:] for line in matrix[2:]}
    assert rows == {"A": ["2", "1", "0", "1"], "B": ["1", "2", "0", "0"], "C": ["1", "1", "0", "1"],
                    "D": ["0", "0", "0", "0"]}
    # A column's numbers end exactly under its header.
    header_end = matrix[0].index(" B") + 2
    assert all(line[header_end - 1] == "-" or line[header_end - 1].isdigit() for line in matrix[1:])
