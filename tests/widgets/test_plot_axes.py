"""Plot axes as astronomers read them: no SI prefixes, magnitudes brighter up, honest legends."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from fluxion.widgets.plots import (
    TimeSeriesPlot,
    diagnostic_plot,
    legend_lists_filled_series,
    plain_axes,
)


def test_axes_keep_their_unit_and_magnitudes_grow_downwards(show) -> None:
    plot = show(pg.PlotWidget())
    plain_axes(plot, magnitude_y=True)
    item = plot.getPlotItem()
    assert not any(item.getAxis(n).autoSIPrefix for n in ("left", "bottom", "right", "top"))
    assert item.getViewBox().yInverted()
    # differential magnitudes of a few tenths of a millimagnitude stay in magnitudes,
    # where pyqtgraph's default would label them "magnitude (x0.001)"
    item.setLabel("left", "magnitude")
    item.plot([0.0, 1.0], [-0.0004, 0.0004])
    item.setYRange(-0.0004, 0.0004, padding=0)
    item.getAxis("left").setRange(-0.0004, 0.0004)
    assert "(x" not in item.getAxis("left").labelString()
    default = show(pg.PlotWidget())
    default.setLabel("left", "magnitude")
    default.getPlotItem().getAxis("left").setRange(-0.0004, 0.0004)
    assert "(x" in default.getPlotItem().getAxis("left").labelString()  # what we avoid
    series = show(TimeSeriesPlot("FWHM (px)"))
    assert not series.plot.getPlotItem().getAxis("bottom").autoSIPrefix
    assert not series.plot.getPlotItem().getViewBox().yInverted()


def test_legend_lists_only_series_with_points(show) -> None:
    plot = show(pg.PlotWidget())
    plot.addLegend()
    target = pg.ScatterPlotItem(name="target")
    field = plot.plot([], [], name="field stars")
    plot.addItem(target)
    legend_lists_filled_series(plot)
    legend = plot.getPlotItem().legend

    def names() -> list[str]:
        return [label.text for _, label in legend.items]

    assert names() == []
    field.setData([1.0, 2.0], [3.0, 4.0])
    assert names() == ["field stars"]
    target.setData(np.array([1.0]), np.array([2.0]))
    assert names() == ["field stars", "target"]
    target.setData([], [])
    assert names() == ["field stars"]


def test_diagnostic_plot_titles_grid_height_and_legend(show) -> None:
    plot = show(diagnostic_plot("residual (mag)", "catalog magnitude", min_height=150))
    item = plot.getPlotItem()
    assert item.getAxis("left").labelText == "residual (mag)"
    assert item.getAxis("bottom").labelText == "catalog magnitude"
    assert plot.minimumHeight() == 150
    assert not item.getAxis("left").autoSIPrefix
    assert item.legend is None
    assert show(diagnostic_plot("a", "b", legend=True)).getPlotItem().legend is not None
