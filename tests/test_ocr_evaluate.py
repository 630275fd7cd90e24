"""The OCR evaluation's auto-accept threshold and its HTML report (issue 33), from made-up answers: no
server, no Tesseract."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from nanoclient.annotations import Annotation, FieldBox
from nanoclient.ocr.evaluate import AutoAccept, auto_accept_threshold, evaluate
from nanoclient.ocr.report import auto_accept_text, write_report
from nanoclient.ocr.types import OcrField, OcrPage

# ---------------------------------------------------------------------- the threshold


def test_the_threshold_is_the_lowest_score_at_which_99_percent_of_the_answers_above_are_exact():
    outcomes = [(0.99 - i / 1000, True) for i in range(198)]  # 198 exact answers from 0.99 down to 0.793
    outcomes += [(0.995, False)]  # one wrong among the top: 198 of 199 exact is 99.5%
    outcomes += [(0.70, False)]  # 198 of 200: 99.0%, just enough
    outcomes += [(0.69, False), (0.60, True)]  # below: 198 of 201, then 199 of 202 exact, not enough
    outcomes += [(None, False), (None, False)]  # two fields not answered
    auto = auto_accept_threshold(outcomes)
    assert auto.threshold == 0.70 and auto.accepted == 200 and auto.exact == 198
    assert auto.fields == 204 and auto.answers == 202 and auto.share == pytest.approx(200 / 204)
    assert auto.precision == pytest.approx(0.99)
    assert auto_accept_threshold(outcomes, target=0.994).threshold == pytest.approx(0.793)  # 198 of 199
    # without the answer at 0.69: 198 of 200 (99.0%) at 0.70, and 199 of 201 at 0.60 still hold
    assert auto_accept_threshold([o for o in outcomes if o[0] != 0.69]).threshold == pytest.approx(0.60)


def test_a_threshold_below_a_dip_counts_when_the_share_recovers_and_ties_go_together():
    # from the top: right, wrong (50%), then 99 right at 0.5: 100 of 101 exact at 0.5
    outcomes = [(0.9, True), (0.8, False)] + [(0.5, True)] * 99
    assert auto_accept_threshold(outcomes).threshold == 0.5
    # a wrong answer tied with right ones at the top: accepted together, so 0.9 alone is no threshold
    tied = [(0.9, True)] * 50 + [(0.9, False)]
    assert auto_accept_threshold(tied).threshold is None
    assert auto_accept_threshold(tied, target=0.98).threshold == 0.9


def test_no_answers_and_never_exact_enough_give_no_threshold():
    empty = auto_accept_threshold([])
    assert (empty.threshold, empty.accepted, empty.share, empty.precision) == (None, 0, None, None)
    unanswered = auto_accept_threshold([(None, False)] * 3)
    assert unanswered.threshold is None and unanswered.share == 0 and unanswered.answers == 0
    never = auto_accept_threshold([(0.9, False), (0.8, True), (0.7, True)])
    assert never.threshold is None and never.accepted == 0 and never.answers == 3
    assert "no scored answer" in auto_accept_text(unanswered)
    assert "review every answer" in auto_accept_text(never)
    with pytest.raises(ValueError):
        auto_accept_threshold([], target=0)


def test_the_sentence_names_the_threshold_and_its_share():
    text = auto_accept_text(AutoAccept(0.99, 0.8123, 150, 149, 200, 180))
    assert text == ("auto-accept threshold: 0.812 (answers scored that or more: 75.0% of the 200 fields, "
                    "149 of 150 exact)")
    assert "only 1 answer," in auto_accept_text(AutoAccept(0.99, 0.9, 1, 1, 4, 1))


# ---------------------------------------------------------------------- the evaluation and its report


def _box(field: str, text: str, page: int, x: int) -> FieldBox:
    return FieldBox(field=field, text=text, xmin=x, ymin=10, xmax=x + 30, ymax=30, page=page)


def _answer(field: str, text: str, score: float, x: int) -> OcrField:
    return OcrField(field, text, score, x, 10, x + 30, 30)


@pytest.fixture
def evaluation(tmp_path):
    """Three documents: a two-page PDF with page 2 wrong, an image read right, one read with a miss."""
    pages = [Image.new("RGB", (200, 100), "white") for _ in range(2)]
    two = tmp_path / "two-pages.pdf"
    pages[0].save(two, save_all=True, append_images=pages[1:], resolution=150)
    right, missed = tmp_path / "right.png", tmp_path / "missed.png"
    pages[0].save(right)
    pages[0].save(missed)
    results = [
        (str(two), Annotation("two-pages.pdf", (_box("number", "A-1", 0, 10), _box("total", "9.50", 1, 50))),
         [OcrPage("two-pages.pdf", 0, fields=(_answer("number", "A-1", 0.97, 10),)),
          OcrPage("two-pages.pdf", 1, fields=(_answer("total", "9.30", 0.61, 50),))]),
        (str(right), Annotation("right.png", (_box("number", "B-2", 0, 10),)),
         [OcrPage("right.png", 0, fields=(_answer("number", "B-2", 0.95, 10),))]),
        (str(missed), Annotation("missed.png", (_box("number", "C-3", 0, 10), _box("total", "1.00", 0, 50))),
         [OcrPage("missed.png", 0, fields=(_answer("number", "C-3", 0.9, 10),))]),
    ]
    return evaluate(results, ["number", "total"])


def test_the_evaluation_carries_the_threshold_into_its_json(evaluation):
    data = evaluation.to_json()
    assert data["auto_accept"] == {"target": 0.99, "threshold": 0.9, "accepted": 3, "exact": 3, "fields": 5,
                                   "answers": 4, "share": 0.6, "precision": 1.0}
    assert sorted(evaluation.pages.values()) == [1, 1, 2]


def test_the_report_shows_pages_scores_errors_first_and_a_filter_without_a_script(evaluation, tmp_path):
    report = tmp_path / "report.html"
    write_report(report, evaluation, model_id="m", title="t", failures=[(str(tmp_path / "broken.pdf"),
                                                                          "not a readable PDF")])
    text = report.read_text()
    assert "<script" not in text and text.count("data:image/jpeg;base64,") == 4  # 2 + 1 + 1 pages drawn
    assert "page 1 of 2" in text and "page 2 of 2" in text and "page 1 of 1" not in text
    assert "score 0.61" in text and "score 0.97" in text and "labelled 9.50" in text
    assert "auto-accept threshold: 0.900 (answers scored that or more: 60.0% of the 5 fields" in text
    order = [m.group(1) for m in re.finditer(r"<h3>([^<]+)</h3>", text)]
    assert order[0] == "broken.pdf" and order[-1] == "right.png"  # could not be read, then wrong, then right
    assert set(order[1:3]) == {"two-pages.pdf", "missed.png"}
    # the filter: radio buttons, and a rule that hides the documents read right when "errors only" is on
    assert 'id="show-errors"' in text and 'id="show-all" checked' in text
    assert "#show-errors:checked~.docs .doc.right{display:none}" in text
    assert text.count('class="doc right"') == 1 and "errors only (3)" in text and "all documents (4)" in text
    # each page's answers under its number; on a page, wrong or missing before right
    page_two = text.split("<figcaption>page 2 of 2</figcaption>")[1].split("</figure>")[0]
    assert "total: 9.30" in page_two and "number:" not in page_two
    missed = text.split("<h3>missed.png</h3>")[1].split("</figure>")[0]
    assert missed.index("total: <i>not found</i>") < missed.index("number: C-3")


def test_a_picture_too_large_to_draw_is_said_not_drawn_without_pillows_warning(tmp_path):
    import warnings

    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 9_000), 255).save(huge)  # 90 Mpx: above Pillow's bound
    result = evaluate([(str(huge), Annotation("huge.png", (_box("number", "1", 0, 10),)),
                        [OcrPage("huge.png", 0, fields=(_answer("number", "1", 0.9, 10),))])], ["number"])
    report = tmp_path / "r.html"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(report, result, model_id="m", title="t")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert "could not be drawn here" in report.read_text()


def test_the_errors_only_filter_hides_the_right_documents_in_a_real_browser(evaluation, tmp_path):
    """The report has no script: a copy of it gets one that clicks "errors only" and says which documents
    are still displayed, read back from headless Chromium's DOM."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium not installed: apt-get install chromium")
    report = tmp_path / "report.html"
    write_report(report, evaluation, model_id="m", title="t")
    probe = """<script>
    const shown = () => [...document.querySelectorAll('.doc')].filter(d => getComputedStyle(d).display != 'none')
      .map(d => d.querySelector('h3').textContent).join(',');
    const all = shown();
    document.querySelector('label[for=show-errors]').click();
    const errors = shown();
    document.querySelector('label[for=show-all]').click();
    document.body.setAttribute('data-probe', all + '|' + errors + '|' + shown());
    </script></body>"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(report.read_text().replace("</body>", probe))
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", clicked.as_uri()],
                         capture_output=True, text=True, timeout=90, check=True).stdout
    shown_all, shown_errors, shown_again = re.search(r'data-probe="([^"]*)"', dom).group(1).split("|")
    assert shown_all.split(",") == ["missed.png", "two-pages.pdf", "right.png"]  # errors first (then by name)
    assert shown_errors.split(",") == ["missed.png", "two-pages.pdf"] and shown_again == shown_all


def test_values_labelled_without_a_box_are_found_and_exact_by_their_value():
    truth = Annotation("inv.png", (FieldBox.value("total", "4904.94"), FieldBox.value("date", "2014-05-07"),
                                   FieldBox.value("number", "A-17")))
    page = OcrPage("inv.png", 0, fields=(_answer("total", "€4.904,94", 0.9, 10),
                                         _answer("date", "7. Mai 2014", 0.8, 50), _answer("number", "A-71", 0.7, 90)))
    evaluation = evaluate([("inv.png", truth, [page])], ["total", "date", "number"])
    scores = {score.field: score for score in evaluation.fields}
    assert [(scores[f].found, scores[f].exact) for f in ("total", "date", "number")] == [(1, 1), (1, 1), (0, 0)]
