"""Scatter of light curves, measured the way the expected noise is computed.

A star's noise is computed as a relative flux error (the CCD equation), so
its scatter is measured as the rms of its relative flux, written in
magnitudes (times 2.5 / ln 10): for bright stars that is the rms of the
magnitudes, and for faint ones it stays comparable with the expected noise
where magnitudes, a logarithm of a noisy flux, scatter more than the flux.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from .noise import MAG_PER_LN

__all__ = ["PEERS", "column_median", "flux_rms", "expected_rms", "peer_median", "peer_ratio"]

#: Stars on each side, in magnitude order, that a star's scatter is compared with.
PEERS = 15


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


def peer_median(
    mag: np.ndarray, value: np.ndarray, ok: np.ndarray, peers: int = PEERS
) -> np.ndarray:
    """The running median of ``value`` over each star's peers in brightness.

    A star's peers are the ``peers`` stars on each side of it in magnitude
    order among the ``ok`` ones (fewer at the ends, where the window is held
    at the nearest star): what stars of its brightness typically show, so
    that noise the errors leave out, which grows toward faint stars, is not
    taken for the star's own.

    Parameters
    ----------
    mag : ndarray (n_stars,)
        Each star's magnitude.
    value : ndarray (n_stars,)
        The quantity compared (an rms, a reduced chi-square).
    ok : ndarray of bool (n_stars,)
        Stars that take part (finite ``mag`` and ``value``).
    peers : int, optional
        Stars on each side.

    Returns
    -------
    ndarray (n_stars,)
        The peers' median at every ``ok`` star, NaN elsewhere.
    """
    out = np.full(len(mag), np.nan)
    order = np.flatnonzero(ok)
    if len(order) == 0:
        return out
    order = order[np.argsort(mag[order])]
    # An odd window: the median is one of the values, not a mean of two.
    size = min(2 * peers + 1, len(order) - (1 - len(order) % 2))
    out[order] = median_filter(np.asarray(value, float)[order], size=max(size, 1), mode="nearest")
    return out


def peer_ratio(mag: np.ndarray, rms: np.ndarray, peers: int = PEERS) -> np.ndarray:
    """Each star's rms over the median rms of its peers of similar brightness.

    Peers are the ``peers`` stars on each side in magnitude order (the
    running median, :func:`peer_median`); NaN where the star has no rms.
    """
    ok = np.isfinite(mag) & np.isfinite(rms) & (rms > 0)
    if ok.sum() < 3:
        return np.full(len(mag), np.nan)
    return rms / peer_median(mag, rms, ok, peers)
