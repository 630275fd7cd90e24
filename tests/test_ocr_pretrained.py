"""OCR models that start from the extractor the package ships (``--pretrained invoices``): they answer at once,
on documents they were never trained on, and a name the server does not ship is refused storing nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_invoices, needs_tesseract

from nanoclient import Client
from nanoclient.errors import BadRequestError
from nanoclient.ocr.evaluate import same_text
from nanoclient.server.ocr import pretrained as ocr_pretrained
from nanoclient.testing import fake_nanonets

pytestmark = needs_tesseract


def test_the_package_ships_an_invoice_extractor_of_arrays():
    assert "invoices" in ocr_pretrained.available()
    extractor = ocr_pretrained.load("invoices")
    assert {"invoice_number", "invoice_date", "total_amount", "vendor_name"} <= set(extractor.fields)
    assert ocr_pretrained.file_name("invoices") == ocr_pretrained.file_name("invoices")
    with pytest.raises(KeyError, match="there are: .*invoices"):
        ocr_pretrained.path("receipts-of-mars")


@pytest.fixture(scope="module")
def unseen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Invoices from a seed of their own: documents the shipped extractor never saw."""
    return make_invoices(tmp_path_factory.mktemp("unseen"), train=0, test=4, seed=777) / "test"


def test_a_pretrained_model_answers_at_once_on_documents_it_never_saw(unseen):
    with fake_nanonets() as fake:
        client = Client(api_key="pre-key", base_url=fake.base_url)
        model = client.ocr.create_model(pretrained="invoices")
        assert model.is_trained and "pretrained" in model.status
        assert {c.name for c in model.categories} == set(ocr_pretrained.load("invoices").fields)
        right = total = 0
        for annotation_file in sorted(unseen.glob("*.json")):
            entry = json.loads(annotation_file.read_text())
            (page,) = client.ocr.predict_file(model.id, unseen / entry["filename"])
            for box in entry["object"]:
                found = page.field(box["name"])
                total += 1
                right += found is not None and same_text(found.text, box["ocr_text"])
        assert right / total >= 0.75, (right, total)


def test_a_pretrained_name_the_server_lacks_is_refused_and_nothing_is_stored():
    with fake_nanonets() as fake:
        client = Client(api_key="pre-key", base_url=fake.base_url)
        with pytest.raises(BadRequestError, match="no pretrained extractor 'receipts'"):
            client.ocr.create_model(["total"], pretrained="receipts")
        assert client.list_models() == []
        with pytest.raises(ValueError, match="field names"):
            client.ocr.create_model([])


def test_adapting_blends_the_weights_by_how_many_documents_the_model_has():
    import numpy as np

    from nanoclient.server.ocr.fields import BASE_DOCUMENTS, FieldExtractor, adapt

    width = 8
    base = FieldExtractor(["number", "total", "date"], ["", "date", "number", "total"],
                          np.arange(4 * width, dtype=np.float32).reshape(4, width), np.array([0, 1, 2, 3]),
                          kinds={"number": frozenset({"identifier"}), "date": frozenset({"date"})},
                          periods={"total": frozenset({"Co"})})
    own = FieldExtractor(["number", "total", "po"], ["", "number", "po", "total"],
                         np.ones((4, width), dtype=np.float32), np.array([5, 5, 5, 5]),
                         kinds={"number": frozenset({"name"})})
    blend = adapt(base, own, BASE_DOCUMENTS)  # as many documents as the base counts for: half each
    assert blend.fields == ["number", "total", "po"] and blend.classes == ["", "number", "po", "total"]
    assert np.allclose(blend.coef[1], 0.5 * own.coef[1] + 0.5 * base.coef[2])  # number: both
    assert np.allclose(blend.coef[2], own.coef[2])  # po: the model's own only
    assert np.allclose(blend.intercept, [2.5, 3.5, 5, 4])
    assert blend.kinds == {"number": frozenset({"name"})}  # what the model's own values taught wins
    assert blend.periods == {"total": frozenset({"Co"})}
    mostly_own = adapt(base, own, 9 * BASE_DOCUMENTS)
    assert np.allclose(mostly_own.coef[0], 0.9 * own.coef[0] + 0.1 * base.coef[0])
