"""The SDK's entry point: a connection to the Nanonets API, and its operations per model type.

    from nanoclient import Client
    with Client() as client:                       # NANONETS_API_KEY, NANONETS_BASE_URL
        model = client.create_model(["Bag", "Coat"])
        report = client.upload_files(model.id, [("bag1.jpg", "Bag"), ("coat1.jpg", "Coat")])
        client.train(model.id)
        client.wait_until_trained(model.id)
        print(client.predict_file(model.id, "photo.jpg").label)

The client holds the settings and the pooled connection (``_transport``); the operations of each model
type are a resource (``client.image_categorization``: ``_image_categorization.py``, whose methods are
also the client's own, as above). A Client is safe to share between threads.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ._env import API_KEY_ENV, BASE_URL_ENV, HOSTED_BASE_URL, mask_key
from ._transport import Transport, is_loopback_host
from ._tuning import DEFAULT_PREDICT_BATCH_SIZE, DEFAULT_PREDICT_WORKERS, DEFAULT_UPLOAD_WORKERS, MAX_WORKERS
from ._version import __version__
from .image_categorization._resource import LOCAL_SERVER, LOCAL_SERVER_HEADER, ImageCategorization
from .multilabel._resource import Multilabel
from .object_detection._resource import ObjectDetection
from .ocr._resource import Ocr

#: The hosted API, used when neither ``base_url`` nor NANONETS_BASE_URL is given.
DEFAULT_BASE_URL = HOSTED_BASE_URL
#: Seconds a single request may take before it counts as timed out.
DEFAULT_TIMEOUT = 30.0
#: Extra attempts after a failed request (see ``_transport`` for which failures are retried).
DEFAULT_MAX_RETRIES = 3


class Client(ImageCategorization):
    """A connection to the Nanonets API (hosted, or ``nanoclient serve``), holding one pooled session.

    ``api_key`` defaults to $NANONETS_API_KEY and ``base_url`` to $NANONETS_BASE_URL, then
    to the hosted API. ``timeout`` applies to each attempt, ``max_retries`` is the number of
    extra attempts after a retryable failure, and ``deadline`` (seconds, None: no limit) bounds
    the time a request may take in all, retries and waits included. Each retry is logged on the
    ``nanoclient`` logger at INFO. Use it as a context manager, or call ``close()``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        deadline: float | None = None,
    ) -> None:
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            raise ValueError("No API key: set NANONETS_API_KEY or pass api_key (get a key at app.nanonets.com, "
                             "or use any key with a local `nanoclient serve`)")
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).strip().rstrip("/")
        _check_base_url(url)
        #: The API root, e.g. ``https://app.nanonets.com/api/v2`` (no trailing slash).
        self.base_url = url
        self._key_hint = mask_key(key)
        self._transport = Transport(
            url, key, timeout=timeout, max_retries=max_retries, deadline=deadline, pool_size=MAX_WORKERS,
            user_agent=f"nanoclient/{__version__}",
        )
        # Injectable clock for wait_until_trained, so tests need not wait.
        self._sleep: Callable[[float], object] = time.sleep
        self._monotonic: Callable[[], float] = time.monotonic

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, api_key={self._key_hint!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def ocr(self) -> Ocr:
        """The OCR operations (docs/OCR-API.md): ``client.ocr.create_model(fields)``, ``upload``, ``train``,
        ``predict_file``, ``submit_file`` / ``wait_for``, ``inferences``, over this client's connection."""
        return Ocr(self._transport, sleep=self._sleep, monotonic=self._monotonic)

    @property
    def object_detection(self) -> ObjectDetection:
        """The object detection operations: ``client.object_detection.create_model(categories)``, ``upload``,
        ``train``, ``predict_file(s)``, over this client's connection."""
        return ObjectDetection(self._transport, sleep=self._sleep, monotonic=self._monotonic)

    @property
    def multilabel(self) -> Multilabel:
        """The multi-label classification operations: ``client.multilabel.create_model(labels)``, ``upload``,
        ``train``, ``predict_file(s)``, over this client's connection."""
        return Multilabel(self._transport, sleep=self._sleep, monotonic=self._monotonic)

    @property
    def image_categorization(self) -> ImageCategorization:
        """The Image Categorization operations (this client's own methods: ``client.create_model`` is
        ``client.image_categorization.create_model``), beside the resources of other model types."""
        return self

    def close(self) -> None:
        """Close the pooled connections (the client can still be used; it reconnects)."""
        self._transport.close()



# ---------------------------------------------------------------------- helpers


def _check_base_url(url: str) -> None:
    """Refuse URLs that are not http(s), and plain http to anything but this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Echoed only when it looks like a URL: a key passed as the base URL (arguments swapped)
        # must not end up in a traceback or a log.
        shown = f" {url!r}" if "://" in url and "@" not in url else ""
        raise ValueError(
            f"Invalid base URL{shown}: use e.g. https://app.nanonets.com/api/v2 or http://127.0.0.1:8765/api/v2")
    if parts.username or parts.password:
        raise ValueError("The base URL must not contain credentials: pass the key as api_key")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"Refusing to send the API key over plain http:// to {parts.hostname}: "
            "use https://, or http:// only to this machine (127.0.0.1, ::1, localhost)")


__all__ = [
    "Client",
    "DEFAULT_BASE_URL",
    "DEFAULT_UPLOAD_WORKERS",
    "DEFAULT_PREDICT_BATCH_SIZE",
    "DEFAULT_PREDICT_WORKERS",
    "MAX_WORKERS",
    "LOCAL_SERVER_HEADER",
    "LOCAL_SERVER",
]
