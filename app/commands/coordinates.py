"""``--ra`` and ``--dec`` as a user copies them: decimal degrees or sexagesimal.

A star's coordinates are published as ``19:04:09.85 +36:37:57.4`` (SIMBAD, a
planet's discovery paper, the data's own notes); ``--ra`` took only degrees,
so a new user's first try stopped at "invalid float value". Sexagesimal RA is
hours (``19:04:09.85``, ``19h04m09.85s``, ``19 04 09.85``), as FITS headers
write it (:mod:`fluxion.core.io.headers`); a plain number is degrees. astropy's
``Angle`` reads them.
"""

from __future__ import annotations

import argparse
import re

__all__ = ["dec_degrees", "ra_degrees"]

# Sexagesimal: two or three fields, or h/m/s or d/m/s letters.
_SEXAGESIMAL = re.compile(r"[:hdm°'\"]|\d\s+\d")


def _angle(text: str, unit: str, what: str) -> float:
    from astropy import units as u
    from astropy.coordinates import Angle

    value = text.strip()
    try:
        if _SEXAGESIMAL.search(value):
            return float(Angle(value, unit=getattr(u, unit)).deg)
        return float(value)
    except (ValueError, u.UnitsError) as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not {what} (decimal degrees, or sexagesimal as 19:04:09.85 "
            "for RA in hours and +36:37:57.4 for Dec in degrees)"
        ) from exc


def ra_degrees(text: str) -> float:
    """An RA option's value in degrees: a number is degrees, sexagesimal is hours."""
    ra = _angle(text, "hourangle", "a right ascension")
    if not 0.0 <= ra < 360.0:
        raise argparse.ArgumentTypeError(f"RA {text!r} is outside 0-360 degrees (0-24 h)")
    return ra


def dec_degrees(text: str) -> float:
    """A Dec option's value in degrees (a number, or sexagesimal degrees)."""
    dec = _angle(text, "deg", "a declination")
    if not -90.0 <= dec <= 90.0:
        raise argparse.ArgumentTypeError(f"Dec {text!r} is outside -90..+90 degrees")
    return dec
