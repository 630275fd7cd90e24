"""Planning an upload of labelled image files before it goes: the bytes of each file, which files are the same
bytes as another of the same category (sent once), which are the same bytes under two categories (a
labelling mistake the model would learn), and what the model's upload journal says of each.

    from nanoclient import Client, UploadJournal
    from nanoclient.image_categorization.plan import plan_upload
    plan = plan_upload(items)                          # [(path, category)]
    with Client() as client:
        journal = UploadJournal.for_model(client.base_url, model_id)
        try:
            client.upload_files(model_id, plan.to_send, journal=journal, digest=plan.digest)
        finally:
            journal.close()

``nanoclient upload`` formats a plan and the upload's outcome; it hashes no file and reads no journal
itself. Memory grows with the files planned: a path and 32 bytes of digest each.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from .._journal import UploadJournal, file_digest
from ..types import PathLike


@dataclass
class UploadPlan:
    """What an upload of these files would send, and why the others are not sent."""

    #: (path, category) of the files to send, in the order given.
    to_send: list[tuple[str, str]] = field(default_factory=list)
    #: (path, category, the earlier path): the same bytes as an earlier file of the same category, sent once.
    same_as: list[tuple[str, str, str]] = field(default_factory=list)
    #: The same bytes under two categories: {file, category, same_as, same_as_category}, one per later file.
    conflicts: list[dict[str, str]] = field(default_factory=list)
    #: (path, category, why): files that could not be read.
    unreadable: list[tuple[str, str, str]] = field(default_factory=list)
    _digests: dict[str, bytes] = field(default_factory=dict, repr=False)

    def digest(self, path: PathLike) -> str:
        """The SHA-256 (hex) of a planned file's bytes, as read when planning."""
        return self._digests[os.fspath(path)].hex()


def plan_upload(items: Iterable[tuple[PathLike, str]]) -> UploadPlan:
    """Read every file once (its SHA-256) and plan what goes (see ``UploadPlan``)."""
    plan = UploadPlan()
    first_of: dict[tuple[bytes, str], str] = {}  # (bytes, category) -> the file sent for them
    label_of: dict[bytes, tuple[str, str]] = {}  # bytes -> the first (category, file) they were seen in
    for given, category in items:
        path = os.fspath(given)
        try:
            digest = bytes.fromhex(file_digest(path))
        except OSError as exc:
            plan.unreadable.append((path, category, str(exc)))
            continue
        other_category, other = label_of.setdefault(digest, (category, path))
        if other_category != category:
            plan.conflicts.append({"file": path, "category": category, "same_as": other,
                                   "same_as_category": other_category})
        earlier = first_of.setdefault((digest, category), path)
        plan._digests[path] = digest
        if earlier != path:
            plan.same_as.append((path, category, earlier))
        else:
            plan.to_send.append((path, category))
    return plan


@dataclass
class JournalView:
    """What the model's upload journal says of a plan's files, without sending anything (a dry run)."""

    #: (path, category) the journal has no record of: an upload would send them.
    to_send: list[tuple[str, str]] = field(default_factory=list)
    #: (path, category) recorded as stored in the model.
    stored: list[tuple[str, str]] = field(default_factory=list)
    #: (path, category, why) that an earlier upload could not settle.
    unsettled: list[tuple[str, str, str]] = field(default_factory=list)
    #: Files an earlier upload left on their way (settled by the next upload, from the model's counts).
    pending: int = 0


def journal_view(journal: UploadJournal, plan: UploadPlan, *, force: bool = False) -> JournalView:
    """What ``journal`` says of each file ``plan`` would send (``force``: send everything again)."""
    view = JournalView(pending=sum(len(batch.files) for batch in journal.open_batches))
    for path, category in plan.to_send:
        state = "missing" if force else journal.state(plan.digest(path), category)
        if state == "stored":
            view.stored.append((path, category))
        elif state == "unsettled":
            view.unsettled.append((path, category, journal.unsettled_reason(plan.digest(path), category)))
        else:
            view.to_send.append((path, category))
    return view


__all__ = ["JournalView", "UploadPlan", "journal_view", "plan_upload"]
