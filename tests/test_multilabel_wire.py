"""The pure parts of multi-label classification's wire: the server reading the ``data`` list of an upload, and the
SDK batching files so that an answer can be matched by name, and matching it (never by position)."""
from __future__ import annotations

import pytest

from nanoclient.errors import BadRequestError, ServerError
from nanoclient.multilabel._resource import _batches, _by_file
from nanoclient.multilabel.types import MultilabelPrediction
from nanoclient.server.multilabel.models import labels_by_file

LABELS = ["cat", "dog", "car"]


def test_each_file_gets_its_labels_from_data_in_any_form_the_wire_allows():
    data = [{"filename": "a.jpg", "categories": ["cat", "dog", "cat"]}, {"filename": "b.jpg", "categories": []}]
    assert labels_by_file(data, ["a.jpg", "b.jpg"], LABELS) == {"a.jpg": ("cat", "dog"), "b.jpg": ()}
    text = '[{"filename": "a.jpg", "categories": [" car "]}]'
    assert labels_by_file(text, ["a.jpg"], LABELS) == {"a.jpg": ("car",)}
    assert labels_by_file({"filename": "a.jpg", "categories": "cat"}, ["a.jpg"], LABELS) == {"a.jpg": ("cat",)}


@pytest.mark.parametrize(("data", "names", "says"), [
    (None, ["a.jpg"], "Missing data"),
    ("{oops", ["a.jpg"], "not JSON"),
    ([{"categories": ["cat"]}], ["a.jpg"], "needs a filename"),
    ([{"filename": "z.jpg", "categories": ["cat"]}], ["a.jpg"], "not a file of this request"),
    ([{"filename": "a.jpg", "categories": ["cat"]}] * 2, ["a.jpg"], "two entries"),
    ([{"filename": "a.jpg", "categories": ["bird"]}], ["a.jpg"], "'bird' is not a label of the model"),
    ([{"filename": "a.jpg", "categories": [1]}], ["a.jpg"], "must be a list of label names"),
    ([{"filename": "a.jpg", "categories": ["cat"]}], ["a.jpg", "b.jpg"], "No labels for 'b.jpg'"),
])
def test_a_bad_data_list_is_refused_naming_what_is_wrong(data, names, says):
    with pytest.raises(BadRequestError) as refused:
        labels_by_file(data, names, LABELS)
    assert says in refused.value.message


def test_batches_never_hold_two_files_of_one_name():
    paths = ["x/a.png", "y/a.png", "x/b.png", "x/c.png", "z/a.png"]
    batches = list(_batches(paths, 3))
    assert [p for batch in batches for p in batch] == paths
    assert all(len({p.rsplit("/", 1)[-1] for p in batch}) == len(batch) <= 3 for batch in batches)


def test_answers_are_matched_by_the_name_the_server_gives_whatever_their_order():
    answer = {"message": "Success", "result": [
        {"message": "Success", "file": "b.png", "prediction": [{"label": "dog", "probability": 0.9}],
         "labels": ["dog"]},
        {"message": "Failed: could not fetch", "file": "a.png", "prediction": [], "labels": []},
    ]}
    found = _by_file(answer, ["a.png", "b.png"])
    assert isinstance(found["b.png"], MultilabelPrediction) and found["b.png"].labels == ("dog",)
    assert isinstance(found["a.png"], BadRequestError) and "could not fetch" in found["a.png"].message
    renamed = {"result": [{"file": "/uploads/tmp/b.png", "prediction": [], "labels": []}]}
    assert isinstance(_by_file(renamed, ["b.png"])["b.png"], MultilabelPrediction)  # a path of the name sent
    with pytest.raises(ServerError, match="not sent"):
        _by_file(answer, ["a.png", "c.png"])
    with pytest.raises(ServerError, match="no result"):
        _by_file(answer, ["a.png", "b.png", "c.png"])
