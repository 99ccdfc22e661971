"""Small weighted least squares for the zero point: normal equations and residual statistics.

The zero point, its colour term and its spatial terms are one to a dozen
parameters fitted to a few hundred stars, many times a frame (the rejection
trajectory refits at every step): at that size numpy's and LAPACK's per-call
overheads, not the arithmetic, are the time, so the solves are written on the
normal equations with closed forms where they are exact.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq


def _inverse(n: np.ndarray) -> np.ndarray:
    """Inverse of a normal matrix; its pseudo-inverse where it is (nearly) singular.

    The zero point alone or with a colour term (one or two parameters, the
    usual fits) is inverted in closed form, anything larger by LAPACK: a
    fraction of the cost of the SVD of ``pinv``, which remains for a
    degenerate design (every star of one colour, say) and gives the
    minimum-norm solution ``lstsq`` would.
    """
    if n.shape == (1, 1):
        d = float(n[0, 0])
        if d > 0:
            return np.array([[1.0 / d]])
    elif n.shape == (2, 2):
        (a, b), (c, d) = n.tolist()
        det = a * d - b * c
        # 1 - det / (a d) is the squared correlation of the two columns: the
        # closed form loses that many digits.
        if a > 0 and d > 0 and det > 1e-6 * a * d:
            return np.array([[d / det, -b / det], [-c / det, a / det]])
    else:
        try:
            c = np.linalg.inv(n)
        except np.linalg.LinAlgError:
            return np.linalg.pinv(n)
        # A numerically singular matrix inverts without an error into huge numbers.
        if np.abs(n @ c - np.eye(len(n))).max() < 1e-8:
            return c
    return np.linalg.pinv(n)


# The rejection loop below keeps the design transposed, one row per parameter
# (``at``, shape (p, n)): taking a subset of stars, the normal matrix and the
# hat matrix's diagonal are then contiguous BLAS products, several times
# faster than on (n, p) rows at the few hundred stars of a frame.


def _logdet(n: np.ndarray) -> float:
    """log det of a normal matrix (closed form for one or two parameters, as :func:`_inverse`)."""
    det = float(n[0, 0]) if n.shape == (1, 1) else math.nan
    if n.shape == (2, 2):
        (a, b), (c, d) = n.tolist()
        det = a * d - b * c
    # A singular matrix (or a larger one) goes to LAPACK.
    return math.log(det) if det > 0 else float(np.linalg.slogdet(n)[1])


def _normal(at: np.ndarray, b: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal matrix ``A^T V^-1 A`` and right-hand side ``A^T V^-1 b``."""
    w = at / var
    return np.dot(w, at.T), np.dot(w, b)


def _solve(
    at: np.ndarray, b: np.ndarray, var: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least squares: parameters, covariance and residuals.

    By the normal equations: with one to a dozen parameters normalised to
    order one their condition is harmless, and the solve is called at every
    step of the rejection trajectory, where ``lstsq``'s and ``pinv``'s
    overheads were most of the calibration's time.
    """
    w = at / var
    cov = _inverse(np.dot(w, at.T))
    params = cov @ np.dot(w, b)
    return params, cov, b - params @ at


def _hat(at: np.ndarray, cov: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Diagonal of the hat matrix: ``a_i^T C a_i / var_i`` for every star."""
    x = cov @ at
    x *= at
    return np.add.reduce(x, 0) / var


# Median of the chi2 distribution with one degree of freedom.
_CHI2_1_MEDIAN = 0.454936


def _middle(x: np.ndarray) -> float:
    """Median of ``x``, which it reorders.

    np.median's own arithmetic (a partition in place, then the middle value
    or the mean of the middle two) without its checks and reshaping, which
    took most of the time of the rejection trajectory's many steps.
    """
    half = len(x) // 2
    if len(x) % 2 == 1:
        x.partition(half)
        return float(x[half])
    x.partition([half - 1, half])
    return float((x[half - 1] + x[half]) / 2.0)


def _robust_scatter(resid: np.ndarray, var: np.ndarray, r2v: np.ndarray) -> float:
    """Scatter s for which the median normalised squared residual is that of chi2(1).

    ``var`` holds the stated variances and ``r2v`` is ``resid**2 / var``
    (reordered here). Used only to decide rejections: the fitted s is
    inflated by the very outliers it should expose (two 0.5 mag outliers
    among 40 stars push s to 0.1 mag and hide themselves at 4 sigma), the
    median is not.
    """
    if _middle(r2v) - _CHI2_1_MEDIAN <= 0:
        return 0.0
    r2 = resid * resid

    def excess(s: float) -> float:
        return _middle(r2 / (var + s * s)) - _CHI2_1_MEDIAN

    # At s = max|r| / sqrt(median) every term is below the chi2(1) median, so the
    # excess changes sign inside the bracket: at s = max|r| alone two stars with
    # like residuals (a field of few catalog stars) both stay above it.
    hi = float(np.max(np.abs(resid))) / math.sqrt(_CHI2_1_MEDIAN) + 1e-6
    return float(brentq(excess, 0.0, hi, xtol=1e-6))
