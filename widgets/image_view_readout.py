"""What is under the cursor in the image view: pixel value, RA/Dec and a magnified inset.

A part of :class:`fluxion.widgets.image_view.ImageView`: the readout line
follows the mouse at most :data:`HOVER_RATE_HZ` times a second, reads only
the pixel under it (and the tiny crop of the :class:`Magnifier`), never the
whole frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from astropy.coordinates import Angle
from astropy.wcs import WCS
from PySide6.QtCore import QPointF, QRectF, SignalInstance
from PySide6.QtWidgets import QLabel, QWidget

from fluxion.core.display.stretch import Limits

__all__ = ["HOVER_RATE_HZ", "Readout", "Magnifier", "ReadoutMixin"]

# Hover readout at most this often; the magnifier and RA/Dec follow it.
HOVER_RATE_HZ = 30


@dataclass(frozen=True)
class Readout:
    """What is under the cursor: position (0-based px), pixel value, sky position (deg)."""

    x: float
    y: float
    value: float | None
    ra: float | None = None
    dec: float | None = None
    colour: str | None = None
    """The colour of a colour (Bayer) camera's pixel: R, G or B."""

    def text(self) -> str:
        """One line for the status readout."""
        parts = [f"x {self.x:8.1f}", f"y {self.y:8.1f}"]
        value = "-" if self.value is None else f"{self.value:.6g}"
        # A colour camera's pixel sees one colour: its value is that colour's level.
        parts.append(f"value {value}" + (f" ({self.colour} pixel)" if self.colour else ""))
        if self.ra is not None and self.dec is not None:
            ra = Angle(self.ra, unit="deg").to_string(unit="hourangle", sep=":", precision=2)
            dec = Angle(self.dec, unit="deg").to_string(
                unit="deg", sep=":", precision=1, alwayssign=True
            )
            parts.append(f"RA {ra}  Dec {dec}")
        return "   ".join(parts)


class Magnifier(pg.GraphicsLayoutWidget):
    """A zoomed inset of the pixels around the cursor, with the main view's colours."""

    HALF = 10  # pixels each side of the cursor

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(150, 150)
        self.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.addViewBox(lockAspect=True, invertY=False, enableMenu=False)
        self.view.setMouseEnabled(False, False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        pen = pg.mkPen((255, 60, 60), width=1)
        pen.setCosmetic(True)
        self._box = pg.QtWidgets.QGraphicsRectItem(-0.5, -0.5, 1.0, 1.0)
        self._box.setPen(pen)
        self.view.addItem(self._box)
        self.centre: tuple[int, int] | None = None

    def show_around(
        self, data: np.ndarray, col: int, row: int, levels: Limits, lut: np.ndarray
    ) -> None:
        """Show the pixels within :attr:`HALF` of (col, row); the crop is tiny, so cheap."""
        h = self.HALF
        ny, nx = data.shape
        r0, r1 = max(row - h, 0), min(row + h + 1, ny)
        c0, c1 = max(col - h, 0), min(col + h + 1, nx)
        if r0 >= r1 or c0 >= c1:
            return
        self.image.setImage(
            data[r0:r1, c0:c1], levels=(levels.vmin, levels.vmax), lut=lut, autoLevels=False
        )
        self.image.setRect(QRectF(c0 - 0.5, r0 - 0.5, c1 - c0, r1 - r0))
        self._box.setRect(QRectF(col - 0.5, row - 0.5, 1.0, 1.0))
        self.view.setRange(QRectF(col - h - 0.5, row - h - 0.5, 2 * h + 1, 2 * h + 1), padding=0.0)
        self.centre = (col, row)


class ReadoutMixin:
    """The cursor readout of :class:`ImageView` (its ``_data``, ``_wcs``, ``magnifier``).

    A plain mixin, not a QWidget: PySide6 gives a Python class one QObject base,
    and a second one loses the view's slots (the hover readout stopped).
    """

    # The view's, set by ImageView (declared for the type checker).
    hover: SignalInstance
    _data: np.ndarray | None
    _wcs: WCS | None
    _pattern: str | None
    _levels: Limits
    _lut: np.ndarray
    view_box: pg.ViewBox
    readout_label: QLabel
    magnifier: Magnifier
    last_readout: Readout | None

    def readout_at(self, x: float, y: float) -> Readout:
        """Position, pixel value and RA/Dec (when the frame has a WCS) at pixel (x, y)."""
        value, colour = None, None
        ra = dec = None
        if self._data is not None:
            col, row = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            ny, nx = self._data.shape
            if 0 <= col < nx and 0 <= row < ny:
                value = float(self._data[row, col])
                pattern = getattr(self, "_pattern", None)
                if pattern:  # the 2x2 block's colours, row by row (core.io.cfa)
                    colour = pattern[2 * (row % 2) + col % 2]
        if self._wcs is not None and self._wcs.has_celestial:
            sky = self._wcs.celestial.pixel_to_world_values(x, y)
            ra, dec = float(sky[0]) % 360.0, float(sky[1])
        return Readout(float(x), float(y), value, ra, dec, colour)

    def _on_mouse_moved(self, args: tuple) -> None:
        pos: QPointF = args[0]
        if self._data is None or not self.view_box.sceneBoundingRect().contains(pos):
            return
        p = self.view_box.mapSceneToView(pos)
        self.show_readout(p.x(), p.y())

    def show_readout(self, x: float, y: float) -> Readout:
        """Update the readout and magnifier for pixel (x, y) and emit :attr:`hover`."""
        r = self.readout_at(x, y)
        self.last_readout = r
        self.readout_label.setText(r.text())
        if self._data is not None and r.value is not None:
            self.magnifier.show_around(
                self._data,
                int(math.floor(x + 0.5)),
                int(math.floor(y + 0.5)),
                self._levels,
                self._lut,
            )
        self.hover.emit(r)
        return r
