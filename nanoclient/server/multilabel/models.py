"""Multi-label classification's rules on the local server: models whose images each show any of the model's
labels, uploads with their labels, training, and predictions giving every label's probability.

Over the backend's accounts, store, training queue and URL fetching (``backend.py``); no HTTP, no SQL.
A model's labels are its categories; a training image is kept in the store's ``documents`` table, its
annotation the JSON list ``[{"name": label}, ...]``, so that the store counts a label by the images labelled
with it (an image counts once for each of its labels, and for none if it has none: a negative example).

What an upload must be, or it is refused whole (400, nothing stored): every file a PNG or JPEG image within
the server's limits, at most FILES_MAX per request, distinct file names, an entry in ``data`` for every
file (``{"filename", "categories"}``; ``[]`` for an image that shows none of the labels), and every label
one of the model's. An image with no label is accepted on purpose: the learner needs images without each
label as much as images with it.

A model trains when every label is on at least ``min_images`` images (state 2); the learner
(``learner.train_multilabel``) needs at least ``learner.MIN_IMAGES`` images with and without each label, and
a run that has fewer fails saying which. Predictions use the newest finished training.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...errors import BadRequestError, ModelNotTrainedError, NotFoundError
from ...types import Model
from ..backend import Account, Backend, NamedBytes, url_errors
from ..store import DocumentRecord, ModelRecord, RunRecord
from . import TYPE

if TYPE_CHECKING:
    from .learner import MultilabelModel

log = logging.getLogger("nanoclient.server")

#: The model type's name, as the store keeps it and the API shows it.
TYPE_NAME = TYPE.name
#: Files per upload or prediction request.
FILES_MAX = 100
#: Labels a model may have (a name is at most backend.NAME_MAX long).
LABELS_MAX = 200
#: Predictions computed at once (NumPy keeps a core busy; more threads only hold more memory).
PREDICT_WORKERS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class LabelResult:
    """One input's answer: every label's probability (highest first) and the labels given (at or above their
    threshold); or why it could not be predicted (``message`` not "Success")."""

    file: str
    scores: tuple[tuple[str, float], ...] = ()
    labels: tuple[str, ...] = ()
    message: str = "Success"

    def to_json(self) -> dict[str, Any]:
        """The entry of ``result`` in a LabelFiles/LabelUrls answer."""
        return {"message": self.message, "file": self.file,
                "prediction": [{"label": label, "probability": p} for label, p in self.scores],
                "labels": list(self.labels)}


@dataclass
class _Loaded:
    """The trained models kept in memory, by model id: (run id, model), the least recently used first."""

    size: int
    entries: OrderedDict[str, tuple[int, MultilabelModel]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MultilabelModels:
    """Multi-label models over a ``Backend``: the API's rules for them, and their trained models."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store
        self._loaded = _Loaded(backend.classifier_cache)
        self._predictor = ThreadPoolExecutor(max_workers=PREDICT_WORKERS, thread_name_prefix="nanoclient-multilabel")
        backend.register_type(TYPE_NAME, train=self._train_run, describe=self._describe, close=self.close)

    def close(self, wait: bool = True) -> None:
        """Stop the prediction threads (``Backend.close`` calls it)."""
        self._predictor.shutdown(wait=wait, cancel_futures=not wait)

    # ------------------------------------------------------------------ models

    def create_model(self, account: Account, labels: Sequence[str]) -> Model:
        """Create a model with these labels (non-empty, distinct names)."""
        names = self.backend.names(labels, noun="label", most=LABELS_MAX,
                                   hint='Send the labels as JSON: {"categories": ["cat", "dog"]}')
        model_id = str(uuid.uuid4())
        self.store.insert_model(model_id, account.id, names, model_type=TYPE_NAME)
        return self.get_model(account, model_id)

    def get_model(self, account: Account, model_id: str | None) -> Model:
        """The model; NotFoundError if the account has none with that id (or it is of another type)."""
        return self._describe(self._record(account, model_id))

    def annotations(self, account: Account, model_id: str | None) -> tuple[Model, list[DocumentRecord]]:
        """The model and every training image it holds, oldest first (``labels_of`` reads their labels)."""
        record = self._record(account, model_id)
        return self._describe(record), self.store.documents(record.id)

    def _record(self, account: Account, model_id: str | None) -> ModelRecord:
        return self.backend.record(account, model_id, TYPE_NAME)

    def _describe(self, record: ModelRecord) -> Model:
        return self.backend.describe(record, items="images", label="label")

    # ------------------------------------------------------------------ training images

    def upload(self, account: Account, model_id: str | None, files: Sequence[NamedBytes],
               data: object) -> tuple[Model, list[DocumentRecord]]:
        """Add images with their labels (``data``: the wire's list of ``{"filename", "categories"}``, one entry
        per file): all of them, or none if any file or entry is wrong (see the module's description).
        Return the model and the request's images (an image whose bytes the model holds already is not added
        again when the server deduplicates: its first record is returned)."""
        record = self._record(account, model_id)
        if not files:
            raise BadRequestError("Missing files", hint="Send one or more PNG or JPEG images as 'files' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        names = [name for name, _ in files]
        twice = next((name for name in names if names.count(name) > 1), None)
        if twice is not None:
            raise BadRequestError(f"Two files are called {twice!r}",
                                  hint="Give each file part its own name: labels are matched to files by name")
        labels = labels_by_file(data, names, record.categories)
        self.backend.check_images(files)
        shas = self.store.put_images([content for _, content in files])
        rows = [(sha, name[:500], json.dumps([{"name": label} for label in labels[name]]), list(labels[name]))
                for sha, (name, _) in zip(shas, files, strict=True)]
        ids, stored = self.store.add_documents_and_read(account.id, record.id, rows, dedupe=self.backend.dedupe)
        if stored is None:  # pragma: no cover - models are never deleted
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        documents = {doc.id: doc for doc in self.store.documents(record.id)}
        return self._describe(stored), [documents[i] for i in dict.fromkeys(ids)]

    def upload_urls(self, account: Account, model_id: str | None, urls: Sequence[str],
                    categories: Sequence[str]) -> tuple[Model, list[DocumentRecord], list[tuple[str, str]]]:
        """Fetch images by URL and add those that worked, each named by its URL. ``categories``: with one URL,
        all its labels; with several, one label per URL, in order (the wire's form can say no more).
        Return (model, the images added, [(url, why it failed)]); BadRequestError, storing nothing, if the
        labels do not fit the URLs or no URL gave an image."""
        record = self._record(account, model_id)
        cleaned = self.backend.check_urls(urls)
        given = [str(c).strip() for c in categories if str(c).strip()]
        if len(cleaned) == 1:
            by_url = {cleaned[0]: list(dict.fromkeys(given))}
        elif len(given) == len(cleaned):
            by_url = {url: [label] for url, label in zip(cleaned, given, strict=True)}
        else:
            raise BadRequestError(
                f"{len(cleaned)} URLs but {len(given)} categories",
                hint="Send one URL with all its labels, or several URLs with one label each (in the same order); "
                     "upload images with several labels one URL at a time")
        if len(set(cleaned)) != len(cleaned):
            raise BadRequestError("A URL is sent twice", hint="Send each URL once")
        labels_by_file([{"filename": url, "categories": labels} for url, labels in by_url.items()], cleaned,
                       record.categories)  # checked before fetching
        fetched, failed = self.backend.fetch_all(cleaned, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        model, documents = self.upload(account, model_id, fetched,
                                       [{"filename": url, "categories": by_url[url]} for url, _ in fetched])
        return model, documents, failed

    # ------------------------------------------------------------------ training

    def train(self, account: Account, model_id: str | None) -> Model:
        """Queue the model for training (answered at once); BadRequestError if a label is on too few images."""
        record = self._record(account, model_id)
        short = [name for name in record.categories if record.counts[name] < self.backend.min_images]
        if short:
            raise BadRequestError("Model is not ready to train", hint="Label each label on at least {} images; "
                                  "short: {}".format(self.backend.min_images,
                                                     ", ".join(f"{n} ({record.counts[n]})" for n in short)))
        return self.backend.queue_training(account, record.id, describe=self._describe)

    def _train_run(self, run: RunRecord, record: ModelRecord) -> None:
        """Fit the learner on the model's images up to the run's last one (the backend's training worker calls
        it; a ValueError, such as too few images without a label, fails the run with its message)."""
        from .learner import train_multilabel

        started = time.monotonic()
        # in the order of their names, not of their arrival: concurrent uploads store them in any order, and
        # the learner's folds follow the order it is given (the same images gave micro-F1 0.85 to 0.89 unsorted)
        documents = sorted(self.store.documents(run.model_id, run.last_image_id), key=lambda doc: (doc.name, doc.id))
        paths = [str(self.store.image_path(doc.sha256)) for doc in documents]
        labels = [labels_of(doc) for doc in documents]
        model = train_multilabel(paths, labels, record.categories,
                                 progress=lambda text: self.store.set_run_status(run.id, f"Training: {text}"))
        name = f"{run.id}.mlc.npz"
        model.save(self.store.classifier_path(name))
        self.store.finish_run(run.id, accuracy=None, accuracy_images=None, classifier=name)
        self._keep(run.model_id, run.id, model)
        log.info("multi-label model %s trained on %d images in %.1f s", run.model_id, len(paths),
                 time.monotonic() - started)

    # ------------------------------------------------------------------ predictions

    def predict(self, account: Account, model_id: str | None, files: Sequence[NamedBytes]) -> list[LabelResult]:
        """Every label's probability and the labels given, for each file, in input order."""
        record = self._record(account, model_id)
        model = self._model(record)
        if not files:
            raise BadRequestError("Missing files", hint="Send one or more PNG or JPEG images as 'files' parts")
        if len(files) > FILES_MAX:
            raise BadRequestError(f"Too many files ({len(files)})", hint=f"Send at most {FILES_MAX} per request")
        self.backend.check_images(files)
        return self._predict(model, files)

    def predict_urls(self, account: Account, model_id: str | None,
                     urls: Sequence[str]) -> tuple[list[LabelResult], int]:
        """Predict images given by URL: one entry per URL in order (a URL that failed: no scores, its
        ``message`` says why) and how many failed. BadRequestError if all failed."""
        record = self._record(account, model_id)
        model = self._model(record)
        cleaned = self.backend.check_urls(urls)
        fetched, failed = self.backend.fetch_all(cleaned, self.backend.check_image)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        by_url = {result.file: result for result in self._predict(model, fetched)}
        reasons = dict(failed)
        return [by_url.get(url) or LabelResult(url, message=f"Failed: {reasons.get(url, 'could not fetch')}")
                for url in cleaned], len(failed)

    def _predict(self, model: MultilabelModel, files: Sequence[NamedBytes]) -> list[LabelResult]:
        answers = self._predictor.submit(model.predict, [data for _, data in files]).result()
        return [LabelResult(name, tuple((label, float(p)) for label, p in ranked), tuple(given))
                for (name, _), (ranked, given) in zip(files, answers, strict=True)]

    def _model(self, record: ModelRecord) -> MultilabelModel:
        """The model's newest trained model, loaded once and kept (the backend's ``classifier_cache`` most
        recently used ones)."""
        done = record.done_run
        if done is None or not done.classifier:
            raise ModelNotTrainedError("Model is not trained yet", hint="Call Train and wait until the model's "
                                                                        "state is 5")
        with self._loaded.lock:
            kept = self._loaded.entries.get(record.id)
            if kept is not None and kept[0] >= done.id:
                self._loaded.entries.move_to_end(record.id)
                return kept[1]
        from .learner import MultilabelModel

        try:
            model = MultilabelModel.load(self.store.classifier_path(done.classifier))
        except ValueError as exc:  # a model file of an older learner's format
            raise BadRequestError(f"The model's training cannot be used: {exc}",
                                  hint="Train the model again (Train/)") from None
        self._keep(record.id, done.id, model)
        return model

    def _keep(self, model_id: str, run_id: int, model: MultilabelModel) -> None:
        with self._loaded.lock:
            self._loaded.entries[model_id] = (run_id, model)
            self._loaded.entries.move_to_end(model_id)
            while len(self._loaded.entries) > self._loaded.size:
                self._loaded.entries.popitem(last=False)


# ---------------------------------------------------------------------- helpers


def labels_of(document: DocumentRecord) -> list[str]:
    """The labels of a stored training image (its annotation ``[{"name": label}, ...]``)."""
    return [str(item["name"]) for item in json.loads(document.annotation) if isinstance(item, dict)]


def labels_by_file(data: object, names: Sequence[str], labels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each file's labels from the wire's ``data`` (a list of ``{"filename", "categories"}``, one such object,
    or its JSON text): one entry per file of ``names``, each label one of ``labels``, repeats dropped.
    BadRequestError naming the file for anything else."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            raise BadRequestError("data is not JSON", hint=_DATA_HINT) from None
    if data is None or data == "":
        raise BadRequestError("Missing data: the labels of the files", hint=_DATA_HINT)
    entries = data if isinstance(data, list) else [data]
    known = set(labels)
    found: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("filename"), str):
            raise BadRequestError("Each entry of data needs a filename", hint=_DATA_HINT)
        name = entry["filename"]
        if name not in names:
            raise BadRequestError(f"data names {name!r}, which is not a file of this request",
                                  hint="Name each file part as its entry's filename says")
        if name in found:
            raise BadRequestError(f"data has two entries for {name!r}", hint="Send one entry per file")
        given = entry.get("categories", entry.get("labels"))
        if isinstance(given, str):
            given = [given]
        if not isinstance(given, list) or not all(isinstance(label, str) for label in given):
            raise BadRequestError(f"{name}: categories must be a list of label names",
                                  hint='For example "categories": ["cat", "dog"] ([] for an image with none)')
        unknown = [label for label in given if label.strip() not in known]
        if unknown:
            raise BadRequestError(f"{name}: {unknown[0]!r} is not a label of the model",
                                  hint="The model's labels are: " + ", ".join(labels))
        found[name] = tuple(dict.fromkeys(label.strip() for label in given))
    missing = [name for name in names if name not in found]
    if missing:
        raise BadRequestError(f"No labels for {missing[0]!r}" + (f" and {len(missing) - 1} more files"
                                                                  if len(missing) > 1 else ""),
                              hint='Give every file an entry in data ("categories": [] for an image with none)')
    return found


_DATA_HINT = 'Send data as a JSON list: [{"filename": "a.jpg", "categories": ["cat", "dog"]}, ...]'

__all__ = ["FILES_MAX", "LabelResult", "MultilabelModels", "TYPE_NAME", "labels_by_file", "labels_of"]
