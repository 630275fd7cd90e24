"""The multi-label learner: which of a model's labels an image shows, each with its probability.

    model = train_multilabel(images, labels, names)      # images: bytes; labels: the names each image has
    model.predict(images)      # [([(label, probability), ...highest first], [the labels given]), ...]
    model.save("model.npz"); MultilabelModel.load("model.npz")

How it learns. An image holds several things at several places, each small in the picture, so it is not
seen whole at the image classifier's 28x28 pixels: it is scaled up (VIEWS) and cut into overlapping
28x28 tiles, and each tile is described by the image classifier's features
(``image_categorization.trainer.Features``: its dictionary learned on these tiles), of which the
position-free blocks are kept (what patterns are in the tile, wherever they are; the rotation-invariant
edge spectrum, weighted SPECTRUM_GAIN times as much as the patterns' columns together; the colours).
A label's score for an image is the best of its tiles' scores under one
logistic output per label (features standardised): multiple-instance learning, fitted by alternation
(Andrews et al., 2003, MI-SVM): first every tile of an image with the label counts as showing it; then,
MI_ROUNDS times, only the TOP_TILES best-scoring tiles of each such image do, every tile of the other
images not, and the output is refitted.

Probabilities and thresholds come from images held out: the images are split in FOLDS parts (each label
spread evenly), and each part is scored by outputs fitted on the others. On those held-out scores each
label's best tile score is mapped to a probability by a logistic fit (Platt scaling), and each label's
threshold is the probability that maximises its F1. Then the outputs are fitted on every image; the
calibration and thresholds are kept. (The feature dictionary, which sees no labels, is learned once, on
the tiles of every image.)

No HTTP, no SQL; ``save`` writes one ``.npz`` of arrays (nothing is pickled).
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..image_categorization.trainer import GRID, SIZE, Features

#: Told how training goes, in a few words ("features 40%", "fitting star").
Progress = Callable[[str], object]

#: (view, stride): the image is scaled to view x view pixels and cut into tiles stride pixels apart, at
#: each of these scales ((view - SIZE) / stride + 1 tiles along each side); all the tiles make one bag.
VIEWS: tuple[tuple[int, int], ...] = ((64, 9),)
TOP_TILES = 2  # tiles of an image with a label taken to show it, after the first round
MI_ROUNDS = 2  # rounds of choosing those tiles and refitting
#: The rotation-invariant spectrum's weight against the dictionary's columns (1: as much as all of them).
SPECTRUM_GAIN = 2.0
REGULARISATION = 0.1  # inverse strength (C) of each logistic output's L2 penalty
FOLDS = 3  # parts of the images, each held out in turn to fit the probabilities and thresholds on
MIN_IMAGES = 8  # images a label needs with it, and without it, to be learned
DICTIONARY_TILES = 20_000  # tiles the feature dictionary is learned from, at most
_FORMAT = 1  # version of the saved file layout


@dataclass
class MultilabelModel:
    """A fitted multi-label model: tile features, one logistic output per label, each label's calibration
    (score -> probability) and threshold (probability at which it is given)."""

    names: tuple[str, ...]
    features: Features
    #: The feature columns used (the position-free blocks), their centre and scale.
    columns: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    #: (labels, columns) weights and (labels,) biases of the tile outputs.
    weights: np.ndarray
    bias: np.ndarray
    #: (labels, 2): probability = sigmoid(a * best tile score + b).
    calibration: np.ndarray
    #: (labels,) the probability at or above which each label is given.
    thresholds: np.ndarray
    #: The tiling the model was trained with (VIEWS).
    views: tuple[tuple[int, int], ...] = VIEWS

    def predict_proba(self, images: Sequence[bytes | str | os.PathLike[str]]) -> np.ndarray:
        """(images, labels) probabilities, each label on its own (rows do not sum to 1)."""
        tiles = tile_features(self.features, images, views=self.views)
        return self._probabilities(self._scores(tiles[..., self.columns]))

    def predict(self, images: Sequence[bytes | str | os.PathLike[str]]
                ) -> list[tuple[list[tuple[str, float]], list[str]]]:
        """Per image: every (label, probability), highest first, and the labels given (at or above their
        threshold), in the model's order of labels."""
        probabilities = self.predict_proba(images)
        out: list[tuple[list[tuple[str, float]], list[str]]] = []
        for row in probabilities:
            ranked = sorted(zip(self.names, row.tolist(), strict=True), key=lambda pair: -pair[1])
            given = [name for name, p, t in zip(self.names, row.tolist(), self.thresholds.tolist(), strict=True)
                     if p >= t]
            out.append((ranked, given))
        return out

    def _scores(self, tiles: np.ndarray) -> np.ndarray:
        """(images, tiles, columns) raw features -> (images, labels) the best tile's score per label."""
        z = (tiles - self.centre) / self.scale
        return np.asarray((z @ self.weights.T + self.bias).max(axis=1))

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(_sigmoid(scores * self.calibration[:, 0] + self.calibration[:, 1]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` atomically (a temporary file, then a rename)."""
        temp = f"{os.fspath(path)}.{os.getpid()}.tmp"
        with open(temp, "wb") as handle:
            np.savez(handle, format=np.array(_FORMAT), names=np.array(self.names, dtype=str),
                     views=np.array(self.views, dtype=np.int64), mean=self.features.mean,
                     whiten=self.features.whiten, atoms=self.features.atoms, columns=self.columns,
                     centre=self.centre, scale=self.scale, weights=self.weights, bias=self.bias,
                     calibration=self.calibration, thresholds=self.thresholds)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MultilabelModel:
        """Read a model written by ``save`` (arrays only; nothing is unpickled)."""
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != _FORMAT:
                raise ValueError(f"multi-label model file {path} has format {int(data['format'])}, "
                                 f"expected {_FORMAT}: train the model again")
            features = Features(data["mean"], data["whiten"], data["atoms"])
            return cls(tuple(str(name) for name in data["names"]), features, data["columns"], data["centre"],
                       data["scale"], data["weights"], data["bias"],
                       data["calibration"], data["thresholds"], tuple((int(v), int(s)) for v, s in data["views"]))


def train_multilabel(images: Sequence[bytes | str | os.PathLike[str]], labels: Sequence[Sequence[str]],
                     names: Sequence[str], *, folds: int = FOLDS, seed: int = 0, progress: Progress | None = None
                     ) -> MultilabelModel:
    """Fit a model of labels ``names`` on ``images``, ``labels[i]`` naming the labels image i shows (of
    ``names``; an image may show none); ``folds`` parts are held out in turn to fit the probabilities and
    thresholds on (fewer: faster, thresholds from fewer images' scores). ValueError (its message meant for
    the user) when a label has fewer than MIN_IMAGES images with it or without it, or an image names a
    label not in ``names``."""
    tell = progress or (lambda _: None)
    names = tuple(names)
    y = _targets(labels, names, len(images))
    if folds < 2:
        raise ValueError("folds must be at least 2")
    parts = stratified_folds(y, folds, seed=seed)
    tell("features 0%")
    tiles = _tile_pixels(images, VIEWS)
    features = _fit_features(tiles, seed)
    x = _transform(features, tiles, tell)
    columns = position_free_columns(features)
    x = x[..., columns]
    scores = np.empty(y.shape)
    for fold, held in enumerate(parts, start=1):
        tell(f"fitting without part {fold} of {folds}")
        kept = np.setdiff1d(np.arange(len(y)), held)
        scores[held] = _fit_outputs(x[kept], y[kept], names, features.spectrum_width, tell)._scores(x[held])
    calibration = np.array([_platt(scores[:, j], y[:, j]) for j in range(len(names))])
    probabilities = _sigmoid(scores * calibration[:, 0] + calibration[:, 1])
    thresholds = np.array([best_threshold(probabilities[:, j], y[:, j]) for j in range(len(names))])
    tell("fitting on every image")
    final = _fit_outputs(x, y, names, features.spectrum_width, tell)
    final.features, final.columns = features, columns
    final.calibration, final.thresholds = calibration, thresholds
    final.views = VIEWS
    return final


# --- the parts ------------------------------------------------------------------------------------


def _targets(labels: Sequence[Sequence[str]], names: tuple[str, ...], count: int) -> np.ndarray:
    if len(labels) != count:
        raise ValueError(f"{count} images but {len(labels)} lists of labels")
    if len(names) < 1 or len(set(names)) != len(names):
        raise ValueError("give each label once, and at least one label")
    index = {name: j for j, name in enumerate(names)}
    y = np.zeros((count, len(names)), dtype=np.int64)
    for i, image_labels in enumerate(labels):
        for label in image_labels:
            if label not in index:
                raise ValueError(f"image {i + 1} has the label {label!r}, which the model does not have "
                                 f"({', '.join(names)})")
            y[i, index[label]] = 1
    few = [f"{name} ({int(y[:, j].sum())} with it, {count - int(y[:, j].sum())} without)"
           for j, name in enumerate(names) if min(y[:, j].sum(), count - y[:, j].sum()) < MIN_IMAGES]
    if few:
        raise ValueError(f"too few images to learn {', '.join(few)}: each label needs at least {MIN_IMAGES} "
                         "images that show it and as many that do not")
    return y


def holdout_split(y: np.ndarray, *, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(held-out, training) image indices, about ``fraction`` held out, so that each label (and having no
    label) has about that fraction of its images in the held-out part (a greedy iterative stratification)."""
    rng = np.random.default_rng(seed)
    columns = np.concatenate([y, (y.sum(axis=1) == 0)[:, None]], axis=1)
    quota = np.ceil(columns.sum(axis=0) * fraction)
    target = int(round(len(y) * fraction))
    taken = np.zeros(columns.shape[1])
    held: list[int] = []
    for i in rng.permutation(len(y)):
        if len(held) < target and np.any(columns[i] & (taken < quota)):
            held.append(int(i))
            taken += columns[i]
    chosen = np.zeros(len(y), dtype=bool)
    chosen[held] = True
    return np.flatnonzero(chosen), np.flatnonzero(~chosen)


def stratified_folds(y: np.ndarray, count: int, *, seed: int = 0) -> list[np.ndarray]:
    """``count`` disjoint parts of the images (indices), together all of them, each label spread evenly
    (``holdout_split`` applied again and again to what is left)."""
    rest = np.arange(len(y))
    folds: list[np.ndarray] = []
    for left in range(count, 1, -1):
        held, kept = holdout_split(y[rest], fraction=1 / left, seed=seed)
        folds.append(rest[held])
        rest = rest[kept]
    return [*folds, rest]


def position_free_columns(features: Features) -> np.ndarray:
    """The columns of ``features`` that do not depend on where in the tile a thing is: the dictionary's
    counts over the whole tile, the rotation-invariant spectrum, and the colours."""
    atoms = len(features.atoms)
    tail = features.spectrum_width + GRID * GRID * 3
    return np.concatenate([np.arange(GRID * GRID * atoms, (GRID * GRID + 1) * atoms),
                           np.arange(features.width - tail, features.width)])


def view_pixels(source: bytes | str | os.PathLike[str], view: int) -> np.ndarray:
    """One image as the learner sees it: (view, view, 3) float32 RGB in [0, 1], upright as its EXIF
    orientation says."""
    from PIL import Image, ImageOps

    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with handle, Image.open(handle) as image:
        image.draft("RGB", (view, view))
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        return np.asarray(rgb.resize((view, view), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def tiles_of(pixels: np.ndarray, stride: int) -> np.ndarray:
    """(n, view, view, 3) -> (n, tiles, SIZE, SIZE, 3): the overlapping SIZE x SIZE tiles ``stride`` apart,
    row by row."""
    starts = range(0, pixels.shape[1] - SIZE + 1, stride)
    return np.stack([pixels[:, r:r + SIZE, c:c + SIZE] for r in starts for c in starts], axis=1)


def tile_features(features: Features, images: Sequence[bytes | str | os.PathLike[str]], *,
                  views: Sequence[tuple[int, int]] = VIEWS) -> np.ndarray:
    """(images, tiles, width) the features of every tile of every image, at every scale of ``views``."""
    return _transform(features, _tile_pixels(images, views), lambda _: None)


def _tile_pixels(images: Sequence[bytes | str | os.PathLike[str]], views: Sequence[tuple[int, int]]) -> np.ndarray:
    bags = []
    for view, stride in views:
        pixels = np.empty((len(images), view, view, 3), np.float32)
        for i, image in enumerate(images):
            pixels[i] = view_pixels(image, view)
        bags.append(tiles_of(pixels, stride))
    return np.concatenate(bags, axis=1)


def _fit_features(tiles: np.ndarray, seed: int) -> Features:
    flat = tiles.reshape(-1, SIZE, SIZE, 3)
    if len(flat) > DICTIONARY_TILES:
        flat = flat[np.sort(np.random.default_rng(seed).choice(len(flat), DICTIONARY_TILES, replace=False))]
    return Features.fit(flat, seed=seed)


def _transform(features: Features, tiles: np.ndarray, tell: Progress) -> np.ndarray:
    n, k = tiles.shape[:2]
    out = np.empty((n, k, features.width), np.float32)
    step = max(1, 256 // k)
    for first in range(0, n, step):
        part = tiles[first:first + step]
        features.transform(part.reshape(-1, SIZE, SIZE, 3), out[first:first + step].reshape(-1, features.width))
        tell(f"features {100 * min(n, first + step) // n}%")
    return out


def _fit_outputs(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], spectrum_width: int, tell: Progress
                 ) -> MultilabelModel:
    """One logistic output per label over tiles ``x`` (images, tiles, columns), by MI-SVM's alternation."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n, k, width = x.shape
    flat = x.reshape(-1, width)
    centre = flat.mean(axis=0)
    scale = flat.std(axis=0) + 1e-6
    spectrum = slice(width - GRID * GRID * 3 - spectrum_width, width - GRID * GRID * 3)
    scale[spectrum] /= SPECTRUM_GAIN * np.sqrt((width - spectrum_width - GRID * GRID * 3) / spectrum_width)
    z = ((x - centre) / scale).astype(np.float32)
    weights, bias = np.zeros((len(names), width)), np.zeros(len(names))
    for j, name in enumerate(names):
        tell(f"fitting {name}")
        has = y[:, j] == 1
        chosen = np.ones((n, k), dtype=bool)  # first round: every tile of every image
        model = LogisticRegression(C=REGULARISATION, max_iter=300, class_weight="balanced", warm_start=True)
        for _ in range(MI_ROUNDS + 1):
            with warnings.catch_warnings():  # a round's optimum is only a step: it need not be reached
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(z[chosen], np.repeat(y[:, j][:, None], k, axis=1)[chosen])
            scores = z.reshape(-1, width) @ model.coef_[0] + model.intercept_[0]
            best = np.argsort(-scores.reshape(n, k), axis=1)[:, :TOP_TILES]
            chosen = np.zeros((n, k), dtype=bool)
            chosen[~has] = True  # an image without the label: none of its tiles shows it
            rows = np.flatnonzero(has)
            chosen[rows[:, None], best[rows]] = True
        weights[j], bias[j] = model.coef_[0], model.intercept_[0]
    return MultilabelModel(names, Features(np.zeros(1), np.zeros((1, 1)), np.zeros((1, 1))),
                           np.arange(width), centre, scale, weights, bias,
                           np.tile([1.0, 0.0], (len(names), 1)), np.full(len(names), 0.5))


def _platt(scores: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(a, b) of probability = sigmoid(a * score + b) fitted to the held-out truth (Platt scaling, with
    Platt's smoothed targets so that a perfect separation does not send ``a`` to infinity)."""
    from sklearn.linear_model import LogisticRegression

    positives, negatives = int(truth.sum()), int(len(truth) - truth.sum())
    if positives == 0 or negatives == 0:
        return 1.0, 0.0
    targets = np.where(truth == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    # the smoothed targets as weights of a doubled sample: each image counts as partly each class
    x = np.concatenate([scores, scores])[:, None]
    labels = np.concatenate([np.ones(len(scores)), np.zeros(len(scores))])
    weights = np.concatenate([targets, 1 - targets])
    model = LogisticRegression(C=100.0).fit(x, labels, sample_weight=weights)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def best_threshold(probabilities: np.ndarray, truth: np.ndarray) -> float:
    """The probability at or above which giving the label maximises its F1 on these images: the midpoint
    between the two probabilities around the best cut (0.5 when no image has the label)."""
    if truth.sum() == 0:
        return 0.5
    order = np.argsort(-probabilities)
    p, t = probabilities[order], truth[order]
    hits = np.cumsum(t)
    f1 = 2 * hits / (np.arange(1, len(p) + 1) + t.sum())  # giving the label to the top 1, 2, ... images
    cut = int(np.argmax(f1))
    below = p[cut + 1] if cut + 1 < len(p) else 0.0
    return float(np.clip((p[cut] + below) / 2, 0.01, 0.99))


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(values, -50, 50))))


__all__ = ["MIN_IMAGES", "MultilabelModel", "Progress", "best_threshold", "holdout_split", "position_free_columns",
           "stratified_folds", "tile_features", "tiles_of", "train_multilabel", "view_pixels"]
