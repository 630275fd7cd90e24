"""scripts/fetch_fashion_mnist.py, offline: on small IDX files the test writes itself."""
from __future__ import annotations

import functools
import gzip
import http.server
import random
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import closed_port, load_script
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fetch_fashion_mnist.py"


fetch = load_script(SCRIPT)


def _idx(dims, values: bytes) -> bytes:
    return struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims) + values


def write_idx_pair(folder: Path, split: str, labels, *, size=(28, 28), seed=0, compress=True):
    """Write images + labels IDX files for ``split``; return the list of raw images."""
    rng = random.Random(seed)
    h, w = size
    images = [bytes(rng.randrange(256) for _ in range(h * w)) for _ in labels]
    images_name, labels_name = fetch.SPLITS[split]
    for name, data in (
        (images_name, _idx((len(labels), h, w), b"".join(images))),
        (labels_name, _idx((len(labels),), bytes(labels))),
    ):
        if compress:
            (folder / name).write_bytes(gzip.compress(data))
        else:
            (folder / name[: -len(".gz")]).write_bytes(data)
    return images


@pytest.fixture
def source(tmp_path):
    """A folder with train (3 per class, interleaved) and test (2 per class) IDX files."""
    folder = tmp_path / "source"
    folder.mkdir()
    train_labels = [i % 10 for i in range(30)]
    test_labels = [9 - (i % 10) for i in range(20)]
    return folder, {
        "train": (train_labels, write_idx_pair(folder, "train", train_labels, seed=1)),
        "test": (test_labels, write_idx_pair(folder, "test", test_labels, seed=2)),
    }


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


def test_writes_first_n_per_class_with_exact_pixels(tmp_path, source):
    folder, truth = source
    out = tmp_path / "out"
    result = _run("--source", folder, "--out", out, "--train", 2, "--test", 1)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    for split, per_class in (("train", 2), ("test", 1)):
        assert sorted(p.name for p in (out / split).iterdir()) == sorted(fetch.CLASS_NAMES)
        labels, images = truth[split]
        expected = {}
        for index, label in enumerate(labels):
            names = expected.setdefault(fetch.CLASS_NAMES[label], [])
            if len(names) < per_class:
                names.append(index)
        for class_name, indexes in expected.items():
            files = sorted((out / split / class_name).iterdir())
            assert [f.name for f in files] == [f"{split}_{i:05d}.png" for i in indexes]
            for f, i in zip(files, indexes, strict=True):
                with Image.open(f) as image:
                    assert image.format == "PNG" and image.mode == "L" and image.size == (28, 28)
                    assert image.tobytes() == images[i]


def test_short_classes_are_reported_not_fatal(tmp_path, source):
    folder, _ = source
    result = _run("--source", folder, "--out", tmp_path / "out", "--train", 5, "--test", 0)
    assert result.returncode == 0, result.stderr
    assert "fewer images than asked" in result.stderr
    assert len(list((tmp_path / "out" / "train" / "Bag").iterdir())) == 3
    assert list((tmp_path / "out" / "test" / "Bag").iterdir()) == []


def test_uncompressed_files_in_a_folder_are_accepted(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    write_idx_pair(folder, "train", list(range(10)), compress=False)
    write_idx_pair(folder, "test", list(range(10)), compress=False)
    result = _run("--source", folder, "--out", tmp_path / "out", "--train", 1, "--test", 1)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").rglob("*.png"))) == 20


def test_url_source_with_fallback_after_a_dead_one(tmp_path, source):
    folder, truth = source
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dead = f"http://127.0.0.1:{closed_port()}/"
        live = f"http://127.0.0.1:{server.server_address[1]}"
        result = _run("--source", dead, "--source", live, "--out", tmp_path / "out", "--train", 1, "--test", 1)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.returncode == 0, result.stderr
    first_coat = truth["train"][0].index(fetch.CLASS_NAMES.index("Coat"))
    with Image.open(tmp_path / "out" / "train" / "Coat" / f"train_{first_coat:05d}.png") as image:
        assert image.tobytes() == truth["train"][1][first_coat]


def test_no_source_has_the_file_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run("--source", empty, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "could not get train-images-idx3-ubyte.gz" in result.stderr
    assert "Traceback" not in result.stderr


def test_damaged_files_are_refused(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    write_idx_pair(folder, "train", [0, 1, 2])
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx((2,), bytes([0, 1]))))
    result = _run("--source", folder, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "3 images but 2 labels" in result.stderr

    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    result = _run("--source", folder, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "damaged gzip" in result.stderr


def test_parse_idx_checks_header_and_length():
    dims, values = fetch.parse_idx(_idx((2, 3), bytes(range(6))))
    assert dims == (2, 3) and values == bytes(range(6))
    with pytest.raises(fetch.FetchError, match="promises 6"):
        fetch.parse_idx(_idx((2, 3), bytes(range(5))))
    with pytest.raises(fetch.FetchError, match="unsigned-byte"):
        fetch.parse_idx(struct.pack(">HBB", 0, 0x0D, 1) + struct.pack(">I", 1) + b"\0\0\0\0")


def test_official_files_are_checked_and_cached(tmp_path, source):
    """With verification, a file whose MD5 is not the published one is refused and not cached."""
    folder, _ = source
    cache = tmp_path / "cache"
    with pytest.raises(fetch.FetchError, match="checksum mismatch"):
        fetch.fetch_file("train-labels-idx1-ubyte.gz", [str(folder)], verify=True, cache=cache)
    assert not cache.exists()
    data = fetch.fetch_file("train-labels-idx1-ubyte.gz", [str(folder)], verify=False, cache=cache)
    assert (cache / "train-labels-idx1-ubyte.gz").read_bytes() == data
    # A cached copy is used without asking any source.
    assert fetch.fetch_file("train-labels-idx1-ubyte.gz", [], verify=False, cache=cache) == data


def test_the_npm_package_is_read_per_class_with_its_first_images_as_the_test_split(monkeypatch):
    """The package's layout, made small: per class, its first images are the test split; empty entries separate."""
    import io
    import json
    import tarfile

    monkeypatch.setattr(fetch, "NPM_TEST_PER_CLASS", 2)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for label in range(len(fetch.CLASS_NAMES)):
            rows = [[label * 10 + i] * 784 for i in range(5)]
            data = json.dumps({"data": rows[:2] + [[]] + rows[2:] + [[]]}).encode()
            info = tarfile.TarInfo(f"package/src/clothes/{label}.json")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    splits = fetch.read_npm(buffer.getvalue())
    test_images, test_labels, shape = splits["test"]
    train_images, train_labels, _ = splits["train"]
    assert shape == (28, 28) and len(test_images) == 20 and len(train_images) == 30
    assert test_labels[:2] == [0, 0] and [image[0] for image in test_images[:2]] == [0, 1]
    assert train_labels[3:6] == [1, 1, 1] and [image[0] for image in train_images[3:6]] == [12, 13, 14]
