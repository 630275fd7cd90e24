"""The ``nanoclient`` command: the image classification and OCR workflows from a terminal.

Commands only format: they take settings (``config``), call the SDK (``Client``) and print. The
package holds the framework (``_framework``: settings, global options, the group, messages, the
entry point), the one line of each failure (``_errors``), and one module per family of commands
(``models``, ``upload``, ``training``, ``predictions``; ``ocr``, loaded when it runs), whose long
runs live in modules imported only when they run (``_upload_run``, ``_predict_run``, ``_ocr_run``),
so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from . import image_categorization  # noqa: F401  (registers its commands on `cli`)
from ._errors import error_line
from ._framework import (
    EXIT_INTERRUPTED,
    LAZY_COMMANDS,
    CliFailure,
    CliUsageError,
    Interrupted,
    State,
    api_command,
    cli,
    error_object,
    format_model,
    global_options,
    info,
    main,
    warn,
)

#: The ``nanoclient ocr`` group, loaded when it runs (its help without loading it).
LAZY_COMMANDS["ocr"] = ("nanoclient.cli.ocr", "ocr",
                        "OCR models: read named fields (invoice number, date, total) from documents.")
#: The ``nanoclient multilabel`` group, loaded when it runs.
LAZY_COMMANDS["multilabel"] = ("nanoclient.cli.multilabel", "multilabel",
                               "Multi-label models: which of their labels each image shows (none, one or several).")
#: The ``nanoclient detection`` group, loaded when it runs.
LAZY_COMMANDS["detection"] = ("nanoclient.cli.object_detection", "detection",
                              "Object detection models: find objects and their boxes in images.")

#: Each model type, by its name: what it is called and the commands that serve it (what the CLI tells a user
#: who used another type's).
COMMANDS_OF_TYPE = {
    "classification": ("an image classification model", "nanoclient ..."),
    "ocr": ("an OCR model", "nanoclient ocr ..."),
    "multilabel": ("a multi-label classification model", "nanoclient multilabel ..."),
    "object_detection": ("an object detection model", "nanoclient detection ..."),
}

__all__ = ["COMMANDS_OF_TYPE", "cli", "main", "State", "api_command", "global_options", "error_line", "error_object",
           "info", "warn", "format_model", "CliFailure", "CliUsageError", "Interrupted", "EXIT_INTERRUPTED",
           "LAZY_COMMANDS"]
