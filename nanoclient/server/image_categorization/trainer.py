"""The local server's classifier: image features, fitting, prediction and held-out accuracy.

Every image is seen as viewers show it (``decode``: turned as its EXIF orientation says, 16-bit
channels scaled to 8 bits), at a small fixed size, whatever its size and mode. Features follow
Coates, Lee and Ng (2011), "An analysis of single-layer networks in unsupervised feature
learning": small patches are contrast-normalised and whitened,
a dictionary of patch prototypes is learned from the training images with k-means, and
each image is described by how strongly each prototype appears in each region of a grid
and in the whole image (the "triangle" activation, sum-pooled). Histograms of oriented
gradients (Dalal and Triggs, 2005) add the image's local edge directions; the Fourier
magnitudes of its whole-image edge-direction histogram, and of where its edges lie by angle
around its centre, a description that does not change when the image turns; and the mean
colour of each region its colours. A multinomial logistic regression on those features gives
calibrated probabilities for every category.

``train`` holds out a stratified part to measure accuracy, then fits again on everything.
A saved classifier is a plain ``.npz`` of arrays (no pickle): loading it runs no code, and
predicting needs only NumPy and Pillow.

Memory and time grow with the number of images only through the feature matrix (float32, one
row per image, filled in chunks as the images are decoded; 940 MB for 60,000 images): the
dictionary is learned from at most ``DICTIONARY_IMAGES`` images, the spectrum's weight chosen on
at most ``CHOICE_IMAGES``, and with more training images than features the softmax layer is
fitted in blocks over the standardised matrix (``softmax.fit_softmax``, the same objective as
scikit-learn's, which would copy the matrix into float64), preconditioned by the features'
covariance on a sample.

This module knows images and arrays, nothing of HTTP or SQLite.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    from PIL import Image

    from .softmax import Preconditioner

#: An image as a file path or as its bytes.
ImageSource = Union[str, "os.PathLike[str]", bytes]
#: Category labels, one per image: a sequence or a NumPy array of strings.
Labels = Sequence[str] | np.ndarray
#: Told how training goes, in a few words ("features 40%", "fitting").
Progress = Callable[[str], object]

SIZE = 28  # images are normalised to SIZE x SIZE grey-scale pixels
PATCH = 5  # side of the square patches the dictionary is learned on
ATOMS = 256  # k-means prototypes in the dictionary
GRID = 3  # features are pooled over GRID x GRID regions of the image, and over the whole image
HOG_CELL = 4  # side of the cells of the histograms of oriented gradients
HOG_ORIENTATIONS = 9  # gradient directions per histogram
SPECTRUM_BINS = 72  # directions in the whole-image histogram the rotation-invariant spectrum comes from
SPECTRUM_TERMS = 12  # Fourier magnitudes kept: invariant to rotation, they tell 3-fold from 4-fold symmetry
SPECTRUM_WIDTH = 2 * SPECTRUM_TERMS  # the rotation-invariant block: edge directions, then edges around the centre
#: Weights tried for the spectrum block (against all the shape columns), chosen on a validation split:
#: objects seen at any angle need it, objects always upright (clothes, digits) do better without.
SPECTRUM_WEIGHTS = (0.0, 1.0, 2.0)
REGULARISATION = 0.01  # inverse strength (C) of the logistic regression's L2 penalty
HOLDOUT = 0.2  # fraction held out to measure accuracy
_DICTIONARY_SAMPLE = 100_000  # patches used to learn the whitening and the dictionary
DICTIONARY_IMAGES = 2_000  # images the dictionary is learned from, at most (their patches are sampled)
CHOICE_IMAGES = 2_000  # training images the spectrum's weight is chosen on, at most
PRECONDITION_IMAGES = 4_000  # images whose covariance preconditions the large fit
_CHUNK = 32  # images featurised at a time: bounds memory, and small arrays stay in cache
_DECODE_CHUNK = 512  # images decoded at a time while the feature matrix is filled
_FORMAT = 4  # version of the saved file layout
_FORMAT_BEFORE_AROUND_CENTRE = 3  # the layout without the edges-around-the-centre terms: still read


def load_pixels(images: Sequence[ImageSource]) -> np.ndarray:
    """Decode images (paths or bytes) into an (n, SIZE, SIZE, 3) float32 RGB array in [0, 1] (``decode``)."""
    out = np.empty((len(images), SIZE, SIZE, 3), dtype=np.float32)
    for i, source in enumerate(images):
        out[i] = decode(source)
    return out / 255.0


def decode(source: ImageSource) -> np.ndarray:
    """One image as the trainer sees it, in training and prediction alike: a (SIZE, SIZE, 3) float32
    RGB array in [0, 255], turned as its EXIF orientation says (as viewers show it) and with more
    than 8 bits per channel scaled down, not clipped."""
    from PIL import Image, ImageOps

    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with handle, Image.open(handle) as image:
        image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a reduced scale when that is enough
        upright = ImageOps.exif_transpose(image)
        rgb = _eight_bits(upright).convert("RGB")
        return np.asarray(rgb.resize((SIZE, SIZE), Image.Resampling.BILINEAR), dtype=np.float32)


def _eight_bits(image: Image.Image) -> Image.Image:
    """A grey image of more than 8 bits (modes I;16*, I, F: 16-bit PNGs) scaled to 8 bits, which
    ``convert`` would clip instead (to white); other images as they are (Pillow reads 48-bit PNGs as RGB)."""
    from PIL import Image

    if not image.mode.startswith("I;16") and image.mode not in ("I", "F"):
        return image
    values = np.maximum(np.asarray(image, dtype=np.float32), 0.0)
    top = float(values.max(initial=0.0))
    # 16-bit modes, and 16-bit data in the wide modes (older Pillows read 16-bit PNGs as I), span 0..65535
    full = 65535.0 if image.mode.startswith("I;16") or 255.0 < top <= 65535.0 else max(top, 255.0)
    return Image.fromarray(np.round(values * (255.0 / full)).astype(np.uint8))


class Features:
    """Whitened-patch k-means features (the dictionary is learned by ``fit``).

    ``around_centre`` False leaves out the rotation-invariant block's second half (``_around_centre``),
    as the classifiers saved before it (file format 3) were trained.
    """

    def __init__(self, mean: np.ndarray, whiten: np.ndarray, atoms: np.ndarray, *, around_centre: bool = True) -> None:
        self.mean = mean.astype(np.float32)
        self.whiten = whiten.astype(np.float32)
        self.atoms = atoms.astype(np.float32)
        self.around_centre = around_centre

    @classmethod
    def fit(cls, pixels: np.ndarray, *, atoms: int = ATOMS, seed: int = 0) -> Features:
        """Learn the whitening and the dictionary from the patches of these images."""
        from sklearn.cluster import MiniBatchKMeans

        patches = _patches(_grey(pixels)).reshape(-1, PATCH * PATCH)
        rng = np.random.default_rng(seed)
        if len(patches) > _DICTIONARY_SAMPLE:
            patches = patches[rng.choice(len(patches), _DICTIONARY_SAMPLE, replace=False)]
        mean = patches.mean(axis=0)
        values, vectors = np.linalg.eigh(np.cov(patches - mean, rowvar=False))
        whiten = vectors @ np.diag(1.0 / np.sqrt(np.maximum(values, 0.0) + 0.1)) @ vectors.T
        white = (patches - mean) @ whiten
        k = min(atoms, len(white))
        kmeans = MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096).fit(white)
        return cls(mean, whiten, kmeans.cluster_centers_)

    def transform(self, pixels: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(n, SIZE, SIZE, 3) pixels -> (n, width) float32 features: shapes, edge directions, then
        colours; written into ``out`` (n rows) when given."""
        if out is None:
            out = np.empty((len(pixels), self.width), np.float32)
        for i in range(0, len(pixels), _CHUNK):
            out[i:i + _CHUNK] = self._transform(pixels[i:i + _CHUNK])
        return out

    def transform_images(self, images: Sequence[ImageSource], out: np.ndarray | None = None, *, workers: int = 1,
                         progress: Callable[[int], object] | None = None) -> np.ndarray:
        """The (n, width) float32 features of images decoded ``_DECODE_CHUNK`` at a time, so that the
        pixels of only a few chunks are ever held, written into ``out`` (n rows) when given; ``workers``
        threads share the chunks (NumPy and Pillow release the GIL for most of the work).
        ``progress(k)`` is told each time k more images are done."""
        from concurrent.futures import ThreadPoolExecutor

        if out is None:
            out = np.empty((len(images), self.width), np.float32)
        target = out

        def chunk(first: int) -> int:
            part = images[first:first + _DECODE_CHUNK]
            self.transform(load_pixels(part), target[first:first + _DECODE_CHUNK])
            return len(part)

        with ThreadPoolExecutor(max(1, workers)) as pool:
            for done in pool.map(chunk, range(0, len(images), _DECODE_CHUNK)):
                if progress is not None:
                    progress(done)
        return out

    @property
    def width(self) -> int:
        """Number of features per image."""
        blocks = SIZE // HOG_CELL - 1
        return ((GRID * GRID + 1) * len(self.atoms) + blocks * blocks * 4 * HOG_ORIENTATIONS + self.spectrum_width
                + GRID * GRID * 3)

    @property
    def spectrum_width(self) -> int:
        """Number of columns in the rotation-invariant block (they come just before the colours)."""
        return SPECTRUM_WIDTH if self.around_centre else SPECTRUM_TERMS

    # the colours come last: ``Classifier.fit`` weighs that block against all the others

    def _transform(self, pixels: np.ndarray) -> np.ndarray:
        grey = _grey(pixels)
        patches = _patches(grey)
        n, h, w, _ = patches.shape
        white = (patches.reshape(-1, PATCH * PATCH) - self.mean) @ self.whiten
        # distances from every patch to every prototype, computed in place (the array is the big one)
        distance = white @ self.atoms.T
        distance *= -2.0
        distance += (white * white).sum(axis=1)[:, None]
        distance += (self.atoms * self.atoms).sum(axis=1)[None]
        np.sqrt(np.maximum(distance, 0.0, out=distance), out=distance)
        # "triangle" activation: how much closer than average each prototype is
        active = np.maximum(np.subtract(distance.mean(axis=1, keepdims=True), distance, out=distance), 0.0,
                            out=distance).reshape(n, h, w, -1)
        # pooled per region (where things are) and over the whole image (what is there, wherever it is)
        regions = _pool(active, np.sum)
        whole = regions.reshape(n, GRID * GRID, -1).sum(axis=1)
        # contrast normalisation leaves no trace of colour or brightness: the mean colour of each region does
        smooth = _blur(pixels)
        magnitude, direction = _gradients(smooth)
        invariant = [_spectrum(magnitude, direction)]
        if self.around_centre:
            invariant.append(_around_centre(_gradients(_blur(smooth))[0]))
        return np.concatenate([regions, whole, _hog(*_gradients(pixels)), *invariant, _pool(pixels, np.mean)], axis=1)


