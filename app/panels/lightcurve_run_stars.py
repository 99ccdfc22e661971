"""The comparison stars of ``fluxion run``'s curve, found again in every light (Qt-free).

When a night's zero points cannot carry the target's curve, ``fluxion run``
measures it against an ensemble of the night's stars
(:mod:`fluxion.core.chain.comparison_curve`) and keeps in the curve's meta
which stars (``comparison_xy``: where they are in the light that measured
the most stars), at which aperture and why. The Light curve panel shows
that curve as the run made it: these functions say so in words and place
the run's stars on every light, as the run matched them (by sky position,
:func:`fluxion.core.lightcurve.ensemble.stored_measurement`), so that the
viewer draws the stars that made the curve, not a choice of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from astropy.table import Table

from fluxion.core.lightcurve.comparison import ComparisonChoice, ComparisonError
from fluxion.core.lightcurve.ensemble import stored_measurement
from fluxion.core.project.products import ProductStore

from .lightcurve_kept_stars import kept_stars
from .lightcurve_model import LightCurveRun

__all__ = [
    "is_run_comparison_curve", "magnitude_label", "run_curve_description", "run_curve_notes",
    "run_star_positions", "with_run_stars",
]  # fmt: skip

log = logging.getLogger("fluxion.app.lightcurve")

#: A run's star is the same as a reference-light source within this many pixels
#: (the meta keeps the source's own position, to the last digit ECSV writes).
_SAME_SOURCE_PX = 0.5


def is_run_comparison_curve(table: Table) -> bool:
    """Whether ``table`` is ``fluxion run``'s curve against comparison stars."""
    # The window's own curves name their comparison stars too; only the run says why.
    return bool(table.meta.get("comparison_reason")) and "n_comparison" in table.colnames


def _radius(table: Table) -> float | None:
    r = table.meta.get("aperture_radius")
    try:
        return float(r) if r is not None else None
    except (TypeError, ValueError):
        return None


def run_curve_description(table: Table, calibrated: bool) -> str:
    """Which curve the project keeps, in words: the run's ensemble and aperture, or its scale.

    Parameters
    ----------
    table : Table
        The curve as the project keeps it (``lightcurve.ecsv``).
    calibrated : bool
        Whether its magnitudes are on the catalogue's scale.
    """
    if not is_run_comparison_curve(table) and (
        "n_comparison" in table.colnames or table.meta.get("comparison_stars")
    ):
        # Measured in the window: its stars and aperture are kept with it (older files: not).
        scale = "catalogue magnitudes" if calibrated else "differential magnitudes"
        _, choice = kept_stars(table)
        n, r = len(choice.comparison), _radius(table)
        if not n:
            return f"a curve measured in the window against comparison stars ({scale})"
        names = f"C1-C{n}" if n > 1 else "C1"
        if choice.check is not None:
            names += ", check star K"
        at = f", aperture {r:.1f} px" if r is not None else ""
        stars = f"{n} comparison star{'s' if n > 1 else ''} ({names} in the viewer){at}"
        channel = str(table.meta.get("channel", "") or "")
        on = f" on the {channel} pixels" if channel else ""
        return f"a curve measured in the window{on} against {stars} ({scale})"
    if not is_run_comparison_curve(table):
        if calibrated:
            return "the run's curve from each light's zero point (catalogue magnitudes)"
        return (
            "the run's curve from the lights' instrumental magnitudes (no zero point: "
            "the night's extinction is in it)"
        )
    n = len(table.meta["comparison_stars"])
    r = _radius(table)
    at = f", aperture {r:.1f} px" if r is not None else ", the photometry step's aperture"
    # The ensemble's flux ratio, scaled to the ensemble's median brightness: the
    # numbers are the target's instrumental magnitude where the ensemble is typical.
    return (
        f"the run's curve against {n} comparison stars (C1-C{n} in the viewer){at}; "
        "differential magnitudes (target over the ensemble, on the instrumental scale)"
    )


def magnitude_label(table: Table, calibrated: bool) -> str:
    """The name of a curve's magnitudes on its plot's axis."""
    if calibrated:
        band = str(table.meta.get("band", "") or "")
        return f"{band} magnitude" if band else "catalogue magnitude"
    scale = str(table.meta.get("magnitude_scale", "") or "")
    if "n_comparison" in table.colnames or scale.startswith("differential"):
        return "differential magnitude"
    return "instrumental magnitude"


