"""Diagnostics plots of the Calibration panel.

Residuals of the calibration stars against catalog magnitude and colour, the
Photometry Pipeline's calibration analysis (zero point and reduced chi2 as
stars are rejected), and a map of the residuals across the field. They draw
one frame's :class:`~fluxion.core.zeropoint.ZeroPointResult`; the per-frame
plots (zero point against time and against airmass) are
:class:`~fluxion.widgets.plots.TimeSeriesPlot`.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from fluxion.core.zeropoint import ZeroPointResult
from fluxion.widgets.plots import captioned, legend_lists_filled_series
from fluxion.widgets.plots import diagnostic_plot as _plot

__all__ = ["ResidualMap", "ResidualPlots", "TrajectoryPlot"]

USED = (120, 180, 255)
REJECTED = (255, 80, 80)


def _split(result: ZeroPointResult | None) -> tuple[dict, dict]:
    """Columns of the used and the rejected calibration stars (empty without stars)."""
    names = ("mag_catalog", "colour", "residual", "x", "y", "mag_inst", "mag_catalog_err")
    if result is None or not len(result.stars) or "used" not in result.stars.colnames:
        empty = {n: np.empty(0) for n in names}
        return empty, empty
    s = result.stars
    used = np.asarray(s["used"], bool)
    cols = {n: np.asarray(s[n], float) for n in names if n in s.colnames}
    # Rejected stars have no residual from the fit: take it from the zero point
    # and colour term, so that an outlier shows where it lies.
    resid = cols["residual"].copy()
    miss = ~np.isfinite(resid)
    if miss.any() and np.isfinite(result.zero_point):
        k = result.colour_term if np.isfinite(result.colour_term) else 0.0
        colour = np.nan_to_num(cols.get("colour", np.zeros(len(s))))
        resid[miss] = (cols["mag_catalog"] - cols["mag_inst"] - result.zero_point - k * colour)[
            miss
        ]
    cols["residual"] = resid
    return {n: v[used] for n, v in cols.items()}, {n: v[~used] for n, v in cols.items()}


class ResidualPlots(QWidget):
    """Residual (catalog minus calibrated) against catalog magnitude and against colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.by_mag = _plot("residual (mag)", "catalog magnitude")
        self.by_colour = _plot("residual (mag)", "colour (mag)")
        self.items: dict[str, dict[str, pg.ScatterPlotItem]] = {}
        for key, plot in (("mag", self.by_mag), ("colour", self.by_colour)):
            plot.addLegend(offset=(-10, 10))
            plot.addItem(pg.InfiniteLine(angle=0, pos=0.0, pen=pg.mkPen((160, 160, 160))))
            used = pg.ScatterPlotItem(size=6, pen=None, brush=USED, name="used")
            rejected = pg.ScatterPlotItem(
                size=8, symbol="x", pen=pg.mkPen(REJECTED), brush=REJECTED, name="rejected"
            )
            plot.addItem(used)
            plot.addItem(rejected)
            legend_lists_filled_series(plot)
            plot.invertY(True)  # residuals in magnitudes: brighter than calibrated is up
            self.items[key] = {"used": used, "rejected": rejected}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.by_mag)
        layout.addWidget(self.by_colour)

    def set_result(self, result: ZeroPointResult | None) -> None:
        """Draw the stars of one frame's calibration (None clears)."""
        used, rejected = _split(result)
        for part, cols in (("used", used), ("rejected", rejected)):
            for key, xcol in (("mag", "mag_catalog"), ("colour", "colour")):
                x = cols.get(xcol, np.empty(0))
                y = cols["residual"]
                ok = np.isfinite(x) & np.isfinite(y) if len(x) == len(y) else np.zeros(0, bool)
                self.items[key][part].setData(x[ok], y[ok])


