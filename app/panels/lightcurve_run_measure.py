"""``fluxion run``'s comparison curve measured again, with its settings or changed ones (Qt-free).

The run's curve (:mod:`fluxion.core.chain.comparison_curve`) is the target
against an ensemble of the night's stars, chosen on the stored photometry
and kept in the curve's meta (``comparison_xy``), at the aperture whose
curve scattered least: the photometry step's own (its stored fluxes), or
one of a few multiples of the night's FWHM measured again on the calibrated
lights with one sky annulus outside the largest radius. The Light curve
panel's form shows those settings beside the run's curve; measuring with
them gives the run's curve again, as the run made it (the same stored
fluxes, or the same remeasure at the same radius and annulus), and a
changed radius or annulus measures the same stars with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from astropy.table import Table

from fluxion.core.chain.calibrate import frame_image
from fluxion.core.chain.comparison_aperture import differential
from fluxion.core.io.frames import FrameInfo
from fluxion.core.lightcurve.ensemble import renormalised_sum, stored_measurement
from fluxion.core.lightcurve.run import LightCurveParams, measure_frames_each
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.scintillation import add_scintillation
from fluxion.core.project.products import ProductStore
from fluxion.core.transit.photometry import RADII_FWHM

from .lightcurve_run_stars import _match_arcsec, _stored_radius, is_run_comparison_curve

__all__ = ["RunSettings", "measure_as_run", "run_settings", "settings_differ"]

#: A radius or annulus is the run's when the form shows it to its last decimal (2 or 3
#: for px: the form's boxes round the run's values); the run's own value is then used.
_SAME_PX = 0.005 + 1e-9


@dataclass(frozen=True)
class RunSettings:
    """How ``fluxion run`` measured its comparison curve.

    Attributes
    ----------
    radius : float
        The aperture radius (px).
    annulus : tuple of float
        The sky annulus (px) of the run's remeasure (one outside its largest
        radius, 3 FWHM); for a stored-radius curve, the one a changed radius uses.
    n_comparison : int
        The number of the run's comparison stars.
    stored : bool
        The run kept the photometry step's measurement (its radius, its sky).
    """

    radius: float
    annulus: tuple[float, float]
    n_comparison: int
    stored: bool


def run_settings(table: Table, stored_radius: float | None = None) -> RunSettings | None:
    """The settings of the run's comparison curve ``table``; None for another curve (or a
    colour run's, measured in one channel).

    ``stored_radius`` is the photometry step's radius, for a curve that kept it
    without recording it.
    """
    if not is_run_comparison_curve(table) or table.meta.get("channel"):
        # A colour run's curve follows one channel of the mosaic, which the panel does not
        # measure on its own: its settings would not give the run's curve again.
        return None
    choice = str(table.meta.get("aperture_choice", "") or "")
    # The run's own words (ApertureChoice.note): a stored radius is "the photometry step's".
    stored = choice.startswith("aperture: the photometry step's") or not choice
    radius = table.meta.get("aperture_radius")
    radius = stored_radius if radius is None else float(radius)
    if radius is None or not np.isfinite(radius):
        return None
    fwhm = np.asarray(table["fwhm"], float) if "fwhm" in table.colnames else np.array([np.nan])
    seeing = float(np.nanmedian(fwhm)) if np.any(np.isfinite(fwhm)) else 3.0
    outer = max(RADII_FWHM) * seeing
    annulus = (outer + 1.5 * seeing, outer + 4.0 * seeing)  # as best_aperture measures
    n = len(table.meta.get("comparison_stars") or [])
    return RunSettings(float(radius), annulus, n, stored)


def settings_differ(run: RunSettings, params: LightCurveParams, own_stars: bool) -> list[str]:
    """What in the form differs from the run's settings, in words (empty: none)."""
    said = []
    if abs(params.aperture_radius - run.radius) > _SAME_PX:
        said.append(f"aperture {params.aperture_radius:.1f} px (the run's: {run.radius:.1f} px)")
    if not run.stored and (
        abs(params.annulus_inner - run.annulus[0]) > _SAME_PX
        or abs(params.annulus_outer - run.annulus[1]) > _SAME_PX
    ):
        said.append(
            f"sky annulus {params.annulus_inner:.1f}-{params.annulus_outer:.1f} px (the run's: "
            f"{run.annulus[0]:.1f}-{run.annulus[1]:.1f} px)"
        )
    if own_stars:
        said.append(
            f"comparison stars chosen here ({params.n_comparison}) in place of the run's "
            f"{run.n_comparison}"
        )
    return said


def _per_light(tables: Sequence[Table | None], key: str, default: float) -> np.ndarray:
    return np.array(
        [float(t.meta.get(key, default)) if t is not None else default for t in tables], float
    )


