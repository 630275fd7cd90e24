"""Plain helpers shared by the test files: functions, classes and constants, no fixtures.

Fixtures (a per-test resource or setting: ``server_factory``, ``isolated_settings``, ``runner``,
``rsps``, ``sleeps``, ``client``) live in conftest.py, which pytest loads by itself. These are
imported by name, ``from helpers import make_image``: pytest puts tests/ on ``sys.path`` (the
default "prepend" import mode, tests/ being no package), as it does for apimock.py and faultproxy.py.

- a real local server in a subprocess: ``ServerProcess``, ``start_server``, ``URL_LINE``;
- images: ``make_image`` (bytes), ``write_image`` (a file);
- the SDK tests' key and its hygiene: ``KEY``, ``KEY_B64``, ``assert_key_hidden``; ``PATIENCE``;
- multipart bodies, three readers for three jobs: ``parse_multipart`` (werkzeug, as the server
  reads them), ``request_multipart`` (a ``responses`` request, as plain lists), ``multipart_parts``
  (the email package: every part in order, fields included, independent of werkzeug and the proxy);
- loopback networking: ``closed_port``, ``RawServer``;
- a running server or fake, over HTTP: ``counts``, ``upload_images``; through the SDK:
  ``model_counts``; through the CLI in a subprocess: ``run_cli``, ``cli_env``;
- ``load_script``: a file of scripts/ imported as a module.

Start a server::

    def test_something(server_factory, tmp_path):
        server = server_factory("--api-key", "k1")        # data in tmp_path/"server"
        requests.get(server.url + "/ImageCategorization/Models/", auth=("k1", ""))
        server.restart()                                   # same data dir, new port: server.url changes

or without the fixture ``server = start_server(tmp_path / "data", "--fail-rate", "1")`` and
``server.stop()`` yourself. Each start costs about a second: group assertions per server.

Images: ``make_image(color)`` gives PNG bytes; ``make_image(color, fmt="JPEG", size=(20, 30),
seed=3)`` adds a little noise so that images of one colour differ from each other.
"""
from __future__ import annotations

import base64
import email.parser
import email.policy
import importlib.util
import io
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

# ---------------------------------------------------------------------- a real local server in a subprocess

#: What the server prints once it accepts connections.
URL_LINE = re.compile(r"^http://\S+/api/v2$")
#: How long a server may take to print its URL (importing scikit-learn dominates).
START_TIMEOUT = 60.0


class ServerProcess:
    """``python -m nanoclient.server`` on port 0 in a subprocess, with the URL it printed.

    Started with ``--port 0 --data-dir DATA_DIR --min-images 5`` followed by ``args`` (later
    options win, so ``"--min-images", "3"`` overrides). Its stderr goes to ``log_path``.
    """

    def __init__(self, data_dir: Path, args: Sequence[str] = (), env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.args = [str(a) for a in args]
        self.env = env
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.stdout_lines: queue.Queue[str] = queue.Queue()

    @property
    def command(self) -> list[str]:
        """The command line that starts this server."""
        return [sys.executable, "-m", "nanoclient.server", "--port", "0", "--data-dir", str(self.data_dir),
                "--min-images", "5", *self.args]

    @property
    def root(self) -> str:
        """The server's root URL (where /healthz lives), without /api/v2."""
        return self.url[: -len("/api/v2")]

    def start(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Start the process and wait until it prints its URL; RuntimeError with its log if it does not."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("NANOCLIENT_SERVER_API_KEYS", None)
        env.update(self.env or {})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=self._log, env=env, text=True)
        self.stdout_lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.stdout_lines), daemon=True).start()
        try:
            while True:
                try:
                    line = self.stdout_lines.get(timeout=timeout)
                except queue.Empty:
                    raise RuntimeError(f"server printed no URL within {timeout:g} s:\n{self.log()}") from None
                if line is None:
                    self.proc.wait()
                    raise RuntimeError(
                        f"server exited with {self.proc.returncode} before printing its URL:\n{self.log()}")
                if URL_LINE.match(line.strip()):
                    self.url = line.strip()
                    return self
        except BaseException:
            self.kill()
            raise

    @staticmethod
    def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def log(self) -> str:
        """What the server wrote on stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit within ``timeout``; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self._closed()

    def kill(self) -> int | None:
        """SIGKILL at once (a crash, as far as the server is concerned); return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self._closed()

    def _closed(self) -> int | None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def restart(self, timeout: float = START_TIMEOUT) -> ServerProcess:
        """Stop and start again on the same data dir (the port, hence ``url``, changes)."""
        self.stop()
        return self.start(timeout)

    def __repr__(self) -> str:
        return f"ServerProcess({self.url or 'not started'}, data_dir={str(self.data_dir)!r})"


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = START_TIMEOUT) -> ServerProcess:
    """Start ``python -m nanoclient.server`` on port 0 with ``data_dir``; the caller stops it."""
    return ServerProcess(data_dir, args, env).start(timeout)


