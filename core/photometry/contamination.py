"""Light of neighbouring stars in an aperture and its sky annulus.

A star a few FWHM from a source puts its wings into the source's aperture
(the source comes out bright) and into the sky annulus (the sky comes out
high, the source faint). Which wins depends on where the neighbour stands:
between the aperture and the annulus (the classroom demo's asteroid passing
a V = 12.4 star 9.8 px away), the aperture's share wins and the asteroid was
0.03-0.18 mag bright, unflagged, because the geometric test flags only a star
inside the aperture.

:func:`neighbour_contamination` models each neighbour as a Moffat profile of
the frame's FWHM with the flux measured in its own aperture, and returns the
bias it puts on the source's aperture flux: its light in the aperture minus
the aperture's area times the shift it gives the annulus's median. The shift
of a median is not the mean of the added light: a pixel far above the noise
only moves the median by one rank, so the expected median of the annulus's
pixels (each the sky noise plus the neighbour's light) is solved for instead.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from .sums import circle_sums

__all__ = ["CONTAMINATION_FRACTION", "CONTAMINATION_MODEL_ERROR", "neighbour_contamination"]

#: A source is CONTAMINATED when its neighbours' bias exceeds this fraction of its error.
CONTAMINATION_FRACTION = 0.5
#: Relative error of the modelled bias (a Moffat beta = 3 for the true wings, the
#: neighbour's flux from its own aperture): on the classroom demo the subtracted
#: bias of 1-13 sigma left residuals within 1.6 sigma.
CONTAMINATION_MODEL_ERROR = 0.2

# Stars beyond this many FWHM outside the annulus put nothing measurable in it.
_REACH_FWHM = 6.0


def _alpha(fwhm: float, beta: float) -> float:
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def _median_shift(light: np.ndarray, sigma: float) -> float:
    """Expected shift of the median of pixels ``noise(sigma) + light`` over ``light = 0``."""
    light = light[np.isfinite(light)]
    if sigma > 0:
        # The annulus's 3-sigma clipping drops the pixels the star lifts far above
        # the noise: they leave the median where it was (annulus_sky).
        light = light[light < 3.0 * sigma]
    if light.size == 0 or not np.any(light > 0):
        return 0.0
    if not sigma > 0:
        return float(np.median(light))

    def excess(s: float) -> float:
        return float(np.mean(ndtr((s - light) / sigma))) - 0.5

    hi = float(light.max())
    return brentq(excess, 0.0, hi) if excess(hi) > 0 else hi


def neighbour_contamination(
    positions: np.ndarray,
    radius: float,
    annulus: tuple[float, float] | None,
    neighbours: np.ndarray,
    neighbour_flux: np.ndarray,
    fwhm: float,
    sky_rms: np.ndarray | float,
    *,
    beta: float = 3.0,
) -> np.ndarray:
    """The bias (e-) that neighbouring stars put on each position's aperture flux.

    Parameters
    ----------
    positions : ndarray (n, 2)
        Measured sources (x, y px).
    radius, annulus : float, (float, float) or None
        Aperture radius and sky annulus radii (px) of the measurement; None:
        the aperture alone (a sky that left the neighbours' wings out, as the
        photometry step's does).
    neighbours : ndarray (m, 2)
        Other stars (x, y px); one within 0.5 px of a position is that source itself.
    neighbour_flux : ndarray (m,)
        Their fluxes (e-) in an aperture of ``radius`` (non-finite or negative: none).
    fwhm : float
        The frame's FWHM (px).
    sky_rms : float or ndarray (n,)
        Sky noise per pixel (e-) of each position's annulus.
    beta : float
        Moffat index of the profile's wings.

    Returns
    -------
    ndarray (n,)
        Light in the aperture minus area times the annulus median's shift (e-):
        positive when the source is measured too bright. Zero without
        neighbours or a usable FWHM.
    """
    pos = np.asarray(positions, float).reshape(-1, 2)
    out = np.zeros(len(pos))
    nb = np.asarray(neighbours, float).reshape(-1, 2)
    flux = np.nan_to_num(np.asarray(neighbour_flux, float).ravel(), nan=0.0).clip(0.0)
    if not len(pos) or not len(nb) or not (np.isfinite(fwhm) and fwhm > 0):
        return out
    alpha = _alpha(fwhm, beta)
    # Aperture flux to total flux: the Moffat profile's encircled energy.
    total = flux / (1.0 - (1.0 + radius**2 / alpha**2) ** (1.0 - beta))
    norm = (beta - 1.0) / (np.pi * alpha**2)
    rms = np.broadcast_to(np.asarray(sky_rms, float), (len(pos),))
    outer = annulus[1] if annulus is not None else radius
    reach = outer + _REACH_FWHM * fwhm
    half = int(np.ceil(outer)) + 1
    for i, (x, y) in enumerate(pos):
        d = np.hypot(nb[:, 0] - x, nb[:, 1] - y)
        near = (d > 0.5) & (d < reach) & (total > 0)
        if not near.any() or not np.isfinite(x + y):
            continue
        # The neighbours' light on a box of pixels around the source, at pixel centres.
        x0, y0 = int(np.floor(x)) - half, int(np.floor(y)) - half
        yy, xx = np.mgrid[y0 : y0 + 2 * half + 1, x0 : x0 + 2 * half + 1].astype(float)
        model = np.zeros(xx.shape)
        for (nx, ny), f in zip(nb[near], total[near], strict=True):
            r2 = ((xx - nx) ** 2 + (yy - ny) ** 2) / alpha**2
            model += f * norm * (1.0 + r2) ** -beta
        local = np.array([[x - x0, y - y0]])
        in_aperture = float(circle_sums(model, local, radius)[0])
        if annulus is None:
            out[i] = in_aperture
            continue
        r = np.hypot(xx - x, yy - y)
        ring = (r >= annulus[0]) & (r <= annulus[1])
        shift = _median_shift(model[ring], float(rms[i]))
        out[i] = in_aperture - np.pi * radius**2 * shift
    return out
