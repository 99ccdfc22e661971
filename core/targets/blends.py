"""Is a clicked source alone in its box? Fits of one and of two sources say.

A single Gaussian fitted where a neighbour shares the box lands between the
two, or on the brighter one, and its covariance says nothing of it: a target
5 px from a star ten times brighter came out 5 px off with an error of
0.02 px. Here the box is fitted with one Moffat profile and with two of one
shape, the second started on the most significant bump of the first's
residual. The neighbour is real when the pair fits far better (a chi-square
drop of :data:`BLEND_DCHI2` and :data:`BLEND_FRACTION` of the single fit's),
stands apart (:data:`BLEND_MIN_SEPARATION`) and has a positive flux; the
clicked source is then the component nearer the click. A Moffat rather than
the centroid's Gaussian because a Gaussian lacks a star's wings: fitted to a
pair, the bright one's wings left under the faint one moved it by 0.2-0.5 px.

Written by hand rather than with photutils' ``PSFPhotometry`` groups because
a click has no PSF model yet; the profiles are fitted with scipy's
``least_squares``, whose Jacobian gives the covariance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import least_squares

__all__ = ["Blend", "find_blend", "BLEND_DCHI2", "BLEND_FRACTION", "BLEND_MIN_SEPARATION"]

#: Chi-square drop (for three more parameters) that makes a second source real.
BLEND_DCHI2 = 50.0
#: ...and the fraction of the single fit's chi-square it must remove: a real
#: star's profile is no exact Moffat, and a second component placed in its
#: wings soaks up a little of that mismatch, never most of it.
BLEND_FRACTION = 0.2
#: A second component closer than this (px), or than the source's FWHM, is
#: the same source.
BLEND_MIN_SEPARATION = 1.5
#: Significance of the residual's bump that is worth a second component.
BUMP_SIGMA = 5.0


@dataclass(frozen=True)
class Blend:
    """The clicked source separated from its neighbour (cutout pixels)."""

    x: float
    y: float
    sigma: float
    """1-sigma error per axis of (x, y), px."""
    separation: float
    """Distance to the neighbour, px."""
    flux_ratio: float
    """The neighbour's flux over the clicked source's."""


def _moffats(xx: np.ndarray, yy: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sources of one elliptical Moffat shape.

    ``p`` holds (amplitude, x, y) per source, then the shape's two core
    widths, its angle and its power. Elliptical because a real star often is
    (guiding, coma, a short trail): a pair of round profiles fits an
    elongated star far better than one round profile does, which made every
    bright star of a real night a "blend".
    """
    gx, gy, theta, power = p[-4:]
    c, s = np.cos(theta), np.sin(theta)
    out = np.zeros(np.shape(xx))
    for a, x, y in p[:-4].reshape(-1, 3):
        dx, dy = xx - x, yy - y
        u = (c * dx + s * dy) / gx
        v = (-s * dx + c * dy) / gy
        out = out + a * (1.0 + u * u + v * v) ** (-power)
    return out


def _fit(xg, yg, zg, wg, start):
    """Weighted least squares of :func:`_moffats`; (result, chi-square) or None."""
    n = (len(start) - 4) // 3
    lower = np.r_[np.tile([0.0, -np.inf, -np.inf], n), 0.3, 0.3, -np.inf, 1.0]
    upper = np.r_[np.tile([np.inf, np.inf, np.inf], n), np.inf, np.inf, np.inf, 20.0]
    start = np.clip(start, lower + 1e-9, upper - 1e-9)

    def residual(p: np.ndarray) -> np.ndarray:
        return (_moffats(xg, yg, p) - zg) * wg

    res = least_squares(residual, start, bounds=(lower, upper), max_nfev=400, x_scale="jac")
    if not res.success:
        return None
    return res, float(np.sum(res.fun**2))


def _bump(
    resid: np.ndarray, var: np.ndarray, good: np.ndarray, width: float, centre
) -> tuple[int, int] | None:
    """The residual's most significant bump at the source's scale, away from its centre.

    None when no bump reaches :data:`BUMP_SIGMA` (in the noise of the
    residual smoothed by a Gaussian of the source's width).
    """
    width = float(np.clip(width, 0.5, resid.shape[0] / 4))
    yy, xx = np.indices(resid.shape)
    smooth = ndimage.gaussian_filter(np.where(good, resid, 0.0), width, mode="constant")
    noise = np.sqrt(ndimage.gaussian_filter(var, width, mode="nearest")) / (
        2.0 * np.sqrt(np.pi) * width
    )
    far = np.hypot(xx - centre[0], yy - centre[1]) >= BLEND_MIN_SEPARATION
    significance = np.where(far & good, smooth / noise, -np.inf)
    k = np.unravel_index(int(np.argmax(significance)), resid.shape)
    return (int(k[0]), int(k[1])) if significance[k] > BUMP_SIGMA else None


