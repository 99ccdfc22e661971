"""Photometric calibration: the zero point of each frame against a reference catalog.

The form comes from :class:`fluxion.core.zeropoint.ZeroPointParams` (catalog
system, band, colour index, colour term, spatial order, solar colours,
rejection threshold, matching radius). The reference stars come from a
catalog file (the demo night's ``truth/reference_catalog.ecsv``, an APASS or
ATLAS-RefCat2 extract) or from a named catalog through the catalog chain and
its cache. Each frame needs its photometry with sky positions: it is measured
first (with the Photometry panel's parameters) when the project has none.

Diagnostics, each for the frame picked in the viewer or by clicking a point:
zero point against time and against airmass over the night; residuals
against catalog magnitude and colour; the Photometry Pipeline's calibration
analysis (zero point and reduced chi2 against stars kept); a map of the
residuals across the field; used and rejected catalog stars on the image.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QWidget,
)

from fluxion.core.chain import load_zeropoint, photometry_frame, zeropoint_frame
from fluxion.core.io.frames import FrameInfo
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.cache import ProductCache
from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import StepState
from fluxion.core.zeropoint import ZeroPointParams, ZeroPointResult
from fluxion.core.zeropoint.crossmatch import sky_columns
from fluxion.widgets.plots import TimeSeriesPlot

if TYPE_CHECKING:  # imported where first used: the catalogs are not needed at start-up
    from fluxion.core.catalogs.fields import FieldCatalogs

from .base import FrameInputs, StepPanel, read_stored
from .standalone import run_standalone
from .zeropoint_plots import ResidualMap, ResidualPlots, TrajectoryPlot
from .zeropoint_target import RunTarget

__all__ = [
    "CatalogSource",
    "FrameCalibration",
    "ZeroPointPanel",
    "calibrate_frame",
    "describe",
    "restore",
]

log = logging.getLogger("fluxion.app.panels.zeropoint")

CATALOG_FILE = "catalog file"
_PROJECT_KEY = "zeropoint_catalog"  # project.steps entry holding the chosen source


class CatalogSource:
    """Where the reference stars come from: a catalog file or named catalogs.

    A named catalog is queried once per field through the catalog chain and its
    disk cache (:class:`fluxion.core.catalogs.fields.FieldCatalogs`,
    shared with ``fluxion zeropoint --catalog NAME``); a file is read once.
    Thread-safe enough for the panel: one source serves one run.
    """

    def __init__(self, name: str, path: str = "", offline: bool = False) -> None:
        self.name, self.path, self.offline = name, path, offline
        self._table: Table | None = None
        self._problem = ""
        self._fields: FieldCatalogs | None = None

    def for_frame(self, sources: Table) -> tuple[Table | None, str]:
        """The reference stars around a frame's sources, or None and why."""
        if self.name == CATALOG_FILE:
            if self._table is None and not self._problem:
                self._table, self._problem = _read_catalog_file(self.path)
            return self._table, self._problem
        if self._fields is None:
            from fluxion.core.catalogs import (
                CatalogCache,
                CatalogChain,
                CatalogError,
                catalog_by_name,
            )
            from fluxion.core.catalogs.fields import FieldCatalogs

            try:
                source = catalog_by_name(self.name)
            except CatalogError as exc:
                return None, str(exc)
            chain = CatalogChain([source], cache=CatalogCache(), offline=self.offline)
            self._fields = FieldCatalogs(chain)
        _, table, problem = self._fields.for_frame(sources)
        return table, problem


def _read_catalog_file(path: str) -> tuple[Table | None, str]:
    if not path:
        return None, "no catalog file chosen: use 'Catalog file...'"
    try:
        return Table.read(path), ""
    except Exception as exc:  # astropy raises many kinds for unreadable files
        return None, f"cannot read the catalog file {Path(path).name}: {exc}"


@dataclass(frozen=True)
class FrameCalibration:
    """One frame's calibration with the facts the night plots need."""

    result: ZeroPointResult
    airmass: float
    jd: float | None


def calibrate_frame(
    store: ProductStore,
    frame: FrameInfo,
    params: ZeroPointParams,
    photometry_params: PhotometryParams,
    catalog: CatalogSource,
    state: StepState | None = None,
    target: RunTarget | None = None,
) -> FrameCalibration:
    """Calibrate one frame through :func:`fluxion.core.chain.zeropoint_frame` (in a worker).

    The frame is measured first (:func:`fluxion.core.chain.photometry_frame`)
    when the project has no current photometry of it. With the project's
    light curve ``target``, the frame is measured and calibrated as ``fluxion
    run`` does it: the target measured where its curve has it and kept out of
    the calibration stars (the run's products are then current, not replaced).
    """
    state = state or StepState()
    target_xy = None if target is None else target.place(store, frame)
    positions = None if target is None else target.positions(store, frame, target_xy)
    sources = photometry_frame(
        store, frame, photometry_params, positions, state=state.sub(0.0, 0.6)
    )
    state.progress(0.6, "reference stars")
    if sky_columns(sources) is not None:
        stars, problem = catalog.for_frame(sources)
    else:
        stars, problem = None, "the frame has no sky positions: solve it (Astrometry) first"
    result = zeropoint_frame(
        store,
        frame,
        params,
        stars,
        state.sub(0.7, 1.0),
        catalog_problem=problem,
        target_xy=target_xy,
    )
    return _with_night_facts(result, frame)


