"""One star of an analysed field: its light curve before and after detrending,
its periodogram and its curve folded at the best period (what the Field panel
shows when a star is clicked).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..variability.periods import Periodogram, fold, periodogram
from .run import FieldResult

__all__ = ["StarCurve", "star_curve"]


@dataclass(frozen=True)
class StarCurve:
    """A star's light curve, one point per frame of the field where it was measured.

    Attributes
    ----------
    index : int
        Column of the star in the field's arrays.
    star_id : int
    frames : ndarray of int
        Row of each point in the field's frames table (time order).
    files : list of str
        Each point's light.
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

    index: int
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


def star_curve(result: FieldResult, star_id: int) -> StarCurve:
    """The light curve of star ``star_id`` of an analysed field.

    Raises
    ------
    KeyError
        When the field has no such star.
    """
    data = result.data
    hits = np.flatnonzero(data.star_id == int(star_id))
    if not len(hits):
        raise KeyError(f"no star {star_id} in the field")
    j = int(hits[0])
    mag = result.magfit.mag[:, j]
    err = result.magfit.mag_err[:, j]
    det = result.detrended.mag[:, j] if result.detrended is not None else mag
    with np.errstate(invalid="ignore"):
        ok = data.good[:, j] & np.isfinite(mag) & np.isfinite(err) & (err > 0)
    rows = np.flatnonzero(ok)
    time = data.bjd_tdb[:, j] if data.bjd_tdb is not None else data.jd
    if not np.isfinite(time[rows]).all():
        time = data.jd
    pg = periodogram(time[rows], det[rows], err[rows])
    phase = (
        fold(time[rows], pg.best_period) if np.isfinite(pg.best_period)
        else np.full(len(rows), np.nan)
    )  # fmt: skip
    files = [str(f) for f in np.asarray(data.frames["file"])[rows]]
    return StarCurve(
        j, int(star_id), rows, files, np.asarray(time[rows], float), mag[rows], err[rows],
        det[rows], data.x[rows, j], data.y[rows, j], pg, phase,
    )  # fmt: skip
