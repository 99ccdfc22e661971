"""A night's field from its photometry to its light curves and variability table.

:func:`analyse_field` is the whole analysis on a
:class:`~fluxion.core.field.data.FieldData` (pure: tables and arrays in, tables
out): magnitude fitting (known variables left out of the fits), EPD and TFA,
the expected noise, the variability search. :func:`write_field` writes
``field_lightcurves.ecsv`` and ``variability.ecsv``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table
from scipy.ndimage import median_filter

from ..io.fitsio import atomic_write_ecsv
from ..runtime.params import param
from ..runtime.pipeline import StepState
from ..variability.search import VariabilityParams, variability_table
from .blends import contamination
from .data import FieldData
from .detrend import DetrendParams, DetrendResult, detrend, good_points
from .forced import ForcedParams
from .magfit import MagfitParams, MagfitResult, magnitude_fit
from .noise import NoiseCurve, scintillation

__all__ = [
    "LIGHTCURVES_FILE",
    "VARIABILITY_FILE",
    "FieldParams",
    "FieldResult",
    "FieldStepParams",
    "analyse_field",
    "noise_curve",
    "write_field",
    "write_field_tables",
]

log = logging.getLogger(__name__)

LIGHTCURVES_FILE = "field_lightcurves.ecsv"
VARIABILITY_FILE = "variability.ecsv"


@dataclass(frozen=True)
class FieldParams:
    """Every step of a field's analysis; ``diameter_m`` gives scintillation."""

    magfit: MagfitParams = field(default_factory=MagfitParams)
    detrend: DetrendParams = field(default_factory=DetrendParams)
    variability: VariabilityParams = field(default_factory=VariabilityParams)
    diameter_m: float = 0.0
    """Telescope aperture (m) for scintillation; 0: unknown, left out of the noise."""


@dataclass(frozen=True)
class FieldStepParams:
    """The field's analysis as one flat set of choices (the window's Field panel).

    The nested :class:`FieldParams` and :class:`ForcedParams` keep every
    detail; these are the ones a user changes, kept in the project.
    """

    aperture_fwhm: float = param(
        1.5, label="Aperture radius", unit="FWHM", minimum=0.5, maximum=10.0,
        help="Radius of the apertures in units of the night's median FWHM.",
    )  # fmt: skip
    epd: bool = param(True, label="EPD", help="Decorrelate each star against its x, y, "
                      "sub-pixel phase, the seeing, the sky and the airmass.")  # fmt: skip
    tfa: bool = param(True, label="TFA", help="Filter the trends the field's stars share.")
    n_templates: int = param(
        200, label="TFA templates", minimum=2, maximum=2000,
        help="Template stars chosen across the field.",
    )  # fmt: skip
    false_alarm: float = param(
        0.01, label="False alarms per night", minimum=1e-6, maximum=1.0,
        help="Chance that a night of constant stars gives a candidate.",
    )  # fmt: skip
    diameter_m: float = param(
        0.0, label="Telescope aperture", unit="m", minimum=0.0, maximum=20.0,
        help="For the scintillation in the expected noise (0: left out).",
    )  # fmt: skip
    vsx: bool = param(
        False, label="Mark VSX variables",
        help="Known variables from VSX (VizieR, cached): left out of the fits and named.",
    )  # fmt: skip

    def forced(self) -> ForcedParams:
        """The photometry's parameters."""
        return ForcedParams(aperture_fwhm=self.aperture_fwhm)

    def field(self) -> FieldParams:
        """The analysis' parameters."""
        return FieldParams(
            detrend=DetrendParams(epd=self.epd, tfa=self.tfa, n_templates=self.n_templates),
            variability=VariabilityParams(false_alarm=self.false_alarm),
            diameter_m=self.diameter_m,
        )  # fmt: skip


