"""Image Categorization's commands, at the top of ``nanoclient`` (``create-model``, ``upload``, ``train``,
``predict``, ``evaluate``, ...): one module per family (``models``, ``upload``, ``training``, ``predictions``),
their long runs in modules imported only when they run (``_upload_run``, ``_predict_run``)."""
from __future__ import annotations

from . import models, predictions, training, upload  # noqa: F401  (each registers its commands on `cli`)
