"""The AAVSO Exoplanet Report File Format (version 0.62, 2018) and its checker.

One file is one observation: ``#KEY=value`` parameters, then a header line
and one measurement per line (``DATE,DIFF,ERR`` and the detrending values).
Required parameters: TYPE (``EXOPLANET``), OBSCODE, SOFTWARE, DELIM, DATE_TYPE,
OBSTYPE, STAR_NAME, EXOPLANET_NAME, BINNING, EXPOSURE_TIME, FILTER,
DETREND_PARAMETERS, MEASUREMENT_TYPE; PRIORS, RESULTS, NOTES and
SECONDARY_OBSCODES are optional. Fluxion writes BJD_TDB dates, the relative
flux divided by the fitted baseline (``MEASUREMENT_TYPE=Rnflux``, as EXOTIC
and AstroImageJ do) and one DETREND column per baseline regressor.

:func:`check_aavso_exoplanet` lists every departure from the format, so a
report can be checked before it is uploaded (as :func:`~.alcdef.check_alcdef`
does for ALCDEF).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io.fitsio import atomic_write_text
from ..zeropoint.bands import is_clear_filter
from . import ExportError
from .aavso import AAVSO_FILTERS

__all__ = [
    "ExoplanetReport",
    "format_aavso_exoplanet",
    "write_aavso_exoplanet",
    "parse_aavso_exoplanet",
    "check_aavso_exoplanet",
    "REQUIRED_PARAMETERS",
    "aavso_filter_code",
]

#: Parameters every report must carry.
REQUIRED_PARAMETERS = (
    "TYPE", "OBSCODE", "SOFTWARE", "DELIM", "DATE_TYPE", "OBSTYPE", "STAR_NAME",
    "EXOPLANET_NAME", "BINNING", "EXPOSURE_TIME", "FILTER", "DETREND_PARAMETERS",
    "MEASUREMENT_TYPE",
)  # fmt: skip
DATE_TYPES = ("BJD_TDB", "HJD_UTC", "JD_UTC")
OBSTYPES = ("CCD", "DSLR", "CMOS", "PEP", "VISUAL")
MEASUREMENT_TYPES = ("Rnflux", "Dflux", "Rnmag", "Dmag")
DELIMITERS = {",": ",", "comma": ",", ";": ";", "!": "!", "|": "|", "tab": "\t"}
_MAX_SOFTWARE = 255


@dataclass(frozen=True)
class ExoplanetReport:
    """The parameters of one report; the measurements come with :func:`format_aavso_exoplanet`.

    ``filter`` must be an AAVSO code (``V``, ``R``, ``SR``, ``CV`` for clear
    with V zero point, ...). ``priors`` and ``results`` are written as
    ``name=value +/- error`` lists.
    """

    obscode: str
    star_name: str
    exoplanet_name: str
    filter: str
    exposure_s: float
    software: str = "Fluxion"
    obstype: str = "CCD"
    binning: str = "1x1"
    secondary_obscodes: str = ""
    notes: str = ""
    priors: Mapping[str, tuple[float, float | None]] | None = None
    results: Mapping[str, tuple[float, float | None]] | None = None


# Filter names as headers and observers write them -> AAVSO codes (clear ones: is_clear_filter).
_FILTER_CODES = {
    "U": "U", "B": "B", "V": "V", "R": "R", "RC": "R", "I": "I", "IC": "I",
    "SU": "SU", "U'": "SU", "SG": "SG", "G'": "SG", "SR": "SR", "R'": "SR", "SI": "SI",
    "I'": "SI", "SZ": "SZ", "Z'": "SZ",
}  # fmt: skip


def aavso_filter_code(name: str | None, zero_point_band: str | None = None) -> str:
    """The AAVSO code of a filter name, or "" when there is none (the checker then says so).

    A filter the calibration takes for unfiltered light (Open, L, a UV/IR-cut
    window such as the Seestar's IRCUT: :func:`~fluxion.core.zeropoint.bands.is_clear_filter`)
    is AAVSO's clear: CV with a V zero point, CR with an R one (AAVSO's band
    codes); ``zero_point_band`` None (a relative flux, no zero point) keeps
    CV, the code AAVSO's exoplanet database takes for clear. A clear filter
    zero-pointed to any other band has no AAVSO code.
    """
    if not name:
        return ""
    key = " ".join(str(name).strip().upper().split())
    if key in AAVSO_FILTERS:
        return key
    if is_clear_filter(name):
        return {None: "CV", "V": "CV", "R": "CR"}.get(zero_point_band, "")
    return _FILTER_CODES.get(key, "")


def _pairs(values: Mapping[str, tuple[float, float | None]]) -> str:
    parts = []
    for name, (v, e) in values.items():
        # Julian dates need their six decimals; other values 6 significant digits.
        text = f"{v:.6f}" if abs(v) > 1e4 else f"{v:.6g}"
        parts.append(f"{name}={text}" if e is None else f"{name}={text} +/- {e:.2g}")
    return ",".join(parts)


def format_aavso_exoplanet(
    report: ExoplanetReport,
    bjd_tdb: np.ndarray,
    flux: np.ndarray,
    flux_err: np.ndarray,
    detrend: Mapping[str, np.ndarray] | None = None,
) -> str:
    """The text of a report (points with a NaN are left out).

    Parameters
    ----------
    report : ExoplanetReport
    bjd_tdb, flux, flux_err : ndarray
        Mid-exposure BJD_TDB, normalised relative flux and its error.
    detrend : mapping, optional
        Detrending parameter name -> value per point (``AIRMASS``, ``FWHM`` ...).

    A value the observer must still give (the observer code, an AAVSO filter
    code) is written as given, empty if unknown; :func:`check_aavso_exoplanet`
    names it, so the file is kept and can be completed by hand.

    Raises
    ------
    ExportError
        No valid measurement.
    """
    t = np.asarray(bjd_tdb, float)
    f = np.asarray(flux, float)
    e = np.asarray(flux_err, float)
    detrend = dict(detrend or {})
    good = np.isfinite(t) & np.isfinite(f) & np.isfinite(e)
    for v in detrend.values():
        good &= np.isfinite(np.asarray(v, float))
    if not good.any():
        raise ExportError("the light curve has no valid point to write to the AAVSO report")
    names = list(detrend)
    lines = [
        "#TYPE=EXOPLANET",
        f"#OBSCODE={report.obscode.strip()}",
        f"#SECONDARY_OBSCODES={report.secondary_obscodes}",
        f"#SOFTWARE={report.software[:_MAX_SOFTWARE]}",
        "#DELIM=,",
        "#DATE_TYPE=BJD_TDB",
        f"#OBSTYPE={report.obstype}",
        f"#STAR_NAME={report.star_name}",
        f"#EXOPLANET_NAME={report.exoplanet_name}",
        f"#BINNING={report.binning}",
        f"#EXPOSURE_TIME={report.exposure_s:g}",
        f"#FILTER={report.filter}",
        f"#DETREND_PARAMETERS={','.join(n.upper() for n in names)}",
        "#MEASUREMENT_TYPE=Rnflux",
    ]
    if report.priors:
        lines.append(f"#PRIORS={_pairs(report.priors)}")
    if report.results:
        lines.append(f"#RESULTS={_pairs(report.results)}")
    lines.append(f"#NOTES={report.notes.replace(chr(10), ' ')}")
    lines.append("#DATE,DIFF,ERR" + "".join(f",DETREND_{k + 1}" for k in range(len(names))))
    for i in np.flatnonzero(good):
        row = [f"{t[i]:.6f}", f"{f[i]:.6f}", f"{e[i]:.6f}"]
        row += [f"{float(np.asarray(detrend[n])[i]):.6g}" for n in names]
        lines.append(",".join(row))
    return "\n".join(lines) + "\n"


def write_aavso_exoplanet(path: str | os.PathLike[str], text: str) -> Path:
    """Write a report's text atomically."""
    return atomic_write_text(Path(path), text)