@dataclass
class FieldResult:
    """What the analysis of a field gives."""

    data: FieldData
    magfit: MagfitResult
    detrended: DetrendResult | None
    variability: Table
    noise: NoiseCurve
    scintillation: np.ndarray
    notes: list[str] = field(default_factory=list)

    def light_curves(self) -> Table:
        """The long-format table: ``mag`` fitted, ``mag_detrended``, corrections apart."""
        inst, inst_err = self.data.instrumental_mag()
        cols = {
            "mag": self.magfit.mag, "mag_err": self.magfit.mag_err, "flags": self.magfit.flags,
            "mag_instrumental": inst,
        }  # fmt: skip
        det = self.detrended
        cols["mag_detrended"] = det.mag if det is not None else self.magfit.mag
        if det is not None:
            cols["epd"] = det.epd
            cols["tfa"] = det.tfa
        table = self.data.to_table(cols)
        table.meta["magfit_model"] = dict(self.magfit.model)
        table.meta["magfit_offset"] = float(self.magfit.offset)
        table.meta["detrending"] = (
            "none" if det is None else
            f"EPD ({', '.join(det.epd_names) or 'off'}), TFA ({det.n_trends} trends from "
            f"{len(det.templates)} templates); mag_detrended = mag - epd - tfa"
        )  # fmt: skip
        table.meta["noise_curve"] = self.noise.__dict__ | {}
        return table


def noise_curve(data: FieldData, magfit: MagfitResult, scint: np.ndarray) -> NoiseCurve:
    """The expected rms against magnitude for the night's median conditions."""
    good = data.good
    sky = float(np.median(data.sky[good])) if good.any() else 0.0
    meta = data.meta
    radius = float(meta.get("aperture_radius", 0.0) or 0.0)
    area = float(meta.get("aperture_area", math.pi * radius**2) or 0.0)
    return NoiseCurve(
        zero_point=float(magfit.offset), area=area, sky=max(sky, 0.0),
        read_noise=float(meta.get("read_noise", 0.0) or 0.0),
        n_sky=float(meta.get("sky_pixels", 0.0) or 0.0),
        scintillation=float(np.median(scint)) if len(scint) else 0.0,
    )  # fmt: skip


def analyse_field(
    data: FieldData,
    params: FieldParams | None = None,
    *,
    known: Sequence[str] | None = None,
    state: StepState | None = None,
) -> FieldResult:
    """Magnitude fitting, EPD/TFA and the variability search of a night's field.

    Parameters
    ----------
    data : FieldData
    params : FieldParams, optional
    known : sequence of str, optional
        Per star, a known variable's name ('' for none): left out of the fits
        and the TFA templates, and named in the variability table.
    state : StepState, optional
    """
    p = params or FieldParams()
    state = state if state is not None else StepState()
    notes: list[str] = []
    exptime = data.frame_column("exptime")
    t_exp = float(np.nanmedian(exptime)) if np.isfinite(exptime).any() else 0.0
    airmass = data.frame_column("airmass")
    airmass = np.where(np.isfinite(airmass), airmass, 1.0)
    altitude = float(data.meta.get("altitude_m", 0.0) or 0.0)
    scint = scintillation(p.diameter_m, airmass, t_exp, altitude)
    if not p.diameter_m:
        notes.append("scintillation left out of the noise: the telescope's aperture is not given")
    names = list(known) if known is not None else [""] * data.n_stars
    quiet = np.array([not n for n in names], bool)
    shape = tuple(data.meta["shape"]) if data.meta.get("shape") else None
    fit = magnitude_fit(data, p.magfit, scintillation=scint, shape=shape, fit_stars=quiet,
                        state=state.sub(0.0, 0.4))  # fmt: skip
    det = None
    if p.detrend.epd or p.detrend.tfa:
        det = detrend(data, fit.mag, fit.mag_err, p.detrend, shape=shape, template_stars=quiet,
                      state=state.sub(0.4, 0.85))  # fmt: skip
        notes += det.notes
    table = variability_table(
        data, fit.mag, fit.mag_err, p.variability,
        detrended=det.mag if det is not None else None,
        fitted_terms=det.terms if det is not None else None,
        contamination=contamination(data), known=names, times=data.bjd_tdb,
        state=state.sub(0.85, 0.9),
    )  # fmt: skip
    if det is not None:
        kept = _keep_candidates(data, fit, det, table, p.detrend, shape, quiet, state)
        if kept:
            notes.append(
                f"{kept} candidate(s) detrended again with their own smoothed light curve "
                "fitted beside the trends (TFA's signal reconstruction), so that EPD and TFA "
                "do not take their variation"
            )
    curve = noise_curve(data, fit, scint)
    table.meta["noise_curve"] = dict(curve.__dict__)
    table.meta["magfit_model"] = dict(fit.model)
    table.meta["notes"] = list(notes)
    state.progress(1.0, f"{int(np.sum(table['candidate']))} candidates")
    return FieldResult(data, fit, det, table, curve, scint, notes)


