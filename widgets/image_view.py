"""The image viewer: a frame with astronomers' orientation, stretch, zoom, readout, overlays.

Conventions, everywhere in Fluxion: the image is row-major (``data[y, x]``),
shown with the origin at the bottom-left, and pixel coordinates are 0-based
with the centre of the first FITS pixel at (0, 0); pixel (x, y) covers
``x-0.5 .. x+0.5``. The viewer never computes over the whole frame on the GUI
thread except pyqtgraph's render: display limits and the histogram arrive with
the frame (computed in a worker), and stretch, colour map, contrast and bias
are baked into a 4096-entry lookup table.

The display (levels, stretch, colours: :mod:`.image_view_display`) and the
cursor readout and magnifier (:mod:`.image_view_readout`) are parts of the
view in their own modules; this one holds the frame, its zoom and the layout.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from astropy.wcs import WCS
from PySide6.QtCore import QRectF, Qt, Signal
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

from fluxion.core.display.stretch import LIMIT_METHODS, STRETCHES, Limits

from .display_controls import COLORMAPS, LevelsHistogram, make_lut
from .flow_layout import WrappingStrip
from .image_view_display import DisplayMixin, ImageViewBox
from .image_view_readout import HOVER_RATE_HZ, Magnifier, Readout, ReadoutMixin
from .overlays import LAYER_NAMES, OverlayLayers

__all__ = ["ImageView"]


class ImageView(DisplayMixin, ReadoutMixin, QWidget):
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
        self._colour: tuple[np.ndarray, int] | None = None
        self._pattern: str | None = None
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
        self.view_box = ImageViewBox(self.set_contrast_bias, self._on_click)
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
        self.colour_button = QToolButton()
        self.colour_button.setText("Colour")
        self.colour_button.setCheckable(True)
        self.colour_button.setChecked(True)
        self.colour_button.setToolTip(
            "A colour (Bayer) frame in colour, interpolated for display only; off: its "
            "pixels as stored, each with its own colour's level"
        )
        self.colour_button.toggled.connect(lambda _: self._redraw())
        self.colour_button.setVisible(False)

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
        # The controls wrap onto a second row when the window is narrow (twice the
        # scale on a laptop), so that they never set the window's least width.
        bar = WrappingStrip()
        self._bar_labels: list[QLabel] = []
        for label, box in (
            ("Limits", self.limits_box),
            ("Stretch", self.stretch_box),
            ("Colours", self.colormap_box),
        ):
            pair = QWidget()
            row = QHBoxLayout(pair)
            row.setContentsMargins(0, 0, 0, 0)
            self._bar_labels.append(QLabel(label))
            row.addWidget(self._bar_labels[-1])
            row.addWidget(box)
            bar.add(pair)
        for text, slot, tip in (
            ("Fit", self.zoom_to_fit, "Show the whole frame (F)"),
            ("1:1", self.zoom_one_to_one, "One image pixel per screen pixel (1)"),
            ("Reset colours", self.reset_contrast_bias, "Undo right-drag contrast and bias"),
        ):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.add(b)
            if slot == self.reset_contrast_bias:
                self._reset_button = b
        bar.add(self.layers_button)
        bar.add(self.colour_button)

        side_widget = self._side = QWidget()
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
        outer.addWidget(bar)
        outer.addLayout(main, 1)
        outer.addWidget(self.readout_label)

    def set_compact(self, compact: bool) -> None:
        """Leave out the magnifier, the histogram, the controls' titles and Reset colours (a
        small screen, a projector's large text): the image keeps the room. The controls keep
        their tooltips."""
        self._side.setVisible(not compact)
        for widget in (*self._bar_labels, self._reset_button):
            widget.setVisible(not compact)

    def _install_zoom_actions(self) -> None:
        for keys, slot, what in (
            (("+", "="), lambda: self.zoom(2.0), "Zoom in (image in focus)"),
            (("-",), lambda: self.zoom(0.5), "Zoom out (image in focus)"),
            (("F",), self.zoom_to_fit, "Fit the frame (image in focus)"),
            (("1",), self.zoom_one_to_one, "One image pixel per screen pixel (image in focus)"),
        ):
            act = QAction(what, self)
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
        colour: tuple[np.ndarray, int] | None = None,
        pattern: str | None = None,
    ) -> None:
        """Show a 2-d frame.

        ``limits`` (computed in a worker) become the display levels; None keeps
        the current ones, which is how blinking keeps a fixed stretch. The view
        is refitted only when the frame's shape changes. ``preview`` is a
        block-averaged copy and its block size (made in a worker by
        :func:`fluxion.core.display.stretch.block_preview`): it is drawn instead of the
        full frame while one preview pixel covers at most one screen pixel,
        which makes showing a zoomed-out 4k frame several times faster. The
        readout and magnifier always use the full frame.

        ``colour`` is a colour (Bayer) frame's RGB picture and its block size
        (:func:`fluxion.core.display.debayer.colour_picture`, in a worker),
        drawn at the frame's levels while the Colour button is down; the
        stretch and colour map apply to monochrome pictures only. ``pattern``
        is its Bayer pattern ('GRBG': the colours of a 2x2 block, row by row):
        the readout names each pixel's colour.
        """
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"the viewer shows 2-d frames, got shape {arr.shape}")
        refit = self._data is None or self._data.shape != arr.shape
        self._data = arr
        self._wcs = wcs
        self._preview = preview if preview is not None and preview[1] > 1 else None
        self._colour = colour
        self._pattern = pattern if colour is not None and pattern and len(pattern) == 4 else None
        self.colour_button.setVisible(colour is not None)
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
        if self.last_readout is not None:
            # The cursor has not moved but the frame changed: its value and sky position.
            self.show_readout(self.last_readout.x, self.last_readout.y)

    @property
    def showing_colour(self) -> bool:
        """Whether a colour frame's RGB picture is drawn rather than its mosaic."""
        return self._colour is not None and self.colour_button.isChecked()

    def _redraw(self) -> None:
        if self._data is not None:
            self._drawn = None
            self._choose_resolution()

    def _draw(self, use_preview: bool) -> None:
        lv, colour, data = self._levels, self._colour, self._data
        if self.showing_colour and colour is not None:
            image, f = colour
            rect = QRectF(-0.5, -0.5, image.shape[1] * f, image.shape[0] * f)
            self.image_item.setImage(image, autoLevels=False, levels=(lv.vmin, lv.vmax))
            self.image_item.setRect(rect)
            self._drawn = (id(image), False)
            return
        if use_preview and self._preview is not None:
            image, f = self._preview
            rect = QRectF(-0.5, -0.5, image.shape[1] * f, image.shape[0] * f)
        elif data is not None:
            image, rect = data, QRectF(-0.5, -0.5, data.shape[1], data.shape[0])
        else:
            return
        self.image_item.setImage(image, autoLevels=False, levels=(lv.vmin, lv.vmax))
        self.image_item.setRect(rect)
        self._drawn = (id(image), use_preview)

    def _choose_resolution(self) -> None:
        if self._data is None:
            return
        use_preview = False
        colour, preview = self._colour, self._preview
        if self.showing_colour and colour is not None:
            if self._drawn != (id(colour[0]), False):
                self._draw(False)
            return
        if preview is not None:
            zoom = self.screen_pixels_per_image_pixel()
            use_preview = math.isfinite(zoom) and zoom * preview[1] <= 1.0
        image = preview[0] if preview is not None and use_preview else self._data
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
        self._colour = None
        self._pattern = None
        self.colour_button.setVisible(False)
        self._drawn = None
        self._wcs = None
        self.image_item.clear()
        self.overlays.clear()

    # -- clicks ---------------------------------------------------------------
    def _on_click(self, x: float, y: float, modifiers: object) -> None:
        self.clicked.emit(x, y)
        self.pixel_clicked.emit(x, y, modifiers)

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
