"""Diagnostics plots of the Astrometry panel: the residuals of one frame's solution.

They draw the stars matched to the catalog that the chain stores beside each
solution (``SolveResult.matches``: x, y, ra, dec, mag, dx, dy in pixels,
used): the residual vectors across the field, magnified by a stated factor so
that a systematic pattern (a missing distortion term, a wrong rotation) shows,
and the residual in arcsec against catalog magnitude, where faint stars
should scatter more and a trend with brightness points at a bad centroid. The
per-frame RMS against time is the panel's :class:`~fluxion.widgets.plots.TimeSeriesPlot`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from fluxion.core.astrometry import SolveResult
from fluxion.widgets.plots import captioned, diagnostic_plot, legend_lists_filled_series

__all__ = ["ResidualMagnitudePlot", "ResidualVectorPlot", "StarResiduals", "arrow_factor"]

USED = (120, 180, 255)
REJECTED = (255, 80, 80)
#: The longest typical arrow, as a fraction of the field's larger side.
_ARROW_FRACTION = 0.06


class StarResiduals:
    """The columns of one solution's matched stars, ready to draw (empty without stars).

    Attributes
    ----------
    x, y, dx, dy : ndarray
        Position and residual (measured minus fitted) in pixels.
    mag : ndarray
        Catalog magnitude (NaN when the catalog gave none).
    arcsec : ndarray
        Length of the residual on the sky, in arcsec.
    used : ndarray of bool
        Stars kept by the fit (the others were rejected as outliers).
    """

    x: np.ndarray
    y: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    mag: np.ndarray

    def __init__(self, result: SolveResult | None) -> None:
        m = None if result is None or not result.solved else result.matches
        names = ("x", "y", "dx", "dy", "mag")
        if (
            result is None
            or m is None
            or not len(m)
            or any(n not in m.colnames for n in ("x", "y", "dx", "dy"))
        ):
            for n in names:
                setattr(self, n, np.empty(0))
            self.used = np.empty(0, bool)
            self.arcsec = np.empty(0)
            self.scale = math.nan
            return
        n_rows = len(m)
        for n in names:
            col = np.asarray(m[n], float) if n in m.colnames else np.full(n_rows, np.nan)
            setattr(self, n, col)
        self.used = np.asarray(m["used"], bool) if "used" in m.colnames else np.ones(n_rows, bool)
        self.scale = float(result.pixel_scale)
        self.arcsec = np.hypot(self.dx, self.dy) * self.scale


def arrow_factor(lengths_px: np.ndarray, field_px: float) -> float:
    """A round magnification (1, 2, 5 x 10^k) that makes typical residuals visible.

    The 90th percentile residual is drawn at most ~6 % of the field's side,
    so that one outlier does not shrink every other arrow to a dot; a round
    number lets the reader convert an arrow back to pixels in their head.
    """
    finite = lengths_px[np.isfinite(lengths_px)]
    if not finite.size or field_px <= 0:
        return 1.0
    typical = float(np.percentile(finite, 90))
    if typical <= 0:
        return 1.0
    wanted = _ARROW_FRACTION * field_px / typical
    k = math.floor(math.log10(wanted))
    for step in (5.0, 2.0, 1.0):
        if step * 10**k <= wanted:
            return step * 10**k
    return 10.0**k  # unreachable: step 1 always fits


def _segments(x: np.ndarray, y: np.ndarray, dx: np.ndarray, dy: np.ndarray, factor: float):
    """x, y of line segments (pairs of points) from each star along its scaled residual."""
    sx = np.empty(2 * x.size)
    sy = np.empty(2 * x.size)
    sx[0::2], sy[0::2] = x, y
    sx[1::2], sy[1::2] = x + factor * dx, y + factor * dy
    return sx, sy


class ResidualVectorPlot(QWidget):
    """Residual vectors across the field (pixel axes, equal aspect), magnified by :attr:`factor`.

    Each star is a dot with a segment along its residual (measured minus
    fitted position); rejected stars are red. The caption states the
    magnification. The y axis grows upwards, as in the image view.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = diagnostic_plot("y (px)", "x (px)", legend=True)
        self.plot.setAspectLocked(True)
        self.field = pg.PlotCurveItem(pen=pg.mkPen((160, 160, 160), style=Qt.PenStyle.DashLine))
        self.used_vectors = pg.PlotDataItem(pen=pg.mkPen(USED, width=2), connect="pairs")
        self.rejected_vectors = pg.PlotDataItem(pen=pg.mkPen(REJECTED, width=1), connect="pairs")
        self.used_stars = pg.ScatterPlotItem(size=5, pen=None, brush=USED, name="used")
        self.rejected_stars = pg.ScatterPlotItem(
            size=7, symbol="x", pen=pg.mkPen(REJECTED), brush=REJECTED, name="rejected"
        )
        for item in (
            self.field,
            self.used_vectors,
            self.rejected_vectors,
            self.used_stars,
            self.rejected_stars,
        ):
            self.plot.addItem(item)
        legend_lists_filled_series(self.plot)
        self.caption = captioned(self, self.plot)
        self.factor = 1.0

    def set_result(self, result: SolveResult | None) -> None:
        """Draw one frame's residual vectors (None or an unsolved frame clears)."""
        s = StarResiduals(result)
        shape = None
        if result is not None and result.wcs is not None and result.wcs.pixel_shape is not None:
            shape = result.wcs.pixel_shape  # (nx, ny)
        if shape is not None:
            nx, ny = shape
            self.field.setData([-0.5, nx - 0.5, nx - 0.5, -0.5, -0.5],
                               [-0.5, -0.5, ny - 0.5, ny - 0.5, -0.5])  # fmt: skip
            side = float(max(nx, ny))
        else:
            self.field.setData([], [])
            side = float(np.ptp(s.x)) if s.x.size else 0.0
        ok = np.isfinite(s.x) & np.isfinite(s.y) & np.isfinite(s.dx) & np.isfinite(s.dy)
        used, rejected = ok & s.used, ok & ~s.used
        self.factor = arrow_factor(np.hypot(s.dx[used], s.dy[used]), side)
        for sel, vectors, stars in (
            (used, self.used_vectors, self.used_stars),
            (rejected, self.rejected_vectors, self.rejected_stars),
        ):
            stars.setData(s.x[sel], s.y[sel])
            if sel.any():
                vectors.setData(*_segments(s.x[sel], s.y[sel], s.dx[sel], s.dy[sel], self.factor))
            else:
                vectors.setData([], [])
        if not ok.any():
            self.caption.setText("No matched stars to show.")
            return
        self.caption.setText(
            f"{int(used.sum())} stars used, {int(rejected.sum())} rejected; residuals "
            f"(measured minus fitted) drawn {self.factor:g} times longer than they are: "
            f"an arrow of {self.factor:g} px is a residual of 1 px."
        )


