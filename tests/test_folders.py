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


def test_links_are_followed_at_every_depth_and_each_folder_is_walked_once(tmp_path):
    elsewhere = folders(tmp_path / "elsewhere", "more")
    root = folders(tmp_path / "set", "Bag", "Coat")
    (root / "Bag" / "linked").symlink_to(elsewhere / "more", target_is_directory=True)  # inside a category
    (root / "Bag" / "loop").symlink_to(root / "Bag", target_is_directory=True)         # back up: no loop
    (root / "Bag" / "again").symlink_to(elsewhere / "more", target_is_directory=True)  # reached twice: once
    (root / "Shoe").symlink_to(elsewhere, target_is_directory=True)                   # a linked category
    (root / "Coat" / "b.png").symlink_to(root / "Bag" / "a.png")                       # a linked file
    items, skipped = find_labelled_images(root)
    found = sorted((path.relative_to(root).as_posix(), category) for path, category in items)
    bag_more = [entry for entry in found if entry[1] == "Bag" and entry[0] != "Bag/a.png"]
    assert len(bag_more) == 1 and bag_more[0][0] in ("Bag/linked/a.png", "Bag/again/a.png")
    assert ("Coat/b.png", "Coat") in found and ("Shoe/more/a.png", "Shoe") in found
    assert len(found) == 5 and skipped == []
    assert len(find_images([root / "Bag"])) == 2


def test_a_dangling_link_is_one_skipped_file_with_the_reason(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Coat")
    (root / "Bag" / "gone.png").symlink_to(tmp_path / "missing.png")
    (root / "Coat" / "self.png").symlink_to(root / "Coat" / "self.png")  # a link to itself
    items, skipped = find_labelled_images(root)
    assert len(items) == 2
    reasons = dict(skipped)
    assert reasons[root / "Bag" / "gone.png"] == f"broken symbolic link to {tmp_path / 'missing.png'}"
    assert reasons[root / "Coat" / "self.png"].startswith("broken symbolic link")
    # predict keeps it, so that checking the files names it as failed instead of dropping it silently
    assert root / "Bag" / "gone.png" in find_images([root])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_skipped_not_opened(tmp_path):
    root = folders(tmp_path / "set", "Bag", "Coat")
    os.mkfifo(root / "Bag" / "pipe.png")  # opening it would block until someone writes
    items, skipped = find_labelled_images(root)
    assert len(items) == 2 and skipped == [(root / "Bag" / "pipe.png", "not a regular file")]
    assert root / "Bag" / "pipe.png" not in find_images([root])


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
