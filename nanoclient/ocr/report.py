"""The HTML report of ``nanoclient ocr evaluate --report``: per-field scores, the suggested auto-accept
threshold, and each document drawn with its labelled boxes (green) and the model's answers (orange: right
text; red: wrong), with each answer's score and, for documents of several pages, each page's number.

Documents that could not be read come first, then those with a wrong or missing answer (the most first),
then the rest; within a page, wrong answers come first. A filter at the top shows errors only or every
document: radio buttons and CSS, no script, so the one file works offline and from any folder (images
are embedded).
"""
from __future__ import annotations

import base64
import html
import io
import warnings
from collections.abc import Sequence
from pathlib import Path

from .evaluate import AutoAccept, Comparison, OcrEvaluation

#: Widest a drawn page is, in pixels.
PAGE_WIDTH = 700
#: Pixels above which a page is not drawn (Pillow's own bound): the report says so instead.
MAX_PIXELS = 89_478_485
_STYLE = """body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.doc{display:inline-block;vertical-align:top;margin:8px;max-width:720px;padding:4px 8px;border-left:4px solid #070}
.doc.wrong{border-left-color:#b00}.doc.failed{border-left-color:#b00;background:#fff4f4}
.doc img{border:1px solid #999;max-width:100%}figure{margin:8px 0}figcaption{color:#666}
.bad{color:#b00}.ok{color:#070}small,.score{color:#666}.filter{margin:12px 0}.filter label{margin-right:16px}
#show-errors:checked~.docs .doc.right{display:none}"""


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _page_image(document: str, page: int, comparisons: Sequence[Comparison]) -> str:
    """The page drawn with its boxes, as a data: URL ('' when it cannot be drawn)."""
    from PIL import Image, ImageDraw

    try:
        data = Path(document).read_bytes()
        if data[:5] == b"%PDF-":
            from ..server.ocr.engine import open_document  # PDF pages as the server renders them

            with open_document(data) as opened:
                image = opened.page(page).convert("RGB")
        else:
            with warnings.catch_warnings():  # a huge image is said below, not by Pillow's warning
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(data)) as opened:
                    if opened.width * opened.height > MAX_PIXELS:
                        return ""
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


def _line(c: Comparison) -> str:
    """One comparison as a list item: the answer (or 'not found'), its score, and the labelled text if wrong."""
    e = html.escape
    answer = e(c.answer.text) if c.answer is not None else "<i>not found</i>"
    score = (f' <span class="score">score {c.answer.score:.2f}</span>'
             if c.answer is not None and c.answer.score is not None else "")
    if c.exact:
        note = ""
    elif c.truth is None:
        note = " <small>(not labelled on this page)</small>"
    else:
        note = f" <small>(labelled {e(c.truth.text or '?')})</small>"
    return f'<li class="{"ok" if c.exact else "bad"}">{e(c.field)}: {answer}{score}{note}</li>'


def _document(document: str, comparisons: Sequence[Comparison], pages: int) -> str:
    """A document's block: per page (numbered when there are several), its picture and its comparisons."""
    e = html.escape
    wrong = sum(not c.exact for c in comparisons)
    numbers = sorted({c.page for c in comparisons}) or [0]
    count = max(pages, numbers[-1] + 1)
    parts = []
    for number in numbers:
        on_page = sorted((c for c in comparisons if c.page == number), key=lambda c: (c.exact, c.field))
        src = _page_image(document, number, on_page)
        caption = f"page {number + 1} of {count}" if count > 1 else ""
        picture = (f'<img alt="{e(caption or Path(document).name)}" src="{src}">' if src
                   else "<small>(the page could not be drawn here)</small>")
        parts.append(f"<figure>{f'<figcaption>{caption}</figcaption>' if caption else ''}{picture}"
                     f"<ul>{''.join(_line(c) for c in on_page)}</ul></figure>")
    status = f"{wrong} wrong or missing" if wrong else "all right"
    pages_note = f", {count} pages" if count > 1 else ""
    return (f'<div class="doc {"wrong" if wrong else "right"}"><h3>{e(Path(document).name)}</h3>'
            f"<small>{status}{pages_note}</small>{''.join(parts)}</div>")


def auto_accept_text(auto: AutoAccept) -> str:
    """One sentence on the suggested auto-accept threshold (plain text, for the CLI and the report)."""
    target = f"{auto.target:.0%}"
    if auto.answers == 0:
        return f"auto-accept threshold: none (no scored answer to set one on; {target} exact is the bar)"
    if auto.threshold is None:
        return (f"auto-accept threshold: none (at no score are {target} of the {auto.answers} answers at or above "
                "it exact: review every answer)")
    share = f"{auto.share:.1%}" if auto.share is not None else "-"
    few = (f"; only {_count(auto.accepted, 'answer')}, too few to be sure of {target}" if auto.accepted < 100 else "")
    return (f"auto-accept threshold: {auto.threshold:.3f} (answers scored that or more: {share} of the "
            f"{auto.fields} fields, {auto.exact} of {auto.accepted} exact{few})")


def write_report(path: Path, result: OcrEvaluation, *, model_id: str, title: str,
                 failures: Sequence[tuple[str, str]] = ()) -> None:
    """Write the report of an evaluation to ``path`` (HTML, self-contained); ``failures`` are the documents
    that could not be read, with the reason."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s.field)}</td><td>{s.labelled}</td><td>{s.answered}</td><td>{_number(s.precision)}</td>"
        f"<td>{_number(s.recall)}</td><td>{_number(s.accuracy)}</td></tr>" for s in result.fields)
    failed = [f'<div class="doc failed wrong"><h3>{e(Path(document).name)}</h3><p class="bad">could not be read: '
              f"{e(why)}</p></div>" for document, why in failures]
    order = sorted(result.documents, key=lambda item: (-sum(not c.exact for c in item[1]), item[0]))
    blocks = failed + [_document(document, comparisons, result.pages.get(document, 0))
                       for document, comparisons in order]
    errors = len(failed) + sum(1 for _, comparisons in result.documents if any(not c.exact for c in comparisons))
    total = len(failed) + len(result.documents)
    text = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{e(title)}</title><style>{_STYLE}</style>"
            f"</head><body><h1>{e(title)}</h1><p>{_count(len(result.documents), 'document')} read"
            + (f", {len(failed)} could not be read" if failed else "")
            + f"; {_count(result.labelled, 'labelled value')}; exact-text accuracy <b>{_number(result.accuracy)}</b>. "
            f"Boxes: green labelled, orange read right, red read wrong.</p>"
            f"<p>{e(auto_accept_text(result.auto_accept))}.</p>"
            f"<table><tr><th>field</th><th>labelled</th><th>answered</th>"
            f"<th>precision</th><th>recall</th><th>exact text</th></tr>{rows}</table>"
            f'<input type="radio" name="show" id="show-all" checked><label for="show-all">all documents ({total})'
            f'</label> <input type="radio" name="show" id="show-errors"><label for="show-errors">errors only '
            f'({errors})</label><div class="docs">{"".join(blocks)}</div>'
            f"<p><small>model {e(model_id)}</small></p></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


__all__ = ["MAX_PIXELS", "PAGE_WIDTH", "auto_accept_text", "write_report"]
