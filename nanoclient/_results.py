"""Files the CLI writes record by record as a run goes: prediction results and upload reports.

A record is one line, written whole and flushed at once, so an interrupted run leaves whole
records and at most one torn last line, which is ignored and cut off when the file is opened
again. The format follows the file's name: JSON Lines for ``.jsonl`` (and anything else),
CSV for ``.csv``.

Prediction records (``predict --output``)::

    {"file": "imgs/a.png", "label": "Bag", "probability": 0.91, "scores": [{"label": "Bag", ...}, ...]}
    {"file": "imgs/b.png", "error": "b.png is corrupt (OSError)"}

CSV has the columns ``file,label,probability,error,scores`` (``scores`` as JSON). Opening an
existing file reads which files already have a result (not an error), so that a run resumes
where it stopped; the last record of a file is its outcome.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

#: The columns of a CSV results file.
CSV_COLUMNS = ("file", "label", "probability", "error", "scores")


class RecordFile:
    """An append-only file of records, one per line, each written whole and flushed."""

    def __init__(self, path: Path, columns: tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        self.csv = self.path.suffix.lower() == ".csv"
        self.columns = columns if self.csv else None
        self.records = _cut_torn_tail(self.path, csv_file=self.csv)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] = open(self.path, "a", encoding="utf-8", newline="")
        if self.csv and self.columns and not self.records and self.path.stat().st_size == 0:
            self._write_line(self._csv_line(list(self.columns)))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and flush it."""
        self._write_line(self._line(record))

    def write_all(self, records: Sequence[dict[str, Any]]) -> None:
        """Append records in one write and flush: a run stopped while writing them leaves all of them or none
        (a torn last line is cut when the file is opened again)."""
        self._write_line("".join(self._line(record) for record in records))

    def _line(self, record: dict[str, Any]) -> str:
        if self.csv and self.columns:
            return self._csv_line([_csv_cell(record.get(column)) for column in self.columns])
        return json.dumps(record, ensure_ascii=False) + "\n"

    def close(self) -> None:
        self._handle.close()

    def _write_line(self, line: str) -> None:
        self._handle.write(line)
        self._handle.flush()

    @staticmethod
    def _csv_line(row: list[str]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(row)
        return out.getvalue()


class ResultFile(RecordFile):
    """``predict --output``: one result per file, and the files already predicted in it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, CSV_COLUMNS)
        outcome: dict[str, bool] = {}
        for record in self.records:
            if record.get("file"):
                outcome[str(record["file"])] = not record.get("error")
        #: Files whose last record is a prediction: a run with this file skips them.
        self.done = {file for file, ok in outcome.items() if ok}


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _cut_torn_tail(path: Path, *, csv_file: bool) -> list[dict[str, Any]]:
    """The records of an existing file; a last line without its newline (a torn write) is cut off."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
    text = data[:end].decode("utf-8", errors="replace")
    if csv_file:
        rows = list(csv.DictReader(io.StringIO(text)))
        return [dict(row) for row in rows]
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


__all__ = ["RecordFile", "ResultFile", "CSV_COLUMNS"]
