"""The local server's domain: accounts, models, their states, images and training.

The same backend serves ``nanoclient serve`` (through waitress) and ``nanoclient.testing``
(through ``responses`` callbacks). It raises the shared errors of ``nanoclient.errors``;
the HTTP layer renders them. It knows nothing of requests, responses or SQL.

Model state (API.md) is derived, never stored, from the images and the newest training run:

    newest run queued                          -> 3
    newest run training                        -> 4
    newest run done, no image added since      -> 5
    newest run failed, no image added since    -> -1 (status says why)
    otherwise, by the image counts             -> 0 (none), 1 (a category below minimum), 2 (ready)

Predictions always use the newest finished run, whatever the state says.

Deduplication (``dedupe``, on by default): identical bytes uploaded to the same model and
category count once. The hosted service promises no such thing, so it can be turned off
for testing clients; then every file part counts.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import AuthenticationError, BadRequestError, InvalidImageError, NanonetsError, NotFoundError
from ..images import MAX_PIXELS, check_image_bytes, unique_categories
from ..types import (
    STATE_CREATED,
    STATE_FAILED,
    STATE_NEEDS_IMAGES,
    STATE_QUEUED,
    STATE_READY,
    STATE_TRAINED,
    STATE_TRAINING,
    Category,
    Model,
    Prediction,
)
from .config import ServerConfig
from .fetch import FetchError, fetch_url
from .protocols import TrainedClassifier, Trainer
from .store import RUN_DONE, RUN_FAILED, RUN_QUEUED, RUN_TRAINING, ModelRecord, RunRecord, Store

log = logging.getLogger("nanoclient.server")

#: Fetches one URL and returns its bytes, raising FetchError.
Fetcher = Callable[[str], bytes]
#: A file received for upload or prediction: (file name, bytes).
NamedBytes = tuple[str, bytes]
#: Trains one run of a model of another type (registered with ``Backend.register_type``).
TypeTrainer = Callable[[RunRecord, ModelRecord], None]
#: Describes a model of another type as the API shows it.
TypeDescriber = Callable[[ModelRecord], Model]

_CATEGORY_NAME_MAX = 200
_CATEGORIES_MAX = 1000
_URLS_MAX = 1000
_FETCH_WORKERS = 8
#: Threads that compute the predictions of every request thread: more would not be faster (NumPy keeps
#: a core busy), and each thread that computed one keeps its peak working set (tens of MB) in its own
#: malloc arena (glibc). Computed in the 32 request threads, four prediction passes over 1,200 images
#: took the server from 208 MB (just trained) to 500 MB; in these threads, to 241 MB.
_PREDICT_WORKERS = min(4, os.cpu_count() or 1)


@dataclass(frozen=True)
class Account:
    """Who is calling: one per API key (identified by the key's sha256, never the key)."""

    id: int


def key_hash(api_key: str) -> str:
    """The sha256 of an API key, the only form in which keys are stored."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


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


class Backend:
    """Accounts, models, uploads, training queue and predictions over one ``Store``.

    ``trainer`` fits and loads classifiers (default: ``nanoclient.server.trainer``). ``fetcher``
    fetches image URLs (default: ``fetch.fetch_url`` with the given limits). ``dedupe`` counts
    identical bytes in the same model and category once; off, every uploaded file counts.
    ``classifier_cache`` is how many trained classifiers stay loaded (``ClassifierCache``).
    The other defaults are ServerConfig's. ``Backend.from_config`` opens and starts one.
    """

    def __init__(
        self,
        store: Store,
        *,
        api_keys: Sequence[str] = ServerConfig.api_keys,
        min_images: int = ServerConfig.min_images,
        trainer: Trainer | None = None,
        fetcher: Fetcher | None = None,
        fetch_timeout: float = ServerConfig.fetch_timeout,
        fetch_max_bytes: int = ServerConfig.fetch_max_bytes,
        max_pixels: int = MAX_PIXELS,
        dedupe: bool = ServerConfig.dedupe,
        classifier_cache: int = ServerConfig.classifier_cache,
    ) -> None:
        if min_images < 1:
            raise ValueError("min_images must be at least 1")
        self.store = store
        self.min_images = int(min_images)
        #: Whether identical bytes in the same model and category count once.
        self.dedupe = bool(dedupe)
        self.max_pixels = max_pixels
        self._keys = [k.encode("utf-8") for k in api_keys if k]
        self._trainer = trainer
        self._fetch: Fetcher = fetcher or (
            lambda url: fetch_url(url, timeout=fetch_timeout, max_bytes=fetch_max_bytes)
        )
        self._accounts: dict[str, int] = {}
        self.classifiers = ClassifierCache(classifier_cache)
        self._predictor = ThreadPoolExecutor(max_workers=_PREDICT_WORKERS, thread_name_prefix="nanoclient-predict")
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._busy = 0  # runs queued in memory or being trained
        self._idle = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        #: The other model types' training and description, by type (``register_type``).
        self._types: dict[str, tuple[TypeTrainer, TypeDescriber]] = {}
        #: What the other model types stop when the backend closes (``register_type``), by type.
        self._closers: dict[str, Callable[[bool], object]] = {}

    def register_type(self, model_type: str, *, train: TypeTrainer, describe: TypeDescriber,
                      close: Callable[[bool], object] | None = None) -> None:
        """Let the training queue and the model list serve another model type (e.g. OCR's ``OcrModels``);
        ``close(wait)`` stops its own threads when the backend closes, before the store does."""
        self._types[model_type] = (train, describe)
        if close is not None:
            self._closers[model_type] = close

    @classmethod
    def from_config(cls, config: ServerConfig, *, trainer: Trainer | None = None,
                    fetcher: Fetcher | None = None) -> Backend:
        """A started backend on the store in ``config.data_dir``, with the config's keys, limits and dedupe.

        Opening the store sweeps it; starting takes up training left unfinished by a stop or crash.
        """
        store = Store(config.data_dir)
        if trainer is None and config.train_in_child:
            from .trainer_process import ProcessTrainer

            trainer = ProcessTrainer(work_dir=store.tmp_dir)
        try:
            return cls(
                store,
                api_keys=config.api_keys,
                min_images=config.min_images,
                trainer=trainer,
                fetcher=fetcher,
                fetch_timeout=config.fetch_timeout,
                fetch_max_bytes=config.fetch_max_bytes,
                dedupe=config.dedupe,
                classifier_cache=config.classifier_cache,
            ).start()
        except BaseException:
            store.close()
            raise

    @property
    def trainer(self) -> Trainer:
        """The trainer, imported on first use (scikit-learn takes a while to load)."""
        if self._trainer is None:
            from . import trainer as default_trainer

            self._trainer = default_trainer  # where mypy checks the real trainer against the protocol
        return self._trainer

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Backend:
        """Start the training worker and take up runs left queued or training by a stop or crash."""
        if self._worker is not None:
            return self
        for run_id in self.store.requeue_unfinished_runs():
            self._enqueue(run_id)
        self._worker = threading.Thread(target=self._work, name="nanoclient-trainer", daemon=True)
        self._worker.start()
        return self

    def close(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the training worker and the prediction threads, and close the store.

        With ``wait`` the run being trained is finished first (queued runs stay queued in
        the database and are taken up by the next start); without it the worker is
        abandoned and its run is taken up again by the next start.
        """
        self._stopping.set()
        self._queue.put(None)
        self._predictor.shutdown(wait=wait)
        for close_type in self._closers.values():
            close_type(wait)
        worker = self._worker
        if wait and worker is not None:
            worker.join(timeout)
        if worker is None or not worker.is_alive():
            self.store.close()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no training is queued or running; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # ------------------------------------------------------------------ accounts

    def authenticate(self, api_key: str | None) -> Account:
        """The account of an API key; AuthenticationError if it is missing or not accepted."""
        if not api_key:
            raise AuthenticationError(
                "Missing API key", hint="Send the API key as the username of HTTP Basic auth, with an empty password"
            )
        if self._keys:
            given = api_key.encode("utf-8")
            accepted = False
            for key in self._keys:  # compare with every key, so timing says nothing about which matched
                accepted |= hmac.compare_digest(given, key)
            if not accepted:
                raise AuthenticationError("Invalid API key", hint="Use one of the keys this server was started with")
        digest = key_hash(api_key)
        account_id = self._accounts.get(digest)
        if account_id is None:
            account_id = self.store.account_id(digest, create=True)
            assert account_id is not None
            self._accounts[digest] = account_id
        return Account(account_id)

    # ------------------------------------------------------------------ models

    def create_model(self, account: Account, categories: Sequence[str]) -> Model:
        """Create a model with these categories (non-empty, distinct names)."""
        try:
            names = unique_categories(list(categories))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
        if len(names) > _CATEGORIES_MAX:
            raise BadRequestError(f"Too many categories ({len(names)})", hint=f"A model has at most {_CATEGORIES_MAX}")
        too_long = [n for n in names if len(n) > _CATEGORY_NAME_MAX]
        if too_long:
            raise BadRequestError(f"Category name longer than {_CATEGORY_NAME_MAX} characters",
                                  hint="Use shorter names")
        model_id = str(uuid.uuid4())
        self.store.insert_model(model_id, account.id, names)
        return self.get_model(account, model_id)

    def get_model(self, account: Account, model_id: str | None) -> Model:
        """The model, or NotFoundError if this account has no model with that id."""
        return self._describe(self._record(account, model_id))

    def list_models(self, account: Account) -> list[Model]:
        """Every model of the account, of every type, oldest first."""
        return [self._types[record.type][1](record) if record.type in self._types else self._describe(record)
                for record in self.store.models(account.id)]

    def _record(self, account: Account, model_id: str | None) -> ModelRecord:
        if not model_id:
            raise BadRequestError("Missing modelId", hint="Pass the model id as modelId")
        record = self.store.model(account.id, str(model_id))
        if record is None:
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        if record.type != "classification":
            raise NotFoundError(f"Model {record.id} is an {record.type} model, not an image categorization model",
                                hint="Use the paths of its type, e.g. OCR/Model/{model_id}")
        return record

    def _describe(self, record: ModelRecord) -> Model:
        state, status = self._state(record)
        done = record.done_run
        return Model(
            id=record.id,
            type="classification",
            state=state,
            status=status,
            accuracy=None if done is None or done.accuracy is None else float(done.accuracy),
            categories=[Category(name, record.counts.get(name, 0)) for name in record.categories],
            min_images=self.min_images,  # a local extension: the hosted API says no such thing
            accuracy_images=None if done is None else done.accuracy_images,  # likewise
        )

    def _state(self, record: ModelRecord) -> tuple[int, str]:
        return self.model_state(record)

    def model_state(self, record: ModelRecord, *, items: str = "images", label: str = "category") -> tuple[int, str]:
        """The model's state and status, derived from its runs and counts (``items``: what it is trained on,
        ``label``: what they are counted by; an OCR model counts documents by field)."""
        run = record.latest_run
        serving = " (the previous training still answers predictions)" if record.done_run else ""
        if run is not None:
            if run.state == RUN_QUEUED:
                return STATE_QUEUED, "Queued for training" + serving
            if run.state == RUN_TRAINING:
                return STATE_TRAINING, (run.status or "Training") + serving
            up_to_date = record.last_image_id <= run.last_image_id
            if run.state == RUN_DONE and up_to_date:
                return STATE_TRAINED, run.status or "Model trained"
            if run.state == RUN_FAILED and up_to_date:
                return STATE_FAILED, run.status or "Training failed"
        total = sum(record.counts.values())
        if total == 0:
            return STATE_CREATED, f"No {items} uploaded yet"
        short = [f"{name} has {record.counts[name]} of {self.min_images}" for name in record.categories
                 if record.counts[name] < self.min_images]
        if short:
            return STATE_NEEDS_IMAGES, f"Needs more {items}: " + ", ".join(short) + serving
        if record.done_run is not None:
            return STATE_READY, f"New {items} since the last training: ready to train again" + serving
        return STATE_READY, "Ready to train"

    # ------------------------------------------------------------------ uploads

    def upload_images(self, account: Account, model_id: str | None, category: str | None,
                      files: Sequence[NamedBytes]) -> Model:
        """Add labelled images to a model: all of them, or none if any is invalid."""
        model_id = self._category_of(account, model_id, category)
        if not files:
            raise BadRequestError("Missing file", hint="Send one or more image files as 'file' parts")
        self._check_images(files)
        return self._describe(self._store_images(account, model_id, str(category), files))

    def upload_urls(self, account: Account, model_id: str | None, category: str | None,
                    urls: Sequence[str]) -> tuple[Model, list[tuple[str, str]]]:
        """Fetch image URLs and add those that worked; return (model, [(url, why it failed)]).

        BadRequestError if none worked (then nothing is stored).
        """
        model_id = self._category_of(account, model_id, category)
        urls = self._check_urls(urls)
        fetched, failed = self._fetch_images(urls)
        if not fetched:
            raise BadRequestError("None of the URLs gave a PNG or JPEG image", errors=url_errors(failed))
        return self._describe(self._store_images(account, model_id, str(category), fetched)), failed

    def _category_of(self, account: Account, model_id: str | None, category: str | None) -> str:
        """The model's id, once it is known to be this account's and to have ``category`` (else 4xx)."""
        if not model_id:
            raise BadRequestError("Missing modelId", hint="Pass the model id as modelId")
        categories = self.store.model_categories(account.id, str(model_id))  # cheaper than the whole record
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

    def check_image(self, data: bytes) -> None:
        """InvalidImageError if the bytes are not a PNG or JPEG image within the server's limits."""
        check_image_bytes(data, max_pixels=self.max_pixels)

    def check_urls(self, urls: Sequence[str]) -> list[str]:
        """The URLs sent, stripped; BadRequestError if there are none or too many."""
        return self._check_urls(urls)

    def _check_images(self, files: Sequence[NamedBytes]) -> None:
        problems = []
        for name, data in files:
            try:
                check_image_bytes(data, max_pixels=self.max_pixels)
            except InvalidImageError as exc:
                problems.append((name, exc))
        if problems:
            first_name, first = problems[0]
            message = f"{first_name}: {first.message}" if len(problems) == 1 else (
                f"{len(problems)} of {len(files)} files are not valid PNG or JPEG images; nothing was stored")
            raise InvalidImageError(
                message,
                errors=[{"reason": "invalid_image", "message": f"{name}: {exc.message}"} for name, exc in problems],
            )

    def _store_images(self, account: Account, model_id: str, category: str, files: Sequence[NamedBytes]) -> ModelRecord:
        """Store the files and record them; return the model with them (fewer rows with dedupe)."""
        shas = self.store.put_images([data for _, data in files])
        items = [(category, sha, name[:500]) for (name, _), sha in zip(files, shas, strict=True)]
        _, record = self.store.add_images_and_read(account.id, model_id, items, dedupe=self.dedupe)
        if record is None:  # pragma: no cover - models are never deleted; checked by _category_of
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        return record

    def _check_urls(self, urls: Sequence[str]) -> list[str]:
        cleaned = [str(u).strip() for u in urls if str(u).strip()]
        if not cleaned:
            raise BadRequestError("Missing urls", hint="Pass one or more image URLs as urls")
        if len(cleaned) > _URLS_MAX:
            raise BadRequestError(f"Too many URLs ({len(cleaned)})", hint=f"Send at most {_URLS_MAX} per request")
        return cleaned

    def _fetch_images(self, urls: Sequence[str]) -> tuple[list[NamedBytes], list[tuple[str, str]]]:
        """Fetch and check every URL (concurrently); return ([(url, bytes)], [(url, why)]) in input order."""
        return self.fetch_all(urls, self.check_image)

    def fetch_all(self, urls: Sequence[str], check: Callable[[bytes], object]
                  ) -> tuple[list[NamedBytes], list[tuple[str, str]]]:
        """Fetch every URL (concurrently) and ``check`` its bytes (raising NanonetsError or ValueError for what
        cannot be used); return ([(url, bytes)], [(url, why)]) in input order."""

        def one(url: str) -> tuple[str, bytes | None, str]:
            try:
                data = self._fetch(url)
                check(data)
                return url, data, ""
            except (FetchError, NanonetsError, ValueError) as exc:
                return url, None, str(getattr(exc, "message", exc))
            except Exception as exc:  # a fetch must never take the request down
                log.warning("fetching %s failed unexpectedly: %r", url, exc)
                return url, None, f"Could not fetch ({type(exc).__name__})"

        if len(urls) == 1:
            results = [one(urls[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(_FETCH_WORKERS, len(urls)), thread_name_prefix="fetch") as pool:
                results = list(pool.map(one, urls))
        fetched = [(url, data) for url, data, _ in results if data is not None]
        failed = [(url, why) for url, data, why in results if data is None]
        return fetched, failed

    # ------------------------------------------------------------------ training

    def train(self, account: Account, model_id: str | None) -> Model:
        """Queue the model for training (answered at once); BadRequestError if it lacks images."""
        record = self._record(account, model_id)
        if len(record.categories) < 2:
            raise BadRequestError("A model needs at least two categories to train",
                                  hint="Create a model with two or more categories")
        short = [name for name in record.categories if record.counts[name] < self.min_images]
        if short:
            raise BadRequestError(
                "Model is not ready to train",
                hint="Upload at least {} images to each category; short: {}".format(
                    self.min_images, ", ".join(f"{n} ({record.counts[n]})" for n in short)),
            )
        return self.queue_training(account, record.id, describe=self._describe)

    def queue_training(self, account: Account, model_id: str, *, describe: TypeDescriber) -> Model:
        """Queue a training run of a model found ready, and describe it (queued or training)."""
        run, created = self.store.queue_run(model_id)
        record = self.store.model(account.id, model_id)
        assert record is not None
        model = describe(record)  # read before the worker can pick the run up: state 3 or 4
        if created:
            self._enqueue(run.id)
        return model

    def _enqueue(self, run_id: int) -> None:
        with self._idle:
            self._busy += 1
        self._queue.put(run_id)

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None or self._stopping.is_set():
                return
            try:
                self._train_run(run_id)
            except Exception:  # the worker must survive anything
                log.exception("training run %s crashed", run_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _train_run(self, run_id: int) -> None:
        run = self.store.start_run(run_id)
        if run is None:
            return
        record = self.store.model_by_id(run.model_id)
        if record is not None and record.type in self._types:
            try:
                self._types[record.type][0](run, record)
            except Exception as exc:
                if not isinstance(exc, ValueError):
                    log.exception("training run %s of model %s failed", run.id, run.model_id)
                self.store.fail_run(run.id, f"Training failed: {str(exc) or type(exc).__name__}")
            return
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
        self._check_images(files)
        return self._predict(record, classifier, files)

    def predict_urls(self, account: Account, model_id: str | None, urls: Sequence[str]) -> tuple[list[Prediction], int]:
        """Predict image URLs; return (one entry per URL in order, number that failed).

        A URL that failed has no scores and its ``message`` says why. BadRequestError if all failed.
        """
        record = self._record(account, model_id)
        classifier = self._classifier(record)
        urls = self._check_urls(urls)
        fetched, failed = self._fetch_images(urls)
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
            raise BadRequestError("Model is not trained yet",
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


def url_errors(failed: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The error details of URLs that could not be used: one per URL, machine-readable and readable."""
    return [{"reason": "bad_url", "url": url, "message": f"{url}: {why}"} for url, why in failed]


__all__ = ["Account", "Backend", "ClassifierCache", "key_hash", "url_errors", "Fetcher", "NamedBytes", "TypeTrainer",
           "TypeDescriber"]
