"""The image view's display: levels, stretch, colour map, contrast and bias.

A part of :class:`fluxion.widgets.image_view.ImageView`, kept apart from the
frame and zoom: everything here changes how values look, never which pixels
are drawn. Stretch, colour map, contrast and bias are baked into one lookup
table (:func:`~fluxion.widgets.display_controls.make_lut`), so changing them
never recomputes over the frame; right-drag sets contrast and bias as in DS9.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, SignalInstance
from PySide6.QtWidgets import QComboBox

from fluxion.core.display.stretch import LIMIT_METHODS, STRETCHES, Limits

from .display_controls import COLORMAPS, LevelsHistogram, make_lut

__all__ = ["ImageViewBox", "DisplayMixin"]


class ImageViewBox(pg.ViewBox):
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


class DisplayMixin:
    """Levels, stretch, colour map, contrast and bias of :class:`ImageView`.

    Uses the view's ``image_item``, ``histogram`` and the three combo boxes.
    """

    # The view's, set by ImageView (declared for the type checker). A plain
    # mixin, not a QWidget: see ReadoutMixin.
    levels_changed: SignalInstance
    display_changed: SignalInstance
    image_item: pg.ImageItem
    histogram: LevelsHistogram
    stretch_box: QComboBox
    limits_box: QComboBox
    colormap_box: QComboBox

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
