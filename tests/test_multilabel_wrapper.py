"""The official Python wrapper's ``MultilabelClassification`` class (pip ``nanonets`` 2.0.5) against ``nanoclient
serve``: create (given a model id it creates nothing), upload a batch of files with their labels, one URL with
all its labels and several URLs with one label each, train, the state check, predict one file, a batch and a URL.
scripts/test.sh installs the wrapper without its pinned dependencies.

Its ``upload_image_urls`` sends each URL's labels flattened into one ``categories`` list (``requests`` encodes a
list of lists so): several URLs work with one label each only, which is what the wire can say.

Not tested: the wrapper's ``upload_image_file``, which cannot work whatever the server does: it calls
``self._upload_image_file(self, img_path, label_list)`` (``self`` twice: a TypeError), and
``Model._upload_image_file`` opens an undefined ``image_path`` (a NameError)."""
from __future__ import annotations

import contextlib
import functools
import http.server
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import start_server

from nanoclient import Client
from nanoclient.multilabel.labels import read_labels

nanonets = pytest.importorskip("nanonets", reason="the official wrapper is not installed (scripts/test.sh "
                                                  "installs nanonets==2.0.5 --no-deps)")

ROOT = Path(__file__).resolve().parent.parent
LABELS = ["circle", "cross", "square", "star", "triangle"]


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 serving ``folder`` (for the URL uploads and predictions)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_official_multilabel_class_works_against_the_local_server(tmp_path):
    # the project's default set (its state check asserts more than 50 images, and more than 50 per label)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_multilabel.py"), "--out", str(tmp_path / "set"),
                    "--train", "180", "--test", "4"], check=True, capture_output=True)
    train = sorted((tmp_path / "set" / "train").glob("*.png"))
    truth = read_labels(train)
    several = next(p for p in train if len(truth[p]) >= 2)  # sent by URL with all its labels
    singles = [p for p in train if len(truth[p]) == 1][:2]  # sent by URL, one label each
    training = {str(path): list(labels) for path, labels in truth.items() if path not in (several, *singles)}
    server = start_server(tmp_path / "data", "--min-images", "5")
    files = contextlib.ExitStack()
    base = files.enter_context(serving(tmp_path / "set"))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = nanonets.MultilabelClassification("wrapper-key", LABELS, model_id="not-yet")
            model.host = server.url + "/"
            with Client("wrapper-key", server.url) as client:
                assert client.list_models() == []  # given a model id, the class created nothing
            created = model._create_model(LABELS)
            answers = model.upload_image_files(training, batch_size=20)
            one_url = model.upload_image_url(f"{base}/train/{several.name}", list(truth[several]))
            two_urls = model.upload_image_urls({f"{base}/train/{p.name}": truth[p][0] for p in singles})
            flattened = model.upload_image_urls({f"{base}/train/{p.name}": list(truth[p]) + ["star"]
                                                 for p in singles})
            started = model._train()
        assert created.status_code == 200 and created.json()["model_type"] == "multilabel"
        assert [a.status_code for a in answers] == [200] * 9
        assert one_url.status_code == 200 and two_urls.status_code == 200, (one_url.text, two_urls.text)
        assert flattened.status_code == 400 and "categories" in flattened.json()["message"]
        assert started.status_code == 200, started.text
        deadline = time.monotonic() + 1200
        while True:
            with contextlib.redirect_stdout(io.StringIO()):
                state = model._check_model_state()  # asserts more than 50 images and 50 per label
            if state["state"] in (5, -1) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert state["state"] == 5, state
        assert {c["name"]: c["count"] for c in state["categories"]} == {
            label: sum(label in labels for labels in truth.values()) for label in LABELS}

        tests = sorted((tmp_path / "set" / "test").glob("*.png"))
        one = model.predict_for_file(str(tests[0]))
        assert list(one) == [tests[0].name]
        assert {p["label"] for p in one[tests[0].name]} == set(LABELS)
        assert all(0 <= p["probability"] <= 1 for p in one[tests[0].name])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            batch = model.predict_for_files([str(p) for p in tests], batch_size=3)
        assert sorted(batch) == sorted(p.name for p in tests)
        assert batch[tests[0].name] == one[tests[0].name]
        url = f"{base}/test/{tests[0].name}"
        assert model.predict_for_url(url) == {url: one[tests[0].name]}
    finally:
        files.close()
        server.stop()
