"""Model types are peers: one folder per type on each side (SDK, server, CLI), shared code that names none.

A type's name may appear in its own folders and in the few places that register the types (the server's
registry, the client's attributes, the CLI's command groups, the package's re-exports, the wire's families
of paths). Anywhere else it would be shared code branching on a type, which this test refuses: code only
(names, attributes, imports and string constants), not comments or docstrings.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nanoclient"

#: The folder names of the model types, the same on each side.
TYPES = ("image_categorization", "ocr", "multilabel", "object_detection")
#: What names a type in code (words of an identifier or a string, however written): its folder name, its
#: family of paths, its stored name.
NAMING = re.compile(r"\b(ocr|image categori[sz]ation|classification|multi ?label|object detection)\b")
#: The API's own field names, which name a type by history only: the text of an annotated box.
WIRE_FIELDS = ("ocr_text",)
#: Where the types are registered, each a one-line list of them.
REGISTRATIONS = {
    "__init__.py",  # the public names of every type
    "client.py",  # one attribute per type
    "_wire.py",  # each type's family of paths below the API root
    "testing.py",  # the fake's resources are the client's
    "server/registry.py",  # the server's list of types
    "cli/__init__.py",  # the command groups of every type
}
#: Code about the store's past, when every model was of one type (the schema migrations), by file and function.
HISTORY = {("server/store.py", "_migrate_4_to_5")}


def _shared_modules() -> list[Path]:
    sides = (PACKAGE, PACKAGE / "server", PACKAGE / "cli")
    return sorted(path for path in PACKAGE.rglob("*.py")
                  if not any(path.is_relative_to(side / name) for side in sides for name in TYPES)
                  and path.relative_to(PACKAGE).as_posix() not in REGISTRATIONS)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _names_in_code(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    exempt: set[int] = set()
    where = path.relative_to(PACKAGE).as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (where, node.name) in HISTORY:
            exempt |= {id(inner) for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in exempt or id(node) in docstrings:
            continue
        words: list[str] = []
        if isinstance(node, ast.Name):
            words = [node.id]
        elif isinstance(node, ast.Attribute):
            words = [node.attr]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            words = [node.name]
        elif isinstance(node, ast.arg):
            words = [node.arg]
        elif isinstance(node, ast.alias):
            words = [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            words = [node.module or ""]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            words = [node.value]
        for word in words:
            for field in WIRE_FIELDS:
                word = word.replace(field, "")
            if NAMING.search(_spaced(word)):
                found.append((getattr(node, "lineno", 0), word))
    return found


def _spaced(word: str) -> str:
    """The words of an identifier or a text, lower case, one space apart (``ObjectDetection``, ``object_detection``
    and ``object-detection`` are all ``object detection``)."""
    return " ".join(part.lower() for part in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", word))


def test_each_type_has_a_folder_on_each_side():
    for side in (PACKAGE, PACKAGE / "server", PACKAGE / "cli"):
        for name in ("image_categorization", "ocr"):
            assert (side / name / "__init__.py").is_file(), f"{side / name} is missing"


def test_no_shared_module_names_a_model_type():
    offenders = {path.relative_to(PACKAGE).as_posix(): _names_in_code(path) for path in _shared_modules()}
    offenders = {path: hits for path, hits in offenders.items() if hits}
    assert offenders == {}, "shared code naming a model type (move it into the type's folder, or register it)"


def test_the_check_sees_a_type_named_in_shared_code(tmp_path):
    code = tmp_path / "shared.py"
    code.write_text('"""Mentions OCR in a docstring only."""\nKIND = "ocr"\n\ndef f(model):\n'
                    '    return model.type == "classification"\n')
    assert [word for _, word in _names_in_code_at(code)] == ["ocr", "classification"]


def _names_in_code_at(path: Path) -> list[tuple[int, str]]:
    original = globals()["PACKAGE"]
    globals()["PACKAGE"] = path.parent
    try:
        return _names_in_code(path)
    finally:
        globals()["PACKAGE"] = original
