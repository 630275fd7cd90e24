"""Shared test helpers: a real local server in a subprocess, and small images made with Pillow.

Start a server (any test file may use these)::

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

import io
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Callable

import pytest

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


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """``server_factory(*args, data_dir=None, env=None)``: start a server, stopped at teardown.

    ``data_dir`` defaults to ``tmp_path / "server"`` (the same for each call of one test).
    """
    started: list[ServerProcess] = []

    def factory(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "server", args, env)
        started.append(server)
        return server.start()

    yield factory
    for server in started:
        server.stop()


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
