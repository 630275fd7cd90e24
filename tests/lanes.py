"""Which lane each test runs in: the one table of the test suite's markers, applied by conftest.py.

The kinds (every test has at least one; ``unit`` has no other):

- ``unit``: no ``nanoclient serve``, no Tesseract, no browser (the SDK against ``responses``, the CLI
  against the in-process fake, the store and backend with a stand-in trainer, pure functions);
- ``server``: starts ``nanoclient serve`` (or ``python -m nanoclient.server``) or trains real models;
- ``browser``: drives Chromium;
- ``ocr``: runs Tesseract.

``slow`` comes on top of a kind: a test that takes over about 10 s on a quiet 2-core machine.
``./scripts/test.sh --fast`` runs ``-m "unit and not slow"``.

A test's lanes are its file's in ``FILES``, unless ``TESTS`` names it; on top of those come its own
markers (``@pytest.mark.slow``), a test that asks for ``server_factory`` (or a file's own ``server``
fixture) is ``server`` and one skipped without Tesseract (``helpers.needs_tesseract``) is ``ocr``; such a
test is never ``unit``. A test file missing from ``FILES`` stops the collection, and
tests/test_lanes.py checks that the table names only files and tests that exist. In the unit lane,
starting a server, Tesseract or Chromium fails the test (``guard_unit``), so a test put there by
mistake says so the first time it runs.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

KINDS = ("unit", "server", "browser", "ocr")
LANES = (*KINDS, "slow")

#: What each marker means, as pyproject.toml registers it (tests/test_lanes.py checks they agree).
MEANING = {
    "unit": "no server process, no Tesseract, no browser",
    "server": "starts nanoclient serve or trains real models",
    "browser": "drives Chromium",
    "ocr": "runs Tesseract",
    "slow": "over about 10 s on a quiet 2-core machine",
}

UNIT, SERVER, BROWSER, OCR, SLOW = LANES

#: file -> the lanes of its tests (unless TESTS says otherwise for one of them).
FILES: dict[str, tuple[str, ...]] = {
    "test_annotations.py": (UNIT,),
    "test_annotations_yolo.py": (UNIT,),
    "test_backend.py": (UNIT,),
    "test_bench_detection.py": (UNIT,),
    "test_bench_multilabel.py": (UNIT,),
    "test_bench_ocr.py": (UNIT,),
    "test_cli_basics.py": (UNIT,),
    "test_cli_commands.py": (UNIT,),
    "test_cli_config.py": (UNIT,),
    "test_cli_conventions.py": (UNIT,),
    "test_cli_e2e.py": (SERVER, SLOW),
    "test_cli_runs.py": (UNIT,),
    "test_client.py": (UNIT,),
    "test_dashboard_browser.py": (SERVER, BROWSER),
    "test_dashboard_types.py": (UNIT,),
    "test_dashboard_types_browser.py": (SERVER, BROWSER, SLOW),
    "test_detection_evaluate.py": (UNIT,),
    "test_detection_cli.py": (SERVER, SLOW),
    "test_detection_interrupts.py": (SERVER, SLOW),
    "test_detection_learner.py": (SERVER, SLOW),
    "test_detection_server.py": (SERVER, SLOW),
    "test_detection_wrapper.py": (SERVER, SLOW),
    "test_evaluate.py": (UNIT,),
    "test_exactly_once.py": (SERVER,),
    "test_fast_failures.py": (UNIT,),
    "test_faultproxy.py": (UNIT,),
    "test_fetch_fashion_mnist.py": (UNIT,),
    "test_folders.py": (UNIT,),
    "test_hosted_fidelity.py": (SERVER,),
    "test_hostile.py": (UNIT,),
    "test_image_check.py": (UNIT,),
    "test_interrupts.py": (SERVER,),
    "test_journal.py": (UNIT,),
    "test_lanes.py": (UNIT,),
    "test_make_detection.py": (UNIT,),
    "test_make_documents.py": (UNIT,),
    "test_make_images.py": (UNIT,),
    "test_make_invoices.py": (UNIT,),
    "test_make_multilabel.py": (UNIT,),
    "test_model_types.py": (UNIT,),
    "test_multilabel_cli.py": (SERVER, SLOW),
    "test_multilabel_evaluate.py": (UNIT,),
    "test_multilabel_interrupts.py": (SERVER,),
    "test_multilabel_labels.py": (UNIT,),
    "test_multilabel_learner.py": (SERVER,),
    "test_multilabel_server.py": (SERVER, SLOW),
    "test_multilabel_wire.py": (UNIT,),
    "test_multilabel_wrapper.py": (SERVER, SLOW),
    "test_ocr_clean.py": (UNIT,),
    "test_ocr_cli.py": (SERVER, OCR),
    "test_ocr_client.py": (SERVER, OCR, SLOW),
    "test_ocr_dashboard.py": (SERVER, OCR),
    "test_ocr_dashboard_browser.py": (SERVER, BROWSER, OCR, SLOW),
    "test_ocr_evaluate.py": (UNIT,),
    "test_ocr_fields.py": (UNIT,),
    "test_ocr_interrupts.py": (SERVER, OCR, SLOW),
    "test_ocr_journal.py": (UNIT,),
    "test_ocr_languages.py": (UNIT,),
    "test_ocr_long.py": (UNIT,),
    "test_ocr_pdf_safety.py": (UNIT,),
    "test_ocr_pretrained.py": (SERVER, OCR),
    "test_ocr_server.py": (SERVER, OCR),
    "test_ocr_server_values.py": (SERVER, OCR),
    "test_ocr_wrapper.py": (SERVER, OCR, SLOW),
    "test_readme.py": (UNIT,),
    "test_reliability.py": (UNIT,),
    "test_report.py": (UNIT,),
    "test_report_browser.py": (BROWSER,),
    "test_scripts.py": (UNIT,),
    "test_server_app.py": (UNIT,),
    "test_server_flow.py": (SERVER, SLOW),
    "test_server_inputs.py": (SERVER, SLOW),
    "test_server_local.py": (UNIT,),
    "test_server_multipart.py": (UNIT,),
    "test_server_options.py": (SERVER,),
    "test_store.py": (UNIT,),
    "test_testing.py": (UNIT,),
    "test_trainer.py": (SERVER,),
    "test_training_scale.py": (SERVER,),
    "test_transport.py": (UNIT,),
    "test_typing.py": (UNIT,),
    "test_upload.py": (UNIT,),
    "test_upload_plan.py": (UNIT,),
    "test_values.py": (UNIT,),
    "test_wrapper_image_classification.py": (SERVER,),
}

#: file -> {test function -> its lanes}: the tests of a file whose lanes are not the file's (all its
#: parametrized cases alike). A test asking for ``server_factory`` needs no entry to be ``server``, one
#: marked ``needs_tesseract`` none to be ``ocr``.
TESTS: dict[str, dict[str, tuple[str, ...]]] = {
    # these train a model in the fake (the server's trainer, in this process)
    "test_cli_commands.py": dict.fromkeys([
        "test_train_wait_shows_raw_states_it_passes_through", "test_train_wait_shows_state_changes_and_ends_trained",
        "test_train_without_wait_returns_at_once", "test_train_timeout_reached", "test_status_text_and_json",
        "test_predict_files_and_folders_in_input_order", "test_predict_text_and_top",
        "test_predict_skips_invalid_files_and_exits_1", "test_evaluate_text_json_and_report",
        "test_evaluate_counts_mistakes_when_labels_are_wrong",
        "test_evaluate_a_folder_without_images_is_one_line_and_exit_1"], (SERVER,)),
    "test_cli_conventions.py": dict.fromkeys([
        "test_a_folder_name_with_spaces_is_the_same_category_everywhere",
        "test_quiet_silences_messages_but_not_results_or_errors"], (SERVER,)),
    "test_cli_runs.py": dict.fromkeys([
        "test_predict_output_holds_a_record_per_file_and_a_rerun_skips_them",
        "test_predict_lines_are_not_all_padded_to_the_longest_path",
        "test_upload_and_predict_take_the_same_files_of_a_folder_and_name_the_same_skipped"], (SERVER,)),
    "test_readme.py": dict.fromkeys([
        "test_the_workflow_by_hand_runs_as_written", "test_the_sdk_example_runs_as_written"], (SERVER,)),
    # these fit the field extractor on pages of words (seconds each)
    "test_ocr_fields.py": dict.fromkeys([
        "test_labels_in_other_languages_carry_to_a_new_issuer", "test_values_below_their_label_are_found",
        "test_an_identifier_field_never_answers_an_amount_nor_a_date_field_anything_but_dates",
        "test_whole_values_keep_the_period_the_engine_dropped",
        "test_a_value_written_twice_is_placed_where_the_other_documents_teach",
        "test_saved_extractor_keeps_kinds_and_periods_and_older_formats_load",
        "test_a_page_read_turned_is_seen_upright_and_answered_in_its_own_pixels"], (SERVER,)),
    # the fuzz test trains models and asks Tesseract for its languages
    "test_hostile.py": {"test_fuzz_every_operation_no_5xx_and_errors_shaped_as_documented": (SERVER, OCR)},
    "test_ocr_evaluate.py": {"test_the_errors_only_filter_hides_the_right_documents_in_a_real_browser": (BROWSER,)},
    "test_faultproxy.py": {"test_shuffled_predictions_keep_every_entry": (SERVER, SLOW)},
    "test_reliability.py": {"test_load_many_clients_upload_and_predict": (SERVER, SLOW)},
    "test_ocr_server.py": {"test_training_then_reading_fields_sync_async_and_by_day": (SERVER, OCR, SLOW)},
    "test_ocr_server_values.py": {
        "test_training_from_values_alone_finds_them_and_names_the_ones_it_could_not": (SERVER, OCR, SLOW)},
}


def lanes_of(file: str, test: str, fixtures: Iterable[str], markers: Iterable[Any]) -> tuple[str, ...]:
    """The lanes of test function ``test`` of ``file`` (a name in FILES) that asks for ``fixtures`` and
    carries ``markers`` (pytest's Mark objects); ValueError if the file is not in the table."""
    if file not in FILES:
        raise ValueError(f"tests/{file} is in no lane: add it to FILES in tests/lanes.py "
                         f"({', '.join(KINDS)}; plus slow for tests over ~10 s)")
    lanes = set(TESTS.get(file, {}).get(test, FILES[file]))
    for mark in markers:
        if mark.name in LANES:
            lanes.add(mark.name)
        if mark.name == "skipif" and "tesseract" in str(mark.kwargs.get("reason", "")).lower():
            lanes.add(OCR)
    if {"server_factory", "server"} & set(fixtures):  # a test file's own ``server`` fixture starts one too
        lanes.add(SERVER)
    if lanes & {SERVER, BROWSER, OCR}:
        lanes.discard(UNIT)
    return tuple(lane for lane in LANES if lane in lanes)


def apply(items: list[pytest.Item]) -> None:
    """Give each collected test its lanes' markers; pytest.UsageError naming every file in no lane."""
    missing: set[str] = set()
    for item in items:
        path = Path(str(item.path))
        test = getattr(item, "originalname", item.name)
        try:
            lanes = lanes_of(path.name, test, getattr(item, "fixturenames", ()), item.iter_markers())
        except ValueError:
            missing.add(path.name)
            continue
        for lane in lanes:
            item.add_marker(lane)
    if missing:
        raise pytest.UsageError(
            "test files in no lane: " + ", ".join(sorted(missing)) + ": add each to FILES in tests/lanes.py "
            f"({', '.join(KINDS)}; plus slow for tests over ~10 s on a quiet 2-core machine)")


#: A unit test that takes longer than this (seconds) is named at the end of the run.
UNIT_SECONDS = 5.0


def slow_units(reports: Iterable[Any]) -> list[str]:
    """The unit tests among ``reports`` (pytest's TestReports) that took over UNIT_SECONDS to run."""
    return [f"{report.duration:.1f} s {report.nodeid}" for report in reports
            if report.when == "call" and "unit" in report.keywords and report.duration > UNIT_SECONDS]


#: What a unit test may not start: (how to recognise the command line, the lane it belongs in).
FORBIDDEN_IN_UNIT = (
    (lambda argv: "nanoclient.server" in argv or ("nanoclient" in argv and "serve" in argv), "server"),
    (lambda argv: any(Path(a).name.startswith("tesseract") for a in argv[:1]), "ocr"),
    (lambda argv: any(Path(a).name.startswith(("chromium", "chromedriver", "chrome")) for a in argv[:1]), "browser"),
)


def guard_unit(item: pytest.Item, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a unit test, starting a server, Tesseract or Chromium fails it, naming the lane it belongs in."""
    original = subprocess.Popen

    class Guarded(original):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
            argv = [str(a) for a in ([args] if isinstance(args, (str, bytes, Path)) else args)]
            if isinstance(args, str) and kwargs.get("shell"):
                argv = args.split()
            for forbidden, lane in FORBIDDEN_IN_UNIT:
                if forbidden(argv):
                    pytest.fail(f"{item.nodeid} is in the unit lane but runs {' '.join(argv[:4])}: give it the "
                                f"{lane} lane in tests/lanes.py", pytrace=False)
            super().__init__(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Guarded)
