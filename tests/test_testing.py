"""nanoclient.testing: the in-process fake and its pytest fixture, no port, same backend as serve,
as unkind as the hosted service by default (no deduplication, results in any order)."""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest
import requests
from helpers import counts, make_image, upload_images

from nanoclient import Client, NotFoundError
from nanoclient.server.config import DEDUPE_HEADER
from nanoclient.server.image_categorization import TYPE as IMAGE_CATEGORIZATION
from nanoclient.server.image_categorization.models import ImageCategorizationModels
from nanoclient.testing import DEFAULT_BASE_URL, fake_nanonets

RED, BLUE = (220, 30, 30), (30, 30, 220)


def ic_part(backend: object) -> ImageCategorizationModels:
    """The backend's Image Categorization part (made on first use)."""
    return backend.part(IMAGE_CATEGORIZATION)  # type: ignore[attr-defined]


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
        assert (prediction.file, prediction.label) == (str(probe), "blue")
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
    assert ic_part(nanonets_fake.backend).get_model(nanonets_fake.backend.authenticate(key), model.id).state == 0
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


# ---------------------------------------------------------------- as unkind as the hosted service by default


def test_by_default_the_fake_neither_deduplicates_nor_keeps_result_order(tmp_path):
    image = make_image(RED, seed=1)
    with fake_nanonets(min_images=3) as fake:
        created = requests.post(_op(fake.base_url, "Model/"), data={"categories": ["red", "blue"]}, auth=("k", ""))
        model_id = created.json()["model_id"]
        twice = upload_images(fake.base_url, model_id, "red", [image, image, make_image(RED, seed=2)], "k")
        again = upload_images(fake.base_url, model_id, "red", [image], "k")
        for answer in (created, twice, again):
            assert answer.status_code == 200 and DEDUPE_HEADER not in answer.headers
        assert counts(fake.base_url, model_id, "k") == {"red": 4, "blue": 0}
        upload_images(fake.base_url, model_id, "blue", [make_image(BLUE, seed=i) for i in range(3)], "k")
        assert requests.post(_op(fake.base_url, "Train/"), params={"modelId": model_id}, auth=("k", "")).ok
        assert fake.wait_idle(180) and counts(fake.base_url, model_id, "k") == {"red": 4, "blue": 3}
        names = [f"probe{i:02d}.png" for i in range(20)]
        answer = requests.post(_op(fake.base_url, "LabelFile/"), params={"modelId": model_id}, auth=("k", ""),
                               files=[("file", (n, make_image(BLUE, seed=60 + i))) for i, n in enumerate(names)])
        order = [entry["file"] for entry in answer.json()["result"]]
        assert answer.status_code == 200 and sorted(order) == names and order != names


def test_the_fake_can_be_as_kind_as_the_local_server():
    image = make_image(RED, seed=1)
    with fake_nanonets(dedupe=True, shuffle_results=False) as fake:
        created = requests.post(_op(fake.base_url, "Model/"), data={"categories": ["red", "blue"]},
                                auth=("test-key", ""))
        model_id = created.json()["model_id"]
        uploads = [upload_images(fake.base_url, model_id, "red", [image, image], "test-key"),
                   upload_images(fake.base_url, model_id, "red", [image], "test-key")]
        for answer in (created, *uploads, requests.get(_op(fake.base_url, "Models/"))):
            assert answer.headers[DEDUPE_HEADER] == "sha256"
        assert counts(fake.base_url, model_id, "test-key") == {"red": 1, "blue": 0}
        assert fake.app.extensions["nanoclient"]["config"].shuffle_results is False


def test_fail_after_rate_in_the_fake_stores_then_answers_500_or_breaks_the_connection():
    from urllib3.exceptions import NewConnectionError

    with fake_nanonets(fail_after_rate=1.0, fail_seed=2) as fake:
        outcomes = []
        model_id = None
        for n in range(1, 8):
            try:
                if model_id is None:
                    answer = requests.post(_op(fake.base_url, "Model/"), data={"categories": ["red", "blue"]},
                                           auth=("test-key", ""))
                else:
                    answer = upload_images(fake.base_url, model_id, "red", [make_image(RED, seed=n)], "test-key")
            except requests.exceptions.ConnectionError as exc:  # what requests raises for a broken connection
                causes = [exc, *exc.args]
                assert not any(isinstance(c, NewConnectionError) for c in causes)  # "sent", not "refused"
                assert not isinstance(exc, requests.exceptions.ConnectTimeout)
                outcomes.append("broken")
            else:
                assert answer.status_code == 500 and answer.json()["errors"][0]["reason"] == "injected_after_processing"
                outcomes.append(500)
            if model_id is None:
                [model] = requests.get(_op(fake.base_url, "Models/"), auth=("test-key", "")).json()
                model_id = model["model_id"]  # created, whatever the answer was
            else:
                assert counts(fake.base_url, model_id, "test-key") == {"red": n - 1, "blue": 0}  # each one stored
        assert set(outcomes) == {500, "broken"}
        assert fake.request_count >= 7 * 2


def test_the_fixture_uses_the_unkind_defaults(nanonets_fake):
    config = nanonets_fake.app.extensions["nanoclient"]["config"]
    assert (config.dedupe, config.shuffle_results, nanonets_fake.backend.dedupe) == (False, True, False)
    answer = requests.get(_op(nanonets_fake.base_url, "Models/"), auth=(nanonets_fake.api_key, ""))
    assert answer.status_code == 200 and DEDUPE_HEADER not in answer.headers


def test_the_fake_differs_from_the_server_defaults_only_where_documented():
    import inspect
    from dataclasses import fields

    from nanoclient.server.config import ServerConfig

    server = {f.name: f.default for f in fields(ServerConfig) if f.name != "data_dir"}
    fake = {name: p.default for name, p in inspect.signature(fake_nanonets).parameters.items() if name in server}
    assert len(fake) >= 8
    differ = {name for name, value in fake.items() if value != server[name]}
    assert differ == {"min_images", "dedupe", "shuffle_results"}  # the documented unkindnesses, and speed
