"""Fitting a detection model's detector on its images: the measure on held-out images, then the detector on all.

``fit`` is what a training run computes, wherever it runs: in the server's training thread, or in a child
process (``child.py``, which ``nanoclient serve`` uses so that dlib's long steps, which hold the interpreter's
lock, never hold up the server's requests). It imports the learner (dlib, NumPy) when called.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .learner import Detector

#: A labelled box: (category, xmin, ymin, xmax, ymax) in pixels.
TrueBox = tuple[str, int, int, int, int]
#: The share of the training images held out to measure a run's mAP@0.5 (every ``HOLD_OUT``-th image), and
#: the fewest images a model needs for that measure to be made.
HOLD_OUT = 4
MEASURE_MIN_IMAGES = 20


def fit(images: Sequence[bytes], boxes: Sequence[Sequence[TrueBox]], labels: Sequence[str], *,
        say: Callable[[str], object] = lambda text: None, threads: int = 2) -> tuple[Detector, float | None, int]:
    """(the detector trained on every image, its estimated mAP@0.5, the images that was measured on).

    The estimate: mAP@0.5 on every HOLD_OUT-th image of a detector trained on the others without calibration
    (a third of the cost; calibration is monotonic per class, so AP barely moves); (None, 0) with fewer than
    MEASURE_MIN_IMAGES images or a class left with too few boxes. ``say`` is told the status as it goes.
    ValueError from the learner (a class with too few boxes) says what to do.
    """
    from .learner import train_detector

    accuracy, measured_on = measure(images, boxes, labels, say=say, threads=threads)
    def progress(done: float) -> None:
        say(f"Training: {min(99, int(100 * done))}%")

    say("Training: 0%")
    detector = train_detector(images, boxes, labels, threads=threads, progress=progress)
    return detector, accuracy, measured_on


def measure(images: Sequence[bytes], boxes: Sequence[Sequence[TrueBox]], labels: Sequence[str], *,
            say: Callable[[str], object] = lambda text: None, threads: int = 2) -> tuple[float | None, int]:
    """The held-out estimate of ``fit`` alone: (mAP@0.5, images measured on), or (None, 0)."""
    if len(images) < MEASURE_MIN_IMAGES:
        return None, 0
    from ...object_detection.evaluate import evaluate
    from ...object_detection.types import DetectedObject
    from .learner import train_detector

    held = [i for i in range(len(images)) if i % HOLD_OUT == HOLD_OUT - 1]
    kept = [i for i in range(len(images)) if i % HOLD_OUT != HOLD_OUT - 1]
    say("Training: measuring on held-out images")
    try:
        probe = train_detector([images[i] for i in kept], [boxes[i] for i in kept], labels, calibrate=False,
                               threads=threads)
    except ValueError:  # a class with too few boxes once some are held out: no measure
        return None, 0
    scored = [(str(i), boxes[i], [DetectedObject(d.label, d.xmin, d.ymin, d.xmax, d.ymax, d.score)
                                  for d in probe.detect(images[i])]) for i in held]
    return evaluate(scored, labels).map50, len(held)


__all__ = ["HOLD_OUT", "MEASURE_MIN_IMAGES", "TrueBox", "fit", "measure"]
