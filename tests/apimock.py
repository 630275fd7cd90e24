"""A mocked Nanonets API for SDK tests (``responses``): canned answers and a server that keeps counts.

``UploadApi`` answers ``GET Model/`` and ``POST UploadFile/`` as a real server would, counting
every stored file part per category, and can be told to be unkind the way the hosted service
may be: store a request and then fail or drop the answer, refuse before storing, keep only
the first file part, or declare that it deduplicates. Multipart requests are read with
``helpers.request_multipart``.
"""
from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from helpers import request_multipart

BASE = "https://api.example.test/api/v2"
API = BASE + "/ImageCategorization"


def model_json(model_id="m1", state=0, counts: dict[str, int] | None = None, accuracy=None, status=""):
    counts = {"Bag": 0, "Coat": 0} if counts is None else counts
    body = {"model_id": model_id, "model_type": "classification", "state": state, "status": status,
            "categories": [{"name": name, "count": n} for name, n in counts.items()]}
    if accuracy is not None:
        body["accuracy"] = accuracy
    return body


def json_response(body, status=200, headers=None):
    return status, dict(headers or {}, **{"Content-Type": "application/json"}), json.dumps(body)


def query_fields(request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url).query, keep_blank_values=True)


#: Faults an UploadApi can inject, by name:
#: "500-after", "drop-after", "timeout-after": store the files, then answer 500 / break the connection / time out;
#: "500-before", "drop-before": store nothing, answer 500 / break the connection (the client cannot tell);
#: "503", "429": store nothing and say so.
FAULTS = ("500-after", "drop-after", "timeout-after", "500-before", "drop-before", "503", "429")


class UploadApi:
    """A server for uploads behind ``responses``: image counts per category and faults on demand.

    ``requests`` records (category, [file names], where the fields came from) of every
    UploadFile request; ``stored`` every stored part as (category, file name).
    """

    def __init__(self, rsps: responses.RequestsMock, categories: Sequence[str] = ("Bag", "Coat"), *,
                 model_id: str = "m1", dedupe: bool = False, first_part_only: bool = False,
                 hook: Callable[[str, list[str]], None] | None = None) -> None:
        self.model_id = model_id
        self.counts: dict[str, int] = {c: 0 for c in categories}
        self.dedupe = dedupe
        self.first_part_only = first_part_only
        self.hook = hook
        self.requests: list[tuple[str, list[str], str]] = []
        self.stored: list[tuple[str, str]] = []
        self.model_reads = 0
        #: Per file name: (status, body) to answer for a request holding it (nothing stored).
        self.refuse: dict[str, tuple[int, dict]] = {}
        self._faults: deque[tuple[str, Callable[[str, list[str]], bool] | None]] = deque()
        self._lock = threading.Lock()
        self._seen: set = set()
        self.get_fault: Callable[[], str | None] | None = None
        #: Answers UploadFile requests; a test may wrap it (``api.upload_handler = my_wrapper``).
        self.upload_handler: Callable = self._upload
        rsps.add_callback(responses.GET, API + "/Model/", callback=self._get)
        rsps.add_callback(responses.POST, API + "/UploadFile/", callback=lambda request: self.upload_handler(request))

    def fail_next(self, fault: str, times: int = 1, when: Callable[[str, list[str]], bool] | None = None) -> None:
        """Inject ``fault`` into the next ``times`` UploadFile requests (that ``when(category, names)`` accepts)."""
        assert fault in FAULTS, fault
        for _ in range(times):
            self._faults.append((fault, when))

    def _headers(self) -> dict[str, str]:
        return {"Nanoclient-Dedupe": "sha256"} if self.dedupe else {}

    def _model(self) -> dict:
        return model_json(self.model_id, state=1, counts=dict(self.counts))

    def _get(self, request):
        fault = self.get_fault() if self.get_fault else None
        if fault == "503":
            return json_response({"message": "busy", "code": 503}, 503)
        with self._lock:
            self.model_reads += 1
            return json_response(self._model(), headers=self._headers())

    def _take_fault(self, category: str, names: list[str]) -> str | None:
        with self._lock:
            for index, (fault, when) in enumerate(self._faults):
                if when is None or when(category, names):
                    del self._faults[index]
                    return fault
        return None

    def _upload(self, request):
        form, parts = request_multipart(request)
        query = query_fields(request)
        where = "query" if "category" in query else "form"
        fields = query if where == "query" else form
        assert set(fields) == {"modelId", "category"}, (form, query)
        assert all(p[0] == "file" for p in parts) and parts
        category = fields["category"][0]
        names = [p[1] for p in parts]
        with self._lock:
            self.requests.append((category, names, where))
        if self.hook is not None:
            self.hook(category, names)
        for name in names:
            if name in self.refuse:
                status, body = self.refuse[name]
                return json_response(body, status, self._headers())
        fault = self._take_fault(category, names)
        if fault == "503":
            return json_response({"message": "busy", "code": 503}, 503)
        if fault == "429":
            return json_response({"message": "slow down", "code": 429}, 429, {"Retry-After": "1"})
        if fault == "500-before":
            return json_response({"message": "oops", "code": 500}, 500)
        if fault == "drop-before":
            raise requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected")
        if category not in self.counts:
            return json_response({"message": f"Unknown category {category!r}", "code": 400}, 400)
        with self._lock:
            kept = parts[:1] if self.first_part_only else parts
            for _, name, _, data in kept:
                key = (category, data)
                if self.dedupe and key in self._seen:
                    continue
                self._seen.add(key)
                self.counts[category] += 1
                self.stored.append((category, name))
            body = self._model()
        if fault == "500-after":
            return json_response({"message": "oops, but stored", "code": 500}, 500)
        if fault == "drop-after":
            raise requests.exceptions.ConnectionError("Connection broken: IncompleteRead")
        if fault == "timeout-after":
            raise requests.exceptions.ReadTimeout("Read timed out")
        return json_response(body, headers=self._headers())
