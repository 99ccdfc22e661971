"""Thicker lines, bigger markers and larger text in pyqtgraph views, for a projector.

:class:`GraphicsEnlarger` restyles every item of the views it is given: plot
curves, markers, error bars, lines, axes and text. pyqtgraph has no global
line width, and the panels draw with their own pens, so the items themselves
are restyled; each keeps what it had, and :meth:`GraphicsEnlarger.stop` puts
that back. Items added later (a new frame's overlays, a redrawn plot) are
restyled as soon as their scene changes, before anyone sees them thin for
long; an item whose owner has set a new pen since is restyled from that pen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsScene

__all__ = ["GraphicsEnlarger", "Enlargement"]

_KEY = "_projector_style"  # the attribute that holds an item's original style


@dataclass(frozen=True)
class Enlargement:
    """How much bigger things are drawn.

    Attributes
    ----------
    line : float
        Factor on pen widths (a 0-width cosmetic pen counts as 1 px).
    min_line : float
        The thinnest line drawn, px.
    marker : float
        Factor on the size of markers drawn in screen pixels (not on circles
        whose size is in image pixels, like apertures).
    font_pt : float
        Point size of text that used the application's normal size.
    font : float
        Factor on text that had a size of its own.
    normal_pt : float
        The application's normal point size (what ``font_pt`` replaces).
    """

    line: float = 2.0
    min_line: float = 3.0
    marker: float = 1.5
    font_pt: float = 14.0
    font: float = 1.6
    normal_pt: float = 9.0


def _width(pen: QPen) -> float:
    w = pen.widthF()
    return w if w > 0 else 1.0


def _thick(pen: QPen | None, e: Enlargement, colour: QColor | None = None) -> QPen:
    out = QPen(pen if pen is not None else pg.mkPen(pg.getConfigOption("foreground")))
    out.setWidthF(max(_width(out) * e.line, e.min_line))
    if colour is not None:
        out.setColor(colour)
    return out


def _sized(font: QFont, e: Enlargement) -> QFont:
    out = QFont(font)
    size = font.pointSizeF()
    if size <= 0:  # a pixel-sized font
        out.setPixelSize(round(font.pixelSize() * e.font))
    elif abs(size - e.normal_pt) < 0.01 or abs(size - e.font_pt) < 0.01:
        out.setPointSizeF(e.font_pt)  # the application's own size, made for the room
    else:
        out.setPointSizeF(size * e.font)
    return out


def _unsized(font: QFont, e: Enlargement) -> QFont:
    """The font to give back: one that took the enlarged application size gets the normal one.

    (Text made while the mode is on starts at the application's enlarged size.)
    """
    out = QFont(font)
    if abs(font.pointSizeF() - e.font_pt) < 0.01:
        out.setPointSizeF(e.normal_pt)
    return out


def _font_key(font: QFont) -> float:
    return font.pointSizeF() if font.pointSizeF() > 0 else -float(font.pixelSize())


class _Style:
    """Read, enlarge and restore one kind of item; ``key`` tells whether it was changed since."""

    def key(self, item) -> tuple:
        raise NotImplementedError

    def save(self, item, e: Enlargement) -> object:
        raise NotImplementedError

    def enlarge(self, item, e: Enlargement) -> None:
        raise NotImplementedError

    def restore(self, item, saved) -> None:
        raise NotImplementedError


class _Curve(_Style):
    def key(self, item):
        return (_width(item.opts["pen"]),)

    def save(self, item, e):
        return QPen(item.opts["pen"])

    def enlarge(self, item, e):
        item.setPen(_thick(item.opts["pen"], e))

    def restore(self, item, saved):
        item.setPen(saved)


class _Scatter(_Style):
    """Markers: the default pen thicker; screen-sized markers bigger too."""

    def key(self, item):
        return (_width(item.opts["pen"]), float(item.opts["size"]))

    def save(self, item, e):
        return QPen(item.opts["pen"]), item.opts["size"]

    def enlarge(self, item, e):
        item.setPen(_thick(item.opts["pen"], e), update=False)
        if item.opts.get("pxMode", True):
            item.setSize(item.opts["size"] * e.marker, update=False)
        item.updateSpots(item.data)
        item.prepareGeometryChange()
        item.update()

    def restore(self, item, saved):
        pen, size = saved
        item.setPen(pen, update=False)
        item.setSize(size, update=False)
        item.updateSpots(item.data)
        item.prepareGeometryChange()
        item.update()


class _ErrorBars(_Style):
    def key(self, item):
        pen = item.opts.get("pen")
        return (None if pen is None else _width(pg.mkPen(pen)),)

    def save(self, item, e):
        return item.opts.get("pen")

    def enlarge(self, item, e):
        pen = item.opts.get("pen")
        item.setData(pen=_thick(None if pen is None else pg.mkPen(pen), e))

    def restore(self, item, saved):
        item.setData(pen=saved)


class _Line(_Style):
    def key(self, item):
        return (_width(item.pen),)

    def save(self, item, e):
        return QPen(item.pen)

    def enlarge(self, item, e):
        item.setPen(_thick(item.pen, e))

    def restore(self, item, saved):
        item.setPen(saved)


class _Text(_Style):
    """Text drawn by a QGraphicsTextItem inside the item: a TextItem's, a plot title's."""

    def _font(self, item) -> QFont:
        inner = item.textItem if isinstance(item, pg.TextItem) else item.item
        return inner.font()

    def _set(self, item, font: QFont) -> None:
        if isinstance(item, pg.TextItem):
            item.setFont(font)
        else:  # a LabelItem: its size follows its text's
            item.item.setFont(font)
            item.updateMin()

    def key(self, item):
        return (_font_key(self._font(item)),)

    def save(self, item, e):
        return _unsized(self._font(item), e)

    def enlarge(self, item, e):
        self._set(item, _sized(self._font(item), e))

    def restore(self, item, saved):
        self._set(item, saved)


class _Axis(_Style):
    """Axis line and ticks thicker and in full contrast, tick values and title larger."""

    def _tick_font(self, item) -> QFont:
        font = item.style.get("tickFont")
        return QFont(font) if font is not None else QFont(item.label.font())

    def key(self, item):
        font = item.style.get("tickFont")
        return (
            _width(item.pen()),
            None if font is None else _font_key(font),
            _font_key(item.label.font()),
        )

    def save(self, item, e):
        font = item.style.get("tickFont")
        return (QPen(item.pen()), QPen(item.textPen()),
                None if font is None else QFont(font), _unsized(item.label.font(), e))  # fmt: skip

    def enlarge(self, item, e):
        scene = item.scene()
        views = scene.views() if scene is not None else []
        dark = not views or views[0].backgroundBrush().color().lightness() < 128
        ink = QColor("white" if dark else "black")
        item.setPen(_thick(item.pen(), Enlargement(line=1.0, min_line=2.0), ink))
        item.setTextPen(pg.mkPen(ink))
        item.setTickFont(_sized(self._tick_font(item), e))
        item.label.setFont(_sized(item.label.font(), e))
        item._updateLabel()  # pyqtgraph lays the axis out again for the larger title

    def restore(self, item, saved):
        pen, text_pen, tick_font, label_font = saved
        item.setPen(pen)
        item.setTextPen(text_pen)
        item.setTickFont(tick_font)
        item.label.setFont(label_font)
        item._updateLabel()


# Most specific first: a TextItem is not a curve, an InfiniteLine not an axis.
_STYLES: tuple[tuple[type, _Style], ...] = (
    (pg.PlotCurveItem, _Curve()),
    (pg.ScatterPlotItem, _Scatter()),
    (pg.ErrorBarItem, _ErrorBars()),
    (pg.InfiniteLine, _Line()),
    (pg.TextItem, _Text()),
    (pg.LabelItem, _Text()),
    (pg.AxisItem, _Axis()),
)


def _style_of(item) -> _Style | None:
    for cls, style in _STYLES:
        if isinstance(item, cls):
            return style
    return None


class GraphicsEnlarger(QObject):
    """Keeps the items of the given pyqtgraph views enlarged while it runs.

    Parameters
    ----------
    enlargement : Enlargement
        How much bigger.
    """

    def __init__(self, enlargement: Enlargement, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.enlargement = enlargement
        self.running = False
        # (scene, its sweep slot)
        self._scenes: list[tuple[QGraphicsScene, Callable[..., None]]] = []
        self._busy = False

    def start(self, views: list[pg.GraphicsView]) -> None:
        """Enlarge everything in ``views`` now and whatever is added to them later."""
        self.running = True
        self.watch(views)

    def watch(self, views: list[pg.GraphicsView]) -> None:
        """Add views (opened since :meth:`start`) to those kept enlarged."""
        if not self.running:
            return
        for view in views:
            scene = view.scene()
            if scene is None or any(s is scene for s, _slot in self._scenes):
                continue

            def slot(_regions, s=scene) -> None:
                self.sweep(s)

            scene.changed.connect(slot)
            self._scenes.append((scene, slot))
            self.sweep(scene)

    def sweep(self, scene) -> int:
        """Enlarge the items of ``scene`` not (or no longer) enlarged; how many were."""
        if not self.running or self._busy:
            return 0
        self._busy = True  # restyling changes the scene: no sweep from inside a sweep
        n = 0
        try:
            for item in scene.items():
                style = _style_of(item)
                if style is None:
                    continue
                mark = getattr(item, _KEY, None)
                if mark is not None and style.key(item) == mark[1]:
                    continue  # enlarged, and nobody has restyled it since
                saved = style.save(item, self.enlargement)
                style.enlarge(item, self.enlargement)
                setattr(item, _KEY, (saved, style.key(item)))
                n += 1
        finally:
            self._busy = False
        return n

    def stop(self) -> None:
        """Give every item its own style back and stop watching."""
        self.running = False
        for scene, slot in self._scenes:
            try:
                scene.changed.disconnect(slot)  # only ours: the view repaints through it too
            except (RuntimeError, TypeError):  # a deleted scene
                continue
            try:
                items = scene.items()
            except RuntimeError:  # the view was closed and its scene deleted
                continue
            for item in items:
                mark = getattr(item, _KEY, None)
                style = _style_of(item)
                if mark is None or style is None:
                    continue
                saved, applied = mark
                if style.key(item) == applied:  # not restyled by its owner meanwhile
                    style.restore(item, saved)
                delattr(item, _KEY)
        self._scenes = []
