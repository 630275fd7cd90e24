"""The local server's own extension, for its dashboard: stored images read back, evaluation reports.

The hosted API has none of this, so it lives apart from the API's rules (``backend.py``) and
under its own prefix on the wire (``/local/v1``, see ``local_operations.py``). It keeps the API's
isolation: every call names the caller's account, and a model of another account is
``NotFoundError``, exactly as in the API.

- Images: a model's images, newest first, a page at a time; a thumbnail of each (Pillow,
  ``thumbnails.py``), made once and cached in the data folder, identified by the image's
  content hash (its ETag never changes, since stored bytes never do).
- Reports: ``nanoclient evaluate --report`` stores its HTML here (size-capped), and the
  dashboard opens it through a *link*: a random token, good for one use within a minute,
  because a page opened in a new tab cannot send the API key, and the key must never go
  into a URL. The token is no key: it opens that one report, once.

No HTTP here: the handlers of ``local_operations.py`` call it and render what it returns.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BadRequestError, NotFoundError, PayloadTooLargeError
from .backend import Account, Backend
from .store import ImageRecord
from .thumbnails import THUMB_SIZE, THUMB_VERSION, make_thumbnail

#: Images per page of a listing, by default and at most.
IMAGES_PER_PAGE = 24
MAX_IMAGES_PER_PAGE = 100
#: Largest report stored, in bytes (a report embeds its images: about 30 KB per mistake).
REPORT_MAX_BYTES = 20 * 1024 * 1024
#: Seconds a report link stays good, and how many may be outstanding at once (the oldest go first).
LINK_SECONDS = 60.0
MAX_LINKS = 256
_REPORT_HINT = "Send the file that nanoclient evaluate --report wrote"


@dataclass(frozen=True)
class ImagePage:
    """One page of a model's images, newest first."""

    model_id: str
    category: str | None
    page: int
    per_page: int
    total: int
    images: list[ImageRecord]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def to_json(self) -> dict[str, object]:
        return {
            "model_id": self.model_id,
            "category": self.category,
            "page": self.page,
            "per_page": self.per_page,
            "pages": self.pages,
            "total": self.total,
            "images": [{"id": image.id, "category": image.category, "name": image.name, "sha256": image.sha256,
                        "created_at": image.created_at} for image in self.images],
        }


@dataclass(frozen=True)
class ThumbnailRef:
    """A thumbnail as it can be named before it is read: its image and its ETag."""

    model_id: str
    image: ImageRecord

    @property
    def etag(self) -> str:
        """The content hash of the image, with the thumbnail's size and version (unquoted)."""
        return f"{self.image.sha256}-{THUMB_SIZE}-v{THUMB_VERSION}"


@dataclass(frozen=True)
class ReportInfo:
    """What is stored of a model's report."""

    model_id: str
    size: int
    stored_at: float

    def to_json(self) -> dict[str, object]:
        return {"model_id": self.model_id, "size": self.size, "stored_at": self.stored_at}