# ---------------------------------------------------------------------- images


def make_image(color: tuple[int, int, int], *, size: tuple[int, int] = (16, 16), fmt: str = "PNG",
               seed: int | None = None) -> bytes:
    """A small image of one colour (with mild noise when ``seed`` is given), encoded as ``fmt``."""
    from PIL import Image

    image = Image.new("RGB", size, color)
    if seed is not None:
        import random

        rng = random.Random(seed)
        pixels = image.load()
        for x in range(size[0]):
            for y in range(size[1]):
                pixels[x, y] = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in color)
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def colour_folder(root: Path, colours: dict[str, tuple[int, int, int]], counts: dict[str, int], *, start: int = 0,
                  size: tuple[int, int] = (16, 16)) -> list[Path]:
    """Write ``counts[category]`` noisy solid-colour PNGs (``colours[category]``) into ``root/<category>/``,
    numbered from ``start``: a labelled folder as the CLI reads one. The same numbers give the same bytes."""
    written = []
    for category, count in counts.items():
        (root / category).mkdir(parents=True, exist_ok=True)
        for i in range(start, start + count):
            path = root / category / f"{category.lower()}_{i:04d}.png"
            path.write_bytes(make_image(colours[category], size=size, seed=97 * i + len(category)))
            written.append(path)
    return written


def write_image(path: Path, color: tuple[int, int, int] = (200, 30, 30), *, size: tuple[int, int] = (16, 16),
                fmt: str = "PNG", seed: int | None = None) -> Path:
    """``make_image(color, ...)`` written to ``path`` (its folder made if need be); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_image(color, size=size, fmt=fmt, seed=seed))
    return path


# ---------------------------------------------------------------------- the SDK tests' key

#: The API key of the SDK and transport tests: shaped like a real one, so that a leak is noticed.
KEY = "sk-live-0123456789abcdefSECRET"
#: ``KEY`` as HTTP Basic credentials encode it (the key as user name, an empty password).
KEY_B64 = base64.b64encode(f"{KEY}:".encode()).decode()
#: How long a test waits for another thread before calling it a failure (never reached when all is well).
PATIENCE = 5.0


def assert_key_hidden(*things: object) -> None:
    """Neither ``KEY`` nor its Basic-auth encoding appears in the str() or repr() of any of ``things``."""
    for thing in things:
        for text in (str(thing), repr(thing)):
            assert KEY not in text and KEY_B64 not in text


# ---------------------------------------------------------------------- multipart bodies


def parse_multipart(body: bytes, content_type: str):
    """(form, files) of a multipart body as werkzeug MultiDicts, parsed by werkzeug as the server does."""
    from werkzeug.formparser import parse_form_data

    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(environ)
    return form, files


def request_multipart(request) -> tuple[dict[str, list[str]], list[tuple[str, str | None, str | None, bytes]]]:
    """(form as {name: [values]}, [(field, filename, content_type, bytes)]) of a multipart request
    as ``responses`` hands it to a callback (werkzeug parses it, as in ``parse_multipart``)."""
    content_type = request.headers["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = request.body if isinstance(request.body, bytes) else request.body.encode()
    form, files = parse_multipart(body, content_type)
    parts = [(field, f.filename, f.content_type, f.read()) for field, f in files.items(multi=True)]
    return form.to_dict(flat=False), parts


def multipart_parts(body: bytes, content_type: str) -> list[tuple[str | None, str | None, bytes]]:
    """(field name, file name, bytes) of every part in body order, form fields included, parsed by the
    email package (independently of werkzeug and of the fault proxy's own splitting)."""
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert msg.is_multipart()
    return [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True))
            for p in msg.iter_parts()]


# ---------------------------------------------------------------------- loopback networking


