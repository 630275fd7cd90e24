"""``nanoclient upload``'s run: every file of the folder accounted for, by its path, each outcome as it is
known (``--report``), and Ctrl-C at once with what was done and how to go on. Imported when the command runs."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._errors import error_line
from .._framework import CliFailure, Interrupted, State, _plural, format_model, info, warn

if TYPE_CHECKING:
    from ... import UploadJournal
    from ..._upload import Resend
    from ...image_categorization.plan import UploadPlan
    from ...types import Model, PathLike

#: The outcomes an upload report names, for each file (``WOULD_UPLOAD``: with ``--dry-run``).
UPLOADED, ALREADY, SKIPPED, INVALID, REFUSED, UNSETTLED, WOULD_UPLOAD = (
    "uploaded", "already there", "skipped", "invalid", "refused", "unsettled", "would upload")


class UploadLedger:
    """Every file of an upload and its outcome, written to ``--report`` as each becomes known.

    The entries are kept in memory only when ``keep`` (for ``--json``); otherwise only counts,
    so that memory does not grow with the folder.
    """

    def __init__(self, report_path: Path | None, *, keep: bool) -> None:
        from ..._results import RecordFile

        self.files: list[dict[str, Any]] = []
        self.keep = keep
        self.counts: Counter[str] = Counter()
        self.recorded = 0  # files skipped because the local record has them
        self.ignored = 0  # hidden and system names (images.is_ignored_name): skipped, never named on stderr
        self.remarks: dict[str, str] = {}  # file -> what its line says besides its outcome's reason
        self.report = RecordFile(report_path) if report_path is not None else None

    def note(self, path: PathLike, category: str, outcome: str, reason: str = "", sha256: str = "", *,
             quiet: bool = False) -> None:
        """Record one file's outcome (and name it on stderr if it was skipped or failed, unless ``quiet``:
        the caller said it another way). A ``remark`` made on the file joins its reason."""
        remark = self.remarks.pop(str(path), "")
        reason = f"{reason}; {remark}" if reason and remark else reason or remark
        entry = {"file": str(path), "category": category, "sha256": sha256, "outcome": outcome, "reason": reason}
        self.counts[outcome] += 1
        if self.keep:
            self.files.append(entry)
        if self.report is not None:
            self.report.write(entry)
        if quiet:
            return
        if outcome in (INVALID, REFUSED, UNSETTLED):
            warn(f"{'failed' if outcome == REFUSED else outcome} {path}: {reason}")
        elif outcome == SKIPPED:
            info(f"skipped {path}: {reason}")

    def ignore(self, path: PathLike, reason: str) -> None:
        """Record a hidden or system name (``.DS_Store``, ``Thumbs.db``, ``.git/``): a ``skipped`` line in the
        report, counted apart as ignored, and not named on stderr."""
        self.ignored += 1
        self.note(path, "", SKIPPED, reason, quiet=True)

    def remark(self, path: PathLike, text: str) -> None:
        """Say ``text`` in the file's line too, whatever its outcome (noted later)."""
        earlier = self.remarks.get(str(path))
        self.remarks[str(path)] = f"{earlier}; {text}" if earlier else text

    def count(self, outcome: str) -> int:
        return self.counts[outcome]

    def close(self) -> None:
        if self.report is not None:
            self.report.close()


