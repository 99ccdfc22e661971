"""ALCDEF: the Asteroid Lightcurve Data Exchange Format (Warner et al., standard v2).

One file holds one or more sessions (one night, one filter, one comparison
set); each is a ``STARTMETADATA`` ... ``ENDMETADATA`` block of ``KEY=value``
lines followed by ``DATA=JD|mag|err`` lines and ``ENDDATA``. Times are
mid-exposure JD(UTC) without light-time correction (``LTCAPP=NONE``), as the
MPC's ALCDEF database expects unless the metadata says otherwise: a session
whose times were corrected for light time says so with ``LTCAPP=AVERAGE``,
``LTCTYPE=LIGHTTIME`` and the correction in ``LTCDAYS``, and one whose
magnitudes were reduced to unit distances with ``REDUCEDMAGS=AVERAGE`` and
``UCORMAG`` (-5 log10(r delta)), with the phase angle in ``PHASE``. Lines are at
most 255 characters; values must not contain the delimiter.

:func:`parse_alcdef` reads the format back (also files written by others) and
:func:`check_alcdef` lists departures from the standard, so tests and users
can validate a file before submitting it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.time import Time

from ..io.fitsio import atomic_write_text
from . import ExportError

__all__ = ["AlcdefSession", "write_alcdef", "format_alcdef", "parse_alcdef", "check_alcdef"]

#: Keys the standard requires in every session's metadata.
REQUIRED_KEYS = (
    "OBJECTNUMBER", "OBJECTNAME", "MPCDESIG", "SESSIONDATE", "SESSIONTIME", "CONTACTNAME",
    "CONTACTINFO", "OBSERVERS", "FILTER", "MAGBAND", "DIFFERMAGS", "LTCAPP", "LTCTYPE",
    "REDUCEDMAGS", "DELIMITER", "ALLOWSHARING", "REVISEDATA",
)  # fmt: skip

_MAX_LINE = 255


@dataclass(frozen=True)
class AlcdefSession:
    """Metadata of one ALCDEF session; the data come from the light curve.

    Attributes follow the standard's keywords. ``filter`` is the filter used
    (``C`` for clear, ``V``, ``R``, ``SR`` ...), ``magband`` the band of the
    magnitudes. ``differential`` is True when the magnitudes are relative to
    the comparison ensemble (``DIFFERMAGS=TRUE``) rather than calibrated.
    Either ``mpc_code`` or ``longitude``/``latitude`` (deg, east positive)
    identify the site. ``comparison`` lists ``(name, ra_deg, dec_deg, mag)``.
    """

    object_number: int | None
    object_name: str
    contact_name: str
    contact_info: str
    observers: str
    filter: str = "C"
    magband: str = "V"
    mpc_designation: str = ""
    differential: bool = False
    mpc_code: str = ""
    longitude: float | None = None
    latitude: float | None = None
    facility: str = ""
    allow_sharing: bool = True
    comment: str = ""
    comparison: Sequence[tuple[str, float, float, float]] = field(default_factory=tuple)
    light_time_days: float | None = None
    """Light-time correction added to the times (days, negative), when applied."""
    unit_distance_mag: float | None = None
    """Correction added to the magnitudes (-5 log10(r delta)), when they are reduced."""
    phase_angle: float | None = None
    """Phase angle (deg) of the session."""


def _bool(value: bool) -> str:
    return "TRUE" if value else "FALSE"


def _clean(value: object) -> str:
    text = str(value).replace("|", "/").replace("\n", " ").strip()
    return text


def format_alcdef(
    session: AlcdefSession,
    jd_utc: np.ndarray,
    mag: np.ndarray,
    mag_err: np.ndarray,
    airmass: np.ndarray | None = None,
) -> str:
    """The text of one ALCDEF session (points with a NaN are left out)."""
    jd = np.asarray(jd_utc, dtype=float)
    mag = np.asarray(mag, dtype=float)
    err = np.asarray(mag_err, dtype=float)
    good = np.isfinite(jd) & np.isfinite(mag) & np.isfinite(err)
    if not good.any():
        raise ExportError("the light curve has no valid point to write to ALCDEF")
    if not session.mpc_code and (session.longitude is None or session.latitude is None):
        raise ExportError("ALCDEF needs the observatory: an MPC code or the site's coordinates")
    if session.object_number is None and not session.mpc_designation:
        raise ExportError("ALCDEF needs the asteroid's number or its MPC designation")
    # SESSIONDATE/TIME: the session's mid-time, to the second (standard v2).
    mid = Time(0.5 * (jd[good].min() + jd[good].max()), format="jd", scale="utc")
    date, clock = mid.isot.split("T")
    meta = [
        ("OBJECTNUMBER", session.object_number if session.object_number is not None else 0),
        ("OBJECTNAME", session.object_name),
        ("MPCDESIG", session.mpc_designation),
        ("REVISEDATA", "FALSE"),
        ("ALLOWSHARING", _bool(session.allow_sharing)),
    ]
    if session.mpc_code:
        meta.append(("MPCCODE", session.mpc_code))
    if session.longitude is not None and session.latitude is not None:
        lon = (session.longitude + 180.0) % 360.0 - 180.0
        meta += [("OBSLONGITUDE", f"{lon:+09.4f}"), ("OBSLATITUDE", f"{session.latitude:+08.4f}")]
    meta += [
        ("DELIMITER", "PIPE"),
        ("CONTACTINFO", session.contact_info),
        ("CONTACTNAME", session.contact_name),
        ("DIFFERMAGS", _bool(session.differential)),
    ]
    if session.facility:
        meta.append(("FACILITY", session.facility))
    ltc = session.light_time_days
    ucor = session.unit_distance_mag
    meta += [("FILTER", session.filter), ("LTCAPP", "NONE" if ltc is None else "AVERAGE")]
    if ltc is not None:
        meta.append(("LTCDAYS", f"{ltc:+.6f}"))
    meta += [
        ("LTCTYPE", "NONE" if ltc is None else "LIGHTTIME"),
        ("MAGBAND", session.magband),
        ("OBSERVERS", session.observers),
    ]
    if session.phase_angle is not None:
        meta.append(("PHASE", f"{session.phase_angle:+.2f}"))
    meta.append(("REDUCEDMAGS", "NONE" if ucor is None else "AVERAGE"))
    meta += [("SESSIONDATE", date), ("SESSIONTIME", clock[:8])]
    if ucor is not None:
        meta.append(("UCORMAG", f"{ucor:+.3f}"))
    for k, (name, ra, dec, cmag) in enumerate(session.comparison, start=1):
        meta += [
            (f"COMPNAME{k}", name),
            (f"COMPRA{k}", _sexagesimal(ra / 15.0, 2, signed=False)),
            (f"COMPDEC{k}", _sexagesimal(dec, 1, signed=True)),
            (f"COMPMAG{k}", f"{cmag:+.3f}"),
        ]
    if session.comment:
        meta.append(("COMMENT", session.comment))
    lines = ["STARTMETADATA"] + [f"{k}={_clean(v)}" for k, v in meta] + ["ENDMETADATA"]
    am = None if airmass is None else np.asarray(airmass, dtype=float)
    for i in np.flatnonzero(good):
        row = f"DATA={jd[i]:.6f}|{mag[i]:+.3f}|{err[i]:+.3f}"
        if am is not None and np.isfinite(am[i]):
            row += f"|{am[i]:+.3f}"
        lines.append(row)
    lines.append("ENDDATA")
    too_long = [ln for ln in lines if len(ln) > _MAX_LINE]
    if too_long:
        raise ExportError(f"ALCDEF line longer than {_MAX_LINE} characters: {too_long[0][:40]}...")
    return "\n".join(lines) + "\n"


def _sexagesimal(value: float, decimals: int, *, signed: bool) -> str:
    sign = "-" if value < 0 else "+"
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = ((v - d) * 60 - m) * 60
    if round(s, decimals) >= 60:
        s, m = 0.0, m + 1
    if m >= 60:
        m, d = 0, d + 1
    text = f"{d:02d}:{m:02d}:{s:0{3 + decimals}.{decimals}f}"
    return (sign if signed else "") + text


def write_alcdef(
    path: str | os.PathLike[str],
    sessions: Sequence[tuple[AlcdefSession, np.ndarray, np.ndarray, np.ndarray]],
) -> Path:
    """Write sessions ``(metadata, jd_utc, mag, mag_err)`` to an ALCDEF file atomically."""
    if not sessions:
        raise ExportError("no session to write")
    text = "".join(format_alcdef(s, jd, m, e) for s, jd, m, e in sessions)
    return atomic_write_text(path, text, encoding="ascii")


def parse_alcdef(text: str) -> list[tuple[dict[str, str], np.ndarray]]:
    """Read ALCDEF text into ``(metadata, data)`` per session.

    ``data`` is an (n, k) float array of the DATA columns (JD, mag, err[, airmass]).
    """
    sessions: list[tuple[dict[str, str], np.ndarray]] = []
    meta: dict[str, str] = {}
    rows: list[list[float]] = []
    state = "outside"
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "STARTMETADATA":
            meta, rows, state = {}, [], "meta"
        elif line == "ENDMETADATA":
            state = "data"
        elif line == "ENDDATA":
            sessions.append((meta, np.array(rows, dtype=float).reshape(len(rows), -1)))
            state = "outside"
        elif state == "meta" and "=" in line:
            key, value = line.split("=", 1)
            meta[key.strip().upper()] = value.strip()
        elif state == "data" and line.startswith("DATA="):
            delim = "\t" if meta.get("DELIMITER", "PIPE").upper() == "TAB" else "|"
            rows.append([float(v) for v in line[5:].split(delim)])
        else:
            raise ExportError(f"ALCDEF line {n} is out of place: {line[:40]!r}")
    return sessions


def check_alcdef(text: str) -> list[str]:
    """Departures from the ALCDEF standard (empty when the file conforms)."""
    problems = []
    for n, line in enumerate(text.splitlines(), start=1):
        if len(line) > _MAX_LINE:
            problems.append(f"line {n} longer than {_MAX_LINE} characters")
    try:
        sessions = parse_alcdef(text)
    except (ExportError, ValueError) as exc:
        return problems + [str(exc)]
    for k, (meta, data) in enumerate(sessions, start=1):
        for key in REQUIRED_KEYS:
            if key not in meta:
                problems.append(f"session {k}: missing {key}")
        if "MPCCODE" not in meta and not {"OBSLONGITUDE", "OBSLATITUDE"} <= meta.keys():
            problems.append(f"session {k}: no MPCCODE nor OBSLONGITUDE/OBSLATITUDE")
        if data.shape[0] == 0:
            problems.append(f"session {k}: no DATA lines")
        elif data.shape[1] < 2 or not np.all(data[:, 0] > 2_400_000):
            problems.append(f"session {k}: DATA times are not Julian dates")
        if meta.get("LTCAPP", "NONE").upper() == "AVERAGE" and "LTCDAYS" not in meta:
            problems.append(f"session {k}: LTCAPP=AVERAGE without LTCDAYS")
        if meta.get("REDUCEDMAGS", "NONE").upper() == "AVERAGE" and "UCORMAG" not in meta:
            problems.append(f"session {k}: REDUCEDMAGS=AVERAGE without UCORMAG")
        for key in ("DIFFERMAGS", "ALLOWSHARING", "REVISEDATA"):
            if meta.get(key, "FALSE").upper() not in ("TRUE", "FALSE"):
                problems.append(f"session {k}: {key} must be TRUE or FALSE")
    if not sessions:
        problems.append("no session")
    return problems
