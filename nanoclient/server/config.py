"""The settings of one local server (or in-process fake), gathered in one place."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# The wire facts the SDK shares (the API's root, the local extension's, the Nanoclient-* headers):
# defined in nanoclient._wire, named here too for the server's modules.
from .._wire import API_ROOT as API_ROOT
from .._wire import DEDUPE_BY_SHA256 as DEDUPE_BY_SHA256
from .._wire import DEDUPE_HEADER as DEDUPE_HEADER
from .._wire import LOCAL_ROOT as LOCAL_ROOT
from .._wire import SERVER_HEADER as SERVER_HEADER
from .._wire import SERVER_LOCAL as SERVER_LOCAL

#: Environment variable with the accepted API keys, comma-separated.
API_KEYS_ENV = "NANOCLIENT_SERVER_API_KEYS"
#: Where ``nanoclient serve`` listens by default: loopback only, so no key is needed.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Worker threads of waitress: four times the 8 upload requests one client keeps in flight,
#: so that the server's concurrency never limits a client, or a few at once.
DEFAULT_THREADS = 32


@dataclass(frozen=True)
class ServerConfig:
    """What ``nanoclient serve`` was asked for: storage, keys, limits, kindnesses and injected faults.

    The kindnesses (``dedupe``, results in input order) are what the hosted service does not
    promise (docs/api.md); each can be dropped so that client tests catch code relying on it.

    The field defaults are the server's defaults, in this one place: the ``serve`` options,
    the backend and ``nanoclient.testing`` read them as class attributes (``ServerConfig.min_images``).
    """

    data_dir: Path
    #: Accepted API keys; empty means any non-empty key is accepted and is its own account.
    api_keys: tuple[str, ...] = ()
    #: Images every category needs before the model can be trained.
    min_images: int = 25
    #: Delay added to every API response, in milliseconds.
    latency_ms: float = 0.0
    #: Fraction (0..1) of API requests answered with 503 before doing anything.
    fail_rate: float = 0.0
    #: Fraction (0..1) of mutating requests (POST) processed, then answered with a 500 or a
    #: dropped connection instead of their 2xx answer (half each).
    fail_after_rate: float = 0.0
    #: Count identical bytes uploaded to the same model and category once (and say so in
    #: DEDUPE_HEADER); off, every file part counts.
    dedupe: bool = True
    #: Answer LabelFile and LabelUrls results in a random order instead of input order.
    shuffle_results: bool = False
    #: Largest request body accepted, in megabytes (413 beyond).
    max_upload_mb: float = 32.0
    #: Timeout and size cap for fetching image URLs.
    fetch_timeout: float = 10.0
    fetch_max_bytes: int = 20 * 1024 * 1024
    #: Seed for --fail-rate, --fail-after-rate and --shuffle-results, for reproducible tests (None: random).
    fail_seed: int | None = None
    #: Trained classifiers kept loaded for predictions, at most: those of the models most recently
    #: used; a model beyond them loads its classifier from disk again. This bounds the server's memory.
    classifier_cache: int = 8
    #: Train in a child process (``trainer_process``): the memory training takes goes back to the system
    #: when it ends, running out of it fails the run instead of the server, and the server's threads keep
    #: answering meanwhile. The in-process fake trains in its own process.
    train_in_child: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "api_keys", tuple(k for k in self.api_keys if k))
        if self.min_images < 1:
            raise ValueError("min_images must be at least 1")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if not 0.0 <= self.fail_after_rate <= 1.0:
            raise ValueError("fail_after_rate must be between 0 and 1")
        if self.latency_ms < 0:
            raise ValueError("latency_ms cannot be negative")
        if self.max_upload_mb <= 0:
            raise ValueError("max_upload_mb must be positive")
        if self.classifier_cache < 1:
            raise ValueError("classifier_cache must be at least 1")

    @property
    def max_upload_bytes(self) -> int:
        """The request body limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


def keys_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The API keys listed in NANOCLIENT_SERVER_API_KEYS (comma-separated, blanks ignored)."""
    raw = (os.environ if env is None else env).get(API_KEYS_ENV, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())
