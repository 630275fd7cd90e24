"""Fixtures shared by the test files: per-test resources and settings. Plain helpers (functions,
classes, constants) are in helpers.py, imported by name: ``from helpers import make_image``.

- ``server_factory``: real local servers in subprocesses, stopped at teardown;
- ``isolated_settings``: no key, URL or model id from the developer's environment or config file;
- ``runner``: click's CliRunner;
- ``rsps``, ``sleeps``, ``client``: the SDK against a mocked API (``responses``, see apimock.py).

Each test's lanes (markers unit, server, browser, ocr, slow) come from the table in lanes.py.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import lanes
import pytest
import responses
from apimock import BASE
from click.testing import CliRunner
from helpers import KEY, ServerProcess

from nanoclient import Client


@pytest.hookimpl(tryfirst=True)  # before -m deselects by the markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    lanes.apply(items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = terminalreporter.stats
    slow = lanes.slow_units(report for key in ("passed", "failed") for report in stats.get(key, []))
    if slow:
        terminalreporter.write_sep("-", f"unit tests over {lanes.UNIT_SECONDS:g} s: another lane, or slow, in "
                                        "tests/lanes.py? (or a busy machine)")
        for line in slow:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _unit_lane_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that starts a server, Tesseract or Chromium fails, naming the lane it belongs in."""
    if request.node.get_closest_marker("unit") is not None:
        lanes.guard_unit(request.node, monkeypatch)


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


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, URL or model id from the developer's environment or config file; a private cache.

    A test module that wants it for every test says ``pytestmark = pytest.mark.usefixtures("isolated_settings")``
    (or builds its own autouse fixture on it).
    """
    for name in ("NANONETS_API_KEY", "NANONETS_BASE_URL", "NANONETS_MODEL_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NANOCLIENT_CONFIG", str(tmp_path / "config.ini"))
    monkeypatch.setenv("NANOCLIENT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """A ``responses`` mock for this test; requests it was not told about fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    """Where the ``client`` fixture records the retry waits it was asked to sleep."""
    return []


@pytest.fixture
def client(rsps: responses.RequestsMock, sleeps: list[float]) -> Iterator[Client]:
    """A Client with ``helpers.KEY`` for ``apimock.BASE`` whose retry waits are recorded instead of slept."""
    with Client(KEY, BASE) as c:
        c._transport._sleep = sleeps.append
        yield c
