"""Finding labelled images in folders, and checking that a file is a valid image.

A valid image, on both sides (the SDK and CLI check files before sending them,
``check_image_file``; the local server checks what it receives, ``check_image_bytes``;
both run ``_check_image``):

- a PNG or a JPEG, by its content whatever its name (MPO, the multi-picture JPEG of phone
  cameras, is a JPEG);
- at most MAX_PIXELS pixels (40 million, width times height);
- whole: all of it decodes without error, so a truncated or corrupt file is refused;
- no byte limit of its own: a file must fit in one request, which the local server caps at
  ``--max-upload-mb`` (32 MB by default), and an image fetched from a URL at ``--fetch-max-mb``
  (20 MB by default). The hosted service documents no limit.

Truncation is caught because Pillow refuses truncated data unless ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``
is set, which nothing here does. A JPEG in memory is first decoded by libjpeg-turbo when simplejpeg
is installed (``nanoclient[fast]``, and the server's extra): what it decodes without a warning is
valid, anything else goes to Pillow, whose verdict and message are the ones given.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from ._tuning import UPLOAD_IN_MEMORY_BYTES
from .errors import InvalidImageError
from .types import PathLike

#: (path, reason) pairs: what a walk of a folder skips or ignores, and why.
PathReasons = list[tuple[Path, str]]

#: File name endings of images, for messages and for naming sent files (images are found by content).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Formats the API accepts, as Pillow names them.
ACCEPTED_FORMATS = ("JPEG", "PNG")
#: Largest valid image, in pixels; larger ones are refused before decoding (decompression bombs).
MAX_PIXELS = 40_000_000

#: Pillow's names for JPEG variants, which are JPEG files all the same (MPO: phone cameras' multi-picture JPEG).
_JPEG_VARIANTS = ("MPO",)

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def sniff_format(head: bytes) -> str | None:
    """'PNG' or 'JPEG' from the first bytes of a file, else None (cheap, no decoding)."""
    if head.startswith(_PNG_MAGIC):
        return "PNG"
    if head.startswith(_JPEG_MAGIC):
        return "JPEG"
    return None


#: Formats that users' folders hold and the API does not take, by their first bytes: named in the reason.
_OTHER_FORMATS = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
                  (b"%PDF", "PDF"))


def not_an_image(path: PathLike) -> str | None:
    """Why a file found in a folder is not sent as an image (None: it starts like a PNG or a JPEG, whatever
    its name). The one rule of upload, predict, evaluate and --dry-run for the files of a folder; the whole
    check (``check_image_file``) comes when the file is sent."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if sniff_format(head) is not None:
        return None
    if not head:
        return "an empty file"
    kind = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        kind = "WEBP"
    elif head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        kind = "HEIC/AVIF"
    return f"not a PNG or JPEG image{f' ({kind})' if kind else ''}"


def check_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """Check that ``data`` is a valid image (the module's docstring); return (format, width, height).

    For the server, on what it receives. Raises InvalidImageError saying what is wrong.
    """
    return _check_image(io.BytesIO(data), "File", max_pixels)


