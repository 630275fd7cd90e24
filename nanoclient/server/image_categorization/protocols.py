"""What the backend needs of a trainer, as types: ``Trainer`` and the ``TrainedClassifier`` it makes.

``nanoclient.server.image_categorization.trainer`` (a module) is the real one; mypy checks it against ``Trainer``
where the backend takes it as its default. Tests and ``fake_nanonets(trainer=...)`` may pass
any object of the same shape, e.g. a stand-in that trains in no time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, SupportsFloat


class TrainedClassifier(Protocol):
    """A fitted classifier: its labels, probabilities per image, and a file it can be loaded from."""

    @property
    def labels(self) -> Sequence[str]:
        """The labels, in the order of ``predict_proba``'s columns."""

    def predict_proba(self, images: Sequence[bytes]) -> Iterable[Iterable[SupportsFloat]]:
        """One row per image (its encoded bytes), one probability per label."""

    def save(self, path: str) -> None:
        """Write the classifier to ``path``, for ``ClassifierLoader.load``."""


class ClassifierLoader(Protocol):
    """What reads a saved classifier back (the ``Classifier`` class of a trainer)."""

    def load(self, path: str) -> TrainedClassifier:
        """The classifier saved at ``path``."""


class Trainer(Protocol):
    """What fits classifiers on labelled image files, and loads saved ones (``trainer``, beside this module)."""

    @property
    def Classifier(self) -> ClassifierLoader:  # the name the trainer module gives its class
        """Loads saved classifiers."""

    def train(self, images: Sequence[str], labels: Sequence[str], *, progress: Callable[[str], object] | None = None
              ) -> tuple[TrainedClassifier, float | None, int]:
        """Fit a classifier on image files and their labels; return it, its held-out accuracy (None: not
        measured) and how many images that accuracy was measured on. ``progress`` is told how far it
        is, in a few words ("features 40%", "fitting"), as often as it likes.

        ValueError, its message meant for the user, when the images cannot train a classifier;
        MemoryError when it ran out of memory.
        """


__all__ = ["ClassifierLoader", "TrainedClassifier", "Trainer"]
