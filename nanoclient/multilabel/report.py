"""The HTML report of a multi-label evaluation: one self-contained file to look at a model's mistakes.

    from nanoclient.multilabel.report import write_report
    write_report(result, "report.html")           # result: multilabel.evaluate.MultilabelEvaluation

The CSS is inline and the images are data URIs, so the file opens offline and loads nothing from the
network. It shows cards (micro and macro F1, Hamming loss, subset accuracy, the hardest label), the
per-label table, and a gallery of every image whose set of labels was wrong: each label drawn as a chip,
green when rightly given, amber when missed, red when given wrongly, with every label's probability.
Every label and file name is escaped.
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from html import escape
from pathlib import Path

from .evaluate import ImageOutcome, LabelScores, MultilabelEvaluation

#: Images up to this many bytes are embedded as they are; larger ones are downscaled.
EMBED_LIMIT = 32 * 1024
#: Longest side, in pixels, of a downscaled picture.
THUMB_SIZE = 256
_EMBEDDED = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def write_report(result: MultilabelEvaluation, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Render ``result`` and write it to ``path`` (UTF-8, written whole then renamed into place)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_text(render_report(result, title=title), encoding="utf-8")
    os.replace(temp, target)
    return target


def render_report(result: MultilabelEvaluation, *, title: str | None = None, generated: str | None = None) -> str:
    """The whole HTML document for ``result``."""
    title = title or "Multi-label evaluation report"
    generated = generated or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    subtitle = [f"{result.n} image{'' if result.n == 1 else 's'}", f"{len(result.labels)} labels"]
    if result.model_id:
        subtitle.insert(0, f"model {result.model_id}")
    return "\n".join(part for part in (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>",
        f'<header><h1>{escape(title)}</h1><p class="sub">{" &middot; ".join(escape(s) for s in subtitle)}</p></header>',
        "<main>", _cards(result), _table(result), _gallery(result), _skipped(result), "</main>",
        f"<footer>Generated {escape(generated)}. Self-contained: this file loads nothing from the network.</footer>",
        "</body>\n</html>") if part)


def picture(path: str | os.PathLike[str], *, size: int = THUMB_SIZE) -> str | None:
    """An image file as a data URI for inline display (small PNG/JPEG files byte for byte, others
    downscaled to ``size`` pixels at most), or None when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format in _EMBEDDED and len(data) <= EMBED_LIMIT:
                return f"data:{_EMBEDDED[image.format]};base64,{base64.b64encode(data).decode('ascii')}"
            image.draft("RGB", (size, size))
            small = image.convert("RGB")
    except Exception:  # Pillow raises many kinds for unreadable data; the report shows a placeholder
        return None
    small.thumbnail((size, size))
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=85)
    return f"data:image/jpeg;base64,{base64.b64encode(out.getvalue()).decode('ascii')}"


def _grade(value: float) -> str:
    return "good" if value >= 0.9 else ("fair" if value >= 0.7 else "poor")


def _card(name: str, value: str, note: str, grade: str = "") -> str:
    return (f'<div class="card {grade}"><div class="name">{name}</div><div class="value">{value}</div>'
            f'<div class="note">{note}</div></div>')


def _cards(result: MultilabelEvaluation) -> str:
    exact = result.n - len(result.mistakes)
    cards = [
        _card("Micro F1", f"{result.micro.f1:.3f}", f"precision {result.micro.precision:.3f} &middot; "
              f"recall {result.micro.recall:.3f}", _grade(result.micro.f1)),
        _card("Macro F1", f"{result.macro.f1:.3f}", "the mean over the labels", _grade(result.macro.f1)),
        _card("Hamming loss", f"{result.hamming_loss:.3f}", "share of image-label decisions wrong"),
        _card("Subset accuracy", f"{result.subset_accuracy * 100:.1f}%", f"{exact} of {result.n} images exactly right"),
    ]
    present = [(label, s) for label, s in result.per_label.items() if s.support]
    if len(present) > 1 and len({s.f1 for _, s in present}) > 1:
        label, scores = min(present, key=lambda pair: (pair[1].f1, pair[0]))
        cards.append(_card("Hardest label", escape(label), f"F1 {scores.f1:.3f} over {scores.support} images"))
    return '<section class="cards" aria-label="Summary">' + "".join(cards) + "</section>"


