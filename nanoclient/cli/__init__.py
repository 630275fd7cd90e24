"""The ``nanoclient`` command: the image classification and OCR workflows from a terminal.

Commands only format: they take settings (``config``), call the SDK (``Client``) and print. The
package holds the framework (``_framework``: settings, global options, the group, messages, the
entry point), the one line of each failure (``_errors``), and one module per family of commands
(``models``, ``upload``, ``training``, ``predictions``; ``ocr``, loaded when it runs), whose long
runs live in modules imported only when they run (``_upload_run``, ``_predict_run``, ``_ocr_run``),
so that ``nanoclient --help`` stays fast.
"""
from __future__ import annotations

from . import models, predictions, training, upload  # noqa: F401  (each registers its commands on `cli`)
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

__all__ = ["cli", "main", "State", "api_command", "global_options", "error_line", "error_object", "info", "warn",
           "format_model", "CliFailure", "CliUsageError", "Interrupted", "EXIT_INTERRUPTED", "LAZY_COMMANDS"]
