"""Folder walking (nanoclient.images): which folders are categories, their names, links at every depth."""
from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from helpers import write_image

from nanoclient.images import (
    category_folders,
    category_name,
    find_images,
    find_labelled_images,
    labelled_root,
)


def folders(root: Path, *names: str) -> Path:
    """``root`` with one image in each of the sub-folders ``names``."""
    for name in names:
        write_image(root / name / "a.png")
    return root


def test_category_name_strips_spaces_and_composes_accents_only():
    assert category_name(" Bag \t") == "Bag"
    decomposed = unicodedata.normalize("NFD", "Café")
    assert decomposed != "Café" and category_name(decomposed) == "Café"
    assert category_name("bag") == "bag" and category_name("Ankle boot") == "Ankle boot"


def test_split_layout_only_when_the_sub_folders_are_train_and_test(tmp_path):
    split = folders(tmp_path / "split", "train/Bag", "train/Coat", "test/Bag", ".git")
    assert labelled_root(split) == split / "train"
    assert labelled_root(split, "test") == split / "test"
    # any other folder: every sub-folder is a category, train and test included
    vehicles = folders(tmp_path / "vehicles", "bus", "car", "train")
    assert labelled_root(vehicles) == vehicles
    assert [name for name, _ in category_folders(vehicles)] == ["bus", "car", "train"]
    mixed = folders(tmp_path / "mixed", "train/Bag", "test/Bag", "extra")
    assert [name for name, _ in category_folders(mixed, "test")] == ["extra", "test", "train"]


def test_split_layout_without_the_split_asked_for_says_so(tmp_path):
    only_train = folders(tmp_path / "only", "train/Bag")
    assert labelled_root(only_train) == only_train / "train"
    with pytest.raises(FileNotFoundError, match=r"has train/ but no test/ folder"):
        labelled_root(only_train, "test")
    with pytest.raises(NotADirectoryError):
        labelled_root(write_image(tmp_path / "file.png"))


def test_walking_gives_each_file_its_normalised_category(tmp_path):
    root = folders(tmp_path / "set", "Bag ", "  Coat", "Bag", "Bag/deeper")
    items, skipped = find_labelled_images(root)
    assert sorted((path.relative_to(root).as_posix(), category) for path, category in items) == [
        ("  Coat/a.png", "Coat"), ("Bag /a.png", "Bag"), ("Bag/a.png", "Bag"), ("Bag/deeper/a.png", "Bag")]
    assert skipped == []
    assert sorted(name for name, _ in category_folders(root)) == ["Bag", "Bag", "Coat"]


def test_links_to_files_and_categories_are_followed_links_to_folders_inside_a_category_are_not(tmp_path):
    elsewhere = folders(tmp_path / "elsewhere", "more")
    root = folders(tmp_path / "set", "Bag", "Coat")
    (root / "Bag" / "linked").symlink_to(elsewhere / "more", target_is_directory=True)  # inside a category
    (root / "Bag" / "loop").symlink_to(root / "Bag", target_is_directory=True)         # back up
    (root / "Shoe").symlink_to(elsewhere, target_is_directory=True)                   # a linked category
    (root / "Coat" / "b.png").symlink_to(root / "Bag" / "a.png")                       # a linked file
    items, skipped = find_labelled_images(root)
    found = sorted((path.relative_to(root).as_posix(), category) for path, category in items)
    assert found == [("Bag/a.png", "Bag"), ("Coat/a.png", "Coat"), ("Coat/b.png", "Coat"), ("Shoe/more/a.png", "Shoe")]
    reasons = {path.relative_to(root).as_posix(): reason for path, reason in skipped}
    assert sorted(reasons) == ["Bag/linked", "Bag/loop"]  # no image gets two labels
    assert all(reason.startswith("a symbolic link to a folder") for reason in reasons.values())
    found_for_predict, skipped_for_predict = find_images([root / "Bag"])
    assert found_for_predict == [root / "Bag" / "a.png"] and len(skipped_for_predict) == 2  # the same rule


