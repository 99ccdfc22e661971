"""The light-curve plot: magnitudes with error bars, the check star, frames on click.

Magnitudes grow downwards, as astronomers plot them. Each point carries its
frame, so clicking it selects the frame; the current frame is circled and
excluded frames are drawn hollow. The x axis is hours since the first light,
or the phase for a folded view.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from fluxion.widgets.plots import legend_lists_filled_series, plain_axes

__all__ = ["LightCurvePlot", "PeriodogramPlot"]

TARGET_COLOUR = (120, 180, 255)
CHECK_COLOUR = (150, 220, 120)


class LightCurvePlot(QWidget):
    """Target and check-star magnitudes against time or phase.

    Signals
    -------
    frame_clicked(int)
        The frame of the clicked point.
    """

    frame_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        plain_axes(self.plot, magnitude_y=True)
        self.plot.setLabel("left", "magnitude")
        self.plot.setMinimumHeight(180)
        # A dark backing, so the legend stays readable where it covers points.
        self.plot.addLegend(offset=(5, 5), brush=pg.mkBrush(0, 0, 0, 170))
        self.errors = pg.ErrorBarItem(pen=pg.mkPen(TARGET_COLOUR + (140,)))
        self.points = pg.ScatterPlotItem(size=7, pen=None, brush=TARGET_COLOUR, name="target",
                                         hoverable=True)  # fmt: skip
        self.excluded = pg.ScatterPlotItem(size=7, pen=pg.mkPen((160, 160, 160)), brush=None)
        self.check_errors = pg.ErrorBarItem(pen=pg.mkPen(CHECK_COLOUR + (120,)))
        self.check = pg.ScatterPlotItem(size=6, pen=None, brush=CHECK_COLOUR, symbol="t",
                                        name="check star (shifted)")  # fmt: skip
        self.marker = pg.ScatterPlotItem(size=16, pen=pg.mkPen((255, 80, 80), width=2), brush=None)
        for item in (self.errors, self.check_errors, self.check, self.excluded, self.points,
                     self.marker):  # fmt: skip
            self.plot.addItem(item)
        legend_lists_filled_series(self.plot)
        self.points.sigClicked.connect(self._on_click)
        self.excluded.sigClicked.connect(self._on_click)
        self._x = np.empty(0)
        self._y = np.empty(0)
        self._frames = np.empty(0, int)
        self._y_shown = np.empty(0)
        self.plot.getPlotItem().vb.sigResized.connect(self._on_resized)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def set_curve(
        self,
        x: np.ndarray,
        mag: np.ndarray,
        err: np.ndarray,
        frames: np.ndarray,
        excluded: np.ndarray,
        check: tuple[np.ndarray, np.ndarray] | None = None,
        x_label: str = "hours since the first light",
        y_label: str = "magnitude",
    ) -> None:
        """Plot the curve; ``excluded`` points hollow, ``check`` (mag, err) shifted below.

        ``y_label`` says which magnitudes they are (differential, instrumental, catalogue).
        """
        x, mag, err = (np.asarray(a, float) for a in (x, mag, err))
        frames = np.asarray(frames, int)
        excluded = np.asarray(excluded, bool)
        ok = np.isfinite(x) & np.isfinite(mag)
        self._x, self._y, self._frames = x, mag, frames
        use = ok & ~excluded
        e = np.where(np.isfinite(err), err, 0.0)
        self.points.setData(x=x[use], y=mag[use], data=frames[use])
        self.errors.setData(x=x[use], y=mag[use], height=2 * e[use])
        gone = ok & excluded
        self.excluded.setData(x=x[gone], y=mag[gone], data=frames[gone])
        # The range: the kept points with their errors, the excluded ones by their value
        # only. An excluded light is most often one whose error is huge (clouds at the
        # end of the asteroid 2713 night: 9.1 mag), which flattened the curve to a line.
        shown = [mag[use] - e[use], mag[use] + e[use], mag[gone]]
        if check is not None:
            cm, ce = (np.asarray(a, float) for a in check)
            # The check star is drawn below the target's faintest point, so both
            # curves read at once on one scale: by the target's own range (or ten
            # errors), so that a shallow transit is not flattened by a wide gap.
            shift = 0.0
            if use.any():
                spread = max(float(np.ptp(mag[use])), 10 * float(np.nanmedian(e[use])), 0.02)
                shift = np.nanmax(mag[use]) + min(spread, 0.5) - np.nanmedian(cm)
            cok = use & np.isfinite(cm)
            self.check.setData(x=x[cok], y=cm[cok] + shift)
            self.check_errors.setData(x=x[cok], y=cm[cok] + shift,
                                      height=2 * np.nan_to_num(ce[cok]))  # fmt: skip
            shown.append(cm[cok] + shift + np.nan_to_num(ce[cok]))
        else:
            self.check.setData([], [])
            self.check_errors.setData(x=np.empty(0), y=np.empty(0), height=np.empty(0))
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.marker.setData([], [])
        self._leave_room_for_the_legend(np.concatenate(shown))

    def _leave_room_for_the_legend(self, y: np.ndarray) -> None:
        """Magnitudes' range with room above the brightest point for the legend.

        The legend sits in the top left corner (on a dark backing) and covered
        the target's first points; its height in pixels is kept free above them.
        """
        y = y[np.isfinite(y)]
        self._y_shown = y
        if not y.size:
            self.plot.enableAutoRange()
            return
        lo, hi = float(y.min()), float(y.max())
        span = max(hi - lo, 0.01)
        item = self.plot.getPlotItem()
        legend_px = item.legend.boundingRect().height() + 12  # its offset and a margin
        view_px = item.vb.height()
        # Before the first layout the view has no height: a third of it, as a guess.
        room = legend_px / view_px if view_px > 2 * legend_px else 1.0 / 3.0
        total = span / max(1.0 - room - 0.05, 0.2)
        # The magnitude axis is inverted: the bright end (lo) is at the top.
        self.plot.setYRange(lo - room * total, hi + 0.05 * total, padding=0)
        self.plot.enableAutoRange(axis="x")

    def _on_resized(self) -> None:
        if self._y_shown.size:
            self._leave_room_for_the_legend(self._y_shown)

    def mark_frame(self, frame: int) -> None:
        """Circle the point of ``frame``."""
        hit = np.flatnonzero(self._frames == frame)
        if hit.size and np.isfinite(self._y[hit[0]]) and np.isfinite(self._x[hit[0]]):
            self.marker.setData([self._x[hit[0]]], [self._y[hit[0]]])
        else:
            self.marker.setData([], [])

    def clear(self) -> None:
        """Remove the curve."""
        empty = np.empty(0)
        self.set_curve(empty, empty, empty, empty.astype(int), empty.astype(bool))

    def _on_click(self, item: pg.ScatterPlotItem, points, ev=None) -> None:
        if len(points):
            self.frame_clicked.emit(int(points[0].data()))


class PeriodogramPlot(pg.PlotWidget):
    """Lomb-Scargle power against period, the best period marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.setLabel("bottom", "period (h)")
        self.setLabel("left", "Lomb-Scargle power")
        self.setMinimumHeight(110)
        plain_axes(self)
        self.curve = self.plot(pen=pg.mkPen(TARGET_COLOUR))
        self.best = pg.InfiniteLine(angle=90, pen=pg.mkPen((255, 80, 80)))
        self.addItem(self.best)

    def set_power(self, period: np.ndarray, power: np.ndarray, best: float) -> None:
        """Show a periodogram."""
        order = np.argsort(period)
        self.curve.setData(period[order], power[order])
        self.best.setValue(best)
