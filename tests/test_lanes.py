"""The lanes table (tests/lanes.py) covers every test file, names only tests that exist, agrees with the
markers pyproject.toml registers, and the unit lane refuses what belongs in another."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lanes
import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def test_every_test_file_is_in_the_table_and_the_table_names_only_files_that_exist():
    files = {path.name for path in TESTS.glob("test_*.py")}
    assert sorted(files - set(lanes.FILES)) == [], "add these to FILES in tests/lanes.py"
    assert sorted(set(lanes.FILES) - files) == [], "these files of FILES in tests/lanes.py are gone"
    assert sorted(set(lanes.TESTS) - files) == []


def test_each_file_and_test_has_a_kind_and_unit_has_no_other():
    for lanes_ in [*lanes.FILES.values(), *(t for tests in lanes.TESTS.values() for t in tests.values())]:
        assert set(lanes_) <= set(lanes.LANES) and set(lanes_) & set(lanes.KINDS), lanes_
        assert "unit" not in lanes_ or not set(lanes_) & {"server", "browser", "ocr"}, lanes_


def test_the_tests_named_one_by_one_exist():
    for file, tests in lanes.TESTS.items():
        defined = {node.name for node in ast.walk(ast.parse((TESTS / file).read_text()))
                   if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert sorted(set(tests) - defined) == [], f"tests/lanes.py names tests {file} no longer has"


def test_pyproject_registers_the_markers_strictly():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in options["addopts"].split()
    registered = dict(line.split(": ", 1) for line in options["markers"])
    assert registered == lanes.MEANING


class _Mark:
    def __init__(self, name: str, **kwargs: object) -> None:
        self.name, self.kwargs = name, kwargs


def test_lanes_come_from_the_file_the_test_its_fixtures_and_its_skips():
    assert lanes.lanes_of("test_store.py", "test_x", [], []) == ("unit",)
    assert lanes.lanes_of("test_store.py", "test_x", ["tmp_path", "server_factory"], []) == ("server",)
    tesseract = _Mark("skipif", reason="Tesseract is not installed")
    assert lanes.lanes_of("test_store.py", "test_x", [], [tesseract, _Mark("slow")]) == ("ocr", "slow")
    with pytest.raises(ValueError, match="tests/test_new.py is in no lane: add it to FILES in tests/lanes.py"):
        lanes.lanes_of("test_new.py", "test_x", [], [])


def test_a_test_file_in_no_lane_stops_the_collection(tmp_path):
    for name in ("conftest.py", "lanes.py", "helpers.py", "apimock.py"):
        (tmp_path / name).write_text((TESTS / name).read_text())
    (tmp_path / "test_new.py").write_text("def test_one():\n    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                             str(tmp_path / "test_new.py")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0 and result.returncode != 5
    assert "test files in no lane: test_new.py: add each to FILES in tests/lanes.py" in result.stdout + result.stderr


@pytest.mark.parametrize("argv,lane", [
    ([sys.executable, "-m", "nanoclient.server", "--port", "0"], "server"),
    ([sys.executable, "-m", "nanoclient", "serve"], "server"),
    (["tesseract", "stdin", "stdout"], "ocr"),
    (["/usr/bin/chromium", "--headless"], "browser"),
])
def test_the_unit_lane_refuses_servers_tesseract_and_chromium(argv, lane):
    with pytest.raises(pytest.fail.Exception, match=f"is in the unit lane but runs .*: give it the {lane} lane"):
        subprocess.run(argv, capture_output=True, timeout=10)


def test_the_unit_lane_lets_other_processes_run():
    assert subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, text=True).stdout == "1\n"
