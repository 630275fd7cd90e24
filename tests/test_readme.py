"""The README's and docs' examples run as written, against the in-process fake; their links lead somewhere.

The shell blocks of the README's "Image Categorization" and "Against the hosted Nanonets API" are read
line by line (``shlex``, comments dropped) and run: ``nanoclient ...`` through click's runner;
``export``/``unset`` on the environment; ``eval "$(nanoclient ...)"`` by running the command, then
``eval``-ing its output in a real bash and taking the variables it set. Two kinds of line cannot run here
and are checked instead: installing (``python3 -m venv ...``) and ``nanoclient serve --port P &``, whose
place the fake takes at the URL that line says it prints. A ``<placeholder>`` stands for a key. The
``python`` block of the README's "Image Categorization" and that of docs/sdk.md's "Exactly once in your
own program" run with the fake at the hosted URL. Everything runs in a temporary folder holding a copy
of the project's ``images/``. The README stays short (at most 260 lines), every relative link of the
README and of docs/*.md names a file that exists, and none of them cites a contract a clone lacks.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nanoclient.cli import cli
from nanoclient.testing import fake_nanonets

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SDK_DOC = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
#: The Markdown files a reader of the repository follows links in.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

pytestmark = pytest.mark.usefixtures("isolated_settings")


def section(title: str, text: str = README) -> str:
    """The text of the ``## title`` section of ``text`` (the README by default), its sub-sections included."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def blocks(text: str, language: str) -> list[str]:
    """The code blocks of ``language`` in ``text``."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


SHELL_BLOCKS = blocks(section("Image Categorization"), "sh") + blocks(section("Against the hosted Nanonets API"), "sh")
PYTHON_BLOCKS = blocks(section("Image Categorization"), "python") + blocks(
    section("Exactly once in your own program", SDK_DOC), "python")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current folder with a copy of the project's images/."""
    shutil.copytree(ROOT / "images", tmp_path / "images")
    monkeypatch.chdir(tmp_path)
    return tmp_path


class Shell:
    """Runs README shell lines: see the module's docstring."""

    def __init__(self, runner, monkeypatch: pytest.MonkeyPatch, fakes: contextlib.ExitStack) -> None:
        self.runner = runner
        self.monkeypatch = monkeypatch
        self.fakes = fakes

    def run(self, line: str) -> None:
        words = shlex.split(re.sub(r"<[^>]+>", "readme-key", line), comments=True)
        if not words:
            return
        if words[0] == "python3":  # installing: the test runs in the installed package
            assert "pip install" in line
        elif words[:2] == ["nanoclient", "serve"]:
            self.serve(line, words)
        elif words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                self.monkeypatch.setenv(name, value)
        elif words[0] == "unset":
            for name in words[1:]:
                self.monkeypatch.delenv(name, raising=False)
        elif words[0] == "eval":
            assert len(words) == 2 and words[1].startswith("$(") and words[1].endswith(")"), line
            self.eval(words[1][2:-1])
        else:
            assert words[0] == "nanoclient", f"a README line this test cannot run: {line}"
            self.nanoclient(words[1:])

    def serve(self, line: str, words: list[str]) -> None:
        """The fake in place of the server, at the URL the line's comment says it prints."""
        assert words[-1] == "&"
        port = words[words.index("--port") + 1]
        printed = re.search(r"# prints (\S+)", line)
        assert printed and printed.group(1) == f"http://127.0.0.1:{port}/api/v2", line
        self.fakes.enter_context(fake_nanonets(printed.group(1)))

    def nanoclient(self, args: list[str], env: dict[str, str] | None = None) -> str:
        result = self.runner.invoke(cli, args, env=env, prog_name="nanoclient")
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
        return result.stdout

    def eval(self, command: str) -> None:
        """``eval "$(command)"``: the command's output eval'ed by bash; the variables it sets are kept."""
        words = shlex.split(command)
        env = {}
        while "=" in words[0]:  # VAR=value nanoclient ...
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        assert words[0] == "nanoclient", command
        output = self.nanoclient(words[1:], env)
        shell = subprocess.run(["bash", "-c", 'eval "$OUTPUT" >/dev/null && env -0'],
                               env={"OUTPUT": output, "PATH": os.environ["PATH"]},
                               capture_output=True, text=True, timeout=30)
        assert shell.returncode == 0, (command, output, shell.stderr)
        for entry in shell.stdout.split("\0"):
            name, _, value = entry.partition("=")
            if name.startswith("NANONETS_"):
                self.monkeypatch.setenv(name, value)


