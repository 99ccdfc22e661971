"""Colour maps, the display lookup table, and the levels histogram with draggable limits."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from fluxion.core.display.stretch import Limits, stretch_curve

from .plots import plain_axes

__all__ = ["COLORMAPS", "LUT_SIZE", "make_lut", "LevelsHistogram"]

COLORMAPS: tuple[str, ...] = ("grey", "inverted grey", "viridis", "inferno", "magma", "cividis")
# 4096 entries: a 16-bit frame's sky noise spans a few hundred levels, so 256
# entries would show steps after a strong asinh or log stretch.
LUT_SIZE = 256


@lru_cache(maxsize=16)
def _base_colours(name: str) -> np.ndarray:
    ramp = np.linspace(0, 255, LUT_SIZE)
    if name == "grey":
        grey = ramp
    elif name == "inverted grey":
        grey = ramp[::-1]
    else:
        if name not in COLORMAPS:
            raise ValueError(f"unknown colour map {name!r}; use one of {', '.join(COLORMAPS)}")
        cmap = pg.colormap.get(name)
        return np.asarray(cmap.getLookupTable(0.0, 1.0, LUT_SIZE, alpha=False), dtype=np.uint8)
    return np.repeat(np.round(grey).astype(np.uint8)[:, None], 3, axis=1)


def make_lut(
    colormap: str = "grey", stretch: str = "linear", *, contrast: float = 1.0, bias: float = 0.5
) -> np.ndarray:
    """The (LUT_SIZE, 3) uint8 lookup table for a colour map, stretch, contrast and bias.

    Entry ``i`` colours a pixel at fraction ``i / (LUT_SIZE - 1)`` between the
    display limits; the viewer hands it to pyqtgraph so a stretch change is a
    4096-entry computation, never a pass over the frame.
    """
    curve = stretch_curve(stretch, LUT_SIZE, contrast=contrast, bias=bias)
    index = np.round(curve * (LUT_SIZE - 1)).astype(np.intp)
    return _base_colours(colormap)[index]


class LevelsHistogram(QWidget):
    """Histogram of the frame's pixel values with the display limits as a draggable band.

    Signals
    -------
    levels_changed(float, float)
        The user dragged the limits to (vmin, vmax).
    """

    levels_changed = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="k")
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().getAxis("left").hide()
        self.plot.setMinimumHeight(90)
        self.plot.setLogMode(x=False, y=True)
        # without a label, an SI prefix would silently show 30000 ADU as "30"
        plain_axes(self.plot)
        self._curve = self.plot.plot([0.0, 1.0], [1.0], stepMode="center", pen=(180, 180, 180))
        self.region = pg.LinearRegionItem(values=(0.0, 1.0), brush=(80, 120, 255, 50))
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        self.region.sigRegionChangeFinished.connect(self._on_region)
        self.region.sigRegionChanged.connect(self._on_region)
        self._setting = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def set_histogram(self, edges: np.ndarray, counts: np.ndarray) -> None:
        """Show a histogram computed elsewhere (in a worker)."""
        # log-y needs positive counts; an empty bin shows as one count.
        self._curve.setData(np.asarray(edges), np.maximum(np.asarray(counts), 1))
        lo, hi = float(edges[0]), float(edges[-1])
        (old_lo, old_hi), _ = self.plot.viewRange()
        tol = 0.1 * (hi - lo)
        # frames of one night differ a little; re-laying out the axis for every
        # blinked frame would cost more than drawing the frame itself
        if abs(lo - old_lo) > tol or abs(hi - old_hi) > tol:
            self.plot.setXRange(lo, hi, padding=0.0)

    def set_levels(self, limits: Limits) -> None:
        """Move the band without emitting :attr:`levels_changed`."""
        self._setting = True
        try:
            self.region.setRegion((limits.vmin, limits.vmax))
        finally:
            self._setting = False

    def levels(self) -> Limits:
        """The limits the band shows."""
        lo, hi = self.region.getRegion()
        return Limits(float(lo), float(hi))

    def _on_region(self) -> None:
        if self._setting:
            return
        lo, hi = self.region.getRegion()
        if hi > lo:
            self.levels_changed.emit(float(lo), float(hi))