def closed_port() -> int:
    """A loopback port that nothing listens on (bound once, closed again): connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RawServer:
    """A TCP server on 127.0.0.1 that reads each request whole and answers with ``behaviour(conn)``.

    ``url`` is its base URL (…/api/v2), ``connections`` counts the connections accepted, ``received``
    holds each request's bytes (head and body). A connection is closed when ``behaviour`` returns (it
    may close it sooner itself); ``close()`` stops the server and closes any connection still open.
    """

    def __init__(self, behaviour: Callable[[socket.socket], object]) -> None:
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.received: list[bytes] = []
        self.open: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.open.append(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.received.append(_read_request(conn))
                self.behaviour(conn)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way (close() alone does not, on Linux)
        except OSError:
            pass
        self.sock.close()
        for conn in self.open:
            conn.close()
        self.thread.join(5)


def _read_request(conn: socket.socket) -> bytes:
    """One HTTP request: the head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


# ---------------------------------------------------------------------- a running server or fake


def counts(base_url: str, model_id: str, key: str, *, timeout: float = 30) -> dict[str, int]:
    """{category: image count} of a model, as ``GET Model/`` at ``base_url`` (…/api/v2) answers it."""
    answer = requests.get(f"{base_url}/ImageCategorization/Model/", params={"modelId": model_id}, auth=(key, ""),
                          timeout=timeout)
    assert answer.status_code == 200, answer.text
    return {c["name"]: c["count"] for c in answer.json()["categories"]}


def upload_images(base_url: str, model_id: str, category: str, images: Sequence[bytes], key: str, *,
                  timeout: float = 60) -> requests.Response:
    """``POST UploadFile/`` at ``base_url`` (…/api/v2): modelId and category in the query (the official
    wrapper's form), one ``file`` part per image, named 0.png, 1.png, ..."""
    files = [("file", (f"{i}.png", image, "image/png")) for i, image in enumerate(images)]
    return requests.post(f"{base_url}/ImageCategorization/UploadFile/",
                         params={"modelId": model_id, "category": category}, files=files, auth=(key, ""),
                         timeout=timeout)


def model_counts(model) -> dict[str, int]:
    """{category: image count} of an SDK ``Model``."""
    return {c.name: c.count for c in model.categories}


def cli_env(url: str, key: str, *, cache: Path, model_id: str = "", **extra: str) -> dict[str, str]:
    """The environment of a ``nanoclient`` subprocess against ``url`` with ``key``: its cache in ``cache``,
    no config file, NANONETS_MODEL_ID ``model_id`` (unset when empty), then the variables in ``extra``."""
    env = dict(os.environ, NANONETS_API_KEY=key, NANONETS_BASE_URL=url, NANOCLIENT_CACHE_DIR=str(cache),
               NANOCLIENT_CONFIG=str(cache / "none.ini"))
    env.pop("NANONETS_MODEL_ID", None)
    if model_id:
        env["NANONETS_MODEL_ID"] = model_id
    env.update(extra)
    return env


def run_cli(url: str, key: str, *args: object, cache: Path, model_id: str = "",
            timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m nanoclient ARGS`` in a subprocess with ``cli_env(url, key, cache=cache, model_id=model_id)``."""
    return subprocess.run([sys.executable, "-m", "nanoclient", *map(str, args)],
                          env=cli_env(url, key, cache=cache, model_id=model_id), capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------------- scripts/


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` (scripts/ is no package) imported as a module named after its file, registered in
    sys.modules (a script's dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def make_invoices(out: Path, *, train: int, test: int, seed: int) -> Path:
    """``out`` filled by scripts/make_invoices.py: train/ and test/ invoices with their annotations (JSON)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent.parent / "scripts" / "make_invoices.py"),
                    "--out", str(out), "--train", str(train), "--test", str(test), "--seed", str(seed)],
                   check=True, capture_output=True)
    return out


def annotated_documents(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Each document of ``folder`` with its annotation (the API's JSON beside it), by annotation file name."""
    return [(folder / entry["filename"], entry) for entry in
            (json.loads(path.read_text()) for path in sorted(folder.glob("*.json")))]


#: Skips a module of OCR tests where the engine is missing (scripts/test.sh installs it on Debian).
needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="Tesseract is not installed (scripts/test.sh installs tesseract-ocr)")
