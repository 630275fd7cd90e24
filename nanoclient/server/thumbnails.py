"""Downsized copies of stored images, for the dashboard's strips of thumbnails.

Made with Pillow as a person sees the image (EXIF orientation applied, 16-bit scaled to 8
bits), never enlarged: a JPEG without transparency stays a JPEG, anything else becomes a PNG.
This module knows images only: no HTTP, no storage, no API rules.
"""
from __future__ import annotations

import io

#: Longest side of a thumbnail, in pixels.
THUMB_SIZE = 96
#: Bumped when thumbnails are made differently, so that caches (the disk's, the browser's) renew.
THUMB_VERSION = 1
_JPEG_QUALITY = 85


def make_thumbnail(data: bytes, size: int = THUMB_SIZE) -> tuple[bytes, str]:
    """(encoded thumbnail, its media type) of image bytes already checked as a PNG or JPEG."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        source_format = opened.format
        if source_format == "JPEG":
            opened.draft(opened.mode, (size, size))  # decoded at 1/2 to 1/8 scale: a phone photo costs little
        image = ImageOps.exif_transpose(opened)
        image.load()
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):  # 16-bit grey: scaled, not clipped
        image = image.point(lambda value: value / 256).convert("L")
    elif image.mode == "P":
        image = image.convert("RGBA")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if source_format == "JPEG" and image.mode in ("RGB", "L"):
        image.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
        return out.getvalue(), "image/jpeg"
    image.save(out, "PNG", optimize=True)
    return out.getvalue(), "image/png"


__all__ = ["THUMB_SIZE", "THUMB_VERSION", "make_thumbnail"]
