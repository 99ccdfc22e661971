"""The image viewer: a frame with astronomers' orientation, stretch, zoom, readout, overlays.

Conventions, everywhere in Fluxion: the image is row-major (``data[y, x]``),
shown with the origin at the bottom-left, and pixel coordinates are 0-based
with the centre of the first FITS pixel at (0, 0); pixel (x, y) covers
``x-0.5 .. x+0.5``. The viewer never computes over the whole frame on the GUI
thread except pyqtgraph's render: display limits and the histogram arrive with
the frame (computed in a worker), and stretch, colour map, contrast and bias
are baked into a 4096-entry lookup table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from astropy.coordinates import Angle
from astropy.wcs import WCS
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.stretch import LIMIT_METHODS, STRETCHES, Limits

from .display_controls import COLORMAPS, LevelsHistogram, make_lut
from .overlays import LAYER_NAMES, OverlayLayers

__all__ = ["Readout", "ImageView", "Magnifier"]

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

    def text(self) -> str:
        """One line for the status readout."""
        parts = [f"x {self.x:8.1f}", f"y {self.y:8.1f}"]
        parts.append("value " + ("-" if self.value is None else f"{self.value:.6g}"))
        if self.ra is not None and self.dec is not None:
            ra = Angle(self.ra, unit="deg").to_string(unit="hourangle", sep=":", precision=2)
            dec = Angle(self.dec, unit="deg").to_string(
                unit="deg", sep=":", precision=1, alwayssign=True
            )
            parts.append(f"RA {ra}  Dec {dec}")
        return "   ".join(parts)


class _ImageViewBox(pg.ViewBox):
    """A view box where right-drag sets contrast and bias as in DS9.

    Horizontal position sets the bias, vertical the contrast (centre = 1,
    top = 10x, bottom = 0.1x). pyqtgraph's default right-drag zoom is replaced;
    the wheel still zooms.
    """

    def __init__(self, on_contrast_bias, on_click) -> None:
        super().__init__(lockAspect=True, invertY=False, enableMenu=False)
        self._on_contrast_bias = on_contrast_bias
        self._on_click = on_click

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            rect = self.boundingRect()
            fx = min(max(ev.pos().x() / max(rect.width(), 1.0), 0.0), 1.0)
            fy = min(max(ev.pos().y() / max(rect.height(), 1.0), 0.0), 1.0)
            self._on_contrast_bias(10.0 ** (2.0 * (0.5 - fy)), fx)
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self._on_click(p.x(), p.y(), ev.modifiers())
            return
        super().mouseClickEvent(ev)


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


class ImageView(QWidget):
    """Frame viewer with stretch controls, histogram, magnifier, readout and overlays.

    Signals
    -------
    hover(object)
        A :class:`Readout` for the cursor position, at most ``HOVER_RATE_HZ`` per second.
    clicked(float, float)
        Left click at pixel (x, y), 0-based.
    pixel_clicked(float, float, object)
        The same left click with the keyboard modifiers held
        (``Qt.KeyboardModifier`` flags), e.g. Shift to keep a click as clicked.
    levels_changed(float, float)
        The display limits changed (by the histogram, :meth:`set_levels`).
    limits_method_changed(str)
        The user picked a limits method; the owner recomputes limits (in a worker)
        and calls :meth:`set_levels`.
    display_changed()
        Stretch, colour map, contrast or bias changed.
    """

    hover = Signal(object)
    clicked = Signal(float, float)
    pixel_clicked = Signal(float, float, object)
    levels_changed = Signal(float, float)
    limits_method_changed = Signal(str)
    display_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data: np.ndarray | None = None
        self._preview: tuple[np.ndarray, int] | None = None
        self._drawn: tuple[int, bool] | None = None
        self._wcs: WCS | None = None
        self._levels = Limits(0.0, 1.0)
        self._stretch = "linear"
        self._colormap = "grey"
        self._contrast = 1.0
        self._bias = 0.5
        self._lut = make_lut()
        self.last_readout: Readout | None = None

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(0, 0, 0, 0)
        self.view_box = _ImageViewBox(self._set_contrast_bias_from_drag, self._on_click)
        self.graphics.addItem(self.view_box)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setLookupTable(self._lut)
        self.view_box.addItem(self.image_item)
        self.overlays = OverlayLayers(self.view_box, self)
        self.view_box.sigRangeChanged.connect(lambda *_: self._choose_resolution())

        self.histogram = LevelsHistogram()
        self.histogram.levels_changed.connect(self._on_histogram_levels)
        self.magnifier = Magnifier()
        self.readout_label = QLabel("x - y - value -")
        self.readout_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout_label.setStyleSheet("font-family: monospace;")

        self.stretch_box = self._combo(STRETCHES, "Stretch: how values between the limits map")
        self.limits_box = self._combo(LIMIT_METHODS, "Display limits, from a subsample")
        self.colormap_box = self._combo(COLORMAPS, "Colour map")
        self.stretch_box.currentTextChanged.connect(self.set_stretch)
        self.colormap_box.currentTextChanged.connect(self.set_colormap)
        self.limits_box.currentTextChanged.connect(self.limits_method_changed.emit)
        self.layers_button = QToolButton()
        self.layers_button.setText("Overlays")
        self.layers_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.layers_button.setMenu(self._layers_menu())

        self._build_layout()
        self._install_zoom_actions()
        self._hover_proxy = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=HOVER_RATE_HZ, slot=self._on_mouse_moved
        )

    # -- construction ---------------------------------------------------------
    @staticmethod
    def _combo(items: tuple[str, ...], tip: str) -> QComboBox:
        box = QComboBox()
        box.addItems(list(items))
        box.setToolTip(tip)
        return box

    def _layers_menu(self) -> QMenu:
        menu = QMenu(self)
        self.layer_actions: dict[str, QAction] = {}
        for name in LAYER_NAMES:
            act = menu.addAction(name)
            act.setCheckable(True)
            act.setChecked(True)
            act.toggled.connect(lambda on, n=name: self.overlays.set_visible(n, on))
            self.layer_actions[name] = act
        self.overlays.visibility_changed.connect(lambda n, on: self.layer_actions[n].setChecked(on))
        return menu

    def _build_layout(self) -> None:
        bar = QHBoxLayout()
        for label, box in (
            ("Limits", self.limits_box),
            ("Stretch", self.stretch_box),
            ("Colours", self.colormap_box),
        ):
            bar.addWidget(QLabel(label))
            bar.addWidget(box)
        for text, slot, tip in (
            ("Fit", self.zoom_to_fit, "Show the whole frame (F)"),
            ("1:1", self.zoom_one_to_one, "One image pixel per screen pixel (1)"),
            ("Reset colours", self.reset_contrast_bias, "Undo right-drag contrast and bias"),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
        bar.addWidget(self.layers_button)
        bar.addStretch(1)

        side_widget = QWidget()
        # the histogram only needs to show where the limits sit: the image gets the room
        side_widget.setFixedWidth(self.magnifier.width() + 10)
        side = QVBoxLayout(side_widget)
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.magnifier, 0, Qt.AlignmentFlag.AlignHCenter)
        side.addWidget(self.histogram, 1)
        main = QHBoxLayout()
        main.addWidget(self.graphics, 1)
        main.addWidget(side_widget)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addLayout(bar)
        outer.addLayout(main, 1)
        outer.addWidget(self.readout_label)

    def _install_zoom_actions(self) -> None:
        for keys, slot in (
            (("+", "="), lambda: self.zoom(2.0)),
            (("-",), lambda: self.zoom(0.5)),
            (("F",), self.zoom_to_fit),
            (("1",), self.zoom_one_to_one),
        ):
            act = QAction(self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)

    # -- the frame ------------------------------------------------------------
    def set_image(
        self,
        data: np.ndarray,
        *,
        limits: Limits | None = None,
        wcs: WCS | None = None,
        histogram: tuple[np.ndarray, np.ndarray] | None = None,
        preview: tuple[np.ndarray, int] | None = None,
    ) -> None:
        """Show a 2-d frame.

        ``limits`` (computed in a worker) become the display levels; None keeps
        the current ones, which is how blinking keeps a fixed stretch. The view
        is refitted only when the frame's shape changes. ``preview`` is a
        block-averaged copy and its block size (made in a worker by
        :func:`fluxion.core.stretch.block_preview`): it is drawn instead of the
        full frame while one preview pixel covers at most one screen pixel,
        which makes showing a zoomed-out 4k frame several times faster. The
        readout and magnifier always use the full frame.
        """
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"the viewer shows 2-d frames, got shape {arr.shape}")
        refit = self._data is None or self._data.shape != arr.shape
        self._data = arr
        self._wcs = wcs
        self._preview = preview if preview is not None and preview[1] > 1 else None
        self._drawn = None
        if limits is not None:
            self._levels = limits
            self.histogram.set_levels(limits)
        if histogram is not None:
            self.histogram.set_histogram(*histogram)
        if refit:
            self._draw(self._preview is not None)
            self.zoom_to_fit()
        self._choose_resolution()

    def _draw(self, use_preview: bool) -> None:
        lv = self._levels
        if use_preview and self._preview is not None:
            image, f = self._preview
            rect = QRectF(-0.5, -0.5, image.shape[1] * f, image.shape[0] * f)
        else:
            image, rect = self._data, QRectF(-0.5, -0.5, self._data.shape[1], self._data.shape[0])
        self.image_item.setImage(image, autoLevels=False, levels=(lv.vmin, lv.vmax))
        self.image_item.setRect(rect)
        self._drawn = (id(image), use_preview)

    def _choose_resolution(self) -> None:
        if self._data is None:
            return
        use_preview = False
        if self._preview is not None:
            zoom = self.screen_pixels_per_image_pixel()
            use_preview = math.isfinite(zoom) and zoom * self._preview[1] <= 1.0
        image = self._preview[0] if use_preview else self._data
        if self._drawn != (id(image), use_preview):
            self._draw(use_preview)

    @property
    def showing_preview(self) -> bool:
        """Whether the block-averaged preview is drawn (zoomed out) rather than the frame."""
        return bool(self._drawn and self._drawn[1])

    @property
    def data(self) -> np.ndarray | None:
        """The frame shown (not a copy)."""
        return self._data

    @property
    def wcs(self) -> WCS | None:
        """The shown frame's WCS, if any."""
        return self._wcs

    def clear(self) -> None:
        """Show nothing."""
        self._data = None
        self._preview = None
        self._drawn = None
        self._wcs = None
        self.image_item.clear()
        self.overlays.clear()

    # -- levels and colours ---------------------------------------------------
    def levels(self) -> Limits:
        """The current display limits."""
        return self._levels

    def set_levels(self, vmin: float, vmax: float) -> None:
        """Set the display limits (data values shown as black and white)."""
        lim = Limits(float(vmin), float(vmax))
        if vmax <= vmin:
            raise ValueError(f"display limits need vmin < vmax, got {vmin}, {vmax}")
        self._levels = lim
        self.image_item.setLevels((lim.vmin, lim.vmax))
        self.histogram.set_levels(lim)
        self.levels_changed.emit(lim.vmin, lim.vmax)

    def _on_histogram_levels(self, vmin: float, vmax: float) -> None:
        self._levels = Limits(vmin, vmax)
        self.image_item.setLevels((vmin, vmax))
        self.levels_changed.emit(vmin, vmax)

    def set_stretch(self, kind: str) -> None:
        """Linear, sqrt, log or asinh (a lookup table change only)."""
        if kind not in STRETCHES:
            raise ValueError(f"unknown stretch {kind!r}; use one of {', '.join(STRETCHES)}")
        self._stretch = kind
        self._sync_combo(self.stretch_box, kind)
        self._update_lut()

    def set_colormap(self, name: str) -> None:
        """One of :data:`COLORMAPS`."""
        if name not in COLORMAPS:
            raise ValueError(f"unknown colour map {name!r}; use one of {', '.join(COLORMAPS)}")
        self._colormap = name
        self._sync_combo(self.colormap_box, name)
        self._update_lut()

    def set_limits_method(self, method: str) -> None:
        """Select a limits method in the box (emits :attr:`limits_method_changed`)."""
        if method not in LIMIT_METHODS:
            raise ValueError(f"unknown limits {method!r}; use one of {', '.join(LIMIT_METHODS)}")
        self.limits_box.setCurrentText(method)

    def limits_method(self) -> str:
        """The selected limits method."""
        return self.limits_box.currentText()

    def set_contrast_bias(self, contrast: float, bias: float) -> None:
        """DS9-style contrast (1 = none) and bias (0.5 = none) of the colour bar."""
        self._contrast = float(contrast)
        self._bias = float(bias)
        self._update_lut()

    def reset_contrast_bias(self) -> None:
        """Back to contrast 1, bias 0.5."""
        self.set_contrast_bias(1.0, 0.5)

    def _on_click(self, x: float, y: float, modifiers: object) -> None:
        self.clicked.emit(x, y)
        self.pixel_clicked.emit(x, y, modifiers)

    def _set_contrast_bias_from_drag(self, contrast: float, bias: float) -> None:
        self.set_contrast_bias(contrast, bias)

    def display_settings(self) -> dict[str, object]:
        """Stretch, colour map, limits method, contrast and bias, for settings or a project."""
        return {
            "stretch": self._stretch,
            "colormap": self._colormap,
            "limits": self.limits_method(),
            "contrast": self._contrast,
            "bias": self._bias,
        }

    def lut(self) -> np.ndarray:
        """The current (4096, 3) lookup table."""
        return self._lut

    @staticmethod
    def _sync_combo(box: QComboBox, text: str) -> None:
        if box.currentText() != text:
            box.blockSignals(True)
            box.setCurrentText(text)
            box.blockSignals(False)

    def _update_lut(self) -> None:
        self._lut = make_lut(
            self._colormap, self._stretch, contrast=self._contrast, bias=self._bias
        )
        self.image_item.setLookupTable(self._lut)
        self.display_changed.emit()

    # -- zoom -----------------------------------------------------------------
    def zoom_to_fit(self) -> None:
        """Show the whole frame."""
        if self._data is not None:
            ny, nx = self._data.shape
            self.view_box.setRange(QRectF(-0.5, -0.5, nx, ny), padding=0.02)

    def zoom(self, factor: float) -> None:
        """Zoom in by ``factor`` (> 1) or out (< 1) about the view centre."""
        s = 1.0 / float(factor)
        self.view_box.scaleBy((s, s))

    def zoom_one_to_one(self) -> None:
        """One image pixel per screen pixel, keeping the view centre."""
        rect = self.view_box.viewRect()
        size = self.view_box.size()
        centre = rect.center()
        w, h = size.width(), size.height()
        self.view_box.setRange(QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h), padding=0.0)

    def screen_pixels_per_image_pixel(self) -> float:
        """The current zoom: screen pixels per image pixel."""
        px = self.view_box.viewPixelSize()[0]
        return 1.0 / px if px > 0 else math.nan

    # -- readout --------------------------------------------------------------
    def readout_at(self, x: float, y: float) -> Readout:
        """Position, pixel value and RA/Dec (when the frame has a WCS) at pixel (x, y)."""
        value = None
        ra = dec = None
        if self._data is not None:
            col, row = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            ny, nx = self._data.shape
            if 0 <= col < nx and 0 <= row < ny:
                value = float(self._data[row, col])
        if self._wcs is not None and self._wcs.has_celestial:
            sky = self._wcs.celestial.pixel_to_world_values(x, y)
            ra, dec = float(sky[0]) % 360.0, float(sky[1])
        return Readout(float(x), float(y), value, ra, dec)

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