def restore(
    store: ProductStore,
    frames: list[FrameInfo],
    cache: ProductCache | None = None,
    state: StepState | None = None,
) -> dict[int, FrameCalibration]:
    """Zero points that earlier runs left in the project (runs in a worker)."""

    def load(store: ProductStore, frame: FrameInfo) -> FrameCalibration | None:
        # The product itself through the cache (the Light curve panel reads it too).
        if cache is None:
            result = load_zeropoint(store, frame)
        else:
            result = cache.get(store, "zeropoint", frame, load_zeropoint)
        return None if result is None else _with_night_facts(result, frame)

    return read_stored(store, frames, "zeropoint", load, lights_only=True)


def _with_night_facts(result: ZeroPointResult, frame: FrameInfo) -> FrameCalibration:
    airmass = float(frame.airmass) if frame.airmass is not None else math.nan
    return FrameCalibration(result=result, airmass=airmass, jd=frame.jd)


def describe(index: int, fc: FrameCalibration) -> str:
    """One paragraph saying what the calibration found."""
    r = fc.result
    if not r.calibrated:
        return f"Frame {index + 1}: not calibrated ({r.reason}); instrumental magnitudes kept."
    text = (
        f"Frame {index + 1}: {r.band} zero point {r.zero_point:.3f} +- {r.zero_point_err:.3f} "
        f"from {r.n_stars} stars ({len(r.rejected_stars)} left out), reduced chi2 {r.chi2:.2f}"
    )
    if r.colour_index and math.isfinite(r.colour_term):
        text += (
            f"; colour term {r.colour_term:+.3f} +- {r.colour_term_err:.3f} x ({r.colour_index})"
        )
    if math.isfinite(r.intrinsic_scatter) and r.intrinsic_scatter > 0:
        text += f"; scatter {r.intrinsic_scatter:.3f} mag"
    if math.isfinite(fc.airmass):
        text += f"; airmass {fc.airmass:.3f}"
    return text + "."


@dataclass(frozen=True)
class ZeroPointContext:
    """What a frame's calibration needs from the window, taken when the run starts."""

    products: ProductStore | None
    catalog: CatalogSource
    photometry: PhotometryParams
    target: RunTarget | None = None


