"""Image Categorization's rules on the local server: its models, uploads, training and predictions.

Over the backend's accounts, store, training queue and URL fetching (``backend.py``); no HTTP, no SQL.
A model counts its images per category; it trains when every category holds ``min_images`` (state 2),
and predicts with its newest finished training, whatever the state says.

Deduplication (``dedupe``, on by default): identical bytes uploaded to the same model and
category count once. The hosted service promises no such thing, so it can be turned off
for testing clients; then every file part counts.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from ...errors import BadRequestError, ModelNotTrainedError, NotFoundError
from ...types import Model, Prediction
from ..backend import Account, Backend, NamedBytes, url_errors
from ..store import ModelRecord, RunRecord
from . import TYPE
from .protocols import TrainedClassifier, Trainer

log = logging.getLogger("nanoclient.server")

#: The model type's name, as the store keeps it and the API shows it.
TYPE_NAME = TYPE.name
_CATEGORIES_MAX = 1000
#: Threads that compute the predictions of every request thread: more would not be faster (NumPy keeps
#: a core busy), and each thread that computed one keeps its peak working set (tens of MB) in its own
#: malloc arena (glibc). Computed in the 32 request threads, four prediction passes over 1,200 images
#: took the server from 208 MB (just trained) to 500 MB; in these threads, to 241 MB.
_PREDICT_WORKERS = min(4, os.cpu_count() or 1)


def _tells_progress(trainer: Trainer) -> bool:
    """Whether the trainer's ``train`` takes ``progress`` (a stand-in written before it existed may not)."""
    import inspect

    try:
        parameters = inspect.signature(trainer.train).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "progress" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)