@contextlib.contextmanager
def hosted_fake_if(needed: bool) -> Iterator[None]:
    """The fake at the hosted URL, for a block that talks to the hosted service."""
    if not needed:
        yield
        return
    with fake_nanonets():
        yield


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.strip().splitlines()[0][:40] for b in SHELL_BLOCKS])
def test_the_workflow_by_hand_runs_as_written(block, runner, monkeypatch, workdir):
    with contextlib.ExitStack() as fakes, hosted_fake_if("unset NANONETS_BASE_URL" in block):
        shell = Shell(runner, monkeypatch, fakes)
        for line in block.splitlines():
            shell.run(line)
    if "--report report.html" in block:
        assert (workdir / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    if 'eval "$(nanoclient create-model' in block:
        assert os.environ.get("NANONETS_MODEL_ID")  # eval "$(...)" exported the id


def test_the_workflow_blocks_were_found():
    assert len(SHELL_BLOCKS) >= 2 and any("nanoclient train --wait" in b for b in SHELL_BLOCKS)
    assert any("unset NANONETS_BASE_URL" in b for b in SHELL_BLOCKS)
    assert len(PYTHON_BLOCKS) == 2 and "UploadJournal" in PYTHON_BLOCKS[1]


@pytest.mark.parametrize("block", PYTHON_BLOCKS[:1])
def test_the_sdk_example_runs_as_written(block, monkeypatch, workdir, capsys):
    monkeypatch.setenv("NANONETS_API_KEY", "readme-key")
    with fake_nanonets():  # at the hosted URL, which the example uses when NANONETS_BASE_URL is unset
        exec(compile(block, "README.md (Image Categorization)", "exec"), {"__name__": "readme_example"})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[0] == "120"  # every image of the three categories uploaded
    assert printed[-1].split()[:2] == ["images/shapes/test/Circle/circle_000.png", "Circle"]


def test_the_journal_example_resumes_as_written(monkeypatch, workdir, capsys):
    monkeypatch.setenv("NANONETS_API_KEY", "readme-key")
    with fake_nanonets():
        from nanoclient import Client

        Client().create_model(sorted(path.name for path in (workdir / "images" / "shapes" / "train").iterdir()))
        for _ in range(2):
            exec(compile(PYTHON_BLOCKS[1], "docs/sdk.md (upload journal)", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.splitlines() == ["200 0 0", "0 200 0"]


def test_the_scripts_and_the_readme_ask_for_the_same_python():
    required = re.search(r'python_requires=">=(\d+\.\d+)"', (ROOT / "setup.py").read_text()).group(1)
    assert f"Python {required}+" in README and f"Python {required}+" in (ROOT / "scripts" / "demo.sh").read_text()


def test_the_readme_is_short():
    """A newcomer reads it in five minutes; the reference lives in docs/."""
    lines = README.count("\n") + (not README.endswith("\n"))
    assert lines <= 260, f"README.md has {lines} lines: move the reference into docs/"


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links, images and HTML ``src``/``href`` in ``text`` that are not URLs."""
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    targets += re.findall(r"""\b(?:src|href)=["']([^"']+)["']""", text)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t, flags=re.I)]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped, spaces as -)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#{1,6} (.+)$", prose, flags=re.M)}


def missing_targets(document: Path) -> list[str]:
    """The relative links of ``document`` whose file does not exist, or whose ``#anchor`` is no heading of it."""
    text = document.read_text(encoding="utf-8")
    missing = []
    for link in relative_links(text):
        path, _, anchor = link.partition("#")
        target = document.parent / path if path else document
        if not target.exists():
            missing.append(link)
        elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text(encoding="utf-8")):
            missing.append(link)
    return missing


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_names_a_file_that_exists(document):
    missing = missing_targets(document)
    assert not missing, f"{document.relative_to(ROOT)} links to files or headings that do not exist: {missing}"


def test_the_link_check_finds_links_and_missing_files(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cli.md").write_text(
        "# The CLI\n\n## `nanoclient serve`: options\n```sh\n# not a heading\n```\n"
        "[back](../README.md) [gone](gone.md) [here](#the-cli) [no](#not-a-heading)\n")
    readme = tmp_path / "README.md"
    readme.write_text('[a](docs/cli.md) [b](#x) [c](https://example.com) ![d](e.png "t") <img src="f.png">\n'
                      '[g](docs/x.md#y) [h](docs/cli.md#nanoclient-serve-options) [i](mailto:a@b.c)\n')
    (tmp_path / "f.png").write_bytes(b"")
    assert sorted(relative_links(readme.read_text())) == [
        "#x", "docs/cli.md", "docs/cli.md#nanoclient-serve-options", "docs/x.md#y", "e.png", "f.png"]
    assert sorted(missing_targets(readme)) == ["#x", "docs/x.md#y", "e.png"]
    assert missing_targets(tmp_path / "docs" / "cli.md") == ["gone.md", "#not-a-heading"]
    assert len(DOCUMENTS) >= 8 and ROOT / "docs" / "api.md" in DOCUMENTS


@pytest.mark.parametrize("document", [*DOCUMENTS, ROOT / "ARCHITECTURE.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_cites_a_contract_a_clone_lacks(document):
    """The wire contract is docs/api.md (and docs/OCR-API.md); no file outside the repository is cited."""
    text = document.read_text(encoding="utf-8")
    assert not re.findall(r"(?<![-\w/])API\.md|shared/API\.md", text), document
