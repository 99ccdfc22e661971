"""A click refined to the centroid of the source under it, with an honest error.

:func:`refine_click` fits a 2-D Gaussian (as photutils' ``centroid_2dg``) in a
box around the click and gives the centre's error from the fit's covariance
for the noise actually there: the background's scatter measured around the
click plus the source's own Poisson noise. A neighbour sharing the box pulls
such a fit, by pixels when it is brighter, so every fit is tested for a
second source (:func:`fluxion.core.targets.blends.find_blend`); a blended click is
said so, its position is the clicked source's own and its error covers how
far the neighbour moves a centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.modeling.models import Gaussian2D
from astropy.nddata.utils import overlap_slices
from astropy.stats import sigma_clipped_stats
from photutils.centroids import centroid_com

from ..detection.centroid import fit_gaussian
from ..photometry.aperture import clipped_std_factor
from .blends import find_blend

__all__ = [
    "CENTROID_SIGMA_FLOOR",
    "CentroidResult",
    "TrackError",
    "UNREFINED_SIGMA",
    "refine_click",
]

#: Position uncertainty (px) given to a click kept as clicked (no centroid).
UNREFINED_SIGMA = 1.0
#: Floor on a centroid's uncertainty (px): below this, PSF and pixel-phase
#: systematics dominate whatever the signal-to-noise says.
CENTROID_SIGMA_FLOOR = 0.02
#: The linearised covariance of a nonlinear fit is too small near the
#: detection limit, where a noise peak pulls the fit. On the simulator (24
#: noise draws of ~50 isolated stars) the scatter at a peak S/N of 5-7 was
#: 1.2x the covariance's among all stars found there (many of them fainter
#: stars lifted by their noise) and 1.0x among stars truly that bright; the
#: error is scaled by ``sqrt(1 + (LOW_SNR_SCALE / snr)^2)``, 1.12 at S/N 6,
#: between the two.
LOW_SNR_SCALE = 3.0


class TrackError(ValueError):
    """A track cannot be built or fitted; the message says why and what to do."""


@dataclass(frozen=True)
class CentroidResult:
    """Outcome of refining one click.

    Attributes
    ----------
    x, y : float
        Refined position (px, 0-based), or the clicked one when ``found`` is False.
    sigma : float
        1-sigma position uncertainty per axis (px).
    snr : float
        Peak signal-to-noise of the brightest pixel near the click.
    found : bool
        False when no source stands above the noise near the click (empty sky):
        the click is then kept as clicked.
    message : str
        What happened, for the user.
    blended : bool
        Another source shares the fit box: the position is the clicked
        source's own from a fit of both, and ``sigma`` covers how far the
        neighbour moves a centroid.
    """

    x: float
    y: float
    sigma: float
    snr: float
    found: bool
    message: str
    blended: bool = False


def refine_click(
    image: np.ndarray,
    x: float,
    y: float,
    *,
    box_size: int = 11,
    min_snr: float = 5.0,
    gain: float = 1.0,
) -> CentroidResult:
    """Refine a click to the centroid of the source under it.

    Parameters
    ----------
    image : 2-D array
        The frame (background included; a local background is removed here).
    x, y : float
        Clicked position (px, 0-based).
    box_size : int
        Side of the box (px, odd) searched for the source; about 2-3 FWHM.
    min_snr : float
        Peak signal-to-noise below which the click is considered empty sky.
    gain : float
        e- per unit of ``image`` (1 for a frame in electrons), for the
        source's own Poisson noise in the error; the background's noise is
        measured around the click.

    Returns
    -------
    CentroidResult
        The centroid (2-D Gaussian fit, as photutils ``centroid_2dg``) or, on empty
        sky or at the image edge, the clicked position with ``found=False``.
    """
    data = np.asarray(image, dtype=float)
    ny, nx = data.shape
    box_size = int(box_size) | 1  # an odd box, as photutils' centroid_sources wants
    half = box_size // 2
    if not (0 <= x < nx and 0 <= y < ny):
        raise TrackError(f"click at ({x:.1f}, {y:.1f}) is outside the {nx}x{ny} image")
    if not (np.isfinite(gain) and gain > 0):
        raise TrackError(f"gain must be a positive number of e- per unit, got {gain}")
    ix, iy = int(round(x)), int(round(y))
    # Local background and noise from a wider box, so that a crowded or
    # vignetted field does not bias the peak test.
    outer = 3 * box_size
    sl = (slice(max(iy - outer, 0), iy + outer + 1), slice(max(ix - outer, 0), ix + outer + 1))
    finite = np.isfinite(data[sl])
    box = data[max(iy - half, 0) : iy + half + 1, max(ix - half, 0) : ix + half + 1]
    if np.count_nonzero(finite) < box_size or not np.isfinite(box).any():
        # Outside the data (the blank border of an aligned frame, a masked area).
        return CentroidResult(
            float(x), float(y), UNREFINED_SIGMA, 0.0, False,
            "no valid pixel around the click: position kept as clicked",
        )  # fmt: skip
    _, sky, noise = sigma_clipped_stats(data[sl][finite], sigma=3.0, maxiters=5)
    box = box - sky
    peak = float(np.max(box[np.isfinite(box)]))
    snr = peak / noise if noise > 0 else 0.0
    if not np.isfinite(snr) or snr < min_snr:
        return CentroidResult(
            float(x),
            float(y),
            UNREFINED_SIGMA,
            float(snr) if np.isfinite(snr) else 0.0,
            False,
            f"no source above {min_snr:g} sigma within {half} px: position kept as clicked",
        )
    # The background's scatter per pixel (measured after a 3-sigma clip).
    sky_var = (float(noise) / clipped_std_factor(3.0, 5)) ** 2
    # Two passes: the second box is centred on the first centroid, so a click a
    # few pixels off does not cut the source's wing.
    cx, cy = float(x), float(y)
    fit = None
    for _ in range(2):
        cut, origin = cutout(data - sky, cx, cy, box_size)
        fit = fit_gaussian(cut)
        if fit is not None:
            cx, cy = origin[0] + fit.x, origin[1] + fit.y
        else:
            # The Gaussian fit did not converge (a trail, a blend, a hot pixel):
            # the first moment is cruder but never runs away.
            com = centroid_com(np.nan_to_num(cut))
            if not np.all(np.isfinite(com)):
                return CentroidResult(
                    float(x), float(y), UNREFINED_SIGMA, snr, False,
                    "centroid failed: kept as clicked",
                )  # fmt: skip
            cx, cy = origin[0] + float(com[0]), origin[1] + float(com[1])
        if np.hypot(cx - x, cy - y) > box_size or not (0 <= cx < nx and 0 <= cy < ny):
            return CentroidResult(
                float(x), float(y), UNREFINED_SIGMA, snr, False,
                "centroid ran away: kept as clicked",
            )  # fmt: skip
    model = None
    if fit is None:
        sigma = _first_moment_sigma(box, noise)
        shape = (sigma_psf_of(box), sigma_psf_of(box), 0.0)
        message = f"first-moment centroid at S/N {snr:.0f}"
    else:
        cov = fit.covariance(sky_var + np.maximum(fit.model(), 0.0) / gain)
        low_snr = np.sqrt(1.0 + (LOW_SNR_SCALE / snr) ** 2)
        sigma = float(low_snr * np.sqrt(max(0.5 * (cov[0, 0] + cov[1, 1]), 0.0)))
        sigma = max(sigma if np.isfinite(sigma) else UNREFINED_SIGMA, CENTROID_SIGMA_FLOOR)
        shape = (float(fit.params[3]), float(fit.params[4]), float(fit.params[5]))
        message = f"centroid at S/N {snr:.0f}"
    # The blend test's box holds the click and the centre it moved to, whole.
    reach = int(np.ceil(np.hypot(cx - x, cy - y)))
    wide, origin = cutout(data - sky, 0.5 * (x + cx), 0.5 * (y + cy), box_size + 2 * reach)
    start = (cx - origin[0], cy - origin[1])
    if fit is not None:
        wy, wx = wide.shape
        yy, xx = np.indices((wy, wx))
        params = fit.params.copy()
        params[1:3] = start
        model = Gaussian2D.evaluate(xx, yy, *params)
    click_in = (x - origin[0], y - origin[1])
    blend = find_blend(wide, start, shape, sky_var, gain, click_in, model=model)
    if blend is None:
        return CentroidResult(cx, cy, sigma, snr, True, message)
    bx, by = origin[0] + blend.x, origin[1] + blend.y
    # The pair's fit gives the clicked source's own centre, with its error.
    error = max(np.sqrt(1.0 + (LOW_SNR_SCALE / snr) ** 2) * blend.sigma, CENTROID_SIGMA_FLOOR)
    shift = float(np.hypot(bx - cx, by - cy))
    return CentroidResult(
        bx, by, error, snr, True,
        f"blended: a second source {blend.separation:.1f} px away "
        f"({blend.flux_ratio:.2g}x as bright) pulled the centroid {shift:.1f} px; "
        f"the clicked source's own centre is kept, uncertain by {error:.2f} px",
        blended=True,
    )  # fmt: skip


def cutout(data: np.ndarray, x: float, y: float, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The ``size`` x ``size`` box around (x, y), trimmed at the edges, and its origin (x0, y0)."""
    large, _ = overlap_slices(data.shape, (size, size), (y, x), mode="trim")
    return data[large], (large[1].start, large[0].start)