def _gradients(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, h, w, 3) RGB -> (n, h, w) the gradient's magnitude and its direction in [0, pi) (unsigned:
    light-to-dark and dark-to-light alike), by central differences, in the colour channel where it is
    strongest (Dalal and Triggs): a shape differs from its background in colour even at equal brightness."""
    gy, gx = np.zeros_like(pixels), np.zeros_like(pixels)
    gy[:, 1:-1], gx[:, :, 1:-1] = pixels[:, 2:] - pixels[:, :-2], pixels[:, :, 2:] - pixels[:, :, :-2]
    magnitude = np.hypot(gx, gy)
    strongest = magnitude.argmax(axis=-1)[..., None]
    gx, gy = (np.take_along_axis(g, strongest, axis=-1)[..., 0] for g in (gx, gy))
    return np.take_along_axis(magnitude, strongest, axis=-1)[..., 0], np.arctan2(gy, gx) % np.pi


def _hog(magnitude: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Gradients (``_gradients``) -> (n, features): histograms of oriented gradients, 2 x 2 cells per block
    (L2-Hys)."""
    bins = np.minimum((direction * (HOG_ORIENTATIONS / np.pi)).astype(np.int64), HOG_ORIENTATIONS - 1)
    votes = (bins[..., None] == np.arange(HOG_ORIENTATIONS)) * magnitude[..., None]
    n, h, w = magnitude.shape
    rows, cols = h // HOG_CELL, w // HOG_CELL
    cells = votes[:, :rows * HOG_CELL, :cols * HOG_CELL].reshape(n, rows, HOG_CELL, cols, HOG_CELL, -1).mean((2, 4))
    blocks = np.concatenate([cells[:, i:rows - 1 + i, j:cols - 1 + j] for i in (0, 1) for j in (0, 1)], axis=-1)
    blocks = blocks / np.sqrt((blocks * blocks).sum(-1, keepdims=True) + 1e-10)
    blocks = np.minimum(blocks, 0.2)
    blocks = blocks / np.sqrt((blocks * blocks).sum(-1, keepdims=True) + 1e-10)
    return np.asarray(blocks.reshape(n, -1), dtype=np.float32)


