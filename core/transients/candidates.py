"""The candidate table both transient searches fill, and the reasons a candidate is rejected.

One row per detection worth a look in one frame: its place (``ra``, ``dec``,
``x``, ``y``), frame (``file``, ``frame``, ``jd_utc``, ``bjd_tdb``),
brightness (``flux``, ``flux_err`` in image units, ``mag``, ``mag_err``
calibrated when the frame has a zero point, else instrumental), ``score``
(the detection's significance in sigma), what it was compared with
(``catalog_mag``, ``mag_diff``, ``shape_distance``), and the verdict: ``reason``
('' for an accepted candidate, else why it was rejected, in words) and
``accepted``. ``group`` numbers the same sky position across frames.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table, vstack

__all__ = [
    "CANDIDATE_COLUMNS",
    "Reason",
    "empty_candidates",
    "stack_candidates",
]


class Reason:
    """The words a rejected candidate's ``reason`` starts with."""

    SATURATED = "saturated"
    MASKED = "on masked pixels"
    EDGE = "at the frame's edge"
    SHAPE = "shape unlike the stars'"
    CATALOGUED = "catalogued star"
    BELOW_CATALOG = "fainter than the catalogue reaches"
    SOLAR_SYSTEM = "known Solar System object"
    ONE_FRAME = "in one frame only"
    LOW_SNR = "below the detection threshold"
    NEGATIVE = "negative (fainter than the template)"
    BRIGHT_STAR = "on a bright star's residual"
    OUTSIDE_TEMPLATE = "outside the template"


#: (name, dtype, unit, description) of every column, in order.
CANDIDATE_COLUMNS = (
    ("ra", float, "deg", "right ascension (ICRS)"),
    ("dec", float, "deg", "declination (ICRS)"),
    ("x", float, "pix", "0-based column in the frame"),
    ("y", float, "pix", "0-based row in the frame"),
    ("file", str, None, "frame file name"),
    ("frame", int, None, "index of the frame in the sequence"),
    ("jd_utc", float, "d", "mid-exposure JD (UTC)"),
    ("bjd_tdb", float, "d", "mid-exposure BJD (TDB) at the candidate"),
    ("flux", float, None, "flux in image units (on the difference image in difference mode)"),
    ("flux_err", float, None, "1-sigma error of flux"),
    ("mag", float, "mag", "magnitude: calibrated when the frame has a zero point"),
    ("mag_err", float, "mag", "1-sigma error of mag"),
    ("score", float, None, "significance of the detection (sigma)"),
    ("catalog_mag", float, "mag", "magnitude of the catalogue counterpart (blend), NaN if none"),
    ("mag_diff", float, "mag", "catalog_mag - mag: how much brighter than the counterpart"),
    ("shape_distance", float, None, "distance from the stars' shape locus (sigma)"),
    ("group", int, None, "same number for the same sky position in other frames"),
    ("n_frames", int, None, "frames in which the group was accepted before the sequence test"),
    ("reason", str, None, "why the candidate was rejected; empty when accepted"),
    ("accepted", bool, None, "a transient candidate"),
)


def empty_candidates(n: int = 0) -> Table:
    """A candidate table of ``n`` rows with every column (NaN, -1, '' and False)."""
    t = Table()
    for name, dtype, unit, doc in CANDIDATE_COLUMNS:
        if dtype is float:
            col = np.full(n, np.nan)
        elif dtype is int:
            col = np.full(n, -1, dtype=np.int64)
        elif dtype is bool:
            col = np.zeros(n, bool)
        else:
            # Wide enough for a file name or a reason; set values never truncate.
            col = np.full(n, "", dtype="U160")
        t[name] = col
        if unit:
            t[name].unit = unit
        t[name].description = doc
    return t


def stack_candidates(tables: list[Table]) -> Table:
    """One table from per-frame tables (an empty one when there are none)."""
    tables = [t for t in tables if t is not None and len(t)]
    if not tables:
        return empty_candidates()
    return vstack(tables, metadata_conflicts="silent")