def find_blend(
    cut: np.ndarray,
    start: tuple[float, float],
    shape: tuple[float, float, float],
    sky_var: float,
    gain: float,
    click: tuple[float, float],
    model: np.ndarray | None = None,
) -> Blend | None:
    """The clicked source's own centre when a second source shares the box, else None.

    Parameters
    ----------
    cut : ndarray
        A background-subtracted box holding the click and the centroid.
    start : (float, float)
        The single centroid, in the box's pixels.
    shape : (float, float, float)
        The source's Gaussian sigmas along its axes (px) and the angle of the
        first (rad), starting values.
    sky_var : float
        The background's variance per pixel.
    gain : float
        e- per unit of ``cut`` (the sources' Poisson noise).
    click : (float, float)
        Where the user clicked, in the box's pixels.
    model : ndarray, optional
        The single centroid fit's model over the box: when its residual has
        no significant bump, the source is alone and nothing more is fitted.
    """
    good = np.isfinite(cut)
    if np.count_nonzero(good) < 20:
        return None
    data = np.where(good, cut, 0.0)
    # The shape unpacked: numpy's stubs type indices() of an unknown-length
    # shape as a 0-d grid.
    ny, nx = cut.shape
    yy, xx = np.indices((ny, nx))
    # One weighting for both hypotheses: the noise of the pixels as observed.
    var = sky_var + np.maximum(ndimage.uniform_filter(data, 3), 0.0) / gain
    if model is not None and _bump(data - model, var, good, min(shape[:2]), start) is None:
        # Nothing stands out of the centroid's own fit: one source (the
        # common case, so the Moffat fits below are not made for it).
        return None
    xg, yg, zg = xx[good].astype(float), yy[good].astype(float), data[good]
    wg = 1.0 / np.sqrt(var[good])
    sx, sy = (float(np.clip(abs(w), 0.5, cut.shape[0] / 4)) for w in shape[:2])
    width = min(sx, sy)
    # Moffats of power 3 with the Gaussian's FWHMs: the wings a Gaussian lacks.
    to_core = 2.3548 / (2.0 * np.sqrt(2.0 ** (1 / 3.0) - 1.0))
    ix, iy = int(round(start[0])), int(round(start[1]))
    peak = float(data[np.clip(iy, 0, cut.shape[0] - 1), np.clip(ix, 0, cut.shape[1] - 1)])
    first = [max(peak, 1e-3), start[0], start[1], to_core * sx, to_core * sy, shape[2], 3.0]
    one = _fit(xg, yg, zg, wg, np.array(first))
    if one is None:
        return None
    single, chi1 = one
    k = _bump(data - _moffats(xx, yy, single.x), var, good, width, single.x[1:3])
    if k is None:
        return None
    resid = data - _moffats(xx, yy, single.x)
    companion = [max(float(resid[k]), 0.05 * single.x[0]), xx[k], yy[k]]
    pair_start = np.r_[single.x[:3], companion, single.x[3:]]
    two = _fit(xg, yg, zg, wg, pair_start)
    if two is None:
        return None
    pair, chi2 = two
    p = pair.x
    separation = float(np.hypot(p[1] - p[4], p[2] - p[5]))
    # Within a FWHM (the pair's own shape: a blend widens a single fit) a
    # second source is not told from an elongated one.
    gx, gy, _, power = p[-4:]
    fwhm = 2.0 * min(gx, gy) * np.sqrt(2.0 ** (1.0 / power) - 1.0)
    min_separation = max(BLEND_MIN_SEPARATION, fwhm)
    drop = chi1 - chi2
    real = drop > BLEND_DCHI2 and drop > BLEND_FRACTION * chi1
    if not (real and separation >= min_separation and p[0] > 0 and p[3] > 0):
        return None
    d1 = np.hypot(p[1] - click[0], p[2] - click[1])
    d2 = np.hypot(p[4] - click[0], p[5] - click[1])
    near = 0 if d1 <= d2 else 1
    try:
        a = np.linalg.inv(pair.jac.T @ pair.jac)
    except np.linalg.LinAlgError:
        return None
    # The noise's covariance, or, when larger, the "sandwich" with the
    # residuals themselves (White's estimator): where the profile is not a
    # Moffat, the neighbour's leftover wings move the clicked source's centre
    # beyond what the noise alone would.
    j = pair.jac
    robust = a @ (j.T @ (j * (pair.fun**2)[:, None])) @ a
    cov = np.maximum(a, robust)
    kx, ky = 3 * near + 1, 3 * near + 2
    sigma = float(np.sqrt(max(0.5 * (cov[kx, kx] + cov[ky, ky]), 0.0)))
    a_near, a_far = p[3 * near], p[3 * (1 - near)]
    return Blend(float(p[kx]), float(p[ky]), sigma, separation, float(a_far / a_near))
