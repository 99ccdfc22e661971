"""Variability indices of light curves, one per star (columns of a frame x star array).

* The reduced chi-square about the star's weighted mean: how much more the
  star scatters than its errors allow.
* Stetson's J (Stetson 1996, PASP 108, 851): the product of the normalised
  residuals of consecutive points; a variation that lasts longer than one
  frame (an eclipse, a pulsation) makes neighbours deviate together and J
  positive, while noise and a single outlier (a cosmic ray) leave J near 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["reduced_chi2", "stetson_j", "weighted_mean"]


def weighted_mean(mag: np.ndarray, err: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each column's error-weighted mean over its ``ok`` points (NaN with none)."""
    w = np.where(ok, 1.0 / np.where(ok, err, 1.0) ** 2, 0.0)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.sum(w * np.where(ok, mag, 0.0), axis=0) / total, np.nan)


def reduced_chi2(mag: np.ndarray, err: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Each column's chi-square about its weighted mean over n - 1 (NaN with < 3 points)."""
    mean = weighted_mean(mag, err, ok)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(ok, (mag - mean) / err, 0.0)
        out = np.sum(z**2, axis=0) / np.maximum(n - 1, 1)
    return np.where(n >= 3, out, np.nan)


def stetson_j(mag: np.ndarray, err: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Stetson's J of each column from consecutive pairs of ``ok`` points.

    Each point's residual is scaled by sqrt(n / (n - 1)) / err (Stetson's
    delta); a pair contributes sign(P) sqrt(|P|) with P the product of its
    two deltas; J is the mean over pairs. Columns are taken in row order (time).
    """
    n_f, n_s = mag.shape
    mean = weighted_mean(mag, err, ok)
    n = ok.sum(axis=0)
    out = np.full(n_s, np.nan)
    for j in np.flatnonzero(n >= 3):
        rows = np.flatnonzero(ok[:, j])
        delta = np.sqrt(n[j] / (n[j] - 1.0)) * (mag[rows, j] - mean[j]) / err[rows, j]
        p = delta[:-1] * delta[1:]
        out[j] = float(np.mean(np.sign(p) * np.sqrt(np.abs(p))))
    return out