def parse_aavso_exoplanet(text: str) -> tuple[dict[str, str], list[str], list[list[str]]]:
    """Parameters, the data's column names and its rows (as text)."""
    params: dict[str, str] = {}
    header: list[str] = []
    rows: list[list[str]] = []
    delim = ","
    for line in text.splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep and key.strip().upper() == key.strip() and " " not in key.strip():
                params[key.strip()] = value
                if key.strip() == "DELIM":
                    delim = DELIMITERS.get(value.strip(), value.strip() or ",")
            elif line[1:].startswith("DATE"):
                header = [c.strip() for c in line[1:].split(delim)]
            continue
        if line.strip():
            rows.append([c.strip() for c in line.split(delim)])
    return params, header, rows


def _float(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def check_aavso_exoplanet(text: str) -> list[str]:
    """Departures of a report from the AAVSO Exoplanet Report File Format.

    Returns
    -------
    list of str
        One message per problem; empty for a valid report.
    """
    problems: list[str] = []
    params, header, rows = parse_aavso_exoplanet(text)
    for key in REQUIRED_PARAMETERS:
        if key not in params:
            problems.append(f"missing required parameter #{key}=")
        elif not params[key].strip() and key != "DETREND_PARAMETERS":
            problems.append(f"#{key}= is empty")
    if params.get("TYPE", "EXOPLANET").strip() != "EXOPLANET":
        problems.append("#TYPE= must be EXOPLANET")
    if "DATE_TYPE" in params and params["DATE_TYPE"].strip() not in DATE_TYPES:
        problems.append(f"#DATE_TYPE= must be one of {', '.join(DATE_TYPES)}")
    if "OBSTYPE" in params and params["OBSTYPE"].strip() not in OBSTYPES:
        problems.append(f"#OBSTYPE= must be one of {', '.join(OBSTYPES)}")
    if "MEASUREMENT_TYPE" in params and params["MEASUREMENT_TYPE"].strip() not in MEASUREMENT_TYPES:
        problems.append(f"#MEASUREMENT_TYPE= must be one of {', '.join(MEASUREMENT_TYPES)}")
    if "FILTER" in params and params["FILTER"].strip() not in AAVSO_FILTERS:
        problems.append(f"#FILTER={params['FILTER']} is not an AAVSO filter code")
    if "EXPOSURE_TIME" in params and not (_float(params["EXPOSURE_TIME"]) or 0) > 0:
        problems.append("#EXPOSURE_TIME= must be a positive number of seconds")
    if "BINNING" in params and not _binning_ok(params["BINNING"]):
        problems.append("#BINNING= must read like 1x1")
    if len(params.get("SOFTWARE", "")) > _MAX_SOFTWARE:
        problems.append(f"#SOFTWARE= is longer than {_MAX_SOFTWARE} characters")
    n_detrend = len([d for d in params.get("DETREND_PARAMETERS", "").split(",") if d.strip()])
    expected = ["DATE", "DIFF", "ERR"] + [f"DETREND_{k + 1}" for k in range(n_detrend)]
    if header[:3] != expected[:3]:
        problems.append("the data's header line must start #DATE,DIFF,ERR")
    elif len(header) != len(expected):
        problems.append(
            f"{n_detrend} detrending parameter(s) named but {len(header) - 3} DETREND column(s)"
        )
    if not rows:
        problems.append("no measurements")
    problems += _check_rows(rows, len(header), params.get("DATE_TYPE", "").strip())
    return problems


def _binning_ok(text: str) -> bool:
    parts = text.lower().split("x")
    return len(parts) == 2 and all(p.strip().isdigit() for p in parts)


def _check_rows(rows: Sequence[list[str]], width: int, date_type: str) -> list[str]:
    problems = []
    last = -math.inf
    for n, row in enumerate(rows, start=1):
        if width and len(row) != width:
            problems.append(f"measurement {n}: {len(row)} fields, the header has {width}")
            continue
        parsed = [_float(c) for c in row]
        values = [v for v in parsed if v is not None]
        if len(values) < len(parsed):
            problems.append(f"measurement {n}: a field is not a number")
            continue
        date, _, err = values[:3]
        if date_type == "BJD_TDB" and not 2_400_000 < date < 2_600_000:
            problems.append(f"measurement {n}: date {row[0]} is not a full BJD")
        if err <= 0:
            problems.append(f"measurement {n}: error must be positive")
        if date <= last:
            problems.append(f"measurement {n}: dates must increase")
        last = date
    return problems
