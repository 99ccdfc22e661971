"""The teacher's class sheet: every student's verdicts and, per quantity, a plot of the errors.

:func:`write_class_sheet` turns the class summary (one row per student and
quantity, :func:`fluxion.core.classroom.sheet.class_summary`) into an HTML
page with a verdict grid and one PNG per quantity. Each plot shows every
student's deviation from the truth in units of the error that student's night
allows, so quantities of any unit and nights of any seed read alike: the band
of +/- 3 is "as good as the data allow", the bar is the student's own error.
The plots are drawn with pyqtgraph off screen and written with its
ImageExporter, as the run report's are (:mod:`fluxion.app.report`); each point
is also an area of an HTML image map, so hovering it names the student and
the numbers.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.core.classroom.findings import GOOD_SIGMA, fmt
from fluxion.core.io.fitsio import atomic_write_text

from .report import _table_html, export_png, qt_available

__all__ = ["PLOTS_FOLDER", "SHEET_FILE", "VERDICT_COLOURS", "write_class_sheet"]

SHEET_FILE = "class_sheet.html"
PLOTS_FOLDER = "sheet_plots"
#: Marker colour of each verdict (the page's cells use the same).
VERDICT_COLOURS = {"good": "#27864a", "fair": "#d68910", "off": "#c0392b"}
# Deviations beyond this many expected errors are drawn at the edge as a
# triangle pointing on: one wrong click must not squash everyone else's points.
_CLIP = 12.0
_HEIGHT = 340
_MARKER = 13


def _quantities(table: Table) -> list[str]:
    return list(dict.fromkeys(str(q) for q in table["quantity"]))


def _file_name(quantity: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in quantity)
    return f"{safe}.png"


def _deviation_text(row) -> str:
    unit = f" {row['unit']}" if row["unit"] else ""
    dev = float(row["measured"]) - float(row["true"])
    own = "" if not np.isfinite(row["error"]) else f" +/- {float(row['error']):.2g}"
    return (
        f"{row['student']}: {fmt(float(row['measured']))}{own}{unit}, off by {dev:+.2g}{unit}; "
        f"the data allow +/- {float(row['expected_error']):.2g}{unit}: {row['verdict']}"
    )


def _plot_quantity(
    rows: Table, students: list[str], path: Path
) -> list[tuple[int, int, int, str, str]]:
    """Draw one quantity's plot into ``path``; the image-map areas (x, y, r, title, verdict)."""
    import pyqtgraph as pg
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtWidgets import QApplication

    from fluxion.widgets.plots import plain_axes

    width = max(520, 70 * len(students) + 140)
    plot = pg.PlotWidget(background="w")
    plot.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    plot.resize(width, _HEIGHT)
    item = plot.getPlotItem()
    plain_axes(item)
    label = str(rows["label"][0]) or str(rows["quantity"][0])
    item.setTitle(html.escape(label), color="k")
    item.setLabel("left", "off by (expected errors)")
    item.setLabel("bottom", "student")
    item.showGrid(x=False, y=True, alpha=0.25)
    for axis in ("left", "bottom"):
        item.getAxis(axis).setPen("k")
        item.getAxis(axis).setTextPen("k")
    n = len(students)
    item.getAxis("bottom").setTicks([[(k, s[:14]) for k, s in enumerate(students)]])
    edge = pg.mkPen(39, 134, 74, 120, style=Qt.PenStyle.DashLine)
    good = pg.LinearRegionItem(
        (-GOOD_SIGMA, GOOD_SIGMA), orientation="horizontal", movable=False,
        brush=pg.mkBrush(39, 134, 74, 40), pen=edge,
    )  # fmt: skip
    item.addItem(good)
    item.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#555555", width=1)))

    x = np.array([students.index(str(s)) for s in rows["student"]], float)
    expected = np.asarray(rows["expected_error"], float)
    dev = (np.asarray(rows["measured"], float) - np.asarray(rows["true"], float)) / expected
    dev = np.where(np.isfinite(dev), dev, np.copysign(np.inf, np.nan_to_num(dev, nan=1.0)))
    shown = np.clip(dev, -_CLIP, _CLIP)
    own = np.asarray(rows["error"], float) / expected
    has_bar = np.isfinite(own) & (np.abs(dev) <= _CLIP)
    if has_bar.any():
        item.addItem(pg.ErrorBarItem(
            x=x[has_bar], y=shown[has_bar], height=2 * np.minimum(own[has_bar], 2 * _CLIP),
            beam=0.15, pen=pg.mkPen("#333333", width=1.5),
        ))  # fmt: skip
    verdicts = [str(v) for v in rows["verdict"]]
    symbols = ["t1" if d > _CLIP else "t" if d < -_CLIP else "o" for d in dev]
    points = pg.ScatterPlotItem(
        x=x, y=shown, size=_MARKER, symbol=symbols, pen=None,
        brush=[pg.mkBrush(VERDICT_COLOURS.get(v, "#000000")) for v in verdicts],
    )  # fmt: skip
    item.addItem(points)
    for k in np.flatnonzero(np.abs(dev) > _CLIP):
        # How far beyond the edge a clipped point is, beside its triangle.
        far = f"{dev[k]:+.0f}" if np.isfinite(dev[k]) else "no value"
        note = pg.TextItem(far, color="#333333", anchor=(-0.25, 0.5))
        note.setPos(float(x[k]), float(shown[k]))
        item.addItem(note)
    top = max(GOOD_SIGMA + 1.0, float(np.max(np.abs(shown), initial=0.0)) + 1.0)
    item.setRange(xRange=(-0.6, n - 0.4), yRange=(-top, top), padding=0)
    item.setMouseEnabled(False, False)
    plot.show()
    QApplication.processEvents()
    try:
        source = item.sceneBoundingRect()
        out_width = int(round(source.width()))
        export_png(item, path, out_width)
        scale = out_width / source.width()
        areas = []
        for j, row in enumerate(rows):
            scene = item.vb.mapViewToScene(QPointF(float(x[j]), float(shown[j])))
            px = round((scene.x() - source.left()) * scale)
            py = round((scene.y() - source.top()) * scale)
            areas.append((px, py, _MARKER // 2 + 2, _deviation_text(row), verdicts[j]))
    finally:
        plot.close()
        plot.deleteLater()
    return areas


def _verdict_grid(table: Table, students: list[str], quantities: list[str]) -> str:
    labels = {str(r["quantity"]): str(r["label"]) or str(r["quantity"]) for r in table}
    head = "".join(f"<th>{html.escape(labels[q])}</th>" for q in quantities)
    body = []
    for s in students:
        cells = []
        for q in quantities:
            hit = table[(table["student"] == s) & (table["quantity"] == q)]
            if not len(hit):
                cells.append("<td></td>")
                continue
            r = hit[0]
            sigma = float(r["sigma"])
            how = f"{sigma:.1f}&sigma;" if math.isfinite(sigma) else "&infin;"
            cells.append(
                f"<td class='{html.escape(str(r['verdict']))}' "
                f"title='{html.escape(_deviation_text(r))}'>{html.escape(str(r['verdict']))} "
                f"({how})</td>"
            )
        counts = {v: int(np.sum(table["verdict"][table["student"] == s] == v)) for v in
                  VERDICT_COLOURS}  # fmt: skip
        total = f"{counts['good']} good, {counts['fair']} fair, {counts['off']} off"
        body.append(f"<tr><th>{html.escape(s)}</th>{''.join(cells)}<td>{total}</td></tr>")
    return (
        f"<table class='grid'><tr><th>student</th>{head}<th>in all</th></tr>"
        + "".join(body) + "</table>"
    )  # fmt: skip


def write_class_sheet(
    out_dir: str | os.PathLike[str], table: Table, problems: list[str] | tuple[str, ...] = ()
) -> Path | None:
    """Write the class sheet (``class_sheet.html`` and ``sheet_plots/*.png``) into ``out_dir``.

    Parameters
    ----------
    out_dir : path
        The folder of the sheet (made when missing).
    table : Table
        The class summary (:func:`fluxion.core.classroom.sheet.class_summary`).
    problems : list of str
        Projects that could not be checked, with the cause: listed on the page.

    Returns
    -------
    Path or None
        The page; None when Qt cannot run here (nothing is written).
    """
    if not qt_available():
        return None
    out = Path(out_dir)
    plots = out / PLOTS_FOLDER
    plots.mkdir(parents=True, exist_ok=True)
    students = list(dict.fromkeys(str(s) for s in table["student"]))
    quantities = _quantities(table)
    css = "".join(f"td.{v}{{background:{c};color:white}}" for v, c in VERDICT_COLOURS.items())
    body = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class sheet</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:90%;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 7px}"
        f"figure{{display:inline-block;margin:0.5em}}{css}</style></head><body>",
        f"<h1>Class sheet: {html.escape(out.resolve().name)}</h1>",
        f"<p>{len(students)} students, {len(quantities)} quantities checked against each "
        f"student's own simulated night. A result within {GOOD_SIGMA:g} of the errors the "
        "night's data allow is <b>good</b>; beyond that but within the student's own "
        f"{GOOD_SIGMA:g} errors <b>fair</b>; otherwise <b>off</b>.</p>",
        _verdict_grid(table, students, quantities),
    ]
    if problems:
        body.append("<h2>Not checked</h2><ul>")
        body += [f"<li>{html.escape(p)}</li>" for p in problems]
        body.append("</ul>")
    body.append("<h2>Errors per quantity</h2>")
    for q in quantities:
        rows = table[table["quantity"] == q]
        name = _file_name(q)
        areas = _plot_quantity(rows, students, plots / name)
        map_name = f"map-{name[:-4]}"
        body.append(f"<figure><img src='{PLOTS_FOLDER}/{name}' usemap='#{map_name}' "
                    f"alt='{html.escape(q)}'><map name='{map_name}'>")  # fmt: skip
        body += [
            f"<area shape='circle' coords='{px},{py},{r}' data-verdict='{v}' "
            f"title='{html.escape(text)}' alt='{html.escape(text)}'>"
            for px, py, r, text, v in areas
        ]
        body.append(f"</map><figcaption>{html.escape(str(rows['label'][0]) or q)}</figcaption>"
                    "</figure>")  # fmt: skip
    body += ["<h2>All numbers</h2>", _table_html(table), "</body></html>"]
    return atomic_write_text(out / SHEET_FILE, "\n".join(body))