def run_upload(state: State, folder: Path, *, workers: int, batch_size: int, force: bool,
               report_path: Path | None, dry_run: bool, unsettled: str = "skip", wait_lock: bool = False) -> None:
    """``nanoclient upload``: every file of the folder accounted for, by its path.

    Each file ends as one of: uploaded; already there (recorded as uploaded to this model, or
    the same bytes as another file of the same category in this folder); skipped (not a PNG or JPEG
    by its first bytes, not walked, no category; or a hidden or system name, counted as ignored and
    not named on stderr); invalid (not sent: not a whole image, unreadable, a folder that is not a
    category); refused (sent, and the server did not store it); unsettled (the client could not find
    out). ``--report`` writes one JSON line per file as it is known (with ``--dry-run``, "would
    upload" for the files that pass); ``--json`` carries the same list; the same bytes under two
    categories are named in both files' lines. Exit 1 if any file is invalid, refused or unsettled.

    The SDK plans the upload (``image_categorization.plan``: each file's bytes, the same bytes twice) and
    keeps it exactly-once across interruptions with the model's upload journal: it settles what an earlier
    run left on its way, skips what the model has, and does not resend unsettled files unless
    ``unsettled`` is "resend" ("accept" records them as uploaded). This only formats.
    """
    from ... import UploadJournal
    from ...image_categorization.plan import plan_upload
    from ...images import find_labelled_images

    client = state.client()
    model_id = state.model_id()
    model = client.get_model(model_id)
    ignored: list[tuple[Path, str]] = []
    items, unnamed = find_labelled_images(folder, ignored=ignored)
    if not items:
        raise CliFailure(f"no images in {folder}: expected one sub-folder per category with PNG or JPEG images")
    items, strangers = split_by_category(folder, items, model)
    ledger = UploadLedger(report_path, keep=state.json)
    click.get_current_context().call_on_close(ledger.close)
    for path, reason in unnamed:
        ledger.note(path, "", SKIPPED, reason)
    for path, reason in ignored:
        ledger.ignore(path, reason)
    for category, count in Counter(category for _, category in strangers).items():  # one line per folder
        warn(f"not sent: the {count} {_plural(count, 'image')} in folder {category!r}: it is not a category of "
             f"model {model.id}")
    for path, category in strangers:
        ledger.note(path, category, INVALID, f"folder {category!r} is not a category of model {model.id}", quiet=True)
    journal = UploadJournal.for_model(client.base_url, model_id, wait=wait_lock)
    click.get_current_context().call_on_close(journal.close)
    plan = plan_upload(items)  # memory grows with the folder here: a path and 32 bytes of digest per file
    del items
    for file, category, reason in plan.unreadable:
        ledger.note(file, category, INVALID, reason)
    for conflict in plan.conflicts:
        file, category, other, other_category = (conflict["file"], conflict["category"], conflict["same_as"],
                                                 conflict["same_as_category"])
        warn(f"the same image in two categories: {file} ({category}) has the same bytes as {other} "
             f"({other_category}); the model would learn both labels for it")
        ledger.remark(file, f"the same bytes as {other}, in category {other_category!r}")
        ledger.remark(other, f"the same bytes as {file}, in category {category!r}")
    for file, category, earlier in plan.same_as:
        ledger.note(file, category, ALREADY, f"the same bytes as {earlier}", plan.digest(file))
    if dry_run:
        _dry_run(state, model, _journal_filter(journal, plan, ledger, force), plan, ledger)
        return
    if unsettled == "accept" and journal.unsettled_files:
        with journal.locked():
            info(f"{journal.accept_unsettled()} unsettled images recorded as uploaded to this model")

    def uploaded(path: PathLike, category: str, _model: Model) -> None:
        ledger.note(path, category, UPLOADED, "", plan.digest(path))

    resend: Resend = "all" if force else "unsettled" if unsettled == "resend" else "missing"
    to_send = plan.to_send
    with state.progress(len(to_send)) as bar:
        try:
            outcome = client.upload_files(model_id, round_robin(to_send), workers=workers, batch_size=batch_size,
                                          progress=bar.update, on_uploaded=uploaded, journal=journal,
                                          resend=resend, digest=plan.digest)
        except KeyboardInterrupt as exc:
            bar.close()
            raise Interrupted(f"{ledger.count(UPLOADED)} of {len(to_send)} images uploaded; run the same command "
                              "to resume (what was on its way is settled first, from the model's counts)") from exc
    category_of = dict(to_send) if outcome.skipped or outcome.failed or outcome.unsettled or outcome.already else {}
    for file in outcome.already:
        ledger.note(file, category_of[file], ALREADY, "recorded as uploaded to this model (--force sends it again)",
                    plan.digest(file))
        ledger.recorded += 1
    if ledger.recorded:
        info(f"{ledger.recorded} {_plural(ledger.recorded, 'image')} already uploaded to this model (upload journal); "
             "--force sends them again")
    for file, reason in outcome.skipped:
        ledger.note(file, category_of.get(file, ""), INVALID, reason, plan.digest(file))
    for file, error in outcome.failed:
        ledger.note(file, category_of.get(file, ""), REFUSED, error_line(error, state), plan.digest(file))
    for file, why in outcome.unsettled:
        ledger.note(file, category_of.get(file, ""), UNSETTLED, why, plan.digest(file))
    if outcome.unsettled:
        count = len(outcome.unsettled)
        warn(f"unsettled: {count} {_plural(count, 'image')}, which the model may or may not hold. Compare its counts "
             "(nanoclient status) with the folder, then run again with --unsettled resend to send what is "
             "unsettled, or --unsettled accept to record it as uploaded")
    _upload_summary(state, model, client.get_model(model_id), ledger, plan.conflicts)


def _journal_filter(journal: UploadJournal, plan: UploadPlan, ledger: UploadLedger, force: bool
                    ) -> list[tuple[str, str]]:
    """For ``--dry-run``: the files an upload would send by what the journal says (the others noted)."""
    from ...image_categorization.plan import journal_view

    view = journal_view(journal, plan, force=force)
    for file, category in view.stored:
        ledger.note(file, category, ALREADY, "recorded as uploaded to this model (--force sends it again)",
                    plan.digest(file))
    for file, category, why in view.unsettled:
        ledger.note(file, category, UNSETTLED, f"{why}; not sent again unless --unsettled resend", plan.digest(file))
    if view.pending and not force:
        info(f"an earlier upload stopped with {view.pending} {_plural(view.pending, 'image')} on the way: the next "
             f"upload settles {'it' if view.pending == 1 else 'them'} first, from the model's counts")
    return view.to_send


