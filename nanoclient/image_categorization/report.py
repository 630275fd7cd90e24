"""The evaluation report: one self-contained HTML file to look at a model's mistakes.

    from nanoclient.image_categorization.report import write_report
    write_report(result, "report.html")           # result: evaluate.EvaluationResult

Everything the page needs is inside the file: the CSS and the few lines of script are
inline and the images are data URIs, so it opens offline, from mail or from a CI
artifact, and loads nothing from the network. It shows the summary, the per-class
scores, the confusion matrix as a heat map (click a cell to see its mistakes) and a
gallery of every misclassified image with its top scores. Every label and file name
is escaped.
"""
from __future__ import annotations

import base64
import datetime as _dt
import io
import os
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path

from .._version import __version__
from .._wire import MEDIA_TYPES
from ..types import PathLike
from .evaluate import ClassScores, EvaluationResult, Mistake

#: Images up to this many bytes are embedded as they are; larger ones are downscaled.
EMBED_LIMIT = 32 * 1024
#: Longest side, in pixels, of a downscaled thumbnail.
THUMB_SIZE = 256
#: Images with no side above this are drawn with crisp pixels when enlarged.
PIXELATED_BELOW = 128
#: Number of scores listed under each misclassified image.
TOP_SCORES = 3

_MIME = MEDIA_TYPES


def write_report(result: EvaluationResult, path: PathLike, *, title: str | None = None) -> Path:
    """Render ``result`` and write it to ``path`` (UTF-8, written whole then renamed into place)."""
    target = Path(path)
    html = render_report(result, title=title)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target


def render_report(result: EvaluationResult, *, title: str | None = None, generated: str | None = None) -> str:
    """The whole HTML document for ``result`` as a string."""
    title = title or "Evaluation report"
    generated = generated or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    subtitle = [f"{result.n} image{'' if result.n == 1 else 's'}", f"{len(result.labels)} labels"]
    if result.model_id:
        subtitle.insert(0, f"model {result.model_id}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<header class="masthead">',
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{" &middot; ".join(escape(s) for s in subtitle)}</p>',
        "</header>",
        "<main>",
        _summary(result),
        _heatmap_section(result),
        _class_table(result),
        _gallery(result),
        _skipped(result),
        "</main>",
        f'<footer>Generated {escape(generated)} by nanoclient {escape(__version__)}. '
        "Self-contained: this file loads nothing from the network.</footer>",
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
    ]
    return "\n".join(p for p in parts if p)