class TrajectoryPlot(QWidget):
    """Zero point (with its error) and reduced chi2 against the number of stars kept.

    The Photometry Pipeline's calibration analysis: reading from the right,
    stars are rejected one at a time, worst first; a zero point that drifts
    while chi2 falls says the rejected stars were real outliers, a flat one
    that the fit was sound. The chosen step is circled.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zp_plot = _plot("zero point (mag)", "stars kept")
        self.chi2_plot = _plot("reduced chi2", "stars kept")
        self.chi2_plot.setXLink(self.zp_plot)
        self.zp_curve = self.zp_plot.plot([], [], pen=pg.mkPen(USED, width=1), symbol="o",
                                          symbolSize=5, symbolBrush=USED)  # fmt: skip
        self.zp_errors = pg.ErrorBarItem(x=np.empty(0), y=np.empty(0), pen=pg.mkPen(USED))
        self.zp_plot.addItem(self.zp_errors)
        self.chi2_curve = self.chi2_plot.plot([], [], pen=pg.mkPen((255, 160, 60), width=1),
                                              symbol="o", symbolSize=5)  # fmt: skip
        self.chosen = pg.ScatterPlotItem(size=14, pen=pg.mkPen((255, 210, 0), width=2), brush=None)
        self.zp_plot.addItem(self.chosen)
        self.caption = captioned(self, self.zp_plot, self.chi2_plot)

    def set_result(self, result: ZeroPointResult | None) -> None:
        """Draw one frame's rejection trajectory (None or no trajectory clears)."""
        t = None if result is None else result.trajectory
        if result is None or t is None or not len(t) or "n_stars" not in t.colnames:
            self.zp_curve.setData([], [])
            self.zp_errors.setData(x=np.empty(0), y=np.empty(0), height=np.empty(0))
            self.chi2_curve.setData([], [])
            self.chosen.setData([], [])
            self.caption.setText("No fit to analyse.")
            return
        n = np.asarray(t["n_stars"], float)
        zp = np.asarray(t["zero_point"], float)
        err = np.asarray(t["zero_point_err"], float)
        self.zp_curve.setData(n, zp)
        self.zp_errors.setData(x=n, y=zp, height=2 * np.nan_to_num(err))
        self.chi2_curve.setData(n, np.asarray(t["chi2"], float))
        pick = np.asarray(t["chosen"], bool)
        self.chosen.setData(n[pick], zp[pick])
        self.caption.setText(
            f"{len(t)} fits from {int(n.max())} to {int(n.min())} stars; "
            f"kept {result.n_stars} (circled), reduced chi2 {result.chi2:.2f}."
        )


class ResidualMap(QWidget):
    """Residuals of the calibration stars across the field, coloured blue (brighter
    than calibrated) to red (fainter); rejected stars as crosses. A gradient
    across the map calls for a spatial term."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot("y (px)", "x (px)")
        self.plot.setAspectLocked(True)
        self.used = pg.ScatterPlotItem(size=10, pen=None)
        self.rejected = pg.ScatterPlotItem(size=9, symbol="x", pen=pg.mkPen(REJECTED),
                                           brush=REJECTED)  # fmt: skip
        self.plot.addItem(self.used)
        self.plot.addItem(self.rejected)
        self.colormap = pg.colormap.get("CET-D1")
        self.caption = captioned(self, self.plot)
        self.scale = 0.0

    def set_result(self, result: ZeroPointResult | None) -> None:
        """Draw one frame's residual map (None clears)."""
        used, rejected = _split(result)
        x, y, r = used["x"], used["y"], used["residual"]
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(r)
        x, y, r = x[ok], y[ok], r[ok]
        # symmetric colour scale at the largest residual (at least 0.02 mag)
        self.scale = float(max(np.max(np.abs(r)) if r.size else 0.0, 0.02))
        brushes = [pg.mkBrush(c) for c in self.colormap.map(0.5 + 0.5 * r / self.scale, "qcolor")]
        self.used.setData(x, y, brush=brushes)
        rx, ry = rejected["x"], rejected["y"]
        rok = np.isfinite(rx) & np.isfinite(ry)
        self.rejected.setData(rx[rok], ry[rok])
        self.caption.setText(
            f"{x.size} stars used, {int(rok.sum())} rejected; colours span +-{self.scale:.3f} mag."
            if x.size or rok.any()
            else "No calibration stars."
        )
