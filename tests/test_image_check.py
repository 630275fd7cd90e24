"""What a valid image is (nanoclient.images' docstring): the client's check of a file before
sending it and the server's check of what it receives give the same verdicts, with libjpeg-turbo's
fast path for JPEGs (simplejpeg, which the test extra installs) and without it (Pillow alone)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import make_image
from PIL import Image

import nanoclient.images
from nanoclient.errors import InvalidImageError
from nanoclient.images import _libjpeg_check, check_image_bytes, check_image_file, read_image_file


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
           "big.png": (make_image((1, 2, 3), size=(65, 64)), "too large"),
           "big.jpg": (make_image((1, 2, 3), size=(65, 64), fmt="JPEG"), "too large")}
LIMIT = 64 * 64  # pixels: the largest valid image of these tests


@pytest.fixture(params=["libjpeg", "pillow"])
def both_paths(request, monkeypatch):
    """The test runs with the fast path for JPEGs, and with Pillow alone (as without simplejpeg)."""
    if request.param == "pillow":
        monkeypatch.setattr(nanoclient.images, "_libjpeg_check", lambda data, max_pixels: None)


def verdict(data: bytes) -> str:
    try:
        fmt, width, height = check_image_bytes(data, max_pixels=LIMIT)
        return f"{fmt} {width}x{height}"
    except InvalidImageError as exc:
        return exc.message


@pytest.mark.parametrize("name", VALID)
def test_valid_images_pass_both_checks(tmp_path, name, both_paths):
    data, expected = VALID[name]
    (tmp_path / name).write_bytes(data)
    assert check_image_file(tmp_path / name, max_pixels=LIMIT) == check_image_bytes(data, max_pixels=LIMIT) \
        == expected


@pytest.mark.parametrize("name", INVALID)
def test_invalid_images_fail_both_checks_for_the_same_reason(tmp_path, name, both_paths):
    data, reason = INVALID[name]
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InvalidImageError, match=f"^{name} is {reason}"):
        check_image_file(tmp_path / name, max_pixels=LIMIT)  # before sending: named after the file
    with pytest.raises(InvalidImageError, match=f"^File is {reason}"):
        check_image_bytes(data, max_pixels=LIMIT)  # on the server


@pytest.mark.parametrize("name", VALID)
def test_a_small_file_is_read_once_and_its_bytes_kept(tmp_path, name, both_paths):
    """For uploads: the bytes checked are the bytes that will be sent; a larger file is left on disk."""
    data, expected = VALID[name]
    (tmp_path / name).write_bytes(data)
    assert read_image_file(tmp_path / name, keep_bytes=len(data), max_pixels=LIMIT) == (expected[0], data)
    assert read_image_file(tmp_path / name, keep_bytes=len(data) - 1, max_pixels=LIMIT) == (expected[0], None)


@pytest.mark.parametrize("name", INVALID)
def test_reading_a_file_once_checks_it_the_same(tmp_path, name, both_paths):
    data, reason = INVALID[name]
    (tmp_path / name).write_bytes(data)
    for keep in (0, len(data)):
        with pytest.raises(InvalidImageError, match=f"^{name} is {reason}"):
            read_image_file(tmp_path / name, keep_bytes=keep, max_pixels=LIMIT)


def test_the_fast_path_checks_jpegs_itself():
    assert _libjpeg_check(JPEG, LIMIT) == (64, 64)
    assert _libjpeg_check(JPEG[:-1], LIMIT) is None  # no end marker: Pillow decides
    assert _libjpeg_check(JPEG, 64 * 63) is None  # too large: Pillow says so
    assert _libjpeg_check(make_image((1, 2, 3), fmt="PNG"), LIMIT) is None


def test_the_fast_path_never_accepts_what_pillow_refuses(monkeypatch):
    """Every cut of a JPEG and 300 corruptions of its bytes: the same verdict, whichever decides."""
    rng = np.random.default_rng(1)
    samples = [JPEG[:cut] for cut in range(0, len(JPEG) + 1, 37)] + [JPEG[:-1], JPEG[:-2]]
    for _ in range(300):
        damaged = bytearray(JPEG)
        for index in rng.integers(2, len(JPEG), rng.choice([1, 3, 10])):
            damaged[index] = int(rng.integers(0, 256))
        samples.append(bytes(damaged))
    fast = [verdict(data) for data in samples]
    monkeypatch.setattr(nanoclient.images, "_libjpeg_check", lambda data, max_pixels: None)
    assert fast == [verdict(data) for data in samples]
    assert 50 < sum(v.startswith("JPEG") for v in fast) < len(fast) - 50  # both verdicts were tested
