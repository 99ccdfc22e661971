"""The transit fit's plots as PNG files, drawn off screen with pyqtgraph.

``fluxion transit`` writes each plot's data as a table (core draws nothing);
this module reads those tables and draws them with the Transit panel's own
plotting code (:mod:`fluxion.app.panels.transit_plots`), exporting each figure
with pyqtgraph's ImageExporter, so no second plotting library is needed.
"""

from __future__ import annotations

import os
from pathlib import Path

from astropy.table import Table

from fluxion.core.runtime.quiet import quiet

from .report import qt_available

__all__ = ["render_transit_pngs"]

_WIDTH = 900


def _read(folder: Path, name: str) -> Table | None:
    path = folder / f"{name}.ecsv"
    if not path.is_file():
        return None
    with quiet():
        return Table.read(path, format="ascii.ecsv")


def _export(layout, path: Path) -> Path:
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    # A widget lays its items out when shown; shown off the screen, nothing flashes.
    layout.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
    layout.show()
    QApplication.processEvents()
    exporter = ImageExporter(layout.scene())
    exporter.parameters()["width"] = _WIDTH
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        exporter.export(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def render_transit_pngs(
    tables_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], title: str = ""
) -> list[Path]:
    """Draw every figure whose tables exist in ``tables_dir`` into ``out_dir``.

    Returns the PNGs written; none when Qt cannot run here.
    """
    if not qt_available():
        return []
    import pyqtgraph as pg

    from .panels import transit_plots as tp

    src, out = Path(tables_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lc, binned = _read(src, "lightcurve"), _read(src, "binned")
    written: list[Path] = []
    if lc is None or binned is None:
        return written
    tmid = float(lc.meta["tmid"])

    def figure(height: int) -> pg.GraphicsLayoutWidget:
        win = pg.GraphicsLayoutWidget()
        win.setBackground("w")
        win.resize(_WIDTH, height)
        return win

    win = figure(620)
    if title:
        win.addLabel(f"{title}: Tc = {tmid:.5f} +/- {float(lc.meta['tmid_err']):.5f} BJD_TDB",
                     color="k")  # fmt: skip
        win.nextRow()
    top = win.addPlot()
    tp.draw_lightcurve(top, lc, binned)
    win.nextRow()
    bottom = win.addPlot()
    bottom.setXLink(top)
    tp.draw_residuals(bottom, lc, binned)
    row = 1 if title else 0
    win.ci.layout.setRowStretchFactor(row, 3)
    win.ci.layout.setRowStretchFactor(row + 1, 1)
    written.append(_export(win, out / "lightcurve.png"))
    win.close()
    win.deleteLater()

    sysm = _read(src, "systematics")
    if sysm is not None:
        n = 1 + sum(c in sysm.colnames for c in ("airmass", "fwhm", "sky", "x", "y", "comp_flux"))
        win = figure(160 * n)
        items = []
        for _ in range(n):
            items.append(win.addPlot())
            win.nextRow()
        tp.draw_systematics(items, sysm, tmid)
        written.append(_export(win, out / "systematics.png"))
        win.close()
    rvb = _read(src, "rms_vs_bin")
    if rvb is not None and len(rvb):
        win = figure(420)
        item = win.addPlot()
        item.addLegend(offset=(-10, 10))
        tp.draw_rms(item, rvb)
        written.append(_export(win, out / "rms_vs_bin.png"))
        win.close()
    comp = _read(src, "comparisons")
    if comp is not None:
        win = figure(480)
        item = win.addPlot()
        tp.draw_comparisons(item, comp, tmid)
        written.append(_export(win, out / "comparisons.png"))
        win.close()
    return written