def _smoothed(mag: np.ndarray, ok: np.ndarray, size: int = 5) -> np.ndarray:
    """A light curve's slow variation: running median of its good points, centred on 0.

    Interpolated over the points left out, so that it can be a column of a fit.
    """
    rows = np.flatnonzero(ok)
    if len(rows) < size:
        return np.zeros(len(mag))
    run = median_filter(mag[rows], size=size, mode="nearest")
    out = np.interp(np.arange(len(mag)), rows, run)
    return out - np.median(out[rows])


def _keep_candidates(
    data: FieldData,
    fit: MagfitResult,
    det: DetrendResult,
    table: Table,
    params: DetrendParams,
    shape: tuple[int, int] | None,
    quiet: np.ndarray,
    state: StepState,
) -> int:
    """Detrend the candidates again, in place, with their own variation as a known signal.

    EPD's terms follow the night (the field's drift, the airmass, the
    seeing), smooth functions of time, and so can take part or all of any
    slow variation of a star (a transit, an eclipse) as a systematic. A
    candidate (found on its magnitude-fitted or its detrended curve) is
    fitted again with its own smoothed magnitude-fitted curve as a known
    signal beside the trends (Kovács et al. 2005's signal reconstruction):
    the trends take only what the signal does not explain, so its variation
    keeps its depth, and a slow systematic stays with it. Returns how many.
    """
    found = np.asarray(table["candidate"], bool)
    if not found.any():
        return 0
    column = {int(s): j for j, s in enumerate(data.star_id)}
    cols = np.array([column[int(s)] for s in np.asarray(table["star_id"])[found]], int)
    ok = good_points(data, fit.mag, fit.mag_err)
    signal = np.zeros_like(fit.mag)
    for j in cols:
        signal[:, j] = _smoothed(fit.mag[:, j], ok[:, j])
    only = np.zeros(data.n_stars, bool)
    only[cols] = True
    again = detrend(data, fit.mag, fit.mag_err, params, signal=signal, shape=shape,
                    template_stars=quiet & ~only, only=only, state=state.sub(0.9, 1.0))  # fmt: skip
    for name in ("mag", "epd", "tfa"):
        getattr(det, name)[:, cols] = getattr(again, name)[:, cols]
    for name in ("terms", "rms_epd", "rms_after"):
        getattr(det, name)[cols] = getattr(again, name)[cols]
    return len(cols)


def write_field(result: FieldResult, out: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``field_lightcurves.ecsv`` and ``variability.ecsv`` into ``out`` (atomically)."""
    return write_field_tables(result.light_curves(), result.variability, out)


def write_field_tables(
    lightcurves: Table, variability: Table, out: str | os.PathLike[str]
) -> dict[str, Path]:
    """Write the two tables of a field into ``out`` (atomically)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "lightcurves": atomic_write_ecsv(folder / LIGHTCURVES_FILE, lightcurves),
        "variability": atomic_write_ecsv(folder / VARIABILITY_FILE, variability),
    }