def measure_as_run(
    store: ProductStore,
    lights: Sequence[FrameInfo],
    table: Table,
    params: LightCurveParams,
) -> tuple[Table, np.ndarray, bool]:
    """The run's curve ``table`` measured again against its comparison stars with ``params``.

    Parameters
    ----------
    store : ProductStore
        The project's products (stored photometry, calibrated lights).
    lights : sequence of FrameInfo
        The light of each row of ``table``.
    table : Table
        The run's comparison curve (:func:`run_settings` is not None).
    params : LightCurveParams
        The radius and sky annulus; the run's (to :data:`_SAME_PX`) give its curve.

    Returns
    -------
    Table, ndarray, bool
        The curve (the run's meta; the radius and annulus when changed), each
        comparison star's position in each light (NaN where a light did not
        measure it), and whether the settings were the run's.

    Raises
    ------
    ValueError
        When the run's stars are not in the stored photometry, or a light
        misses a position the remeasure needs.
    """
    tables = [store.read_table("zeropoint", f.path) for f in lights]
    settings = run_settings(table, _stored_radius(tables))
    if settings is None:
        raise ValueError("not the run's comparison curve")
    # The comparison curve's own error terms (comparison_curve.comparison_light_curve):
    # each light's scintillation, and the aperture correction's error common to all stars.
    scint = np.where(
        [t is not None and bool(t.meta.get("scintillation_included")) for t in tables],
        _per_light(tables, "scintillation_median", 0.0),
        0.0,
    )
    common = _per_light(tables, "aperture_correction_err", 0.0) / _per_light(
        tables, "aperture_correction", 1.0
    )
    raw, ref_xy = stored_measurement(tables, table, match_arcsec=_match_arcsec(table, tables))
    wanted = np.asarray(table.meta.get("comparison_xy") or [], float).reshape(-1, 2)
    dist = np.hypot(*(ref_xy[None, :, :] - wanted[:, None, :]).transpose(2, 0, 1))
    cols = list(np.argmin(dist, axis=1)) if len(ref_xy) else []
    if not cols or not np.all(dist[np.arange(len(wanted)), cols] < 0.5):
        raise ValueError("the run's comparison stars are not in the lights' stored photometry")
    same = not settings_differ(settings, params, own_stars=False)
    if same and settings.stored:
        # The run's stored fluxes, with its error terms; the target's as the run kept them.
        err = np.sqrt(np.maximum(raw.star_err**2 - (raw.star_flux * common[:, None]) ** 2, 0.0))
        err = add_scintillation(raw.star_flux, err, scint[:, None])
        m = replace(raw, star_err=err, target_err=np.asarray(table["flux_err"], float))
        diff, _ = differential(m, cols)
        used, m_cols = m, cols
        radius, annulus = settings.radius, settings.annulus  # (not used: the run's own)
    else:
        radius = settings.radius if same else float(params.aperture_radius)
        annulus = settings.annulus if same else (params.annulus_inner, params.annulus_outer)
        target_xy = np.column_stack([np.asarray(table["x"], float), np.asarray(table["y"], float)])
        usable = ((raw.star_flags == 0) & np.isfinite(raw.star_flux))[:, cols]
        star_xy = np.where(usable[..., None], raw.star_xy[:, cols], np.nan)
        if not np.all(np.isfinite(target_xy)):
            raise ValueError("the target has no position in some lights")
        gains = [float(f.gain) if f.gain else 1.0 for f in lights]

        def electrons(i: int) -> np.ndarray:
            return np.asarray(frame_image(store, lights[i]).data, np.float32) * gains[i]

        one = LightCurveParams(
            aperture_radius=radius, annulus_inner=annulus[0], annulus_outer=annulus[1]
        )
        read = float(np.nanmedian([f.read_noise or 0.0 for f in lights]))
        (used,) = measure_frames_each(
            electrons, target_xy, star_xy, [one], noise=NoiseModel(read_noise=read),
            scintillation=scint,
        )  # fmt: skip
        m_cols = list(range(len(cols)))
        diff, _ = differential(used, m_cols)
    out = table.copy()
    out["mag"], out["mag_err"] = diff.mag, diff.mag_err
    out["n_comparison"] = diff.n_comparison
    out["flux"], out["flux_err"] = used.target_flux, used.target_err
    ok = (used.star_flags == 0) & np.isfinite(used.star_flux)
    out["comp_flux"] = renormalised_sum(np.where(ok, used.star_flux, np.nan)[:, m_cols])
    for c in ("mag", "mag_err"):
        out[c].unit = "mag"
    if not same:
        out.meta["aperture_radius"] = radius
        out.meta["sky_annulus"] = [float(annulus[0]), float(annulus[1])]
        out.meta.pop("comparison_reason", None)  # the window's curve now, not the run's
        out.meta["aperture_choice"] = (
            f"aperture {radius:.1f} px and sky annulus {annulus[0]:.1f}-{annulus[1]:.1f} px "
            "set in the window, against the run's comparison stars"
        )
    stars_xy = np.asarray(raw.star_xy[:, cols, :], float)
    return out, stars_xy, same
