"""Forced photometry at a fixed position, with an upper limit where nothing is there.

At a target's known position (a nova's, a GRB afterglow's) the flux is a
linear fit of the frame's PSF with the centre held fixed: the "optimal"
(PSF-weighted) estimator

    flux = sum(P (D - sky) / V) / sum(P^2 / V),   var(flux) = 1 / sum(P^2 / V)

where ``P`` is the PSF, ``V`` each pixel's variance (the sky's, measured in an
annulus, plus the source's own Poisson noise). It is unbiased at any flux,
zero and negative included, so a non-detection still has a flux and an error,
and the limiting flux is ``n_sigma`` times the error with no source. The sky's
own uncertainty (a median of the annulus) is added to the error.

A source counts as detected when ``flux / flux_err >= n_sigma``; its limiting
magnitude is ``zero_point - 2.5 log10(n_sigma * sigma0)`` where ``sigma0`` is
the error at zero flux. With a zero point the magnitudes are calibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table

from ..photometry.epsf import EffectivePSF
from ..photometry.noise import MAG_PER_LN
from ..runtime.params import param

__all__ = [
    "ForcedParams",
    "forced_photometry",
    "magnitudes_and_limits",
    "FORCED_COLUMNS",
]


#: Columns of :func:`forced_photometry`'s table.
FORCED_COLUMNS = (
    "x", "y", "flux", "flux_err", "snr", "sky", "sky_noise",
    "mag", "mag_err", "limit_mag", "detected", "flags",
)  # fmt: skip


@dataclass(frozen=True)
class ForcedParams:
    """Parameters of forced photometry."""

    n_sigma: float = param(
        5.0,
        label="Detection and limit",
        unit="sigma",
        help="A source is detected at this S/N; the limiting magnitude is this many "
        "times the noise (3 or 5 are usual).",
        minimum=1.0,
        maximum=100.0,
    )
    fit_radius: float = param(
        2.0,
        label="Fit radius",
        unit="FWHM",
        help="Pixels within this distance enter the PSF fit.",
        minimum=0.5,
        maximum=10.0,
    )
    sky_annulus: tuple[float, float] = param(
        (4.0, 7.0),
        label="Sky annulus",
        unit="FWHM",
        help="Inner and outer radius of the ring where the local sky is measured.",
    )


def _box(x: float, y: float, r: float, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    ny, nx = shape
    x0, x1 = max(int(math.floor(x - r)), 0), min(int(math.ceil(x + r)) + 1, nx)
    y0, y1 = max(int(math.floor(y - r)), 0), min(int(math.ceil(y + r)) + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _one(
    data: np.ndarray,
    bad: np.ndarray,
    x: float,
    y: float,
    psf: EffectivePSF,
    gain: float | None,
    params: ForcedParams,
    variance: np.ndarray | None,
) -> tuple[float, float, float, float, float, int]:
    """flux, flux_err, sigma0 (error at zero flux), sky, sky_noise, flags of one position."""
    fwhm = psf.fwhm
    r_in, r_out = params.sky_annulus[0] * fwhm, params.sky_annulus[1] * fwhm
    box = _box(x, y, r_out, data.shape)
    if box is None:
        return (math.nan,) * 5 + (1,)
    d = data[box]
    b = bad[box] | ~np.isfinite(d)
    yy, xx = np.mgrid[box[0], box[1]]
    r = np.hypot(xx - x, yy - y)
    ring = (r >= r_in) & (r <= r_out) & ~b
    flags = 0
    if ring.sum() < 10:
        return (math.nan,) * 5 + (1,)
    _, sky, sky_noise = sigma_clipped_stats(d[ring], sigma=3.0)
    sky, sky_noise = float(sky), float(sky_noise)
    fit = (r <= params.fit_radius * fwhm) & ~b
    if (r <= params.fit_radius * fwhm).sum() > fit.sum():
        flags |= 2  # masked pixels in the fit region
    if fit.sum() < 3:
        return math.nan, math.nan, math.nan, sky, sky_noise, flags | 1
    # The PSF on the box's pixel grid, centred on the position.
    size = 2 * int(math.ceil(params.fit_radius * fwhm)) + 3
    cx, cy = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
    stamp = psf.stamp(size, x - cx, y - cy)
    half = size // 2
    p = np.zeros(d.shape)
    sy0, sx0 = cy - half - box[0].start, cx - half - box[1].start
    ys = slice(max(sy0, 0), min(sy0 + size, d.shape[0]))
    xs = slice(max(sx0, 0), min(sx0 + size, d.shape[1]))
    p[ys, xs] = stamp[ys.start - sy0 : ys.stop - sy0, xs.start - sx0 : xs.stop - sx0]
    pf = p[fit]
    resid = d[fit] - sky
    base = variance[box][fit] if variance is not None else np.full(pf.shape, sky_noise**2)
    base = np.where(np.isfinite(base) & (base > 0), base, sky_noise**2)
    v = base
    flux = float(np.sum(pf * resid / v) / np.sum(pf**2 / v))
    sigma0 = float(1.0 / math.sqrt(np.sum(pf**2 / base)))
    if gain is not None and gain > 0 and flux > 0:
        # The source's own shot noise, then the fit again with those weights.
        v = base + flux * pf / gain
        flux = float(np.sum(pf * resid / v) / np.sum(pf**2 / v))
        v = base + max(flux, 0.0) * pf / gain
    info = float(np.sum(pf**2 / v))
    err2 = 1.0 / info
    # The sky is a median of the ring: its error (1.25 sigma/sqrt(n)) moves the
    # flux by sum(P/V)/sum(P^2/V) times itself.
    sky_err = 1.2533 * sky_noise / math.sqrt(ring.sum())
    lever = float(np.sum(pf / v) / info)
    err2 += (lever * sky_err) ** 2
    sigma0 = math.hypot(sigma0, float(np.sum(pf / base)) / float(np.sum(pf**2 / base)) * sky_err)
    return flux, math.sqrt(err2), sigma0, sky, sky_noise, flags


def forced_photometry(
    image: np.ndarray,
    positions: np.ndarray,
    psf: EffectivePSF,
    *,
    mask: np.ndarray | None = None,
    gain: float | None = None,
    zero_point: float | None = None,
    zero_point_err: float = 0.0,
    variance: np.ndarray | None = None,
    params: ForcedParams | None = None,
) -> Table:
    """PSF fluxes at fixed positions, with limiting magnitudes.

    Parameters
    ----------
    image : ndarray
        The frame (or stack, or difference image), with its sky.
    positions : ndarray (N, 2)
        0-based (x, y).
    psf : EffectivePSF
        The frame's PSF (its ``fwhm`` sets the fit radius and sky annulus).
    mask : ndarray of bool, optional
        Pixels to leave out.
    gain : float, optional
        e- per image unit, for the source's own shot noise.
    zero_point, zero_point_err : float, optional
        Magnitude of unit flux and its error; without it magnitudes are
        instrumental (``-2.5 log10 flux``).
    variance : ndarray, optional
        Each pixel's background variance (image units squared), e.g. of a
        difference image; default: the annulus's measured scatter.
    params : ForcedParams, optional

    Returns
    -------
    Table
        :data:`FORCED_COLUMNS`; ``flags`` bit 1: no measurement (off the frame
        or masked), bit 2: masked pixels in the fit.
    """
    p = params or ForcedParams()
    data = np.asarray(image, dtype=np.float64)
    bad = np.zeros(data.shape, bool) if mask is None else np.asarray(mask, bool)
    pos = np.atleast_2d(np.asarray(positions, dtype=float))
    rows = [_one(data, bad, float(x), float(y), psf, gain, p, variance) for x, y in pos]
    arr = np.array([r[:5] for r in rows], dtype=float).reshape(-1, 5)
    t = Table()
    t["x"], t["y"] = pos[:, 0], pos[:, 1]
    t["flux"], t["flux_err"] = arr[:, 0], arr[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        t["snr"] = arr[:, 0] / arr[:, 1]
    t["sky"], t["sky_noise"] = arr[:, 3], arr[:, 4]
    mag, mag_err, limit, detected = magnitudes_and_limits(
        arr[:, 0], arr[:, 1], arr[:, 2], zero_point, zero_point_err, p.n_sigma
    )
    t["mag"], t["mag_err"], t["limit_mag"], t["detected"] = mag, mag_err, limit, detected
    t["flags"] = np.array([r[5] for r in rows], dtype=np.int64)
    t.meta["n_sigma"] = p.n_sigma
    t.meta["calibrated"] = zero_point is not None and math.isfinite(zero_point)
    return t


def magnitudes_and_limits(
    flux: np.ndarray,
    flux_err: np.ndarray,
    sigma0: np.ndarray,
    zero_point: float | None,
    zero_point_err: float,
    n_sigma: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude and error where detected (NaN elsewhere), limiting magnitude, detected flag.

    ``sigma0`` is the flux error with no source (the limit's noise).
    """
    zp = float(zero_point) if zero_point is not None and math.isfinite(zero_point) else 0.0
    flux = np.asarray(flux, float)
    flux_err = np.asarray(flux_err, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        detected = np.isfinite(flux) & (flux >= n_sigma * flux_err) & (flux_err > 0)
        mag = np.where(detected, zp - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan)
        mag_err = np.where(detected, np.hypot(MAG_PER_LN * flux_err / flux, zero_point_err), np.nan)
        s0 = np.asarray(sigma0, float)
        limit = np.where(s0 > 0, zp - 2.5 * np.log10(n_sigma * np.where(s0 > 0, s0, 1.0)), np.nan)
    return mag, mag_err, limit, detected
