"""nanoclient.testing: the in-process fake and its pytest fixture, no port, same backend as serve."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import make_image
from nanoclient.testing import DEFAULT_BASE_URL, fake_nanonets

RED, BLUE = (220, 30, 30), (30, 30, 220)


def _op(base_url: str, op: str) -> str:
    return f"{base_url}/ImageCategorization/{op}"


def _wait_trained(base_url, key, model_id):
    deadline = time.monotonic() + 180  # hang guard only
    while time.monotonic() < deadline:
        model = requests.get(_op(base_url, "Model/"), params={"modelId": model_id}, auth=(key, "")).json()
        if model["state"] in (5, -1):
            return model
        time.sleep(0.05)
    pytest.fail("training did not finish")


def test_the_whole_flow_in_process():
    with fake_nanonets("http://nanonets.test/api/v2/", min_images=5) as fake:
        assert fake.base_url == "http://nanonets.test/api/v2"
        auth = ("test-key", "")
        model = requests.post(_op(fake.base_url, "Model/"), data={"categories": ["red", "blue"]}, auth=auth).json()
        for colour, name in ((RED, "red"), (BLUE, "blue")):
            files = [("file", (f"{name}{i}.png", make_image(colour, seed=i, size=(24, 24)))) for i in range(5)]
            uploaded = requests.post(_op(fake.base_url, "UploadFile"), params={"modelId": model["model_id"],
                                     "category": name}, files=files, auth=auth)
            assert uploaded.status_code == 200
        assert uploaded.json()["state"] == 2
        assert requests.post(_op(fake.base_url, "Train/"), params={"modelId": model["model_id"]}, auth=auth).json()["state"] in (3, 4)
        trained = _wait_trained(fake.base_url, "test-key", model["model_id"])
        assert trained["state"] == 5 and trained["accuracy"] is not None
        probe = [("file", ("p.png", make_image(BLUE, seed=50, size=(24, 24))))]
        result = requests.post(_op(fake.base_url, "LabelFile/"), data={"modelId": model["model_id"]}, files=probe, auth=auth).json()
        assert result["result"][0]["file"] == "p.png" and result["result"][0]["prediction"][0]["label"] == "blue"
        # the same backend as the server: inspectable directly
        account = fake.backend.authenticate("test-key")
        assert [m.id for m in fake.backend.list_models(account)] == [model["model_id"]]
        assert requests.get(_op(fake.base_url, "Models"), auth=("someone-else", "")).json() == []
        missing = requests.get(_op(fake.base_url, "Model/nope"), auth=auth)
        assert missing.status_code == 404 and missing.json()["errors"][0]["reason"] == "not_found"
        data_dir = fake.data_dir
        assert fake.request_count >= 8
    assert not data_dir.exists()  # the temporary folder is removed


def test_fixture_points_the_environment_at_the_fake(nanonets_fake):
    assert os.environ["NANONETS_BASE_URL"] == nanonets_fake.base_url == DEFAULT_BASE_URL
    key = os.environ["NANONETS_API_KEY"]
    created = requests.post(_op(os.environ["NANONETS_BASE_URL"], "Model/"), json={"categories": ["a", "b"]}, auth=(key, ""))
    assert created.status_code == 200  # answered in-process: app.nanonets.com never saw it
    assert nanonets_fake.backend.get_model(nanonets_fake.backend.authenticate(key), created.json()["model_id"]).state == 0


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
