"""The light curve of a transit host: aperture and comparison ensemble chosen on the night.

A transit's precision is decided by the photometry: an aperture too small
follows the seeing, one too large adds sky noise; a comparison star that
varies, is too faint or sits on a flat-field defect adds its own noise. As
AstroImageJ's and EXOTIC's users do by hand, every candidate aperture is
measured, and for each:

1. the comparison candidates pass the variability test of
   :func:`~fluxion.core.lightcurve.comparison.choose_comparison_stars`
   (judged against the typical candidate, see :func:`_choose`);
2. from that ensemble, stars are dropped one at a time while the target's
   scatter falls by more than its own uncertainty allows to be chance;

and the aperture with the smallest scatter wins. The scatter is the
point-to-point scatter of the target's relative flux (the rms of consecutive
differences over sqrt 2, 5-sigma clipped): the transit changes the flux
between two frames far less than the noise except at its contacts, so every
frame measures the noise, where the out-of-transit frames alone (often two
dozen) would measure it too coarsely to tell apertures apart and would let the
choice chase noise. The choice is explained line by line, and the
per-aperture scatter is kept as a table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..lightcurve.comparison import ComparisonChoice, ComparisonError, choose_comparison_stars
from ..lightcurve.ensemble import point_scatter, prune_ensemble, relative_flux
from ..lightcurve.run import LightCurveParams, Measurement, assemble_light_curve, measure_frames
from ..photometry.noise import NoiseModel
from ..photometry.scintillation import Scintillation
from ..runtime.pipeline import StepState
from .ephemeris import Ephemeris

__all__ = [
    "PhotometryChoice",
    "oot_scatter",
    "point_scatter",
    "out_of_transit",
    "refine_positions",
    "transit_photometry",
]

log = logging.getLogger(__name__)

#: Aperture radii tried, in units of the night's median FWHM.
RADII_FWHM = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
_MARGIN_H = 0.25  # hours added on each side of the predicted transit


@dataclass(frozen=True)
class PhotometryChoice:
    """The chosen photometry and why.

    Attributes
    ----------
    light_curve : Table
        The target's light curve at the chosen aperture and ensemble (as
        ``fluxion lightcurve`` writes it, with fwhm, sky, comp_flux columns).
    radius : float
        Chosen aperture radius (px).
    comparison : tuple of int
        Indices of the chosen comparison stars among the candidates.
    apertures : Table
        Every radius tried: ``radius``, ``radius_fwhm``, ``scatter``, ``n_comparison``.
    comparisons : Table
        Time and each chosen comparison's flux against the others (the
        TFOP comparison-star plot).
    explanation : tuple of str
        The choice in words.
    """

    light_curve: Table
    radius: float
    comparison: tuple[int, ...]
    apertures: Table
    comparisons: Table
    explanation: tuple[str, ...]


def out_of_transit(t: np.ndarray, eph: Ephemeris, duration_h: float | None = None) -> np.ndarray:
    """True where the ephemeris predicts no transit (with a quarter hour of margin)."""
    t = np.asarray(t, dtype=float)
    tc = eph.predict(float(np.median(t))).tc
    dur = duration_h or eph.duration_h or 3.0
    half = (0.5 * dur + _MARGIN_H + 3 * eph.predict(float(np.median(t))).tc_err * 24) / 24.0
    return np.abs(t - tc) > half


def oot_scatter(t: np.ndarray, rel: np.ndarray, oot: np.ndarray) -> float:
    """Scatter of relative flux out of transit about a quadratic in time (5-sigma clipped)."""
    ok = oot & np.isfinite(rel) & np.isfinite(t)
    if ok.sum() < 6:
        return float("nan")
    x = t[ok] - float(np.mean(t[ok]))
    y = rel[ok]
    keep = np.ones(y.size, bool)
    for _ in range(3):
        coef = np.polyfit(x[keep], y[keep], 2 if keep.sum() > 10 else 1)
        r = y - np.polyval(coef, x)
        sd = float(np.std(r[keep]))
        new = np.abs(r) < 5 * sd
        if new.sum() == keep.sum():
            break
        keep = new
    return float(np.std(r[keep]) / np.median(y[keep]))


def _choose(m: Measurement, ref_xy: np.ndarray, radius: float) -> ComparisonChoice:
    """Comparison candidates that pass the variability test, judged against their peers.

    The photometric errors know photon and read noise only; scintillation and
    flat-field errors raise every star's reduced chi-square alike on a real
    night. A star is called variable when its chi-square is well above the
    typical candidate's (3 times the median), not above a fixed number.
    """
    kwargs = dict(
        flags=m.star_flags, target_flux=float(np.nanmedian(m.target_flux)),
        n_comparison=ref_xy.shape[0], isolation_radius=radius, max_delta_mag=3.0,
    )  # fmt: skip
    first = choose_comparison_stars(m.star_flux, m.star_err, ref_xy, max_chi2=np.inf, **kwargs)
    typical = float(np.nanmedian(first.chi2)) if np.any(np.isfinite(first.chi2)) else 1.0
    return choose_comparison_stars(
        m.star_flux, m.star_err, ref_xy, max_chi2=max(4.0, 3.0 * typical), **kwargs
    )


def refine_positions(image: np.ndarray, xy: np.ndarray, box_size: int = 15) -> np.ndarray:
    """Stars' positions centroided in an image (those not found stay where they were).

    Hand-placed regions are often a pixel off; with apertures of one or two
    FWHM that offset makes the flux follow the seeing.
    """
    from ..targets.tracking import refine_click

    out = np.array(xy, dtype=float).reshape(-1, 2)
    for k, (x, y) in enumerate(out):
        r = refine_click(image, x, y, box_size=box_size)
        if r.found and np.hypot(r.x - x, r.y - y) < box_size / 2:
            out[k] = (r.x, r.y)
    return out


def _comparison_table(t: np.ndarray, m: Measurement, comp: Sequence[int]) -> Table:
    out = Table()
    out["t"] = t
    for k in comp:
        others = [c for c in comp if c != k]
        if not others:
            continue
        f = m.star_flux[:, k] / np.sum(m.star_flux[:, others], axis=1)
        out[f"star_{k}"] = f / np.nanmedian(f)
    return out


def transit_photometry(
    load_image: Callable[[int], np.ndarray],
    times: Time,
    target_xy: np.ndarray,
    star_xy: np.ndarray,
    eph: Ephemeris,
    *,
    fwhm: float,
    star_positions: np.ndarray | None = None,
    target: SkyCoord | None = None,
    location: EarthLocation | None = None,
    files: Sequence[str] | None = None,
    noise: NoiseModel | None = None,
    radii_fwhm: Sequence[float] = RADII_FWHM,
    state: StepState | None = None,
    scintillation: Scintillation | None = None,
) -> PhotometryChoice:
    """Measure the target at every candidate aperture and keep the best photometry.

    Parameters
    ----------
    load_image : callable
        ``load_image(i)`` returns frame ``i`` in electrons (it is cached here:
        every aperture reads the frames once).
    times : Time
        Mid-exposure times.
    target_xy : ndarray, shape (n_frames, 2)
        The target in every frame.
    star_xy : ndarray, shape (n_frames, n_stars, 2)
        Comparison candidates in every frame.
    eph : Ephemeris
        Where the transit is expected (left out of the scatter).
    fwhm : float
        The night's typical FWHM (px); radii are multiples of it.
    star_positions : ndarray, shape (n_stars, 2), optional
        Candidates in the reference frame (isolation test); default frame 0's.
    target, location : optional
        For BJD_TDB and airmass in the light curve.
    files : sequence of str, optional
    noise : NoiseModel, optional
    radii_fwhm : sequence of float
        Aperture radii tried, in FWHM.
    state : StepState, optional
    scintillation : Scintillation, optional
        Each frame's scintillation, added to every star's error
        (:func:`~fluxion.core.lightcurve.run.measure_frames`); the light
        curve's meta says whether it was included.

    Raises
    ------
    ComparisonError
        No aperture had a usable comparison ensemble.
    """
    n = len(target_xy)
    cached = lru_cache(maxsize=n)(lambda i: np.asarray(load_image(i), dtype=np.float32))
    ref_xy = star_xy[0] if star_positions is None else np.asarray(star_positions, float)
    t = np.asarray(times.jd, dtype=float)
    # The ephemeris is in BJD_TDB; the frames' JD(UTC) differ by minutes, inside the margin.
    oot = out_of_transit(t + _bjd_offset(times, target, location), eph)
    outer = max(radii_fwhm) * fwhm
    annulus = (outer + 1.5 * fwhm, outer + 4.0 * fwhm)
    rows, best = [], None
    scint = None if scintillation is None else scintillation.sigma
    for k, rf in enumerate(radii_fwhm):
        radius = float(rf * fwhm)
        sub = state.sub(k / len(radii_fwhm), (k + 1) / len(radii_fwhm)) if state else None
        params = LightCurveParams(aperture_radius=radius, annulus_inner=annulus[0],
                                  annulus_outer=annulus[1])  # fmt: skip
        m = measure_frames(cached, target_xy, star_xy, params, noise=noise, state=sub,
                           scintillation=scint)  # fmt: skip
        try:
            choice = _choose(m, ref_xy, radius)
        except ComparisonError as exc:
            log.info("aperture %.1f px: %s", radius, exc)
            rows.append((radius, rf, np.nan, 0))
            continue
        comp = [c for c in choice.comparison] + ([choice.check] if choice.check is not None else [])
        comp, scatter, dropped = prune_ensemble(m, comp)
        rows.append((radius, rf, scatter, len(comp)))
        if np.isfinite(scatter) and (best is None or scatter < best[0]):
            best = (scatter, radius, rf, m, comp, choice, dropped)
    if best is None:
        raise ComparisonError("no aperture gave a usable comparison ensemble")
    scatter, radius, rf, m, comp, choice, dropped = best
    final = ComparisonChoice(tuple(comp), None, choice.rejected, choice.chi2, choice.warnings)
    lc = assemble_light_curve(m, final, times, files=files, target=target, location=location)
    lc.meta["aperture_radius"] = radius
    lc.meta["annulus"] = list(annulus)
    if scintillation is not None:
        lc.meta.update(scintillation.meta())
    apertures = Table(rows=rows, names=("radius", "radius_fwhm", "scatter", "n_comparison"))
    why = [
        f"aperture {radius:.1f} px ({rf:g} FWHM) of {len(rows)} tried: the smallest "
        f"point-to-point scatter, {scatter * 1e3:.2f} ppt (out of transit, about a "
        f"quadratic: {oot_scatter(t, relative_flux(m, comp), oot) * 1e3:.2f} ppt over "
        f"{int(oot.sum())} frames)",
        f"{len(comp)} comparison star(s): {', '.join(str(c) for c in comp)}",
    ]
    for k, before, after in dropped:
        why.append(f"star {k} left out: the scatter fell from {before * 1e3:.2f} to "
                   f"{after * 1e3:.2f} ppt without it")  # fmt: skip
    for k, reason in sorted(choice.rejected.items()):
        why.append(f"star {k} refused: {reason}")
    t_lc = np.asarray(lc["bjd_tdb"]) if np.all(np.isfinite(lc["bjd_tdb"])) else t
    comparisons = _comparison_table(t_lc, m, comp)
    return PhotometryChoice(lc, radius, tuple(comp), apertures, comparisons, tuple(why))


def _bjd_offset(times: Time, target: SkyCoord | None, location: EarthLocation | None) -> float:
    """BJD_TDB - JD(UTC) at the middle of the night (days); 0 without a target."""
    if target is None:
        return 0.0
    from ..lightcurve.differential import light_curve_times

    mid = Time([np.median(times.jd)], format="jd", scale="utc")
    tt = light_curve_times(mid, target, location)
    return float(tt["bjd_tdb"][0] - mid.utc.jd[0])
