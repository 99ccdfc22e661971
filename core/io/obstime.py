"""Mid-exposure time from the many ways headers write an observation time.

A profile lists time sources in order of preference, each one of::

    {"date": "DATE-OBS", "time": ["TIME-OBS", "UT"], "at": "start"}
    {"mjd": "MJD-OBS", "at": "start"}
    {"jd": "MIDTIMJD", "at": "mid"}

``time`` cards complete a DATE-OBS without time of day, or refine one rounded
to the second. ``"compare": false`` keeps a source out of the consistency check
(LCO's MJD-OBS is known to differ from DATE-OBS by several seconds).
``at`` says whether the card gives the start, middle or end of the exposure;
the mid-exposure time is derived with the exposure time. A date without a time
of day (``DATE-OBS = '2000-09-27'``) is only used when no other source gives a
full time, and is then reported as a problem.

Old-style FITS dates ``dd/mm/yy`` (before 1999) are read as 19yy, as the FITS
standard defines them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import astropy.units as u
from astropy.io import fits
from astropy.time import Time
from erfa import ErfaWarning

from ..runtime.quiet import quiet

__all__ = ["TimeResult", "mid_exposure_time", "quiet_erfa"]

_OLD_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2})\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_ISO_DATETIME = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2})[T ](\d{1,2}:\d{1,2}(:\d{1,2}(\.\d*)?)?)\s*Z?$"
)
_CLOCK = re.compile(r"^\s*(\d{1,2})[: ](\d{1,2})(?:[: ](\d{1,2}(?:\.\d*)?))?\s*$")

# Cards whose value is a Julian date larger than this are JD, smaller are MJD:
# MIDTIMJD and JD are written both ways in the wild.
_JD_MJD_SPLIT = 2_400_000.0

# Two sources that disagree by more than this are reported.
_AGREEMENT_S = 2.0


@contextmanager
def quiet_erfa() -> Iterator[None]:
    """Silence ERFA's "dubious year" warning, and only that one.

    ERFA warns for UTC before 1960 (photographic plates) or past the end of the
    leap-second table; such times are still right to a few seconds, which is
    all a header time promises.
    """
    with quiet(ErfaWarning, ".*dubious year"):
        yield


@dataclass(frozen=True)
class TimeResult:
    """A mid-exposure time with where it came from.

    Attributes
    ----------
    time : astropy.time.Time or None
        Mid-exposure time, scale UTC.
    source : str
        Cards used, e.g. ``"DATE-OBS + EXPTIME/2"``.
    problems : tuple of str
        One-line problems found on the way.
    """

    time: Time | None
    source: str
    problems: tuple[str, ...]


def _parse_date(value: str) -> tuple[str, bool] | None:
    """ISO date(-time) text and whether it holds a time of day, or None."""
    text = str(value).strip()
    m = _OLD_DATE.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
        return f"{1900 + year:04d}-{month:02d}-{day:02d}", False
    m = _ISO_DATE.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        return f"{y:04d}-{mo:02d}-{d:02d}", False
    m = _ISO_DATETIME.match(text)
    if m:
        date, clock = m.group(1), m.group(2)
        if clock.count(":") == 1:
            clock += ":00"
        return f"{date}T{clock}", True
    return None


def _parse_clock(value: Any) -> str | None:
    """'hh:mm:ss.sss' from a clock card ('12:07:00.00', '02 03 10'), or None."""
    m = _CLOCK.match(str(value))
    if not m:
        return None
    h, mi, s = m.group(1), m.group(2), m.group(3) or "0"
    sec = float(s)
    if int(h) > 23 or int(mi) > 59 or sec >= 61:
        return None
    return f"{int(h):02d}:{int(mi):02d}:{sec:06.3f}"


def _refines(iso: str, clock: str) -> bool:
    """True when ``clock`` is the same second as ``iso``'s time, given more precisely."""
    whole = iso[11:19]
    return len(iso) <= 19 and clock[:8] == whole and float(clock[6:]) != float(whole[6:])


def _scale(header: fits.Header, convention: str) -> str:
    """Time scale: the profile's, else TIMESYS when it names one astropy knows, else UTC."""
    if convention != "auto":
        return convention
    sys = str(header.get("TIMESYS", "UTC")).strip().lower()
    return sys if sys in ("utc", "tai", "tt", "tdb") else "utc"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip().replace("D", "E"))
    except ValueError:
        return None


