"""Transients: what is new in the night, with its cut-outs, and a target's limits.

The project's products (calibrated lights, detections, solutions, zero
points) are what the search needs (:func:`fluxion.core.chain.transients.project_transients`,
what ``fluxion transients`` does): the template (the night's sharpest frames,
a reference image or a survey cutout) subtracted from every light, the
candidates on the differences and against the catalogue, in a worker with
progress and Cancel. The candidates list has one row per object (accepted
first, then the rejected with their reason); choosing one shows its light
and the cut-outs of the frame, the template and the difference where it was
strongest. With a target, its forced photometry on every difference is
plotted, limits drawn as limits. Export writes ``candidates.ecsv`` and
``forced.ecsv``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from astropy.table import Table
from PySide6.QtWidgets import (
    QLabel,
    QTabWidget,
    QWidget,
)

from fluxion.core.chain.transients import ProjectTransients, TransientStepParams

from ..workers import Task
from .base import frame_names
from .project_run import ProjectRunPanel, show_on_project

__all__ = ["TransientsPanel", "candidate_objects"]

log = logging.getLogger("fluxion.app.transients")

_COLUMNS = ("mode", "frames", "RA", "Dec", "mag", "score", "reason")
_CUTOUTS = ("frame", "template", "difference")


def _search(project, params: TransientStepParams, executor, state) -> ProjectTransients:
    """The project's transient search (Qt-free; runs in a worker)."""
    from fluxion.core.chain.transients import project_transients

    return project_transients(project, params, executor=executor, state=state)


def candidate_objects(candidates: Table) -> list[dict]:
    """One entry per object (mode and group), accepted first (highest score first).

    Each has ``mode``, ``group``, ``accepted``, ``rows`` (indices into
    ``candidates``), ``best`` (the row of highest score), ``reason`` (the
    rejected ones' most common reason).
    """
    if len(candidates) == 0:
        return []
    keys: dict[tuple[str, int], list[int]] = {}
    for k, (m, g) in enumerate(zip(candidates["mode"], candidates["group"], strict=True)):
        keys.setdefault((str(m), int(g)), []).append(k)
    score = np.asarray(candidates["score"], float)
    accepted = np.asarray(candidates["accepted"], bool)
    out: list[dict[str, Any]] = []
    for (mode, group), members in keys.items():
        rows = np.asarray(members)
        ok = rows[accepted[rows]]
        use = ok if len(ok) else rows
        best = int(use[np.nanargmax(np.nan_to_num(score[use], nan=-np.inf))])
        reasons = [str(r) for r in candidates["reason"][rows] if str(r)]
        reason = max(set(reasons), key=reasons.count) if reasons and not len(ok) else ""
        out.append({"mode": mode, "group": group, "accepted": bool(len(ok)), "rows": use,
                    "best": best, "reason": reason})  # fmt: skip
    out.sort(key=lambda o: (not o["accepted"], -np.nan_to_num(score[o["best"]], nan=0.0)))
    return out


