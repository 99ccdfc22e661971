"""GraphicsEnlarger: every kind of plot item drawn larger, and given back its own style."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from fluxion.widgets.projector import Enlargement, GraphicsEnlarger


def _plot(qtbot):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    item = plot.getPlotItem()
    item.setTitle("Seeing")
    item.setLabel("left", "FWHM (px)")
    x = np.arange(5.0)
    parts = {
        "curve": item.plot(x, x**2, pen=pg.mkPen("y", width=1.5)),
        "scatter": pg.ScatterPlotItem(x=x, y=x, size=8, pen=pg.mkPen("w", width=1)),
        "bars": pg.ErrorBarItem(x=x, y=x, height=np.ones(5), pen=pg.mkPen("r", width=1)),
        "line": pg.InfiniteLine(2.0, angle=0, pen=pg.mkPen("g", width=1)),
        "text": pg.TextItem("star 12"),
    }
    for name in ("scatter", "bars", "line", "text"):
        item.addItem(parts[name])
    plot.show()
    qtbot.waitExposed(plot)
    return plot, item, parts


def _look(item, parts) -> dict[str, float]:
    axis = item.getAxis("left")
    return {
        "curve": parts["curve"].curve.opts["pen"].widthF(),
        "scatter_pen": parts["scatter"].opts["pen"].widthF(),
        "scatter_size": float(parts["scatter"].opts["size"]),
        "bars": pg.mkPen(parts["bars"].opts["pen"]).widthF(),
        "line": parts["line"].pen.widthF(),
        "text_pt": parts["text"].textItem.font().pointSizeF(),
        "title_pt": item.titleLabel.item.font().pointSizeF(),
        "axis_title_pt": axis.label.font().pointSizeF(),
        "axis_pen": axis.pen().widthF(),
    }


def test_every_item_enlarged_and_given_back(qtbot):
    plot, item, parts = _plot(qtbot)
    before = _look(item, parts)
    normal = before["text_pt"]
    e = Enlargement(line=2.0, min_line=3.0, marker=1.5, font=1.6, normal_pt=normal,
                    font_pt=round(1.6 * normal, 1))  # fmt: skip
    enlarger = GraphicsEnlarger(e)
    enlarger.start([plot])
    big = _look(item, parts)
    assert big["curve"] == pytest.approx(3.0)  # 2 x 1.5
    assert big["scatter_pen"] == big["bars"] == big["line"] == pytest.approx(3.0)  # the least
    assert big["scatter_size"] == pytest.approx(12.0)
    for font in ("text_pt", "title_pt", "axis_title_pt"):
        assert big[font] == pytest.approx(e.font_pt), font
    assert big["axis_pen"] >= 2.0

    # The owner sets a new pen while the mode is on: that pen is the one enlarged.
    parts["curve"].setPen(pg.mkPen("c", width=2.5))
    qtbot.waitUntil(lambda: parts["curve"].curve.opts["pen"].widthF() == pytest.approx(5.0))

    enlarger.stop()
    after = _look(item, parts)
    assert after == {**before, "curve": 2.5}
    # Stopped: nothing is enlarged any more.
    parts["line"].setPen(pg.mkPen("g", width=1))
    qtbot.wait(50)
    assert parts["line"].pen.widthF() == pytest.approx(1.0)
