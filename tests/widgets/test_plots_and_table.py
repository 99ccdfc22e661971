"""The time-series plot (click picks a frame) and the frame table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fluxion.widgets.frame_table import COLUMNS, FrameTable
from fluxion.widgets.plots import TimeSeriesPlot


def test_clicking_a_point_emits_its_frame_index(show, qtbot) -> None:
    plot = show(TimeSeriesPlot("FWHM (px)"))
    # frames given out of time order: the plot sorts by time but keeps the indices
    plot.set_series([3.0, 1.0, 2.0], [2.9, 3.1, np.nan], frames=[7, 4, 5])
    pts = plot.points.points()
    assert [p.data() for p in pts] == [4, 7]  # the NaN point is not drawn
    with qtbot.waitSignal(plot.frame_clicked) as blocker:
        plot.points.sigClicked.emit(plot.points, [pts[1]], None)
    assert blocker.args == [7]
    plot.mark_frame(7)
    xs, ys = plot.marker.getData()
    assert (xs[0], ys[0]) == (3.0, 2.9)
    plot.mark_frame(5)  # no value: no marker
    assert len(plot.marker.getData()[0]) == 0
    with pytest.raises(ValueError, match="frame indices"):
        plot.set_series([1.0], [1.0], frames=[1, 2])


def test_a_new_series_is_fitted_whatever_the_last_zoom(show, qtbot) -> None:
    plot = show(TimeSeriesPlot("FWHM (px)"))
    plot.set_series([0.0, 1.0, 2.0], [3.0, 3.2, 3.1])
    plot.plot.getViewBox().setRange(xRange=(10.0, 11.0), yRange=(50.0, 60.0))  # a user's zoom
    plot.clear()  # another night
    plot.set_series([0.0, 5.0], [1.0, 9.0])
    qtbot.wait(50)
    (x0, x1), (y0, y1) = plot.plot.getViewBox().viewRange()
    assert x0 <= 0.0 and x1 >= 5.0 and y0 <= 1.0 and y1 >= 9.0


def test_mouse_click_on_a_point(show, qtbot) -> None:
    plot = show(TimeSeriesPlot())
    plot.resize(400, 300)
    plot.set_series([0.0, 1.0, 2.0], [0.0, 1.0, 0.0], frames=[10, 11, 12])
    plot.plot.setRange(xRange=(-0.5, 2.5), yRange=(-0.5, 1.5), padding=0)
    qtbot.wait(20)
    vb = plot.plot.getPlotItem().vb
    scene_pos = vb.mapViewToScene(pg_point(1.0, 1.0))
    pos = plot.plot.mapFromScene(scene_pos)
    with qtbot.waitSignal(plot.frame_clicked, timeout=2000) as blocker:
        qtbot.mouseClick(plot.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args == [11]


def pg_point(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


@dataclass(frozen=True)
class _Frame:
    path: Path
    type: str = "light"
    object: str | None = "M 67"
    filter: str | None = "V"
    exptime: float | None = 60.0
    time_utc: str | None = "2024-09-10T21:31:00.000"
    airmass: float | None = 1.2345
    cfa: str | None = None
    problems: tuple[str, ...] = ()
    sources: dict = field(default_factory=dict)


def test_frame_table_shows_facts_guesses_and_problems(show, qtbot) -> None:
    frames = [
        _Frame(
            Path("/d/light_0001.fits"),
            cfa="GRBG",
            sources={"exptime": "EXPTIME", "filter": "default", "cfa": "BAYERPAT 'GRBG'"},
        ),
        _Frame(
            Path("/d/light_0002.fits"),
            problems=("no DATE-OBS: time unknown",),
            time_utc=None,
            sources={"image_type": "guessed from file name"},
        ),
    ]
    table = show(FrameTable())
    table.set_frames(frames)
    m = table.frame_model
    col = {c[0]: i for i, c in enumerate(COLUMNS)}
    assert m.rowCount() == 2
    assert m.data(m.index(0, col["File"])) == "light_0001.fits"
    assert m.data(m.index(0, col["Exp (s)"])) == "60"
    assert (
        m.data(m.index(0, col["Airmass"])) == "1.234"
        or m.data(m.index(0, col["Airmass"])) == "1.235"
    )
    assert m.data(m.index(0, col["Mid-exposure (UTC)"])) == "2024-09-10 21:31:00.00"
    assert m.data(m.index(1, col["Mid-exposure (UTC)"])) == "-"
    # a colour frame's Bayer pattern, and where it was read
    assert m.data(m.index(0, col["Bayer"])) == "GRBG" and m.data(m.index(1, col["Bayer"])) == "-"
    tip = m.data(m.index(0, col["Bayer"]), Qt.ItemDataRole.ToolTipRole)
    assert tip == "colour-filter pattern: BAYERPAT 'GRBG'"
    # guessed facts are italic and say so; read ones name their card
    assert m.data(m.index(0, col["Filter"]), Qt.ItemDataRole.FontRole).italic()
    assert m.data(m.index(0, col["Filter"]), Qt.ItemDataRole.ToolTipRole) == "guessed: default"
    assert (
        m.data(m.index(0, col["Exp (s)"]), Qt.ItemDataRole.ToolTipRole)
        == "from header card EXPTIME"
    )
    assert m.data(m.index(0, col["Exp (s)"]), Qt.ItemDataRole.FontRole) is None
    assert "guessed from file name" in m.data(m.index(1, col["Type"]), Qt.ItemDataRole.ToolTipRole)
    # problems: tinted row, reasons in the last column and the tooltip
    assert m.data(m.index(1, col["Problems"])) == "no DATE-OBS: time unknown"
    assert m.data(m.index(1, col["Object"]), Qt.ItemDataRole.BackgroundRole) is not None
    assert m.data(m.index(0, col["Object"]), Qt.ItemDataRole.BackgroundRole) is None
    assert "no DATE-OBS" in m.data(m.index(1, col["Object"]), Qt.ItemDataRole.ToolTipRole)

    with qtbot.waitSignal(table.frame_selected) as blocker:
        table.selectRow(1)
    assert blocker.args == [1]
    with qtbot.assertNotEmitted(table.frame_selected):
        table.select_row(0)
    assert table.currentIndex().row() == 0


def test_long_file_names_are_cut_in_the_middle(show, qtbot) -> None:
    """A night's names differ at their end: the table keeps both ends in sight."""

    @dataclass
    class F:
        path: Path
        type: str = "light"

    names = [f"lux-180.000secs.Light.Open.{k:08d}.fit" for k in (15, 16)]
    table = show(FrameTable())
    table.resize(260, 200)
    table.set_frames([F(Path("/night") / n) for n in names])
    qtbot.wait(20)
    assert table.textElideMode() == Qt.TextElideMode.ElideMiddle
    file_col = [c[0] for c in COLUMNS].index("File")
    width = table.columnWidth(file_col)
    assert width < table.fontMetrics().horizontalAdvance(names[0])  # too narrow for all of it
    shown = table.fontMetrics().elidedText(names[0], Qt.TextElideMode.ElideMiddle, width - 8)
    assert shown.endswith("015.fit") and shown.startswith("lux")
    tip = table.model().data(table.model().index(0, file_col), Qt.ItemDataRole.ToolTipRole)
    assert tip == f"/night/{names[0]}"


