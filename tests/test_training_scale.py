"""Training at scale, at small sizes: the block softmax fit reaches scikit-learn's optimum, memory grows
with the images only by the feature matrix, training tells how far it is, and a training process that
runs out of memory fails its run, not the server (``softmax``, ``trainer``, ``trainer_process``).
The 6,000 and 60,000 image figures are the bench's (``scripts/bench.py --scale``), not tests'."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from helpers import make_image

from nanoclient.server.image_categorization import TYPE as IMAGE_CATEGORIZATION
from nanoclient.server.image_categorization import trainer
from nanoclient.server.image_categorization.models import ImageCategorizationModels
from nanoclient.server.image_categorization.softmax import BLOCK, Preconditioner, fit_softmax
from nanoclient.server.image_categorization.trainer_process import ProcessTrainer, TrainingMemoryError

TESTS = Path(__file__).parent
COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 40)}


def ic_part(backend: object) -> ImageCategorizationModels:
    """The backend's Image Categorization part (made on first use)."""
    return backend.part(IMAGE_CATEGORIZATION)  # type: ignore[attr-defined]


def problem(n: int, width: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, width))
    y = rng.integers(0, classes, n)
    x = (centres[y] + 2.0 * rng.standard_normal((n, width))).astype(np.float32)
    x[:, : width // 2] += x[:, width // 2:]  # correlated columns, as the trainer's are
    return x, y


def sklearn_probabilities(x: np.ndarray, y: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, tol=1e-10, max_iter=5000).fit(x.astype(np.float64), y)
    return model.predict_proba(x)


def softmax_probabilities(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
    scores = x @ coef.T + bias
    scores -= scores.max(axis=1, keepdims=True)
    return np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("preconditioned", [False, True])
def test_the_block_fit_reaches_scikit_learns_optimum(classes, preconditioned):
    x, y = problem(1500, 40, classes)
    c = 0.05
    precondition = Preconditioner(x[:300], 1.0 / (c * len(x))) if preconditioned else None
    coef, bias = fit_softmax(x, y, classes, c=c, precondition=precondition, tol=1e-9)
    assert np.abs(softmax_probabilities(x, coef, bias) - sklearn_probabilities(x, y, c)).max() < 2e-3
    started = []  # from a start near the optimum, the same optimum in fewer iterations
    again = fit_softmax(x, y, classes, c=c, precondition=precondition, start=(coef, bias), tol=1e-9,
                        on_iteration=started.append)
    assert np.abs(again[0] - coef).max() < 1e-3 and len(started) < 10


def test_preconditioning_cuts_the_iterations_on_correlated_columns():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 5, 2000)
    latent = rng.standard_normal((5, 20))[y] + rng.standard_normal((2000, 20))
    # 200 columns in 20 groups of near-copies, as pooled activations of similar prototypes are
    x = (latent[:, np.arange(200) % 20] + 0.1 * rng.standard_normal((2000, 200))).astype(np.float32)
    plain, preconditioned = [], []
    fit_softmax(x, y, 5, c=1.0, on_iteration=plain.append)
    fit_softmax(x, y, 5, c=1.0, precondition=Preconditioner(x[:500], 1.0 / len(x)), on_iteration=preconditioned.append)
    assert len(preconditioned) < len(plain) / 2


def traced_peak(call) -> int:
    """The peak of memory allocated (NumPy's arrays included) while ``call()`` ran, in bytes."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_block_fit_allocates_nothing_that_grows_with_the_rows():
    width = 300
    small, y_small = problem(BLOCK, width, 4)
    large, y_large = problem(8 * BLOCK, width, 4)  # 37 MB more matrix
    peaks = [traced_peak(lambda x=x, y=y: fit_softmax(x, y, 4, c=0.01, max_iter=5))
             for x, y in ((small, y_small), (large, y_large))]
    assert peaks[1] - peaks[0] < 2 * 1024 * 1024  # the same working set: a few blocks' worth of scores


def test_features_are_written_into_the_matrix_chunk_by_chunk():
    sources = [make_image(colour, size=(12, 12), seed=i) for i in range(1100) for colour in COLOURS.values()]
    features = trainer.Features.fit(trainer.load_pixels(sources[:300]), atoms=16)
    half, whole = sources[: len(sources) // 2], sources
    peaks = [traced_peak(lambda images=images: features.transform_images(images)) for images in (half, whole)]
    grown = len(half) * features.width * 4  # the matrix's rows for the other half
    assert peaks[1] - peaks[0] < 1.1 * grown  # nothing else grew: the pixels are decoded a chunk at a time


def labelled(per_colour: int) -> tuple[list[bytes], list[str]]:
    images = [make_image(colour, size=(16, 16), seed=i) for colour in COLOURS.values() for i in range(per_colour)]
    return images, [name for name in COLOURS for _ in range(per_colour)]


def test_the_block_fit_gives_the_classifier_the_exact_fit_gives():
    images, labels = labelled(40)
    features = trainer.Features.fit(trainer.load_pixels(images), atoms=16)
    x = features.transform(trainer.load_pixels(images))
    exact = trainer.Classifier.fit(features, x, labels, spectrum_weight=1.0)
    centre, scale = trainer.standardisation(features, x, 1.0)
    z = ((x - centre) / scale).astype(np.float32)
    blocks = trainer.Classifier.fit_standardised(features, z, labels, centre, scale)
    assert blocks.labels == exact.labels
    assert np.abs(blocks.predict_proba_features(x) - exact.predict_proba_features(x)).max() < 5e-3


def test_training_tells_how_far_it_is():
    images, labels = labelled(12)
    told: list[str] = []
    trained = trainer.train(images, labels, progress=told.append)
    assert trained.accuracy is not None
    assert told[0] == "learning the dictionary" and "features 100%" in told
    assert told.index("features 100%") > told.index("choosing the weights")  # chosen on the first rows
    assert told[-1] == "fitting"


def image_files(tmp_path: Path, per_colour: int) -> tuple[list[str], list[str]]:
    images, labels = labelled(per_colour)
    paths = []
    for i, (data, label) in enumerate(zip(images, labels, strict=True)):
        path = tmp_path / f"{label}{i}.png"
        path.write_bytes(data)
        paths.append(str(path))
    return paths, labels


def test_a_child_process_trains_and_tells_its_progress(tmp_path):
    paths, labels = image_files(tmp_path, 10)
    told: list[str] = []
    classifier, accuracy, held_out = ProcessTrainer(work_dir=tmp_path).train(paths, labels, progress=told.append)
    assert accuracy is not None and held_out == 6
    assert classifier.labels == sorted(COLOURS) and "features 100%" in told
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == []  # the job's folder is gone


def test_the_trainers_message_comes_back_from_the_child(tmp_path):
    paths, _ = image_files(tmp_path, 3)
    with pytest.raises(ValueError, match="at least 2 categories"):
        ProcessTrainer(work_dir=tmp_path).train(paths, ["red"] * len(paths))


@pytest.mark.parametrize(("how", "said"), [("allocate", "ran out of memory"), ("killed", "killed by the system")])
def test_a_child_out_of_memory_is_a_training_error_and_the_server_lives_on(tmp_path, monkeypatch, how, said):
    """The stand-in trainers really allocate 8 TiB, or die by SIGKILL as the kernel's OOM killer does."""
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv("STAND_IN_FAILURE", how)
    paths, labels = image_files(tmp_path, 3)
    told: list[str] = []
    with pytest.raises(TrainingMemoryError, match=said):
        ProcessTrainer("failing_trainer", work_dir=tmp_path).train(paths, labels, progress=told.append)
    assert told == ["features 10%"]


def test_a_model_whose_training_runs_out_of_memory_fails_with_a_status_that_says_so(tmp_path, monkeypatch):
    from nanoclient.server.backend import Backend
    from nanoclient.server.store import Store

    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv("STAND_IN_FAILURE", "killed")
    store = Store(tmp_path / "data")
    backend = Backend(store, min_images=2, trainer=ProcessTrainer("failing_trainer", work_dir=store.tmp_dir)).start()
    try:
        me = backend.authenticate("key")
        model = ic_part(backend).create_model(me, list(COLOURS))
        for name, colour in COLOURS.items():
            files = [(f"{i}.png", make_image(colour, seed=i)) for i in range(2)]
            ic_part(backend).upload_images(me, model.id, name, files)
        ic_part(backend).train(me, model.id)
        backend.wait_idle(60)
        failed = ic_part(backend).get_model(me, model.id)
        assert failed.state == -1 and "killed by the system, most likely for lack of memory" in failed.status
        assert ic_part(backend).create_model(me, ["a", "b"]).state == 0  # the server goes on
    finally:
        backend.close(wait=True)


def test_a_stand_in_trainer_without_progress_still_trains(tmp_path):
    """Users' stand-ins (fake_nanonets(trainer=...)) written before training told its progress keep working."""
    from nanoclient.server.backend import Backend
    from nanoclient.server.store import Store

    class OldStandIn:
        Classifier = trainer.Classifier

        @staticmethod
        def train(images, labels):  # no progress parameter
            return trainer.train(images, labels)

    backend = Backend(Store(tmp_path / "data"), min_images=2, trainer=OldStandIn).start()
    try:
        me = backend.authenticate("key")
        model = ic_part(backend).create_model(me, list(COLOURS))
        for name, colour in COLOURS.items():
            files = [(f"{i}.png", make_image(colour, seed=i)) for i in range(3)]
            ic_part(backend).upload_images(me, model.id, name, files)
        ic_part(backend).train(me, model.id)
        backend.wait_idle(60)
        assert ic_part(backend).get_model(me, model.id).state == 5
    finally:
        backend.close(wait=True)
