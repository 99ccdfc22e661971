"""Overlay layers drawn over the image: sources, apertures, catalog stars, targets, labels.

Every layer is a :class:`pyqtgraph.ItemGroup` in the image's view box, so
showing or hiding a layer is one flag and costs nothing to redraw. Coordinates
are 0-based pixel coordinates with ``x`` along columns: the centre of the first
FITS pixel (FITS 1,1) is (0, 0), the same as numpy's ``data[0, 0]`` and
astropy's ``wcs.pixel_to_world(0, 0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import ArrayLike
from PySide6.QtCore import QObject, Qt, Signal

__all__ = ["LAYER_NAMES", "OverlayLayers", "pass_clicks"]

# Order is drawing order (later on top) and the order in the layers menu.
LAYER_NAMES: tuple[str, ...] = ("mask", "sources", "apertures", "catalog", "targets", "labels")

_COLOURS = {
    "sources": (80, 220, 80),
    "flagged": (255, 150, 0),
    "aperture": (255, 210, 0),
    "annulus": (0, 190, 255),
    "catalog": (255, 90, 255),
    "rejected": (255, 60, 60),
    "targets": (255, 60, 60),
    "track": (255, 140, 60),
    "labels": (255, 255, 180),
}


def _pen(name: str, width: float = 1.5) -> object:
    # cosmetic pens keep a constant screen width at any zoom
    pen = pg.mkPen(_COLOURS[name], width=width)
    pen.setCosmetic(True)
    return pen


def _decline(event: Any) -> None:  # pyqtgraph's MouseClickEvent (pyqtgraph is untyped)
    event.ignore()


def pass_clicks(item: pg.GraphicsObject) -> None:
    """Let mouse clicks and hovers go through ``item`` (and its children) to the image.

    A pyqtgraph scatter item takes a click on one of its markers (``sigClicked``),
    so a click on a drawn mark (a predicted position, an aperture) would never
    reach the view box and the panel waiting for it. Overlays are for looking.
    """
    item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
    item.setAcceptHoverEvents(False)
    if hasattr(item, "mouseClickEvent"):
        # pyqtgraph's scene hands clicks to every item under the cursor that has
        # this method, whatever it accepts: this one declines, so the view box gets it.
        item.mouseClickEvent = _decline
    for child in item.childItems():
        pass_clicks(child)


def _xy(x: ArrayLike | np.ndarray, y: ArrayLike | np.ndarray) -> tuple:
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x and y differ in length: {xa.size} and {ya.size}")
    return xa, ya


def _circles(x: np.ndarray, y: np.ndarray, radius: float | np.ndarray, pen: object) -> object:
    """Circles of a radius in image pixels (scales with zoom)."""
    size = 2.0 * np.broadcast_to(np.asarray(radius, dtype=float), x.shape)
    return pg.ScatterPlotItem(
        x=x, y=y, size=size, pxMode=False, symbol="o", pen=pen, brush=None, hoverable=False
    )


class OverlayLayers(QObject):
    """The named overlay layers of one image view.

    Each ``set_*`` replaces that layer's content; ``clear`` empties it.

    Signals
    -------
    visibility_changed(str, bool)
        A layer was shown or hidden.
    """

    visibility_changed = Signal(str, bool)

    def __init__(self, view_box: pg.ViewBox, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._view_box = view_box
        self._groups: dict[str, pg.ItemGroup] = {}
        self._counts: dict[str, int] = {}
        for z, name in enumerate(LAYER_NAMES):
            group = pg.ItemGroup()
            group.setZValue(10 + z)
            pass_clicks(group)
            view_box.addItem(group, ignoreBounds=True)
            self._groups[name] = group
            self._counts[name] = 0

    # -- visibility -----------------------------------------------------------
    def set_visible(self, name: str, visible: bool) -> None:
        """Show or hide layer ``name``."""
        group = self._group(name)
        if group.isVisible() != bool(visible):
            group.setVisible(bool(visible))
            self.visibility_changed.emit(name, bool(visible))

    def is_visible(self, name: str) -> bool:
        """Whether layer ``name`` is shown."""
        return self._group(name).isVisible()

    def count(self, name: str) -> int:
        """Number of markers (circles, stars, targets, labels) in layer ``name``."""
        self._group(name)
        return self._counts[name]

    def items(self, name: str) -> list[object]:
        """The graphics items of a layer (for tests and custom styling)."""
        return list(self._group(name).childItems())

    def clear(self, name: str | None = None) -> None:
        """Empty one layer, or all layers when ``name`` is None."""
        for n in [name] if name is not None else LAYER_NAMES:
            group = self._group(n)
            for item in group.childItems():
                item.setParentItem(None)
                scene = item.scene()
                if scene is not None:
                    scene.removeItem(item)
            self._counts[n] = 0

    # -- content --------------------------------------------------------------
    def set_sources(
        self,
        x: ArrayLike,
        y: ArrayLike,
        radius: float | ArrayLike = 6.0,
        flagged: Sequence[bool] | np.ndarray | None = None,
    ) -> None:
        """Detected sources as circles of ``radius`` pixels (one radius or one per source).

        Sources marked in ``flagged`` (saturated, blended, truncated...) are drawn
        in another colour, so the user sees which ones later steps distrust.
        """
        xa, ya = _xy(x, y)
        r = np.broadcast_to(np.asarray(radius, dtype=float), xa.shape)
        bad = np.zeros(xa.shape, bool) if flagged is None else np.asarray(flagged, bool).ravel()
        if bad.shape != xa.shape:
            raise ValueError(f"{bad.size} flags for {xa.size} sources")
        self.clear("sources")
        for sel, colour in ((~bad, "sources"), (bad, "flagged")):
            if sel.any() or colour == "sources":
                item = _circles(xa[sel], ya[sel], r[sel], _pen(colour))
                self._add("sources", item, int(sel.sum()))

    def set_mask(
        self, mask: np.ndarray | None, colour: tuple[int, int, int] = (255, 40, 40)
    ) -> None:
        """Flagged pixels (non-zero ``mask``) as a translucent colour over the image."""
        self.clear("mask")
        if mask is None:
            return
        m = np.asarray(mask) != 0
        if m.ndim != 2:
            raise ValueError(f"the mask must be 2-d, got shape {m.shape}")
        rgba = np.zeros(m.shape + (4,), np.uint8)
        rgba[m] = (*colour, 160)
        item = pg.ImageItem(rgba, axisOrder="row-major")
        item.setRect(-0.5, -0.5, m.shape[1], m.shape[0])
        self._add("mask", item, int(m.sum()))

    def set_apertures(
        self,
        x: ArrayLike,
        y: ArrayLike,
        radius: float | ArrayLike,
        annulus: tuple[float, float] | None = None,
    ) -> None:
        """Photometry apertures of ``radius`` px, with a sky annulus (inner, outer) px."""
        xa, ya = _xy(x, y)
        self.clear("apertures")
        self._add("apertures", _circles(xa, ya, np.asarray(radius), _pen("aperture")), xa.size)
        if annulus is not None:
            r_in, r_out = annulus
            if not 0 < r_in < r_out:
                raise ValueError(f"annulus needs 0 < inner < outer, got {r_in}, {r_out}")
            for r in (r_in, r_out):
                self._add("apertures", _circles(xa, ya, r, _pen("annulus", 1.0)), 0)

    def set_catalog(
        self,
        x: ArrayLike,
        y: ArrayLike,
        rejected: tuple[ArrayLike, ArrayLike] | None = None,
    ) -> None:
        """Catalog stars projected on the frame, as fixed-size diamonds.

        ``rejected`` (x, y) are catalog stars left out of a fit (blends,
        outliers), drawn as crosses in another colour in the same layer.
        """
        xa, ya = _xy(x, y)
        self.clear("catalog")
        item = pg.ScatterPlotItem(
            x=xa, y=ya, size=12, pxMode=True, symbol="d", pen=_pen("catalog"), brush=None
        )
        self._add("catalog", item, xa.size)
        if rejected is not None:
            rx, ry = _xy(*rejected)
            cross = pg.ScatterPlotItem(
                x=rx, y=ry, size=12, pxMode=True, symbol="x", pen=_pen("rejected"), brush=None
            )
            self._add("catalog", cross, rx.size)

    def set_targets(
        self,
        names: Sequence[str],
        x: ArrayLike,
        y: ArrayLike,
        tracks: dict[str, tuple[ArrayLike, ArrayLike]] | None = None,
    ) -> None:
        """Targets (open circles with their names) and optional tracks as lines."""
        xa, ya = _xy(x, y)
        if len(names) != xa.size:
            raise ValueError(f"{len(names)} names for {xa.size} targets")
        self.clear("targets")
        # An open circle: the object at the predicted place stays visible inside it.
        marker = pg.ScatterPlotItem(
            x=xa, y=ya, size=22, pxMode=True, symbol="o", pen=_pen("targets", 1.5), brush=None
        )
        self._add("targets", marker, xa.size)
        for name, xi, yi in zip(names, xa, ya, strict=True):
            text = pg.TextItem(str(name), color=_COLOURS["targets"], anchor=(-0.3, 1.2))
            text.setPos(float(xi), float(yi))
            self._add("targets", text, 0)
        for tx, ty in (tracks or {}).values():
            txa, tya = _xy(tx, ty)
            self._add("targets", pg.PlotCurveItem(txa, tya, pen=_pen("track", 1.2)), 0)

    def set_labels(
        self, x: ArrayLike, y: ArrayLike, texts: Sequence[str], offset: float = 0.0
    ) -> None:
        """Free text labels at pixel positions.

        ``offset``: image pixels to the right of each position where its label
        begins (an aperture's radius keeps the label off the aperture drawn there).
        Each label has a dark backing: pale text over a bright star's yellow
        aperture could not be read.
        """
        xa, ya = _xy(x, y)
        if len(texts) != xa.size:
            raise ValueError(f"{len(texts)} texts for {xa.size} positions")
        self.clear("labels")
        for xi, yi, t in zip(xa, ya, texts, strict=True):
            item = pg.TextItem(
                str(t), color=_COLOURS["labels"], anchor=(0, 0.5) if offset else (0, 1),
                fill=pg.mkBrush(0, 0, 0, 190), border=pg.mkPen(0, 0, 0, 190),
            )  # fmt: skip
            item.setPos(float(xi) + float(offset), float(yi))
            self._add("labels", item, 1)

    # -- internals ------------------------------------------------------------
    def _group(self, name: str) -> pg.ItemGroup:
        try:
            return self._groups[name]
        except KeyError:
            raise ValueError(
                f"no overlay layer {name!r}; layers are {', '.join(LAYER_NAMES)}"
            ) from None

    def _add(self, name: str, item: pg.GraphicsObject, n: int) -> None:
        pass_clicks(item)
        item.setParentItem(self._groups[name])
        self._counts[name] += n
