"""A click on a drawn mark (a target's predicted position, an aperture, a label)
reaches the image: real mouse events on the view, with every layer drawn there."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from fluxion.core.display.stretch import Limits
from fluxion.widgets.image_view import ImageView


@pytest.fixture
def view(show) -> ImageView:
    v = ImageView()
    v.resize(900, 600)
    show(v)
    v.set_image(np.zeros((120, 200), np.float32), limits=Limits(0.0, 1.0))
    return v


def _click(qtbot, view: ImageView, x: float, y: float, dx: int = 0) -> list[tuple]:
    got: list[tuple] = []
    view.pixel_clicked.connect(lambda px, py, _m: got.append((px, py)))
    scene = view.view_box.mapViewToScene(QPointF(x, y))
    pos = view.graphics.mapFromScene(scene) + QPoint(dx, 0)
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    return got


@pytest.mark.parametrize("dx", [0, 3])
def test_a_click_on_or_beside_every_kind_of_mark_reaches_the_image(qtbot, view, dx) -> None:
    x, y = 60.0, 50.0
    o = view.overlays
    o.set_targets(["asteroid"], [x], [y], tracks={"asteroid": ([40.0, 80.0], [50.0, 50.0])})
    o.set_sources([x], [y], radius=5.0, flagged=[True])
    o.set_apertures([x], [y], 4.0, (8.0, 12.0))
    o.set_catalog([x], [y], rejected=([x], [y]))
    o.set_labels([x], [y], ["C1"])
    got = _click(qtbot, view, x, y, dx)
    assert len(got) == 1
    px, py = got[0]
    scale = view.view_box.viewPixelSize()[0]  # image pixels per screen pixel
    assert px == pytest.approx(x + dx * scale, abs=1.0) and py == pytest.approx(y, abs=1.0)


def test_the_prediction_is_an_open_circle(view) -> None:
    view.overlays.set_targets(["a"], [60.0], [50.0])
    marker = view.overlays.items("targets")[0]
    assert marker.opts["symbol"] == "o" and marker.opts["brush"].style() == Qt.BrushStyle.NoBrush


def test_a_click_on_the_targets_panel_marks_reaches_the_image(qtbot, view) -> None:
    from fluxion.app.panels.target_overlay import TargetMarks

    marks = TargetMarks(view)
    x, y = 60.0, 50.0
    marks.set_marks([(x, y)], [(x, y, 6.0)], [(x, y, "(2713) known")])
    view.overlays.set_targets(["asteroid"], [x], [y])
    assert len(_click(qtbot, view, x, y)) == 1
