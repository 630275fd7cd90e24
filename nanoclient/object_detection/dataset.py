"""Finding the labelled images of a folder for object detection: each PNG or JPEG image with its boxes.

Annotations sit beside the images, matched by file name (``nanoclient.annotations`` reads them): a Pascal VOC
``.xml`` per image, the API's JSON (one entry or a list), COCO ``.json``, CSV (``file,field,xmin,ymin,xmax,
ymax``: the field is the category), or YOLO ``.txt`` label files (one per image, named after it) with their
``classes.txt`` / ``obj.names``; or one annotation file given for the whole folder. One bad annotation file
costs the images it labels only, one bad box the image it is in: each is reported with its path and why.

An image no annotation names is skipped (it may be unlabelled, not empty); an image with no object is one
whose annotation lists none (a VOC file without ``<object>``, an empty YOLO file, ``"object": []``).
"""
from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from ..annotations import (
    ANNOTATION_SUFFIXES,
    YOLO_CLASS_FILES,
    Annotation,
    AnnotationError,
    check_annotation,
    find_yolo_classes,
    read_annotations,
    read_yolo,
    read_yolo_classes,
)
from ..images import is_ignored_name, not_an_image

__all__ = ["Skipped", "find_images", "labelled_images", "image_size", "training_root", "evaluation_root"]

#: (path, why it was skipped)
Skipped = list[tuple[Path, str]]
#: Files that sit beside the images and are no image: passed over quietly.
_QUIET_SUFFIXES = frozenset({*ANNOTATION_SUFFIXES, ".txt", ".names", ".md"})


def training_root(folder: str | os.PathLike[str]) -> Path:
    """Where a data set's training images are: FOLDER/train if it has one, else FOLDER."""
    root = Path(folder)
    return root / "train" if (root / "train").is_dir() else root


def evaluation_root(folder: str | os.PathLike[str]) -> Path:
    """Where a data set's test images are: FOLDER/test if it has one, else FOLDER."""
    root = Path(folder)
    return root / "test" if (root / "test").is_dir() else root


def find_images(paths: Collection[str | os.PathLike[str]]) -> tuple[list[Path], Skipped]:
    """The PNG and JPEG images among files and folders (folders walked, sorted), and the files skipped with why
    (annotation files, class lists and hidden or system files pass quietly). A missing path is skipped."""
    found: list[Path] = []
    skipped: Skipped = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file()
                                and not any(is_ignored_name(part) for part in p.relative_to(path).parts))
        elif path.exists():
            candidates = [path]
        else:
            skipped.append((path, "no such file or folder"))
            continue
        for candidate in candidates:
            if path.is_dir() and (candidate.suffix.lower() in _QUIET_SUFFIXES
                                  or candidate.name.lower() in YOLO_CLASS_FILES):
                continue
            why = not_an_image(candidate)
            if why is None:
                found.append(candidate)
            else:
                skipped.append((candidate, why))
    return found, skipped


def image_size(path: Path) -> tuple[int, int]:
    """An image's (width, height) as shown (EXIF turns that swap the sides applied), from its header."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as image:
            width, height = int(image.width), int(image.height)
            turned = image.getexif().get(0x0112) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def labelled_images(folder: str | os.PathLike[str], *, categories: Collection[str] | None = None,
                    annotation_file: str | os.PathLike[str] | None = None
                    ) -> tuple[list[tuple[Path, Annotation]], Skipped]:
    """The images of ``folder`` (walked) with their annotations, in file order, and what was skipped with why:
    images no annotation names, annotation files that cannot be read or name no image, images labelled twice,
    and images with a bad box (of no category of ``categories``, without a box, outside the image).

    ``annotation_file``: one file (JSON, COCO, CSV) that labels the folder's images, instead of those beside them.
    """
    root = Path(folder)
    images, skipped = find_images([root])
    by_name: dict[str, list[Path]] = {}
    for image in images:
        by_name.setdefault(image.name, []).append(image)
    found: dict[Path, Annotation] = {}

    def take(annotation: Annotation, source: Path, stem_ok: bool) -> None:
        targets = by_name.get(annotation.filename, [])
        if not targets and stem_ok:
            targets = [i for i in images if i.stem == Path(annotation.filename).stem and i.parent == source.parent]
            if not targets:
                targets = [i for i in images if i.stem == source.stem and i.parent == source.parent]
        if len(targets) > 1:  # the same name in two sub-folders: the one beside the annotation file
            targets = [t for t in targets if t.parent == source.parent] or targets[:1]
        if not targets:
            skipped.append((source, f"names {annotation.filename}, which is not an image in {root}"))
            return
        image = targets[0]
        if image in found:
            skipped.append((source, f"labels {image.name} again (first in {found[image].source})"))
            return
        found[image] = annotation

    if annotation_file is not None:
        sources = [Path(annotation_file)]
    else:
        sources = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in ANNOTATION_SUFFIXES
                         and not any(is_ignored_name(part) for part in p.relative_to(root).parts))
    for source in sources:
        try:
            annotations = read_annotations(source)
        except (AnnotationError, OSError) as exc:
            skipped.append((source, str(exc)))
            continue
        for one in annotations:
            take(one, source, source.suffix.lower() == ".xml")
    if annotation_file is None:
        _yolo(images, found, skipped)
    pairs: list[tuple[Path, Annotation]] = []
    for image in images:
        labelled = found.get(image)
        if labelled is None:
            skipped.append((image, "no annotation names it (an image with no object needs one that lists none)"))
            continue
        annotation = labelled
        try:
            missing = next((box for box in annotation.boxes if not box.has_box), None)
            if missing is not None:
                raise AnnotationError(annotation.source or image.name,
                                      f"{missing.field!r} has no box: give xmin, ymin, xmax, ymax")
            check_annotation(annotation, fields=categories, size=image_size(image))
        except AnnotationError as exc:
            skipped.append((image, str(exc).replace("field ", "category ").replace("fields:", "categories:")))
            continue
        except OSError as exc:
            skipped.append((image, f"cannot read it: {exc}"))
            continue
        pairs.append((image, annotation))
    return pairs, skipped


def _yolo(images: list[Path], found: dict[Path, Annotation], skipped: Skipped) -> None:
    """The YOLO label file beside each image not labelled otherwise (``a.txt`` for ``a.jpg``), read with the
    class list of its folder (or the folder above)."""
    classes: dict[Path, list[str] | str] = {}
    for image in images:
        label = image.with_suffix(".txt")
        if image in found or not label.is_file():
            continue
        if label.parent not in classes:
            listing = find_yolo_classes(label.parent)
            try:
                classes[label.parent] = read_yolo_classes(listing) if listing is not None else (
                    "a YOLO label file needs the class list beside it (classes.txt or obj.names, one name a line)")
            except (AnnotationError, OSError) as exc:
                classes[label.parent] = str(exc)
        names = classes[label.parent]
        if isinstance(names, str):
            skipped.append((label, names))
            continue
        try:
            found[image] = read_yolo(label, image_size(image), names, image_name=image.name)
        except (AnnotationError, OSError, ValueError) as exc:
            skipped.append((label, str(exc)))
