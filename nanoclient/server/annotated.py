"""Reading the annotation list ``data`` that comes with uploaded files (``[{"filename", "object"}]``), for the
model types whose training files carry boxes: each file's list of objects, by file name."""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import BadRequestError


def objects_by_file(data: object, names: Sequence[str], *, box: str,
                    most: int | None = None) -> dict[str, list[Mapping[str, Any]]]:
    """The annotation ``data`` (a list of {"filename", "object"}, or one such object; JSON text too) by file
    name; ``object`` may be a list, one object, ``{}`` or absent (no boxes). ``box`` says what one box is (for
    the error), ``most`` how many one file may have.

    BadRequestError for data that is not that, an entry naming no file of the request, or a file named twice.
    """
    if data is None or data == "":
        return {}
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            raise BadRequestError("data is not JSON", hint='Send data as a JSON list of {"filename", "object"}') \
                from None
    entries = data if isinstance(data, list) else [data]
    found: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise BadRequestError("Each entry of data needs a filename",
                                  hint='Send data as a JSON list of {"filename": ..., "object": [...]}')
        name = entry["filename"]
        if name not in names:
            raise BadRequestError(f"data names {name!r}, which is not a file of this request",
                                  hint="Name each file part as its entry's filename says")
        if name in found:
            raise BadRequestError(f"data has two entries for {name!r}", hint="Send one entry per file")
        objects = entry.get("object")
        if objects is None or objects == {}:
            objects = []
        elif isinstance(objects, dict):
            objects = [objects]
        if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
            raise BadRequestError(f"{name}: object must be a list of boxes", hint=f"Each box is {box}")
        if most is not None and len(objects) > most:
            raise BadRequestError(f"{name}: {len(objects)} boxes", hint=f"Label at most {most} per image")
        found[name] = objects
    return found


__all__ = ["objects_by_file"]
