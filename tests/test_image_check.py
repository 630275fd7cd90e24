"""What a valid image is (nanoclient.images' docstring): the client's check of a file before
sending it and the server's check of what it receives give the same verdicts."""
from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import make_image
from PIL import Image

from nanoclient.errors import InvalidImageError
from nanoclient.images import check_image_bytes, check_image_file, read_image_file


def noisy_jpeg() -> bytes:
    """A JPEG whose scan is most of the file, so that cutting it in half leaves the header whole."""
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(out, "JPEG")
    return out.getvalue()


def mpo() -> bytes:
    """A two-picture MPO, as phone cameras write: a JPEG all the same."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (8, 8), "blue")])
    return out.getvalue()


JPEG = noisy_jpeg()
VALID = {"a.png": (make_image((10, 200, 10)), ("PNG", 16, 16)), "a.jpg": (JPEG, ("JPEG", 64, 64)),
         "phone.jpg": (mpo(), ("JPEG", 8, 8))}
INVALID = {"half.jpg": (JPEG[:len(JPEG) // 2], "corrupt or truncated"),
           "image.gif": (make_image((1, 2, 3), fmt="GIF"), "not a PNG or JPEG"),
           "big.png": (make_image((1, 2, 3), size=(65, 64)), "too large")}
LIMIT = 64 * 64  # pixels: the largest valid image of these tests


@pytest.mark.parametrize("name", VALID)
def test_valid_images_pass_both_checks(tmp_path, name):
    data, expected = VALID[name]
    (tmp_path / name).write_bytes(data)
    assert check_image_file(tmp_path / name, max_pixels=LIMIT) == check_image_bytes(data, max_pixels=LIMIT) \
        == expected


@pytest.mark.parametrize("name", INVALID)
def test_invalid_images_fail_both_checks_for_the_same_reason(tmp_path, name):
    data, reason = INVALID[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InvalidImageError, match=f"^{name} is {reason}"):
        check_image_file(tmp_path / name, max_pixels=LIMIT)  # before sending: named after the file
    with pytest.raises(InvalidImageError, match=f"^File is {reason}"):
        check_image_bytes(data, max_pixels=LIMIT)  # on the server


@pytest.mark.parametrize("name", VALID)
def test_a_small_file_is_read_once_and_its_bytes_kept(tmp_path, name):
    """For uploads: the bytes checked are the bytes that will be sent; a larger file is left on disk."""
    data, expected = VALID[name]
    (tmp_path / name).write_bytes(data)
    assert read_image_file(tmp_path / name, keep_bytes=len(data), max_pixels=LIMIT) == (expected[0], data)
    assert read_image_file(tmp_path / name, keep_bytes=len(data) - 1, max_pixels=LIMIT) == (expected[0], None)


@pytest.mark.parametrize("name", INVALID)
def test_reading_a_file_once_checks_it_the_same(tmp_path, name):
    data, reason = INVALID[name]
    (tmp_path / name).write_bytes(data)
    for keep in (0, len(data)):
        with pytest.raises(InvalidImageError, match=f"^{name} is {reason}"):
            read_image_file(tmp_path / name, keep_bytes=keep, max_pixels=LIMIT)