def _bar(value: float) -> str:
    return (f'<td class="bar {_grade(value)}"><span class="meter"><span style="width:{value * 100:.1f}%"></span>'
            f'</span><span class="num">{value:.3f}</span></td>')


def _row(name: str, s: LabelScores, kind: str = "") -> str:
    return (f'<tr class="{kind}"><th scope="row">{escape(name)}</th>{_bar(s.precision)}{_bar(s.recall)}{_bar(s.f1)}'
            f'<td class="num">{s.support}</td><td class="num">{s.predicted}</td></tr>')


def _table(result: MultilabelEvaluation) -> str:
    rows = [_row(label, s) for label, s in result.per_label.items()]
    rows += [_row("micro avg", result.micro, "avg"), _row("macro avg", result.macro, "avg")]
    return ('<section class="panel" id="labels"><h2>Per label</h2><div class="scroll"><table class="scores"><thead><tr>'
            '<th scope="col">label</th><th scope="col">precision</th><th scope="col">recall</th><th scope="col">F1</th>'
            '<th scope="col" class="num">true</th><th scope="col" class="num">predicted</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div></section>")


def _gallery(result: MultilabelEvaluation) -> str:
    if not result.mistakes:
        body = '<p class="empty">No mistakes: every image was given exactly its labels.</p>'
    else:
        ordered = sorted(result.mistakes, key=lambda m: (-len(m.missed) - len(m.extra), m.file))
        body = '<div class="gallery">' + "".join(_mistake(m) for m in ordered) + "</div>"
    legend = ('<p class="hint"><span class="chip right">given rightly</span> <span class="chip missed">missed</span> '
              '<span class="chip extra">given wrongly</span> &middot; most wrong labels first</p>')
    return (f'<section class="panel" id="mistakes"><h2>Mistakes <span class="count">{len(result.mistakes)}</span></h2>'
            f"{legend}{body}</section>")


def _mistake(m: ImageOutcome) -> str:
    uri = picture(m.file)
    name = Path(m.file).name
    image = ('<div class="noimg">image not readable</div>' if uri is None
             else f'<img src="{uri}" alt="{escape(name)}" loading="lazy">')
    chips = [(label, "right") for label in m.true if label in m.predicted]
    chips += [(label, "missed") for label in m.missed] + [(label, "extra") for label in m.extra]
    chip_html = "".join(f'<span class="chip {kind}">{escape(label)}</span>' for label, kind in chips)
    if not chips:
        chip_html = '<span class="none">no labels</span>'
    true = ", ".join(escape(label) for label in m.true) or "none"
    predicted = ", ".join(escape(label) for label in m.predicted) or "none"
    scores = "".join(
        f'<li><span class="lbl">{escape(s.label)}</span><span class="meter"><span style="width:'
        f'{s.probability * 100:.1f}%"></span></span><span class="num">{s.probability * 100:.0f}%</span></li>'
        for s in m.scores)
    return (f'<figure class="mistake"><div class="frame">{image}</div><figcaption><div class="chips">{chip_html}</div>'
            f'<div class="pair">true: {true}<br>predicted: {predicted}</div>'
            f'{f"<ol class=scores-list>{scores}</ol>" if scores else ""}'
            f'<div class="file" title="{escape(m.file)}">{escape(name)}</div></figcaption></figure>')


def _skipped(result: MultilabelEvaluation) -> str:
    if not result.skipped:
        return ""
    items = "".join(f"<li><code>{escape(file)}</code> ({escape(reason)})</li>" for file, reason in result.skipped)
    return f'<section class="panel" id="skipped"><h2>Not scored</h2><ul>{items}</ul></section>'


_CSS = """
:root{--bg:#f5f6f8;--panel:#fff;--text:#1b1f24;--muted:#5f6b7a;--line:#e3e6eb;--accent:#2563eb;
--ok:#16a34a;--bad:#dc2626;--warn:#d97706}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--panel:#181c22;--text:#e6e9ee;--muted:#9aa5b3;--line:#2a3039}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{padding:28px 20px 8px;max-width:1200px;margin:0 auto}h1{margin:0;font-size:1.6rem}
.sub{margin:4px 0 0;color:var(--muted);word-break:break-all}
main{max-width:1200px;margin:0 auto;padding:12px 20px;display:grid;gap:18px}
h2{margin:0 0 10px;font-size:1.15rem}
.panel,.card{background:var(--panel);border:1px solid var(--line);border-radius:14px;padding:16px;min-width:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:14px}
.card .name{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.06em}
.card .value{font-size:1.9rem;font-weight:650;line-height:1.2;margin:4px 0 2px;overflow-wrap:anywhere}
.card.good .value{color:var(--ok)}.card.fair .value{color:var(--warn)}.card.poor .value{color:var(--bad)}
.card .note,.hint{color:var(--muted);font-size:.85rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}
.scores th,.scores td{padding:7px 10px;border-bottom:1px solid var(--line);text-align:left}
.scores thead th{color:var(--muted);font-weight:500;font-size:.8rem;text-transform:uppercase}
.scores tr.avg th,.scores tr.avg td{color:var(--muted)}
.num{font-variant-numeric:tabular-nums;text-align:right}
.bar{white-space:nowrap}.bar .num{display:inline-block;width:3.5em}
.meter{display:inline-block;width:120px;height:8px;border-radius:4px;background:rgba(127,127,127,.18);overflow:hidden;
vertical-align:middle;margin-right:6px}
.meter>span{display:block;height:100%;background:var(--accent)}
.bar.good .meter>span{background:var(--ok)}.bar.fair .meter>span{background:var(--warn)}
.bar.poor .meter>span{background:var(--bad)}
.count{background:var(--bad);color:#fff;border-radius:999px;font-size:.8rem;padding:1px 9px;vertical-align:2px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:14px}
.mistake{margin:0;border:1px solid var(--line);border-radius:12px;overflow:hidden;display:flex;flex-direction:column}
.frame{aspect-ratio:1/1;display:flex;align-items:center;justify-content:center;background:rgba(127,127,127,.08)}
.frame img{width:100%;height:100%;object-fit:contain;image-rendering:pixelated}
.noimg,.none{color:var(--muted);font-size:.85rem}
figcaption{padding:10px 12px;display:grid;gap:6px;font-size:.85rem}
.chips{display:flex;flex-wrap:wrap;gap:5px}
.chip{border-radius:999px;padding:1px 9px;font-size:.8rem;font-weight:600;overflow-wrap:anywhere}
.chip.right{background:rgba(22,163,74,.15);color:var(--ok)}
.chip.missed{background:rgba(217,119,6,.15);color:var(--warn);border:1px dashed var(--warn)}
.chip.extra{background:rgba(220,38,38,.13);color:var(--bad);text-decoration:line-through}
.pair{color:var(--muted)}
.scores-list{list-style:none;margin:0;padding:0;display:grid;gap:3px;font-size:.78rem}
.scores-list li{display:grid;grid-template-columns:5em 1fr 3em;align-items:center;gap:6px}
.scores-list .lbl{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}.scores-list .meter{width:100%;margin:0}
.file{color:var(--muted);font-size:.75rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.empty{color:var(--ok);font-weight:600}
footer{max-width:1200px;margin:0 auto;padding:10px 20px 28px;color:var(--muted);font-size:.8rem}
"""

__all__ = ["EMBED_LIMIT", "THUMB_SIZE", "picture", "render_report", "write_report"]
