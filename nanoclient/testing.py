"""An in-process fake of the Nanonets API for your tests: no port, no network, real behaviour.

Requests that ``requests`` sends to the fake's base URL are answered by the local server's
own app and backend (real storage in a temporary folder, real training), through
``responses`` callbacks, the way moto fakes AWS::

    from nanoclient import Client
    from nanoclient.testing import fake_nanonets

    with fake_nanonets() as fake:                 # https://app.nanonets.com/api/v2 by default
        client = Client(api_key="test-key", base_url=fake.base_url)
        model = client.create_model(["Bag", "Coat"])
        ...
        fake.backend                              # the server backend, for inspection

With pytest, the ``nanonets_fake`` fixture (registered automatically when nanoclient is
installed) does the same and also sets NANONETS_API_KEY and NANONETS_BASE_URL, so code
that builds ``Client()`` from the environment talks to the fake::

    def test_my_pipeline(nanonets_fake):
        model = Client().create_model(["Bag", "Coat"])

Requests to any other URL are passed through to the real network untouched (so a test can
serve images from a local ``http.server`` and give their URLs to ``upload_urls``). To keep
those offline too, register them on ``fake.mock``, the ``responses.RequestsMock`` in use:
``fake.mock.add(responses.GET, "https://example.com/a.png", body=png_bytes)``; the fake's
own URL fetching goes through the same mock.

Training runs on a background thread as in ``nanoclient serve``; ``wait_until_trained``
with a short ``poll_interval`` works, and ``fake.wait_idle()`` waits for it directly.

Every model type the server has is served (the server's registry): OCR models (``client.ocr``: the
OCR, ObjectDetection and Inferences paths of docs/OCR-API.md, reading pages with the system's
Tesseract as ``nanoclient serve`` does; PDFs need the ``nanoclient[ocr]`` extra), multi-label models
(``client.multilabel``) and object detection models (``client.object_detection``, on the
ObjectDetection paths OCR shares, by the model's type); their prediction answers are shuffled like
the others.

The fake is as unkind as the hosted service may be (docs/api.md, "What the hosted service does
not promise"), not as kind as ``nanoclient serve``: by default it does not deduplicate
uploads (identical bytes sent twice count twice, and no ``Nanoclient-Dedupe`` header is
sent) and it answers prediction results in a random order. The hosted service promises
neither, so a test against the fake catches code that relies on them: code that resends an
upload blindly, or matches predictions to inputs by position rather than by ``file``.
``fake_nanonets(dedupe=True, shuffle_results=False)`` gives back the local server's
kindnesses; ``fail_after_rate`` adds failures after processing (a 500, or a dropped
connection raised as ``requests.exceptions.ConnectionError``). Those two defaults and
``min_images`` (5, so that tests train fast) are the only ones that differ from
``nanoclient serve``'s; every other default is the server's own (``ServerConfig``).

Nothing heavy is imported until a fake starts, so loading this pytest plugin costs nothing.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .server.config import ServerConfig  # light: the standard library only

if TYPE_CHECKING:
    import responses
    from flask import Flask
    from requests import PreparedRequest

    from .server.backend import Backend

#: The hosted API's base URL: the fake answers there unless told otherwise.
DEFAULT_BASE_URL = "https://app.nanonets.com/api/v2"
#: The key the pytest fixture puts in NANONETS_API_KEY.
DEFAULT_API_KEY = "test-key"
#: Where the fake deliberately differs from ``nanoclient serve`` (whose defaults are ServerConfig's):
#: fewer images per category to train, so tests stay fast; no deduplication and prediction results
#: in any order, as the hosted service may do (docs/api.md, "What the hosted service does not promise").
DEFAULT_MIN_IMAGES = 5
DEFAULT_DEDUPE = False
DEFAULT_SHUFFLE_RESULTS = True


class FakeNanonets:
    """A running fake: where it answers, and the backend and app behind it."""

    def __init__(self, base_url: str, api_key: str, data_dir: Path, backend: Backend, app: Flask,
                 mock: responses.RequestsMock) -> None:
        #: The base URL the fake answers (no trailing slash).
        self.base_url = base_url
        #: A key the fake accepts (any non-empty key does, unless ``api_keys`` was given).
        self.api_key = api_key
        #: The folder holding the fake's database, images and classifiers.
        self.data_dir = data_dir
        #: The server backend.
        self.backend = backend
        #: The Flask app that answers the requests.
        self.app = app
        #: The ``responses.RequestsMock`` routing requests; add your own mocks to it.
        self.mock = mock
        #: How many requests the fake answered.
        self.request_count = 0

    def wait_idle(self, timeout: float | None = 60.0) -> bool:
        """Block until no training is queued or running; False if ``timeout`` ran out first."""
        return self.backend.wait_idle(timeout)

    def __repr__(self) -> str:
        return f"FakeNanonets({self.base_url!r}, data_dir={str(self.data_dir)!r})"


@contextmanager
def fake_nanonets(
    base_url: str = DEFAULT_BASE_URL,
    *,
    api_keys: Sequence[str] = ServerConfig.api_keys,
    min_images: int = DEFAULT_MIN_IMAGES,
    data_dir: str | Path | None = None,
    latency_ms: float = ServerConfig.latency_ms,
    fail_rate: float = ServerConfig.fail_rate,
    fail_after_rate: float = ServerConfig.fail_after_rate,
    fail_seed: int | None = ServerConfig.fail_seed,
    dedupe: bool = DEFAULT_DEDUPE,
    shuffle_results: bool = DEFAULT_SHUFFLE_RESULTS,
    max_upload_mb: float = ServerConfig.max_upload_mb,
    trainer: object | None = None,
) -> Iterator[FakeNanonets]:
    """Answer every request to ``base_url`` in-process for the duration of the block.

    ``api_keys`` restricts the keys accepted (default: any non-empty key, one account per
    key); ``data_dir`` keeps the data somewhere you choose (default: a temporary folder
    removed afterwards); the other options are those of ``nanoclient serve``.
    ``trainer`` replaces the image classifier's learner (its protocol: ``server/image_categorization/protocols.py``).

    Unlike ``nanoclient serve``, ``dedupe`` is off and ``shuffle_results`` on by default:
    the hosted service promises neither, so code tested against the fake must not rely on
    them. Pass ``dedupe=True, shuffle_results=False`` to test against the local server's
    behaviour instead. With ``fail_after_rate`` a fraction of model creations, uploads and
    Train requests is processed and then answered with a 500 or, half of the time, fails as
    a dropped connection (``requests.exceptions.ConnectionError``); ``fail_seed`` makes the
    failures and the shuffling reproducible.
    """
    import responses

    from .server.app import create_app
    from .server.backend import Backend

    base = base_url.rstrip("/")
    temp_dir = None
    if data_dir is None:
        temp_dir = tempfile.mkdtemp(prefix="nanoclient-fake-")
        data_dir = temp_dir
    config = ServerConfig(
        data_dir=Path(data_dir),
        api_keys=tuple(api_keys or ()),  # None, the former default, too
        min_images=min_images,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        fail_after_rate=fail_after_rate,
        fail_seed=fail_seed,
        dedupe=dedupe,
        shuffle_results=shuffle_results,
        max_upload_mb=max_upload_mb,
        train_in_child=False,  # no process to start per training in a user's tests
    )
    backend = Backend.from_config(config, trainer=trainer)
    try:
        app = create_app(config, backend)
        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        key = config.api_keys[0] if config.api_keys else DEFAULT_API_KEY
        fake = FakeNanonets(base, key, config.data_dir, backend, app, mock)
        ours = re.compile(re.escape(base) + r"(?:[/?#].*)?$")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            mock.add_callback(method, ours, callback=lambda request: _dispatch(fake, request))
        mock.add_passthru(re.compile(r"^(?!" + re.escape(base) + r"(?:[/?#]|$))"))
        with mock:
            yield fake
    finally:
        backend.close(wait=True)
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _dispatch(fake: FakeNanonets, request: PreparedRequest) -> tuple[int, dict[str, str], bytes]:
    """Answer one intercepted ``requests.PreparedRequest`` with the app (a responses callback).

    An answer the app marked to be dropped (``fail_after_rate``) raises ConnectionError instead.
    """
    from urllib.parse import urlsplit

    from .server.app import DROP_MARKER
    from .server.config import API_ROOT, SERVER_HEADER

    fake.request_count += 1
    parts = urlsplit(request.url or "")
    base_path = urlsplit(fake.base_url).path.rstrip("/")
    path = parts.path[len(base_path):] if parts.path.startswith(base_path) else parts.path
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in ("content-length", "host")]
    client = fake.app.test_client()  # one per call: callbacks run on the caller's threads
    response = client.open(
        API_ROOT + path,
        method=request.method or "GET",
        headers=headers,
        data=_body_bytes(request.body),
        query_string=parts.query,
    )
    if DROP_MARKER in response.headers:
        raise _dropped_connection(request)
    # the hosted service says nothing of being a local server, and the fake answers its paths only
    dropped = ("content-length", SERVER_HEADER.lower())
    out_headers = {k: v for k, v in response.headers.items() if k.lower() not in dropped}
    return response.status_code, out_headers, response.get_data()


def _dropped_connection(request: PreparedRequest) -> Exception:
    """What ``requests`` raises when the connection breaks after the request went out.

    A plain ConnectionError around urllib3's ProtocolError, as for a real broken connection;
    not a NewConnectionError, which would say that nothing was sent.
    """
    import errno

    import requests
    from urllib3.exceptions import ProtocolError

    reset = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
    cause = ProtocolError("Connection aborted by the fake after processing the request (fail_after_rate)", reset)
    return requests.exceptions.ConnectionError(cause, request=request)


def _body_bytes(body: object) -> bytes:
    """A request body as ``requests`` prepared it (none, bytes, text, a file or an iterable of chunks), as bytes."""
    if body is None:
        return b""
    if isinstance(body, (str, bytes)):
        return _as_bytes(body)
    read = getattr(body, "read", None)
    if callable(read):
        return _as_bytes(read())
    if isinstance(body, Iterable):
        return b"".join(_as_bytes(chunk) for chunk in body)
    raise TypeError(f"cannot send a request body of type {type(body).__name__}")


def _as_bytes(data: object) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"cannot send {type(data).__name__} in a request body")


try:  # the fixture exists only where pytest does (it is a test extra)
    import pytest
except ImportError:  # pragma: no cover
    pass
else:

    @pytest.fixture
    def nanonets_fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeNanonets]:
        """A running ``fake_nanonets()`` with NANONETS_API_KEY and NANONETS_BASE_URL pointing at it.

        Its defaults are the fake's: no deduplication, results shuffled (see ``fake_nanonets``).
        """
        with fake_nanonets(data_dir=tmp_path / "nanonets-fake") as fake:
            monkeypatch.setenv("NANONETS_API_KEY", fake.api_key)
            monkeypatch.setenv("NANONETS_BASE_URL", fake.base_url)
            monkeypatch.delenv("NANONETS_MODEL_ID", raising=False)
            yield fake


__all__ = ["FakeNanonets", "fake_nanonets", "DEFAULT_BASE_URL", "DEFAULT_API_KEY", "nanonets_fake"]
