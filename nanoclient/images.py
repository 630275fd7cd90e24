"""Finding labelled images in folders and checking that bytes are a PNG or JPEG.

Used on both sides: the SDK and CLI check files before sending them, and the local
server checks what it receives with the same rules.
"""
from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import InvalidImageError
from .types import PathLike

#: File name endings treated as images when walking folders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Formats the API accepts, as Pillow names them.
ACCEPTED_FORMATS = ("JPEG", "PNG")
#: Largest image, in pixels, that is opened at all (guards against decompression bombs).
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


def check_image_bytes(data: bytes, *, max_pixels: int = MAX_PIXELS, decode: bool = True) -> tuple[str, int, int]:
    """Check that ``data`` is a whole PNG or JPEG; return (format, width, height).

    Raises InvalidImageError for other formats, corrupt or truncated data and images
    over ``max_pixels``. With ``decode`` the pixels are decoded too, which catches
    truncation; without it only the header is read.
    """
    if sniff_format(data[:8]) is None:
        raise InvalidImageError("File is not a PNG or JPEG image", hint="Send a .png or .jpg image")
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidImageError(
                    f"Image is too large ({width}x{height} pixels)",
                    hint=f"Resize it below {max_pixels:,} pixels",
                )
            fmt = _format_name(image.format)
            if fmt not in ACCEPTED_FORMATS:
                raise InvalidImageError(f"Image format {fmt or 'unknown'} is not accepted", hint="Send PNG or JPEG")
            if decode:
                image.load()
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow refuses it while opening, before our own check
        raise InvalidImageError("Image is too large (decompression bomb)",
                                hint=f"Resize it below {max_pixels:,} pixels") from exc
    except Exception as exc:  # Pillow raises many types for broken data
        raise InvalidImageError(f"Image is corrupt or truncated ({type(exc).__name__})", hint="Check the file") from exc
    return fmt, width, height


def check_image_file(path: PathLike, *, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """Check, without sending it, that ``path`` is a readable PNG or JPEG file.

    Raises FileNotFoundError for a missing path, IsADirectoryError for a folder, another
    OSError for a file that cannot be read (each with a message naming the path), and
    InvalidImageError for a file that is not a valid image. Reads only the header (decoding
    is left to the server). The file is opened once (this runs for every file of an upload).
    """
    name = os.path.basename(os.fspath(path))
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"No such file: {os.fspath(path)}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"Not a file: {os.fspath(path)}") from None
    except OSError as exc:
        raise OSError(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise IsADirectoryError(f"Not a file: {os.fspath(path)}")
        try:
            head = handle.read(8)
        except OSError as exc:
            raise OSError(f"Cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
        if sniff_format(head) is None:
            raise InvalidImageError(f"{name} is not a PNG or JPEG image", hint="Send a .png or .jpg image")
        handle.seek(0)
        from PIL import Image

        try:
            with Image.open(handle) as image:
                width, height = image.size
                fmt = _format_name(image.format)
                if width * height > max_pixels:
                    raise InvalidImageError(f"{name} is too large ({width}x{height} pixels)")
                image.verify()
        except InvalidImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise InvalidImageError(f"{name} is too large (decompression bomb)") from exc
        except Exception as exc:
            raise InvalidImageError(f"{name} is corrupt ({type(exc).__name__})", hint="Check the file") from exc
    return fmt, width, height


def _format_name(fmt: str | None) -> str:
    """Pillow's format name, with JPEG variants called JPEG."""
    return "JPEG" if fmt in _JPEG_VARIANTS else (fmt or "")


def is_image_name(path: PathLike) -> bool:
    """True when the file name ends like an image (.jpg, .jpeg, .png, any case)."""
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def labelled_root(root: PathLike, split: str = "train") -> Path:
    """The folder whose sub-folders are categories: ``root/split`` if it exists, else ``root``."""
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"Not a folder: {base}: pass a folder with one sub-folder per category")
    candidate = base / split
    return candidate if candidate.is_dir() else base


def category_folders(root: PathLike, split: str = "train") -> list[Path]:
    """The category sub-folders of a labelled folder, sorted by name (hidden ones ignored)."""
    base = labelled_root(root, split)
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_labelled_images(root: PathLike, split: str = "train") -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Walk a labelled folder: return ((path, category) pairs, (path, reason) skipped).

    The category of an image is the name of the sub-folder it sits in (files in deeper
    folders belong to the top one). Files that are not named like images are skipped.
    """
    items: list[tuple[Path, str]] = []
    skipped: list[tuple[Path, str]] = []
    for folder in category_folders(root, split):
        for path in sorted(_walk_files(folder)):
            if is_image_name(path):
                items.append((path, folder.name))
            else:
                skipped.append((path, "not a .png or .jpg file"))
    return items, skipped


def find_images(paths: Iterable[PathLike]) -> list[Path]:
    """Expand files and folders (recursively, sorted) into the image files to predict.

    Files named explicitly are kept whatever their name; a missing path raises FileNotFoundError.
    """
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(f for f in _walk_files(p) if is_image_name(f)))
        elif p.exists():
            found.append(p)
        else:
            raise FileNotFoundError(f"No such file or folder: {p}")
    return found


def _walk_files(folder: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.startswith("."):
                yield Path(dirpath) / name


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
