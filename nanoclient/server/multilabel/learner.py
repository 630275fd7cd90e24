"""The multi-label learner: which of a model's labels an image shows, each with its probability.

    model = train_multilabel(images, labels, names)      # images: bytes; labels: the names each image has
    model.predict(images)      # [([(label, probability), ...highest first], [the labels given]), ...]
    model.save("model.npz"); MultilabelModel.load("model.npz")

How it learns. An image holds several things, each small in the picture, so it is not seen whole at the
image classifier's 28x28 pixels. It is looked at in pieces: the things that stand out from the
background (``proposals``: the image at VIEW x VIEW pixels, its background fitted as a smooth colour
ramp per channel, robustly; the pixels far from it, opened to drop thin lines and specks, in connected
parts; at most MAX_PROPOSALS of the largest), each cut out as a square around it (PAD times its larger
side) and scaled to 28x28; and the whole image, so that an image with no such part is still seen. Each
piece is described by the image classifier's features (``image_categorization.trainer.Features``, its
dictionary learned on these pieces), of which the position-free blocks are kept (what patterns are in the
piece, wherever they are; the rotation-invariant edge spectrum, each of its columns weighted
SPECTRUM_GAIN times; the colours). A label's score for an image is the best of its pieces' scores
under one logistic output per label (features standardised): multiple-instance learning, fitted by
alternation (Andrews et al., 2003, MI-SVM): first every piece of an image with the label counts as
showing it; then, MI_ROUNDS times, only the best-scoring piece of each such image does, every piece of
the other images not, and the output is refitted.

Probabilities and thresholds come from images held out: the images are split in FOLDS parts (each label
spread evenly), and each part is scored by outputs fitted on the others, for each strength of the
penalty in CHOICES; each label keeps the one whose held-out scores reach the best F1. On those held-out
scores each label's score is mapped to a probability by a logistic fit (Platt scaling), and its
threshold is the probability that maximises its F1. Then the outputs are fitted on every image; the
calibration and thresholds are kept. (The feature dictionary, which sees no labels, is learned once, on
at most DICTIONARY_PIECES of the pieces.)

Measured (``scripts/bench_multilabel.py``, images/multilabel: 180 training images, 50 held out; one BLAS
thread, pinned to one core at load 0.8): micro-F1 0.941 (a one-vs-rest logistic regression on raw
pixels: 0.393), training 3.9 s, predicting 6.1 to 6.4 ms per image; 0.942 on a second generated set
(seed 5, 200 held-out images). Without the spectrum's gain: 0.904 (and 0.929 on the second set). The
learner before this one (commit 0c2313e) cut each image at 64x64 into 25 overlapping 28x28 tiles and
learned the same way over tiles: micro-F1 0.870, training 10.7 to 11.0 s and predicting 21 ms per image
on the same core (every tile featurised; 25 instances per image in every fit). The position-free blocks
pooled over the whole image instead (the dictionary's responses max- and mean-pooled over 1x1 and 2x2
regions, no pieces) gave only 0.68 to 0.72: a 5x5 patch does not tell a triangle's corner from a
square's. All the classifier's columns on the pieces (its grid and HOG too, 3,907 columns against 307)
gave 0.92 to 0.94 on images/multilabel but took 20 to 50 times as long to fit. These are drawn shapes on
smooth backgrounds; on photographs, where much may stand out from a ramp, the pieces are the largest
parts that do, and the whole image: not measured.

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

VIEW = 96  # side, in pixels, of the square the image is scaled to before its pieces are found
#: How far (RGB distance, channels in [0, 1]) a pixel must be from the fitted background to stand out, at
#: least; and at least this many times the image's median distance (grainy images).
STAND_OUT = 0.12
STAND_OUT_MEDIANS = 3.0
OPENING = 5  # side of the square the standing-out pixels are opened with: thinner lines and specks go
MIN_AREA = 30  # pixels (at VIEW) a standing-out part needs to be a piece
MAX_PROPOSALS = 8  # pieces per image at most (the largest), besides the whole image
PAD = 1.3  # a piece's square: this many times its larger side (and 2 pixels), around its centre
#: How much more each column of the rotation-invariant spectrum weighs than a pattern's or a colour's column
#: (after standardising), against the penalty.
SPECTRUM_GAIN = 3.0
MI_ROUNDS = 2  # rounds of choosing each positive image's best piece and refitting
#: Inverse strengths (C) of each logistic output's L2 penalty tried on the held-out parts; each label keeps
#: the one whose held-out scores give the best F1.
CHOICES = (0.03, 0.1, 0.3)
FOLDS = 3  # parts of the images, each held out in turn to fit the probabilities and thresholds on
MIN_IMAGES = 8  # images a label needs with it, and without it, to be learned
DICTIONARY_PIECES = 200  # pieces the feature dictionary is learned from, at most
_FORMAT = 2  # version of the saved file layout (1: the tiled learner)


@dataclass
class MultilabelModel:
    """A fitted multi-label model: piece features, one logistic output per label, each label's calibration
    (score -> probability) and threshold (probability at which it is given)."""

    names: tuple[str, ...]
    features: Features
    #: The feature columns used (the position-free blocks), their centre and scale.
    columns: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    #: (labels, columns) weights and (labels,) biases of the piece outputs.
    weights: np.ndarray
    bias: np.ndarray
    #: (labels, 2): probability = sigmoid(a * best piece score + b).
    calibration: np.ndarray
    #: (labels,) the probability at or above which each label is given.
    thresholds: np.ndarray
    #: The side the images were scaled to for finding their pieces (VIEW).
    view: int = VIEW

    def predict_proba(self, images: Sequence[bytes | str | os.PathLike[str]]) -> np.ndarray:
        """(images, labels) probabilities, each label on its own (rows do not sum to 1)."""
        pieces, owner = image_pieces(images, view=self.view)
        x = self.features.transform(pieces)[:, self.columns]
        return self._probabilities(self._scores(x, owner, len(images)))

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

    def _scores(self, x: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
        """(pieces, columns) raw features of the pieces of ``count`` images -> (images, labels) the best
        piece's score per label."""
        z = (x - self.centre) / self.scale
        return _best_per_image(z @ self.weights.T + self.bias, owner, count)

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(_sigmoid(scores * self.calibration[:, 0] + self.calibration[:, 1]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` atomically (a temporary file, then a rename)."""
        temp = f"{os.fspath(path)}.{os.getpid()}.tmp"
        with open(temp, "wb") as handle:
            np.savez(handle, format=np.array(_FORMAT), names=np.array(self.names, dtype=str),
                     view=np.array(self.view), mean=self.features.mean,
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
                       data["scale"], data["weights"], data["bias"], data["calibration"], data["thresholds"],
                       int(data["view"]))


def train_multilabel(images: Sequence[bytes | str | os.PathLike[str]], labels: Sequence[Sequence[str]],
                     names: Sequence[str], *, folds: int = FOLDS, seed: int = 0, progress: Progress | None = None
                     ) -> MultilabelModel:
    """Fit a model of labels ``names`` on ``images``, ``labels[i]`` naming the labels image i shows (of
    ``names``; an image may show none); ``folds`` parts are held out in turn to choose each label's penalty
    and fit the probabilities and thresholds on (fewer: faster, from fewer images' scores). ValueError (its
    message meant for the user) when a label has fewer than MIN_IMAGES images with it or without it, or an
    image names a label not in ``names``."""
    tell = progress or (lambda _: None)
    names = tuple(names)
    y = _targets(labels, names, len(images))
    if folds < 2:
        raise ValueError("folds must be at least 2")
    parts = stratified_folds(y, folds, seed=seed)
    tell("features 0%")
    pieces, owner = image_pieces(images, view=VIEW, tell=tell)
    features = _fit_features(pieces, seed)
    columns = position_free_columns(features)
    x = _transform(features, pieces, tell)[:, columns]
    centre, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    spectrum = len(columns) - GRID * GRID * 3 - features.spectrum_width
    scale[spectrum:spectrum + features.spectrum_width] /= SPECTRUM_GAIN
    z = ((x - centre) / scale).astype(np.float32)
    held_out = np.empty((len(CHOICES), *y.shape))
    for fold, held in enumerate(parts, start=1):
        tell(f"fitting without part {fold} of {folds}")
        kept = np.setdiff1d(np.arange(len(y)), held)
        mine, theirs = np.isin(owner, kept), np.isin(owner, held)
        for c, strength in enumerate(CHOICES):
            weights, bias = _fit_outputs(z[mine], np.searchsorted(kept, owner[mine]), y[kept], strength)
            held_out[c][held] = _best_per_image(z[theirs] @ weights.T + bias, np.searchsorted(held, owner[theirs]),
                                                len(held))
    chosen = np.array([int(np.argmax([_best_f1(held_out[c][:, j], y[:, j]) for c in range(len(CHOICES))]))
                       for j in range(len(names))])
    scores = held_out[chosen, :, np.arange(len(names))].T
    calibration = np.array([_platt(scores[:, j], y[:, j]) for j in range(len(names))])
    probabilities = _sigmoid(scores * calibration[:, 0] + calibration[:, 1])
    thresholds = np.array([best_threshold(probabilities[:, j], y[:, j]) for j in range(len(names))])
    tell("fitting on every image")
    weights, bias = np.zeros((len(names), len(columns))), np.zeros(len(names))
    for c, strength in enumerate(CHOICES):
        if np.any(chosen == c):
            weights_c, bias_c = _fit_outputs(z, owner, y[:, chosen == c], strength)
            weights[chosen == c], bias[chosen == c] = weights_c, bias_c
    return MultilabelModel(names, features, columns, centre, scale, weights, bias, calibration, thresholds, VIEW)


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
    """The columns of ``features`` that do not depend on where in the piece a thing is: the dictionary's
    counts over the whole piece, the rotation-invariant spectrum, and the colours."""
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


def proposals(pixels: np.ndarray) -> list[tuple[slice, slice]]:
    """(view, view, 3) RGB in [0, 1] -> the (rows, columns) boxes of the parts that stand out from the
    background, largest first (at most MAX_PROPOSALS).

    The background is fitted per channel as a + b x + c y + d x y over the pixels (three times, each time
    on the pixels the last fit explained well), so a two-colour ramp is background and a shape on it is
    not; the pixels farther from it than STAND_OUT (or STAND_OUT_MEDIANS times the median distance) are
    opened with an OPENING square (lines and specks thinner than it go) and cut into connected parts.
    """
    from scipy import ndimage

    smooth = ndimage.uniform_filter(pixels, size=(3, 3, 1))
    h, w, _ = smooth.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    rows, cols = rows / h, cols / w
    ramp = np.stack([np.ones_like(rows), cols, rows, cols * rows], axis=-1).reshape(-1, 4)
    values = smooth.reshape(-1, 3)
    fitted = np.ones(len(values), dtype=bool)
    for _ in range(3):
        # least squares by the normal equations (4 x 4): a third of lstsq's time on these shapes
        kept = ramp[fitted]
        coefficients = np.linalg.solve(kept.T @ kept + 1e-6 * np.eye(4, dtype=np.float32), kept.T @ values[fitted])
        distance = np.sqrt(((values - ramp @ coefficients) ** 2).sum(axis=1))
        fitted = distance < max(2.5 * float(np.percentile(distance, 60)), 0.03)
    standing = (distance > max(STAND_OUT, STAND_OUT_MEDIANS * float(np.median(distance)))).reshape(h, w)
    standing = ndimage.binary_opening(standing, np.ones((OPENING, OPENING), dtype=bool))
    parts, count = ndimage.label(standing)
    if count == 0:
        return []
    areas = np.bincount(parts.ravel(), minlength=count + 1)[1:]
    boxes = ndimage.find_objects(parts)
    order = [int(i) for i in np.argsort(-areas, kind="stable") if areas[i] >= MIN_AREA][:MAX_PROPOSALS]
    return [boxes[i] for i in order if boxes[i] is not None]


def pieces_of(pixels: np.ndarray) -> np.ndarray:
    """(view, view, 3) RGB in [0, 1] -> (pieces, SIZE, SIZE, 3): a square around each of its
    ``proposals`` (PAD times its larger side, the image's edges repeated beyond it), then the whole image,
    each scaled to SIZE x SIZE."""
    from PIL import Image

    h, w, _ = pixels.shape
    margin = max(h, w)
    padded = Image.fromarray(np.round(np.pad(pixels, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
                                      * 255).astype(np.uint8))
    out = []
    for rows, cols in proposals(pixels):
        cy, cx = (rows.start + rows.stop) / 2 + margin, (cols.start + cols.stop) / 2 + margin
        half = (max(rows.stop - rows.start, cols.stop - cols.start) * PAD + 2) / 2
        out.append(padded.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=(cx - half, cy - half, cx + half,
                                                                                cy + half)))
    out.append(padded.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=(margin, margin, margin + w, margin + h)))
    return np.stack([np.asarray(piece, dtype=np.float32) / 255.0 for piece in out])


def image_pieces(images: Sequence[bytes | str | os.PathLike[str]], *, view: int = VIEW,
                 tell: Progress | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pieces of every image (``pieces_of`` the image at ``view`` x ``view``), all together:
    (pieces, SIZE, SIZE, 3), and (pieces,) the index of the image each came from."""
    pieces, owner = [], []
    for i, image in enumerate(images):
        mine = pieces_of(view_pixels(image, view))
        pieces.append(mine)
        owner.append(np.full(len(mine), i))
        if tell is not None and (i + 1) % 64 == 0:
            tell(f"features {50 * (i + 1) // len(images)}%")
    if not pieces:
        return np.empty((0, SIZE, SIZE, 3), np.float32), np.empty(0, np.int64)
    return np.concatenate(pieces), np.concatenate(owner)


def _fit_features(pieces: np.ndarray, seed: int) -> Features:
    if len(pieces) > DICTIONARY_PIECES:
        pieces = pieces[np.sort(np.random.default_rng(seed).choice(len(pieces), DICTIONARY_PIECES, replace=False))]
    return Features.fit(pieces, seed=seed)


def _transform(features: Features, pieces: np.ndarray, tell: Progress) -> np.ndarray:
    out = np.empty((len(pieces), features.width), np.float32)
    step = 256
    for first in range(0, len(pieces), step):
        features.transform(pieces[first:first + step], out[first:first + step])
        tell(f"features {50 + 50 * min(len(pieces), first + step) // len(pieces)}%")
    return out


def _fit_outputs(z: np.ndarray, owner: np.ndarray, y: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """One logistic output per column of ``y`` (images, labels) over the standardised pieces ``z`` (pieces,
    columns), ``owner`` giving each piece's image, by MI-SVM's alternation: (labels, columns) weights and
    (labels,) biases."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    weights, bias = np.zeros((y.shape[1], z.shape[1])), np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        truth = y[owner, j]
        chosen = np.ones(len(z), dtype=bool)  # first round: every piece of every image
        model = LogisticRegression(C=strength, max_iter=300, class_weight="balanced", warm_start=True)
        for _ in range(MI_ROUNDS + 1):
            with warnings.catch_warnings():  # a round's optimum is only a step: it need not be reached
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(z[chosen], truth[chosen])
            scores = z @ model.coef_[0] + model.intercept_[0]
            # each image with the label: only its best piece shows it; every piece of the others does not
            # (every image has a piece: the whole image)
            order = np.lexsort((-scores, owner))
            first = np.r_[True, owner[order][1:] != owner[order][:-1]]
            best = np.empty(len(y), dtype=np.int64)
            best[owner[order][first]] = order[first]
            chosen = truth == 0
            chosen[best[y[:, j] == 1]] = True
        weights[j], bias[j] = model.coef_[0], model.intercept_[0]
    return weights, bias


def _best_per_image(scores: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """(pieces, labels) scores -> (count, labels) each image's best piece's scores."""
    out = np.full((count, scores.shape[1]), -np.inf)
    np.maximum.at(out, owner, scores)
    return out


def _best_f1(scores: np.ndarray, truth: np.ndarray) -> float:
    """The F1 of the label given to the images of the ``scores`` above the best cut."""
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(truth[order])
    return float(np.max(2 * hits / (np.arange(1, len(scores) + 1) + truth.sum())))


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


__all__ = ["MIN_IMAGES", "MultilabelModel", "Progress", "best_threshold", "holdout_split", "image_pieces",
           "pieces_of", "position_free_columns", "proposals", "stratified_folds", "train_multilabel", "view_pixels"]
