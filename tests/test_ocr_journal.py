"""``ocr predict``'s bookkeeping beside its output (``_ocr_journal``), what a rerun makes of it (``Progress``),
and the one line a failed document gets (``reason``): no server needed."""
from __future__ import annotations

from nanoclient.cli.ocr._journal import SendJournal, journal_path
from nanoclient.cli.ocr._run import Progress, reason
from nanoclient.errors import BadRequestError, InvalidImageError


def test_the_journal_is_made_by_its_first_record_read_back_and_removed(tmp_path):
    output = tmp_path / "fields.csv"
    journal = SendJournal(output)
    assert journal.records == [] and not journal_path(output).exists()  # nothing sent: no file
    journal.sending("in/a.pdf", "0123456789ab~a.pdf", "2026-12-07")
    journal.pending("in/a.pdf", ["p0", "p1"])
    journal.close()
    assert journal_path(output).name == "fields.csv.sent.jsonl"
    with journal_path(output).open("a") as handle:
        handle.write('{"file": "in/b.pdf", "sta')  # a torn last line, as a kill leaves it
    again = SendJournal(output)
    assert [r["status"] for r in again.records] == ["sending", "pending"] and again.files() == {"in/a.pdf"}
    again.remove()
    assert not journal_path(output).exists()


def test_progress_reads_the_journal_and_the_results():
    journal = [{"file": "a", "status": "sending", "sent_as": "x~a", "day": "2026-12-07"},
               {"file": "a", "status": "pending", "ids": ["p0", "p1"]},
               {"file": "b", "status": "sending", "sent_as": "y~b", "day": "2026-12-07"},
               {"file": "c", "status": "sending", "sent_as": "z~c", "day": "2026-12-07"},
               {"file": "c", "status": "pending", "ids": ["q0"]}]
    results = [{"file": "c", "status": "success", "id": "q0"}, {"file": "d", "status": "", "error": "refused"}]
    progress = Progress(results, journal)
    assert progress.waiting == {"a": ["p0", "p1"]} and progress.sending == {"b": ("y~b", "2026-12-07")}
    assert progress.finished == {"c"}  # d failed: read again


def test_progress_still_reads_output_files_of_older_versions():
    legacy = [{"file": "a", "status": "sending", "id": "x~a", "text": "2026-12-01"},
              {"file": "a", "status": "pending", "id": "p0"}, {"file": "a", "status": "pending", "id": "p1"},
              {"file": "b", "status": "sending", "id": "y~b", "text": "2026-12-01"}]
    progress = Progress(legacy)
    assert progress.waiting == {"a": ["p0", "p1"]} and progress.sending == {"b": ("y~b", "2026-12-01")}


def test_a_failed_documents_reason_is_said_once_without_its_name_again():
    hint = "locked.pdf: not a PNG, JPEG or PDF document"
    refused = BadRequestError(f"{hint} (the PDF is encrypted)", status=400, method="POST",
                              url="http://127.0.0.1:1/api/v2/OCR/Model/m/LabelFile/", errors=[{"message": hint}])
    assert str(refused).count("not a PNG") == 1  # was said twice: the message, then the hint it holds
    assert reason(refused, "in/locked.pdf") == "not a PNG, JPEG or PDF document (the PDF is encrypted)"
    invalid = InvalidImageError("huge.png: File is too large (12000x12000 pixels)", status=400)
    assert reason(invalid, "x/huge.png") == "File is too large (12000x12000 pixels)"
    assert reason(FileNotFoundError(2, "No such file or directory", "gone.png"), "gone.png") == \
        "No such file or directory: gone.png"
    assert reason(TimeoutError("3 of 3 pages still pending")) == "3 of 3 pages still pending"
