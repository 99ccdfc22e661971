"""One star of an analysed field, from the long-format light-curve table: its light
curve before and after detrending, its periodogram and its curve folded at the
best period (what the Field panel shows when a star is clicked).

It works on the table ``fluxion field`` writes (``field_lightcurves.ecsv``), so
a field analysed earlier and kept in a project shows the same as a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from ..variability.periods import Periodogram, fold, periodogram
from .flags import BAD_BITS

__all__ = ["StarCurve", "frame_positions", "star_curve"]


def _floats(table: Table, name: str) -> np.ndarray:
    return np.asarray(np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan), float)


@dataclass(frozen=True)
class StarCurve:
    """A star's light curve, one point per light where it was measured cleanly.

    Attributes
    ----------
    star_id : int
    frames : ndarray of int
        Each point's light (the table's ``frame``: its place in time order).
    files : list of str
        Each point's light file.
    time : ndarray
        BJD_TDB (else JD UTC) of each point.
    mag, mag_err : ndarray
        After magnitude fitting.
    mag_detrended : ndarray
        After EPD and TFA (equal to ``mag`` without detrending).
    x, y : ndarray
        Where the star was measured in each light.
    periodogram : Periodogram
        Of the detrended curve.
    phase : ndarray
        Each point's phase at the best period (NaN without one).
    """

    star_id: int
    frames: np.ndarray
    files: list[str]
    time: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    mag_detrended: np.ndarray
    x: np.ndarray
    y: np.ndarray
    periodogram: Periodogram
    phase: np.ndarray


def star_curve(lightcurves: Table, star_id: int) -> StarCurve:
    """The light curve of star ``star_id`` from the field's long-format table.

    Raises
    ------
    KeyError
        When the table has no such star.
    """
    rows = lightcurves[np.asarray(lightcurves["star_id"]) == int(star_id)]
    if not len(rows):
        raise KeyError(f"no star {star_id} in the field")
    rows = rows[np.argsort(np.asarray(rows["frame"]), kind="stable")]
    mag, err = _floats(rows, "mag"), _floats(rows, "mag_err")
    det = _floats(rows, "mag_detrended") if "mag_detrended" in rows.colnames else mag
    time = _floats(rows, "bjd_tdb")
    if not np.isfinite(time).all():
        time = _floats(rows, "jd_utc")
    flags = np.asarray(rows["flags"], np.int64)
    with np.errstate(invalid="ignore"):
        ok = ((flags & BAD_BITS) == 0) & np.isfinite(mag) & np.isfinite(err) & (err > 0)
        ok &= np.isfinite(det) & np.isfinite(time)
    rows, mag, err, det, time = rows[ok], mag[ok], err[ok], det[ok], time[ok]
    pg = periodogram(time, det, err)
    phase = (
        fold(time, pg.best_period) if np.isfinite(pg.best_period) else np.full(len(time), np.nan)
    )
    return StarCurve(
        int(star_id), np.asarray(rows["frame"], int), [str(f) for f in rows["file"]], time,
        mag, err, det, _floats(rows, "x"), _floats(rows, "y"), pg, phase,
    )  # fmt: skip


def frame_positions(
    lightcurves: Table, file: str, star_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where stars ``star_ids`` were measured in the light ``file``: their ids, x and y.

    Stars the light does not hold (or placed nowhere) are left out.
    """
    rows = lightcurves[np.asarray(lightcurves["file"]).astype(str) == str(file)]
    rows = rows[np.isin(np.asarray(rows["star_id"]), np.asarray(star_ids))]
    x, y = _floats(rows, "x"), _floats(rows, "y")
    ok = np.isfinite(x) & np.isfinite(y)
    return np.asarray(rows["star_id"], int)[ok], x[ok], y[ok]