def test_legends_have_a_backing_so_they_stay_readable_over_points(show) -> None:
    from fluxion.app.panels.lightcurve_plots import LightCurvePlot
    from fluxion.widgets.plots import diagnostic_plot

    for legend in (diagnostic_plot("y", "x", legend=True).getPlotItem().legend,
                   show(LightCurvePlot()).plot.getPlotItem().legend):  # fmt: skip
        assert legend.opts["brush"].color().alpha() >= 150


def test_light_curve_legend_leaves_the_points_uncovered(show, qtbot) -> None:
    """The legend in the top left corner sits in room kept above the brightest point."""
    from fluxion.app.panels.lightcurve_plots import LightCurvePlot

    plot = show(LightCurvePlot())
    plot.resize(500, 300)
    x = np.linspace(0.0, 1.5, 30)
    mag = 12.0 + 0.01 * np.sin(6.0 * x)  # flat: every point near the top edge of the data
    check = (np.full(30, 13.0), np.full(30, 0.002))
    plot.set_curve(x, mag, np.full(30, 0.001), np.arange(30), np.zeros(30, bool), check)
    qtbot.wait(50)
    item = plot.plot.getPlotItem()
    legend = item.legend.mapRectToScene(item.legend.boundingRect())
    box = item.vb.mapSceneToView(legend).boundingRect()
    covered = (x >= box.left()) & (x <= box.right()) & (mag >= box.top()) & (mag <= box.bottom())
    assert not covered.any(), f"{covered.sum()} target points under the legend"
