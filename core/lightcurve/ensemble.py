"""A differential light curve from a night's stored photometry: a comparison ensemble chosen on it.

A night without a photometric calibration (no catalog offline, a catalog
with two or three stars in the field) still measured every star of every
light at one aperture. Dividing the target's flux by an ensemble of stable
comparison stars cancels the night's extinction and clouds, as AstroImageJ's
users do by hand and EXOTIC does automatically. EXOTIC tries each
comparison candidate and keeps the one whose target curve has the smallest
residual scatter; AstroImageJ's users sum several stars of about the
target's brightness, unsaturated and isolated. Here:

1. the stars of the light with the most sources are found again in every
   light by their sky position (each light's own solution), so a star that
   drifts across the detector stays one candidate;
2. candidates are refused when missed or flagged (saturated, at an edge, a
   bad pixel) in more than a tenth of the lights, crowded, or more than 3 mag
   from the target
   (:func:`~fluxion.core.lightcurve.comparison.choose_comparison_stars`); a
   light that misses a member takes its ensemble from the others, scaled by
   their share of the ensemble's typical flux;
3. the variability test judges each candidate against the ensemble of the
   others, relative to the typical candidate's chi-square (scintillation and
   flat-field errors raise every star's alike on a real night);
4. from the brightest-matching survivors, stars are dropped one at a time
   while the target's point-to-point scatter falls by more than chance
   allows (EXOTIC's criterion, made robust against tuning to the noise).

The errors are each star's photometric error (photons, sky, read noise)
with the frame's scintillation added, through the target and the summed
ensemble: the curve's chi-square about a smooth model is then near 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from ..photometry.scintillation import add_scintillation
from .comparison import ComparisonChoice, ComparisonError, _reduced_chi2, choose_comparison_stars
from .run import Measurement

__all__ = [
    "EnsembleCurve", "stored_measurement", "choose_ensemble", "point_scatter", "relative_flux",
    "prune_ensemble", "renormalised_sum",
]  # fmt: skip

#: Candidates further from the target's brightness than this (mag) are refused.
MAX_DELTA_MAG = 3.0
#: Most stars in an ensemble: beyond a dozen the sum is dominated by its brightest.
MAX_ENSEMBLE = 12
#: A candidate measured cleanly (found, unflagged) in this share of the lights is kept; the
#: lights that miss it take their ensemble from the members they have, renormalised (as
#: AstroImageJ and EXOTIC do): a drifting field loses stars at its edges for part of a night.
MIN_COVERAGE = 0.9
#: The variability test's lowest bar (reduced chi2 against the other candidates); above
#: it, three times the typical candidate's.
MIN_VARIABILITY_CHI2 = 4.0
#: At most this many of the reference light's brightest stars are candidates.
MAX_CANDIDATES = 150
_MIN_GAIN = 0.01  # a star is dropped only when the scatter falls by more than 1 %


@dataclass(frozen=True)
class EnsembleCurve:
    """What :func:`choose_ensemble` chose, and why, for a light curve's notes.

    Attributes
    ----------
    choice : ComparisonChoice
        The ensemble and check star (indices into the measurement's stars).
    scatter : float
        The target's point-to-point relative scatter against the ensemble.
    explanation : list of str
        One line per decision (candidates, refusals, the stars dropped).
    """

    choice: ComparisonChoice
    scatter: float
    explanation: list[str]


def point_scatter(rel: np.ndarray) -> float:
    """Point-to-point scatter of a relative flux series (rms of differences / sqrt 2, clipped).

    A transit changes the flux between two consecutive frames far less than
    the noise, so every frame measures the noise (the out-of-transit frames
    alone would measure it too coarsely to compare ensembles).
    """
    r = np.asarray(rel, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 6:
        return float("nan")
    d = np.diff(r) / np.median(r)
    keep = np.ones(d.size, bool)
    for _ in range(3):
        sd = float(np.std(d[keep]))
        new = np.abs(d - np.median(d)) < 5 * sd
        if new.sum() == keep.sum():
            break
        keep = new
    return float(np.std(d[keep]) / np.sqrt(2.0))


def _unit(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.column_stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])


def stored_measurement(
    tables: Sequence[Table | None],
    target: Table,
    *,
    match_arcsec: float,
    scintillation: np.ndarray | None = None,
    common_err: np.ndarray | None = None,
    fwhm: np.ndarray | None = None,
    sky: np.ndarray | None = None,
) -> tuple[Measurement, np.ndarray]:
    """The target and every star of the night as a :class:`Measurement`, from stored tables.

    Parameters
    ----------
    tables : sequence of Table or None
        Each light's measured sources (``ra``, ``dec``, ``flux``, ``flux_err``,
        ``flags``, ``x``, ``y``), None where a light has none.
    target : Table
        The target's row in each light (``flux``, ``flux_err``, ``flags``,
        ``x``, ``y``, ``ra``, ``dec``), one per table.
    match_arcsec : float
        A star is the same in two lights within this distance on the sky.
    scintillation : ndarray, optional
        Each light's relative scintillation, added to every flux error.
    common_err : ndarray, optional
        Each light's relative error common to all its stars (the aperture
        correction's), taken out of every flux error: it cancels in the ratio
        of the target to the ensemble.
    fwhm, sky : ndarray, optional
        Each light's seeing (px) and sky level, kept for detrending.

    Returns
    -------
    Measurement, ndarray
        The measurement (stars are the reference light's, brightest first;
        ``star_xy`` where each light measured them, NaN where it did not) and
        each star's (x, y) in the reference light.

    Raises
    ------
    ComparisonError
        When no light has sources with sky positions.
    """
    n = len(tables)
    counts = [
        0 if t is None or "ra" not in t.colnames else int(np.isfinite(np.asarray(t["ra"])).sum())
        for t in tables
    ]
    if not any(counts):
        raise ComparisonError("no light has measured stars with sky positions")
    ref = tables[int(np.argmax(counts))]
    assert ref is not None
    ok = np.isfinite(np.asarray(ref["ra"], float)) & np.isfinite(np.asarray(ref["flux"], float))
    ok &= np.asarray(ref["flux"], float) > 0
    t_ra, t_dec = (
        np.nanmedian(np.asarray(target["ra"], float)),
        np.nanmedian(np.asarray(target["dec"], float)),
    )
    rows = np.flatnonzero(ok)
    ref_vec = _unit(np.asarray(ref["ra"], float)[rows], np.asarray(ref["dec"], float)[rows])
    if np.isfinite(t_ra) and np.isfinite(t_dec):
        # The target is measured as the target, not as one of its own comparison stars.
        away = np.degrees(np.arccos(np.clip(ref_vec @ _unit(np.array([t_ra]), np.array([t_dec]))[0],
                                            -1, 1))) * 3600 > match_arcsec  # fmt: skip
        rows, ref_vec = rows[away], ref_vec[away]
    order = np.argsort(-np.asarray(ref["flux"], float)[rows], kind="stable")[:MAX_CANDIDATES]
    rows, ref_vec = rows[order], ref_vec[order]
    k = rows.size
    flux = np.full((n, k), np.nan)
    err = np.full((n, k), np.nan)
    flags = np.zeros((n, k), dtype=np.int64)
    # Each star where each light measured it: the field drifts, and a remeasure follows it.
    xy = np.full((n, k, 2), np.nan)
    radius = 2 * np.sin(np.radians(match_arcsec / 3600.0) / 2)  # chord on the unit sphere
    for i, t in enumerate(tables):
        if t is None or "ra" not in t.colnames or len(t) == 0:
            continue
        ra, dec = np.asarray(t["ra"], float), np.asarray(t["dec"], float)
        good = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
        if good.size == 0:
            continue
        d, j = cKDTree(_unit(ra[good], dec[good])).query(ref_vec, distance_upper_bound=radius)
        found = np.isfinite(d)
        src = good[j[found]]
        flux[i, found] = np.asarray(t["flux"], float)[src]
        err[i, found] = np.asarray(t["flux_err"], float)[src]
        if "flags" in t.colnames:
            flags[i, found] = np.asarray(t["flags"], np.int64)[src]
        if "x" in t.colnames and "y" in t.colnames:
            xy[i, found] = np.column_stack([np.asarray(t["x"], float)[src],
                                            np.asarray(t["y"], float)[src]])  # fmt: skip
    target_flux = np.asarray(target["flux"], float)
    target_err = np.asarray(target["flux_err"], float)
    if common_err is not None:
        c = np.asarray(common_err, float)
        err = np.sqrt(np.maximum(err**2 - (flux * c[:, None]) ** 2, 0.0))
        target_err = np.sqrt(np.maximum(target_err**2 - (target_flux * c) ** 2, 0.0))
    if scintillation is not None:
        sigma = np.asarray(scintillation, float)
        err = add_scintillation(flux, err, sigma[:, None])
        target_err = add_scintillation(target_flux, target_err, sigma)
    m = Measurement(
        target_xy=np.column_stack([np.asarray(target["x"], float), np.asarray(target["y"], float)]),
        target_flux=target_flux,
        target_err=target_err,
        target_flags=np.asarray(target["flags"], np.int64),
        star_xy=xy,
        star_flux=flux,
        star_err=err,
        star_flags=flags,
        target_sky=None if sky is None else np.asarray(sky, float),
        fwhm=None if fwhm is None else np.asarray(fwhm, float),
    )
    return m, np.column_stack(
        [np.asarray(ref["x"], float)[rows], np.asarray(ref["y"], float)[rows]]
    )


def renormalised_sum(ens: np.ndarray) -> np.ndarray:
    """Each frame's ensemble flux from the members it has, scaled to the whole ensemble.

    ``ens`` is (n_frames, n_members), NaN where a frame misses a member. The
    members' sum is divided by their share of the ensemble's typical flux
    (each member's median), so a frame that lost a member does not step
    down; NaN for a frame with none.
    """
    ens = np.asarray(ens, dtype=float)
    seen = np.isfinite(ens)
    typical = np.zeros(ens.shape[1])
    has = seen.any(axis=0)
    typical[has] = np.nanmedian(ens[:, has], axis=0)
    share = (seen * typical[None, :]).sum(axis=1)
    total = np.full(ens.shape[0], np.nan)
    ok = share > 0
    total[ok] = np.nansum(ens[ok], axis=1) * typical.sum() / share[ok]
    return total


def relative_flux(m: Measurement, comp: Sequence[int], *, per_frame: bool = False) -> np.ndarray:
    """The target's flux over the sum of the stars ``comp``, a frame.

    A frame that lost a member would jump: without ``per_frame`` it is NaN
    (left out of the scatter). With ``per_frame`` its ensemble is the members
    it has, scaled up by the missing members' share (:func:`renormalised_sum`),
    as :func:`~fluxion.core.lightcurve.differential.differential_magnitudes` does.
    """
    usable = (m.star_flags == 0) & np.isfinite(m.star_flux)
    ens = np.where(usable[:, list(comp)], m.star_flux[:, list(comp)], np.nan)
    if per_frame:
        return m.target_flux / renormalised_sum(ens)
    total = np.sum(ens, axis=1)
    total[np.any(~np.isfinite(ens), axis=1)] = np.nan
    return m.target_flux / total


def prune_ensemble(
    m: Measurement, comp: Sequence[int], *, per_frame: bool = False
) -> tuple[list[int], float, list[tuple[int, float, float]]]:
    """Drop comparison stars while the target's scatter falls by more than chance would.

    The scatter of n points is itself uncertain by about 1/sqrt(2 n); a star
    is dropped only when leaving it out lowers the scatter by twice that, so
    the ensemble is not tuned to one night's noise (EXOTIC keeps the
    comparison that gives the smallest scatter, whatever the margin).

    Returns
    -------
    comp : list of int
        The stars kept.
    scatter : float
        The target's point-to-point scatter against them.
    dropped : list of (int, float, float)
        Each star left out, with the scatter before and after.
    """
    comp = list(comp)
    best = point_scatter(relative_flux(m, comp, per_frame=per_frame))
    n = int(np.isfinite(relative_flux(m, comp, per_frame=per_frame)).sum())
    needed = max(_MIN_GAIN, 2.0 / np.sqrt(2.0 * max(n, 1)))
    dropped = []
    while len(comp) > 1:
        trials = [
            (point_scatter(relative_flux(m, [c for c in comp if c != k], per_frame=per_frame)), k)
            for k in comp
        ]
        trials = [(s, k) for s, k in trials if np.isfinite(s)]
        if not trials:
            break
        s, k = min(trials)
        if not s < best * (1 - needed):
            break
        dropped.append((k, best, s))
        comp = [c for c in comp if c != k]
        best = s
    return comp, best, dropped


def _chi2_among(m: Measurement, stars: Sequence[int]) -> np.ndarray:
    """Each star's reduced chi2 against the ensemble of the others (cleanly measured lights)."""
    flux = np.where((m.star_flags == 0) & (m.star_flux > 0), m.star_flux, np.nan)[:, stars]
    err = np.asarray(m.star_err, float)[:, stars]
    out = np.full(len(stars), np.nan)
    for i in range(len(stars)):
        rest = np.arange(len(stars)) != i
        out[i] = _reduced_chi2(flux[:, i], err[:, i], flux[:, rest], err[:, rest])
    return out


