"""What the Targets panel draws beside the viewer's "targets" layer.

The predicted positions and the tracks go through the view's own
``overlays.set_targets(tracks=)``; this adds the clicked positions (another
colour), the uncertainty circle of the fit and the known objects from SkyBoT
(their own markers and names). It follows the "targets" layer's visibility,
so the Overlays menu hides all of a target's marks at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

from fluxion.widgets.image_view import ImageView
from fluxion.widgets.overlays import pass_clicks

__all__ = ["TargetMarks", "CLICK_COLOUR", "CIRCLE_COLOUR", "KNOWN_COLOUR"]

CLICK_COLOUR = (60, 230, 90)
CIRCLE_COLOUR = (255, 140, 60)
KNOWN_COLOUR = (120, 200, 255)


def _pen(colour: tuple[int, int, int], width: float = 1.5) -> object:
    pen = pg.mkPen(colour, width=width)
    pen.setCosmetic(True)
    return pen


class TargetMarks:
    """Clicks, uncertainty circles and known objects over one image view."""

    def __init__(self, view: ImageView) -> None:
        self.group = pg.ItemGroup()
        self.group.setZValue(30)  # above the view's own overlay layers
        pass_clicks(self.group)
        view.view_box.addItem(self.group, ignoreBounds=True)
        view.overlays.visibility_changed.connect(self._on_visibility)
        self.counts = {"clicks": 0, "circles": 0, "known": 0}

    def _on_visibility(self, name: str, visible: bool) -> None:
        if name == "targets":
            self.group.setVisible(visible)

    def clear(self) -> None:
        """Remove every mark."""
        for item in self.group.childItems():
            item.setParentItem(None)
            scene = item.scene()
            if scene is not None:
                scene.removeItem(item)
        self.counts = dict.fromkeys(self.counts, 0)

    def _add(self, item: pg.GraphicsObject) -> None:
        pass_clicks(item)  # a click on a mark is a click on the image
        item.setParentItem(self.group)

    def set_marks(
        self,
        clicked: Sequence[tuple[float, float]],
        circles: Sequence[tuple[float, float, float]],
        known: Sequence[tuple[float, float, str]] = (),
    ) -> None:
        """Clicked positions (x, y), circles (x, y, radius px) and known objects (x, y, name)."""
        self.clear()
        if clicked:
            xy = np.asarray(clicked, dtype=float)
            self._add(pg.ScatterPlotItem(x=xy[:, 0], y=xy[:, 1], size=16, pxMode=True, symbol="x",
                                         pen=_pen(CLICK_COLOUR, 2.0), brush=None))  # fmt: skip
            self.counts["clicks"] = len(xy)
        for x, y, r in circles:
            if np.isfinite(r) and r > 0:
                circle = pg.ScatterPlotItem(
                    x=[x], y=[y], size=[2.0 * r], pxMode=False, symbol="o",
                    pen=_pen(CIRCLE_COLOUR), brush=None,
                )  # fmt: skip
                self._add(circle)
                self.counts["circles"] += 1
        if known:
            xs = np.array([k[0] for k in known], dtype=float)
            ys = np.array([k[1] for k in known], dtype=float)
            self._add(pg.ScatterPlotItem(x=xs, y=ys, size=14, pxMode=True, symbol="s",
                                         pen=_pen(KNOWN_COLOUR), brush=None))  # fmt: skip
            for x, y, name in known:
                text = pg.TextItem(str(name), color=KNOWN_COLOUR, anchor=(-0.2, 1.3))
                text.setPos(float(x), float(y))
                self._add(text)
            self.counts["known"] = len(known)
