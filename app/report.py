"""The HTML summary of a run: the per-frame table, diagnostics plots and the light curve.

Plots are drawn with pyqtgraph (the plots the window shows) and written as PNG
with its ImageExporter, offscreen, so no second plotting library is needed.
The page and its images go to ``report/`` in the project folder, written
atomically; the page links nothing outside that folder.
"""

from __future__ import annotations

import errno
import html
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.core.io.fitsio import atomic_write_text

__all__ = ["REPORT_FOLDER", "export_png", "qt_available", "write_report"]

REPORT_FOLDER = "report"
_SIZE = (640, 300)


def qt_available() -> bool:
    """Whether a Qt application can run here (offscreen when there is no display)."""
    if "QT_QPA_PLATFORM" not in os.environ and sys.platform.startswith("linux"):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        return False
    if QApplication.instance() is None:
        try:
            QApplication.instance() or QApplication([])
        except RuntimeError:
            return False
    return QApplication.instance() is not None


def _plot_png(
    path: Path,
    x: np.ndarray,
    series: list[tuple[str, np.ndarray, np.ndarray | None]],
    xlabel: str,
    ylabel: str,
    invert_y: bool = False,
) -> Path:
    import pyqtgraph as pg

    from fluxion.widgets.plots import plain_axes

    plot = pg.PlotWidget(background="w")
    plot.resize(*_SIZE)
    item = plot.getPlotItem()
    item.setLabel("bottom", xlabel)
    item.setLabel("left", ylabel)
    item.showGrid(x=True, y=True, alpha=0.3)
    plain_axes(item)
    item.addLegend(offset=(-10, 10))
    colours = ("#1f5fa8", "#c0392b", "#27864a")
    for k, (name, y, err) in enumerate(series):
        ok = np.isfinite(x) & np.isfinite(y)
        colour = colours[k % len(colours)]
        if err is not None:
            good = ok & np.isfinite(err)
            bars = pg.ErrorBarItem(
                x=x[good], y=y[good], height=2 * err[good], pen=pg.mkPen(colour, width=1)
            )
            item.addItem(bars)
        item.plot(
            x[ok], y[ok], pen=pg.mkPen(colour, width=1), symbol="o", symbolSize=6,
            symbolBrush=colour, symbolPen=None, name=name,
        )  # fmt: skip
    if invert_y:
        item.invertY(True)  # magnitudes: brighter up
    try:
        export_png(item, path, _SIZE[0])
    finally:
        plot.close()
        plot.deleteLater()
    return path


def export_png(item, path: Path, width: int) -> Path:
    """Write a pyqtgraph item (a PlotItem, or a scene) as a PNG ``width`` px wide, atomically.

    Raises OSError when the file could not be written whole.
    """
    from pyqtgraph.exporters import ImageExporter

    exporter = ImageExporter(item)
    exporter.parameters()["width"] = width
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        exporter.export(str(tmp))
        # Qt reports no error when the disk is full: it leaves an empty or cut
        # file, which must not replace a good figure or be linked from the page.
        with open(tmp, "rb") as fh:
            if fh.read(8) != b"\x89PNG\r\n\x1a\n" or os.fstat(fh.fileno()).st_size < 64:
                raise OSError(
                    errno.ENOSPC, "the figure could not be written (disk full?)", str(path)
                )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cell(value) -> str:
    if isinstance(value, float | np.floating):
        return "" if not np.isfinite(value) else f"{value:.4f}"
    return html.escape(str(value))


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.colnames)
    rows = []
    for row in table:
        bad = "status" in table.colnames and row["status"] != "ok"
        cls = ' class="bad"' if bad else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{_cell(row[c])}</td>" for c in table.colnames))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_report(
    project_folder: str | os.PathLike[str],
    frames: Table,
    light_curve: Table | None = None,
    notes: Sequence[str] = (),
) -> Path | None:
    """Write ``report/index.html`` with the frame table, diagnostics and the light curve.

    ``notes`` (the run's: a missing site, frames left out of a master) are listed
    under the count of lights.

    Returns the page's path, or None when Qt cannot run here.
    """
    if not qt_available():
        return None
    folder = Path(project_folder) / REPORT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    jd = np.asarray(frames["jd_utc"], dtype=float)
    t0 = np.floor(np.nanmin(jd)) if np.isfinite(jd).any() else 0.0
    x = jd - t0
    xlabel = f"JD - {t0:.0f} (UTC)"

    def col(name: str) -> np.ndarray:
        return np.asarray(frames[name], dtype=float)

    # (file, title, [(label, values, errors)], y label, inverted y axis)
    plots: list[tuple[str, str, list[tuple[str, np.ndarray, np.ndarray | None]], str, bool]] = [
        ("seeing.png", "Seeing", [("FWHM", col("fwhm"), None)], "FWHM (px)", False),
        ("sky.png", "Sky level", [("sky", col("sky"), None)], "sky (ADU)", False),
        ("sources.png", "Sources found", [("sources", col("n_sources"), None)], "sources", False),
        (
            "astrometry.png", "Astrometric fit",
            [("RMS", col("astrometric_rms_arcsec"), None)], "RMS (arcsec)", False,
        ),
        (
            "zeropoint.png", "Zero point",
            [("zero point", col("zero_point"), col("zero_point_err"))], "zero point (mag)", False,
        ),
    ]  # fmt: skip
    figures = []
    for name, title, series, ylabel, invert in plots:
        _plot_png(folder / name, x, series, xlabel, ylabel, invert)
        figures.append((title, name))
    if light_curve is not None and len(light_curve):
        lx = np.asarray(light_curve["jd_utc"], dtype=float) - t0
        mag = np.asarray(light_curve["mag"], dtype=float)
        err = np.asarray(light_curve["mag_err"], dtype=float)
        name = str(light_curve.meta.get("target", "target"))
        _plot_png(folder / "lightcurve.png", lx, [(name, mag, err)], xlabel, "mag", True)
        figures.insert(0, (f"Light curve of {name}", "lightcurve.png"))
    n_ok = int(sum(s == "ok" for s in frames["status"]))
    body = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Fluxion run</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px}tr.bad{background:#fdd}"
        "figure{display:inline-block;margin:0.5em}</style></head><body>",
        f"<h1>Fluxion run: {html.escape(Path(project_folder).resolve().name)}</h1>",
        f"<p>{n_ok} of {len(frames)} lights fully processed.</p>",
    ]
    if notes:
        items = "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
        body.append(f"<h2>Notes</h2><ul>{items}</ul>")
    for title, name in figures:
        body.append(
            f"<figure><img src='{name}' alt='{html.escape(title)}'>"
            f"<figcaption>{html.escape(title)}</figcaption></figure>"
        )
    body += ["<h2>Frames</h2>", _table_html(frames), "</body></html>"]
    return atomic_write_text(folder / "index.html", "\n".join(body))
