"""a/Rs and the inclination (or impact parameter) given by the user: held or as priors.

One night's transit measures the mid-time and the depth but hardly the
shape of ingress and egress; with a/Rs and b free (no archive answer, an
offline run) the fit may trade them against the baseline's trend: on the
TrES-1 night (tests/real/test_real_run_transit.py) a grazing transit (Rp/Rs
0.41, a/Rs 2.6) on one light curve, a mid-time 9 min early (3.6 sigma) on
another; with Winn et al.'s a/Rs and inclination as priors, 1.4 sigma. The
published geometry fixes that. A value given without an error is held; with
an error (``10.5+-0.3``) it becomes a Gaussian prior, as the archive's values
do (:mod:`.setup`).

The impact parameter is turned into an inclination, ``cos i = b / (a/Rs)``,
with ``sigma_i = sigma_b / (a/Rs sin i)`` (the fit's prior on b undoes it).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from .ephemeris import Ephemeris

__all__ = ["GeometryError", "parse_value_error", "with_user_geometry"]

#: Between a value and its error: "10.5+-0.3", "10.5+/-0.3", "10.5±0.3".
_PLUS_MINUS = re.compile(r"\+/?-|±")


class GeometryError(ValueError):
    """The given geometry is incomplete or impossible; the message says what to give."""


def parse_value_error(text: str, name: str) -> tuple[float, float | None]:
    """``"10.5+-0.3"`` -> (10.5, 0.3); ``"10.5"`` -> (10.5, None).

    Raises
    ------
    GeometryError
        Not a number, or an error that is not a positive number.
    """
    parts = _PLUS_MINUS.split(text)
    try:
        if len(parts) > 2:
            raise ValueError(text)
        value = float(parts[0])
        err = float(parts[1]) if len(parts) == 2 else None
    except ValueError:
        raise GeometryError(
            f"{name} {text!r}: give a number, or a number and its error as 10.5+-0.3"
        ) from None
    if not math.isfinite(value) or (err is not None and not (math.isfinite(err) and err > 0)):
        raise GeometryError(f"{name} {text!r}: the value must be finite and the error > 0")
    return value, err


def with_user_geometry(
    eph: Ephemeris,
    *,
    a_rs: tuple[float, float | None] | None = None,
    inclination: tuple[float, float | None] | None = None,
    impact: tuple[float, float | None] | None = None,
    geometry: str = "auto",
) -> tuple[Ephemeris, str]:
    """The ephemeris with the user's a/Rs and inclination, and the fit's geometry mode.

    Parameters
    ----------
    eph : Ephemeris
        The planet's (an archive's answer or the user's period and T0).
    a_rs, inclination, impact : (value, error or None), optional
        What the user gave; the inclination in degrees. ``impact`` and
        ``inclination`` exclude each other; the impact parameter needs a/Rs
        (given, or the archive's).
    geometry : {"auto", "prior", "free", "fixed"}
        The fit's mode as asked. ``"auto"`` with a given geometry becomes
        ``"prior"`` when every given value has an error and ``"fixed"`` when
        none has.

    Returns
    -------
    (Ephemeris, str)
        The ephemeris (its ``geometry_source`` says what the command line set)
        and the mode.

    Raises
    ------
    GeometryError
        Both inclination and impact, errors on some values only, an impact
        parameter without a/Rs, a held a/Rs without an inclination, or
        values no orbit has.
    """
    given = {k: v for k, v in (("a/Rs", a_rs), ("inclination", inclination),
                               ("impact parameter", impact)) if v is not None}  # fmt: skip
    if not given:
        return eph, geometry
    if inclination is not None and impact is not None:
        raise GeometryError("give the inclination or the impact parameter, not both")
    with_err = [k for k, (_, e) in given.items() if e is not None]
    if with_err and len(with_err) != len(given):
        raise GeometryError(
            f"errors on {', '.join(with_err)} only: give every value with its error (priors, "
            "e.g. 10.5+-0.3) or every value without (held)"
        )
    a_value, a_err = a_rs if a_rs is not None else (eph.a_rs, eph.a_rs_err)
    if a_value is not None and not a_value > 1.0:
        raise GeometryError(f"a/Rs {a_value} is inside the star: it must be > 1")
    inc_value, inc_err = inclination if inclination is not None else (eph.inc_deg, eph.inc_err)
    if impact is not None:
        if a_value is None:
            raise GeometryError(
                "the impact parameter needs a/Rs: give --a-rs (or --planet for the archive's)"
            )
        b, b_err = impact
        if not 0.0 <= b < a_value:
            raise GeometryError(f"impact parameter {b}: it must be >= 0 and below a/Rs")
        inc_rad = math.acos(b / a_value)
        inc_value = math.degrees(inc_rad)
        inc_err = None if b_err is None else math.degrees(b_err / (a_value * math.sin(inc_rad)))
    if inc_value is not None and not 0.0 < inc_value <= 90.0:
        raise GeometryError(f"inclination {inc_value} deg: it must be in (0, 90]")
    mode = geometry
    if geometry == "auto":
        mode = "prior" if with_err else "fixed"
    if mode == "fixed" and (a_value is None or inc_value is None):
        raise GeometryError(
            "holding the geometry needs both a/Rs and the inclination (or impact parameter)"
        )
    eph = replace(eph, a_rs=a_value, a_rs_err=a_err, inc_deg=inc_value, inc_err=inc_err,
                  geometry_source=f"{' and '.join(given)} from the command line")  # fmt: skip
    return eph, mode