class LocalData:
    """The extension's operations over one backend (its store and its accounts); thread-safe."""

    def __init__(self, backend: Backend, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.backend = backend
        self.store = backend.store
        self._now = clock
        self._links: OrderedDict[str, tuple[int, str, float]] = OrderedDict()  # token -> account, model, expiry
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ images

    def images(self, account: Account, model_id: str, category: str | None, page: str | None,
               per_page: str | None) -> ImagePage:
        """A page (1-based) of the model's images, of ``category`` or all of them, newest first."""
        categories = self._categories(account, model_id)
        if category is not None and category not in categories:
            raise BadRequestError(f"Unknown category {category!r}",
                                  hint="The model's categories are: " + ", ".join(categories))
        number = _whole(page, "page", 1, 1, 1_000_000)
        size = _whole(per_page, "per_page", IMAGES_PER_PAGE, 1, MAX_IMAGES_PER_PAGE)
        total, records = self.store.model_images(model_id, category, offset=(number - 1) * size, limit=size)
        return ImagePage(model_id, category, number, size, total, records)

    def thumbnail_ref(self, account: Account, model_id: str, image_id: str) -> ThumbnailRef:
        """The thumbnail of one image of the model (NotFoundError for any other image)."""
        self._categories(account, model_id)
        number = int(image_id) if image_id.isdigit() and len(image_id) < 19 else None
        record = None if number is None else self.store.model_image(model_id, number)
        if record is None:
            raise NotFoundError("Image does not exist", hint="List the model's images for their ids")
        return ThumbnailRef(model_id, record)

    def thumbnail(self, ref: ThumbnailRef) -> tuple[bytes, str]:
        """(bytes, media type) of a thumbnail: the cached one, or made now and cached."""
        sha = ref.image.sha256
        for extension, media in (("jpg", "image/jpeg"), ("png", "image/png")):
            try:
                return self.store.thumbnail_path(sha, f"{THUMB_SIZE}-v{THUMB_VERSION}.{extension}").read_bytes(), media
            except FileNotFoundError:
                continue
        data, media = make_thumbnail(self.store.image_path(sha).read_bytes(), THUMB_SIZE)
        extension = "jpg" if media == "image/jpeg" else "png"
        self.store.put_thumbnail(sha, f"{THUMB_SIZE}-v{THUMB_VERSION}.{extension}", data)
        return data, media

    # ------------------------------------------------------------------ reports

    def put_report(self, account: Account, model_id: str, data: bytes | None) -> ReportInfo:
        """Store the model's evaluation report (UTF-8 HTML), replacing the previous one."""
        self._categories(account, model_id)
        if not data:
            raise BadRequestError("Missing report", hint="Send the HTML file as the 'report' part")
        if len(data) > REPORT_MAX_BYTES:
            raise PayloadTooLargeError(f"Report larger than {REPORT_MAX_BYTES // (1024 * 1024)} MB",
                                       hint="Evaluate on fewer images")
        try:
            head = data.decode("utf-8")[:4096]
        except UnicodeDecodeError:
            raise BadRequestError("The report is not UTF-8 text", hint=_REPORT_HINT) from None
        if "<html" not in head.lower():
            raise BadRequestError("The report is not an HTML page", hint=_REPORT_HINT)
        self.store.put_report(model_id, data)
        return self.report_info(account, model_id)

    def report_info(self, account: Account, model_id: str) -> ReportInfo:
        """What is stored of the model's report (NotFoundError if none)."""
        self._categories(account, model_id)
        try:
            stat = self.store.report_path(model_id).stat()
        except FileNotFoundError:
            raise NotFoundError("No report stored for this model",
                                hint="Run nanoclient evaluate DIR --report FILE against this server") from None
        return ReportInfo(model_id, stat.st_size, stat.st_mtime)

    def report_link(self, account: Account, model_id: str) -> tuple[str, float]:
        """(token, seconds it stays good) of a one-use link to the model's report."""
        self.report_info(account, model_id)
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = self._now()
            for old, (_, _, expiry) in list(self._links.items()):
                if expiry <= now:
                    del self._links[old]
            while len(self._links) >= MAX_LINKS:
                self._links.popitem(last=False)
            self._links[token] = (account.id, model_id, now + LINK_SECONDS)
        return token, LINK_SECONDS

    def report_by_link(self, token: str) -> bytes:
        """The HTML a link opens; the link is used up. NotFoundError if unknown, used or expired."""
        with self._lock:
            entry = self._links.pop(token, None)
        if entry is None or entry[2] <= self._now():
            raise NotFoundError("This report link is unknown, used or expired",
                                hint="Open the report again from the dashboard")
        try:
            return self.store.report_path(entry[1]).read_bytes()
        except FileNotFoundError:
            raise NotFoundError("No report stored for this model") from None

    # ------------------------------------------------------------------ plumbing

    def _categories(self, account: Account, model_id: str) -> list[str]:
        """The model's categories, once it is known to be this account's (else NotFoundError)."""
        categories = self.store.model_categories(account.id, model_id) if model_id else None
        if categories is None:
            raise NotFoundError("Model does not exist", hint="Check that the model id is correct")
        return categories


def _whole(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number from a query parameter, ``default`` when absent; BadRequestError out of [low, high]."""
    if value is None or value == "":
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequestError(f"{name} must be a whole number from {low} to {high}", hint=f"For example {name}={low}")
    return int(value)


__all__ = ["IMAGES_PER_PAGE", "LINK_SECONDS", "REPORT_MAX_BYTES", "ImagePage", "LocalData", "ReportInfo",
           "ThumbnailRef"]
