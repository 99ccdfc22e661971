"""Drawing the transit fit's plots (TFOP SG1 style) from the plot tables of core.transit.plots.

The same functions draw the Transit panel's live plots and the PNGs that
``fluxion transit`` writes (:mod:`fluxion.app.transit_png`), so the window and
the files show one thing. Times are drawn as hours from the fitted mid-time.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from astropy.table import Table
from PySide6.QtCore import Qt

from fluxion.widgets.plots import plain_axes

__all__ = [
    "FIGURES",
    "draw_lightcurve",
    "draw_residuals",
    "draw_systematics",
    "draw_rms",
    "draw_comparisons",
    "hours",
]

RAW = (150, 150, 150)
POINTS = (31, 95, 168)
MODEL = (192, 57, 43)
BINNED = (39, 134, 74)
PREDICTED = (120, 120, 120)

#: Figures written as PNG: name -> the plot tables they need.
FIGURES = {
    "lightcurve": ("lightcurve", "binned"),
    "systematics": ("systematics",),
    "rms_vs_bin": ("rms_vs_bin",),
    "comparisons": ("comparisons",),
}


def hours(t: np.ndarray, tmid: float) -> np.ndarray:
    """Hours from the mid-time."""
    return (np.asarray(t, dtype=float) - tmid) * 24.0


def _col(table: Table, name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=float)


def _prepare(item: pg.PlotItem, left: str, bottom: str = "hours from mid-transit") -> None:
    item.clear()
    item.showGrid(x=True, y=True, alpha=0.3)
    item.setLabel("left", left)
    item.setLabel("bottom", bottom)
    item.getAxis("left").setWidth(70)  # aligned plots, room for 0.9975-style labels
    plain_axes(item)


def draw_lightcurve(item: pg.PlotItem, lc: Table, binned: Table) -> pg.ScatterPlotItem:
    """Detrended flux, binned points, the transit model and the mid-times.

    Returns the scatter of the points (its data are the frame indices), so a
    caller can link clicks to frames.
    """
    _prepare(item, "relative flux (detrended)")
    tmid = float(lc.meta["tmid"])
    x = hours(lc["t"], tmid)
    used = np.asarray(lc["used"], dtype=bool)
    y = _col(lc, "detrended")
    scatter = pg.ScatterPlotItem(
        x[used], y[used], size=5, pen=None, brush=RAW + (200,), data=np.flatnonzero(used),
        hoverable=True,
    )  # fmt: skip
    item.addItem(scatter)
    if (~used).any():
        item.addItem(pg.ScatterPlotItem(x[~used], y[~used], size=7, symbol="x",
                                        pen=pg.mkPen(MODEL), brush=None))  # fmt: skip
    if len(binned):
        bx, by, be = hours(binned["t"], tmid), _col(binned, "value"), _col(binned, "err")
        item.addItem(pg.ErrorBarItem(x=bx, y=by, height=2 * be, pen=pg.mkPen(BINNED)))
        item.addItem(pg.ScatterPlotItem(bx, by, size=8, pen=None, brush=BINNED))
    order = np.argsort(x)
    item.plot(x[order], _col(lc, "transit")[order], pen=pg.mkPen(MODEL, width=2))
    item.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(MODEL, style=Qt.PenStyle.DashLine)))
    tc = lc.meta.get("predicted_tc")
    if tc is not None and np.isfinite(tc):
        pen = pg.mkPen(PREDICTED, style=Qt.PenStyle.DotLine)
        item.addItem(pg.InfiniteLine(hours(tc, tmid), angle=90, pen=pen))
    return scatter


def draw_residuals(item: pg.PlotItem, lc: Table, binned: Table) -> None:
    """Residuals (data / baseline - transit) with their bins."""
    _prepare(item, "residual")
    tmid = float(lc.meta["tmid"])
    used = np.asarray(lc["used"], dtype=bool)
    x, r = hours(lc["t"], tmid), _col(lc, "residual")
    item.addItem(pg.ScatterPlotItem(x[used], r[used], size=4, pen=None, brush=RAW + (200,)))
    if len(binned) and "residual" in binned.colnames:
        item.addItem(pg.ScatterPlotItem(hours(binned["t"], tmid), _col(binned, "residual"),
                                        size=7, pen=None, brush=BINNED))  # fmt: skip
    item.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen(MODEL)))


def draw_systematics(items: list[pg.PlotItem], sysm: Table, tmid: float) -> None:
    """The baseline and each per-frame regressor against time, one plot each."""
    names = ["baseline"] + [c for c in ("airmass", "fwhm", "sky", "x", "y", "comp_flux")
                            if c in sysm.colnames]  # fmt: skip
    x = hours(sysm["t"], tmid)
    labels = {"baseline": "baseline (flux)", "fwhm": "FWHM (px)", "sky": "sky",
              "x": "x (px)", "y": "y (px)", "comp_flux": "comparison counts"}  # fmt: skip
    for item, name in zip(items, names, strict=False):
        _prepare(item, labels.get(name, name))
        item.plot(x, _col(sysm, name), pen=None, symbol="o", symbolSize=4,
                  symbolBrush=POINTS, symbolPen=None)  # fmt: skip


def draw_rms(item: pg.PlotItem, rvb: Table) -> None:
    """rms of binned residuals against bin length, with white noise's expectation."""
    _prepare(item, "rms of binned residuals", "bin length (min)")
    x = _col(rvb, "bin_minutes")
    item.setLogMode(x=True, y=True)
    item.plot(x, _col(rvb, "rms"), pen=pg.mkPen(POINTS, width=2), symbol="o", symbolSize=5,
              symbolBrush=POINTS, name="measured")  # fmt: skip
    item.plot(
        x,
        _col(rvb, "expected"),
        pen=pg.mkPen(MODEL, style=Qt.PenStyle.DashLine),
        name="white noise",
    )


def draw_comparisons(item: pg.PlotItem, comp: Table, tmid: float) -> None:
    """Each comparison star's flux against the others, offset for clarity."""
    _prepare(item, "relative flux (offset)")
    x = hours(comp["t"], tmid)
    stars = [c for c in comp.colnames if c != "t"]
    for k, name in enumerate(stars):
        y = _col(comp, name)
        colour = pg.intColor(k, hues=max(len(stars), 3))
        item.plot(x, y - 0.02 * k, pen=None, symbol="o", symbolSize=4, symbolBrush=colour,
                  symbolPen=None, name=name)  # fmt: skip
