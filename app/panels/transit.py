"""Transit: a limb-darkened transit fitted to the Light curve panel's curve.

The ephemeris is typed (period, T0) or looked up by the planet's name in the
NASA Exoplanet Archive (cached; also the archive's a/Rs, inclination and the
star for limb darkening). The fit (detrending chosen by the BIC, red noise,
emcee) runs in a worker with progress and Cancel; the light curve with its
model and residuals, the systematics and the red-noise test are drawn with
the same code as ``fluxion transit``'s PNGs, and clicking a point shows its
frame. Export writes what ``fluxion transit`` writes into a folder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from astropy.table import Table
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QWidget,
)

from fluxion.core.transit.ephemeris import Ephemeris, EphemerisError
from fluxion.core.transit.run import TransitParams, geometry_text

from ..workers import ErrorInfo, Task
from . import transit_plots as tp
from .base import StepPanel
from .standalone import exec_shown

__all__ = ["TransitPanel", "LightCurveSource", "fit_light_curve"]

log = logging.getLogger("fluxion.app.transit")

#: What the panel fits: a light-curve table and the session frame of each row, or None.
LightCurveSource = Callable[[], tuple[Table, np.ndarray] | None]


def fit_light_curve(table: Table, eph: Ephemeris, params: TransitParams, state) -> tuple:
    """The fit and its plot tables (Qt-free; runs in a worker)."""
    from fluxion.core.transit.data import transit_data_from_table
    from fluxion.core.transit.plots import plot_tables
    from fluxion.core.transit.run import fit_transit

    data = transit_data_from_table(table, "the light curve")
    result = fit_transit(data, eph, params, state=state)
    return data, result, plot_tables(data, result)


class TransitPanel(StepPanel):
    """Fit, plots and reports of an exoplanet transit."""

    title = "Transit"
    step = "transit"
    params_type = TransitParams
    quantity = "relative flux"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        for w in (self.run_button, self.redo_box, self.plot):
            w.setVisible(False)
        self.run_all_button.setText("Fit the transit")
        self.source: LightCurveSource | None = None
        self.archive: Ephemeris | None = None
        self.fit: tuple | None = None
        self.task: Task | None = None
        self.frame_of: dict[str, int] = {}
        self._build()

    def _build(self) -> None:
        self.planet = QLineEdit()
        self.planet.setPlaceholderText("e.g. TrES-1 b")
        lookup = QPushButton("Look up")
        lookup.setToolTip(
            "Period, T0, a/Rs, inclination and the star from the NASA Exoplanet Archive"
        )
        lookup.clicked.connect(self.look_up)
        self.period = QDoubleSpinBox()
        self.period.setRange(0.0, 10000.0)
        self.period.setDecimals(7)
        self.period.setSuffix(" d")
        self.t0 = QDoubleSpinBox()
        self.t0.setRange(0.0, 2_600_000.0)
        self.t0.setDecimals(5)
        self.t0.setPrefix("BJD_TDB ")
        row = QHBoxLayout()
        row.addWidget(self.planet, 1)
        row.addWidget(lookup)
        eph = QFormLayout()
        eph.addRow("Planet", row)
        eph.addRow("Period", self.period)
        eph.addRow("T0", self.t0)
        self.export_button = QPushButton("Export...")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._ask_export)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(300)
        self.curve_item = self.plots.addPlot()
        self.plots.nextRow()
        self.resid_item = self.plots.addPlot()
        self.resid_item.setXLink(self.curve_item)
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.sys_plots = pg.GraphicsLayoutWidget()
        self.rms_plot = pg.PlotWidget()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plots, "Light curve")
        self.tabs.addTab(self.sys_plots, "Systematics")
        self.tabs.addTab(self.rms_plot, "Red noise")
        layout = self.layout()
        layout.insertLayout(0, eph)
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        layout.insertLayout(layout.indexOf(self.result_label), buttons)
        layout.addWidget(self.tabs, 4)
        self.scroll_form()

    # -- inputs ---------------------------------------------------------------
    def set_source(self, source: LightCurveSource) -> None:
        """Where the light curve comes from (the Light curve panel's current curve)."""
        self.source = source

    def ephemeris(self) -> Ephemeris:
        """The ephemeris in the fields (with the archive's geometry when it was looked up)."""
        period, t0 = float(self.period.value()), float(self.t0.value())
        if self.archive is not None:
            same = abs(self.archive.period - period) < 1e-9 and abs(self.archive.t0 - t0) < 1e-6
            return self.archive if same else replace(self.archive, period=period, t0=t0,
                                                     source="user (archive geometry)")  # fmt: skip
        return Ephemeris(period=period, t0=t0, name=self.planet.text().strip(), source="user")

    def look_up(self) -> Task | None:
        """Ask the NASA Exoplanet Archive for the planet (in a worker, cached)."""
        from fluxion.core.transit.archive import archive_ephemeris, default_cache_dir

        name = self.planet.text().strip()
        if not name:
            self.result_label.setText("Type the planet's name first (e.g. TrES-1 b).")
            return None
        task = self.session.workers.submit(
            archive_ephemeris, name, cache_dir=default_cache_dir(), name=f"Looking up {name}",
            key="transit:lookup", pass_state=False,
        )  # fmt: skip
        task.result.connect(self._looked_up)
        task.error.connect(lambda info: self._failed(info, "The archive lookup failed"))
        return task

    def _looked_up(self, eph: Ephemeris) -> None:
        self.archive = eph
        self.period.setValue(eph.period)
        self.t0.setValue(eph.t0)
        self.result_label.setText(
            f"{eph.name}: P = {eph.period:.7f} d, T0 = {eph.t0:.5f} BJD_TDB ({eph.source})"
        )

    # -- fit --------------------------------------------------------------------
    def run_current(self) -> Task | None:
        return self.run_all()

    def run_all(self) -> Task | None:
        """Fit the Light curve panel's curve in a worker."""
        got = self.source() if self.source is not None else None
        if got is None:
            self.result_label.setText("Measure a light curve in the Light curve panel first.")
            return None
        table, rows = got
        if "file" in table.colnames:
            self.frame_of = {str(f): int(r) for f, r in zip(table["file"], rows, strict=False)}
        try:
            eph = self.ephemeris()
        except EphemerisError as exc:
            self.result_label.setText(f"{exc}. Type the period and T0, or look the planet up.")
            return None
        self.session.project.set_step_params(self.step, self.params())
        self.task = self.session.workers.submit(
            fit_light_curve, table, eph, self.params(), name="Fitting the transit",
            key=f"panel:{self.step}",
        )  # fmt: skip
        self.result_label.setText("Fitting...")
        self.task.result.connect(self._fitted)
        self.task.error.connect(lambda info: self._failed(info, "The fit failed"))
        return self.task

    def cancel(self) -> None:
        """Stop the fit (the panel's Cancel)."""
        if self.running():
            super().cancel()
            self.result_label.setText("Cancelled.")

    def cancel_fit(self) -> None:
        """Stop the fit."""
        self.cancel()

    def _failed(self, info: ErrorInfo, what: str) -> None:
        # The cause and the next step (info.text() would say again what failed).
        self.result_label.setText(f"{what}: {info.message}. {info.hint}")

    def _fitted(self, fit: tuple) -> None:
        self.fit = fit
        data, result, tables = fit
        v, e, tm = result.values, result.errors, result.timing
        lines = [
            f"Tc = {v['tmid']:.5f} +/- {e['tmid']:.5f} BJD_TDB; O-C {tm['o_minus_c_min']:+.1f} "
            f"+/- {tm['o_minus_c_err_min']:.1f} min (epoch {tm['epoch']})",
            f"Rp/Rs {v['rp_rs']:.4f} +/- {e['rp_rs']:.4f}; depth {100 * v['depth']:.2f} "
            f"+/- {100 * e['depth']:.2f} %; {geometry_text(result)}",
            f"detrending: {', '.join(result.detrending) or 'none'} (BIC {result.bic:.1f}); "
            f"rms {1e3 * result.residual_rms:.2f} ppt; chi2/dof {result.noise_scale**2:.2f}; "
            f"beta {result.beta:.2f}; {result.method}",
            *result.notes,
        ]
        self.result_label.setText("\n".join(lines))
        self._draw(tables)
        self.export_button.setEnabled(True)
        self.step_finished.emit(self.step)

    def _draw(self, tables: dict[str, Table]) -> None:
        lc, binned = tables["lightcurve"], tables["binned"]
        scatter = tp.draw_lightcurve(self.curve_item, lc, binned)
        scatter.sigClicked.connect(self._on_point)
        tp.draw_residuals(self.resid_item, lc, binned)
        sysm = tables["systematics"]
        self.sys_plots.clear()
        names = 1 + sum(c in sysm.colnames for c in ("airmass", "fwhm", "sky", "x", "y",
                                                       "comp_flux"))  # fmt: skip
        items = []
        for _ in range(names):
            items.append(self.sys_plots.addPlot())
            self.sys_plots.nextRow()
        tp.draw_systematics(items, sysm, float(lc.meta["tmid"]))
        tp.draw_rms(self.rms_plot.getPlotItem(), tables["rms_vs_bin"])

    def _on_point(self, _item, points, *_: Any) -> None:
        if not len(points) or self.fit is None:
            return
        data = self.fit[0]
        k = int(points[0].data())
        if data.files and k < len(data.files) and data.files[k] in self.frame_of:
            self.session.go_to(self.frame_of[data.files[k]])

    # -- export -----------------------------------------------------------------
    def _ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the transit into a folder")
        if folder:
            self.export(Path(folder))

    def export(self, folder: Path) -> Task | None:
        """Write transit.json, the model, the reports and the plots' data into ``folder``."""
        if self.fit is None:
            return None
        from fluxion.core.transit.outputs import ObservationInfo, write_transit_outputs

        data, result, tables = self.fit
        info = ObservationInfo(planet=result.ephemeris.name, filter=self.params().filter)
        task = self.session.workers.submit(
            write_transit_outputs, folder, data, result, tables, info,
            name="Writing the transit reports", pass_state=False,
        )  # fmt: skip
        task.result.connect(lambda paths: self._exported(folder, paths))
        task.error.connect(lambda info: self._failed(info, "The export failed"))
        return task

    def _exported(self, folder: Path, paths: dict) -> None:
        # The PNGs are drawn here, on the GUI thread, from the tables just written.
        from fluxion.app.transit_png import render_transit_pngs

        pngs = render_transit_pngs(folder / "plots", folder / "plots")
        self.result_label.setText(
            self.result_label.text() + f"\nExported {len(paths)} files and {len(pngs)} "
            f"plots to {folder}"
        )


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """Open the panel on a simulated TrES-1-like light curve."""
    from PySide6.QtWidgets import QApplication

    from fluxion.core.simulation.transit_lightcurve import simulate_transit_light_curve

    from ..session import Session
    from ..workers import WorkerPool

    app = QApplication.instance() or QApplication(argv or sys.argv)
    workers = WorkerPool()
    panel = TransitPanel(Session(workers))
    table, _ = simulate_transit_light_curve(seed=1)
    panel.set_source(lambda: (table, np.arange(len(table))))
    panel.period.setValue(3.0300689)
    panel.t0.setValue(2455489.66026)
    return exec_shown(app, panel, workers, (700, 900))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
