"""scripts/make_invoices.py: synthetic invoices with field annotations, reproducible from a seed."""
from __future__ import annotations

import json
from pathlib import Path

from helpers import load_script
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_invoices.py"

make_invoices = load_script(SCRIPT)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run(out: Path, seed: int) -> None:
    assert make_invoices.main(["--out", str(out), "--train", "3", "--test", "2", "--seed", str(seed)]) == 0


def test_splits_annotations_reproducibility(tmp_path: Path) -> None:
    _run(tmp_path / "a", 29)
    a = tmp_path / "a"
    names = {split: sorted(p.stem for p in (a / split).glob("invoice_*.json")) for split in ("train", "test")}
    assert names == {"train": ["invoice_001", "invoice_002", "invoice_003"], "test": ["invoice_004", "invoice_005"]}
    assert (a / "README.md").is_file()
    for split in ("train", "test"):
        for label in (a / split).glob("*.json"):
            annotation = json.loads(label.read_text(encoding="utf-8"))
            image_path = label.with_name(annotation["filename"])
            assert image_path.stem == label.stem and image_path.suffix in (".png", ".jpg")
            with Image.open(image_path) as image:
                assert image.mode == "L" and image.size == (850, 1100)
                assert image.format == ("PNG" if image_path.suffix == ".png" else "JPEG")
            objects = annotation["object"]
            assert sorted(o["name"] for o in objects) == sorted(make_invoices.FIELDS)
            for o in objects:
                assert o["ocr_text"].strip()
                box = o["bndbox"]
                assert all(isinstance(box[k], int) for k in ("xmin", "ymin", "xmax", "ymax"))
                assert 0 <= box["xmin"] < box["xmax"] <= 850
                assert 0 <= box["ymin"] < box["ymax"] <= 1100

    _run(tmp_path / "b", 29)
    _run(tmp_path / "c", 30)
    files_a, files_b, files_c = (_files(tmp_path / d) for d in "abc")
    readme = "README.md"
    del files_a[readme], files_b[readme], files_c[readme]  # it names the --out folder
    assert files_a == files_b
    assert all(files_c.get(name) != data for name, data in files_a.items())
