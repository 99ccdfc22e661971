"""A time-series plot of a per-frame quantity (FWHM, sky, source count) where a click picks a frame.

Clicking a point emits that point's frame index, so a diagnostic plot doubles
as a way to jump to the odd frame. The current frame is marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

__all__ = ["TimeSeriesPlot"]


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
