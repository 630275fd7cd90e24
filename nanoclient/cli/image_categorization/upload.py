"""``nanoclient upload``: the command; the run is in ``_upload_run``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..._tuning import DEFAULT_UPLOAD_BATCH_SIZE, DEFAULT_UPLOAD_WORKERS, MAX_WORKERS
from .._framework import State, _as_path, api_command, cli

if TYPE_CHECKING:
    from pathlib import Path


# --------------------------------------------------------------------------- upload


@api_command(cli)
@click.argument("folder", type=click.Path(exists=True, file_okay=False), callback=_as_path, metavar="DIR")
@click.option("--workers", type=click.IntRange(1, MAX_WORKERS), default=DEFAULT_UPLOAD_WORKERS, show_default=True,
              help="Upload requests in parallel.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=DEFAULT_UPLOAD_BATCH_SIZE, show_default=True,
              help="Images of one category per request (and at most 8 MB).")
@click.option("--force", is_flag=True, help="Send every image again, even those the upload journal says were stored.")
@click.option("--unsettled", type=click.Choice(["skip", "resend", "accept"]), default="skip", show_default=True,
              help="Images an earlier upload could not settle (maybe stored): leave them (exit 1), send them "
                   "again, or record them as uploaded.")
@click.option("--wait-lock", is_flag=True, help="If another upload to this model runs on this machine, wait for "
                                                "it to end (default: exit 1).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), callback=_as_path, default=None,
              metavar="FILE", help="Write one JSON line per file to FILE as its outcome is known: path, category, "
                                   "sha256, outcome and reason.")
@click.option("--dry-run", is_flag=True, help="Check every file and say what would be sent; send nothing.")
def upload(state: State, folder: Path, workers: int, batch_size: int, force: bool, unsettled: str,
           wait_lock: bool, report_path: Path | None, dry_run: bool) -> None:
    """Upload labelled images from a folder.

    DIR holds one sub-folder per category, or train/ (and test/) folders that do.
    Every file ends as uploaded, already there (recorded as uploaded to this model, or the
    same bytes as another file of its category), invalid (not sent: not an image, unreadable,
    not in a category of the model), refused by the server, or unsettled (the client could not
    find out whether the server stored it); each failure is named on stderr. Each image is
    stored once, even against a server that does not deduplicate (the counts are checked).
    What each model received is recorded locally, so running the same command again after an
    interruption sends only what is missing (--force sends everything). Exits with 1 if any
    file is invalid, refused or unsettled; Ctrl-C stops at once (exit 130).

    \b
    Examples:
      nanoclient upload images                 # images/train/<category>/*.png
      nanoclient upload photos --dry-run       # check first, send nothing
      nanoclient upload photos --report upload.jsonl --json
    """
    from ._upload_run import run_upload

    run_upload(state, folder, workers=workers, batch_size=batch_size, force=force, report_path=report_path,
               dry_run=dry_run, unsettled=unsettled, wait_lock=wait_lock)


