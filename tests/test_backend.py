"""The server backend: states, uploads, deduplication on and off, training queue and resume, accounts.

These tests drive the backend directly (no HTTP) with a tiny stand-in trainer (nearest mean
colour), so that the rules are checked fast and deterministically; the real classifier is
exercised through the server in test_server_*.py.
"""
from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Sequence

import pytest
from helpers import make_image

from nanoclient.errors import AuthenticationError, BadRequestError, InvalidImageError, NotFoundError
from nanoclient.server.backend import Backend
from nanoclient.server.config import ServerConfig
from nanoclient.server.image_categorization import TYPE as IMAGE_CATEGORIZATION
from nanoclient.server.image_categorization.models import ClassifierCache, ImageCategorizationModels
from nanoclient.server.store import Store

RED, BLUE = (230, 20, 20), (20, 20, 230)


def ic_part(backend: object) -> ImageCategorizationModels:
    """The backend's Image Categorization part (made on first use)."""
    return backend.part(IMAGE_CATEGORIZATION)  # type: ignore[attr-defined]


class StandInTrainer:
    """Trains a nearest-mean-colour classifier; can be held (``gate``) or made to fail."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.fail_with: Exception | None = None
        self.calls: list[int] = []
        self.loads: list[str] = []  # paths of the saved classifiers loaded
        self.predicting_threads: set[str] = set()
        trainer = self

        class Classifier:
            def __init__(self, labels, means):
                self.labels, self.means = labels, means

            def predict_proba(self, images: Sequence) -> list:
                trainer.predicting_threads.add(threading.current_thread().name)
                rows = []
                for image in images:
                    colour = _mean_colour(image)
                    distances = [sum((a - b) ** 2 for a, b in zip(colour, m, strict=True)) for m in self.means]
                    weights = [1.0 / (1.0 + d) for d in distances]
                    rows.append([w / sum(weights) for w in weights])
                return rows

            def save(self, path) -> None:
                with open(path, "wb") as handle:
                    pickle.dump((self.labels, self.means), handle)

            @classmethod
            def load(cls, path):
                trainer.loads.append(str(path))
                with open(path, "rb") as handle:
                    return cls(*pickle.load(handle))

        self.Classifier = Classifier

        def train(images, labels, holdout=0.2, seed=0, progress=None):
            trainer.calls.append(len(images))
            if progress is not None:
                progress("features 50%")
            trainer.started.set()
            if trainer.gate is not None:
                trainer.gate.wait(30)
            if trainer.fail_with is not None:
                raise trainer.fail_with
            names = sorted(set(labels))
            if len(names) < 2:
                raise ValueError("need at least 2 classes")
            means = []
            for name in names:
                colours = [_mean_colour(i) for i, label in zip(images, labels, strict=True) if label == name]
                means.append(tuple(sum(c[k] for c in colours) / len(colours) for k in range(3)))
            return Classifier(names, means), 0.75, 4

        self.train = train


def _mean_colour(image) -> tuple:
    from PIL import Image

    data = image if isinstance(image, bytes) else open(image, "rb").read()
    with Image.open(io.BytesIO(data)) as im:
        small = im.convert("RGB").resize((1, 1))
        return small.getpixel((0, 0))


def _files(colour, n: int, start: int = 0):
    return [(f"img{start + i}.png", make_image(colour, seed=start + i)) for i in range(n)]


@pytest.fixture
def trainer():
    return StandInTrainer()


@pytest.fixture
def backend(tmp_path, trainer):
    b = Backend(Store(tmp_path / "data"), min_images=3, trainer=trainer).start()
    yield b
    if trainer.gate is not None:
        trainer.gate.set()
    b.close()


def _ready_model(backend, account):
    model = ic_part(backend).create_model(account, ["red", "blue"])
    ic_part(backend).upload_images(account, model.id, "red", _files(RED, 3))
    ic_part(backend).upload_images(account, model.id, "blue", _files(BLUE, 3, start=10))
    return model.id


def test_states_from_creation_to_trained(backend):
    me = backend.authenticate("key-a")
    model = ic_part(backend).create_model(me, ["red", "blue"])
    assert (model.state, model.accuracy, [c.count for c in model.categories]) == (0, None, [0, 0])
    model = ic_part(backend).upload_images(me, model.id, "red", _files(RED, 3))
    assert model.state == 1 and "blue has 0 of 3" in model.status
    with pytest.raises(BadRequestError, match="not ready to train") as info:
        ic_part(backend).train(me, model.id)
    assert "blue (0)" in info.value.hint
    assert ic_part(backend).get_model(me, model.id).state == 1  # a refused Train changes nothing
    model = ic_part(backend).upload_images(me, model.id, "blue", _files(BLUE, 3, start=10))
    assert model.state == 2
    queued = ic_part(backend).train(me, model.id)
    assert queued.state in (3, 4)
    assert backend.wait_idle(30)
    trained = ic_part(backend).get_model(me, model.id)
    assert (trained.state, trained.status, trained.accuracy, trained.accuracy_images) == (5, "Model trained", 0.75, 4)
    files = [("r.png", make_image(RED)), ("b.png", make_image(BLUE))]
    [first, second] = ic_part(backend).predict_images(me, model.id, files)
    assert (first.file, first.label, second.file, second.label) == ("r.png", "red", "b.png", "blue")
    assert [label for label, _ in first.scores] == ["red", "blue"]
    assert abs(sum(p for _, p in first.scores) - 1.0) < 1e-9


def test_trained_model_keeps_predicting_while_images_arrive_and_it_retrains(backend, trainer):
    me = backend.authenticate("key-a")
    model_id = _ready_model(backend, me)
    ic_part(backend).train(me, model_id)
    backend.wait_idle(30)
    more = ic_part(backend).upload_images(me, model_id, "red", _files(RED, 2, start=50))
    assert more.state == 2 and more.accuracy == 0.75 and "previous training" in more.status
    assert ic_part(backend).predict_images(me, model_id, [("x.png", make_image(RED))])[0].label == "red"
    trainer.gate, trainer.started = threading.Event(), threading.Event()
    ic_part(backend).train(me, model_id)
    assert trainer.started.wait(30)
    training = ic_part(backend).get_model(me, model_id)
    assert training.state == 4 and training.status.startswith("Training: features 50%")  # how far it is
    assert ic_part(backend).train(me, model_id).state == 4  # nothing new since it started: not queued twice
    assert ic_part(backend).predict_images(me, model_id, [("x.png", make_image(BLUE))])[0].label == "blue"
    trainer.gate.set()
    backend.wait_idle(30)
    assert ic_part(backend).get_model(me, model_id).state == 5
    assert trainer.calls == [6, 8]


def test_upload_is_all_or_nothing(backend, tmp_path):
    me = backend.authenticate("key-a")
    model = ic_part(backend).create_model(me, ["red", "blue"])
    good = make_image(RED)
    jpeg = make_image(BLUE, fmt="JPEG", size=(64, 64), seed=1)
    for bad in (b"not an image at all", b"%PDF-1.4\n...", jpeg[: len(jpeg) // 2]):
        with pytest.raises(InvalidImageError) as info:
            ic_part(backend).upload_images(me, model.id, "red", [("good.png", good), ("bad.png", bad)])
        assert info.value.errors[0]["message"].startswith("bad.png")
    assert ic_part(backend).get_model(me, model.id).categories[0].count == 0
    assert [p for p in (tmp_path / "data" / "images").rglob("*") if p.is_file()] == []


def test_image_over_the_pixel_limit_is_refused(tmp_path, trainer):
    small_limit = Backend(Store(tmp_path / "data"), min_images=3, trainer=trainer, max_pixels=100).start()
    try:
        me = small_limit.authenticate("key-a")
        model = ic_part(small_limit).create_model(me, ["red", "blue"])
        with pytest.raises(InvalidImageError, match="too large"):
            ic_part(small_limit).upload_images(me, model.id, "red", [("big.png", make_image(RED, size=(11, 10)))])
        ok = [("ok.png", make_image(RED, size=(10, 10)))]
        assert ic_part(small_limit).upload_images(me, model.id, "red", ok).state == 1
    finally:
        small_limit.close()


def test_duplicate_bytes_count_once(backend):
    me = backend.authenticate("key-a")
    model = ic_part(backend).create_model(me, ["red", "blue"])
    image = make_image(RED, seed=7)
    assert backend.dedupe
    model = ic_part(backend).upload_images(me, model.id, "red", [("a.png", image), ("b.png", image)])
    assert model.categories[0].count == 1  # within one request
    model = ic_part(backend).upload_images(me, model.id, "red", [("c.png", image)])
    assert model.categories[0].count == 1  # and across requests
    model = ic_part(backend).upload_images(me, model.id, "blue", [("d.png", image)])
    assert [c.count for c in model.categories] == [1, 1]  # another category is another image


def test_without_dedupe_every_file_counts(tmp_path, trainer):
    b = Backend(Store(tmp_path / "data"), min_images=3, trainer=trainer, dedupe=False).start()
    try:
        me = b.authenticate("key-a")
        model = ic_part(b).create_model(me, ["red", "blue"])
        image = make_image(RED, seed=7)
        model = ic_part(b).upload_images(me, model.id, "red", [("a.png", image), ("b.png", image)])
        assert model.categories[0].count == 2  # within one request
        model = ic_part(b).upload_images(me, model.id, "red", [("c.png", image)])
        assert model.state == 1 and model.categories[0].count == 3  # and across requests
        assert len([p for p in (tmp_path / "data" / "images").rglob("*") if p.is_file()]) == 1
        ic_part(b).upload_images(me, model.id, "blue", _files(BLUE, 3, start=10))
        ic_part(b).train(me, model.id)
        assert b.wait_idle(30) and trainer.calls == [6]  # every copy is a training image
    finally:
        b.close()


def test_bad_requests_name_what_is_wrong(backend):
    me = backend.authenticate("key-a")
    model = ic_part(backend).create_model(me, ["red", "blue"])
    image = [("a.png", make_image(RED))]
    with pytest.raises(BadRequestError, match="Missing modelId"):
        ic_part(backend).upload_images(me, None, "red", image)
    with pytest.raises(NotFoundError):
        ic_part(backend).upload_images(me, "no-such-model", "red", image)
    with pytest.raises(BadRequestError, match="Missing category"):
        ic_part(backend).upload_images(me, model.id, "", image)
    with pytest.raises(BadRequestError, match="Unknown category 'green'") as info:
        ic_part(backend).upload_images(me, model.id, "green", image)
    assert info.value.hint == "The model's categories are: red, blue"
    with pytest.raises(BadRequestError, match="Missing file"):
        ic_part(backend).upload_images(me, model.id, "red", [])
    with pytest.raises(BadRequestError, match="not trained"):
        ic_part(backend).predict_images(me, model.id, image)
    with pytest.raises(BadRequestError, match="Duplicated"):
        ic_part(backend).create_model(me, ["a", "a"])
    with pytest.raises(BadRequestError, match="at least one category"):
        ic_part(backend).create_model(me, [])
    single = ic_part(backend).create_model(me, ["only"])
    ic_part(backend).upload_images(me, single.id, "only", _files(RED, 3))
    with pytest.raises(BadRequestError, match="two categories"):
        ic_part(backend).train(me, single.id)


def test_each_key_is_its_own_account(backend):
    a, b = backend.authenticate("key-a"), backend.authenticate("key-b")
    model = ic_part(backend).create_model(a, ["red", "blue"])
    assert [m.id for m in backend.list_models(a)] == [model.id]
    assert backend.list_models(b) == []
    with pytest.raises(NotFoundError):
        ic_part(backend).get_model(b, model.id)
    with pytest.raises(NotFoundError):
        ic_part(backend).upload_images(b, model.id, "red", [("a.png", make_image(RED))])
    with pytest.raises(AuthenticationError):
        backend.authenticate("")


def test_configured_keys_only_and_never_stored_in_clear(tmp_path, trainer):
    keys = Backend(Store(tmp_path / "data"), api_keys=["secret-key-1", "secret-key-2"], trainer=trainer)
    try:
        ic_part(keys).create_model(keys.authenticate("secret-key-2"), ["red", "blue"])
        with pytest.raises(AuthenticationError, match="Invalid API key"):
            keys.authenticate("secret-key-3")
        with pytest.raises(AuthenticationError, match="Missing API key"):
            keys.authenticate(None)
    finally:
        keys.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("nanoclient.sqlite3*"))
    assert b"secret-key" not in stored
    import hashlib

    assert hashlib.sha256(b"secret-key-2").hexdigest().encode() in stored


def test_failed_training_says_why_and_new_images_clear_it(backend, trainer):
    me = backend.authenticate("key-a")
    model_id = _ready_model(backend, me)
    trainer.fail_with = ValueError("image 3 cannot be decoded")
    ic_part(backend).train(me, model_id)
    backend.wait_idle(30)
    failed = ic_part(backend).get_model(me, model_id)
    assert failed.state == -1 and failed.status == "Training failed: image 3 cannot be decoded"
    trainer.fail_with = None
    assert ic_part(backend).upload_images(me, model_id, "red", _files(RED, 1, start=90)).state == 2
    ic_part(backend).train(me, model_id)
    backend.wait_idle(30)
    assert ic_part(backend).get_model(me, model_id).state == 5


def test_queued_and_interrupted_training_resume_after_restart(tmp_path, trainer):
    data = tmp_path / "data"
    first = Backend(Store(data), min_images=3, trainer=trainer)  # not started: nothing trains
    me = first.authenticate("key-a")
    queued_id = _ready_model(first, me)
    assert ic_part(first).train(me, queued_id).state == 3
    interrupted_id = _ready_model(first, me)
    run, _ = first.store.queue_run(interrupted_id)
    first.store.start_run(run.id)  # as if the process died while training it
    assert ic_part(first).get_model(me, interrupted_id).state == 4
    first.close()

    second = Backend(Store(data), min_images=3, trainer=trainer).start()
    try:
        assert second.wait_idle(30)
        me = second.authenticate("key-a")
        assert ic_part(second).get_model(me, queued_id).state == 5
        assert ic_part(second).get_model(me, interrupted_id).state == 5
        assert ic_part(second).predict_images(me, interrupted_id, [("x.png", make_image(BLUE))])[0].label == "blue"
    finally:
        second.close()


def test_predictions_survive_a_restart(tmp_path, trainer):
    data = tmp_path / "data"
    first = Backend(Store(data), min_images=3, trainer=trainer).start()
    me = first.authenticate("key-a")
    model_id = _ready_model(first, me)
    ic_part(first).train(me, model_id)
    first.wait_idle(30)
    probe = [("p.png", make_image((140, 20, 120), seed=5))]
    before = ic_part(first).predict_images(me, model_id, probe)
    first.close()
    second = Backend(Store(data), min_images=3, trainer=trainer).start()
    try:
        me = second.authenticate("key-a")
        assert ic_part(second).get_model(me, model_id).state == 5
        assert ic_part(second).predict_images(me, model_id, probe) == before
    finally:
        second.close()


def test_url_uploads_keep_what_worked(tmp_path, trainer):
    images = {"http://img/red.png": make_image(RED), "http://img/not-image": b"<html>"}

    def fetch(url: str) -> bytes:
        from nanoclient.server.fetch import FetchError, check_url

        check_url(url)
        if url not in images:
            raise FetchError(f"{url} answered 404")
        return images[url]

    b = Backend(Store(tmp_path / "data"), min_images=3, trainer=trainer, fetcher=fetch).start()
    try:
        me = b.authenticate("key-a")
        model = ic_part(b).create_model(me, ["red", "blue"])
        model, failed = ic_part(b).upload_urls(me, model.id, "red", ["http://img/red.png", "http://img/missing.png",
                                                            "http://img/not-image", "file:///etc/passwd"])
        assert model.categories[0].count == 1
        assert [url for url, _ in failed] == ["http://img/missing.png", "http://img/not-image", "file:///etc/passwd"]
        assert "404" in failed[0][1] and "not a PNG or JPEG" in failed[1][1] and "http(s)" in failed[2][1]
        with pytest.raises(BadRequestError, match="None of the URLs") as info:
            ic_part(b).upload_urls(me, model.id, "red", ["http://img/missing.png"])
        assert info.value.errors[0]["message"].startswith("http://img/missing.png")
        assert info.value.errors[0]["url"] == "http://img/missing.png"
        assert ic_part(b).get_model(me, model.id).categories[0].count == 1
    finally:
        b.close()


def test_classifier_cache_keeps_the_most_recently_used_up_to_its_bound():
    cache = ClassifierCache(2)
    loads: list[str] = []

    def get(model_id: str, run_id: int = 1) -> str:
        def load() -> str:
            loads.append(model_id)
            return f"{model_id}@{run_id}"

        return cache.get(model_id, run_id, load)

    assert (get("a"), get("b"), get("a")) == ("a@1", "b@1", "a@1")  # the second "a" is a hit
    assert loads == ["a", "b"] and cache.models() == ["b", "a"]  # least recently used first
    get("c")  # over the bound: evicts "b", the least recently used
    assert cache.models() == ["a", "c"]
    assert get("b") == "b@1" and loads == ["a", "b", "c", "b"] and cache.models() == ["c", "b"]
    assert get("c", run_id=2) == "c@2" and loads[-1] == "c"  # a newer training is loaded, not the kept one
    cache.put("d", 5, "d@5")  # just trained: the most recently used
    assert cache.models() == ["c", "d"] and get("d", run_id=4) == "d@5" and loads[-1] == "c"
    with pytest.raises(ValueError):
        ClassifierCache(0)


def test_backend_keeps_at_most_its_classifier_cache_of_models_loaded(tmp_path, trainer):
    b = Backend.from_config(ServerConfig(tmp_path / "data", min_images=3, classifier_cache=2), trainer=trainer)
    try:
        me = b.authenticate("key-a")
        models = [_ready_model(b, me) for _ in range(3)]
        for model_id in models:
            ic_part(b).train(me, model_id)
            assert b.wait_idle(30)
        assert ic_part(b).classifiers.models() == models[1:] and trainer.loads == []  # trained ones are kept as trained

        def predict(model_id: str) -> str:
            return ic_part(b).predict_images(me, model_id, [("x.png", make_image(RED))])[0].label

        assert [predict(m) for m in (models[2], models[1], models[2])] == ["red"] * 3 and trainer.loads == []
        assert predict(models[0]) == "red" and len(trainer.loads) == 1  # evicted: read from disk again
        assert ic_part(b).classifiers.models() == [models[2], models[0]]
        # computed in the backend's few prediction threads, not in the callers' (memory: see _PREDICT_WORKERS)
        assert {name.rsplit("_", 1)[0] for name in trainer.predicting_threads} == {"nanoclient-predict"}
    finally:
        b.close()
