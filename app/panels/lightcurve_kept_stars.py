"""The comparison and check stars of a curve measured in the window, kept with the curve (Qt-free).

A curve measured in the Light curve panel is written into the project
(:func:`.lightcurve_model.table_to_keep`); the stars it was measured against
are kept in it as plain columns, one pair per star (``comp1_x``,
``comp1_y``, ..., ``check_x``, ``check_y``: where each star is in each row's
light), and the aperture in the meta. On reopening the panel draws them on
the viewer as it drew them after measuring, without measuring again.
Plain one-dimensional columns keep the file readable as a CSV-like table by
other tools (a multidimensional column is not).
"""

from __future__ import annotations

import re

import numpy as np
from astropy.table import Table

from fluxion.core.lightcurve.comparison import ComparisonChoice

__all__ = ["add_star_columns", "kept_stars", "CHECK_COLUMNS"]

#: The check star's columns (x, y in each row's light).
CHECK_COLUMNS = ("check_x", "check_y")
_COMP = re.compile(r"^comp(\d+)_x$")


def add_star_columns(
    table: Table, stars_xy: np.ndarray, choice: ComparisonChoice, aperture_radius: float
) -> None:
    """Write the comparison and check stars' positions into ``table`` (in place).

    Parameters
    ----------
    table : Table
        The curve to keep, one row per light (rows like ``stars_xy``'s first axis).
    stars_xy : ndarray, shape (n_rows, n_stars, 2)
        The comparison candidates in every light.
    choice : ComparisonChoice
        Which candidates are the comparison stars and the check star.
    aperture_radius : float
        The radius (px) the curve was measured with, kept in the meta.
    """
    xy = np.asarray(stars_xy, float)
    for n, k in enumerate(choice.comparison):
        table[f"comp{n + 1}_x"] = xy[:, k, 0]
        table[f"comp{n + 1}_y"] = xy[:, k, 1]
    if choice.check is not None:
        table[CHECK_COLUMNS[0]] = xy[:, choice.check, 0]
        table[CHECK_COLUMNS[1]] = xy[:, choice.check, 1]
    table.meta["aperture_radius"] = float(aperture_radius)


def kept_stars(table: Table) -> tuple[np.ndarray, ComparisonChoice]:
    """The stars :func:`add_star_columns` kept in ``table``, as the panel draws them.

    Returns
    -------
    ndarray of shape (n_rows, n_stars, 2), ComparisonChoice
        The comparison stars (C1, C2, ... in order) then the check star, and
        the choice naming them; no stars (shape (n_rows, 0, 2)) for a curve
        that kept none (``fluxion run``'s, or one written before they were kept).
    """
    n_comp = 0
    while f"comp{n_comp + 1}_x" in table.colnames and f"comp{n_comp + 1}_y" in table.colnames:
        n_comp += 1
    cols = [(f"comp{n + 1}_x", f"comp{n + 1}_y") for n in range(n_comp)]
    check = None
    if n_comp and all(c in table.colnames for c in CHECK_COLUMNS):
        check = n_comp
        cols.append(CHECK_COLUMNS)
    rows = len(table)
    if not cols:
        return np.zeros((rows, 0, 2)), ComparisonChoice((), None, {}, np.empty(0))
    xy = np.stack(
        [np.column_stack([np.asarray(table[cx], float), np.asarray(table[cy], float)])
         for cx, cy in cols],
        axis=1,
    )  # fmt: skip
    choice = ComparisonChoice(tuple(range(n_comp)), check, {}, np.full(len(cols), np.nan))
    return xy, choice