class ClassifierCache:
    """The loaded classifiers of the ``size`` models most recently used, by model id (LRU); thread-safe.

    What bounds the server's memory however many models it serves: using a model beyond
    them evicts the least recently used one, which is loaded from disk again when next used.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("the classifier cache holds at least 1 classifier")
        self.size = size
        self._entries: OrderedDict[str, tuple[int, TrainedClassifier]] = OrderedDict()  # oldest use first
        self._lock = threading.Lock()

    def get(self, model_id: str, run_id: int, load: Callable[[], TrainedClassifier]) -> TrainedClassifier:
        """The classifier of ``model_id`` trained by run ``run_id`` or a newer one; ``load`` it if none is kept."""
        with self._lock:  # held while loading: concurrent predictions of a model load it once
            cached = self._entries.get(model_id)
            if cached is not None and cached[0] >= run_id:
                self._entries.move_to_end(model_id)
                return cached[1]
            classifier = load()
            self._keep(model_id, run_id, classifier)
            return classifier

    def put(self, model_id: str, run_id: int, classifier: TrainedClassifier) -> None:
        """Keep a classifier just trained, as the most recently used."""
        with self._lock:
            self._keep(model_id, run_id, classifier)

    def models(self) -> list[str]:
        """The ids of the models whose classifier is kept, the least recently used first."""
        with self._lock:
            return list(self._entries)

    def _keep(self, model_id: str, run_id: int, classifier: TrainedClassifier) -> None:
        self._entries[model_id] = (run_id, classifier)
        self._entries.move_to_end(model_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

class ImageCategorizationModels:
    """Image Categorization models over a ``Backend``: the API's rules for them, and their classifiers.

    The learner is the backend's ``trainer`` when one was given (tests give a stand-in), else
    ``trainer_process.ProcessTrainer`` when the backend trains in a child process, else ``trainer``
    (imported on first use: scikit-learn takes a while to load). ``classifiers`` keeps the
    backend's ``classifier_cache`` most recently used classifiers loaded.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self._trainer = cast("Trainer | None", backend.learner)
        self.classifiers = ClassifierCache(backend.classifier_cache)
        self._predictor = ThreadPoolExecutor(max_workers=_PREDICT_WORKERS, thread_name_prefix="nanoclient-predict")
        backend.register_type(TYPE_NAME, train=self._train_run, describe=self._describe, close=self.close)

    @property
    def trainer(self) -> Trainer:
        """The learner, made on first use."""
        if self._trainer is None:
            if self.backend.train_in_child:
                from .trainer_process import ProcessTrainer

                self._trainer = ProcessTrainer(work_dir=self.store.tmp_dir)
            else:
                from . import trainer as default_trainer

                self._trainer = default_trainer  # where mypy checks the real trainer against the protocol
        return self._trainer

    def close(self, wait: bool = True) -> None:
        """Stop the prediction threads (``Backend.close`` calls it)."""
        self._predictor.shutdown(wait=wait)

    # ------------------------------------------------------------------ models

    def create_model(self, account: Account, categories: Sequence[str]) -> Model:
        """Create a model with these categories (non-empty, distinct names)."""
        names = self.backend.names(categories, most=_CATEGORIES_MAX)
        model_id = str(uuid.uuid4())
        self.store.insert_model(model_id, account.id, names, model_type=TYPE_NAME)
        return self.get_model(account, model_id)

    def get_model(self, account: Account, model_id: str | None) -> Model:
        """The model, or NotFoundError if this account has no model with that id."""
        return self._describe(self._record(account, model_id))

    def _record(self, account: Account, model_id: str | None) -> ModelRecord:
        return self.backend.record(account, model_id, TYPE_NAME)

    def _describe(self, record: ModelRecord) -> Model:
        return self.backend.describe(record)

    # ------------------------------------------------------------------ uploads

    def upload_images(self, account: Account, model_id: str | None, category: str | None,
                      files: Sequence[NamedBytes]) -> Model:
        """Add labelled images to a model: all of them, or none if any is invalid."""
        model_id = self._category_of(account, model_id, category)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more image files as 'file' parts")
        self.backend.check_images(files)
        return self._describe(self._store_images(account, model_id, str(category), files))

    def upload_urls(self, account: Account, model_id: str | None, category: str | None,
                    urls: Sequence[str]) -> tuple[Model, list[tuple[str, str]]]:
        """Fetch image URLs and add those that worked; return (model, [(url, why it failed)]).

        BadRequestError if none worked (then nothing is stored).
        """
        model_id = self._category_of(account, model_id, category)
        urls = self.backend.check_urls(urls)
        fetched, failed = self.backend.fetch_all(urls, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        return self._describe(self._store_images(account, model_id, str(category), fetched)), failed

    def _category_of(self, account: Account, model_id: str | None, category: str | None) -> str:
        """The model's id, once it is known to be this account's and to have ``category`` (else 4xx)."""
        if not model_id:
            raise BadRequestError("Missing modelId", hint="Pass the model id as modelId")
        # cheaper than the whole record
        categories = self.store.model_categories(account.id, str(model_id), model_type=TYPE_NAME)
        if categories is None:
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        if not category:
            raise BadRequestError("Missing category", hint="Pass the category of the images as category")
        if category not in categories:
            raise BadRequestError(
                f"Unknown category {category!r}",
                hint="The model's categories are: " + ", ".join(categories),
            )
        return str(model_id)

    def _store_images(self, account: Account, model_id: str, category: str, files: Sequence[NamedBytes]) -> ModelRecord:
        """Store the files and record them; return the model with them (fewer rows with dedupe)."""
        shas = self.store.put_images([data for _, data in files])
        items = [(category, sha, name[:500]) for (name, _), sha in zip(files, shas, strict=True)]
        _, record = self.store.add_images_and_read(account.id, model_id, items, dedupe=self.backend.dedupe)
        if record is None:  # pragma: no cover - models are never deleted; checked by _category_of
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        return record

    # ------------------------------------------------------------------ training

    def train(self, account: Account, model_id: str | None) -> Model:
        """Queue the model for training (answered at once); BadRequestError if it lacks images."""
        record = self._record(account, model_id)
        if len(record.categories) < 2:
            raise BadRequestError("A model needs at least two categories to train",
                                  hint="Create a model with two or more categories")
        short = [name for name in record.categories if record.counts[name] < self.backend.min_images]
        if short:
            raise BadRequestError(
                "Model is not ready to train",
                hint="Upload at least {} images to each category; short: {}".format(
                    self.backend.min_images, ", ".join(f"{n} ({record.counts[n]})" for n in short)),
            )
        return self.backend.queue_training(account, record.id, describe=self._describe)

    def _train_run(self, run: RunRecord, record: ModelRecord) -> None:
        """Fit a classifier on the model's images up to the run's last one (the backend's training worker calls it)."""
        started = time.monotonic()
        try:
            images = self.store.training_images(run.model_id, run.last_image_id)
            paths = [str(path) for path, _ in images]
            labels = [category for _, category in images]
            told = {"progress": lambda text: self.store.set_run_status(run.id, f"Training: {text}")}
            classifier, accuracy, held_out = self.trainer.train(paths, labels, **(told if _tells_progress(
                self.trainer) else {}))
            name = f"{run.id}.clf"
            classifier.save(str(self.store.classifier_path(name)))
        except Exception as exc:
            if not isinstance(exc, ValueError):
                log.exception("training run %s of model %s failed", run.id, run.model_id)
            reason = str(exc) or type(exc).__name__
            self.store.fail_run(run.id, f"Training failed: {reason}")
            return
        except MemoryError as exc:  # in this process (training in a child raises a MemoryError of its own)
            reason = str(exc) or f"out of memory on {len(paths)} images"
            log.error("training run %s of model %s ran out of memory: %s", run.id, run.model_id, reason)
            self.store.fail_run(run.id, f"Training failed: {reason}")
            return
        self.store.finish_run(run.id, accuracy=None if accuracy is None else float(accuracy),
                              accuracy_images=int(held_out) if accuracy is not None else None, classifier=name)
        self.classifiers.put(run.model_id, run.id, classifier)
        log.info("model %s trained on %d images in %.1f s (held-out accuracy %s)", run.model_id,
                 len(images), time.monotonic() - started, "n/a" if accuracy is None else f"{accuracy:.3f}")
    # ------------------------------------------------------------------ predictions

    def predict_images(self, account: Account, model_id: str | None, files: Sequence[NamedBytes]) -> list[Prediction]:
        """Predict each file with the newest finished training, in input order."""
        record = self._record(account, model_id)
        classifier = self._classifier(record)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more image files as 'file' parts")
        self.backend.check_images(files)
        return self._predict(record, classifier, files)

    def predict_urls(self, account: Account, model_id: str | None, urls: Sequence[str]) -> tuple[list[Prediction], int]:
        """Predict image URLs; return (one entry per URL in order, number that failed).

        A URL that failed has no scores and its ``message`` says why. BadRequestError if all failed.
        """
        record = self._record(account, model_id)
        classifier = self._classifier(record)
        urls = self.backend.check_urls(urls)
        fetched, failed = self.backend.fetch_all(urls, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        by_url = dict(zip([u for u, _ in fetched], self._predict(record, classifier, fetched), strict=True))
        reasons = dict(failed)
        results = []
        for url in urls:
            if url in by_url:
                results.append(by_url[url])
            else:
                results.append(Prediction(file=url, label="", probability=0.0, scores=[],
                                          message=f"Failed: {reasons.get(url, 'could not fetch')}"))
        return results, len(failed)

    def _classifier(self, record: ModelRecord) -> TrainedClassifier:
        done = record.done_run
        if done is None or not done.classifier:
            raise ModelNotTrainedError("Model is not trained yet",
                                  hint="Call Train and wait until the model's state is 5")
        path = str(self.store.classifier_path(done.classifier))
        return self.classifiers.get(record.id, done.id, lambda: self.trainer.Classifier.load(path))

    def _predict(self, record: ModelRecord, classifier: TrainedClassifier,
                 files: Sequence[NamedBytes]) -> list[Prediction]:
        probabilities = self._predictor.submit(classifier.predict_proba, [data for _, data in files]).result()
        labels = list(classifier.labels)
        results = []
        for (name, _), row in zip(files, probabilities, strict=True):
            by_label = {label: float(p) for label, p in zip(labels, row, strict=True)}
            scores = [(category, max(0.0, by_label.get(category, 0.0))) for category in record.categories]
            total = sum(p for _, p in scores)
            if total > 0:
                scores = [(c, p / total) for c, p in scores]
            else:  # pragma: no cover - a classifier always gives some probability
                scores = [(c, 1.0 / len(scores)) for c, _ in scores]
            order = {c: i for i, c in enumerate(record.categories)}
            scores.sort(key=lambda pair: (-pair[1], order[pair[0]]))
            results.append(Prediction(file=name, label=scores[0][0], probability=scores[0][1], scores=scores))
        return results


__all__ = ["ClassifierCache", "ImageCategorizationModels", "TYPE_NAME"]