class TransientsPanel(ProjectRunPanel):
    """The transient search, its candidates with cut-outs, and forced photometry."""

    title = "Transients"
    step = "transients"
    params_type = TransientStepParams
    run_text = "Search the night"
    needs_products = (
        "Run calibration, detection and astrometry on all lights first: the search "
        "works on the project's products."
    )
    quantity = "limit (mag)"
    export_title = "Export the candidates into a folder"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self.found: ProjectTransients | None = None
        self.objects: list[dict] = []
        self.chosen: dict | None = None
        self._build()

    def _build(self) -> None:
        self._list_table(_COLUMNS)
        self.cutout_view = pg.GraphicsLayoutWidget()
        self.cutout_view.setMinimumHeight(160)
        self.cutout_items: list[pg.ImageItem] = []
        for _ in _CUTOUTS:
            box = self.cutout_view.addViewBox(lockAspect=True, enableMouse=False)
            item = pg.ImageItem(axisOrder="row-major")
            box.addItem(item)
            box.invertY(False)
            self.cutout_items.append(item)
        self.cutout_label = QLabel("  ".join(_CUTOUTS))
        self.forced_plot = pg.PlotWidget()
        self.forced_plot.setMenuEnabled(False)
        self.forced_plot.invertY(True)
        self.forced_plot.setLabel("bottom", "hours since the first light")
        self.forced_plot.setLabel("left", "mag")
        candidates = QWidget()
        column = pg.QtWidgets.QVBoxLayout(candidates)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.table, 3)
        column.addWidget(self.cutout_label)
        column.addWidget(self.cutout_view, 2)
        self.tabs = QTabWidget()
        self.tabs.addTab(candidates, "Candidates")
        self.tabs.addTab(self.forced_plot, "Forced photometry")
        self._add_tabs(self.tabs)

    # -- the run ----------------------------------------------------------------
    def run_all(self) -> Task | None:
        """Search the project's night for transients in a worker."""
        return self._submit(
            _search, name="Searching for transients",
            running="Subtracting the template from every light...",
            failure="The search failed", done=self._searched,
        )  # fmt: skip

    def _searched(self, found: ProjectTransients) -> None:
        self.found = found
        self.chosen = None
        result = found.result
        self.objects = candidate_objects(result.candidates)
        n_acc = sum(o["accepted"] for o in self.objects)
        lines = [f"{len(found.frames)} lights searched: {n_acc} object(s) accepted, "
                 f"{len(self.objects) - n_acc} rejected"]  # fmt: skip
        if result.template is not None:
            lines.append(f"template: {result.template.source}")
        forced = result.forced
        if forced is not None and len(forced):
            lines.append(
                f"target: detected in {int(np.sum(forced['detected']))} of {len(forced)} "
                f"lights; median limit {np.nanmedian(forced['limit_mag']):.2f} mag"
            )
        lines += found.notes
        self.result_label.setText("\n".join(lines))
        self._fill_table()
        self._draw_forced()
        self.export_button.setEnabled(True)
        self.session.project.record_result(self.step, n_frames=len(found.frames),
                                           accepted=n_acc)  # fmt: skip
        self.step_finished.emit(self.step)
        if self.objects and self.objects[0]["accepted"]:
            self.table.selectRow(0)
        self.redraw_overlays()

    def _fill_table(self) -> None:
        if self.found is None:
            return
        cand = self.found.result.candidates
        rows = []
        for o in self.objects:
            best = cand[o["best"]]
            mags = np.asarray(cand["mag"][o["rows"]], float)
            mag = (f"{np.nanmin(mags):.2f}-{np.nanmax(mags):.2f}"
                   if np.isfinite(mags).any() else "")  # fmt: skip
            rows.append((o["mode"], str(len(o["rows"])), f"{best['ra']:.5f}", f"{best['dec']:+.5f}",
                         mag, f"{best['score']:.1f}", o["reason"]))  # fmt: skip
        self._fill_list(rows)

    def _draw_forced(self) -> None:
        plot = self.forced_plot.getPlotItem()
        plot.clear()
        forced = self.found.result.forced if self.found is not None else None
        if forced is None or len(forced) == 0:
            plot.setTitle("no target: give one (RA Dec) and search again")
            return
        jd = np.asarray(forced["jd_utc"], float)
        hours = (jd - np.nanmin(jd)) * 24.0
        det = np.asarray(forced["detected"], bool)
        mag, err = np.asarray(forced["mag"], float), np.asarray(forced["mag_err"], float)
        limit = np.asarray(forced["limit_mag"], float)
        plot.addLegend()
        if det.any():
            plot.addItem(pg.ErrorBarItem(x=hours[det], y=mag[det], height=2 * err[det]))
            points = pg.ScatterPlotItem(hours[det], mag[det], symbol="o", size=7,
                                        name="detected", data=np.flatnonzero(det))  # fmt: skip
            points.sigClicked.connect(self._on_forced_point)
            plot.addItem(points)
        lim = ~det & np.isfinite(limit)
        if lim.any():
            # A limit is drawn as a limit: a downward triangle at the limiting magnitude.
            arrows = pg.ScatterPlotItem(hours[lim], limit[lim], symbol="t", size=9,
                                        brush=None, name=f"{forced.meta.get('limit_sigma', 5):g}"
                                        "-sigma limit", data=np.flatnonzero(lim))  # fmt: skip
            arrows.sigClicked.connect(self._on_forced_point)
            plot.addItem(arrows)
        plot.setTitle(f"RA {forced.meta.get('ra', np.nan):.5f} "
                      f"Dec {forced.meta.get('dec', np.nan):+.5f} on the differences")  # fmt: skip

    # -- one candidate ----------------------------------------------------------
    def _on_row(self) -> None:
        row = self._selected_row()
        if row is not None:
            self.choose(row)

    def choose(self, row: int) -> None:
        """Show object ``row`` of the list: its cut-outs and the light where it was strongest."""
        if self.found is None or not (0 <= row < len(self.objects)):
            return
        self.chosen = self.objects[row]
        cand = self.found.result.candidates
        best = cand[self.chosen["best"]]
        cut = self.found.result.cutout(best)
        if cut is None:
            for item in self.cutout_items:
                item.clear()
            self.cutout_label.setText(f"{best['file']}: no cut-outs ({self.chosen['mode']} mode)")
        else:
            scale = np.nanpercentile(np.abs(cut.new), 99) or 1.0
            for item, img in zip(self.cutout_items, (cut.new, cut.template, cut.difference),
                                 strict=True):  # fmt: skip
                data = np.nan_to_num(np.asarray(img, float))
                levels = (-5.0, 5.0) if img is cut.difference else (-0.1 * scale, scale)
                item.setImage(data, levels=levels)
            self.cutout_label.setText(
                f"{best['file']}: frame, template, difference (score {best['score']:.1f})"
            )
        index = self.frame_index(str(best["file"]))
        if index is not None and index != self.session.current:
            self.session.go_to(index)
        else:
            self.redraw_overlays()

    def _on_forced_point(self, _item, points, *_: Any) -> None:
        if not len(points) or self.found is None or self.found.result.forced is None:
            return
        file = str(self.found.result.forced["file"][int(points[0].data())])
        index = self.frame_index(file)
        if index is not None:
            self.session.go_to(index)

    def draw_overlays(self, index: int) -> None:
        """The accepted candidates in this light, and the chosen one as a target."""
        if self.found is None or self.image_view is None or self.session.sequence is None:
            return
        cand = self.found.result.candidates
        if len(cand) == 0:
            return
        name = frame_names(self.session).file(self.session.sequence[index].path)
        here = (np.asarray(cand["file"]) == name) & np.asarray(cand["accepted"], bool)
        overlays = self.image_view.overlays
        if here.any():
            overlays.set_sources(np.asarray(cand["x"])[here], np.asarray(cand["y"])[here],
                                 radius=6.0)  # fmt: skip
        if self.chosen is not None:
            rows = [k for k in self.chosen["rows"] if str(cand["file"][k]) == name]
            if rows:
                k = rows[0]
                overlays.set_targets(["candidate"], [float(cand["x"][k])], [float(cand["y"][k])])

    # -- export -----------------------------------------------------------------
    def export(self, folder: Path) -> Task | None:
        """Write ``candidates.ecsv`` (and ``forced.ecsv``) into ``folder``."""
        if self.found is None:
            return None
        from fluxion.core.transients.night import write_transients

        return self._export_task(write_transients, self.found.result, folder,
                                 name="Writing the candidates")  # fmt: skip


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - manual use
    """Open the panel on a project folder given on the command line."""
    return show_on_project(TransientsPanel, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