def sigma_psf_of(box: np.ndarray) -> float:
    """The Gaussian sigma (px) of a source from the second moments of its positive pixels."""
    w = np.clip(np.nan_to_num(box), 0, None)
    total = w.sum()
    if total <= 0:
        return 0.0
    yy, xx = np.indices(w.shape)
    mx, my = (w * xx).sum() / total, (w * yy).sum() / total
    var = ((w * ((xx - mx) ** 2 + (yy - my) ** 2)).sum() / total) / 2.0
    return float(np.sqrt(max(var, 0.25)))


def _first_moment_sigma(box: np.ndarray, noise: float) -> float:
    """Approximate error of a first-moment centroid: PSF sigma over the integrated S/N.

    Only where the Gaussian fit failed (a trail, a hot pixel). The
    Cramér-Rao bound of a Gaussian centroid in background-limited noise is
    ``sigma_psf / SNR`` with SNR over the optimal area ``4 pi sigma_psf^2``;
    the PSF width comes from the second moments of the positive pixels.
    """
    total = np.clip(np.nan_to_num(box), 0, None).sum()
    if total <= 0:
        return UNREFINED_SIGMA
    sigma_psf = sigma_psf_of(box)
    snr = total / (noise * np.sqrt(4 * np.pi) * sigma_psf)
    return max(sigma_psf / max(snr, 1e-3), CENTROID_SIGMA_FLOOR)
