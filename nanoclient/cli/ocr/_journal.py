"""The bookkeeping of ``nanoclient ocr predict --output FILE`` for documents read asynchronously, kept beside
FILE in ``FILE.sent.jsonl`` so that FILE holds results only.

A document read asynchronously (``--async``, or one of many pages) gets two records here, each written
whole and flushed before the step it describes goes on:

    {"file": "inbox/scan.pdf", "status": "sending", "sent_as": "3f9a1c2b7d0e~scan.pdf", "day": "2026-12-07"}
    {"file": "inbox/scan.pdf", "status": "pending", "ids": ["e1f04b7c-...", "0b6d22e9-..."]}

the first before it is sent (the name it goes under is used once, so a run killed before the answer came
can ask the service whether it arrived), the second once the service answered with its pages' ids (a
rerun fetches them and never sends the document again). Its results go to FILE when every page is read,
all at once; the journal is removed when every document it names has its results in FILE.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..._results import RecordFile

#: What the journal's name adds to the output's.
SUFFIX = ".sent.jsonl"
#: The status of a record written before a document is sent, and of one written once its ids are known.
SENDING, PENDING = "sending", "pending"


def journal_path(output: Path) -> Path:
    """Where the journal of ``output`` is kept: beside it, its name and ``SUFFIX``."""
    return output.with_name(output.name + SUFFIX)


class SendJournal:
    """The journal beside an output file: its records (read when opened; a torn last line is cut off), and
    appending to it (the file is created by the first record)."""

    def __init__(self, output: Path) -> None:
        self.path = journal_path(output)
        self._file: RecordFile | None = RecordFile(self.path) if self.path.exists() else None
        #: The records already there, in order.
        self.records: list[dict[str, Any]] = list(self._file.records) if self._file is not None else []

    def sending(self, file: str, sent_as: str, day: str) -> None:
        """Say that ``file`` is about to be sent under the name ``sent_as`` on ``day`` (YYYY-MM-DD)."""
        self._write({"file": file, "status": SENDING, "sent_as": sent_as, "day": day})

    def pending(self, file: str, ids: Sequence[str]) -> None:
        """Say that the service holds ``file``, whose pages are fetched by ``ids``."""
        self._write({"file": file, "status": PENDING, "ids": list(ids)})

    def files(self) -> set[str]:
        """The documents the journal names."""
        return {str(record.get("file") or "") for record in self.records} - {""}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def remove(self) -> None:
        """Close and delete the journal (every document it names is read)."""
        self.close()
        self._file = None
        self.path.unlink(missing_ok=True)

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = RecordFile(self.path)
        self._file.write(record)
        self.records.append(record)


__all__ = ["PENDING", "SENDING", "SUFFIX", "SendJournal", "journal_path"]
