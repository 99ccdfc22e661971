"""Reading one observation-time card: its instant and the precision it is written to.

Every way a header writes a time is read here into a :class:`TimeCard`: ISO
dates with or without a time of day and with a UTC offset (``Z``, ``-0700``,
``+05:30``), old FITS ``dd/mm/yy`` dates, clock cards (``TIME-OBS``, ``UT``,
``UTSTART``...) that complete or refine a date, and Julian dates (JD or MJD).

The precision of a card is one unit of the last digit written: a DATE-OBS to
the millisecond is 1 ms, an MJD-OBS with 3 decimals is 0.001 d = 86.4 s. A
Julian date held in a double is never finer than the spacing of doubles at its
size (about 40 us for a JD near 2.4 million).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.time import Time

from .fitsio import card_float

__all__ = ["TimeCard", "CardFailure", "cards_of_source", "format_precision"]

_DAY_S = 86400.0

_OLD_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2})\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$")
_ISO_DATETIME = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2})[T ]"
    r"(\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.(\d*))?)?)"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$",
    re.IGNORECASE,
)
_CLOCK = re.compile(r"^\s*(\d{1,2})[: ](\d{1,2})(?:[: ](\d{1,2})(?:\.(\d*))?)?\s*$")
# The number in a card image: "KEY     =    60374.88263888889 / ..." or a quoted string.
_CARD_NUMBER = re.compile(r"=\s*'?\s*[-+]?\d*(?:\.(\d*))?(?:[EeDd]([-+]?\d+))?")

# Card values larger than this are JD, smaller are MJD: MIDTIMJD and JD are written both ways.
_JD_MJD_SPLIT = 2_400_000.0


@dataclass(frozen=True)
class TimeCard:
    """One time read from the header, as written (not yet moved to mid-exposure).

    Attributes
    ----------
    time : astropy.time.Time
        The instant the card gives (UTC offsets already removed).
    source : str
        Cards read, e.g. ``"DATE-OBS"``, ``"DATE-OBS+UTSTART"``, ``"MJD-OBS"``.
    precision_s : float
        One unit of the last digit written, in seconds.
    at : str
        ``"start"``, ``"mid"`` or ``"end"`` of the exposure.
    has_clock : bool
        False for a date without a time of day.
    compare : bool
        False when the profile keeps this card out of the consistency check.
    order : int
        Position in the profile's order of preference (lower is preferred).
    note : str
        How the card was read when that is worth saying ("UTC-07:00 removed").
    """

    time: Time
    source: str
    precision_s: float
    at: str
    has_clock: bool
    compare: bool
    order: int
    note: str = ""


@dataclass(frozen=True)
class CardFailure:
    """A time card that is present but could not be read."""

    key: str
    value: Any
    reason: str

    def text(self) -> str:
        return f"{self.key}={self.value!r} {self.reason}"


def format_precision(seconds: float | None) -> str:
    """``1 ms``, ``86 s``, ``40 us``, ``1 d``: a precision for people."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, size in (("d", _DAY_S), ("h", 3600.0), ("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= size * 0.9999 or unit == "us":
            value = seconds / size
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return "-"  # unreachable: the last unit takes everything


def _fraction_digits(text: str | None) -> int:
    return len(text) if text else 0


def _parse_iso(value: Any) -> tuple[str, bool, float, float, str] | None:
    """(ISO text, has clock, precision s, UTC offset s, offset text) of a date card, or None."""
    text = str(value).strip()
    m = _OLD_DATE.match(text)
    if m:
        day, month, year = (int(g) for g in m.groups())
        return f"{1900 + year:04d}-{month:02d}-{day:02d}", False, _DAY_S, 0.0, ""
    m = _ISO_DATE.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        return f"{y:04d}-{mo:02d}-{d:02d}", False, _DAY_S, 0.0, ""
    m = _ISO_DATETIME.match(text)
    if not m:
        return None
    date, clock, fraction, zone = m.group(1), m.group(2), m.group(3), m.group(4)
    if clock.count(":") == 1:
        precision = 60.0
        clock += ":00"
    else:
        precision = 10.0 ** -_fraction_digits(fraction)
    offset = 0.0
    if zone and zone.upper() != "Z":
        sign = -1.0 if zone[0] == "-" else 1.0
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
        if hours > 14 or minutes > 59:
            return None
        offset = sign * (hours * 3600.0 + minutes * 60.0)
    return f"{date}T{clock}", True, precision, offset, zone or ""