def choose_ensemble(
    m: Measurement,
    star_xy: np.ndarray,
    isolation_px: float,
    *,
    extended: np.ndarray | None = None,
    target_path: np.ndarray | None = None,
    path_clearance: float | None = None,
) -> EnsembleCurve:
    """The comparison ensemble of a stored measurement, and why (see the module's steps).

    Parameters
    ----------
    m : Measurement
    star_xy : ndarray, shape (n_stars, 2)
        The stars' positions in one light, for the isolation test.
    isolation_px : float
        A candidate with another measured star closer than this is refused.
    extended : ndarray of bool, optional
        Candidates that are extended sources (a galaxy's core): refused.
    target_path : ndarray, shape (n_lights, 2), optional
        A moving target's path in ``star_xy``'s pixels: a candidate it passes
        closer than ``path_clearance`` (default ``isolation_px``) is refused.

    Raises
    ------
    ComparisonError
        When no candidate passes.
    """
    target_flux = float(np.nanmedian(m.target_flux))

    def choose(exclude: Sequence[int] = ()) -> ComparisonChoice:
        return choose_comparison_stars(
            m.star_flux, m.star_err, star_xy, flags=m.star_flags, target_flux=target_flux,
            n_comparison=MAX_ENSEMBLE, isolation_radius=isolation_px,
            max_delta_mag=MAX_DELTA_MAG, max_chi2=np.inf, min_coverage=MIN_COVERAGE,
            exclude=exclude, extended=extended, target_path=target_path,
            path_clearance=path_clearance,
        )  # fmt: skip

    # The variability test, worst first: the worst candidate is variable when its
    # chi2 against the others is above 3x the typical chi2 of the others judged
    # without it (errors a little off for every star raise them all alike). A
    # bar from every candidate's chi2 at once let variables through: a nova
    # brightening 3x sits in every other candidate's ensemble and lifts every
    # chi2 with it (1422 typical on a simulated night, ~1 without it).
    pool = [k for k in range(m.star_flux.shape[1]) if k not in choose().rejected]
    variable: dict[int, float] = {}
    limit, typical = MIN_VARIABILITY_CHI2, 1.0
    while len(pool) >= 3:
        chi2 = _chi2_among(m, pool)
        if not np.any(np.isfinite(chi2)):
            break
        worst = pool[int(np.nanargmax(chi2))]
        rest = [k for k in pool if k != worst]
        others = _chi2_among(m, rest)
        typical = float(np.nanmedian(others)) if np.any(np.isfinite(others)) else 1.0
        limit = max(MIN_VARIABILITY_CHI2, 3.0 * typical)
        if not float(np.nanmax(chi2)) > limit:
            break
        variable[worst] = float(np.nanmax(chi2))
        pool = rest
    choice = choose(list(variable))
    for k, value in variable.items():
        choice.rejected[k] = f"variable in the sequence (reduced chi2 {value:.1f})"
    comp = list(choice.comparison)
    if choice.check is not None and len(comp) < MAX_ENSEMBLE:
        # Few candidates: the check star is worth more in the ensemble than as a control.
        comp.append(choice.check)
    comp, best, dropped = prune_ensemble(m, comp, per_frame=True)
    reasons: dict[str, int] = {}
    for why in choice.rejected.values():
        key = why.split(" (")[0]
        reasons[key] = reasons.get(key, 0) + 1
    lines = [
        f"{len(choice.chi2)} candidate stars measured in the lights; refused: "
        + (", ".join(f"{v} {k}" for k, v in sorted(reasons.items())) or "none"),
        f"variability test: chi2/N against the others above {limit:.1f} "
        f"(3 x the typical candidate's {typical:.2f}) is variable",
    ]
    lines += [
        f"star {k} left out: the target's scatter {a * 1e3:.2f} -> {b * 1e3:.2f} ppt"
        for k, a, b in dropped
    ]
    lines.append(
        f"ensemble of {len(comp)} stars; the target's point-to-point scatter {best * 1e3:.2f} ppt"
    )
    final = ComparisonChoice(
        tuple(comp), choice.check if choice.check not in comp else None, choice.rejected,
        choice.chi2, choice.warnings,
    )  # fmt: skip
    return EnsembleCurve(final, best, lines)
