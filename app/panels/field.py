"""Field: every star of the night measured in every light, its variables found.

The project's products (calibrated lights, detections, solutions) are what
the run needs: every star measured in every light, magnitude fitting, EPD and
TFA, the variability search (:func:`fluxion.core.chain.field_project.project_field`,
what ``fluxion field`` does), in a worker with progress and Cancel. The rms
of every star against its magnitude is drawn with the expected noise, before
and after detrending; clicking a star (or a row of the candidates list) shows
its light curve, periodogram and folded curve and marks it on the image;
clicking a point of the light curve shows that light. The two tables
``fluxion field`` writes are kept in the project's ``field/`` folder and shown
again when the project is reopened; Export writes them elsewhere.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QTabWidget, QWidget

from fluxion.core.chain.field_project import FIELD_FOLDER, FieldTables
from fluxion.core.field.run import FieldStepParams
from fluxion.core.field.star import StarCurve

from ..workers import Task
from . import field_plots as fp
from .base import frame_names
from .project_run import ProjectRunPanel, show_on_project

__all__ = ["FieldPanel"]

log = logging.getLogger("fluxion.app.field")

_COLUMNS = ("star", "x", "y", "mag", "rms", "noise", "index", "P (h)", "known")


def _measure(project, params: FieldStepParams, executor, state) -> FieldTables:
    """The field of the project, kept in its ``field/`` folder (Qt-free; runs in a worker)."""
    from fluxion.core.chain.field_project import keep_field, project_field

    field = project_field(project, params, executor=executor, state=state)
    return keep_field(field.result, project.folder / FIELD_FOLDER, field.notes)


class FieldPanel(ProjectRunPanel):
    """Light curves of every star, the rms-magnitude plot and the candidates."""

    title = "Field"
    step = "field"
    params_type = FieldStepParams
    run_text = "Measure every star"
    needs_products = (
        "Run calibration, detection and astrometry on all frames first: the field "
        "is measured from the project's products."
    )
    quantity = "rms (mag)"
    export_title = "Export the field's tables into a folder"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self.field: FieldTables | None = None
        self.star: StarCurve | None = None
        self._build()

    def _build(self) -> None:
        self.rms_plot = pg.PlotWidget()
        self.rms_plot.setMenuEnabled(False)
        self.rms_plot.setMinimumHeight(220)
        self._list_table(_COLUMNS)
        self.star_plots = pg.GraphicsLayoutWidget()
        self.star_plots.setMinimumHeight(300)
        self.curve_item = self.star_plots.addPlot()
        self.star_plots.nextRow()
        self.gram_item = self.star_plots.addPlot()
        self.star_plots.nextRow()
        self.fold_item = self.star_plots.addPlot()
        self.star_plots.ci.layout.setRowStretchFactor(0, 2)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.rms_plot, "rms vs magnitude")
        self.tabs.addTab(self.table, "Candidates")
        self.tabs.addTab(self.star_plots, "Star")
        self._add_tabs(self.tabs)

    # -- the run ----------------------------------------------------------------
    def run_all(self) -> Task | None:
        """Measure and analyse every star of the project's night in a worker."""
        return self._submit(
            _measure, name="Measuring every star",
            running="Measuring every star in every light...",
            failure="The field was not measured", done=self._measured,
        )  # fmt: skip

    def _measured(self, field: FieldTables) -> None:
        self._show(field)
        lc = field.lightcurves
        self.session.project.record_result(
            self.step, n_frames=len(np.unique(np.asarray(lc["frame"]))),
            median=float(np.nanmedian(np.asarray(field.variability["rms"], float))),
        )  # fmt: skip
        self.step_finished.emit(self.step)

    def _show(self, field: FieldTables) -> None:
        """Show an analysed field (a run's, or one kept in the project)."""
        self.field = field
        self.star = None
        lines = field.summary()
        if field.folder is not None:
            lines.append(f"kept in {field.folder}")
        self.result_label.setText("\n".join(lines))
        self._fill_table()
        self._draw_rms()
        self.export_button.setEnabled(True)
        table = field.variability
        if np.any(table["candidate"]):
            self.select_star(int(table["star_id"][0]))
        self.redraw_overlays()

    def reload_products(self) -> Task | None:
        """Show the field an earlier run kept in the project (read in a worker)."""
        self.field, self.star = None, None
        folder = self.session.project.folder
        if folder is None or not (folder / FIELD_FOLDER).is_dir():
            return None
        from fluxion.core.chain.field_project import kept_field

        task = self.session.workers.submit(
            kept_field, folder / FIELD_FOLDER, name="Reading the field's tables",
            key="restore:field", pass_state=False, quiet=True,
        )  # fmt: skip
        task.result.connect(lambda kept: self._show(kept) if kept is not None else None)
        task.error.connect(lambda info: self._failed(info, "The kept field was not read"))
        return task

    def _fill_table(self) -> None:
        if self.field is None:
            return
        table = self.field.variability
        self._fill_list([
            (
                str(row["star_id"]), f"{row['x']:.0f}", f"{row['y']:.0f}",
                f"{row['mean_mag']:.2f}", f"{row['rms']:.4f}", f"{row['expected_rms']:.4f}",
                f"{row['index']:.1f}",
                f"{row['period_h']:.3f}" if np.isfinite(row["period_h"]) else "",
                str(row["known_variable"]),
            )
            for row in table[np.asarray(table["candidate"], bool)]
        ])  # fmt: skip

    def _draw_rms(self) -> None:
        if self.field is None:
            return
        selected = self.star.star_id if self.star is not None else None
        scatter = fp.draw_rms(self.rms_plot.getPlotItem(), self.field.variability,
                              self.field.noise, selected)  # fmt: skip
        scatter.sigClicked.connect(self._on_star_point)

    # -- one star ---------------------------------------------------------------
    def select_star(self, star_id: int) -> Task | None:
        """Show star ``star_id``'s light curve, periodogram and folded curve."""
        if self.field is None:
            return None
        from fluxion.core.field.star import star_curve

        task = self.session.workers.submit(
            star_curve, self.field.lightcurves, int(star_id), name=f"Star {star_id}",
            key="field:star", pass_state=False, quiet=True,
        )  # fmt: skip
        task.result.connect(self._star_ready)
        task.error.connect(lambda info: self._failed(info, f"Star {star_id}"))
        return task

    def _star_ready(self, star: StarCurve) -> None:
        self.star = star
        points = fp.draw_star(self.curve_item, self.gram_item, self.fold_item, star)
        points.sigClicked.connect(self._on_curve_point)
        self.curve_item.setTitle(f"star {star.star_id}")
        best = star.periodogram.best_period
        self.fold_item.setTitle(
            f"folded at {24 * best:.3f} h (false alarm {star.periodogram.false_alarm:.1e})"
            if np.isfinite(best) else "no period"
        )  # fmt: skip
        self._draw_rms()
        self.redraw_overlays()

    def _on_star_point(self, _item, points, *_: Any) -> None:
        if len(points):
            self.select_star(int(points[0].data()))
            self.tabs.setCurrentWidget(self.star_plots)

    def _on_row(self) -> None:
        row = self._selected_row()
        item = self.table.item(row, 0) if row is not None else None
        if item is not None:
            self.select_star(int(item.text()))

    def _on_curve_point(self, _item, points, *_: Any) -> None:
        if not len(points) or self.star is None:
            return
        index = self.frame_index(self.star.files[int(points[0].data())])
        if index is not None:
            self.session.go_to(index)

    def draw_overlays(self, index: int) -> None:
        """The candidates (known variables apart) and the chosen star in this light."""
        if self.field is None or self.image_view is None or self.session.sequence is None:
            return
        lc, table = self.field.lightcurves, self.field.variability
        name = frame_names(self.session).file(self.session.sequence[index].path)
        cand = table[np.asarray(table["candidate"], bool)]
        known = {int(s) for s, v in zip(cand["star_id"], cand["known_variable"], strict=True)
                 if str(v)}  # fmt: skip
        ids, x, y = self.field.positions(name, np.asarray(cand["star_id"], int))
        overlays = self.image_view.overlays
        if len(ids):
            radius = float(lc.meta.get("aperture_radius", 0.0) or 0.0) or 6.0
            overlays.set_sources(x, y, radius=radius, flagged=[int(i) in known for i in ids])
        if self.star is not None:
            ids, x, y = self.field.positions(name, np.array([self.star.star_id]))
            if len(ids):
                overlays.set_targets([f"star {self.star.star_id}"], x, y)

    # -- export -----------------------------------------------------------------
    def export(self, folder: Path) -> Task | None:
        """Write ``field_lightcurves.ecsv`` and ``variability.ecsv`` into ``folder``."""
        if self.field is None:
            return None
        from fluxion.core.field.run import write_field_tables

        return self._export_task(write_field_tables, self.field.lightcurves,
                                 self.field.variability, folder,
                                 name="Writing the field's tables")  # fmt: skip


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """Open the panel on a project folder given on the command line."""
    return show_on_project(FieldPanel, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