def test_a_dangling_link_is_one_skipped_file_with_the_reason(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Coat")
    (root / "Bag" / "gone.png").symlink_to(tmp_path / "missing.png")
    (root / "Coat" / "self.png").symlink_to(root / "Coat" / "self.png")  # a link to itself
    items, skipped = find_labelled_images(root)
    assert len(items) == 2
    reasons = dict(skipped)
    assert reasons[root / "Bag" / "gone.png"] == f"broken symbolic link to {tmp_path / 'missing.png'}"
    assert reasons[root / "Coat" / "self.png"].startswith("a symbolic link that loops")
    # predict's rule is the same: skipped, with the same reasons
    assert find_images([root]) == ([root / "Bag" / "a.png", root / "Coat" / "a.png"], skipped)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_skipped_not_opened(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Coat")
    os.mkfifo(root / "Bag" / "pipe.png")  # opening it would block until someone writes
    items, skipped = find_labelled_images(root)
    assert len(items) == 2 and skipped == [(root / "Bag" / "pipe.png", "not a regular file")]
    assert root / "Bag" / "pipe.png" not in find_images([root])[0]


def test_an_unreadable_folder_is_named_and_the_walk_goes_on(tmp_path, monkeypatch):
    root = folders(tmp_path / "set", "Bag", "Coat", "Bag/locked")
    locked = root / "Bag" / "locked"
    scandir = os.scandir

    def refusing(path):  # what chmod 0 does, for any user (root reads everything)
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    items, skipped = find_labelled_images(root)
    assert len(items) == 2
    assert skipped == [(locked, "cannot read this folder: Permission denied")]


def test_images_are_found_by_content_whatever_their_name_and_the_rest_say_what_they_are(tmp_path):
    from helpers import make_image

    root = folders(tmp_path / "set", "Bag")
    png, jpeg = make_image((10, 200, 10)), make_image((200, 10, 10), fmt="JPEG")
    (root / "Bag" / "no-suffix").write_bytes(jpeg)
    (root / "Bag" / "photo.jfif").write_bytes(jpeg)
    (root / "Bag" / "upper.PNG").write_bytes(png)
    (root / "Bag" / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (root / "Bag" / "pic.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8))
    (root / "Bag" / "scan.tiff").write_bytes(b"II*\x00" + bytes(12))
    (root / "Bag" / "old.bmp").write_bytes(b"BM" + bytes(20))
    (root / "Bag" / "lying.png").write_text("a text file named like an image")
    (root / "Bag" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(12))
    (root / "Bag" / "empty.jpg").write_bytes(b"")
    (root / "Bag" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: ignored, as Thumbs.db
    items, skipped = find_labelled_images(root)
    assert sorted(path.name for path, _ in items) == ["a.png", "no-suffix", "photo.jfif", "upper.PNG"]
    reasons = {path.name: reason for path, reason in skipped}
    assert reasons == {"anim.gif": "not a PNG or JPEG image (GIF)", "pic.webp": "not a PNG or JPEG image (WEBP)",
                       "scan.tiff": "not a PNG or JPEG image (TIFF)", "old.bmp": "not a PNG or JPEG image (BMP)",
                       "lying.png": "not a PNG or JPEG image", "empty.jpg": "an empty file"}
    assert find_images([root]) == (sorted(path for path, _ in items), sorted(skipped))  # predict: the same rule


def test_hidden_and_system_names_are_ignored_quietly_and_given_to_whoever_accounts_for_them(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Bag/.thumbnails", "Bag/__MACOSX", ".git", "__MACOSX/Bag")
    (root / "Bag" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (root / "Bag" / "thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(12))  # any case, as Windows writes it
    (root / "Bag" / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # a Mac's resource fork, hidden
    items, skipped = find_labelled_images(root)
    assert items == [(root / "Bag" / "a.png", "Bag")] and skipped == []  # nothing named on stderr
    assert [name for name, _ in category_folders(root)] == ["Bag"]  # neither .git nor __MACOSX is a category
    ignored: list[tuple[Path, str]] = []
    assert find_labelled_images(root, ignored=ignored) == (items, skipped)
    assert sorted((path.relative_to(root).as_posix(), reason) for path, reason in ignored) == [
        (".git", "a hidden folder: ignored, not walked"),
        ("Bag/.DS_Store", "a hidden file: ignored"),
        ("Bag/._a.png", "a hidden file: ignored"),
        ("Bag/.thumbnails", "a hidden folder: ignored, not walked"),
        ("Bag/__MACOSX", "a system folder: ignored, not walked"),
        ("Bag/thumbs.db", "a system file: ignored"),
        ("__MACOSX", "a system folder: ignored, not walked"),
    ]
    assert find_images([root]) == ([root / "Bag" / "a.png"], [])  # predict: the same rule


def test_a_file_beside_the_category_folders_is_skipped_for_having_no_category(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Coat")
    write_image(root / "lost.png")
    (root / "labels.csv").write_text("file,label\n")
    (root / "gone").symlink_to(tmp_path / "missing", target_is_directory=True)
    items, skipped = find_labelled_images(root)
    assert sorted(category for _, category in items) == ["Bag", "Coat"]
    assert skipped == [(root / "gone", f"broken symbolic link to {tmp_path / 'missing'}"),
                       (root / "labels.csv", "not in a category folder: put it in the sub-folder of its category"),
                       (root / "lost.png", "not in a category folder: put it in the sub-folder of its category")]
    split = folders(tmp_path / "split", "train/Bag", "test/Bag")
    write_image(split / "train" / "stray.png")
    write_image(split / "beside.png")  # outside the train/ folder an upload reads
    assert [path.name for path, _ in find_labelled_images(split)[1]] == ["stray.png"]
