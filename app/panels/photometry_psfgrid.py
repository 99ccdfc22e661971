"""The PSF across the field: the grid of PSFs (or their differences from the mean) and maps.

Shows a :class:`fluxion.core.photometry.gridpsf.maps.PSFMaps` computed in the
worker: the mosaic of the PSFs at a grid of positions (each scaled to its
peak, as photutils' ``plot_grid``) or of their differences from the mean PSF
(``plot_grid(deltas=True)``), beside colour maps of the FWHM and the
ellipticity over the frame. Nothing here computes more than a colour map.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QGridLayout, QVBoxLayout, QWidget

from fluxion.core.photometry.gridpsf.maps import PSFMaps
from fluxion.widgets.plots import captioned

__all__ = ["PsfGridView"]

# Blue fainter than the mean PSF, white equal, red brighter (no matplotlib in the app).
_DIVERGING = pg.ColorMap(pos=[0.0, 0.5, 1.0], color=[(40, 90, 200), (245, 245, 245), (200, 50, 40)])


def _image_box(layout: pg.GraphicsLayoutWidget, title: str, row: int, col: int):
    """A titled view box with an image item (row 0 at the bottom, as the frame)."""
    layout.addLabel(title, row=row, col=col)
    box = layout.addViewBox(row=row + 1, col=col, lockAspect=True)
    box.setMouseEnabled(False, False)
    box.invertY(False)
    item = pg.ImageItem(axisOrder="row-major")
    box.addItem(item)
    return box, item


class PsfGridView(QWidget):
    """Grid of PSFs or their differences from the mean, FWHM and ellipticity maps."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.maps: PSFMaps | None = None
        self.deltas = QCheckBox("differences from the mean PSF")
        self.deltas.setToolTip(
            "Each PSF minus the mean of the grid, in units of the mean's peak: how the "
            "PSF changes across the frame (red brighter, blue fainter than the mean)."
        )
        self.deltas.toggled.connect(lambda _: self._draw_grid())
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(300, 160)
        self.grid_box, self.grid_image = _image_box(self.graphics, "PSFs across the frame", 0, 0)
        self.fwhm_box, self.fwhm_image = _image_box(self.graphics, "FWHM (px)", 0, 1)
        self.fwhm_bar = self._bar("viridis", self.fwhm_image, 2)
        self.ell_box, self.ell_image = _image_box(self.graphics, "ellipticity 1 - b/a", 0, 3)
        self.ell_bar = self._bar("magma", self.ell_image, 4)
        top = QGridLayout()
        top.addWidget(self.deltas, 0, 0)
        holder = QWidget()
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addLayout(top)
        inner.addWidget(self.graphics, 1)
        self.caption = captioned(self, holder)
        self.set_maps(None)

    def _bar(self, cmap: str, item: pg.ImageItem, col: int) -> pg.ColorBarItem:
        """A colour bar for ``item`` in column ``col`` of the map row."""
        bar = pg.ColorBarItem(colorMap=cmap, interactive=False, width=12)
        bar.setImageItem(item)
        self.graphics.addItem(bar, row=1, col=col)
        return bar

    def set_maps(self, maps: PSFMaps | None, note: str = "") -> None:
        """Show ``maps`` (:class:`~fluxion.core.photometry.gridpsf.maps.PSFMaps`); None clears."""
        self.maps = maps
        if maps is None:
            for item in (self.grid_image, self.fwhm_image, self.ell_image):
                item.clear()
            self.caption.setText(note or "No PSF (aperture photometry).")
            return
        self._draw_grid()
        self._draw_map(self.fwhm_image, self.fwhm_bar, maps.fwhm, maps)
        self._draw_map(self.ell_image, self.ell_bar, maps.ellipticity, maps)
        lo, hi = maps.fwhm_range
        elo, ehi = maps.ellipticity_range
        if maps.varies:
            text = (
                f"{maps.label}: {len(maps.xs)} x {len(maps.ys)} PSFs shown; FWHM {lo:.2f}-{hi:.2f} "
                f"px, ellipticity {elo:.2f}-{ehi:.2f} across the frame."
            )
        else:
            text = f"One PSF for the frame ({maps.label}): FWHM {lo:.2f} px, ellipticity {elo:.2f}."
        self.caption.setText(text + (f" {note}" if note else ""))

    def _draw_grid(self) -> None:
        maps = self.maps
        if maps is None:
            return
        if self.deltas.isChecked():
            data = maps.deltas
            lim = float(np.nanmax(np.abs(data))) or 1.0
            self.grid_image.setImage(data, levels=(-lim, lim))
            self.grid_image.setColorMap(_DIVERGING)
        else:
            # asinh: the wings show beside the cores
            self.grid_image.setImage(np.arcsinh(maps.tiles * 50.0), autoLevels=True)
            self.grid_image.setColorMap(pg.colormap.get("viridis"))
        self.grid_box.autoRange(padding=0.0)

    def _draw_map(self, item: pg.ImageItem, bar: pg.ColorBarItem, values, maps) -> None:
        data = np.asarray(values, dtype=float)
        finite = data[np.isfinite(data)]
        if finite.size == 0:
            item.clear()
            return
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1e-3 * max(abs(hi), 1e-3):
            lo, hi = lo - 0.01, hi + 0.01
        item.setImage(np.nan_to_num(data, nan=lo))
        # The map spans the frame: one cell per mesh point, in frame pixels.
        nx = maps.map_x[-1] - maps.map_x[0] if len(maps.map_x) > 1 else 1.0
        ny = maps.map_y[-1] - maps.map_y[0] if len(maps.map_y) > 1 else 1.0
        item.setRect(0, 0, max(nx, 1.0), max(ny, 1.0))
        bar.setLevels((lo, hi))
        item.getViewBox().autoRange(padding=0.0)
