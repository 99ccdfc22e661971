"""Solar-colour selection of calibration stars for asteroid photometry.

An asteroid reflects sunlight, so calibrating against stars of the Sun's
colour makes the colour term vanish for it (the Photometry Pipeline's
``-solar`` option, which keeps stars within 0.2 mag of the Sun's g-r and
r-i). When too few such stars are in the field, all stars are used and the
result says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bands import solar_colour

__all__ = ["SolarSelection", "select_solar"]


@dataclass(frozen=True)
class SolarSelection:
    """Which stars have solar colours, and what was done about it.

    Attributes
    ----------
    mask : ndarray of bool
        Stars to calibrate with (all of them after a fallback).
    n_solar : int
        Stars within the tolerance of every solar colour.
    fell_back : bool
        True when too few solar-colour stars remained and all stars are used.
    note : str
        One sentence for the user.
    """

    mask: np.ndarray
    n_solar: int
    fell_back: bool
    note: str


def select_solar(
    colours: dict[str, np.ndarray],
    *,
    tolerance: float = 0.2,
    min_stars: int = 5,
    candidates: np.ndarray | None = None,
) -> SolarSelection:
    """Keep stars whose colours are all within ``tolerance`` of the Sun's.

    Parameters
    ----------
    colours : dict
        Colour index name (``'g-r'``, ``'r-i'``, ``'B-V'``...) to the colour of
        every star; stars with a NaN colour are not solar.
    tolerance : float
        Largest allowed difference from the Sun's colour, mag.
    min_stars : int
        Fewer solar stars than this among the candidates means falling back
        to all candidates.
    candidates : ndarray of bool, optional
        Stars eligible at all (e.g. usable matches); default every star.
    """
    if not colours:
        raise ValueError("solar-colour selection needs at least one colour index")
    n = len(next(iter(colours.values())))
    base = np.ones(n, bool) if candidates is None else np.asarray(candidates, bool)
    solar = base.copy()
    for index, values in colours.items():
        sun = solar_colour(index)
        with np.errstate(invalid="ignore"):
            solar &= np.abs(np.asarray(values, float) - sun) <= tolerance
    n_solar = int(solar.sum())
    names = ", ".join(f"{k} = {solar_colour(k):.2f}" for k in colours)
    if n_solar >= min_stars:
        note = f"{n_solar} of {int(base.sum())} stars have solar colours ({names} +- {tolerance:g})"
        return SolarSelection(solar, n_solar, False, note)
    note = (
        f"only {n_solar} star(s) with solar colours ({names} +- {tolerance:g}), fewer than "
        f"{min_stars}: calibrated with all {int(base.sum())} stars instead"
    )
    return SolarSelection(base.copy(), n_solar, True, note)