def _parse_clock(value: Any) -> tuple[str, float] | None:
    """('hh:mm:ss.sss', precision s) of a clock card ('12:07:00.00', '02 03 10'), or None."""
    m = _CLOCK.match(str(value))
    if not m:
        return None
    h, mi, s, fraction = m.group(1), m.group(2), m.group(3), m.group(4)
    if s is None:
        sec, precision = 0.0, 60.0
    else:
        sec = float(f"{s}.{fraction}" if fraction else s)
        precision = 10.0 ** -_fraction_digits(fraction)
    if int(h) > 23 or int(mi) > 59 or sec >= 61:
        return None
    return f"{int(h):02d}:{int(mi):02d}:{sec:09.6f}", precision


def _written_decimals(header: fits.Header, key: str) -> int | None:
    """Decimals of a number as the card writes it (the exponent counted), or None.

    Trailing zeros are not counted: fixed-format writers pad Julian dates with
    them (ESO MIDAS writes MJD-OBS = 4.892162787000E+04, five decimals of a day,
    not eight).
    """
    try:
        image = header.cards[key].image
    except (KeyError, IndexError, ValueError):
        return None
    m = _CARD_NUMBER.search(image)
    if not m:
        return None
    return _fraction_digits((m.group(1) or "").rstrip("0")) - int(m.group(2) or 0)


def _julian_card(
    header: fits.Header, key: str, scale: str, spec: Mapping[str, Any], order: int
) -> TimeCard | CardFailure:
    value = card_float(header[key])
    if value is None or value <= 0:
        return CardFailure(key, header[key], "is not a Julian date")
    fmt = "jd" if value > _JD_MJD_SPLIT else "mjd"
    decimals = _written_decimals(header, key)
    step_days = 10.0**-decimals if decimals is not None else 0.0
    # A double cannot hold a Julian date more finely than its own spacing.
    step_days = max(step_days, float(np.spacing(value)))
    return TimeCard(
        Time(value, format=fmt, scale=scale),
        key,
        step_days * _DAY_S,
        str(spec.get("at", "start")),
        True,
        spec.get("compare") is not False,
        order,
    )


def _date_cards(
    header: fits.Header, spec: Mapping[str, Any], scale: str, order: int
) -> list[TimeCard | CardFailure]:
    """The date card alone and with each clock card that completes or refines it."""
    key = spec["date"]
    parsed = _parse_iso(header[key])
    if parsed is None:
        return [CardFailure(key, header[key], "is not a date")]
    text, has_clock, precision, offset, zone = parsed
    at = str(spec.get("at", "start"))
    compare = spec.get("compare") is not False
    try:
        base = Time(text, format="isot", scale=scale) - offset * u.s
    except ValueError:
        return [CardFailure(key, header[key], "is not a valid date")]
    note = f"UTC{zone} removed" if offset else ""
    out: list[TimeCard | CardFailure] = [
        TimeCard(base, key, precision, at, has_clock, compare, order, note)
    ]
    for tkey in spec.get("time", ()):
        if tkey not in header or not str(header[tkey]).strip():
            continue
        clock = _parse_clock(header[tkey])
        if clock is None:
            out.append(CardFailure(tkey, header[tkey], "is not a time of day"))
            continue
        clock_text, clock_precision = clock
        # Clock cards carry no offset: the date is that of DATE-OBS's instant
        # once its offset is removed.
        day = base.isot[:10] if has_clock else text[:10]
        try:
            t = Time(f"{day}T{clock_text}", format="isot", scale=scale)
        except ValueError:
            out.append(CardFailure(tkey, header[tkey], "is not a valid time of day"))
            continue
        if has_clock:
            # Near midnight the clock card may belong to the neighbouring day.
            jump = float((t - base).to_value(u.s))
            if abs(jump) > _DAY_S / 2:
                t = t - math.copysign(_DAY_S, jump) * u.s
        out.append(TimeCard(t, f"{key}+{tkey}", clock_precision, at, True, compare, order))
    return out


def cards_of_source(
    header: fits.Header, spec: Mapping[str, Any], scale: str, order: int
) -> list[TimeCard | CardFailure]:
    """Every time one profile source gives (empty when its cards are absent).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.
    spec : mapping
        One source of the profile: ``{"date": KEY, "time": [...], "at": ...}``,
        ``{"mjd": KEY, ...}`` or ``{"jd": KEY, ...}``.
    scale : str
        Time scale of the cards ("utc", "tai", ...).
    order : int
        The source's position in the profile (preference among equals).
    """
    if "date" in spec:
        key = spec["date"]
        if key not in header or not str(header[key]).strip():
            return []
        return _date_cards(header, spec, scale, order)
    for kind in ("mjd", "jd"):
        if kind in spec:
            key = spec[kind]
            if key not in header or not str(header[key]).strip():
                return []
            return [_julian_card(header, key, scale, spec, order)]
    return []