def check_image_file(path: PathLike, *, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """Check, before sending it, that ``path`` is a valid image (the module's docstring); return
    (format, width, height).

    Raises FileNotFoundError for a missing path, IsADirectoryError for a folder, another
    OSError for a file that cannot be read (each with a message naming the path), and
    InvalidImageError for a file that is not a valid image. The file is opened once (this
    runs for every file of an upload) and decoded whole, as the server will; a small one is read
    into memory first, where a JPEG takes the fast path.
    """
    return _check_file(path, max_pixels, UPLOAD_IN_MEMORY_BYTES)[0]


def read_image_file(path: PathLike, *, keep_bytes: int, max_pixels: int = MAX_PIXELS) -> tuple[str, bytes | None]:
    """``check_image_file``, returning (format, the bytes checked) for a file of at most ``keep_bytes``
    bytes (read once: what was checked is what gets sent), (format, None) for a larger one."""
    (fmt, _, _), data = _check_file(path, max_pixels, keep_bytes)
    return fmt, data


def _check_file(path: PathLike, max_pixels: int, keep_bytes: int) -> tuple[tuple[str, int, int], bytes | None]:
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {os.fspath(path)}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"Not a file: {os.fspath(path)}") from None
    except OSError as exc:
        raise OSError(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(f"Not a file: {os.fspath(path)}")
        try:
            data = handle.read(keep_bytes + 1) if info.st_size <= keep_bytes else None
            if data is not None and len(data) > keep_bytes:  # it grew since fstat: read it as a stream
                handle.seek(0)
                data = None
            stream: BinaryIO = handle if data is None else io.BytesIO(data)
            return _check_image(stream, os.path.basename(os.fspath(path)), max_pixels), data
        except OSError as exc:  # only reading the file gets here: _check_image turns Pillow's errors into ours
            raise OSError(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from None


def _check_image(stream: BinaryIO, subject: str, max_pixels: int) -> tuple[str, int, int]:
    """The one check of a valid image (the module's docstring), on a stream at the file's start.

    ``subject`` starts the messages ("File", or the file's name). Raises InvalidImageError,
    or OSError if reading the first bytes fails.
    """
    fmt = sniff_format(stream.read(8))
    if fmt is None:
        raise InvalidImageError(f"{subject} is not a PNG or JPEG image", hint="Send a .png or .jpg image")
    stream.seek(0)
    if fmt == "JPEG" and isinstance(stream, io.BytesIO):
        size = _libjpeg_check(stream.getvalue(), max_pixels)
        if size is not None:
            return "JPEG", size[0], size[1]
    from PIL import Image

    too_large = f"Resize it below {max_pixels:,} pixels"
    try:
        with Image.open(stream, formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidImageError(f"{subject} is too large ({width}x{height} pixels)", hint=too_large)
            # a JPEG decodes at 1/8 scale: every coefficient is still read, in half the time of full size
            image.draft(image.mode, (1, 1))
            image.load()  # raises on truncated or corrupt data
            return _format_name(image.format), width, height
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow refuses it while opening, before our own check
        raise InvalidImageError(f"{subject} is too large (decompression bomb)", hint=too_large) from exc
    except Exception as exc:  # Pillow raises many types for broken data
        raise InvalidImageError(f"{subject} is corrupt or truncated ({type(exc).__name__})",
                                hint="Check the file") from exc


def _libjpeg_check(data: bytes, max_pixels: int) -> tuple[int, int] | None:
    """(width, height) of a JPEG that libjpeg-turbo decodes whole without a single warning, through
    simplejpeg when it is installed (``pip install nanoclient[fast]``; the server's extra has it);
    else None, and Pillow decides, with its messages.

    Ten times faster than Pillow on small images (about 0.015 ms against 0.15 ms for 28x28), whose
    cost is Pillow's parsing of the JPEG markers in Python. It accepts only what Pillow accepts too:
    strict, it refuses what Pillow would let through with a warning (extraneous bytes, a missing
    end marker), which Pillow then judges. Importing it costs about 0.1 s once (NumPy).
    """
    try:
        import simplejpeg
    except ImportError:
        return None
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        if width * height > max_pixels:
            return None  # Pillow refuses it, and says why
        # scaled down by 8, as Pillow's draft: every coefficient is still decoded
        simplejpeg.decode_jpeg(data, strict=True, min_factor=8, min_width=1, min_height=1)
    except Exception:  # corrupt, truncated, CMYK, or anything else: Pillow's verdict is the one given
        return None
    return int(width), int(height)


def _format_name(fmt: str | None) -> str:
    """Pillow's format name, with JPEG variants called JPEG."""
    return "JPEG" if fmt in _JPEG_VARIANTS else (fmt or "")


def is_image_name(path: PathLike) -> bool:
    """True when the file name ends like an image (.jpg, .jpeg, .png, any case)."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


#: The sub-folders of a split layout: DIR/train and DIR/test, each with one folder per category.
SPLITS = ("train", "test")
#: Names (in lower case) that operating systems leave in folders: thumbnail caches, folder settings, the
#: resource forks of a zip made on a Mac. Ignored as hidden names are (``is_ignored_name``).
SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "__macosx", "icon\r"})


def is_ignored_name(path: PathLike) -> bool:
    """True for a name nobody means as data: hidden (``.DS_Store``, ``.git``, ``._photo.jpg``) or left by the
    operating system (``SYSTEM_NAMES``: ``Thumbs.db``, ``desktop.ini``, ``__MACOSX``).

    A walk never reads such a file nor enters such a folder, and does not name it on stderr: it is no
    category, and no image. ``upload --report`` still has one ``skipped`` line for each, so that its
    accounts hold every name under the folder.
    """
    name = os.path.basename(os.fspath(path))
    return name.startswith(".") or name.lower() in SYSTEM_NAMES


def category_name(folder_name: str) -> str:
    """The category that a folder of this name stands for: the one rule, wherever a name becomes a category.

    Surrounding whitespace is dropped (a folder ``"Bag "`` is category ``Bag``) and the name is put in
    Unicode NFC (macOS may store ``é`` as ``e`` plus an accent, which a typed ``é`` would not match).
    Case and inner spaces are kept: ``Bag`` and ``bag`` are two categories. ``create-model`` (names and
    ``--from-dir``), ``upload`` and ``evaluate`` all name categories through this function.
    """
    return unicodedata.normalize("NFC", folder_name).strip()


def labelled_root(root: PathLike, split: str = "train") -> Path:
    """The folder whose sub-folders are categories: ``root/split`` in the split layout, else ``root``.

    The split layout is a ``root`` whose sub-folders (hidden and system ones aside) are exactly
    ``train`` and/or ``test``; in any other folder every sub-folder is a category, ``train`` and
    ``test`` included.
    Raises NotADirectoryError for a ``root`` that is no folder, FileNotFoundError for a split layout
    without ``split``.
    """
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"Not a folder: {base}: pass a folder with one sub-folder per category")
    names = {folder.name for folder in _sub_folders(base)}
    if not names or not names <= set(SPLITS):
        return base
    if split not in names:
        raise FileNotFoundError(f"{base} has {' and '.join(sorted(names))}/ but no {split}/ folder: "
                                f"put one sub-folder of images per category in {base / split}")
    return base / split


def category_folders(root: PathLike, split: str = "train") -> list[tuple[str, Path]]:
    """(category, folder) of each category folder of a labelled folder, sorted (hidden and system folders,
    ``is_ignored_name``, are none).

    Two folders whose names differ only by what ``category_name`` drops name the same category.
    """
    return _category_entries(labelled_root(root, split), [], None)


def _sub_folders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` whose names are not ignored (hidden, ``__MACOSX``), symbolic links to
    folders included."""
    return [path for path in folder.iterdir() if not is_ignored_name(path) and path.is_dir()]


def find_labelled_images(root: PathLike, split: str = "train", *, ignored: PathReasons | None = None
                         ) -> tuple[list[tuple[Path, str]], PathReasons]:
    """Walk a labelled folder: return ((path, category) pairs, (path, reason) skipped).

    The category of an image is ``category_name`` of the sub-folder it sits in (files in deeper
    folders belong to the top one). A file is an image by its content, whatever its name
    (``not_an_image``); the others are skipped with the reason, and so is what is not walked (a link
    to a folder inside a category, a dangling link, an unreadable folder: see ``_walk_files``) and a
    file beside the category folders, which has no category. Names nobody means as data
    (``is_ignored_name``: ``.DS_Store``, ``Thumbs.db``, ``.git/``) are neither: they go to ``ignored``
    with the reason when a list is given (``upload --report`` accounts for them), else nowhere.
    """
    items: list[tuple[Path, str]] = []
    skipped: PathReasons = []
    base = labelled_root(root, split)
    for category, folder in _category_entries(base, skipped, ignored):
        for path in _walk_files(folder, skipped, ignored):
            reason = not_an_image(path)
            if reason is None:
                items.append((path, category))
            else:
                skipped.append((path, reason))
    return items, skipped


def find_images(paths: Iterable[PathLike]) -> tuple[list[Path], PathReasons]:
    """Expand files and folders (recursively, sorted) into (the image files to predict, (path, reason)
    skipped), by the rule of ``find_labelled_images``: in a folder, images by their content, the rest
    skipped with the reason, hidden and system names (``is_ignored_name``) left out.

    Files named explicitly are kept whatever they hold (predicting one that is no image names it as
    failed); a missing path raises FileNotFoundError.
    """
    found: list[Path] = []
    skipped: PathReasons = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for path in _walk_files(p, skipped, None):
                reason = not_an_image(path)
                if reason is None:
                    found.append(path)
                else:
                    skipped.append((path, reason))
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"No such file or folder: {p}")
    return found, skipped


def _category_entries(base: Path, skipped: PathReasons, ignored: PathReasons | None) -> list[tuple[str, Path]]:
    """(category, folder) of each category folder of the labelled folder ``base``, sorted (as
    ``category_folders``); what else ``base`` holds goes to ``skipped`` with the reason (a file there has
    no category) or to ``ignored``."""
    categories: list[tuple[str, Path]] = []
    with os.scandir(base) as scan:
        entries = sorted(scan, key=lambda entry: entry.name)
    for entry in entries:
        path, kind = Path(entry.path), _entry_kind(entry)
        if is_ignored_name(entry.name):
            if ignored is not None:
                ignored.append((path, _ignored_reason(entry.name, kind)))
        elif kind in ("folder", "linked folder"):  # a linked category folder is a category
            categories.append((category_name(entry.name), path))
        elif kind == "file":
            skipped.append((path, "not in a category folder: put it in the sub-folder of its category"))
        else:
            skipped.append((path, _not_walked(path)))
    return sorted(categories)


def _walk_files(folder: Path, problems: PathReasons, ignored: PathReasons | None) -> list[Path]:
    """The regular files under ``folder`` and its sub-folders, sorted.

    Symbolic links to files are followed; links to folders are not (their images would take this
    folder's label as well as their own), and each real folder is walked once. What is not walked is
    added to ``problems`` as (path, reason) and the walk goes on: a link to a folder, a dangling or
    looping link, a folder that cannot be read, a file that is not a regular file (a FIFO, a socket,
    a device). Hidden and system names (``is_ignored_name``) are neither read nor entered, at every
    depth: they go to ``ignored`` (when given) with the reason.
    """
    files: list[Path] = []
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            identity = current.stat()
            if (identity.st_dev, identity.st_ino) in seen:
                continue
            seen.add((identity.st_dev, identity.st_ino))
            with os.scandir(current) as scan:
                entries = list(scan)
        except OSError as exc:
            problems.append((current, f"cannot read this folder: {exc.strerror or exc}"))
            continue
        for entry in entries:
            path, kind = Path(entry.path), _entry_kind(entry)
            if is_ignored_name(entry.name):
                if ignored is not None:
                    ignored.append((path, _ignored_reason(entry.name, kind)))
            elif kind == "linked folder":
                problems.append((path, f"a symbolic link to a folder ({_link_target(path)}): not followed, so that "
                                       "no image gets two labels; link the files, or make it a category folder"))
            elif kind == "folder":
                pending.append(path)
            elif kind == "file":
                files.append(path)
            else:
                problems.append((path, _not_walked(path)))
    return sorted(files)


def _entry_kind(entry: os.DirEntry[str]) -> str:
    """What a folder's entry is, links followed: "folder", "linked folder" (a symbolic link to a folder),
    "file", or "other" (a dangling or looping link, a FIFO, a socket, a device)."""
    try:
        is_dir, is_file = entry.is_dir(), entry.is_file()
    except OSError:  # a link to itself, or in a loop of links
        return "other"
    if is_dir:
        return "linked folder" if entry.is_symlink() else "folder"
    return "file" if is_file else "other"


def _ignored_reason(name: str, kind: str) -> str:
    """Why a hidden or system name (``is_ignored_name``) is left out: what it is, and that it is not read."""
    what = "hidden" if name.startswith(".") else "system"
    if kind in ("folder", "linked folder"):
        return f"a {what} folder: ignored, not walked"
    return f"a {what} file: ignored"


def _not_walked(path: Path) -> str:
    """Why an entry that is neither a folder nor a regular file is skipped: a broken or looping link, or
    a special file (opening a FIFO would block)."""
    return _broken_link(path) if path.is_symlink() else "not a regular file"


def _broken_link(link: Path) -> str:
    """Why a link that leads to no file cannot be read: it loops, or its target is missing."""
    try:
        link.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"a symbolic link that loops ({_link_target(link)})"
    return f"broken symbolic link to {_link_target(link)}"


def _link_target(link: Path) -> str:
    """Where a symbolic link points, as written in it (or "its target" if it cannot be read)."""
    try:
        return os.readlink(link)
    except OSError:
        return "its target"


def unique_categories(categories: Sequence[str]) -> list[str]:
    """Validate a category list: non-empty, no blank or duplicated names (ValueError). Returns it as a list."""
    names = [str(c).strip() for c in categories] if not isinstance(categories, str) else [categories]
    if not names:
        raise ValueError("A model needs at least one category: pass category names, e.g. Bag Coat")
    if any(not n for n in names):
        raise ValueError("Category names cannot be empty")
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise ValueError(f"Duplicated categories: {', '.join(dupes)}: name each category once")
    return names


def check_files(paths: Iterable[PathLike]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Check each file once (``check_image_file``): (the valid ones, (path, why) for the others), in order."""
    valid: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for path in paths:
        try:
            check_image_file(path)
        except InvalidImageError as exc:
            skipped.append((Path(path), exc.message))
        except OSError as exc:
            skipped.append((Path(path), str(exc)))
        else:
            valid.append(Path(path))
    return valid, skipped