def thumbnail(path: PathLike, *, embed_limit: int = EMBED_LIMIT, size: int = THUMB_SIZE) -> tuple[str, int, int] | None:
    """(data URI, width, height) of an image file for inline display, or None if unreadable.

    Small PNG/JPEG files are embedded byte for byte; larger ones (or other formats
    Pillow reads) become a thumbnail whose longest side is at most ``size`` pixels:
    JPEG for opaque images, PNG when there is transparency. Width and height are
    those of the original image.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            fmt = image.format or ""
            if fmt in _MIME and len(data) <= embed_limit:
                return _data_uri(_MIME[fmt], data), width, height
            image.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            thumb = image.copy()
    except Exception:  # Pillow raises many types for unreadable data; the report shows a placeholder
        return None
    thumb.thumbnail((size, size))
    out = io.BytesIO()
    has_alpha = thumb.mode in ("RGBA", "LA") or (thumb.mode == "P" and "transparency" in thumb.info)
    if has_alpha:
        thumb.save(out, format="PNG", optimize=True)
        return _data_uri("image/png", out.getvalue()), width, height
    thumb.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    return _data_uri("image/jpeg", out.getvalue()), width, height


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --- sections -------------------------------------------------------------------------


def _summary(result: EvaluationResult) -> str:
    macro = result.macro
    worst = _worst_class(result)
    cards = [
        _card("Accuracy", _pct(result.accuracy), f"{result.correct} of {result.n} right", "big " + _grade(result.accuracy)),
        _card("Mistakes", str(len(result.mistakes)), f"{_pct(1 - result.accuracy) if result.n else '0%'} of images", ""),
        _card("Macro F1", _num(macro.f1), f"precision {_num(macro.precision)} &middot; recall {_num(macro.recall)}", ""),
    ]
    if worst is not None:
        label, scores = worst
        cards.append(_card("Hardest label", escape(label), f"F1 {_num(scores.f1)} over {scores.support} images", "label"))
    return '<section class="cards" aria-label="Summary">' + "".join(cards) + "</section>"


def _card(name: str, value: str, note: str, extra_class: str) -> str:
    return (
        f'<div class="card {extra_class}"><div class="card-name">{name}</div>'
        f'<div class="card-value">{value}</div><div class="card-note">{note}</div></div>'
    )


def _worst_class(result: EvaluationResult) -> tuple[str, ClassScores] | None:
    """The label with the lowest F1, or None when there is no such label (fewer than two, or all equal)."""
    present = [(label, s) for label, s in result.per_class.items() if s.support > 0]
    if len(present) < 2 or len({s.f1 for _, s in present}) == 1:  # none is harder than another
        return None
    return min(present, key=lambda pair: (pair[1].f1, pair[0]))


def _heatmap_section(result: EvaluationResult) -> str:
    labels = result.labels
    tall_headers = len(labels) > 5 or any(len(label) > 6 for label in labels)
    head = ['<th class="corner" scope="col">predicted &rarr;<br>true &darr;</th>']
    for label in labels:
        head.append(f'<th scope="col" class="col{" tall" if tall_headers else ""}" title="{escape(label)}"><span>{escape(label)}</span></th>')
    head.append('<th scope="col" class="total">total</th>')
    rows = []
    for i, true in enumerate(labels):
        row_total = sum(result.matrix[i])
        cells = [f'<th scope="row" class="rowhead" title="{escape(true)}">{escape(true)}</th>']
        for j, predicted in enumerate(labels):
            cells.append(_heat_cell(true, predicted, result.matrix[i][j], row_total, i == j))
        cells.append(f'<td class="total">{row_total}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    table = (
        '<div class="scroll"><table class="heatmap">'
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
    legend = (
        '<p class="legend"><span class="swatch ok"></span>right &nbsp; <span class="swatch bad"></span>wrong &nbsp; '
        "shade = share of the row (the true label). Click a wrong cell to see those images.</p>"
    )
    return f'<section class="panel" id="confusion"><h2>Confusion matrix</h2>{legend}{table}</section>'


def _heat_cell(true: str, predicted: str, count: int, row_total: int, diagonal: bool) -> str:
    share = count / row_total if row_total else 0.0
    kind = "diag" if diagonal else "off"
    # Colour strength grows with the share of the row; a faint floor keeps small non-zero counts visible.
    alpha = 0.0 if count == 0 else 0.12 + 0.88 * share
    rgb = "22, 163, 74" if diagonal else "220, 38, 38"
    style = f' style="background-color: rgba({rgb}, {alpha:.3f})"' if count else ""
    strong = " strong" if alpha >= 0.55 else ""
    zero = " zero" if count == 0 else ""
    t, p = escape(true), escape(predicted)
    tip = f"{t} predicted as {p}: {count} of {row_total} ({_pct(share)})"
    clickable = ' tabindex="0" role="button"' if (count and not diagonal) else ""
    return (
        f'<td class="cell {kind}{strong}{zero}" data-true="{t}" data-predicted="{p}" data-count="{count}"'
        f'{style} title="{tip}"{clickable}>{count}</td>'
    )


def _class_table(result: EvaluationResult) -> str:
    rows = []
    for label, s in result.per_class.items():
        note = "" if s.support else ' <span class="tag">never true</span>'
        rows.append(
            f'<tr><th scope="row">{escape(label)}{note}</th>{_bar_cell(s.precision)}{_bar_cell(s.recall)}'
            f'{_bar_cell(s.f1)}<td class="num">{s.support}</td></tr>'
        )
    for name, s in (("macro avg", result.macro), ("weighted avg", result.weighted)):
        rows.append(
            f'<tr class="avg"><th scope="row">{name}</th>{_bar_cell(s.precision)}{_bar_cell(s.recall)}'
            f'{_bar_cell(s.f1)}<td class="num">{s.support}</td></tr>'
        )
    return (
        '<section class="panel" id="classes"><h2>Per label</h2><div class="scroll"><table class="scores">'
        '<thead><tr><th scope="col">label</th><th scope="col">precision</th><th scope="col">recall</th>'
        '<th scope="col">F1</th><th scope="col" class="num">images</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _bar_cell(value: float) -> str:
    return (
        f'<td class="bar {_grade(value)}"><span class="meter"><span style="width:{value * 100:.1f}%"></span></span>'
        f"<span class=\"num\">{_num(value)}</span></td>"
    )


def _gallery(result: EvaluationResult) -> str:
    mistakes = sorted(result.mistakes, key=lambda m: -m.probability)  # most confident mistakes first
    if not mistakes:
        body = '<p class="empty">No mistakes: every image was predicted right.</p>'
    else:
        body = '<div class="gallery" id="gallery">' + "".join(_mistake_item(m) for m in mistakes) + "</div>"
    filter_bar = (
        '<p class="filter" id="filter" hidden><span id="filter-text"></span> '
        '<button type="button" id="filter-clear">Show all</button></p>'
    )
    count = len(mistakes)
    return (
        f'<section class="panel" id="mistakes"><h2>Mistakes <span class="count">{count}</span></h2>'
        f'<p class="hint">Most confident first.</p>{filter_bar}{body}</section>'
    )


def _mistake_item(m: Mistake) -> str:
    thumb = thumbnail(m.file)
    name = Path(m.file).name
    if thumb is None:
        picture = '<div class="noimg">image not readable</div>'
    else:
        uri, width, height = thumb
        pixelated = " pixelated" if max(width, height) <= PIXELATED_BELOW else ""
        picture = f'<img class="thumb{pixelated}" src="{uri}" alt="{escape(name)}" width="{width}" height="{height}" loading="lazy">'
    scores = "".join(_score_row(label, p, m) for label, p in _top(m.scores, m))
    t, p = escape(m.label), escape(m.predicted)
    return (
        f'<figure class="mistake" data-true="{t}" data-predicted="{p}">'
        f'<div class="frame">{picture}</div><figcaption>'
        f'<div class="pair"><span class="true" title="true label">{t}</span>'
        f'<span class="as"><span class="arrow" aria-label="predicted as">&rarr;</span>'
        f'<span class="predicted" title="predicted label">{p}</span></span></div>'
        f'<ol class="topscores">{scores}</ol>'
        f'<div class="file" title="{escape(m.file)}">{escape(name)}</div>'
        "</figcaption></figure>"
    )


def _top(scores: Sequence[tuple[str, float]], m: Mistake) -> Iterable[tuple[str, float]]:
    ranked = list(scores)[:TOP_SCORES] or [(m.predicted, m.probability)]
    if m.label not in {label for label, _ in ranked}:  # always show how the true label fared
        true_score = next((pair for pair in scores if pair[0] == m.label), None)
        if true_score is not None:
            ranked.append(true_score)
    return ranked


def _score_row(label: str, probability: float, m: Mistake) -> str:
    kind = "is-true" if label == m.label else ("is-predicted" if label == m.predicted else "")
    return (
        f'<li class="{kind}"><span class="lbl">{escape(label)}</span>'
        f'<span class="meter"><span style="width:{probability * 100:.1f}%"></span></span>'
        f'<span class="num">{_pct(probability)}</span></li>'
    )


def _skipped(result: EvaluationResult) -> str:
    if not result.skipped:
        return ""
    items = "".join(f"<li><code>{escape(f)}</code> ({escape(reason)})</li>" for f, reason in result.skipped)
    return f'<section class="panel" id="skipped"><h2>Skipped files</h2><ul>{items}</ul></section>'


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _num(value: float) -> str:
    return f"{value:.3f}"


def _grade(value: float) -> str:
    return "good" if value >= 0.9 else ("fair" if value >= 0.7 else "poor")


_CSS = """
:root{--bg:#f5f6f8;--panel:#fff;--text:#1b1f24;--muted:#5f6b7a;--line:#e3e6eb;--accent:#2563eb;
--ok:#16a34a;--bad:#dc2626;--warn:#d97706;--shadow:0 1px 2px rgba(0,0,0,.06),0 4px 16px rgba(0,0,0,.05)}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--panel:#181c22;--text:#e6e9ee;--muted:#9aa5b3;
--line:#2a3039;--accent:#60a5fa;--shadow:none}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
.masthead{padding:28px 20px 8px;max-width:1200px;margin:0 auto}
h1{margin:0;font-size:1.7rem;letter-spacing:-.01em}
.sub{margin:4px 0 0;color:var(--muted);word-break:break-all}
main{max-width:1200px;margin:0 auto;padding:12px 20px 8px;display:grid;gap:18px}
h2{margin:0 0 10px;font-size:1.15rem}
.panel{background:var(--panel);border:1px solid var(--line);border-radius:14px;padding:18px;box-shadow:var(--shadow);min-width:0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:14px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:14px;padding:14px 16px;box-shadow:var(--shadow);min-width:0}
.card-name{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.06em}
.card-value{font-size:1.9rem;font-weight:650;line-height:1.2;margin:4px 0 2px;overflow-wrap:anywhere}
.card.big .card-value{font-size:2.4rem}
.card.label .card-value{font-size:1.5rem}
.card.good .card-value{color:var(--ok)}.card.fair .card-value{color:var(--warn)}.card.poor .card-value{color:var(--bad)}
.card-note{color:var(--muted);font-size:.85rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse}
.legend,.hint{color:var(--muted);font-size:.85rem;margin:0 0 12px}
.swatch{display:inline-block;width:.9em;height:.9em;border-radius:3px;vertical-align:-1px}
.swatch.ok{background:var(--ok)}.swatch.bad{background:var(--bad)}
.heatmap{margin:0 auto}
.heatmap th{font-weight:600;font-size:.85rem;padding:6px 8px;white-space:nowrap}
.heatmap .corner{color:var(--muted);font-weight:500;font-size:.72rem;text-align:right;vertical-align:bottom;white-space:normal;line-height:1.3}
.heatmap .col{vertical-align:bottom;text-align:center}
.heatmap .col.tall span{writing-mode:vertical-rl;transform:rotate(180deg);display:inline-block;max-height:9em;
overflow:hidden;text-overflow:ellipsis}
.heatmap .rowhead{text-align:right;max-width:12em;overflow:hidden;text-overflow:ellipsis}
.heatmap .total{color:var(--muted);font-size:.8rem;text-align:center;padding:0 8px}
.cell{min-width:3.2em;height:3.2em;text-align:center;font-variant-numeric:tabular-nums;font-weight:600;
border:2px solid var(--panel);border-radius:8px;padding:0 6px}
.cell.zero{color:var(--muted);opacity:.45;font-weight:400;background:rgba(127,127,127,.06)}
.cell.strong{color:#fff}
.cell.off:not(.zero){cursor:pointer}
.cell.off:not(.zero):hover,.cell.off:not(.zero):focus{outline:2px solid var(--accent);outline-offset:-2px}
.cell.selected{outline:3px solid var(--accent);outline-offset:-3px}
.scores{width:100%;min-width:520px}
.scores th,.scores td{padding:8px 10px;border-bottom:1px solid var(--line);text-align:left}
.scores thead th{color:var(--muted);font-weight:500;font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}
.scores tbody th{font-weight:600}
.scores tr.avg th,.scores tr.avg td{color:var(--muted);border-bottom:none}
.scores tr.avg:first-of-type th{border-top:2px solid var(--line)}
.num{font-variant-numeric:tabular-nums;text-align:right}
.bar{white-space:nowrap}
.bar .num{display:inline-block;width:3.5em}
.meter{display:inline-block;width:120px;height:8px;border-radius:4px;background:rgba(127,127,127,.18);
overflow:hidden;vertical-align:middle;margin-right:6px}
.meter>span{display:block;height:100%;background:var(--accent);border-radius:4px}
.bar.good .meter>span{background:var(--ok)}.bar.fair .meter>span{background:var(--warn)}.bar.poor .meter>span{background:var(--bad)}
.tag{font-size:.7rem;font-weight:500;color:var(--muted);border:1px solid var(--line);border-radius:999px;padding:0 6px;margin-left:4px}
.count{display:inline-block;background:var(--bad);color:#fff;border-radius:999px;font-size:.8rem;padding:1px 9px;vertical-align:2px}
.filter{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:0 0 12px;padding:8px 12px;border-radius:10px;
background:rgba(37,99,235,.08)}
.filter[hidden]{display:none}
button{font:inherit;font-size:.85rem;border:1px solid var(--line);background:var(--panel);color:var(--text);
border-radius:8px;padding:4px 12px;cursor:pointer}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:14px}
.mistake{margin:0;border:1px solid var(--line);border-radius:12px;overflow:hidden;background:var(--panel);display:flex;
flex-direction:column;min-width:0}
.mistake[hidden]{display:none}
.frame{aspect-ratio:1/1;background:repeating-conic-gradient(rgba(127,127,127,.12) 0 25%,transparent 0 50%) 0 0/16px 16px;
display:flex;align-items:center;justify-content:center}
.thumb{width:100%;height:100%;object-fit:contain;display:block}
.thumb.pixelated{image-rendering:pixelated}
.noimg{color:var(--muted);font-size:.85rem}
figcaption{padding:10px 12px 12px;display:grid;gap:8px}
.pair{display:flex;flex-wrap:wrap;align-items:center;gap:6px;font-weight:600}
.pair .true,.pair .predicted{border-radius:999px;padding:1px 10px;font-size:.85rem;overflow-wrap:anywhere}
.pair .true{background:rgba(22,163,74,.14);color:var(--ok)}
.pair .predicted{background:rgba(220,38,38,.12);color:var(--bad)}
.pair .as{display:inline-flex;align-items:center;gap:6px;min-width:0}
.pair .arrow{color:var(--muted)}
.topscores{list-style:none;margin:0;padding:0;display:grid;gap:5px;font-size:.8rem}
.topscores li{display:grid;grid-template-columns:minmax(0,1fr) auto;grid-template-areas:"lbl num" "bar bar";column-gap:8px;row-gap:2px}
.topscores .lbl{grid-area:lbl}.topscores .num{grid-area:num}.topscores .meter{grid-area:bar}
.topscores .lbl{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.topscores .meter{width:100%;margin:0;height:5px}
.topscores li.is-predicted .meter>span{background:var(--bad)}
.topscores li.is-true .meter>span{background:var(--ok)}
.topscores li.is-true .lbl,.topscores li.is-predicted .lbl{font-weight:600}
.file{color:var(--muted);font-size:.75rem;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.empty{color:var(--ok);font-weight:600}
code{font-size:.85em;overflow-wrap:anywhere}
footer{max-width:1200px;margin:0 auto;padding:10px 20px 28px;color:var(--muted);font-size:.8rem}
@media (max-width:520px){
.masthead{padding:20px 14px 4px}h1{font-size:1.35rem}
main{padding:10px 12px;gap:14px}
.panel{padding:14px;border-radius:12px}
.cards{grid-template-columns:repeat(2,minmax(0,1fr));gap:10px}
.card{padding:12px}.card-value{font-size:1.5rem}.card.big .card-value{font-size:1.9rem}.card.label .card-value{font-size:1.2rem}
.gallery{grid-template-columns:repeat(2,minmax(0,1fr));gap:10px}
figcaption{padding:8px}
.cell{min-width:2.6em;height:2.6em}
.heatmap th{padding:4px 5px}
.scores{min-width:0;font-size:.88rem}.scores .meter{display:none}
.scores thead th{font-size:.68rem;letter-spacing:.02em}
.scores th,.scores td{padding:6px 4px}
.bar .num{width:3em}
}
"""

# Clicking a wrong cell of the heat map shows only the mistakes of that pair, and puts the pair
# in the address (#true=...&predicted=...) so the view can be linked; the page works without it.
_JS = """
(function(){
var cells=[].slice.call(document.querySelectorAll('.heatmap .cell.off:not(.zero)'));
var items=document.querySelectorAll('.mistake');
var bar=document.getElementById('filter'),text=document.getElementById('filter-text');
function show(cell,scroll){
  var t=cell?cell.dataset.true:null,p=cell?cell.dataset.predicted:null,n=0;
  items.forEach(function(m){var on=!cell||(m.dataset.true===t&&m.dataset.predicted===p);m.hidden=!on;if(on)n++;});
  cells.forEach(function(c){c.classList.toggle('selected',c===cell);});
  if(bar){bar.hidden=!cell;if(cell)text.textContent=n+' image'+(n===1?'':'s')+' of '+t+' predicted as '+p;}
  var hash=cell?'#'+new URLSearchParams({'true':t,'predicted':p}).toString():'';
  try{history.replaceState(null,'',location.pathname+location.search+hash);}catch(e){}
  if(cell&&scroll)document.getElementById('mistakes').scrollIntoView({behavior:'smooth'});
}
cells.forEach(function(c){
  c.addEventListener('click',function(){show(c.classList.contains('selected')?null:c,true);});
  c.addEventListener('keydown',function(e){if(e.key==='Enter'||e.key===' '){e.preventDefault();c.click();}});
});
var clear=document.getElementById('filter-clear');if(clear)clear.addEventListener('click',function(){show(null,false);});
var q=new URLSearchParams(location.hash.slice(1));
if(q.has('true')&&q.has('predicted')){
  var hit=cells.filter(function(c){return c.dataset.true===q.get('true')&&c.dataset.predicted===q.get('predicted');})[0];
  if(hit)show(hit,false);
}
})();
"""

__all__ = ["render_report", "thumbnail", "write_report", "EMBED_LIMIT", "THUMB_SIZE"]
