"""The centroid of a source in a cutout by a 2-D Gaussian fit, that says when it failed."""

from __future__ import annotations

import numpy as np
from astropy.modeling.fitting import TRFLSQFitter
from astropy.modeling.models import Gaussian2D
from astropy.utils.exceptions import AstropyUserWarning

from .quiet import quiet

__all__ = ["gaussian_centroid"]


def gaussian_centroid(data: np.ndarray, mask: np.ndarray | None = None, **_) -> np.ndarray:
    """(x, y) of a 2-D Gaussian fitted to a cutout, NaN when the fit does not converge.

    photutils' ``centroid_2dg`` makes the same fit but says that it did not
    converge only by a warning, and catching warnings swaps the process-wide
    filters, which is not safe on worker threads; so the fit is made here and
    its convergence read from the fitter. A usable ``centroid_func`` for
    photutils' ``centroid_sources``.

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
    nan = np.array([np.nan, np.nan])
    data = np.asarray(data, dtype=float)
    good = np.isfinite(data) if mask is None else np.isfinite(data) & ~np.asarray(mask, bool)
    if np.count_nonzero(good) < 6:
        return nan
    # As centroid_2dg: moments above the cutout's minimum as the first guess,
    # then the (background-subtracted) cutout itself fitted.
    w = np.where(good, data - np.min(data[good]), 0.0)
    total = w.sum()
    if not total > 0:
        return nan
    y, x = np.indices(data.shape)
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
    model = Gaussian2D(w.max(), mx, my, major, minor, theta)
    fitter = TRFLSQFitter()
    with quiet(AstropyUserWarning, "The fit may be unsuccessful"):
        fit = fitter(model, x[good], y[good], data[good])
    if not fitter.fit_info.success:
        return nan
    return np.array([fit.x_mean.value, fit.y_mean.value])
