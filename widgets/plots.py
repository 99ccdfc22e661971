"""A time-series plot of a per-frame quantity (FWHM, sky, source count) where a click picks a frame.

Clicking a point emits that point's frame index, so a diagnostic plot doubles
as a way to jump to the odd frame. The current frame is marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLayout, QVBoxLayout, QWidget

__all__ = ["TimeSeriesPlot", "diagnostic_plot", "legend_lists_filled_series", "plain_axes"]


def _plot_item(plot: pg.PlotWidget | pg.PlotItem) -> pg.PlotItem:
    return plot.getPlotItem() if isinstance(plot, pg.PlotWidget) else plot


def plain_axes(plot: pg.PlotWidget | pg.PlotItem, *, magnitude_y: bool = False) -> None:
    """Show axis values as they are, with magnitudes growing downwards when ``magnitude_y``.

    pyqtgraph rescales small or large ranges with an SI prefix ("magnitude
    (x0.001)"), which no astronomer reads that way; turning it off keeps the
    tick labels in the quantity's own unit. A magnitude axis is inverted so
    that brighter is up, as light curves and calibration residuals are drawn.
    """
    item = _plot_item(plot)
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).enableAutoSIPrefix(False)
    if magnitude_y:
        item.invertY(True)


def diagnostic_plot(
    left: str, bottom: str, *, min_height: int = 120, legend: bool = False
) -> pg.PlotWidget:
    """A panel's diagnostic plot: axis titles, a light grid, plain axis values.

    Parameters
    ----------
    left, bottom : str
        Axis titles with their units, e.g. ``"residual (mag)"``.
    min_height : int
        Pixels below which the plot does not shrink (axis titles stay readable).
    legend : bool
        Add a legend in the top right corner (see :func:`legend_lists_filled_series`).
    """
    plot = pg.PlotWidget()
    plot.setMenuEnabled(False)
    plot.showGrid(x=True, y=True, alpha=0.3)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    plot.setMinimumHeight(min_height)
    if legend:
        plot.addLegend(offset=(-10, 10), brush=pg.mkBrush(0, 0, 0, 170))
    plain_axes(plot)
    return plot


def captioned(parent: QWidget, *items: QWidget | QLayout) -> QLabel:
    """Stack ``items`` (the first one stretching) above a word-wrapped caption.

    Returns the caption label, which the diagnostic plots fill with what the
    plot shows in words.
    """
    caption = QLabel("")
    caption.setWordWrap(True)
    layout = QVBoxLayout(parent)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, item in enumerate(items):
        stretch = 1 if i == 0 else 0
        if isinstance(item, QLayout):
            layout.addLayout(item, stretch)
        else:
            layout.addWidget(item, stretch)
    layout.addWidget(caption)
    return caption


def legend_lists_filled_series(plot: pg.PlotWidget | pg.PlotItem) -> None:
    """Keep the plot's legend to the named series that have points.

    pyqtgraph lists every named item as it is added, so a panel without a
    target would show a "target" entry with nothing behind it. Call this once
    the plot's items are added; the legend follows every later ``setData``.
    """
    item = _plot_item(plot)
    legend = item.legend
    if legend is None:
        return
    named = [d for d in item.listDataItems() if d.name()]

    def refresh(*_: object) -> None:
        legend.clear()
        for d in named:
            x, _y = d.getData()
            if x is not None and len(x):
                legend.addItem(d, d.name())

    for d in named:
        d.sigPlotChanged.connect(refresh)
    refresh()


class TimeSeriesPlot(QWidget):
    """Per-frame values against time (or frame number).

    Signals
    -------
    frame_clicked(int)
        The frame index of the clicked point.
    """

    frame_clicked = Signal(int)

    def __init__(
        self, y_label: str = "", x_label: str = "time", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("left", y_label)
        self.plot.setLabel("bottom", x_label)
        self.plot.setMinimumHeight(120)
        plain_axes(self.plot)
        self.points = pg.ScatterPlotItem(size=7, pen=None, brush=(120, 180, 255), hoverable=True)
        self.points.sigClicked.connect(self._on_click)
        self.line = pg.PlotCurveItem(pen=pg.mkPen((120, 180, 255, 120), width=1))
        self.marker = pg.ScatterPlotItem(
            size=14, symbol="o", pen=pg.mkPen((255, 80, 80), width=2), brush=None
        )
        for item in (self.line, self.points, self.marker):
            self.plot.addItem(item)
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._frames = np.empty(0, dtype=int)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_series(
        self,
        x: Sequence[float] | np.ndarray,
        y: Sequence[float] | np.ndarray,
        frames: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        """Plot ``y`` against ``x``; ``frames`` are the frame indices (default 0..n-1)."""
        xa = np.asarray(x, dtype=float)
        ya = np.asarray(y, dtype=float)
        if xa.shape != ya.shape:
            raise ValueError(f"x and y differ in length: {xa.size} and {ya.size}")
        fr = np.arange(xa.size) if frames is None else np.asarray(frames, dtype=int)
        if fr.shape != xa.shape:
            raise ValueError(f"{fr.size} frame indices for {xa.size} points")
        order = np.argsort(xa, kind="stable")
        if not np.isfinite(self._y).any():
            # A first series (a new night or project): fit it, whatever range a
            # zoom on the previous one left.
            self.plot.enableAutoRange()
        self._x, self._y, self._frames = xa[order], ya[order], fr[order]
        ok = np.isfinite(self._x) & np.isfinite(self._y)
        self.points.setData(x=self._x[ok], y=self._y[ok], data=self._frames[ok])
        self.line.setData(self._x[ok], self._y[ok])
        self.marker.setData([], [])

    def mark_frame(self, frame: int) -> None:
        """Circle the point of ``frame`` (the frame shown in the viewer)."""
        hit = np.flatnonzero(self._frames == frame)
        if hit.size and np.isfinite(self._y[hit[0]]):
            self.marker.setData([self._x[hit[0]]], [self._y[hit[0]]])
        else:
            self.marker.setData([], [])

    def clear(self) -> None:
        """Remove all points."""
        self.set_series([], [])

    def _on_click(self, item: pg.ScatterPlotItem, points, ev=None) -> None:
        if len(points):
            self.frame_clicked.emit(int(points[0].data()))
