"""Correlated ("red") noise in the residuals: the time-averaging test.

White noise averages down as 1/sqrt(n) when n consecutive residuals are
binned; seeing, guiding and transparency leave noise that does not, and a fit
that trusts the per-point errors then claims a mid-time too precise. The
time-averaging method (Pont, Zucker & Queloz 2006, MNRAS 373, 231; Winn et
al. 2008, ApJ 683, 1076, section 3) measures by how much: residuals are binned
into M bins of n points, and

    sigma_n(expected) = sigma_1 / sqrt(n) * sqrt(M / (M - 1))
    beta = sigma_n(measured) / sigma_n(expected)

averaged over bin durations near the ingress time (10 to 30 min by default,
where a mid-time is decided). beta is at least 1; the point errors are then
multiplied by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RedNoise", "rms_by_bin_size", "red_noise_beta"]


@dataclass(frozen=True)
class RedNoise:
    """The time-averaging test of a fit's residuals.

    Attributes
    ----------
    beta : float
        Factor (>= 1) to multiply the white-noise errors by.
    bin_points : ndarray of int
        Bin sizes (points) used for beta.
    betas : ndarray
        beta at each of those sizes (before the floor at 1).
    """

    beta: float
    bin_points: np.ndarray
    betas: np.ndarray


def _binned_rms(resid: np.ndarray, n: int) -> tuple[float, float, int]:
    """Measured and expected rms of residuals binned n at a time, and the bin count."""
    m = resid.size // n
    if m < 2:
        return float("nan"), float("nan"), m
    means = resid[: m * n].reshape(m, n).mean(axis=1)
    measured = float(np.sqrt(np.mean(means**2)))
    sigma1 = float(np.std(resid, ddof=1))
    expected = sigma1 / np.sqrt(n) * np.sqrt(m / (m - 1.0))
    return measured, float(expected), m


def rms_by_bin_size(resid: np.ndarray, max_points: int | None = None) -> dict[str, np.ndarray]:
    """The rms of binned residuals against bin size, and white noise's expectation.

    Returns
    -------
    dict
        ``bin_points`` (n), ``rms`` (measured), ``expected`` (white noise), as
        the TFOP "rms versus bin size" plot shows them.
    """
    resid = np.asarray(resid, dtype=float)
    resid = resid[np.isfinite(resid)]
    top = max_points or max(resid.size // 4, 1)
    sizes = np.unique(np.round(np.geomspace(1, max(top, 1), 25)).astype(int))
    rows = [(n, *_binned_rms(resid, n)[:2]) for n in sizes]
    rows = [r for r in rows if np.isfinite(r[1])]
    arr = np.array(rows, dtype=float).reshape(-1, 3)
    return {"bin_points": arr[:, 0].astype(int), "rms": arr[:, 1], "expected": arr[:, 2]}


def red_noise_beta(
    t: np.ndarray,
    resid: np.ndarray,
    *,
    bin_minutes: tuple[float, float] = (10.0, 30.0),
) -> RedNoise:
    """beta of Winn et al. (2008) over bins of ``bin_minutes`` duration.

    Parameters
    ----------
    t : ndarray
        Times (days), sorted.
    resid : ndarray
        Residuals of the fit (any unit), in time order.
    bin_minutes : (float, float)
        Range of bin durations; bin sizes in points follow from the median
        cadence. When the night is too short for bins of that length (fewer
        than 3 bins), the longest bins that give 3 are used.

    Returns
    -------
    RedNoise
    """
    t = np.asarray(t, dtype=float)
    resid = np.asarray(resid, dtype=float)
    ok = np.isfinite(t) & np.isfinite(resid)
    t, resid = t[ok], resid[ok]
    if resid.size < 6:
        return RedNoise(1.0, np.zeros(0, int), np.zeros(0))
    cadence_min = float(np.median(np.diff(t))) * 1440.0
    lo = max(2, int(round(bin_minutes[0] / max(cadence_min, 1e-6))))
    hi = max(lo, int(round(bin_minutes[1] / max(cadence_min, 1e-6))))
    hi = min(hi, resid.size // 3)
    lo = min(lo, hi)
    if hi < 2:
        return RedNoise(1.0, np.zeros(0, int), np.zeros(0))
    sizes = np.arange(lo, hi + 1)
    betas = []
    for n in sizes:
        measured, expected, _ = _binned_rms(resid, int(n))
        betas.append(measured / expected if expected > 0 else np.nan)
    betas_arr = np.asarray(betas, dtype=float)
    beta = float(np.nanmean(betas_arr)) if np.any(np.isfinite(betas_arr)) else 1.0
    return RedNoise(max(beta, 1.0), sizes, betas_arr)
