"""nanoclient.testing: the in-process fake and its pytest fixture, no port, same backend as serve."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest
import requests

from conftest import make_image
from nanoclient import Client, NotFoundError
from nanoclient.testing import DEFAULT_BASE_URL, fake_nanonets

RED, BLUE = (220, 30, 30), (30, 30, 220)


def _op(base_url: str, op: str) -> str:
    return f"{base_url}/ImageCategorization/{op}"


def test_the_whole_flow_in_process(tmp_path):
    images = []
    for colour, name in ((RED, "red"), (BLUE, "blue")):
        for i in range(5):
            path = tmp_path / f"{name}{i}.png"
            path.write_bytes(make_image(colour, seed=i, size=(24, 24)))
            images.append((path, name))
    probe = tmp_path / "p.png"
    probe.write_bytes(make_image(BLUE, seed=50, size=(24, 24)))
    with fake_nanonets("https://nanonets.test/api/v2/", min_images=5) as fake:
        assert fake.base_url == "https://nanonets.test/api/v2"
        client = Client(api_key="test-key", base_url=fake.base_url, max_retries=0)
        model = client.create_model(["red", "blue"])
        report = client.upload_files(model.id, images)
        assert report.ok and report.model.state == 2
        assert client.train(model.id).state in (3, 4)
        trained = client.wait_until_trained(model.id, timeout=180, poll_interval=0.05)
        assert trained.state == 5 and trained.accuracy is not None
        prediction = client.predict_file(model.id, probe)
        assert (prediction.file, prediction.label) == ("p.png", "blue")
        # the same backend as the server: inspectable directly
        account = fake.backend.authenticate("test-key")
        assert [m.id for m in fake.backend.list_models(account)] == [model.id]
        assert Client(api_key="someone-else", base_url=fake.base_url).list_models() == []
        with pytest.raises(NotFoundError):
            client.get_model("nope")
        data_dir = fake.data_dir
        assert fake.request_count >= 14
    assert not data_dir.exists()  # the temporary folder is removed


def test_fixture_points_the_environment_at_the_fake(nanonets_fake):
    assert os.environ["NANONETS_BASE_URL"] == nanonets_fake.base_url == DEFAULT_BASE_URL
    model = Client().create_model(["a", "b"])  # answered in-process: app.nanonets.com never saw it
    key = os.environ["NANONETS_API_KEY"]
    assert nanonets_fake.backend.get_model(nanonets_fake.backend.authenticate(key), model.id).state == 0
    created = requests.post(_op(DEFAULT_BASE_URL, "Model"), json={"categories": ["c", "d"]}, auth=(key, ""))
    assert created.status_code == 200 and len(Client().list_models()) == 2


def test_keys_and_other_urls():
    class Host(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = make_image(RED, seed=9)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Host)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    local = f"http://127.0.0.1:{httpd.server_address[1]}/red.png"
    try:
        with fake_nanonets(api_keys=["only-this"]) as fake:
            assert fake.api_key == "only-this"
            assert requests.get(_op(fake.base_url, "Models/"), auth=("other", "")).status_code == 401
            model = requests.post(_op(fake.base_url, "Model/"), data={"categories": ["red", "blue"]},
                                  auth=("only-this", "")).json()
            assert requests.get(local, timeout=10).status_code == 200  # other URLs pass through
            import responses

            fake.mock.add(responses.GET, "https://images.test/blue.png", body=make_image(BLUE))
            uploaded = requests.post(_op(fake.base_url, "UploadUrls/"), auth=("only-this", ""), data={
                "modelId": model["model_id"], "category": "red", "urls": [local, "https://images.test/blue.png"]})
            assert uploaded.status_code == 200 and uploaded.json()["categories"][0]["count"] == 2
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_loading_the_plugin_costs_nothing():
    code = ("import sys, nanoclient.testing; "
            "print([m for m in ('responses', 'flask', 'sklearn', 'requests') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