class ResidualMagnitudePlot(QWidget):
    """Residual length on the sky (arcsec) against catalog magnitude, used and rejected stars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = diagnostic_plot("residual (arcsec)", "catalog magnitude", legend=True)
        self.rms_line = pg.InfiniteLine(angle=0, pos=0.0, pen=pg.mkPen((160, 160, 160)))
        self.plot.addItem(self.rms_line)
        self.used = pg.ScatterPlotItem(size=6, pen=None, brush=USED, name="used")
        self.rejected = pg.ScatterPlotItem(
            size=8, symbol="x", pen=pg.mkPen(REJECTED), brush=REJECTED, name="rejected"
        )
        self.plot.addItem(self.used)
        self.plot.addItem(self.rejected)
        legend_lists_filled_series(self.plot)
        self.caption = captioned(self, self.plot)

    def set_result(self, result: SolveResult | None) -> None:
        """Draw one frame's residuals against magnitude (None or unsolved clears)."""
        s = StarResiduals(result)
        ok = np.isfinite(s.mag) & np.isfinite(s.arcsec)
        self.used.setData(s.mag[ok & s.used], s.arcsec[ok & s.used])
        self.rejected.setData(s.mag[ok & ~s.used], s.arcsec[ok & ~s.used])
        rms = float(result.rms_arcsec) if result is not None and result.solved else math.nan
        self.rms_line.setVisible(math.isfinite(rms))
        if math.isfinite(rms):
            self.rms_line.setValue(rms)
        if not s.arcsec.size:
            self.caption.setText("No matched stars to show.")
        elif not ok.any():
            self.caption.setText("The catalog gave no magnitudes for the matched stars.")
        else:
            self.caption.setText(
                f"{int(ok.sum())} stars; the grey line is the frame's RMS ({rms:.2f} arcsec)."
            )