def _from_source(
    header: fits.Header, spec: Mapping[str, Any], scale: str, problems: list[str]
) -> tuple[Time, str, bool] | None:
    """(time as written, source text, has a time of day) for one source spec."""
    if "date" in spec:
        key = spec["date"]
        if key not in header or not str(header[key]).strip():
            return None
        parsed = _parse_date(header[key])
        if parsed is None:
            problems.append(f"{key}={header[key]!r} is not a date")
            return None
        text, has_clock = parsed
        source = key
        for tkey in spec.get("time", ()):
            if tkey not in header:
                continue
            clock = _parse_clock(header[tkey])
            if clock is None:
                problems.append(f"{tkey}={header[tkey]!r} is not a time of day")
                continue
            if not has_clock:
                text, has_clock, source = f"{text}T{clock}", True, f"{key}+{tkey}"
            elif _refines(text, clock):
                # DATE-OBS rounded to the second, UTSTART with milliseconds (LCO).
                text, source = f"{text[:10]}T{clock}", f"{key}+{tkey}"
            break
        try:
            return Time(text, format="isot", scale=scale), source, has_clock
        except ValueError:
            problems.append(f"{key}={header[key]!r} is not a valid date")
            return None
    for kind in ("mjd", "jd"):
        if kind in spec:
            key = spec[kind]
            if key not in header:
                return None
            value = _number(header[key])
            if value is None or value <= 0:
                problems.append(f"{key}={header[key]!r} is not a Julian date")
                return None
            fmt = "jd" if value > _JD_MJD_SPLIT else "mjd"
            return Time(value, format=fmt, scale=scale), key, True
    return None


def mid_exposure_time(
    header: fits.Header,
    sources: Sequence[Mapping[str, Any]],
    exptime_s: float | None,
    exptime_source: str | None,
    scale_convention: str = "auto",
) -> TimeResult:
    """The mid-exposure UTC time from the first usable source.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image header.
    sources : sequence of mapping
        Time sources from the profile, in order of preference.
    exptime_s : float or None
        Exposure time in seconds (to move a start time to mid-exposure).
    exptime_source : str or None
        Card that gave the exposure time, for the source text.
    scale_convention : str
        "utc", "tai", "tt" or "auto" (TIMESYS, else UTC).

    Returns
    -------
    TimeResult
    """
    with quiet_erfa():
        return _mid_exposure_time(header, sources, exptime_s, exptime_source, scale_convention)


def _mid_exposure_time(
    header: fits.Header,
    sources: Sequence[Mapping[str, Any]],
    exptime_s: float | None,
    exptime_source: str | None,
    scale_convention: str,
) -> TimeResult:
    problems: list[str] = []
    scale = _scale(header, scale_convention)
    found: list[tuple[Time, str, bool, str]] = []
    uncompared: set[str] = set()
    for spec in sources:
        got = _from_source(header, spec, scale, problems)
        if got is not None:
            found.append((*got, str(spec.get("at", "start"))))
            if spec.get("compare") is False:
                uncompared.add(got[1])
    if not found:
        problems.append("no observation time in the header")
        return TimeResult(None, "", tuple(problems))
    precise = [f for f in found if f[2]]
    if precise:
        t, source, _, at = precise[0]
        others = [f for f in precise[1:] if f[1] not in uncompared]
        if others:
            t2, source2, _, at2 = others[0]
            # Compare like with like: both moved to the start of the exposure.
            half = (exptime_s or 0.0) / 2.0
            shift = {"start": 0.0, "mid": -half, "end": -2 * half}
            diff = abs(((t + shift[at] * u.s) - (t2 + shift[at2] * u.s)).to_value(u.s))
            if diff > _AGREEMENT_S:
                problems.append(f"{source} and {source2} disagree by {diff:.1f} s; using {source}")
    else:
        t, source, _, at = found[0]
        problems.append(f"{source} gives a date without time of day")
    if at != "mid":
        if exptime_s is None:
            problems.append(f"exposure time unknown: {source} is the {at} of the exposure")
        else:
            sign = 1.0 if at == "start" else -1.0
            t = t + sign * exptime_s / 2.0 * u.s
            source = f"{source} {'+' if sign > 0 else '-'} {exptime_source or 'exptime'}/2"
    return TimeResult(t.utc, source, tuple(problems))
