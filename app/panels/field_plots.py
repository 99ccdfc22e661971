"""The Field panel's plots: rms against magnitude with the expected noise, and one star's
light curve (before and after detrending), periodogram and folded curve.

Each point of the rms plot is a star (its star id in the point's data), so a
click on it selects the star; each point of a light curve is a light (its row
in the star's curve in the point's data), so a click shows the frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from astropy.table import Table
from PySide6.QtCore import Qt

from fluxion.core.field.noise import NoiseCurve
from fluxion.core.field.star import StarCurve
from fluxion.widgets.plots import plain_axes

__all__ = ["draw_rms", "draw_star"]

BEFORE = (160, 160, 160)
AFTER = (31, 95, 168)
NOISE = (192, 57, 43)
CANDIDATE = (230, 80, 40)
KNOWN = (40, 160, 70)
SELECTED = (250, 200, 30)


def _col(table: Table, name: str) -> np.ndarray:
    return np.asarray(np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan), float)


def _prepare(item: pg.PlotItem, left: str, bottom: str, *, magnitude_y: bool = False) -> None:
    item.clear()
    if item.legend is not None:
        item.legend.clear()
    item.showGrid(x=True, y=True, alpha=0.3)
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.invertY(False)
    plain_axes(item, magnitude_y=magnitude_y)


def draw_rms(
    item: pg.PlotItem, table: Table, noise: NoiseCurve, selected: int | None = None
) -> pg.ScatterPlotItem:
    """Each star's scatter against its magnitude, before and after detrending.

    The y axis is log10 of the rms (mag); the expected noise (photon, sky,
    read noise, scintillation) is the line; candidates are ringed, known
    variables marked. Returns the clickable scatter of the final rms.
    """
    _prepare(item, "log10 rms (mag)", "mean magnitude")
    if item.legend is None:
        item.addLegend(offset=(-10, 10))
    mag = _col(table, "mean_mag")
    rms = _col(table, "rms")
    ids = np.asarray(table["star_id"], int)
    ok = np.isfinite(mag) & np.isfinite(rms) & (rms > 0)
    if "rms_fitted" in table.colnames:
        before = _col(table, "rms_fitted")
        fine = ok & np.isfinite(before) & (before > 0)
        item.addItem(pg.ScatterPlotItem(
            mag[fine], np.log10(before[fine]), size=5, pen=None, brush=(*BEFORE, 160),
            name="after magnitude fit",
        ))  # fmt: skip
    scatter = pg.ScatterPlotItem(
        mag[ok], np.log10(rms[ok]), data=ids[ok], size=6, pen=None, brush=(*AFTER, 200),
        hoverable=True, name="after EPD/TFA",
    )  # fmt: skip
    item.addItem(scatter)
    if ok.any():
        grid = np.linspace(np.nanmin(mag[ok]) - 0.2, np.nanmax(mag[ok]) + 0.2, 200)
        expected = pg.PlotCurveItem(grid, np.log10(noise.rms(grid)), pen=pg.mkPen(NOISE, width=2),
                                    name="expected noise")  # fmt: skip
        item.addItem(expected)
    cand = ok & np.asarray(table["candidate"], bool)
    if cand.any():
        item.addItem(pg.ScatterPlotItem(
            mag[cand], np.log10(rms[cand]), size=14, symbol="o", brush=None,
            pen=pg.mkPen(CANDIDATE, width=2), name="candidate",
        ))  # fmt: skip
    known = ok & np.array([bool(str(k)) for k in table["known_variable"]], bool)
    if known.any():
        item.addItem(pg.ScatterPlotItem(
            mag[known], np.log10(rms[known]), size=12, symbol="s", brush=None,
            pen=pg.mkPen(KNOWN, width=2), name="known variable",
        ))  # fmt: skip
    if selected is not None:
        pick = ok & (ids == selected)
        if pick.any():
            mark = pg.ScatterPlotItem(mag[pick], np.log10(rms[pick]), size=18, symbol="+",
                                      pen=pg.mkPen(SELECTED, width=3))  # fmt: skip
            item.addItem(mark)
    return scatter


def draw_star(
    curve_item: pg.PlotItem, gram_item: pg.PlotItem, fold_item: pg.PlotItem, star: StarCurve
) -> pg.ScatterPlotItem:
    """One star: light curve (hours from its first point), periodogram, folded curve.

    Returns the clickable scatter of the detrended curve (each point's place in
    ``star``'s arrays as its data).
    """
    _prepare(curve_item, "magnitude", "hours from the first light", magnitude_y=True)
    if curve_item.legend is None:
        curve_item.addLegend(offset=(-10, 10))
    hours = (star.time - star.time[0]) * 24.0 if len(star.time) else star.time
    # The curve before detrending is drawn shifted by its median difference so
    # that both lie on one scale (detrending also removes a constant).
    shift = float(np.nanmedian(star.mag - star.mag_detrended)) if len(star.mag) else 0.0
    before = pg.ScatterPlotItem(hours, star.mag - shift, size=5, pen=None, brush=(*BEFORE, 200),
                                name="before detrending")  # fmt: skip
    curve_item.addItem(before)
    points = pg.ScatterPlotItem(hours, star.mag_detrended, data=np.arange(len(hours)), size=7,
                                pen=None,
                                brush=(*AFTER, 220), hoverable=True, name="detrended")  # fmt: skip
    curve_item.addItem(points)
    curve_item.addItem(pg.ErrorBarItem(x=hours, y=star.mag_detrended, height=2 * star.mag_err,
                                       pen=pg.mkPen((*AFTER, 120))))  # fmt: skip
    _prepare(gram_item, "power", "period (h)")
    pg_ = star.periodogram
    if len(pg_.period):
        order = np.argsort(pg_.period)
        gram_item.addItem(pg.PlotCurveItem(pg_.period[order] * 24.0, pg_.power[order],
                                           pen=pg.mkPen(AFTER, width=1.5)))  # fmt: skip
        if np.isfinite(pg_.best_period):
            dashed = pg.mkPen(NOISE, style=Qt.PenStyle.DashLine)
            gram_item.addItem(pg.InfiniteLine(pg_.best_period * 24.0, angle=90, pen=dashed))
    _prepare(fold_item, "magnitude", "phase", magnitude_y=True)
    if np.isfinite(star.phase).any():
        for offset in (0.0, 1.0):  # two cycles, so a minimum at phase 0 is seen whole
            fold_item.addItem(pg.ScatterPlotItem(star.phase + offset, star.mag_detrended, size=6,
                                                 pen=None, brush=(*AFTER, 200)))  # fmt: skip
    return points