def _spectrum(magnitude: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Gradients (``_gradients``) -> (n, SPECTRUM_TERMS): the Fourier magnitudes of each image's
    edge-direction histogram.

    Turning the image turns the histogram circularly, which leaves the magnitudes alone:
    a triangle puts its energy in term 3, a square or a cross in term 2, a five-pointed star in term 5.
    The gradients come from a blurred image (``_blur``), so that grain does not spread the histogram.
    """
    # votes by squared magnitude: the outline's strong edges count, grain and faint texture hardly
    return _circular_spectrum(direction / np.pi, magnitude * magnitude)


def _around_centre(magnitude: np.ndarray) -> np.ndarray:
    """Gradient magnitudes (``_gradients``) -> (n, SPECTRUM_TERMS): the Fourier magnitudes of where
    the edges lie around the image's centre of edge energy, by angle.

    What ``_spectrum`` misses, it sees: a cross's edges run in two directions, as a square's do, but lie
    in four arms around the centre (terms 4, 8, 12), a star's in five points (terms 5, 10). Turning
    or moving the image leaves them alone.
    The magnitudes come from an image blurred twice, so that pixel steps along an edge do not show.
    """
    energy = magnitude * magnitude
    rows, cols = np.indices(energy.shape[1:], dtype=np.float32)
    total = energy.sum(axis=(1, 2)) + 1e-6
    dy = rows - ((energy * rows).sum(axis=(1, 2)) / total)[:, None, None]
    dx = cols - ((energy * cols).sum(axis=(1, 2)) / total)[:, None, None]
    return _circular_spectrum((np.arctan2(dy, dx) % (2 * np.pi)) / (2 * np.pi), energy)


def _circular_spectrum(position: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """(n, h, w) positions on a circle in [0, 1) and their weights -> (n, SPECTRUM_TERMS): the Fourier
    magnitudes (terms 1 to SPECTRUM_TERMS) of each image's SPECTRUM_BINS-bin weighted histogram of
    the positions, the histogram normalised to sum 1. Turning the circle leaves them alone."""
    n = len(position)
    bins = np.minimum((position * SPECTRUM_BINS).astype(np.int64), SPECTRUM_BINS - 1)
    offsets = np.arange(n)[:, None, None] * SPECTRUM_BINS  # one histogram per image in one bincount
    histogram = np.bincount((bins + offsets).ravel(), weights=weight.ravel(),
                            minlength=n * SPECTRUM_BINS).reshape(n, SPECTRUM_BINS)
    histogram = histogram / (histogram.sum(axis=1, keepdims=True) + 1e-6)
    return np.abs(np.fft.rfft(histogram, axis=1))[:, 1:SPECTRUM_TERMS + 1].astype(np.float32)


def _blur(pixels: np.ndarray) -> np.ndarray:
    """(n, h, w, c) maps smoothed by a 5 x 5 binomial kernel (about a Gaussian of 1 pixel; edges repeated)."""
    padded = np.pad(pixels, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="edge")
    taps = np.array([1.0, 4.0, 6.0, 4.0, 1.0], dtype=np.float32) / 16.0
    h, w = pixels.shape[1:3]
    rows = sum(tap * padded[:, i:i + h] for i, tap in enumerate(taps))
    return np.asarray(sum(tap * rows[:, :, i:i + w] for i, tap in enumerate(taps)), dtype=np.float32)


def _pool(maps: np.ndarray, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """Reduce (n, h, w, c) maps over each of GRID x GRID regions: (n, GRID * GRID * c)."""
    rows, cols = np.array_split(np.arange(maps.shape[1]), GRID), np.array_split(np.arange(maps.shape[2]), GRID)
    return np.concatenate([reduce(maps[:, r[0]:r[-1] + 1, c[0]:c[-1] + 1], axis=(1, 2)) for r in rows for c in cols],
                          axis=1)


def _grey(pixels: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) RGB -> (n, h, w) luma (ITU-R 601)."""
    return pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _patches(pixels: np.ndarray) -> np.ndarray:
    """Every PATCH x PATCH patch, contrast-normalised: (n, h, w, PATCH * PATCH)."""
    windows = sliding_window_view(pixels, (PATCH, PATCH), axis=(1, 2))
    n, h, w = windows.shape[:3]
    flat = windows.reshape(n, h, w, PATCH * PATCH)
    centred = flat - flat.mean(axis=-1, keepdims=True)
    return np.asarray(centred / np.sqrt(flat.var(axis=-1, keepdims=True) + 0.01), dtype=np.float32)


class Classifier:
    """A fitted classifier: features, their standardisation and a softmax layer."""

    def __init__(self, labels: Sequence[str], features: Features, centre: np.ndarray, scale: np.ndarray,
                 weights: np.ndarray, bias: np.ndarray) -> None:
        self.labels: list[str] = list(labels)
        self.features = features
        self.centre, self.scale = centre.astype(np.float32), scale.astype(np.float32)
        self.weights, self.bias = weights.astype(np.float32), bias.astype(np.float32)

    @classmethod
    def fit(cls, features: Features, x: np.ndarray, labels: Labels, *,
            spectrum_weight: float = SPECTRUM_WEIGHTS[1], start: Classifier | None = None) -> Classifier:
        """Fit the softmax layer on features ``x`` (from ``features``).

        ``spectrum_weight`` is the weight of the rotation-invariant block against the shape columns.
        ``start``, a classifier of the same labels fitted on similar images, is where the solver
        starts: the optimum is the same (the problem is convex), reached in fewer steps.
        """
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels)
        names = sorted(set(y.tolist()))
        if len(names) < 2:
            raise ValueError("at least 2 categories with images are needed to train")
        centre, scale = standardisation(features, x, spectrum_weight)
        z = ((x - centre) / scale).astype(np.float64)
        model = LogisticRegression(C=REGULARISATION, max_iter=300, solver="newton-cg",
                                   warm_start=start is not None)
        initial = None if start is None else start._weights_for(names, centre, scale)
        if len(z) < z.shape[1]:
            # fewer images than columns: the L2-penalised optimum is a combination of the images
            # (representer theorem), so fit the same problem in their n coordinates, exactly and
            # several times faster, then map the weights back to the columns
            values, vectors = np.linalg.eigh(z @ z.T)
            kept = values > values.max() * 1e-10
            root = np.sqrt(values[kept])
            basis = vectors[:, kept] / root  # columns -> coordinates: z @ basis are the images' coordinates
            if initial is not None:
                model.coef_, model.intercept_ = (initial[0] @ z.T) @ basis, initial[1]
            model.fit(vectors[:, kept] * root, y)
            coef = (model.coef_ @ basis.T) @ z
        else:
            if initial is not None:
                model.coef_, model.intercept_ = initial
            coef = model.fit(z, y).coef_
        bias = model.intercept_
        if len(names) == 2:  # scikit-learn keeps one row for two classes: make it a softmax of two
            coef = np.vstack([-coef / 2, coef / 2])
            bias = np.concatenate([-bias / 2, bias / 2])
        return cls([str(name) for name in model.classes_], features, centre, scale, coef, bias)

    @classmethod
    def fit_standardised(cls, features: Features, z: np.ndarray, labels: Labels, centre: np.ndarray,
                         scale: np.ndarray, *, start: Classifier | None = None,
                         precondition: Preconditioner | None = None, progress: Progress | None = None) -> Classifier:
        """Fit the softmax layer on features already standardised in place (``z = (x - centre) / scale``,
        float32, more rows than columns), in blocks: nothing of the size of ``z`` is allocated.
        The same optimum as ``fit`` on ``x`` (``precondition``: see ``softmax``); ``progress`` hears
        "fitting (iteration N)"."""
        from .softmax import fit_softmax

        y = np.asarray(labels)
        names = sorted(set(y.tolist()))
        if len(names) < 2:
            raise ValueError("at least 2 categories with images are needed to train")
        initial = None if start is None else start._weights_for(names, centre, scale, binary_too=True)
        coef, bias = fit_softmax(z, np.searchsorted(names, y), len(names), c=REGULARISATION, start=initial,
                                 precondition=precondition,
                                 on_iteration=None if progress is None else
                                 lambda k: progress(f"fitting (iteration {k})") if k % 10 == 0 else None)
        return cls(names, features, centre, scale, coef, bias)

    def _weights_for(self, names: list[str], centre: np.ndarray, scale: np.ndarray, *, binary_too: bool = False
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """This softmax layer as (coef, intercept) on features standardised by ``centre`` and
        ``scale`` instead of its own (the same scores), for a solver to start from; None when the
        labels differ or there are only two (scikit-learn keeps one row for those, unless ``binary_too``:
        ``fit_softmax`` keeps one per label)."""
        if self.labels != names or (len(names) < 3 and not binary_too):
            return None
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(np.isinf(scale) | np.isinf(self.scale), 0.0, scale / self.scale)
        weights = self.weights.astype(np.float64)
        intercept = self.bias + ((centre - self.centre) / self.scale) @ weights.T  # a column of scale inf: 0
        return weights * ratio, intercept.astype(np.float64)

    def predict_proba(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Probabilities, one row per image and one column per label (``self.labels``)."""
        return self.predict_proba_features(self.features.transform(load_pixels(images)))

    def predict_proba_features(self, x: np.ndarray) -> np.ndarray:
        """Like ``predict_proba`` for features already computed by ``self.features``."""
        scores = ((x - self.centre) / self.scale) @ self.weights.T + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def accuracy(self, x: np.ndarray, labels: Labels) -> float:
        """Fraction of these images (as features) whose most probable label is the true one."""
        predicted = np.asarray(self.labels)[self.predict_proba_features(x).argmax(axis=1)]
        return float((predicted == np.asarray(labels)).mean())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the classifier to ``path`` atomically (a temporary file, then a rename)."""
        temp = f"{os.fspath(path)}.{os.getpid()}.tmp"
        version = _FORMAT if self.features.around_centre else _FORMAT_BEFORE_AROUND_CENTRE
        with open(temp, "wb") as handle:
            np.savez(handle, format=np.array(version), labels=np.array(self.labels, dtype=str),
                     mean=self.features.mean, whiten=self.features.whiten, atoms=self.features.atoms,
                     centre=self.centre, scale=self.scale, weights=self.weights, bias=self.bias)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Classifier:
        """Read a classifier written by ``save`` (arrays only; nothing is unpickled)."""
        with np.load(path, allow_pickle=False) as data:
            version = int(data["format"])
            if version not in (_FORMAT_BEFORE_AROUND_CENTRE, _FORMAT):
                raise ValueError(f"classifier file {path} has format {version}, expected {_FORMAT}")
            features = Features(data["mean"], data["whiten"], data["atoms"], around_centre=version == _FORMAT)
            return cls([str(label) for label in data["labels"]], features, data["centre"], data["scale"],
                       data["weights"], data["bias"])


def standardisation(features: Features, x: np.ndarray, spectrum_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) that standardise the columns of ``x`` (from ``features``), with the spectrum block
    weighted by ``spectrum_weight`` and the colours by 1 against all the shape columns; computed in
    blocks, in float64, with nothing of the size of ``x`` allocated."""
    total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for first in range(0, len(x), 1024):  # float64 sums of float32 blocks: 16 MB at a time for 3,907 columns
        block = x[first:first + 1024]
        total += block.sum(axis=0, dtype=np.float64)
        squares += np.square(block).sum(axis=0, dtype=np.float64)
    centre = total / max(len(x), 1)
    scale = np.sqrt(np.maximum(squares / max(len(x), 1) - centre * centre, 0.0)) + 1e-6
    colours = GRID * GRID * 3
    spectrum = features.spectrum_width
    shape_columns = x.shape[1] - colours - spectrum
    # the few spectrum and colour columns would drown among the many shape and edge columns: a
    # weight of 1 gives a block as much weight as all of those together (0 leaves it out)
    for block_columns, width, weight in ((slice(shape_columns, -colours), spectrum, spectrum_weight),
                                         (slice(-colours, None), colours, 1.0)):
        gain = weight * np.sqrt(shape_columns / width)
        scale[block_columns] = scale[block_columns] / gain if gain > 0 else np.inf
    return centre, scale


def holdout_split(labels: Labels, *, fraction: float = HOLDOUT, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified (train, test) indices, or None when some category has too few images to spare any."""
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels)
    _, counts = np.unique(y, return_counts=True)
    n_test = int(round(len(y) * fraction))
    if counts.min() < 2 or n_test < len(counts) or len(y) - n_test < len(counts):
        return None
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=n_test, stratify=y, random_state=seed)
    return train_idx, test_idx


