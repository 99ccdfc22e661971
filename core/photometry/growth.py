"""The Photometry Pipeline's curve-of-growth choice of the aperture radius.

Fluxes are measured in a range of radii for the field stars (and the target
when there is one). The optimum radius is the smallest at which both curves
pass 70% of their plateau and differ by less than 5% (Mommert 2017, PP's
``pp_photometry``); with no target only the field curve counts. The curves and
the rule are kept for the diagnostics plot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from photutils.aperture import CircularAperture, aperture_photometry

from .aperture import measure_apertures
from .noise import NoiseModel

__all__ = ["CurveOfGrowth", "curve_of_growth", "optimum_radius"]

RULE = (
    "smallest radius at which the field (and target) curves pass {min_fraction:.0%} "
    "of their plateau and differ by less than {max_difference:.0%}"
)


@dataclass(frozen=True)
class CurveOfGrowth:
    """Fractional flux against aperture radius, and the radius chosen from it."""

    radii: np.ndarray
    """Aperture radii (px)."""
    field_fraction: np.ndarray
    """Median fractional flux of the field stars at each radius (plateau = 1)."""
    field_snr_fraction: np.ndarray
    """Median S/N of the field stars relative to its maximum."""
    target_fraction: np.ndarray | None
    """Fractional flux of the target, or None without a target."""
    target_snr_fraction: np.ndarray | None
    """S/N of the target relative to its maximum, or None."""
    n_field_stars: int
    """How many field stars the median is taken over."""
    optimum_radius: float
    """The radius chosen by the rule (px)."""
    rule: str
    """The rule, in words, for the plot caption."""

    def aperture_correction(self, radius: float) -> float:
        """Factor from the flux in ``radius`` to the flux at the plateau."""
        frac = float(np.interp(radius, self.radii, self.field_fraction))
        return 1.0 / frac if frac > 0 else float("nan")


def optimum_radius(
    radii: np.ndarray,
    field_fraction: np.ndarray,
    target_fraction: np.ndarray | None = None,
    *,
    min_fraction: float = 0.7,
    max_difference: float = 0.05,
) -> float:
    """Apply PP's rule to the curves; the largest radius when no radius passes it."""
    ok = np.asarray(field_fraction) >= min_fraction
    if target_fraction is not None:
        t = np.asarray(target_fraction)
        ok &= (t >= min_fraction) & (np.abs(t - field_fraction) < max_difference)
    hits = np.flatnonzero(ok)
    return float(radii[hits[0]] if hits.size else radii[-1])


def _fractions(table_fluxes: np.ndarray) -> np.ndarray:
    """Each row divided by its plateau (mean of the three largest radii)."""
    plateau = np.mean(table_fluxes[:, -3:], axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return table_fluxes / plateau


def curve_of_growth(
    image: np.ndarray,
    field_positions: np.ndarray,
    radii: np.ndarray,
    annulus: tuple[float, float],
    *,
    target_position: tuple[float, float] | None = None,
    noise: NoiseModel | None = None,
    mask: np.ndarray | None = None,
    saturation: float | None = None,
    min_fraction: float = 0.7,
    max_difference: float = 0.05,
    max_stars: int = 200,
) -> CurveOfGrowth:
    """Measure the curves of growth and choose the aperture radius.

    Parameters
    ----------
    image : ndarray
        Frame in electrons.
    field_positions : ndarray, shape (N, 2)
        Candidate field stars (x, y); the clean, bright ones are used.
    radii : ndarray
        Increasing aperture radii (px); all must be inside ``annulus``.
    annulus : (float, float)
        Sky annulus radii (px), shared by all radii so that only the
        aperture changes along the curve.
    target_position : (float, float), optional
        The target, e.g. a moving object, whose own curve must agree.
    noise, mask, saturation
        As for :func:`measure_apertures`.
    min_fraction, max_difference : float
        PP's thresholds: 70% of the plateau and 5% agreement.
    max_stars : int
        At most this many of the highest-S/N clean field stars are used.

    Returns
    -------
    CurveOfGrowth
    """
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or radii.size < 3 or np.any(np.diff(radii) <= 0):
        raise ValueError("radii must be at least three increasing values")
    pos = np.asarray(field_positions, dtype=np.float64).reshape(-1, 2)
    # Stars come brightest first (detection order); more than a few hundred
    # only cost time.
    pos = pos[: 2 * max_stars]
    if target_position is not None:
        pos = np.vstack([pos, np.asarray(target_position, dtype=np.float64)[None, :]])
    # Sky, flags and the noise model once, at the largest radius (the
    # strictest for edge and contamination); then all radii in one pass.
    base = measure_apertures(
        image, pos, radii[-1], annulus, noise=noise, mask=mask, saturation=saturation
    )
    flags = np.asarray(base["flags"])
    data = np.asarray(image, dtype=np.float64)
    bad = ~np.isfinite(data) if mask is None else (~np.isfinite(data) | mask)
    clean = np.where(bad, 0.0, data)
    sigma = np.sqrt(np.where(bad, 0.0, (noise or NoiseModel()).variance(clean)))
    apertures = [CircularAperture(pos, r=r) for r in radii]
    phot = aperture_photometry(clean, apertures, error=sigma, mask=bad)
    sky = np.asarray(base["sky"])
    sky_err = np.asarray(base["sky_err"])
    fluxes, errs = [], []
    for k, ap in enumerate(apertures):
        area = np.atleast_1d(ap.area_overlap(clean, mask=bad))
        fluxes.append(np.asarray(phot[f"aperture_sum_{k}"]) - sky * area)
        errs.append(np.hypot(np.asarray(phot[f"aperture_sum_err_{k}"]), area * sky_err))
    flux = np.array(fluxes).T
    err = np.array(errs).T
    snr = flux / err
    target_frac = target_snr = None
    if target_position is not None:
        target_frac = _fractions(flux[-1:])[0]
        target_snr = snr[-1] / np.nanmax(snr[-1])
        flux, snr, flags = flux[:-1], snr[:-1], flags[:-1]
    good = (flags == 0) & np.all(np.isfinite(flux), axis=1) & (flux[:, -1] > 0)
    good &= snr[:, -1] > 20
    idx = np.flatnonzero(good)
    idx = idx[np.argsort(snr[idx, -1])[::-1][:max_stars]]
    if idx.size == 0:
        raise ValueError(
            "no clean field star with S/N > 20 for the curve of growth; "
            "give a fixed aperture radius instead"
        )
    field = np.nanmedian(_fractions(flux[idx]), axis=0)
    field_snr = np.nanmedian(snr[idx] / np.nanmax(snr[idx], axis=1, keepdims=True), axis=0)
    best = optimum_radius(
        radii, field, target_frac, min_fraction=min_fraction, max_difference=max_difference
    )
    return CurveOfGrowth(
        radii=radii,
        field_fraction=field,
        field_snr_fraction=field_snr,
        target_fraction=target_frac,
        target_snr_fraction=target_snr,
        n_field_stars=int(idx.size),
        optimum_radius=best,
        rule=RULE.format(min_fraction=min_fraction, max_difference=max_difference),
    )
