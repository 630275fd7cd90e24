"""A stand-in trainer module for ``ProcessTrainer`` tests (test_training_scale.py): it runs in the child
process, tells one step of progress, then fails as training at full scale may. ``STAND_IN_FAILURE``
says how: "allocate" asks NumPy for 8 TiB (a real MemoryError), "killed" dies by SIGKILL, as a process
the kernel's out-of-memory killer picks does."""
from __future__ import annotations

import os
import signal

from nanoclient.server.image_categorization.trainer import Classifier as Classifier


def train(images, labels, *, workers=1, progress=None):
    if progress is not None:
        progress("features 10%")
    if os.environ.get("STAND_IN_FAILURE") == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    import numpy as np

    np.ones((1 << 40,), dtype=np.float64)  # 8 TiB
    raise AssertionError("8 TiB were allocated")
