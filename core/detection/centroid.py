"""The centroid of a source in a cutout by a 2-D Gaussian fit, that says when it failed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.modeling.models import Gaussian2D
from scipy.optimize import least_squares

__all__ = ["GaussianFit", "fit_gaussian", "gaussian_centroid"]


@dataclass(frozen=True)
class GaussianFit:
    """A 2-D Gaussian fitted to a cutout (see :func:`fit_gaussian`).

    Attributes
    ----------
    x, y : float
        Centre in the cutout's pixels.
    params : ndarray
        ``Gaussian2D`` parameters (amplitude, x_mean, y_mean, x_stddev, y_stddev, theta).
    good : ndarray of bool
        The pixels fitted.
    """

    x: float
    y: float
    params: np.ndarray
    good: np.ndarray

    def model(self) -> np.ndarray:
        """The fitted Gaussian over the whole cutout."""
        y, x = np.indices(self.good.shape)
        return Gaussian2D.evaluate(x, y, *self.params)

    def covariance(self, variance: np.ndarray | float) -> np.ndarray:
        """Covariance (px^2) of (x, y) for the given per-pixel noise variance.

        The fit is unweighted (as photutils' ``centroid_2dg``), so its
        covariance is the least-squares "sandwich" ``A J^T V J A`` with
        ``A = (J^T J)^-1``: exact for any noise model, and, with the variance
        of the *model* (not of the residuals), blind to the mismatch between
        a Gaussian and the star's real profile, which is symmetric and moves
        the centre not at all.
        """
        # The shape unpacked: numpy's stubs type indices() of an unknown-length
        # shape as a 0-d grid.
        ny, nx = self.good.shape
        y, x = np.indices((ny, nx))
        jac = np.transpose(Gaussian2D.fit_deriv(x[self.good], y[self.good], *self.params))
        var = np.broadcast_to(np.asarray(variance, dtype=float), self.good.shape)[self.good]
        try:
            a = np.linalg.inv(jac.T @ jac)
        except np.linalg.LinAlgError:
            return np.full((2, 2), np.nan)
        cov = a @ (jac.T @ (jac * var[:, None])) @ a
        return cov[1:3, 1:3]


def fit_gaussian(data: np.ndarray, mask: np.ndarray | None = None) -> GaussianFit | None:
    """A 2-D Gaussian fitted to a cutout, None when the fit does not converge.

    photutils' ``centroid_2dg`` (and astropy's fitter under it) says that the
    fit did not converge only by a warning, and silencing a warning swaps the
    process-wide filters, which is not safe on worker threads: other
    libraries swap them too (astropy's sigma clipping does, unguarded), so a
    lock of our own cannot keep the filter in place. The same model is
    therefore fitted with scipy's ``least_squares`` directly, which reports
    convergence in its result and warns about nothing.

    Parameters
    ----------
    data : ndarray
        Background-subtracted cutout holding one source.
    mask : ndarray of bool, optional
        Pixels left out (non-finite ones are too).
    """
    data = np.asarray(data, dtype=float)
    good = np.isfinite(data) if mask is None else np.isfinite(data) & ~np.asarray(mask, bool)
    if np.count_nonzero(good) < 6:
        return None
    # As centroid_2dg: moments above the cutout's minimum as the first guess,
    # then the (background-subtracted) cutout itself fitted.
    w = np.where(good, data - np.min(data[good]), 0.0)
    total = w.sum()
    if not total > 0:
        return None
    ny, nx = data.shape
    y, x = np.indices((ny, nx))
    mx, my = (w * x).sum() / total, (w * y).sum() / total
    dx, dy = x - mx, y - my
    mu20, mu02, mu11 = ((w * a * b).sum() / total for a, b in ((dx, dx), (dy, dy), (dx, dy)))
    # Semi-axes from the covariance (at least 0.1 px: a zero width is outside the
    # model's bounds, which makes centroid_2dg raise on a hot pixel).
    major, minor = np.sqrt(
        np.clip(np.linalg.eigvalsh([[mu02, mu11], [mu11, mu20]])[::-1], 0.01, None)
    )
    round_ = np.hypot(mu20 - mu02, 2 * mu11) < 1e-6 * (mu20 + mu02)
    theta = 0.0 if round_ else 0.5 * np.arctan2(2 * mu11, mu20 - mu02)
    xg, yg, zg = x[good].astype(float), y[good].astype(float), data[good]

    def residual(p: np.ndarray) -> np.ndarray:
        return Gaussian2D.evaluate(xg, yg, *p) - zg

    def jacobian(p: np.ndarray) -> np.ndarray:
        return np.transpose(Gaussian2D.fit_deriv(xg, yg, *p))

    start = np.array([w.max(), mx, my, major, minor, theta])
    # As astropy's TRFLSQFitter under centroid_2dg: widths kept positive (the
    # model's bounds), 100 evaluations, xtol 1e-7.
    lower = np.array([-np.inf, -np.inf, -np.inf, 1e-3, 1e-3, -np.inf])
    fit = least_squares(
        residual, start, jac=jacobian, bounds=(lower, np.inf), max_nfev=100, xtol=1e-7
    )
    cx, cy = fit.x[1], fit.x[2]
    ny, nx = data.shape
    # A centre outside the cutout is a fit that ran away (along a trail).
    if not fit.success or not (-0.5 <= cx <= nx - 0.5 and -0.5 <= cy <= ny - 0.5):
        return None
    return GaussianFit(float(cx), float(cy), np.asarray(fit.x, dtype=float), good)


def gaussian_centroid(data: np.ndarray, mask: np.ndarray | None = None, **_) -> np.ndarray:
    """(x, y) of a 2-D Gaussian fitted to a cutout, NaN when the fit does not converge.

    A usable ``centroid_func`` for photutils' ``centroid_sources``; see
    :func:`fit_gaussian`.

    Parameters
    ----------
    data : ndarray
        Background-subtracted cutout holding one source.
    mask : ndarray of bool, optional
        Pixels left out (non-finite ones are too).

    Returns
    -------
    ndarray
        ``[x, y]`` in the cutout's pixels, or ``[nan, nan]``.
    """
    fit = fit_gaussian(data, mask)
    if fit is None:
        return np.array([np.nan, np.nan])
    return np.array([fit.x, fit.y])
