"""Per-pixel noise of a frame for centroid fits: sky noise plus the stars' photon noise.

A fit without a noise map has its position errors set by the residuals over
the whole fit box, mostly sky; a bright undersampled star has its light, and
so its photon noise, in two or three of those pixels, and its errors come out
two to three times too small (simulated 0.6 x 0.9 px stars above 20000 e-).
The map sigma^2 = rms_sky^2 + max(model, 0) / gain weights each pixel by what
it can tell and makes the errors absolute.

The gain (e- per image unit) is the header's or the instrument profile's when
known. Otherwise it is estimated from the sky, whose level in electrons is
its variance: gain = level / rms^2. That assumes the bias is removed (it is
in calibrated frames; a bias left in overestimates the gain, i.e.
underestimates the photon noise) and that the sky's photon noise dominates
its rms: read noise and the noise of the calibration frames make the
estimate low and the bright stars' errors too large (a simulated night at
1.5 e-/ADU, 7 e- read noise and a dark sky gives 0.43; its WCS is as good
as with the true gain, 0.025-0.027 px over the field either way).

Measuring the gain from the fit's own residuals was tried and left out: on
real undersampled frames (the EY UMa thumbnail) the residuals of the stars'
wings, light that a Gaussian PRF does not model, grow in proportion to the
flux and would pass for a gain of 0.006, inflating every error tenfold.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.stats import mad_std

__all__ = ["gain_from_sky", "noise_map", "sky_rms"]


def _positive(value) -> float:
    try:
        v = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
    return v if math.isfinite(v) and v > 0 else math.nan


def sky_rms(image: np.ndarray, bad: np.ndarray | None = None, meta: dict | None = None) -> float:
    """The frame's sky noise (image units): detection's when it measured it, else robust.

    Parameters
    ----------
    image : ndarray
        Background-subtracted image.
    bad : ndarray of bool, optional
        Pixels left out.
    meta : dict, optional
        A source table's meta; ``sky_noise`` (sep's global rms, which
        Fluxion's detection stores) is used when present and positive.
    """
    rms = _positive((meta or {}).get("sky_noise"))
    if math.isfinite(rms):
        return rms
    pixels = image[~bad] if bad is not None else image.ravel()
    pixels = pixels[np.isfinite(pixels)]
    # The MAD of the whole frame is the sky's: stars cover a small part of it.
    return float(mad_std(pixels)) if len(pixels) else math.nan


def gain_from_sky(level: float, rms: float) -> float | None:
    """The gain (e- per image unit) that makes the sky's noise its photon noise.

    Parameters
    ----------
    level : float
        Sky level above the bias (image units).
    rms : float
        Sky noise (image units).

    Returns
    -------
    float or None
        level / rms^2; None when either is not positive and finite.
    """
    level, rms = _positive(level), _positive(rms)
    if not (math.isfinite(level) and math.isfinite(rms)):
        return None
    return level / rms**2


def noise_map(
    model: np.ndarray, background_rms: float | np.ndarray, gain: float | None
) -> np.ndarray:
    """1-sigma noise of each pixel: sqrt(background_rms^2 + max(model, 0) / gain).

    Parameters
    ----------
    model : ndarray
        The stars' model image (background-subtracted, image units).
    background_rms : float or ndarray
        Sky noise (image units), one value or a map of ``model``'s shape.
    gain : float or None
        e- per image unit; None or infinite leaves the stars' photon noise out.
    """
    var = np.broadcast_to(np.asarray(background_rms, float) ** 2, model.shape).copy()
    if gain is not None and math.isfinite(gain) and gain > 0:
        var += np.clip(model, 0.0, None) / gain
    return np.sqrt(var)