class ZeroPointPanel(StepPanel):
    """Zero points of the frames with their diagnostics."""

    title = "Zero point"
    step = "zeropoint"
    params_type = ZeroPointParams
    quantity = "zero point (mag)"
    restore_products = staticmethod(restore)

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self._products: ProductStore | None = None
        index = self.scroll_form()
        layout = self.layout()

        from fluxion.core.catalogs import CATALOG_NAMES

        self.source_box = QComboBox()
        self.source_box.addItems([CATALOG_FILE, *CATALOG_NAMES])
        self.source_box.setToolTip(
            "Where the reference stars come from: a catalog file (ECSV, FITS, CSV with ra, "
            "dec and magnitudes) or a catalog service (answers are cached per field)."
        )
        self.file_button = QPushButton("Catalog file...")
        self.file_button.clicked.connect(self._choose_file)
        self.file_label = QLabel("")
        self.file_label.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Stars from"))
        row.addWidget(self.source_box, 1)
        row.addWidget(self.file_button)
        layout.insertLayout(index, row)
        layout.insertWidget(index + 1, self.file_label)
        self.source_box.currentTextChanged.connect(lambda _: self._source_changed())
        session.reference_catalog_changed.connect(self._update_file_label)

        self.airmass_plot = TimeSeriesPlot(self.quantity, "airmass")
        self.airmass_plot.frame_clicked.connect(session.go_to)
        self.residual_plots = ResidualPlots()
        self.trajectory_plot = TrajectoryPlot()
        self.residual_map = ResidualMap()
        layout.removeWidget(self.plot)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot, "Night")
        self.tabs.addTab(self.airmass_plot, "Airmass")
        self.tabs.addTab(self.residual_plots, "Residuals")
        self.tabs.addTab(self.trajectory_plot, "Rejection")
        self.tabs.addTab(self.residual_map, "Map")
        layout.addWidget(self.tabs, 2)
        self._load_source()

    # -- the catalog ------------------------------------------------------------
    def set_catalog_file(self, path: str | Path) -> None:
        """Take the reference stars from ``path``: it becomes the project's reference catalog."""
        self.source_box.blockSignals(True)
        self.source_box.setCurrentText(CATALOG_FILE)
        self.source_box.blockSignals(False)
        self.session.project.steps[_PROJECT_KEY] = {"source": CATALOG_FILE}
        self.session.set_reference_catalog(path)  # updates the label through the signal

    def catalog_source(self) -> tuple[str, str]:
        """The chosen source: (name, file path); the path matters for a catalog file.

        The file is the project's reference catalog (shared with the Astrometry
        panel); projects saved before it kept the file in this step's entry.
        """
        reference = self.session.reference_catalog()
        if reference is None:
            entry = self.session.project.steps.get(_PROJECT_KEY, {})
            return self.source_box.currentText(), str(entry.get("file", ""))
        return self.source_box.currentText(), str(reference)

    def _choose_file(self) -> None:
        _, path = self.catalog_source()
        start = str(Path(path).parent) if path else ""
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Reference catalog", start, "Catalogs (*.ecsv *.fits *.fit *.csv *.vot *.xml)"
        )
        if chosen:
            self.set_catalog_file(chosen)

    def _source_changed(self) -> None:
        entry = dict(self.session.project.steps.get(_PROJECT_KEY, {}))
        entry["source"] = self.source_box.currentText()
        self.session.project.steps[_PROJECT_KEY] = entry
        self._update_file_label()

    def _load_source(self) -> None:
        entry = self.session.project.steps.get(_PROJECT_KEY, {})
        name = str(entry.get("source", CATALOG_FILE))
        if self.source_box.findText(name) >= 0:
            self.source_box.blockSignals(True)
            self.source_box.setCurrentText(name)
            self.source_box.blockSignals(False)
        self._update_file_label()

    def _update_file_label(self) -> None:
        name, path = self.catalog_source()
        is_file = name == CATALOG_FILE
        self.file_button.setEnabled(is_file)
        if is_file:
            self.file_label.setText(f"File: {path}" if path else "No catalog file chosen yet.")
        else:
            self.file_label.setText(f"{name}, through the catalog cache.")

    def _on_project(self) -> None:
        super()._on_project()
        self._load_source()

    # -- running ----------------------------------------------------------------
    def prepare_run(self) -> bool:
        self._products = self.keep_params_and_store()
        return self._products is not None

    def run_context(self) -> ZeroPointContext:
        name, path = self.catalog_source()
        folder = None if self._products is None else self._products.folder
        return ZeroPointContext(
            self._products,
            CatalogSource(name, path),
            self.session.project.step_params("photometry", PhotometryParams),
            RunTarget(folder, [dict(d) for d in self.session.project.targets]),
        )

    @staticmethod
    def run(
        inputs: FrameInputs, params: ZeroPointParams, state: StepState | None
    ) -> FrameCalibration:
        """Calibrate a frame (runs in a worker)."""
        c = inputs.context
        return calibrate_frame(
            c.products, inputs.frame, params, c.photometry, c.catalog, state, c.target
        )

    # -- showing ------------------------------------------------------------------
    def summary(self, result: FrameCalibration) -> float:
        return float(result.result.zero_point)

    def _update_plot(self) -> None:
        super()._update_plot()
        idx = sorted(self.results)
        self.airmass_plot.set_series(
            [self.results[i].airmass for i in idx],
            [self.summary(self.results[i]) for i in idx],
            frames=idx,
        )
        self.airmass_plot.mark_frame(self.session.current)

    def _on_frame_changed(self, index: int) -> None:
        self.airmass_plot.mark_frame(index)
        super()._on_frame_changed(index)

    def _on_sequence(self) -> None:
        super()._on_sequence()
        self.airmass_plot.clear()

    def show_result(self, index: int, result: FrameCalibration) -> None:
        r = result.result
        self.result_label.setText(describe(index, result))
        self.residual_plots.set_result(r)
        self.trajectory_plot.set_result(r)
        self.residual_map.set_result(r)

    def draw_overlays(self, index: int) -> None:
        result = self.results.get(index)
        if result is None:
            return
        r, view = result.result, self.view()
        if not len(r.stars) or "used" not in r.stars.colnames:
            return
        used = np.asarray(r.stars["used"], bool)
        x, y = np.asarray(r.stars["x"], float), np.asarray(r.stars["y"], float)
        view.overlays.set_catalog(x[used], y[used], rejected=(x[~used], y[~used]))


if __name__ == "__main__":
    sys.exit(run_standalone(ZeroPointPanel))
