"""AAVSO Extended File Format (version 1.2) for variable-star photometry.

Six parameter lines (``#TYPE=EXTENDED``, ``#OBSCODE``, ``#SOFTWARE``,
``#DELIM``, ``#DATE``, ``#OBSTYPE``) followed by one observation per line:
``STARID, DATE, MAGNITUDE, MAGERR, FILTER, TRANS, MTYPE, CNAME, CMAG, KNAME,
KMAG, AIRMASS, GROUP, CHART, NOTES``, with ``na`` for missing optional values.
Dates are mid-exposure JD (UTC) with ``#DATE=JD``; the AAVSO accepts JD and
HJD, not BJD. An ensemble comparison is written as ``CNAME=ENSEMBLE`` and
``CMAG=na``, the check star's instrumental magnitude in ``KMAG``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.fitsio import atomic_write_text
from . import ExportError

__all__ = [
    "format_aavso",
    "format_aavso_light_curve",
    "standard_magnitude_err",
    "write_aavso",
    "ensemble_notes",
    "AAVSO_FILTERS",
    "AAVSO_FIELDS",
]

AAVSO_FIELDS = (
    "STARID", "DATE", "MAGNITUDE", "MAGERR", "FILTER", "TRANS", "MTYPE", "CNAME", "CMAG",
    "KNAME", "KMAG", "AIRMASS", "GROUP", "CHART", "NOTES",
)  # fmt: skip

# The column-name comment line as the AAVSO's own examples write it.
_HEADER_NAMES = (
    "NAME", "DATE", "MAG", "MERR", "FILT", "TRANS", "MTYPE", "CNAME", "CMAG", "KNAME", "KMAG",
    "AMASS", "GROUP", "CHART", "NOTES",
)  # fmt: skip

#: Filter codes the AAVSO accepts (a selection: Johnson-Cousins, Sloan, clear).
AAVSO_FILTERS = frozenset(
    "U B V R I J H K TG TB TR CV CR SZ SU SG SR SI STU STV STB STY STHBW STHBN MA MB MI "
    "ZS Y HA HAC O".split()
)

_LIMITS = {"STARID": 30, "DATE": 16, "MAGNITUDE": 8, "MAGERR": 6, "CNAME": 20, "KNAME": 20}


def _num(value: float | None, fmt: str) -> str:
    if value is None or not np.isfinite(value):
        return "na"
    return format(float(value), fmt)


def format_aavso(
    star_id: str,
    jd_utc: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    *,
    obscode: str,
    filter: str,
    software: str = "Fluxion",
    transformed: bool = False,
    standardized: bool = True,
    comparison_name: str = "ENSEMBLE",
    comparison_mag: np.ndarray | None = None,
    check_name: str = "na",
    check_mag: np.ndarray | None = None,
    airmass: np.ndarray | None = None,
    chart: str = "na",
    notes: str = "na",
    row_notes: Sequence[str] | None = None,
    delimiter: str = ",",
) -> str:
    """The text of an AAVSO Extended report (rows with a NaN magnitude are left out).

    Parameters
    ----------
    star_id : str
        AAVSO name or designation of the variable (at most 30 characters).
    jd_utc, mag, mag_err : ndarray
        Mid-exposure JD (UTC), magnitudes and errors.
    obscode : str
        The observer's AAVSO code.
    filter : str
        AAVSO filter code (``V``, ``B``, ``CV`` for clear with V zero point ...).
    standardized : bool
        ``MTYPE=STD`` when the magnitudes are on the standard scale (from the
        comparison stars' catalogue magnitudes), else ``DIF``.
    comparison_name, comparison_mag : optional
        Comparison star (``ENSEMBLE`` for an ensemble: ``CMAG=na``).
    check_name, check_mag : optional
        Check star and its magnitude per row (for an ensemble, its standard
        magnitude from the ensemble, as VPhot writes it).
    notes, row_notes : optional
        NOTES of every row, or one per row (e.g. VPhot's ensemble keys
        ``|CREFMAG=..|CMAGINS=..|VMAGINS=..``, :func:`ensemble_notes`).
    """
    if not obscode or not obscode.strip():
        raise ExportError("the AAVSO report needs your observer code (OBSCODE)")
    if filter.upper() not in AAVSO_FILTERS:
        raise ExportError(f"{filter!r} is not an AAVSO filter code (e.g. V, B, R, CV, SG)")
    if len(delimiter) != 1 or delimiter in ".-+ " or not 32 <= ord(delimiter) <= 126:
        raise ExportError(f"delimiter {delimiter!r} cannot be used in an AAVSO report")
    if not standardized and (comparison_name == "ENSEMBLE" or comparison_mag is None):
        raise ExportError("differential (DIF) magnitudes need a single comparison star and CMAG")
    jd = np.asarray(jd_utc, dtype=float)
    mag = np.asarray(mag, dtype=float)
    err = np.asarray(mag_err, dtype=float)
    n = jd.size
    cmag = np.full(n, np.nan) if comparison_mag is None else np.asarray(comparison_mag, float)
    kmag = np.full(n, np.nan) if check_mag is None else np.asarray(check_mag, float)
    am = np.full(n, np.nan) if airmass is None else np.asarray(airmass, float)
    lines = [
        "#TYPE=EXTENDED",
        f"#OBSCODE={obscode.strip().upper()}",
        f"#SOFTWARE={software}",
        f"#DELIM={delimiter}",
        "#DATE=JD",
        "#OBSTYPE=CCD",
        "#" + delimiter.join(_HEADER_NAMES),
    ]
    for i in range(n):
        if not (np.isfinite(jd[i]) and np.isfinite(mag[i])):
            continue
        fields = {
            "STARID": star_id,
            "DATE": f"{jd[i]:.5f}",
            "MAGNITUDE": f"{mag[i]:.3f}",
            "MAGERR": _num(err[i], ".3f"),
            "FILTER": filter.upper(),
            "TRANS": "YES" if transformed else "NO",
            "MTYPE": "STD" if standardized else "DIF",
            "CNAME": comparison_name,
            "CMAG": _num(cmag[i], ".3f"),
            "KNAME": check_name,
            "KMAG": _num(kmag[i], ".3f"),
            "AIRMASS": _num(am[i], ".4f"),
            "GROUP": "na",
            "CHART": chart,
            "NOTES": notes if row_notes is None else (row_notes[i] or "na"),
        }
        for key, limit in _LIMITS.items():
            if len(fields[key]) > limit:
                raise ExportError(f"{key} {fields[key]!r} is longer than {limit} characters")
        for key, value in fields.items():
            if delimiter in value:
                raise ExportError(f"{key} {value!r} contains the delimiter {delimiter!r}")
        lines.append(delimiter.join(fields[k] for k in AAVSO_FIELDS))
    if len(lines) == 7:
        raise ExportError("the light curve has no valid point to report")
    return "\n".join(lines) + "\n"


def standard_magnitude_err(light_curve) -> np.ndarray:
    """Each point's error as a standard magnitude: its noise and the scale's common error.

    A light curve's ``mag_err`` is the noise its points scatter by; the error
    of the magnitude scale, the same for the whole night, is apart: the
    calibration's common error ``mag_err_sys`` (``fluxion run``'s curve: the
    calibration stars' catalog errors) or, for a curve against comparison
    stars of known magnitude, ``meta['magnitude_scale_err']`` (the ensemble's
    catalogue magnitude's error). A report's reader comparing observers must
    see both, so they add in quadrature.
    """
    err = np.asarray(light_curve["mag_err"], dtype=float)
    if "mag_err_sys" in light_curve.colnames:
        err = np.hypot(err, np.nan_to_num(np.asarray(light_curve["mag_err_sys"], dtype=float)))
    try:
        scale = float(light_curve.meta.get("magnitude_scale_err", 0.0) or 0.0)
    except (TypeError, ValueError):
        scale = 0.0
    if np.isfinite(scale) and scale > 0:
        err = np.hypot(err, scale)
    return err


def format_aavso_light_curve(light_curve, star_id: str, *, obscode: str, filter: str = "") -> str:
    """The AAVSO report of a project's light curve (``fluxion run``): its calibrated frames.

    Parameters
    ----------
    light_curve : Table
        :func:`fluxion.core.chain.lightcurve.light_curve_from_magnitudes`'
        table: ``jd_utc``, ``mag``, ``mag_err``, ``calibrated``, ``airmass``
        (the magnitude scale's common error is added to each point's error:
        :func:`standard_magnitude_err`); a colour night's has the channel and
        its code (``TG``, ``TB``, ``TR``) in its meta, and ``band`` there is
        the zero points' (a clear filter's code follows it: CV or CR).
    star_id, obscode : str
        As for :func:`format_aavso`.
    filter : str
        The filter code; by default the light curve's (its channel's code).

    Raises
    ------
    ExportError
        No filter code, or no frame with a zero point (instrumental
        magnitudes are never reported as standard ones).
    """
    from .aavso_exoplanet import aavso_filter_code

    meta = light_curve.meta
    named = (filter or str(meta.get("filter", "") or "")).strip()
    # A clear filter's code is its zero point's band's (CV, CR): the calibration's.
    band = str(meta.get("band", "") or "") or None
    code = aavso_filter_code(named, band)
    if not code:
        raise ExportError(
            f"the frames' filter {named or 'none'!r} has no AAVSO filter code "
            f"(V, B, R, CV, TG, ...){f' with a {band} zero point' if band else ''}"
        )
    calibrated = np.asarray(light_curve["calibrated"], dtype=bool)
    if not calibrated.any():
        raise ExportError("no frame has a zero point: the magnitudes are instrumental")
    mag = np.where(calibrated, np.asarray(light_curve["mag"], dtype=float), np.nan)
    err = standard_magnitude_err(light_curve)
    channel = meta.get("channel")
    notes = f"colour camera {channel} channel" if channel else "na"
    return format_aavso(
        star_id, light_curve["jd_utc"], mag, err, obscode=obscode,
        filter=code, airmass=light_curve["airmass"], notes=notes,
    )  # fmt: skip


def ensemble_notes(
    mag: np.ndarray,
    target_flux: np.ndarray,
    comparison_flux: np.ndarray,
    *,
    check_flux: np.ndarray | None = None,
    check_ref_mag: float | None = None,
    check_ref_err: float | None = None,
    extra: str = "",
) -> list[str]:
    """VPhot's ensemble keys for each row's NOTES, so that the AAVSO's Transform
    Applier can transform an ensemble observation.

    ``VMAGINS`` is the target's instrumental magnitude, ``CMAGINS`` the
    ensemble's (its summed flux) and ``CREFMAG`` the ensemble's reference
    magnitude, so that ``MAG = VMAGINS - CMAGINS + CREFMAG`` as the AAVSO
    requires; ``KMAGINS``/``KREFMAG``/``KREFERR`` describe the check star.
    Instrumental magnitudes are -2.5 log10 of the fluxes as measured.
    """
    mag = np.asarray(mag, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vins = -2.5 * np.log10(np.asarray(target_flux, float))
        cins = -2.5 * np.log10(np.asarray(comparison_flux, float))
        kins = None if check_flux is None else -2.5 * np.log10(np.asarray(check_flux, float))
    cref = mag - vins + cins
    out = []
    for i in range(mag.size):
        keys = [("CREFMAG", cref[i]), ("CMAGINS", cins[i]), ("VMAGINS", vins[i])]
        if kins is not None:
            keys += [("KMAGINS", kins[i])]
        if check_ref_mag is not None:
            keys += [("KREFMAG", check_ref_mag), ("KREFERR", check_ref_err)]
        text = "".join(f"|{k}={_num(v, '.3f')}" for k, v in keys if v is not None)
        out.append((extra + text) if np.isfinite(cref[i]) else (extra or "na"))
    return out


def write_aavso(path: str | os.PathLike[str], text: str) -> Path:
    """Write a report made by :func:`format_aavso` atomically (.txt, .csv or .tsv)."""
    path = Path(path)
    if path.suffix.lower() not in (".txt", ".csv", ".tsv"):
        raise ExportError("the AAVSO accepts only .txt, .csv and .tsv files")
    return atomic_write_text(path, text, encoding="ascii")