def _upload_summary(state: State, before: Model, after: Model, ledger: UploadLedger,
                    conflicts: list[dict[str, str]]) -> None:
    """The result: counts (what the server newly stored apart from what it already had) that add up to the
    files seen, the files, the images found in two categories, the model."""
    sent = ledger.count(UPLOADED)
    newly = max(0, after.image_count - before.image_count)
    not_images = ledger.count(SKIPPED) - ledger.ignored
    seen = sum(ledger.counts.values())
    result = {
        "uploaded": sent, "newly_stored": min(newly, sent), "already_stored": max(0, sent - newly),
        "already_there": ledger.count(ALREADY), "invalid": ledger.count(INVALID), "failed": ledger.count(REFUSED),
        "unsettled": ledger.count(UNSETTLED), "not_images": not_images, "ignored": ledger.ignored,
        # every file not sent, for 0.x scripts
        "skipped": ledger.count(ALREADY) + ledger.count(INVALID) + ledger.count(SKIPPED),
        "files_seen": seen, "conflicts": conflicts,
        "files": ledger.files, "model": after.to_json(),
    }
    summary = (f"uploaded {sent} ({result['newly_stored']} newly stored, {result['already_stored']} the server "
               f"already had), already there {result['already_there']}, not images {not_images}, "
               f"{_ignored_count(ledger)}invalid {result['invalid']}, failed {result['failed']}")
    if result["unsettled"]:
        summary += f", unsettled {result['unsettled']}"
    summary += f": {seen} {_plural(seen, 'file')}"
    state.emit(result, "\n".join([summary, *format_model(after)]))
    if result["invalid"] or result["failed"] or result["unsettled"]:
        raise click.exceptions.Exit(1)


def _dry_run(state: State, model: Model, to_send: list[tuple[str, str]], plan: UploadPlan,
             ledger: UploadLedger) -> None:
    """``upload --dry-run``: check every file fully and say what would be sent; send nothing."""
    from ...images import check_files

    category_of = dict(to_send)
    valid, invalid = check_files([path for path, _ in to_send])
    for path, reason in invalid:
        ledger.note(path, category_of[str(path)], INVALID, reason, plan.digest(path))
    adding: dict[str, int] = {}
    for path in valid:
        adding[category_of[str(path)]] = adding.get(category_of[str(path)], 0) + 1
        ledger.note(path, category_of[str(path)], WOULD_UPLOAD, "", plan.digest(path))
    lines = [f"would upload {len(valid)} {_plural(len(valid), 'image')} to model {model.id}; nothing was sent"]
    for category in model.categories:
        total = category.count + adding.get(category.name, 0)
        short = (f"  below the training minimum of {model.min_images}"
                 if model.min_images is not None and total < model.min_images else "")
        lines.append(f"  {category.name}: {category.count} + {adding.get(category.name, 0)} = {total}{short}")
    unsettled = f", unsettled {ledger.count(UNSETTLED)}" if ledger.count(UNSETTLED) else ""
    lines.append(f"already there {ledger.count(ALREADY)}, not images {ledger.count(SKIPPED) - ledger.ignored}, "
                 f"{_ignored_count(ledger)}invalid {ledger.count(INVALID)}{unsettled}")
    data = {"dry_run": True, "would_upload": {c.name: adding.get(c.name, 0) for c in model.categories},
            "min_images": model.min_images, "files": ledger.files, "model": model.to_json()}
    state.emit(data, "\n".join(lines))
    if ledger.count(INVALID):
        raise click.exceptions.Exit(1)


def _ignored_count(ledger: UploadLedger) -> str:
    """The summary's part for hidden and system names, when there are any ("ignored 2 (hidden or system), ")."""
    return f"ignored {ledger.ignored} (hidden or system), " if ledger.ignored else ""


def round_robin(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The items with categories taken in turn, so that batches of several categories can go at once."""
    by_category: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        by_category.setdefault(item[1], []).append(item)
    queues = list(by_category.values())
    mixed: list[tuple[str, str]] = []
    for index in range(max((len(q) for q in queues), default=0)):
        mixed.extend(q[index] for q in queues if index < len(q))
    return mixed


def split_by_category(folder: Path, items: list[tuple[Path, str]], model: Model
                      ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(the items whose folder is a category of the model, the others); error if none match."""
    known = {c.name for c in model.categories}
    found = sorted({category for _, category in items})
    strangers = [name for name in found if name not in known]
    if len(strangers) == len(found):
        raise CliFailure(
            f"none of the folders in {folder} ({', '.join(found)}) is a category of model {model.id} "
            f"({', '.join(sorted(known))})"
        )
    kept = [(path, category) for path, category in items if category in known]
    dropped = [(path, category) for path, category in items if category not in known]
    return kept, dropped


__all__ = ["run_upload", "UploadLedger", "round_robin", "split_by_category", "UPLOADED", "ALREADY", "SKIPPED",
           "INVALID", "REFUSED", "UNSETTLED", "WOULD_UPLOAD"]
