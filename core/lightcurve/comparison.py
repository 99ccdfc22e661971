"""Automatic choice of comparison and check stars for differential photometry.

A good comparison star is measured cleanly in every frame (present, unflagged,
isolated), is about as bright as the target (so that its noise does not dominate
and it stays in the detector's linear range) and of similar colour (so that
differential extinction and the colour term cancel), and does not vary during
the sequence. The last test is made on the sequence itself: each candidate is
compared with the ensemble of the others, and a candidate whose differential
light curve scatters more than its errors allow (reduced chi-square) is
dropped, iterating because one variable star also corrupts the ensemble.

The check star is the best remaining candidate; its light curve against the
same ensemble is the control that shows the photometry is flat when it should
be (the Photometry Pipeline's control star).

For asteroids, "similar colour" means solar colour: :data:`SOLAR_COLOURS`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["ComparisonChoice", "ComparisonError", "choose_comparison_stars", "SOLAR_COLOURS"]

log = logging.getLogger(__name__)

#: Colours of the Sun (mag), for choosing comparison stars of asteroids.
#: B-V and V-R from Ramírez et al. (2012, ApJ 752, 5); g-r and r-i from
#: Willmer (2018, ApJS 236, 47), SDSS AB.
SOLAR_COLOURS = {"B-V": 0.653, "V-R": 0.356, "g-r": 0.46, "r-i": 0.12, "BP-RP": 0.82}


class ComparisonError(ValueError):
    """No usable comparison star; the message says which criterion failed."""


@dataclass(frozen=True)
class ComparisonChoice:
    """The chosen ensemble and check star, with why the others were refused.

    Attributes
    ----------
    comparison : tuple of int
        Indices (into the candidate list) of the comparison ensemble.
    check : int or None
        Index of the check star, or None when no candidate was left for it.
    rejected : dict of int to str
        Reason each refused candidate was refused.
    chi2 : ndarray
        Reduced chi-square of each candidate against the ensemble of the other
        good candidates (NaN when not tested).
    warnings : tuple of str
        What the user should know, e.g. that fewer than three good candidates
        left the variability test impossible.
    """

    comparison: tuple[int, ...]
    check: int | None
    rejected: dict[int, str]
    chi2: np.ndarray
    warnings: tuple[str, ...] = ()


def choose_comparison_stars(
    flux: np.ndarray,
    flux_err: np.ndarray,
    positions: np.ndarray,
    *,
    flags: np.ndarray | None = None,
    target_flux: float | None = None,
    colour: np.ndarray | None = None,
    target_colour: float | None = None,
    exclude: Sequence[int] = (),
    n_comparison: int = 5,
    isolation_radius: float = 10.0,
    max_delta_mag: float = 2.5,
    max_chi2: float = 4.0,
    colour_weight: float = 2.0,
    min_coverage: float = 1.0,
    aperture_radius: float | None = None,
    annulus_outer: float | None = None,
    field_xy: np.ndarray | None = None,
    field_flux: np.ndarray | None = None,
    extended: np.ndarray | None = None,
    target_path: np.ndarray | None = None,
    path_clearance: float | None = None,
) -> ComparisonChoice:
    """Choose comparison and check stars from candidates measured in every frame.

    Parameters
    ----------
    flux, flux_err : ndarray, shape (n_frames, n_stars)
        Instrumental fluxes of the candidates (NaN where not measured).
    positions : ndarray, shape (n_stars, 2)
        Their (x, y) in the reference frame, for the isolation test.
    flags : ndarray of int, shape (n_frames, n_stars), optional
        Photometry flags; a candidate flagged in any frame is refused.
    target_flux : float, optional
        The target's typical flux; candidates are ranked by closeness in
        magnitude to it (otherwise brighter is better).
    colour, target_colour : optional
        Catalogue colour of the candidates and of the target (e.g. B-V;
        :data:`SOLAR_COLOURS` for an asteroid); candidates are also ranked by
        colour difference (``colour_weight`` mag of rank per mag of colour).
    exclude : sequence of int
        Candidates never to use (the target itself, known variables).
    n_comparison : int
        Size of the ensemble.
    isolation_radius : float
        A candidate with another star closer than this (px) is refused.
    max_delta_mag : float
        Candidates more than this many magnitudes from the target are refused.
    max_chi2 : float
        Reduced chi-square above which a candidate is called variable.
    min_coverage : float
        Fraction of frames a candidate must be measured in. 1 for a fixed
        target; lower for a moving target whose field changes, so that the
        ensemble is re-formed frame by frame from the stars present (see
        :func:`~fluxion.core.lightcurve.differential.differential_magnitudes`).
    aperture_radius, annulus_outer : float, optional
        The photometry's aperture and outer sky radius (px). When both are
        given, a candidate is refused when a brighter star is closer than
        their sum: that star's aperture reaches into the candidate's aperture
        or sky annulus, and its light into the candidate's measurement.
        Brighter among the candidates by their measured flux, and among the
        field's stars by ``field_flux``.
    field_xy, field_flux : ndarray, optional
        Every star found in the reference frame, (x, y) and flux on one scale
        (its detections), so that a brighter star that is no candidate (too
        bright, saturated, flagged) counts too. A candidate is matched to its
        own detection within ``aperture_radius``.
    extended : ndarray of bool, optional
        Candidates that are extended sources (a galaxy, a nebula's knot:
        :func:`~fluxion.core.lightcurve.extended.extended_sources`); refused,
        since seeing moves their light in and out of the aperture.
    target_path : ndarray, shape (n_frames, 2), optional
        A moving target's (x, y) in every frame, in the candidates' pixels. A
        candidate the target passes closer than ``path_clearance`` is refused:
        in those frames the target's light is in its aperture or sky annulus.
    path_clearance : float, optional
        Default: the aperture plus the outer sky radius (where the target's
        aperture reaches the candidate's sky) plus two apertures of margin
        for the track's error; ``isolation_radius`` without an aperture.

    Returns
    -------
    ComparisonChoice
    """
    flux = np.atleast_2d(np.asarray(flux, dtype=float))
    flux_err = np.atleast_2d(np.asarray(flux_err, dtype=float))
    n_frames, n_stars = flux.shape
    if n_stars == 0:
        raise ComparisonError("no usable comparison star: no candidate measured")
    if n_comparison < 1:
        raise ValueError(f"n_comparison must be at least 1, got {n_comparison}")
    try:
        positions = np.asarray(positions, dtype=float).reshape(n_stars, 2)
    except ValueError as exc:
        raise ValueError(f"positions must be {n_stars} (x, y) pairs, one per candidate") from exc
    if flux_err.shape != flux.shape:
        raise ValueError(f"flux_err has shape {flux_err.shape}, flux {flux.shape}")
    outside = [int(i) for i in exclude if not -n_stars <= int(i) < n_stars]
    if outside:
        raise ValueError(f"excluded star(s) {outside} are not among the {n_stars} candidates")
    # Negative indices count from the end, as numpy's do; the reasons use the positive one.
    rejected: dict[int, str] = {int(i) % n_stars: "excluded" for i in exclude}
    ok = np.ones(n_stars, dtype=bool)
    ok[list(rejected)] = False

    def refuse(mask: np.ndarray, reason: str) -> None:
        for i in np.flatnonzero(ok & mask):
            rejected[int(i)] = reason
        ok[mask] = False

    measured = np.isfinite(flux) & (flux > 0)
    if flags is not None:
        measured &= np.asarray(flags) == 0
    if min_coverage >= 1.0:
        refuse(~np.all(np.isfinite(flux) & (flux > 0), axis=0), "not measured in every frame")
        if flags is not None:
            refuse(np.any(np.asarray(flags) != 0, axis=0), "flagged in some frame")
    else:
        refuse(measured.mean(axis=0) < min_coverage, f"measured in < {min_coverage:.0%} of frames")
    flux = np.where(measured, flux, np.nan)
    if n_stars > 1:
        dist, _ = cKDTree(positions).query(positions, k=2)
        refuse(dist[:, 1] < isolation_radius, f"a neighbour within {isolation_radius:g} px")
    if extended is not None:
        refuse(np.asarray(extended, dtype=bool).reshape(n_stars), "an extended source, not a star")
    if target_path is not None:
        path = np.asarray(target_path, dtype=float).reshape(-1, 2)
        path = path[np.all(np.isfinite(path), axis=1)]
        if path_clearance is None and aperture_radius is not None and annulus_outer is not None:
            path_clearance = 3.0 * float(aperture_radius) + float(annulus_outer)
        clear = isolation_radius if path_clearance is None else float(path_clearance)
        if len(path):
            refuse(_distance_to_path(positions, path) < clear,
                   f"the target passes within {clear:.0f} px")  # fmt: skip
    typical = _typical_flux(flux)
    if n_stars > 1 or field_xy is not None:
        if aperture_radius is not None and annulus_outer is not None:
            reach = float(aperture_radius) + float(annulus_outer)
            crowded = _brighter_within(positions, typical, reach, aperture_radius,
                                       field_xy, field_flux)  # fmt: skip
            refuse(crowded, f"a brighter star within {reach:g} px (aperture + sky annulus)")
    mean_mag = -2.5 * np.log10(typical)
    if target_flux is not None and target_flux > 0:
        delta = np.abs(mean_mag + 2.5 * np.log10(target_flux))
        refuse(~(delta <= max_delta_mag), f"more than {max_delta_mag:g} mag from the target")
        rank = delta
    else:
        rank = mean_mag - np.nanmin(np.where(ok, mean_mag, np.inf))  # brighter first
    if colour is not None and target_colour is not None:
        dc = np.abs(np.asarray(colour, dtype=float) - target_colour)
        rank = rank + colour_weight * np.where(np.isfinite(dc), dc, 5.0)

    chi2 = np.full(n_stars, np.nan)
    # Variability test: each candidate against the ensemble of all other good
    # candidates; drop the worst offender and repeat until all pass.
    while ok.sum() >= 3:
        chi2[:] = np.nan
        good = np.flatnonzero(ok)
        for i in good:
            others = good[good != i]
            chi2[i] = _reduced_chi2(
                flux[:, i], flux_err[:, i], flux[:, others], flux_err[:, others]
            )
        if not np.any(np.isfinite(chi2[good])):
            break
        worst = good[np.nanargmax(chi2[good])]
        if chi2[worst] <= max_chi2:
            break
        rejected[int(worst)] = f"variable in the sequence (reduced chi2 {chi2[worst]:.1f})"
        ok[worst] = False
    good = np.flatnonzero(ok)
    if good.size == 0:
        reasons = sorted(set(rejected.values()))
        raise ComparisonError("no usable comparison star: " + "; ".join(reasons))
    ordered = good[np.argsort(rank[good], kind="stable")]
    comparison = tuple(int(i) for i in ordered[:n_comparison])
    check = int(ordered[n_comparison]) if ordered.size > n_comparison else None
    if check is None and len(comparison) > 1:
        # Too few for a separate check star: the weakest-ranked comparison
        # becomes the check, as a control is worth more than a fifth member.
        check = comparison[-1]
        comparison = comparison[:-1]
    notes: tuple[str, ...] = ()
    if good.size < 3:
        notes = (
            f"only {good.size} usable candidate(s): they could not be tested for "
            "variability; add stars or relax the criteria",
        )
    return ComparisonChoice(comparison, check, rejected, chi2, notes)


def _distance_to_path(points: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Each point's distance to the polyline through ``path`` (its segments, not
    only its vertices: a fast target moves several px between frames)."""
    if len(path) == 1:
        return np.hypot(*(points - path[0]).T)
    a, b = path[:-1], path[1:]
    ab = b - a
    ap = points[:, None, :] - a[None, :, :]
    length2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    t = np.clip(np.sum(ap * ab[None], axis=2) / length2[None], 0.0, 1.0)
    closest = a[None] + t[..., None] * ab[None]
    return np.min(np.hypot(*(points[:, None, :] - closest).transpose(2, 0, 1)), axis=1)


def _brighter_within(
    xy: np.ndarray,
    flux: np.ndarray,
    reach: float,
    own_radius: float,
    field_xy: np.ndarray | None,
    field_flux: np.ndarray | None,
) -> np.ndarray:
    """Which candidates have a brighter star closer than ``reach`` px.

    Among the candidates their own fluxes are compared; among the field's
    stars, the field's fluxes (another scale), each candidate's own being its
    detection within ``own_radius`` (a candidate without one is judged by the
    candidates only).
    """
    n = len(xy)
    out = np.zeros(n, dtype=bool)
    if n > 1:
        d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        brighter = flux[None, :] > flux[:, None]  # NaN compares False: not brighter
        out |= np.any((d < reach) & brighter, axis=1)
    if field_xy is None or field_flux is None or not len(field_xy):
        return out
    fxy = np.asarray(field_xy, dtype=float).reshape(-1, 2)
    fflux = np.asarray(field_flux, dtype=float).reshape(-1)
    if len(fflux) != len(fxy):
        raise ValueError(f"field_flux has {len(fflux)} values for {len(fxy)} field stars")
    tree = cKDTree(fxy)
    own_d, own = tree.query(xy)
    for i, near in enumerate(tree.query_ball_point(xy, reach)):
        if own_d[i] > own_radius:
            continue  # not detected itself: no flux on the field's scale
        mine = fflux[own[i]]
        out[i] |= any(j != own[i] and fflux[j] > mine for j in near)
    return out


def _typical_flux(flux: np.ndarray) -> np.ndarray:
    """Median positive flux of each star (column); NaN for a star never measured.

    Such stars are refused anyway; they are left out of the median rather
    than silenced, because silencing numpy's all-NaN warning swaps the
    process-wide warning filters, which is not safe on worker threads.
    """
    positive = np.where(flux > 0, flux, np.nan)
    out = np.full(flux.shape[1], np.nan)
    seen = np.any(np.isfinite(positive), axis=0)
    if seen.any():
        out[seen] = np.nanmedian(positive[:, seen], axis=0)
    return out


def _reduced_chi2(
    flux: np.ndarray, err: np.ndarray, others: np.ndarray, others_err: np.ndarray
) -> float:
    """Reduced chi-square of a star's differential light curve about its mean.

    Each frame's ensemble is the other members it measured, scaled by their
    share of the whole ensemble's typical flux (each member's median), so a
    frame that misses a member is not a step in the ratio: a star measured in
    most frames (``min_coverage`` < 1) is judged on every frame that has it.
    With every member in every frame this is the plain sum's ratio (the
    scale cancels in the reduced chi-square).
    """
    seen = np.isfinite(others) & np.isfinite(others_err)
    rows = np.isfinite(flux) & np.any(seen, axis=1)
    # A frame without a usable error cannot be weighted (and 1/0 would warn).
    rows &= (err > 0) & np.isfinite(err)
    if rows.sum() < 3:
        return float("nan")
    flux, err, others, others_err, seen = (
        flux[rows], err[rows], others[rows], others_err[rows], seen[rows],
    )  # fmt: skip
    typical = _typical_flux(np.where(seen, others, np.nan))
    share = (seen * np.nan_to_num(typical)[None, :]).sum(axis=1) / np.nansum(typical)
    ens = np.where(seen, others, 0.0).sum(axis=1) / share
    ens_err = np.sqrt((np.where(seen, others_err, 0.0) ** 2).sum(axis=1)) / share
    ratio = flux / ens
    ratio_err = ratio * np.sqrt((err / flux) ** 2 + (ens_err / ens) ** 2)
    w = 1.0 / ratio_err**2
    mean = np.sum(w * ratio) / np.sum(w)
    n = ratio.size
    return float(np.sum(w * (ratio - mean) ** 2) / max(n - 1, 1))