def run_curve_notes(table: Table) -> list[str]:
    """Why the run chose the comparison stars and the aperture, as its meta says."""
    notes = []
    if reason := str(table.meta.get("comparison_reason", "") or ""):
        notes.append(f"Comparison stars because {reason}.")
    if choice := str(table.meta.get("aperture_choice", "") or ""):
        notes.append(choice[0].upper() + choice[1:] + ".")
    return notes


def _match_arcsec(table: Table, tables: list[Table | None]) -> float:
    """The run's matching distance: one seeing FWHM on the sky (at least 1 arcsec)."""
    fwhm = np.asarray(table["fwhm"], float) if "fwhm" in table.colnames else np.array([np.nan])
    scales = [float(t.meta.get("pixel_scale", np.nan)) for t in tables if t is not None]
    scale = float(np.nanmedian(scales)) if np.any(np.isfinite(scales)) else 1.0
    seeing = float(np.nanmedian(fwhm)) if np.any(np.isfinite(fwhm)) else 3.0
    return max(seeing * scale, 1.0)


def _stored_radius(tables: list[Table | None]) -> float | None:
    """The photometry step's radius (px) as the lights' tables record it (the run's
    curve keeps it when no other radius scattered less), or None."""
    radii = [float(t.meta["aperture_radius"]) for t in tables
             if t is not None and t.meta.get("aperture_radius") is not None]  # fmt: skip
    return float(np.median(radii)) if radii else None


def run_star_positions(
    store: ProductStore, table: Table, paths: Mapping[str, str]
) -> tuple[np.ndarray | None, float | None]:
    """Where each of the run's comparison stars is in each row's light, and the radius.

    Parameters
    ----------
    store : ProductStore
        The project's products (each light's calibrated-magnitude table).
    table : Table
        The run's comparison-star curve (:func:`is_run_comparison_curve`).
    paths : mapping of str to str
        The path of each open light, by its file name in the curve.

    Returns
    -------
    ndarray of shape (n_rows, n_stars, 2) or None, float or None
        The positions, NaN where a light did not measure a star (or is not
        open); None when the stars cannot be found again (products gone, a
        curve from elsewhere). Then the aperture radius (px) the curve was
        measured at: its own, else the photometry step's; None when unknown.
    """
    tables = [
        store.read_table("zeropoint", paths[str(f)]) if str(f) in paths else None
        for f in table["file"]
    ]
    radius = _radius(table)
    if radius is None:
        radius = _stored_radius(tables)
    wanted = np.asarray(table.meta.get("comparison_xy") or [], float).reshape(-1, 2)
    if len(wanted) == 0:
        return None, radius
    try:
        m, ref_xy = stored_measurement(tables, table, match_arcsec=_match_arcsec(table, tables))
    except (ComparisonError, KeyError, ValueError) as exc:
        log.warning("the run's comparison stars cannot be placed on the lights: %s", exc)
        return None, radius
    if len(ref_xy) == 0:
        return None, radius
    # Each star of the run is the reference light's source at its recorded position.
    dist = np.hypot(*(ref_xy[None, :, :] - wanted[:, None, :]).transpose(2, 0, 1))
    cols = np.argmin(dist, axis=1)
    if not np.all(dist[np.arange(len(wanted)), cols] < _SAME_SOURCE_PX):
        log.warning("the run's comparison stars are not in the lights' stored photometry")
        return None, radius
    return np.asarray(m.star_xy[:, cols, :], float), radius


def with_run_stars(
    run: LightCurveRun, xy: np.ndarray | None, radius: float | None
) -> LightCurveRun:
    """``run`` with the run's comparison stars at ``xy`` (every one a comparison star) and
    its aperture ``radius`` in the table's meta where the curve did not record it (the
    photometry step's, kept by the run)."""
    if radius is not None and _radius(run.table) is None:
        run.table.meta["aperture_radius"] = radius
    if xy is None:
        return run
    n = xy.shape[1]
    choice = ComparisonChoice(tuple(range(n)), None, {}, np.full(n, np.nan))
    return LightCurveRun(run.table, run.positions, xy, choice, run.calibrated, stored=run.stored)
