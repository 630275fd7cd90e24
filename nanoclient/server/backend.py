"""The local server's shared domain: accounts, model records and states, the training queue, URL fetching.

Every model type's rules live in its own folder (``server/<type>/models.py``), a *part* made on this
backend on first use (``Backend.part``, from the type's ``model_types.ModelType`` in ``registry.py``);
each part registers how its models train and how the API shows them (``register_type``). The same
backend serves ``nanoclient serve`` (through waitress) and ``nanoclient.testing`` (through ``responses``
callbacks). It raises the shared errors of ``nanoclient.errors``; the HTTP layer renders them. It knows
nothing of requests, responses or SQL, and names no model type.

Model state (docs/api.md) is derived, never stored, from the training items and the newest training run:

    newest run queued                          -> 3
    newest run training                        -> 4
    newest run done, no item added since       -> 5
    newest run failed, no item added since     -> -1 (status says why)
    otherwise, by the item counts              -> 0 (none), 1 (a category below minimum), 2 (ready)

Predictions always use the newest finished run, whatever the state says.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import (
    OTHER_MODEL_TYPE_REASON,
    AuthenticationError,
    BadRequestError,
    InvalidImageError,
    NanonetsError,
    NotFoundError,
)
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
)
from .config import ServerConfig
from .fetch import FetchError, fetch_url
from .model_types import ModelType, Part
from .store import RUN_DONE, RUN_FAILED, RUN_QUEUED, RUN_TRAINING, ModelRecord, RunRecord, Store

log = logging.getLogger("nanoclient.server")

#: Fetches one URL and returns its bytes, raising FetchError.
Fetcher = Callable[[str], bytes]
#: A file received for upload or prediction: (file name, bytes).
NamedBytes = tuple[str, bytes]
#: Trains one run of a model of a type (registered with ``Backend.register_type``).
TypeTrainer = Callable[[RunRecord, ModelRecord], None]
#: Describes a model of a type as the API shows it.
TypeDescriber = Callable[[ModelRecord], Model]

_URLS_MAX = 1000
#: The longest name of a category (label, field) a model may have.
NAME_MAX = 200
_FETCH_WORKERS = 8


@dataclass(frozen=True)
class Account:
    """Who is calling: one per API key (identified by the key's sha256, never the key)."""

    id: int


def key_hash(api_key: str) -> str:
    """The sha256 of an API key, the only form in which keys are stored."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class Backend:
    """Accounts, model records, the training queue and URL fetching over one ``Store``, and the parts of
    the model types (``part``).

    ``types`` are the model types served (default: ``registry.TYPES``). ``learner`` replaces a type's
    default learner (tests give a stand-in: the image classifier's trainer). ``fetcher`` fetches URLs
    (default: ``fetch.fetch_url`` with the given limits). ``dedupe`` counts identical bytes in the same
    model and category once; off, every uploaded file counts. ``classifier_cache`` is how many trained
    models a type keeps loaded; ``train_in_child`` lets a type train in a child process. The other
    defaults are ServerConfig's. ``Backend.from_config`` opens and starts one.
    """

    def __init__(
        self,
        store: Store,
        *,
        api_keys: Sequence[str] = ServerConfig.api_keys,
        min_images: int = ServerConfig.min_images,
        trainer: object | None = None,
        fetcher: Fetcher | None = None,
        fetch_timeout: float = ServerConfig.fetch_timeout,
        fetch_max_bytes: int = ServerConfig.fetch_max_bytes,
        max_pixels: int = MAX_PIXELS,
        dedupe: bool = ServerConfig.dedupe,
        classifier_cache: int = ServerConfig.classifier_cache,
        train_in_child: bool = False,
        types: Sequence[ModelType[Any]] | None = None,
    ) -> None:
        if min_images < 1:
            raise ValueError("min_images must be at least 1")
        if classifier_cache < 1:
            raise ValueError("the classifier cache holds at least 1 classifier")
        self.store = store
        self.min_images = int(min_images)
        #: Whether identical bytes in the same model and category count once.
        self.dedupe = bool(dedupe)
        self.max_pixels = max_pixels
        #: A stand-in learner for a type (None: the type's own).
        self.learner = trainer
        #: How many trained models a type keeps loaded.
        self.classifier_cache = int(classifier_cache)
        #: Whether a type that can train in a child process does.
        self.train_in_child = bool(train_in_child)
        self._keys = [k.encode("utf-8") for k in api_keys if k]
        self._fetch: Fetcher = fetcher or (
            lambda url: fetch_url(url, timeout=fetch_timeout, max_bytes=fetch_max_bytes)
        )
        self._accounts: dict[str, int] = {}
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._busy = 0  # runs queued in memory or being trained
        self._idle = threading.Condition()
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        if types is None:
            from .registry import TYPES

            types = TYPES
        #: The model types served, by name.
        self.types: dict[str, ModelType[Any]] = {model_type.name: model_type for model_type in types}
        self._parts: dict[str, Any] = {}
        self._parts_lock = threading.RLock()
        #: Each type's training and description, by type (``register_type``).
        self._types: dict[str, tuple[TypeTrainer, TypeDescriber]] = {}
        #: What each type stops when the backend closes (``register_type``), by type.
        self._closers: dict[str, Callable[[bool], object]] = {}

    def part(self, model_type: ModelType[Part]) -> Part:
        """The type's domain part on this backend, made on first use (thread-safe)."""
        with self._parts_lock:
            made = self._parts.get(model_type.name)
            if made is None:
                made = self._parts[model_type.name] = model_type.make(self)
            return made

    def register_type(self, model_type: str, *, train: TypeTrainer, describe: TypeDescriber,
                      close: Callable[[bool], object] | None = None) -> None:
        """Let the training queue and the model list serve a model type (its part calls this when made);
        ``close(wait)`` stops its own threads when the backend closes, before the store does."""
        self._types[model_type] = (train, describe)
        if close is not None:
            self._closers[model_type] = close

    def _served(self, name: str) -> tuple[TypeTrainer, TypeDescriber] | None:
        """The training and description of a stored model's type, its part made if it is not yet."""
        if name not in self._types and name in self.types:
            self.part(self.types[name])
        return self._types.get(name)

    @classmethod
    def from_config(cls, config: ServerConfig, *, trainer: object | None = None,
                    fetcher: Fetcher | None = None) -> Backend:
        """A started backend on the store in ``config.data_dir``, with the config's keys, limits and dedupe.

        Opening the store sweeps it; starting takes up training left unfinished by a stop or crash.
        """
        store = Store(config.data_dir)
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
                train_in_child=config.train_in_child,
            ).start()
        except BaseException:
            store.close()
            raise

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
        for close_type in list(self._closers.values()):
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

    def list_models(self, account: Account) -> list[Model]:
        """Every model of the account, of every type, oldest first."""
        return [served[1](record) for record in self.store.models(account.id)
                if (served := self._served(record.type)) is not None]

    def record(self, account: Account, model_id: str | None, model_type: str) -> ModelRecord:
        """The account's model of that type; BadRequestError without an id, NotFoundError if the account has no
        such model or it is of another type (whose paths the error names)."""
        if not model_id:
            raise BadRequestError("Missing modelId", hint="Pass the model id as modelId")
        record = self.store.model(account.id, str(model_id))
        if record is None:
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        if record.type != model_type:
            raise NotFoundError(f"Model {record.id} is of type {record.type!r}, not {model_type!r}", errors=[
                {"reason": OTHER_MODEL_TYPE_REASON, "model_type": record.type, "message": "Use the paths of its type"}])
        return record

    @staticmethod
    def names(given: Sequence[str], *, noun: str = "category", hint: str | None = None, most: int | None = None,
              longest: int = NAME_MAX) -> list[str]:
        """The names a new model is created with (its categories, labels or fields: ``noun``): non-empty,
        distinct, at most ``most`` of them, none longer than ``longest``; else BadRequestError (``hint`` for
        names that are not that)."""
        plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
        try:
            names = unique_categories(list(given))
        except ValueError as exc:
            message = str(exc)
            for word, said in (("categories", plural), ("category", noun)):
                message = message.replace(word, said).replace(word.capitalize(), said.capitalize())
            raise BadRequestError(message, hint=hint) from None
        if most is not None and len(names) > most:
            raise BadRequestError(f"Too many {plural} ({len(names)})", hint=f"A model has at most {most}")
        if any(len(name) > longest for name in names):
            raise BadRequestError(f"{noun.capitalize()} name longer than {longest} characters",
                                  hint="Use shorter names")
        return names

    def describe(self, record: ModelRecord, *, items: str = "images", label: str = "category",
                 languages: Sequence[str] = ()) -> Model:
        """The model as the API shows it: its type, state and status (``model_state``), the accuracy and
        category counts of its newest training, and the local server's extensions (``min_images``,
        ``accuracy_images``, a document model's ``languages``)."""
        state, status = self.model_state(record, items=items, label=label)
        done = record.done_run
        return Model(
            id=record.id, type=record.type, state=state, status=status,
            accuracy=None if done is None or done.accuracy is None else float(done.accuracy),
            categories=[Category(name, record.counts.get(name, 0)) for name in record.categories],
            min_images=self.min_images,  # a local extension: the hosted API says no such thing
            accuracy_images=None if done is None else done.accuracy_images,  # likewise
            languages=list(languages),
        )

    def model_state(self, record: ModelRecord, *, items: str = "images", label: str = "category") -> tuple[int, str]:
        """The model's state and status, derived from its runs and counts (``items``: what it is trained on,
        ``label``: what they are counted by, e.g. documents by field)."""
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

    def check_image(self, data: bytes) -> None:
        """InvalidImageError if the bytes are not a PNG or JPEG image within the server's limits."""
        check_image_bytes(data, max_pixels=self.max_pixels)

    def check_urls(self, urls: Sequence[str]) -> list[str]:
        """The URLs sent, stripped; BadRequestError if there are none or too many."""
        return self._check_urls(urls)

    def check_images(self, files: Sequence[NamedBytes]) -> None:
        """InvalidImageError naming every file that is not a PNG or JPEG image within the server's limits."""
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

    def _check_urls(self, urls: Sequence[str]) -> list[str]:
        cleaned = [str(u).strip() for u in urls if str(u).strip()]
        if not cleaned:
            raise BadRequestError("Missing urls", hint="Pass one or more image URLs as urls")
        if len(cleaned) > _URLS_MAX:
            raise BadRequestError(f"Too many URLs ({len(cleaned)})", hint=f"Send at most {_URLS_MAX} per request")
        return cleaned

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
        served = None if record is None else self._served(record.type)
        if record is None or served is None:
            self.store.fail_run(run.id, "Training failed: this server does not serve the model's type")
            return
        try:
            served[0](run, record)
        except Exception as exc:
            if not isinstance(exc, ValueError):
                log.exception("training run %s of model %s failed", run.id, run.model_id)
            self.store.fail_run(run.id, f"Training failed: {str(exc) or type(exc).__name__}")


def url_errors(failed: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """The error details of URLs that could not be used: one per URL, machine-readable and readable."""
    return [{"reason": "bad_url", "url": url, "message": f"{url}: {why}"} for url, why in failed]


__all__ = ["Account", "Backend", "key_hash", "url_errors", "Fetcher", "NamedBytes", "TypeTrainer",
           "TypeDescriber"]
