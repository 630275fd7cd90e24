"""The upload journal on its own: what it reads back, how it settles what a stopped run left open,
and its lock (``nanoclient._journal``). The runs that use it are in test_exactly_once.py."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from nanoclient import UploadInProgressError, UploadJournal

SHA = ["aa" * 32, "bb" * 32, "cc" * 32, "dd" * 32]


def journal(tmp_path, **kwargs) -> UploadJournal:
    return UploadJournal(tmp_path / "j.jsonl", base_url="http://127.0.0.1:1/api/v2", model_id="m", **kwargs)


def lines(j: UploadJournal) -> list[dict]:
    return [json.loads(line) for line in j.path.read_text().splitlines()]


def test_a_request_is_on_disk_before_it_is_sent_and_its_outcome_once_known(tmp_path):
    j = journal(tmp_path)
    first = j.begin("Bag", 4, [(SHA[0], "a.png"), (SHA[1], "b.png")])
    assert lines(j)[1] == {"batch": first, "category": "Bag", "before": 4, "files": [[SHA[0], "a.png"],
                                                                                      [SHA[1], "b.png"]]}
    j.stored(first, 2)
    second = j.begin("Bag", 6, [(SHA[2], "c.png")])
    assert second != first
    j.unsettled(second, "dropped", None)
    j.close()
    again = journal(tmp_path)
    assert again.state(SHA[0], "Bag") == again.state(SHA[1], "Bag") == "stored"
    assert again.state(SHA[0], "Coat") is None
    assert again.state(SHA[2], "Bag") == "unsettled" and again.unsettled_reason(SHA[2], "Bag") == "dropped"
    assert again.open_batches == [] and again.unsettled_files == 1
    assert again.begin("Bag", 7, []) > second  # ids go on from the file's


def test_a_torn_last_line_is_ignored_and_closed_before_the_next_one(tmp_path):
    j = journal(tmp_path)
    j.stored(j.begin("Bag", 0, [(SHA[0], "a.png")]), 1)
    j.close()
    with open(j.path, "a") as handle:
        handle.write('{"batch": 9, "category": "Bag", "bef')  # killed while writing
    again = journal(tmp_path)
    assert again.open_batches == [] and again.state(SHA[0], "Bag") == "stored"
    again.stored(again.begin("Bag", 1, [(SHA[1], "b.png")]), 1)
    assert journal(tmp_path).state(SHA[1], "Bag") == "stored"
    raw = again.path.read_text().splitlines()
    assert raw[3].startswith('{"batch": 9') and json.loads(raw[4])["category"] == "Bag"


def test_a_request_left_open_is_settled_from_the_count_grown_by_its_size_unchanged_or_else(tmp_path):
    j = journal(tmp_path)
    j.begin("Bag", 10, [(SHA[0], "a.png"), (SHA[1], "b.png")])  # stored before the kill
    j.begin("Coat", 3, [(SHA[2], "c.png")])  # never reached the server
    j.begin("Hat", 5, [(SHA[3], "d.png")])  # the count moved by something else
    j.close()
    again = journal(tmp_path)
    assert {b.category for b in again.open_batches} == {"Bag", "Coat", "Hat"}
    settled = again.settle({"Bag": 12, "Coat": 3, "Hat": 7}, by_count=True)
    assert (settled.stored, settled.not_stored, settled.unsettled) == (2, 1, 1)
    assert again.state(SHA[0], "Bag") == again.state(SHA[1], "Bag") == "stored"
    assert again.state(SHA[2], "Coat") is None  # sent again
    assert again.state(SHA[3], "Hat") == "unsettled" and "grew by 2, not 0 or 1" in again.unsettled_reason(SHA[3],
                                                                                                          "Hat")
    reread = journal(tmp_path)  # what settling found is on disk
    assert reread.open_batches == [] and reread.state(SHA[0], "Bag") == "stored"
    assert reread.state(SHA[2], "Coat") is None and reread.state(SHA[3], "Hat") == "unsettled"
    assert reread.settle({"Hat": 8}, by_count=True).unsettled == 0  # a count known after stays unsettled
    assert reread.state(SHA[3], "Hat") == "unsettled"


def test_an_unsettled_request_is_settled_by_the_next_count_seen_for_its_category(tmp_path):
    j = journal(tmp_path)
    j.unsettled(j.begin("Bag", 10, [(SHA[0], "a.png"), (SHA[1], "b.png")]), "the count could not be read", None)
    j.stored(j.begin("Bag", 12, [(SHA[2], "c.png")]), 1)  # the next request found the count grown by 2
    j.unsettled(j.begin("Coat", 0, [(SHA[3], "d.png")]), "the count could not be read", None)
    j.close()
    again = journal(tmp_path)
    assert again.state(SHA[0], "Bag") == again.state(SHA[1], "Bag") == "stored"
    assert again.state(SHA[3], "Coat") == "unsettled"
    assert again.settle({"Bag": 13, "Coat": 0}, by_count=True).not_stored == 1  # unchanged: send it again
    assert again.state(SHA[3], "Coat") is None


def test_against_a_server_that_deduplicates_everything_open_is_simply_sent_again(tmp_path):
    j = journal(tmp_path)
    j.begin("Bag", None, [(SHA[0], "a.png")])
    j.begin("Bag", None, [(SHA[1], "b.png")])
    j.unsettled(j.begin("Coat", 1, [(SHA[2], "c.png")]), "odd count", 5)
    j.close()  # what a run writes is read by the next one
    j = journal(tmp_path)
    settled = j.settle({"Bag": 9}, by_count=False)
    assert settled.not_stored == 3 and j.unsettled_files == 0 and j.open_batches == []


def test_accept_unsettled_records_them_as_stored(tmp_path):
    j = journal(tmp_path)
    j.unsettled(j.begin("Bag", 1, [(SHA[0], "a.png"), (SHA[1], "b.png")]), "odd count", 5)
    assert journal(tmp_path).accept_unsettled() == 2
    assert journal(tmp_path).state(SHA[1], "Bag") == "stored"


def test_the_record_of_nanoclient_0x_still_reads(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"base_url": "http://127.0.0.1:1/api/v2", "model_id": "m"}\n'
                    f'{{"sha256": "{SHA[0]}", "category": "Bag", "file": "a.png"}}\n')
    assert journal(tmp_path).state(SHA[0], "Bag") == "stored" and len(journal(tmp_path)) == 1


def test_a_journal_of_another_model_is_refused(tmp_path):
    journal(tmp_path).stored(journal(tmp_path).begin("Bag", 0, []), 0)
    with pytest.raises(ValueError, match="for model m, not other"):
        UploadJournal(tmp_path / "j.jsonl", model_id="other")
    with pytest.raises(ValueError, match="for model m, not other"):
        UploadJournal(tmp_path / "j.jsonl").bind("http://127.0.0.1:1/api/v2", "other")
    assert UploadJournal(tmp_path / "j.jsonl").model_id == "m"  # a bare path takes the file's names


def test_for_model_is_keyed_by_server_and_model(tmp_path):
    a = UploadJournal.for_model("http://127.0.0.1:1/api/v2/", "m1", folder=tmp_path)
    assert a.path == UploadJournal.for_model("http://127.0.0.1:1/api/v2", "m1", folder=tmp_path).path
    assert a.path != UploadJournal.for_model("http://127.0.0.1:1/api/v2", "m2", folder=tmp_path).path
    assert a.path.parent == tmp_path / "uploads"


def test_a_second_upload_with_the_same_journal_is_refused_naming_the_first_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from nanoclient import UploadJournal
        j = UploadJournal({str(tmp_path / "j.jsonl")!r})
        with j.locked():
            print("locked", flush=True)
            time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(UploadInProgressError) as caught:
            with journal(tmp_path).locked():
                pass
        assert caught.value.pid == str(holder.pid) and f"process {holder.pid}" in str(caught.value)
        assert "--wait-lock" in (caught.value.hint or "")
    finally:
        holder.kill()  # SIGKILL: the lock goes with the process
        holder.wait()
    with journal(tmp_path).locked():
        pass


def test_a_journal_made_to_wait_waits_for_the_other_upload(tmp_path):
    first = journal(tmp_path)
    order = []
    with first.locked():
        waiter = threading.Thread(target=lambda: (journal(tmp_path, wait=True).locked().__enter__(),
                                                  order.append("second")))
        waiter.start()
        time.sleep(0.5)
        order.append("first done")
    waiter.join(10)
    assert order == ["first done", "second"]
