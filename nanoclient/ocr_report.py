"""The HTML report of ``nanoclient ocr evaluate --report``: per-field scores, and each document drawn with
its labelled boxes (green) and the model's answers (orange: right text; red: wrong), in one file that
opens offline (images embedded, no script)."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from .ocr_evaluate import Comparison, OcrEvaluation

#: Widest a drawn page is, in pixels.
PAGE_WIDTH = 700
_STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.doc{display:inline-block;vertical-align:top;margin:8px;max-width:720px}.doc img{border:1px solid #999;max-width:100%}
.bad{color:#b00}.ok{color:#070}small{color:#666}"""


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _page_image(document: str, page: int, comparisons: list[Comparison]) -> str:
    """The page drawn with its boxes, as a data: URL ('' when it cannot be drawn)."""
    from PIL import Image, ImageDraw

    try:
        if Path(document).read_bytes()[:5] == b"%PDF-":
            from .server.ocr_engine import render_pages  # PDF pages as the server renders them

            image = list(render_pages(Path(document).read_bytes()))[page].convert("RGB")
        else:
            with Image.open(document) as opened:
                image = opened.convert("RGB")
    except Exception:  # a report never fails for one picture
        return ""
    draw = ImageDraw.Draw(image)
    for c in comparisons:
        if c.truth is not None:
            draw.rectangle((c.truth.xmin, c.truth.ymin, c.truth.xmax, c.truth.ymax), outline=(0, 150, 0), width=3)
        if c.answer is not None:
            colour = (230, 140, 0) if c.exact else (210, 0, 0)
            draw.rectangle((c.answer.xmin - 3, c.answer.ymin - 3, c.answer.xmax + 3, c.answer.ymax + 3),
                           outline=colour, width=2)
            draw.text((c.answer.xmin, max(0, c.answer.ymin - 14)), c.field, fill=colour)
    if image.width > PAGE_WIDTH:
        image = image.resize((PAGE_WIDTH, round(image.height * PAGE_WIDTH / image.width)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def write_report(path: Path, result: OcrEvaluation, *, model_id: str, title: str) -> None:
    """Write the report of an evaluation to ``path`` (HTML, self-contained)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s.field)}</td><td>{s.labelled}</td><td>{s.answered}</td><td>{_number(s.precision)}</td>"
        f"<td>{_number(s.recall)}</td><td>{_number(s.accuracy)}</td></tr>" for s in result.fields)
    documents = []
    for document, comparisons in result.documents:
        pages = sorted({c.page for c in comparisons}) or [0]
        images = "".join(f'<img alt="page {p + 1}" src="{src}">' for p in pages
                         if (src := _page_image(document, p, [c for c in comparisons if c.page == p])))
        lines = "".join(
            f'<li class="{"ok" if c.exact else "bad"}">{e(c.field)}: '
            f'{e(c.answer.text) if c.answer else "<i>not found</i>"}'
            + ("" if c.exact or c.truth is None else f" <small>(labelled {e(c.truth.text or '?')})</small>")
            + "</li>" for c in comparisons)
        documents.append(f'<div class="doc"><h3>{e(Path(document).name)}</h3>{images}<ul>{lines}</ul></div>')
    text = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{e(title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{e(title)}</h1><p>{len(result.documents)} documents, {result.labelled} labelled "
            f"values; exact-text accuracy <b>{_number(result.accuracy)}</b>. Boxes: green labelled, orange read "
            f"right, red read wrong.</p><table><tr><th>field</th><th>labelled</th><th>answered</th>"
            f"<th>precision</th><th>recall</th><th>exact text</th></tr>{rows}</table>"
            f"{''.join(documents)}<p><small>model {e(model_id)}</small></p></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


__all__ = ["write_report"]