def choose_spectrum_weight(features: Features, x: np.ndarray, labels: Labels, *, seed: int = 0) -> float:
    """The weight from SPECTRUM_WEIGHTS chosen on a validation split of these images.

    The "one standard error" rule (Breiman et al., 1984): the smallest weight whose accuracy
    is within one standard error of the best, so that noise alone does not add the block.
    The middle weight when there are too few images to split.
    """
    return _choose_spectrum_weight(features, x, labels, seed=seed)[0]


def _choose_spectrum_weight(features: Features, x: np.ndarray, labels: Labels, *, seed: int = 0
                            ) -> tuple[float, Classifier | None]:
    """``choose_spectrum_weight``, and the classifier fitted with that weight on the validation
    split's training part (None without a split): the next fits start from it."""
    y = np.asarray(labels)
    split = holdout_split(y, fraction=0.25, seed=seed)
    if split is None:
        return SPECTRUM_WEIGHTS[1], None
    fit_idx, val_idx = split
    fitted: list[Classifier] = []
    for weight in SPECTRUM_WEIGHTS:  # each fit starts from the one before: a weight moves the optimum a little
        fitted.append(Classifier.fit(features, x[fit_idx], y[fit_idx], spectrum_weight=weight,
                                     start=fitted[-1] if fitted else None))
    scores = [classifier.accuracy(x[val_idx], y[val_idx]) for classifier in fitted]
    best = max(scores)
    standard_error = np.sqrt(best * (1.0 - best) / len(val_idx))
    chosen = next(i for i, score in enumerate(scores) if score >= best - standard_error)
    return SPECTRUM_WEIGHTS[chosen], fitted[chosen]


