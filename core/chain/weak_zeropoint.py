"""A zero point too weak to calibrate a light curve: too few catalog stars, or too uncertain.

A frame's zero point is fitted on the catalog stars it measured. With two or
three (a bright-star catalog such as Tycho-2 in a small field) the fit
succeeds, but its error is a few hundredths to a tenth of a magnitude and
it moves from frame to frame by as much: on the TrES-1 night, 2-3 Tycho-2
stars a light gave zero points scattering 0.08 mag, four times the 2 %
transit, and a transit fit on those "calibrated" points found 8 % instead
of 2 %. Such a frame keeps its zero point (in ``frames.ecsv`` and its
magnitudes table) but is not counted as calibrated: its light-curve point
is marked uncalibrated, which keeps it off the transit fit's input, and the
run's notes say how many frames and why.
"""

from __future__ import annotations

import math

__all__ = ["MIN_ZERO_POINT_STARS", "MAX_ZERO_POINT_ERR", "weak_zero_point", "weak_note"]

#: Fewer catalog stars than this: the zero point's scatter cannot be judged (its
#: error rests on 1-3 degrees of freedom) and one odd star moves it.
MIN_ZERO_POINT_STARS = 5
#: A zero point less certain than this (mag) calibrates nothing a light curve
#: shows but large-amplitude variables. Not lower: a short exposure through a
#: small telescope (20 s, 150 mm) has zero points of 0.06 mag from scintillation
#: alone, on many stars, which still calibrate an eclipsing binary.
MAX_ZERO_POINT_ERR = 0.1


def weak_zero_point(n_stars: int, zero_point_err: float) -> str:
    """Why a fitted zero point is too weak to count as calibrated; empty when it is not.

    Parameters
    ----------
    n_stars : int
        Catalog stars the zero point was fitted on.
    zero_point_err : float
        Its error (mag); NaN counts as unknown, not as weak.
    """
    reasons = []
    if n_stars < MIN_ZERO_POINT_STARS:
        reasons.append(f"{n_stars} catalog stars (fewer than {MIN_ZERO_POINT_STARS})")
    if math.isfinite(zero_point_err) and zero_point_err > MAX_ZERO_POINT_ERR:
        reasons.append(f"error {zero_point_err:.3f} mag (above {MAX_ZERO_POINT_ERR:g})")
    return " and ".join(reasons)


def weak_note(weak: list[tuple[str, str]], n_lights: int) -> str:
    """The run's note on the lights whose zero points were too weak; empty when none.

    Parameters
    ----------
    weak : list of (str, str)
        Each weak light's file name and :func:`weak_zero_point` reason.
    n_lights : int
        Lights in the run.
    """
    if not weak:
        return ""
    names = ", ".join(name for name, _ in weak[:3])
    more = f" and {len(weak) - 3} more" if len(weak) > 3 else ""
    return (
        f"zero points: {len(weak)} of {n_lights} lights ({names}{more}) have a zero point too "
        f"weak to count as calibrated (at least {MIN_ZERO_POINT_STARS} catalog stars and an "
        f"error under {MAX_ZERO_POINT_ERR:g} mag are needed; e.g. {weak[0][1]}): their "
        "light-curve points are marked uncalibrated and kept off a transit fit; a deeper "
        "catalog (--catalog) calibrates them"
    )
