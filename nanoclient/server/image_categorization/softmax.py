"""A multinomial logistic regression fitted in blocks over a float32 feature matrix, for many images.

The trainer's features take 3,907 float32 numbers per image: 940 MB for the 60,000 images of
Fashion-MNIST. scikit-learn's solvers would copy that matrix into float64 (and, for Newton-CG, keep
more of its size besides), so beyond a few thousand images the softmax layer is fitted here: the
same objective as scikit-learn's ``LogisticRegression(C=C)`` (multinomial, L2 on the weights, none on
the intercepts), minimised by L-BFGS (SciPy), each evaluation of the loss and its gradient one pass
over the matrix in blocks of ``BLOCK`` rows. The working set beyond the matrix is a few blocks'
worth: memory grows with the images only by the matrix itself.

Correlated features make the problem ill-conditioned, and plain L-BFGS slow (500 iterations and
more for Fashion-MNIST's features). Given a sample of rows, the solver works on ``V = W M^-1``
where ``M = (S + mu * penalty * I)^(-1/2)`` and ``S`` is the sample's second moment: the loss's
curvature is then about even in every direction, and 6,000 images take about 115 iterations
(4.6x fewer, the same optimum). ``mu`` (``PRECONDITION_RIDGE``) was chosen by that count.

Pure NumPy and SciPy: no HTTP, no SQL, no images.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Rows per block: 4,096 rows of 3,907 float32 features are 64 MB, and stay fast in BLAS.
BLOCK = 4096
#: How much of the penalty's curvature the preconditioner adds to the sample's (10, 100 and 1,000 measured
#: 169, 126 and 114 iterations on 4,800 Fashion-MNIST images).
PRECONDITION_RIDGE = 1000.0


def fit_softmax(x: np.ndarray, y: np.ndarray, classes: int, *, c: float,
                start: tuple[np.ndarray, np.ndarray] | None = None, precondition: Preconditioner | None = None,
                max_iter: int = 500, tol: float = 1e-5,
                on_iteration: Callable[[int], object] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights (classes, features) and intercepts (classes,) minimising the mean cross-entropy of the
    softmax of ``x @ W.T + b`` against ``y`` (class indices) plus ``||W||^2 / (2 * c * n)``: the
    optimum of scikit-learn's ``LogisticRegression(C=c)`` on the same data (multinomial; for two
    classes, its binary logistic regression, as two rows).

    ``x`` is read, never copied or changed. ``start`` (weights, intercepts) is where the solver starts.
    ``precondition``, made from a sample of rows like ``x``'s, makes the solver converge in fewer
    iterations (see the module's docstring). ``on_iteration(k)`` is called after each of the solver's
    iterations.
    """
    from scipy.optimize import minimize

    n, width = x.shape
    y = np.asarray(y, dtype=np.int64)
    # scikit-learn fits two classes as one logistic weight vector w; the two rows here are w/2 and -w/2 at
    # the optimum, whose penalties together are half of w's: doubled, the optimum is scikit-learn's
    penalty = (2.0 if classes == 2 else 1.0) / (c * n)
    m = precondition
    w0 = np.zeros((classes, width + 1))
    if start is not None:
        w0[:, :width] = start[0] if m is None else m.inverse(start[0])
        w0[:, width] = start[1]
    iteration = [0]

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat.reshape(classes, width + 1)
        real = weights[:, :width] if m is None else m.apply(weights[:, :width])
        w = real.astype(np.float32)
        b = weights[:, width].astype(np.float32)
        loss, grad_w, grad_b = 0.0, np.zeros((classes, width)), np.zeros(classes)
        for first in range(0, n, BLOCK):
            block, labels = x[first:first + BLOCK], y[first:first + BLOCK]
            scores = block @ w.T
            scores += b
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            total = scores.sum(axis=1, keepdims=True)
            rows = np.arange(len(labels))
            loss -= float(np.log(scores[rows, labels] / total[:, 0]).sum())
            scores /= total  # probabilities; minus one where the label is: the gradient of the scores
            scores[rows, labels] -= 1.0
            grad_w += scores.T @ block
            grad_b += scores.sum(axis=0)
        value = loss / n + 0.5 * penalty * float((real * real).sum())
        grad_real = grad_w / n + penalty * real
        gradient = np.concatenate([grad_real if m is None else m.apply(grad_real), (grad_b / n)[:, None]], axis=1)
        return value, gradient.ravel()

    def step(_: np.ndarray) -> None:
        iteration[0] += 1
        if on_iteration is not None:
            on_iteration(iteration[0])

    result = minimize(objective, w0.ravel(), jac=True, method="L-BFGS-B", callback=step,
                      options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12, "maxcor": 20})
    weights = result.x.reshape(classes, width + 1)
    return weights[:, :width] if m is None else m.apply(weights[:, :width]), weights[:, width].copy()


class Preconditioner:
    """``M = (S + PRECONDITION_RIDGE * penalty * I)^(-1/2)``, ``S`` the second moment of a sample's rows, kept
    as its eigenvectors (float32) and eigenvalues: about 60 MB for 3,907 features, whatever the rows.
    ``penalty`` is ``1 / (c * n)``, as in ``fit_softmax``."""

    def __init__(self, sample: np.ndarray, penalty: float) -> None:
        from scipy.linalg import eigh

        rows = np.asarray(sample, dtype=np.float32)
        moment = rows.T @ rows
        moment /= np.float32(max(len(rows), 1))
        # LAPACK's divide and conquer (ssyevd) in place: half the working memory of NumPy's eigh (600 MB here)
        values, self.vectors = eigh(moment, overwrite_a=True, check_finite=False, driver="evd")
        self.root = np.sqrt(np.maximum(values.astype(np.float64), 0.0) + PRECONDITION_RIDGE * penalty)

    def apply(self, w: np.ndarray) -> np.ndarray:
        """``w @ M`` (M is symmetric)."""
        return np.asarray(((w.astype(np.float32) @ self.vectors) / self.root).astype(np.float32) @ self.vectors.T,
                          dtype=np.float64)

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """``w @ M^-1``."""
        return np.asarray(((w.astype(np.float32) @ self.vectors) * self.root).astype(np.float32) @ self.vectors.T,
                          dtype=np.float64)


__all__ = ["BLOCK", "fit_softmax"]