class Trained(NamedTuple):
    """What ``train`` gives: the classifier, and its accuracy on the images held out to measure it."""

    classifier: Classifier
    accuracy: float | None  # None: too few images to hold any out
    held_out: int  # how many images ``accuracy`` was measured on (0 when None)


def train(images: Sequence[ImageSource], labels: Sequence[str], *, holdout: float = HOLDOUT,
          seed: int = 0, workers: int = 1, progress: Progress | None = None) -> Trained:
    """Fit a classifier on labelled images; return it and its held-out accuracy.

    A stratified ``holdout`` fraction is set aside. Without it, the feature dictionary is
    learned, the spectrum's weight is chosen, and a classifier is fitted and scored on it.
    The returned classifier uses that dictionary and weight with a softmax layer fitted on
    every image. The accuracy is None when some category has too few images to hold any
    out. ValueError (its message meant for the user) when the images cannot train a classifier.

    The images are decoded in chunks by ``workers`` threads straight into the feature matrix, the
    only thing whose size grows with them (see the module's docstring). ``progress`` hears how far
    training is: "learning the dictionary", "features N%", "choosing the weights", "fitting", ...
    """
    if len(images) != len(labels):
        raise ValueError("images and labels differ in length")
    if len(set(labels)) < 2:
        raise ValueError("at least 2 categories with images are needed to train")
    tell = progress or (lambda _: None)
    split = holdout_split(labels, fraction=holdout, seed=seed) if holdout > 0 else None
    # the training images first, then the held-out ones: each part is a slice of the feature matrix
    order = np.arange(len(labels)) if split is None else np.concatenate(split)
    n_train = len(labels) if split is None else len(split[0])
    y = np.asarray(labels)[order]
    tell("learning the dictionary")
    sample = np.arange(n_train)
    if n_train > DICTIONARY_IMAGES:
        sample = np.sort(np.random.default_rng(seed).choice(n_train, DICTIONARY_IMAGES, replace=False))
    features = Features.fit(load_pixels([images[int(order[i])] for i in sample]), seed=seed)
    ordered = [images[int(i)] for i in order]
    # The matrix's pages are only touched as its rows are filled: the weights are chosen and the
    # preconditioner made on the first rows (training images in random order) while it is still small.
    x = np.empty((len(ordered), features.width), np.float32)
    head = min(n_train, max(CHOICE_IMAGES, PRECONDITION_IMAGES))
    counted = _FeatureProgress(len(ordered), tell)
    features.transform_images(ordered[:head], x[:head], workers=workers, progress=counted)
    tell("choosing the weights")
    choice = slice(0, min(n_train, CHOICE_IMAGES))
    weight, start = _choose_spectrum_weight(features, x[choice], y[choice], seed=seed)
    large = n_train >= x.shape[1]
    precondition = _preconditioner(features, x[:head], weight, n_train) if large else None
    features.transform_images(ordered[head:], x[head:], workers=workers, progress=counted)
    if not large:  # fewer images than features: exact and fast in the images' coordinates
        tell("fitting")
        if split is None:
            return Trained(Classifier.fit(features, x, y, spectrum_weight=weight, start=start), None, 0)
        partial = Classifier.fit(features, x[:n_train], y[:n_train], spectrum_weight=weight, start=start)
        final = Classifier.fit(features, x, y, spectrum_weight=weight, start=partial)
        return Trained(final, partial.accuracy(x[n_train:], y[n_train:]), len(y) - n_train)
    # many images: standardise the matrix in place (by the training part's statistics) and fit in blocks
    centre, scale = standardisation(features, x[:n_train], weight)
    x -= centre.astype(np.float32)
    x /= scale.astype(np.float32)
    tell("fitting")
    partial = Classifier.fit_standardised(features, x[:n_train], y[:n_train], centre, scale, start=start,
                                          precondition=precondition, progress=tell)
    if split is None:
        return Trained(partial, None, 0)
    held_out = _accuracy_standardised(partial, x[n_train:], y[n_train:])
    tell("fitting on every image")
    final = Classifier.fit_standardised(features, x, y, centre, scale, start=partial, precondition=precondition,
                                        progress=lambda text: tell(text.replace("fitting", "fitting on every image")))
    return Trained(final, held_out, len(y) - n_train)


