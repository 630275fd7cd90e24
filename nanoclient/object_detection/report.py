"""The HTML report of an object detection evaluation: the scores per class, and each test image drawn with
its true boxes (green, dashed) and the model's answers at the threshold (orange: right; red: wrong), each
answer with its class and score, each missed object named.

Images with errors come first (the most first), then the rest; a filter at the top shows errors only or
every image: radio buttons and CSS, no script. Each image is a thumbnail embedded as a data: URL inside an
inline SVG whose coordinates are the image's own pixels, so the boxes are drawn exactly, at any size, and
the one file works offline and from any folder.
"""
from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .evaluate import MATCH_IOU, DetectionEvaluation, ImageOutcome
from .types import DetectedObject

__all__ = ["THUMBNAIL_WIDTH", "write_report"]

#: Widest a drawn image is in the report, in pixels (its thumbnail is at most this wide).
THUMBNAIL_WIDTH = 480
_STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.img{display:inline-block;vertical-align:top;margin:8px;width:min(480px,100%);padding:4px 8px;
border-left:4px solid #070}.img.wrong{border-left-color:#b00}.img.failed{background:#fff4f4}
.img svg{width:100%;height:auto;border:1px solid #999}.bad{color:#b00}.ok{color:#070}small{color:#666}
#show-errors:checked~.imgs .img.right{display:none}ul{margin:4px 0;padding-left:18px}"""
_TRUE, _RIGHT, _WRONG = "#0a0", "#e68a00", "#d00"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _thumbnail(source: bytes | str | os.PathLike[str]) -> tuple[str, int, int] | None:
    """(data: URL of a JPEG thumbnail, the image's own width, height), or None when it cannot be read."""
    from PIL import Image, ImageOps

    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except Exception:  # a report never fails for one picture
        return None
    width, height = image.size
    if width > THUMBNAIL_WIDTH:
        image = image.resize((THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width))))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii"), width, height


def _rect(box: tuple[int, int, int, int], colour: str, label: str, *, dashed: bool, stroke: float,
          below: bool = False) -> str:
    e = html.escape
    xmin, ymin, xmax, ymax = box
    dash = f' stroke-dasharray="{2 * stroke:g} {stroke:g}"' if dashed else ""
    y = ymax + 3.2 * stroke if below else max(3.2 * stroke, ymin - stroke)
    return (f'<rect x="{xmin}" y="{ymin}" width="{xmax - xmin}" height="{ymax - ymin}" fill="none" '
            f'stroke="{colour}" stroke-width="{stroke:g}"{dash}/>'
            f'<text x="{xmin}" y="{y:g}" fill="{colour}" font-size="{3.2 * stroke:g}" '
            f'paint-order="stroke" stroke="#fff" stroke-width="{stroke / 2:g}">{e(label)}</text>')


def _wrong(outcome: ImageOutcome) -> set[tuple[str, tuple[int, int, int, int], float | None]]:
    return {(m.label, (m.xmin, m.ymin, m.xmax, m.ymax), m.score) for m in outcome.errors if m.kind != "missed"}


def _image_block(outcome: ImageOutcome, source: bytes | str | os.PathLike[str] | None, threshold: float) -> str:
    e = html.escape
    wrong = _wrong(outcome)
    answers: Sequence[DetectedObject] = [p for p in outcome.predictions
                                         if (1.0 if p.score is None else p.score) >= threshold]
    thumb = _thumbnail(source) if source is not None else None
    if thumb is None:
        picture = "<small>(the image could not be drawn here)</small>"
    else:
        url, width, height = thumb
        stroke = max(1.0, max(width, height) / 200)
        shapes = [_rect(t[1:], _TRUE, t[0], dashed=True, stroke=stroke, below=True) for t in outcome.truths]
        for p in answers:
            colour = _WRONG if (p.label, p.box, p.score) in wrong else _RIGHT
            score = "" if p.score is None else f" {p.score:.2f}"
            shapes.append(_rect(p.box, colour, f"{p.label}{score}", dashed=False, stroke=stroke))
        picture = (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{e(outcome.name)}">'
                   f'<image href="{url}" x="0" y="0" width="{width}" height="{height}"/>{"".join(shapes)}</svg>')
    items = []
    for m in outcome.errors:
        where = f"({m.xmin}, {m.ymin}, {m.xmax}, {m.ymax})"
        if m.kind == "missed":
            items.append(f'<li class="bad">missed: {e(m.label)} at {where}</li>')
        else:
            score = "" if m.score is None else f" score {m.score:.2f}"
            items.append(f'<li class="bad">{e(m.kind)}: {e(m.label)}{score} at {where}</li>')
    status = (f"{_count(len(outcome.errors), 'error')}" if outcome.errors else "all right")
    counts = f"{len(outcome.truths)} true, {len(answers)} found"
    return (f'<div class="img {"wrong" if outcome.errors else "right"}"><h3>{e(outcome.name)}</h3>'
            f"<small>{status}; {counts}</small>{picture}"
            + (f"<ul>{''.join(items)}</ul>" if items else "") + "</div>")


def write_report(path: str | os.PathLike[str], result: DetectionEvaluation,
                 images: Mapping[str, bytes | str | os.PathLike[str]], *, model_id: str, title: str,
                 failures: Sequence[tuple[str, str]] = ()) -> None:
    """Write the report of ``result`` to ``path`` (one self-contained HTML file).

    ``images`` maps each image's name in the result (``ImageOutcome.name``) to its bytes or its file; an
    image missing there is listed without a picture. ``failures`` are the images the model could not read,
    with the reason: they come first.
    """
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c.label)}</td><td>{c.truths}</td><td>{c.predictions}</td><td>{_number(c.ap50)}</td>"
        f"<td>{_number(c.coco_ap)}</td><td>{_number(c.precision)}</td><td>{_number(c.recall)}</td></tr>"
        for c in result.classes)
    failed = [f'<div class="img failed wrong"><h3>{e(name)}</h3><p class="bad">could not be read: {e(why)}</p>'
              "</div>" for name, why in failures]
    order = sorted(result.images, key=lambda o: (-len(o.errors), o.name))
    blocks = failed + [_image_block(o, images.get(o.name), result.threshold) for o in order]
    errors = len(failed) + sum(not o.correct for o in result.images)
    total = len(failed) + len(result.images)
    text = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{e(title)}</title><style>{_STYLE}</style>'
            f"</head><body><h1>{e(title)}</h1><p>{_count(len(result.images), 'image')} scored"
            + (f", {len(failed)} could not be read" if failed else "")
            + f"; mAP@0.5 <b>{_number(result.map50)}</b>, COCO mAP@[.5:.95] <b>{_number(result.coco_map)}</b>; "
            f"count error {_number(result.count_error)} objects per image at score {result.threshold:g}.</p>"
            f"<p>Boxes: green dashed true; orange found right, red wrong (answers scored {result.threshold:g} or "
            f"more; right means the class's box with IoU {MATCH_IOU:g} or more).</p>"
            f"<table><tr><th>class</th><th>true boxes</th><th>predictions</th><th>AP@0.5</th><th>COCO AP</th>"
            f"<th>precision</th><th>recall</th></tr>{rows}</table>"
            f'<input type="radio" name="show" id="show-all" checked><label for="show-all">all images ({total})'
            f'</label> <input type="radio" name="show" id="show-errors"><label for="show-errors">errors only '
            f'({errors})</label><div class="imgs">{"".join(blocks)}</div>'
            f"<p><small>model {e(model_id)}</small></p></body></html>")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
