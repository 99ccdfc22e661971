"""How much of a neighbour's light falls in each star's aperture.

A faint star a few seeing discs from a bright one has the bright star's
wings in its aperture and sky annulus; as the seeing changes, so does that
light, and the faint star seems to vary. :func:`contamination` estimates,
per star, the neighbours' light in its aperture as a fraction of its own,
from the stars' median fluxes and a Moffat profile of the night's seeing
(beta = 3, a typical atmosphere's wings), so that a blend is judged on its
detrended light curve, which takes out what follows the seeing.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .data import FieldData
from .stats import column_median

__all__ = ["contamination", "moffat_in_aperture"]

_BETA = 3.0
# A polar grid over the unit disc (8 rings of equal area, 16 angles): the
# profile's mean over the aperture to a few per cent for neighbours outside it.
_RINGS, _ANGLES = 8, 16
_R = np.repeat(np.sqrt((np.arange(_RINGS) + 0.5) / _RINGS), _ANGLES)
_T = np.tile(np.arange(_ANGLES) * 2 * np.pi / _ANGLES, _RINGS)
_W = np.full(_RINGS * _ANGLES, 1.0 / (_RINGS * _ANGLES))


def moffat_in_aperture(distance: np.ndarray, radius: float, fwhm: float) -> np.ndarray:
    """Fraction of a Moffat star's light at ``distance`` px that falls in a ``radius`` aperture."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / _BETA) - 1.0))
    d = np.asarray(distance, float)[..., None]
    px = d - radius * _R * np.cos(_T)
    py = radius * _R * np.sin(_T)
    profile = (_BETA - 1.0) / (np.pi * alpha**2) * (1.0 + (px**2 + py**2) / alpha**2) ** -_BETA
    return np.sum(profile * _W, axis=-1) * np.pi * radius**2


def contamination(
    data: FieldData, radius: float | None = None, fwhm: float | None = None
) -> np.ndarray:
    """Per star, its neighbours' light in its aperture over its own (0 for an isolated star)."""
    r = float(radius if radius is not None else data.meta.get("aperture_radius", 0.0) or 0.0)
    f = data.frame_column("fwhm")
    seeing = float(fwhm if fwhm is not None else (np.nanmedian(f) if np.isfinite(f).any() else 3.0))
    if r <= 0 or data.n_stars < 2:
        return np.zeros(data.n_stars)
    flux = column_median(np.where(data.good, data.flux, np.nan))
    flux = np.where(np.isfinite(flux) & (flux > 0), flux, 0.0)
    xy = np.column_stack([column_median(data.x), column_median(data.y)])
    ok = np.all(np.isfinite(xy), axis=1)
    out = np.zeros(data.n_stars)
    tree = cKDTree(xy[ok])
    rows = np.flatnonzero(ok)
    reach = r + 6.0 * seeing
    for j in rows:
        near = [rows[k] for k in tree.query_ball_point(xy[j], reach) if rows[k] != j]
        if not near or flux[j] <= 0:
            out[j] = 0.0 if not near else np.inf
            continue
        d = np.hypot(*(xy[near] - xy[j]).T)
        out[j] = float(np.sum(flux[near] * moffat_in_aperture(d, r, seeing)) / flux[j])
    return out