class _FeatureProgress:
    """Counts the images whose features are done and tells "features N%" when N changes."""

    def __init__(self, total: int, tell: Progress) -> None:
        self.total, self.tell, self.done, self.shown = max(total, 1), tell, 0, -1

    def __call__(self, more: int) -> None:
        self.done += more
        percent = 100 * self.done // self.total
        if percent != self.shown:
            self.shown = percent
            self.tell(f"features {percent}%")


def _preconditioner(features: Features, x: np.ndarray, weight: float, n_train: int) -> Preconditioner:
    """The large fit's preconditioner (``softmax``), from rows ``x`` standardised by their own statistics:
    close enough to the training part's, and ready before the feature matrix is filled."""
    from .softmax import Preconditioner

    centre, scale = standardisation(features, x, weight)
    z = ((x - centre) / scale).astype(np.float32)
    return Preconditioner(z, 1.0 / (REGULARISATION * n_train))


def _accuracy_standardised(classifier: Classifier, z: np.ndarray, labels: np.ndarray) -> float:
    """``classifier.accuracy`` for features already standardised by its own centre and scale."""
    scores = z @ classifier.weights.T + classifier.bias
    return float((np.asarray(classifier.labels)[scores.argmax(axis=1)] == labels).mean())


class CrossValidation(NamedTuple):
    """The outcome of ``cross_validate``: each fold's accuracy, and each image's top probability
    and whether its top label was right, from the fold that held it out."""

    scores: list[float]
    confidence: np.ndarray
    correct: np.ndarray

    @property
    def calibration_error(self) -> float:
        """The expected calibration error of these held-out predictions (``calibration_error``)."""
        return calibration_error(self.confidence, self.correct)


def calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15) -> float:
    """Expected calibration error (Guo et al., 2017) over ``bins`` equal-width bins of confidence:
    the mean gap between how sure the classifier was and how often it was right, weighted by the
    images in each bin. 0 means that "probability 0.9" is right 9 times in 10."""
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    gaps = [abs(confidence[which == b].mean() - correct[which == b].mean()) * (which == b).sum()
            for b in np.unique(which)]
    return float(sum(gaps) / len(confidence))


def cross_validate(images: Sequence[ImageSource], labels: Sequence[str], *, folds: int = 5,
                   seed: int = 0) -> CrossValidation:
    """A stratified ``folds``-fold cross-validation, its split drawn with ``seed`` (for benchmarks).

    Each fold learns its dictionary, chooses its spectrum weight and fits its softmax layer
    on its training part only, as ``train`` does.
    """
    from sklearn.model_selection import StratifiedKFold

    pixels, y = load_pixels(images), np.asarray(labels)
    scores, confidence, correct = [], np.zeros(len(y)), np.zeros(len(y), dtype=bool)
    for a, b in StratifiedKFold(folds, shuffle=True, random_state=seed).split(pixels, y):
        features = Features.fit(pixels[a], seed=seed)
        x = features.transform(pixels[a])
        weight, start = _choose_spectrum_weight(features, x, y[a], seed=seed)
        fitted = Classifier.fit(features, x, y[a], spectrum_weight=weight, start=start)
        probabilities = fitted.predict_proba_features(features.transform(pixels[b]))
        confidence[b] = probabilities.max(axis=1)
        correct[b] = np.asarray(fitted.labels)[probabilities.argmax(axis=1)] == y[b]
        scores.append(float(correct[b].mean()))
    return CrossValidation(scores, confidence, correct)


__all__ = ["Classifier", "CrossValidation", "Features", "ImageSource", "Labels", "Trained", "calibration_error",
           "choose_spectrum_weight", "cross_validate", "decode", "holdout_split", "load_pixels", "train"]
