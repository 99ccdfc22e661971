"""The PSF method's sky under the stars: the mean of the frame less the fitted stars.

A star's fitted flux takes up whatever light lies under its PSF besides the
sky it is given and its fitted neighbours: in a crowded field, the light of
the stars too faint (or too close to a brighter one) to be found. The
unbiased sky for the fits is therefore the *mean* of the frame less the
fitted stars' models, confusion light included, taken at the fluxes it
gives (a fixed point). The mesh sky of :func:`.detect.residual_sky` is a
4-sigma clipped mean that the median filter of its meshes then lowers
further; it removes the faint stars' peaks and sits below that mean.

On 703 stars in 384^2 (the density of 5000 in 1024^2, the PSF varying
across the field) the clipped mesh sky read 99.88 e-/px and the fluxes of
the stars above 1e3 e- came out +0.03..+0.34 sigma high by region of the
frame; the sky plus all of the unfound stars' light (100.67) turned them
-0.01..-0.22 low, as the found stars also hold part of that light (their
blended faint neighbours). The mean of the frame less the model fitted at
a sky of 100.27 was 100.28: the fixed point, where the regions read
-0.09..+0.15 (8 of 9 within 0.06). The method's map of that mean
(:func:`sky_under_stars`, one refit) gives them -0.10..+0.10 (mean residual
+0.02 e-/px); the clipped mesh sky shifted by that mean's offset
(:func:`sky_offset`) only -0.13..+0.15, its cells' scatter left in.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom

from .noise import NoiseModel
from .scene.sky import smooth_cells

__all__ = [
    "CLIP_SIGMA",
    "SKY_BIAS_TOLERANCE",
    "sky_offset",
    "sky_offset_matters",
    "sky_under_stars",
]

CLIP_SIGMA = 8.0
"""Pixels further than this many sigma from the sky plus model are left out.

Only outliers the model does not describe are meant (cosmic rays, hot
pixels, a saturated core's edge): a star at the detection threshold (5
sigma of the matched filter) peaks at 2.8 sigma of the sky in its
brightest pixel for a Moffat of beta 3 and FWHM 3.5 px, 3.9 at 2.5 px, so
that a 4-sigma clip cut the peaks of the unfound stars and this one keeps
them with room for their noise and for those hidden by a brighter star.
"""

SKY_BIAS_TOLERANCE = 0.01
"""Largest flux bias (sigma of a sky-limited star) a sky offset may leave unfitted."""


def sky_offset(
    image: np.ndarray,
    model: np.ndarray,
    sky: np.ndarray,
    mask: np.ndarray,
    noise: NoiseModel,
    variance: np.ndarray | None = None,
) -> float:
    """Mean of ``image - model - sky`` over the unmasked pixels, clipped at :data:`CLIP_SIGMA`.

    Parameters
    ----------
    image : ndarray
        Frame (e-), sky not subtracted.
    model : ndarray
        The fitted stars' model image (no sky).
    sky : ndarray
        The sky map the stars were fitted with.
    mask : ndarray of bool
        Pixels to leave out (bad, saturated).
    noise : NoiseModel
        Per-pixel variance of a signal, used when ``variance`` is not given.
    variance : ndarray, optional
        Per-pixel variance (e-^2).

    Returns
    -------
    float
        The offset (e-/px) to add to ``sky``; 0 when no pixel is left.
    """
    resid = np.asarray(image, dtype=np.float64) - model - sky
    var = variance if variance is not None else noise.variance(sky + np.maximum(model, 0.0))
    good = ~mask & np.isfinite(resid) & (np.abs(resid) <= CLIP_SIGMA * np.sqrt(var))
    return float(resid[good].mean()) if good.any() else 0.0


def sky_offset_matters(offset: float, fwhm: float, sky_sigma: float) -> bool:
    """Whether a sky ``offset`` biases a sky-limited star by more than :data:`SKY_BIAS_TOLERANCE`.

    A PSF fit takes ``offset * N`` e- into the flux of a star of effective
    area ``N`` px (~ 2.27 FWHM^2 for a Gaussian), whose noise on a sky of
    ``sky_sigma`` e-/px is ``sky_sigma * sqrt(N)``.
    """
    n_eff = 2.27 * fwhm**2
    return abs(offset) * np.sqrt(n_eff) / max(sky_sigma, 1e-12) > SKY_BIAS_TOLERANCE


def sky_under_stars(
    image: np.ndarray,
    model: np.ndarray,
    sky: np.ndarray,
    mask: np.ndarray,
    noise: NoiseModel,
    variance: np.ndarray | None = None,
    box: int = 64,
) -> np.ndarray:
    """The sky map: means of ``image - model`` in ``box`` px cells, adaptively smoothed.

    Each cell's mean is clipped at :data:`CLIP_SIGMA` only (see
    :func:`sky_offset`); the cells are smoothed as the crowded fitter's
    sky is (:func:`.scene.sky.smooth_cells`: the widest scale that agrees
    with every finer one), since the unfound stars' light makes each
    cell's mean noisier than the sky's own noise says: on 703 stars in
    384^2 the 64 px cells of the clipped mesh sky scattered by 0.28 e-/px
    about a flat sky, which moved the fluxes of a region by up to 0.1 sigma.

    Parameters
    ----------
    image, model, sky, mask, noise, variance
        As for :func:`sky_offset` (``sky`` only sets the clipping's noise).
    box : int
        Cell size (px).

    Returns
    -------
    ndarray
        The sky (e-/px) at every pixel.
    """
    resid = np.asarray(image, dtype=np.float64) - model
    var = variance if variance is not None else noise.variance(sky + np.maximum(model, 0.0))
    good = ~mask & np.isfinite(resid) & (np.abs(resid - sky) <= CLIP_SIGMA * np.sqrt(var))
    ny, nx = resid.shape
    box = int(max(8, min(box, ny, nx)))
    my, mx = -(-ny // box), -(-nx // box)
    vals = np.zeros((my * box, mx * box))
    keep = np.zeros(vals.shape, dtype=bool)
    vals[:ny, :nx] = np.where(good, resid, 0.0)
    keep[:ny, :nx] = good

    def cells(a: np.ndarray) -> np.ndarray:
        return a.reshape(my, box, mx, box).sum(axis=(1, 3))

    n = cells(keep.astype(np.float64))
    s1 = cells(vals)
    s2 = cells(vals * vals)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s1 / n
        spread = np.maximum(s2 / n - mean * mean, 0.0)
        ok = n >= box * box // 4
        cell_var = np.where(ok, spread / np.maximum(n - 1, 1), np.inf)
    smooth = smooth_cells(np.where(ok, mean, np.nan), cell_var)
    # Cell centres sit at (k + 0.5) * box; zoom with grid_mode maps them there.
    full = zoom(smooth, (box, box), order=1, mode="nearest", grid_mode=True)
    return np.asarray(full[:ny, :nx], dtype=np.float64)
