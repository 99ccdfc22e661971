"""Astrometry reports to the Minor Planet Center: 80-column and ADES PSV.

The 80-column format (MPC, "Format for optical astrometric observations"):

====== =====================================================
cols   content
====== =====================================================
1-5    packed minor-planet number (blank if unnumbered)
6-12   packed provisional designation or temporary designation
13     discovery asterisk
14     note 1
15     note 2: ``C`` for CCD
16-32  date of mid-exposure UTC, ``YYYY MM DD.dddddd``
33-44  RA (J2000) ``HH MM SS.sss``
45-56  Dec (J2000) ``sDD MM SS.ss``
57-65  blank
66-70  magnitude ``mm.m``, 71: band
72-77  blank
78-80  observatory code
====== =====================================================

ADES PSV (pipe-separated values, ADES version 2017) carries the same
observations with decimal degrees, per-observation uncertainties and the
astrometric catalogue, and is what the MPC prefers today.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.coordinates import Angle
from astropy.time import Time

from ..io.fitsio import atomic_write_text
from . import ExportError

__all__ = [
    "MpcObservation",
    "pack_number",
    "pack_provisional",
    "format_mpc80",
    "format_ades_psv",
    "write_report",
]

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_PROVISIONAL = re.compile(r"^(\d{2})(\d{2})\s*([A-HJ-Y])([A-HJ-Z])(\d*)$")


@dataclass(frozen=True)
class MpcObservation:
    """One astrometric position of the target.

    Attributes
    ----------
    jd_utc : float
        Mid-exposure Julian date (UTC).
    ra, dec : float
        ICRS/J2000 position (deg).
    mag : float
        Magnitude (NaN when not measured).
    sigma_ra, sigma_dec : float
        1-sigma uncertainties (arcsec; RA as a great-circle distance).
    """

    jd_utc: float
    ra: float
    dec: float
    mag: float = float("nan")
    sigma_ra: float = float("nan")
    sigma_dec: float = float("nan")


def pack_number(number: int) -> str:
    """The MPC's 5-character packed form of a minor-planet number."""
    if number < 1:
        raise ExportError(f"invalid minor-planet number {number}")
    if number < 100_000:
        return f"{number:05d}"
    if number < 620_000:
        head, tail = divmod(number, 10_000)
        return _BASE62[head] + f"{tail:04d}"
    rest = number - 620_000
    if rest >= 62**4:
        raise ExportError(f"minor-planet number {number} is too large to pack")
    chars = []
    for _ in range(4):
        rest, k = divmod(rest, 62)
        chars.append(_BASE62[k])
    return "~" + "".join(reversed(chars))


def pack_provisional(designation: str) -> str:
    """The 7-character packed form of a provisional designation (``2018 AB12``)."""
    m = _PROVISIONAL.match(designation.strip().replace(" ", ""))
    if m is None:
        raise ExportError(f"{designation!r} is not a provisional designation like '2018 AB12'")
    century, year, half, letter, cycle = m.groups()
    century_code = {"18": "I", "19": "J", "20": "K"}.get(century)
    if century_code is None:
        raise ExportError(f"{designation!r}: year outside 1800-2099")
    n = int(cycle) if cycle else 0
    if n >= 620:
        raise ExportError(f"{designation!r}: cycle count too large to pack")
    cycle_code = _BASE62[n // 10] + str(n % 10)
    return f"{century_code}{year}{half}{cycle_code}{letter}"


def _designation_columns(number: int | None, designation: str) -> str:
    if number is not None:
        return pack_number(number) + " " * 7
    if not designation:
        raise ExportError("the report needs the object's number or designation")
    try:
        packed = pack_provisional(designation)
    except ExportError:
        # A temporary designation of the observer's own (at most 7 characters).
        if len(designation) > 7:
            raise ExportError(f"temporary designation {designation!r} is longer than 7") from None
        packed = designation
    return " " * 5 + packed.ljust(7)


def _date_columns(jd: float) -> str:
    t = Time(jd, format="jd", scale="utc")
    whole = Time(t.strftime("%Y-%m-%d"), scale="utc")
    day = int(t.strftime("%d")) + (t.jd - whole.jd)
    return f"{t.strftime('%Y %m')} {day:09.6f}"


def _sexagesimal(angle_deg: float, *, hours: bool, decimals: int) -> str:
    a = Angle(angle_deg / 15.0 if hours else angle_deg, unit="hourangle" if hours else "deg")
    text = a.to_string(sep=" ", precision=decimals, pad=True, alwayssign=not hours)
    return text


def format_mpc80(
    observations: Sequence[MpcObservation],
    *,
    station: str,
    number: int | None = None,
    designation: str = "",
    band: str = "V",
    note2: str = "C",
    discovery: bool = False,
) -> str:
    """Observations as MPC 80-column lines (one per observation)."""
    if not re.fullmatch(r"[0-9A-Z][0-9]{2}", station or ""):
        raise ExportError(f"{station!r} is not an MPC observatory code (e.g. 568, G96)")
    head = _designation_columns(number, designation)
    lines = []
    for k, obs in enumerate(observations):
        mag = f"{obs.mag:4.1f} {band[:1]}" if np.isfinite(obs.mag) else " " * 6
        line = (
            head
            + ("*" if discovery and k == 0 else " ")
            + " "
            + note2[:1]
            + _date_columns(obs.jd_utc)
            + _sexagesimal(obs.ra, hours=True, decimals=3)
            + _sexagesimal(obs.dec, hours=False, decimals=2)
            + " " * 9
            + mag
            + " " * 6
            + station
        )
        if len(line) != 80:
            raise ExportError(f"internal error: MPC line of {len(line)} characters")
        lines.append(line)
    return "\n".join(lines) + "\n"


def format_ades_psv(
    observations: Sequence[MpcObservation],
    *,
    station: str,
    observers: Sequence[str],
    number: int | None = None,
    designation: str = "",
    ast_cat: str = "Gaia3",
    band: str = "V",
    submitter: str = "",
) -> str:
    """Observations as ADES PSV (version 2017)."""
    if not observers:
        raise ExportError("ADES needs at least one observer's name")
    perm = str(number) if number is not None else ""
    prov = designation if number is None else ""
    if not perm and not prov:
        raise ExportError("the report needs the object's number or designation")
    lines = [
        "# version=2017",
        "# observatory",
        f"! mpcCode {station}",
        "# submitter",
        f"! name {submitter or observers[0]}",
        "# observers",
        *[f"! name {o}" for o in observers],
        "# measurers",
        *[f"! name {o}" for o in observers],
    ]
    cols = ("permID", "provID", "mode", "stn", "obsTime", "ra", "dec", "rmsRA", "rmsDec",
            "astCat", "mag", "band")  # fmt: skip
    rows = [cols]
    for obs in observations:
        t = Time(obs.jd_utc, format="jd", scale="utc").isot[:23] + "Z"
        rows.append((
            perm, prov, "CCD", station, t, f"{obs.ra:.7f}", f"{obs.dec:+.7f}",
            f"{obs.sigma_ra:.3f}" if np.isfinite(obs.sigma_ra) else "",
            f"{obs.sigma_dec:.3f}" if np.isfinite(obs.sigma_dec) else "",
            ast_cat, f"{obs.mag:.2f}" if np.isfinite(obs.mag) else "",
            band if np.isfinite(obs.mag) else "",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    for r in rows:
        lines.append("|".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def write_report(path: str | os.PathLike[str], text: str) -> Path:
    """Write an MPC or ADES report atomically (ASCII)."""
    return atomic_write_text(Path(path), text, encoding="ascii")
