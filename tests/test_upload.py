"""``Client.upload_files`` against a mocked server that keeps counts: every file stored exactly once,
whatever the server does with the answer, and each file's outcome reported by its path.

The mocked server (tests/apimock.py) does not deduplicate unless told to, as the hosted
service promises no deduplication.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests
import responses
from apimock import API, BASE, UploadApi, json_response, model_json
from helpers import KEY, PATIENCE, make_image

from nanoclient import Client, errors
from nanoclient.image_categorization import _resource as operations_module


def images(folder: Path, categories: list[str], per_category: int) -> list[tuple]:
    """Distinct PNGs, categories taken in turn: [(path, category), ...]."""
    items = []
    for n in range(per_category):
        for k, category in enumerate(categories):
            path = folder / f"{category}-{n}.png"
            path.write_bytes(make_image((40 * k, 100, 200), seed=1000 * k + n))
            items.append((path, category))
    return items


def stored_once(api: UploadApi, items) -> bool:
    names = sorted(name for _, name in api.stored)
    return names == sorted(Path(p).name for p, _ in items)


# ---------------------------------------------------------------------- the form of the requests


def test_batches_carry_model_and_category_in_the_query_and_single_files_in_the_form(client, rsps, tmp_path):
    api = UploadApi(rsps)
    items = images(tmp_path, ["Bag", "Coat"], 5)  # 5 per category, batches of 3: 3 + 2 each
    report = client.upload_files("m1", items, batch_size=3, workers=2)
    assert report.ok and sorted(report.uploaded) == sorted(str(p) for p, _ in items)
    assert stored_once(api, items) and api.counts == {"Bag": 5, "Coat": 5}
    assert sorted(len(names) for _, names, _ in api.requests) == [2, 2, 3, 3]
    assert {where for _, names, where in api.requests} == {"query"}
    assert api.model_reads == 1  # once, before sending: the counts to check the answers against
    api.requests.clear()
    client.upload_files("m1", items[:2], batch_size=1)
    assert [where for _, _, where in api.requests] == ["form", "form"]


def test_nothing_to_upload_sends_nothing(client, rsps):
    assert client.upload_files("m1", []).uploaded == []
    assert len(rsps.calls) == 0
    with pytest.raises(ValueError, match="workers"):
        client.upload_files("m1", [], workers=0)
    with pytest.raises(ValueError, match="batch_size"):
        client.upload_files("m1", [], batch_size=0)


# ---------------------------------------------------------------------- exactly once, against an unkind server


@pytest.mark.parametrize("fault", ["500-after", "drop-after", "timeout-after"])
def test_a_batch_stored_but_answered_with_a_failure_is_not_sent_again(client, rsps, tmp_path, fault):
    api = UploadApi(rsps)
    api.fail_next(fault, times=2)
    items = images(tmp_path, ["Bag", "Coat"], 6)
    report = client.upload_files("m1", items, batch_size=3, workers=2)
    assert report.ok and len(report.uploaded) == 12
    assert stored_once(api, items) and api.counts == {"Bag": 6, "Coat": 6}
    assert len(api.requests) == 4  # each batch sent once: the count showed it had landed
    assert api.model_reads == 1 + 2  # one check per ambiguous failure


@pytest.mark.parametrize("fault", ["500-before", "drop-before"])
def test_a_batch_that_failed_before_storing_is_sent_again_after_a_count_check(client, rsps, tmp_path, fault):
    api = UploadApi(rsps)
    api.fail_next(fault, times=3)
    items = images(tmp_path, ["Bag"], 4)
    report = client.upload_files("m1", items, batch_size=2)
    assert report.ok and stored_once(api, items) and api.counts["Bag"] == 4
    assert len(api.requests) == 2 + 3 and api.model_reads == 1 + 3


def test_503_and_429_are_resent_without_a_count_check(client, rsps, tmp_path, sleeps):
    api = UploadApi(rsps)
    api.fail_next("503")
    api.fail_next("429")
    items = images(tmp_path, ["Bag"], 2)
    report = client.upload_files("m1", items, batch_size=2)
    assert report.ok and stored_once(api, items)
    assert len(api.requests) == 3 and api.model_reads == 1
    assert 1.0 in sleeps  # Retry-After honoured


def test_a_batch_that_keeps_failing_before_storing_fails_and_is_stored_nowhere(client, rsps, tmp_path):
    api = UploadApi(rsps)
    api.fail_next("500-before", times=100)
    items = images(tmp_path, ["Bag"], 2)
    report = client.upload_files("m1", items, batch_size=2)
    assert report.uploaded == [] and report.unsettled == []
    assert sorted(p for p, _ in report.failed) == sorted(str(p) for p, _ in items)
    assert all(isinstance(e, errors.ServerError) for _, e in report.failed)
    assert api.counts["Bag"] == 0 and len(api.requests) == 1 + client._transport.max_retries


def test_a_server_that_keeps_only_the_first_part_is_detected_and_the_rest_goes_one_by_one(client, rsps, tmp_path):
    api = UploadApi(rsps, first_part_only=True)
    items = images(tmp_path, ["Bag", "Coat"], 7)
    report = client.upload_files("m1", items, batch_size=5, workers=4)
    assert report.ok and len(report.uploaded) == 14
    assert stored_once(api, items) and api.counts == {"Bag": 7, "Coat": 7}
    sizes = [len(names) for _, names, _ in api.requests]
    # only a category's first batch may hold several files, and only until an answer shows the server's
    # kind: the other category's first batch went before that answer or after it, by the threads' timing
    firsts = {category: i for i, (category, _, _) in reversed(list(enumerate(api.requests)))}
    several = [i for i, size in enumerate(sizes) if size > 1]
    assert sizes[0] == 5 and set(several) <= set(firsts.values()) and {sizes[i] for i in several} == {5}
    assert len(sizes) == 14  # each category: 7 requests, a batch that stored 1 of 5 and 4 resent, or 7 alone


def test_a_count_that_grew_wrongly_leaves_the_files_unsettled_not_counted(client, rsps, tmp_path):
    api = UploadApi(rsps)
    items = images(tmp_path, ["Bag"], 6)
    original = api._upload

    def loses_parts(request):  # answers OK for 3 files but stores only 2 of them (a 3-file batch)
        status, headers, body = original(request)
        if status == 200 and api.counts["Bag"] == 3:
            api.counts["Bag"] -= 1
            api.stored.pop()
            return json_response(api._model())
        return status, headers, body

    api.upload_handler = loses_parts
    report = client.upload_files("m1", items, batch_size=3)
    assert len(report.unsettled) == 3 and len(report.uploaded) == 3 and not report.ok
    assert "grew by 2, not 3" in report.unsettled[0][1]
    assert {p for p, _ in report.unsettled}.isdisjoint(report.uploaded)


def test_when_the_count_cannot_be_read_the_batch_is_unsettled(client, rsps, tmp_path, sleeps):
    api = UploadApi(rsps)
    items = images(tmp_path, ["Bag"], 2)
    api.fail_next("500-after")
    reads = [0]

    def fault():
        reads[0] += 1
        return "503" if reads[0] > 1 else None  # the check after the failure finds the server busy

    api.get_fault = fault
    report = client.upload_files("m1", items, batch_size=2)
    assert report.uploaded == [] and sorted(p for p, _ in report.unsettled) == sorted(str(p) for p, _ in items)
    assert "could not be checked" in report.unsettled[0][1]
    assert api.counts["Bag"] == 2 and len(api.requests) == 1  # stored once, never resent blindly


def test_one_batch_per_category_in_flight_and_categories_in_parallel(client, rsps, tmp_path):
    categories = ["A", "B", "C", "D"]
    lock = threading.Lock()
    in_flight: dict[str, int] = {c: 0 for c in categories}
    peak = {"total": 0, "per_category": 0}
    together = threading.Barrier(len(categories))
    first_round = set()

    def hook(category, names):
        with lock:
            in_flight[category] += 1
            peak["per_category"] = max(peak["per_category"], in_flight[category])
            peak["total"] = max(peak["total"], sum(in_flight.values()))
            first = category not in first_round
            first_round.add(category)
        try:
            if first and len(names) == 1:
                together.wait(PATIENCE)  # passes only when every category has a request in flight
                time.sleep(0.1)  # gives a second request of a category the chance to show (a bug)
        finally:
            with lock:
                in_flight[category] -= 1

    api = UploadApi(rsps, categories, hook=hook)
    items = images(tmp_path, categories, 3)
    report = client.upload_files("m1", items, batch_size=1, workers=8)
    assert report.ok and stored_once(api, items)
    assert peak == {"total": 4, "per_category": 1}


def test_a_server_that_declares_dedupe_gets_parallel_batches_and_blind_retries(client, rsps, tmp_path, sleeps):
    lock = threading.Lock()
    in_flight = [0]
    peak = [0]
    together = threading.Barrier(3)

    def hook(category, names):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            if names[0].endswith("-0.png") or names[0].endswith("-1.png") or names[0].endswith("-2.png"):
                together.wait(PATIENCE)  # three batches of one category in flight at once
        finally:
            with lock:
                in_flight[0] -= 1

    api = UploadApi(rsps, ["Bag"], dedupe=True, hook=hook)
    items = images(tmp_path, ["Bag"], 6)
    api.fail_next("drop-after", when=lambda category, names: names == ["Bag-3.png"])
    report = client.upload_files("m1", items, batch_size=1, workers=3)
    assert report.ok and len(report.uploaded) == 6 and peak[0] == 3
    assert len(api.requests) == 7 and api.model_reads == 1  # resent without a check: identical bytes count once
    assert api.counts["Bag"] == 6


def test_429_storm_slows_every_request_down_and_loses_nothing(rsps, tmp_path, sleeps):
    client = Client(KEY, BASE, max_retries=10)  # as many as the CLI's: the storm outlasts the SDK's 3
    client._transport._sleep = sleeps.append
    api = UploadApi(rsps, [f"C{k}" for k in range(6)])
    api.fail_next("429", times=10, when=lambda category, names: category != "C0")  # C0 probes alone first
    items = images(tmp_path, [f"C{k}" for k in range(6)], 4)
    limits = []
    original = api._upload

    def watch(request):
        limits.append(client._transport.limit.limit)
        return original(request)

    api.upload_handler = watch
    report = client.upload_files("m1", items, batch_size=2, workers=6)
    assert report.ok and stored_once(api, items), (report.failed, report.unsettled)
    assert min(limits) < 6  # the shared limit came down while the 429s lasted


# ---------------------------------------------------------------------- per-file outcomes


def test_failures_are_reported_per_file_and_the_upload_carries_on(client, rsps, tmp_path, sleeps):
    api = UploadApi(rsps)
    good = images(tmp_path, ["Bag", "Coat"], 2)
    too_big = tmp_path / "too-big.png"
    too_big.write_bytes(make_image((1, 1, 1), seed=99))
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "notes.png").write_text("not an image")
    api.refuse["too-big.png"] = (413, {"message": "Upload too large", "code": 413})
    items = good + [(too_big, "Bag"), (tmp_path / "gone.png", "Bag"), (tmp_path / "folder.png", "Coat"),
                    (tmp_path / "notes.png", "Coat"), (good[0][0], "  "), (good[1][0], "Hat")]
    progress = []
    report = client.upload_files("m1", items, batch_size=1, workers=3, progress=progress.append)
    assert sorted(report.uploaded) == sorted(str(p) for p, _ in good)
    failed = dict(report.failed)
    assert set(failed) == {str(too_big)}
    assert type(failed[str(too_big)]) is errors.PayloadTooLargeError
    skipped = dict(report.skipped)
    assert skipped[str(good[1][0])] == "'Hat' is not a category of the model"  # not sent
    assert "No such file" in skipped[str(tmp_path / "gone.png")]
    assert "Not a file" in skipped[str(tmp_path / "folder.png")]
    assert str(tmp_path / "notes.png") in skipped and "No category" in skipped[str(good[0][0])]
    assert progress == [1] * len(items)
    assert report.to_json()["failed"] == 1 and report.to_json()["unsettled"] == 0


def test_a_refused_batch_is_split_to_find_the_file_at_fault(client, rsps, tmp_path):
    api = UploadApi(rsps)
    items = images(tmp_path, ["Bag"], 4)
    bad = items[1][0].name
    api.refuse[bad] = (400, {"message": "not a valid image", "code": 400,
                             "errors": [{"reason": "invalid_image", "message": "truncated"}]})
    report = client.upload_files("m1", items, batch_size=4)
    assert sorted(report.uploaded) == sorted(str(p) for p, _ in items if p.name != bad)
    assert [type(e) for _, e in report.failed] == [errors.InvalidImageError]
    assert [names for _, names, _ in api.requests] == [[p.name for p, _ in items]] + [[p.name] for p, _ in items]
    assert api.counts["Bag"] == 3


@pytest.mark.parametrize("status, cls", [(401, errors.AuthenticationError), (404, errors.NotFoundError),
                                         (402, errors.PaymentRequiredError)])
def test_an_error_every_file_would_get_stops_the_upload(client, rsps, tmp_path, status, cls):
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1"))
    rsps.add(responses.POST, API + "/UploadFile/", json={"message": "no", "code": status}, status=status)
    image = tmp_path / "a.png"
    image.write_bytes(make_image((1, 2, 3)))
    with pytest.raises(cls):
        client.upload_files("m1", [(image, "Bag")] * 20, workers=1, batch_size=1)
    assert len(rsps.calls) <= 3  # the model read, the one that failed, at most one more in flight


def test_an_unknown_model_stops_before_any_file_is_sent(client, rsps, tmp_path):
    rsps.add(responses.GET, API + "/Model/", json={"message": "Model does not exist", "code": 404}, status=404)
    with pytest.raises(errors.NotFoundError):
        client.upload_files("m1", images(tmp_path, ["Bag"], 3))
    assert len(rsps.calls) == 1


def test_a_server_that_cannot_be_reached_stops_the_upload(client, rsps, tmp_path, sleeps):
    rsps.add(responses.GET, API + "/Model/", json=model_json("m1"))
    from urllib3.exceptions import NewConnectionError

    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "Connection refused"))
    rsps.add(responses.POST, API + "/UploadFile/", body=refused)
    with pytest.raises(errors.APIConnectionError):
        client.upload_files("m1", images(tmp_path, ["Bag"], 20), workers=1, batch_size=1)
    assert len(rsps.calls) <= 1 + 2 * 4  # one file (and at most one more), each tried 1 + 3 times


@pytest.mark.parametrize("batch_size", [1, 3])
def test_items_are_consumed_lazily(client, rsps, tmp_path, monkeypatch, batch_size):
    monkeypatch.setattr(operations_module, "UPLOAD_LOOKAHEAD_FILES", 10)
    image = tmp_path / "a.png"
    image.write_bytes(make_image((1, 2, 3)))
    yielded = [0]
    ahead = []

    def items():
        for _ in range(60):
            yielded[0] += 1
            yield image, "Bag"

    api = UploadApi(rsps, ["Bag"], hook=lambda category, names: ahead.append(yielded[0] - len(api.stored)))
    report = client.upload_files("m1", items(), workers=2, batch_size=batch_size)
    assert len(report.uploaded) == 60 and api.counts["Bag"] == 60  # identical bytes, each stored
    assert max(ahead) <= max(10, 2 * 2 * batch_size) + batch_size


def test_batches_hold_one_category_and_respect_the_byte_cap(client, rsps, tmp_path, monkeypatch):
    monkeypatch.setattr(operations_module, "BATCH_MAX_BYTES", 4000)
    api = UploadApi(rsps)
    small = images(tmp_path, ["Bag", "Coat"], 5)  # about 800 bytes each
    big = tmp_path / "big.png"
    big.write_bytes(small[0][0].read_bytes() + b"\0" * 5000)  # a PNG with trailing bytes: over the cap
    items = small + [(big, "Bag")]
    uploaded = []
    report = client.upload_files("m1", items, workers=2, batch_size=4,
                                 on_uploaded=lambda path, category, model: uploaded.append((Path(path).name, category)))
    assert report.ok and sorted(uploaded) == sorted((Path(p).name, c) for p, c in items)
    assert stored_once(api, items)
    sizes = {Path(p).name: Path(p).stat().st_size for p, _ in items}
    for category, names, _ in api.requests:
        assert {c for p, c in items if p.name in names} == {category}
        assert 1 <= len(names) <= 4 and (len(names) == 1 or sum(sizes[n] for n in names) <= 4000)
    assert ("Bag", ["big.png"]) in [(c, n) for c, n, _ in api.requests]
    assert len(api.requests) < len(items)
    assert report.model.image_count == len(items)
