"""The test command installs the system packages the browser tests and the OCR engine need
(scripts/system_deps.sh), or names what is missing.

The script runs under bash with a PATH of stand-ins only: which commands exist, the user id (``id -u``)
and ``apt-get`` (which writes its arguments to a log) are the test's to choose.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "system_deps.sh"
#: Tesseract's packs the script installs: orientation and the languages OCR models read.
PACKS = ["osd", "deu", "fra", "nld", "spa", "ita", "por"]
BASH = "/bin/bash"

pytestmark = pytest.mark.skipif(not Path(BASH).exists(), reason="no /bin/bash here")


def run_deps(tmp_path: Path, commands: list[str], *, uid: int = 1000, apt_fails: bool = False
             ) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """system_deps.sh with only ``commands`` (and ``id``) on the PATH; returns the run and apt-get's calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    bin_dir.mkdir()
    scripts = {name: "exit 0" for name in commands}
    scripts["id"] = f"echo {uid}"
    if "apt-get" in commands:
        scripts["apt-get"] = f'echo "$*" >> {log}\nexit {1 if apt_fails else 0}'
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    packs = tmp_path / "tessdata"  # the language packs there are: those of PACKS when tesseract is a command
    packs.mkdir()
    if "tesseract" in commands:
        for pack in PACKS:
            (packs / f"{pack}.traineddata").write_bytes(b"")
    result = subprocess.run([BASH, str(SCRIPT)], env={"PATH": str(bin_dir), "TESSDATA_PREFIX": str(packs)},
                            capture_output=True, text=True, timeout=30)
    return result, log.read_text().splitlines() if log.exists() else []


def test_chromium_without_its_driver_names_the_driver_package(tmp_path):
    result, apt = run_deps(tmp_path, ["chromium", "tesseract"])
    assert result.returncode == 0 and apt == []
    assert result.stderr.startswith("note: chromium-driver not installed: the browser tests will be skipped")
    assert "apt-get install chromium-driver," in result.stderr


def test_as_root_with_apt_get_the_missing_packages_are_installed(tmp_path):
    result, apt = run_deps(tmp_path, ["apt-get"], uid=0)
    assert result.returncode == 0
    assert apt == ["update -qq", "install -y -qq chromium chromium-driver tesseract-ocr "
                   + " ".join(f"tesseract-ocr-{pack}" for pack in PACKS)]


def test_a_failed_install_is_said_and_the_tests_still_run(tmp_path):
    result, apt = run_deps(tmp_path, ["apt-get", "chromium-browser"], uid=0, apt_fails=True)
    assert result.returncode == 0 and apt == ["update -qq"]
    assert "warning: could not install chromium-driver: the browser tests will be skipped" in result.stderr
    assert "warning: could not install tesseract-ocr: OCR models cannot be trained or read" in result.stderr


def test_nothing_is_said_or_installed_when_all_are_there(tmp_path):
    result, apt = run_deps(tmp_path, ["apt-get", "chromium", "chromedriver", "tesseract"], uid=0)
    assert (result.returncode, result.stderr, apt) == (0, "", [])


def test_the_test_command_and_ci_run_it_first():
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert test_sh.index("./scripts/system_deps.sh") < test_sh.index("-m pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ./scripts/test.sh" in ci and "apt-get" not in ci  # CI runs the same command as anyone


def test_a_missing_language_pack_is_named_with_what_goes_without_it(tmp_path):
    (tmp_path / "tessdata").mkdir()
    for pack in PACKS[:-1]:
        (tmp_path / "tessdata" / f"{pack}.traineddata").write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("chromium", "chromedriver", "tesseract"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    result = subprocess.run([BASH, str(SCRIPT)], env={"PATH": str(bin_dir),
                                                      "TESSDATA_PREFIX": str(tmp_path / "tessdata")},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert result.stderr.startswith("note: tesseract-ocr-por not installed: OCR models cannot read por pages")
