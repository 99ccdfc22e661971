"""Scatter of light curves, measured the way the expected noise is computed.

A star's noise is computed as a relative flux error (the CCD equation), so
its scatter is measured as the rms of its relative flux, written in
magnitudes (times 2.5 / ln 10): for bright stars that is the rms of the
magnitudes, and for faint ones it stays comparable with the expected noise
where magnitudes, a logarithm of a noisy flux, scatter more than the flux.
"""

from __future__ import annotations

import numpy as np

from .noise import MAG_PER_LN

__all__ = ["column_median", "flux_rms", "expected_rms"]


def column_median(a: np.ndarray) -> np.ndarray:
    """Median of each column over its finite values (NaN for a column with none)."""
    a = np.asarray(a, dtype=float)
    out = np.full(a.shape[1:], np.nan)
    some = np.isfinite(a).any(axis=0)
    if some.any():
        out[some] = np.nanmedian(a[:, some], axis=0)
    return out


def flux_rms(mag: np.ndarray, ok: np.ndarray, ddof: int | np.ndarray = 1) -> np.ndarray:
    """Each column's rms of relative flux, in magnitudes (NaN with fewer than 3 points).

    Parameters
    ----------
    mag : ndarray (n_frames, n_stars)
    ok : ndarray of bool
        Points to use.
    ddof : int or ndarray (n_stars,)
        Degrees of freedom already used (1 for the mean; more after a fit).
    """
    m = np.where(ok, mag, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        centre = column_median(m)
        rel = 10 ** (-0.4 * (m - centre))
        n = np.sum(np.isfinite(rel), axis=0)
        mean = np.nansum(rel, axis=0) / np.maximum(n, 1)
        var = np.nansum((rel - mean) ** 2, axis=0) / np.maximum(n - np.asarray(ddof), 1)
        out = MAG_PER_LN * np.sqrt(var) / mean
    return np.where(n >= 3, out, np.nan)


def expected_rms(mag_err: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each column's expected rms (mag): the quadratic mean of its points' errors."""
    e = np.where(ok, mag_err, np.nan)
    with np.errstate(invalid="ignore"):
        n = np.sum(np.isfinite(e), axis=0)
        out = np.sqrt(np.nansum(e**2, axis=0) / np.maximum(n, 1))
    return np.where(n >= 3, out, np.nan)
