"""client.ocr against the in-process fake (nanoclient.testing), which serves OCR models hosted-like:
no deduplication, shuffled answers, and here answers lost after processing."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import make_invoices, needs_tesseract

from nanoclient import Client, NotFoundError, read_annotations
from nanoclient.testing import fake_nanonets

pytestmark = needs_tesseract

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://ocr.example.test/api/v2"
FIELDS = ["invoice_number", "invoice_date", "due_date", "vendor_name", "customer_name", "total_amount"]


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("invoices")
    return make_invoices(out, train=10, test=2, seed=7)


def _labelled(folder: Path) -> list[tuple[Path, object]]:
    pairs = []
    for annotation_file in sorted(folder.glob("*.json")):
        (annotation,) = read_annotations(annotation_file)
        pairs.append((folder / annotation.filename, annotation))
    return pairs


def test_upload_is_exactly_once_when_answers_are_lost_and_a_rerun_sends_nothing(invoices, tmp_path):
    documents = _labelled(invoices / "train")
    with fake_nanonets(BASE, data_dir=tmp_path / "fake"), Client("k", BASE) as client:
        model = client.ocr.create_model(FIELDS)
    with fake_nanonets(BASE, fail_after_rate=0.5, fail_seed=3, data_dir=tmp_path / "fake") as fake, \
            Client("k", BASE, max_retries=5) as client:
        client._transport._sleep = lambda seconds: None
        outcomes = []
        report = client.ocr.upload(model.id, documents, batch_size=3, workers=2,
                                   on_result=lambda path, error: outcomes.append((path, error)))
        held = client.ocr.documents(model.id)
        # every document stored once: none lost, none doubled, though half the answers were lost
        assert sorted(doc.filename for doc in held) == sorted(path.name for path, _ in documents)
        assert not report.failed and len(report.uploaded) == len(documents)
        assert sorted(path for path, _ in outcomes) == sorted(str(path) for path, _ in documents)
        assert held[0].boxes == next(a for p, a in documents if p.name == held[0].filename).boxes
        sent = fake.request_count
        again = client.ocr.upload(model.id, documents)
        assert (again.uploaded, len(again.already)) == ([], len(documents))
        assert fake.request_count == sent + 1  # one listing of the model's files, no upload


def test_train_predict_submit_and_list_by_day(invoices, tmp_path):
    with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
        client._sleep = lambda seconds: fake.wait_idle(60)  # type: ignore[method-assign]
        model = client.ocr.create_model(FIELDS)
        assert client.ocr.upload(model.id, _labelled(invoices / "train")).ok
        client.ocr.train(model.id)
        trained = client.ocr.wait_until_trained(model.id, poll_interval=0.1)
        assert trained.state == 5 and trained.type == "ocr"
        path = sorted(p for p in (invoices / "test").iterdir() if p.suffix in (".png", ".jpg"))[0]
        pages = client.ocr.predict_file(model.id, path)
        assert [(page.input, page.page, page.status) for page in pages] == [(str(path), 0, "success")]
        assert {f.label for f in pages[0].fields} <= set(FIELDS) and pages[0].id
        assert pages[0].field("invoice_number") is not None

        pending = client.ocr.submit_file(model.id, path)
        assert [p.status for p in pending] == ["pending"] and pending[0].id
        client._sleep = lambda seconds: None  # type: ignore[method-assign]
        done = client.ocr.wait_for(model.id, [p.id for p in pending], timeout=60, poll_interval=0.05)
        assert done[0].status == "success" and done[0].fields == pages[0].fields

        listed = client.ocr.inferences(model.id, dt.date.today() - dt.timedelta(days=1))
        assert {pending[0].id, pages[0].id} <= {page.id for page in listed}
        assert client.ocr.inferences(model.id, 1, 2) == []

        results = dict(client.ocr.predict_files(model.id, [path, tmp_path / "missing.png"]))
        assert isinstance(results[str(tmp_path / "missing.png")], OSError)  # one bad file costs that file only
        assert [p.fields for p in results[str(path)]] == [pages[0].fields]


def test_wrong_input_is_refused_before_anything_is_sent(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a document")
    with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
        with pytest.raises(ValueError):
            client.ocr.create_model([])
        with pytest.raises(ValueError):
            client.ocr.create_model(["a", "a"])
        classification = client.create_model(["a", "b"])
        with pytest.raises(NotFoundError) as other:
            client.ocr.get_model(classification.id)
        assert other.value.model_type == "classification"
        model = client.ocr.create_model(["total"])
        sent = fake.request_count
        with pytest.raises(ValueError, match="not a PNG, JPEG or PDF"):
            client.ocr.predict_file(model.id, text)
        assert fake.request_count == sent


def test_documents_by_url_upload_once_and_read_asynchronously(invoices, tmp_path):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(invoices))
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    try:
        documents = [(f"{base}/train/{path.name}", annotation) for path, annotation in _labelled(invoices / "train")]
        missing = (f"{base}/train/missing.png", documents[0][1])
        with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
            model = client.ocr.create_model(FIELDS)
            report = client.ocr.upload_urls(model.id, [*documents, missing])
            assert sorted(report.uploaded) == sorted(url for url, _ in documents)
            assert [url for url, _ in report.failed] == [missing[0]] and "404" in str(report.failed[0][1])
            again = client.ocr.upload_urls(model.id, documents)
            assert (again.uploaded, len(again.already)) == ([], len(documents))
            assert len(client.ocr.documents(model.id)) == len(documents)

            client.ocr.train(model.id)
            fake.wait_idle(120)
            url = documents[0][0]
            pending = client.ocr.submit_urls(model.id, [url, missing[0]])
            assert [(p.input, p.status) for p in pending] == [(url, "pending"), (missing[0], "failure")]
            client._sleep = lambda seconds: None  # type: ignore[method-assign]
            done = client.ocr.wait_for(model.id, [pending[0].id], timeout=60, poll_interval=0.05)
            assert done[0].status == "success" and done[0].fields
            assert client.ocr.predict_urls(model.id, [url])[0].fields == done[0].fields
    finally:
        files.shutdown()
        files.server_close()


def test_one_broken_document_among_good_ones_costs_that_document_only(invoices, tmp_path):
    documents = _labelled(invoices / "train")[:5]
    broken = tmp_path / documents[2][0].name
    broken.write_bytes(documents[2][0].read_bytes()[:300])  # a PNG cut short: its first bytes say PNG
    documents[2] = (broken, documents[2][1])
    with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
        model = client.ocr.create_model(FIELDS)
        report = client.ocr.upload(model.id, documents, batch_size=5)
        assert [path for path, _ in report.failed] == [str(broken)]
        assert "invoice_003" in str(report.failed[0][1])
        assert sorted(report.uploaded) == sorted(str(path) for path, _ in documents if path != broken)
        assert len(client.ocr.documents(model.id)) == 4
        assert fake.request_count > 0


def test_the_fake_stops_its_page_readers_when_it_ends(invoices, tmp_path):
    import threading

    documents = _labelled(invoices / "train")
    with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
        model = client.ocr.create_model(FIELDS)
        client.ocr.upload(model.id, documents)
        client.ocr.train(model.id)
        fake.wait_idle(120)
        client.ocr.submit_file(model.id, documents[0][0])  # a page read in the background
        readers = [t for t in threading.enumerate() if t.name.startswith(("nanoclient-ocr_", "nanoclient-ocr-async_"))]
        assert readers  # the server's reading threads ran
    assert not any(t.is_alive() for t in readers)  # stopped with the fake, not left to the end of the tests


def test_a_long_document_is_read_asynchronously_once_by_the_hosted_like_fake(invoices, tmp_path, monkeypatch):
    """A document of more pages than ``ASYNC_PAGES`` goes with async=true, once, under a name used once,
    its pages fetched by id; against the fake, which shuffles answers and does not deduplicate."""
    from PIL import Image

    from nanoclient.ocr import _resource as _ocr

    monkeypatch.setattr(_ocr, "ASYNC_PAGES", 1)  # two pages are "long" here
    pages = [Image.open(p).convert("RGB") for p in sorted((invoices / "test").glob("*.png"))]
    scan = tmp_path / "two pages.pdf"
    pages[0].save(scan, save_all=True, append_images=pages[1:], resolution=150)
    with fake_nanonets(BASE, data_dir=tmp_path / "fake") as fake, Client("k", BASE) as client:
        client._sleep = lambda seconds: fake.wait_idle(60)  # type: ignore[method-assign]
        model = client.ocr.create_model(FIELDS)
        assert client.ocr.upload(model.id, _labelled(invoices / "train")).ok
        client.ocr.train(model.id)
        client.ocr.wait_until_trained(model.id, poll_interval=0.1)
        read = client.ocr.predict_file(model.id, scan)
        assert [(p.input, p.page, p.status) for p in read] == [(str(scan), 0, "success"), (str(scan), 1, "success")]
        assert read[0].field("invoice_number") is not None
        listed = client.ocr.inferences(model.id, dt.date.today() - dt.timedelta(days=1))
        sent = [p.input for p in listed if p.input.endswith("~two pages.pdf")]
        assert len(sent) == 2 and len(set(sent)) == 1  # its two pages, sent once
        path = sorted((invoices / "test").glob("*.png"))[0]
        one = client.ocr.predict_file(model.id, path)  # one page: one request, under its own name
        assert [(p.input, p.status) for p in one] == [(str(path), "success")]
        listed = client.ocr.inferences(model.id, dt.date.today() - dt.timedelta(days=1))
        assert [p.input for p in listed if p.id == one[0].id] == [path.name]  # was 0.png
