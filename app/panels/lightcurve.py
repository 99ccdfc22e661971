"""Light curve: forced photometry of a target against comparison stars, linked to the frames.

The target comes from the Targets panel (``project.targets``). Comparison and
check stars are chosen automatically (similar brightness, isolated, present
and unflagged in every frame, not variable in the sequence) or clicked in the
viewer, with catalogue magnitudes for calibrated results. The curve is
plotted against time with errors and the check star; clicking a point shows
its frame with the apertures, frames can be excluded (kept in the project),
and a Lomb-Scargle periodogram finds a period for the phase-folded view.
Reports go out through the same writers as ``fluxion lightcurve``.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.chain.calibrate import frame_image
from fluxion.core.lightcurve.run import LightCurveParams, measure_frames, write_light_curve
from fluxion.core.targets.inputs import TargetFrames, target_frames

from ..workers import ErrorInfo, Task
from .base import StepPanel, cached_solutions, saved_product_store
from .lightcurve_backup import back_up_run_curve, run_backup_name
from .lightcurve_channel_box import LightCurveChannelsMixin, channels_note, colour_brief
from .lightcurve_channels import with_channel_curves
from .lightcurve_describe import mosaic_note, scale_words
from .lightcurve_export import REPORT_KINDS, LightCurveReportsMixin
from .lightcurve_model import (
    LightCurveRun,
    calibration_stars,
    field_stars,
    fold,
    light_curve_file,
    run_light_curve,
    table_to_keep,
    to_first_light,
)
from .lightcurve_mosaic import without_colour_sky
from .lightcurve_period import LightCurvePeriodMixin
from .lightcurve_plots import LightCurvePlot, PeriodogramPlot
from .lightcurve_points import LightCurvePointsMixin, check_star_note
from .lightcurve_run_form import LightCurveRunFormMixin
from .lightcurve_run_stars import magnitude_label
from .lightcurve_stored import LightCurveStoredMixin
from .solutions import follow_solutions
from .standalone import run_standalone
from .target_model import Target

__all__ = ["LightCurvePanel"]

log = logging.getLogger("fluxion.app.lightcurve")


#: Said under a curve measured before the observing site changed.
SITE_CHANGED_NOTE = (
    " The observing site changed after this curve was measured: its airmass and BJD are"
    ' the old site\'s; "Measure the light curve" uses the new one.'
)


class LightCurvePanel(
    LightCurveChannelsMixin,
    LightCurveRunFormMixin,
    LightCurveStoredMixin,
    LightCurvePointsMixin,
    LightCurvePeriodMixin,
    LightCurveReportsMixin,
    StepPanel,
):
    """The target's light curve with its comparison and check stars."""

    title = "Light curve"
    step = "lightcurve"
    params_type = LightCurveParams
    quantity = "magnitude"
    run_keys = ("lightcurve:run",)

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        for w in (self.run_button, self.redo_box, self.plot):
            w.setVisible(False)
        self.run_all_button.setText("Measure the light curve")
        self.frames: TargetFrames | None = None
        self.run = None  # the latest curve (LightCurveState.run)
        # The frame (session index) of each row of the curve shown; -1: not open.
        self.rows = np.empty(0, int)
        # Curves the project keeps (``fluxion run``), by target name, with their rows.
        self.stored: dict[str, tuple[LightCurveRun, np.ndarray]] = {}
        self.comparisons: list[tuple[float, float, float]] = []  # first-light x, y, mag
        self._build()
        if image_view is not None:
            image_view.pixel_clicked.connect(self._on_view_click)
        # A target made in the Targets panel is listed here at once.
        targets_changed = getattr(session, "targets_changed", None)
        if targets_changed is not None:
            targets_changed.connect(self.refresh_targets)
        # Lights prepared before they were solved are prepared again with their
        # solutions: a target given by RA/Dec (or an ephemeris) is placed on the
        # lights through them. Each preparation has a number; an older one's
        # lights are not kept once new solutions came.
        self._frames_generation = 0
        follow_solutions(session, self, self._on_new_solutions)
        # A new observing site: the lights are prepared again with it (their airmass, BJD).
        site_changed = getattr(session, "site_changed", None)
        if site_changed is not None:
            site_changed.connect(self._on_site_changed)

    def _build(self) -> None:
        self.target_box = QComboBox()
        self.target_box.setToolTip("Targets are made in the Targets panel")
        self.target_box.currentTextChanged.connect(self._on_target_chosen)
        self.auto_box = QCheckBox("Choose comparison and check stars automatically")
        self.auto_box.setChecked(True)
        self.click_box = QCheckBox("Clicks add comparison stars (last: check)")
        self.click_box.setToolTip(
            "Each click in the viewer adds a comparison star; with three or more, the last "
            "is the check star"
        )
        self.comp_table = QTableWidget(0, 3)
        self.comp_table.setHorizontalHeaderLabels(["x", "y", "catalogue mag"])
        self.comp_table.setMaximumHeight(100)
        self.comp_table.itemChanged.connect(self._on_comp_edited)
        remove = QPushButton("Remove star")
        remove.clicked.connect(self._remove_comparison)
        self.exclude_button = QPushButton("Exclude / include this frame")
        self.exclude_button.clicked.connect(self.toggle_exclusion)
        self.curve = LightCurvePlot()
        self.curve.frame_clicked.connect(self.session.go_to)
        self.fold_box = QCheckBox("Fold on period")
        self.fold_box.toggled.connect(lambda _: self._update_curve())
        self.period_box = QDoubleSpinBox()
        self.period_box.setRange(0.01, 1000.0)
        self.period_box.setDecimals(4)
        self.period_box.setValue(2.0)
        self.period_box.setSuffix(" h")
        self.period_box.valueChanged.connect(lambda _: self._update_curve())
        ls_button = QPushButton("Periodogram")
        ls_button.setToolTip("Lomb-Scargle periodogram of the included points (astropy)")
        ls_button.clicked.connect(self.find_period)
        self.periodogram = PeriodogramPlot()
        self.periodogram.setVisible(False)
        export = QToolButton()
        export.setText("Export")
        export.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(export)
        menu.setToolTipsVisible(True)  # a greyed-out report says what it needs
        for kind, (text, _) in REPORT_KINDS.items():
            menu.addAction(text, partial(self._ask_export, kind)).setData(kind)
        menu.aboutToShow.connect(lambda m=menu: self._update_export_menu(m))
        export.setMenu(menu)
        self.export_menu = menu

        top = QHBoxLayout()
        top.addWidget(QLabel("Target"))
        top.addWidget(self.target_box, 1)
        comp_row = QHBoxLayout()
        comp_row.addWidget(self.click_box, 1)
        comp_row.addWidget(remove)
        # The curve's tools on two short rows under the form, so that the step dock
        # can stay a third of a 1366-pixel window wide with Export in sight.
        fold_row = QVBoxLayout()
        period_row = QHBoxLayout()
        for w in (self.fold_box, self.period_box, ls_button):
            period_row.addWidget(w)
        period_row.addStretch(1)
        frame_row = QHBoxLayout()
        frame_row.addWidget(self.exclude_button)
        frame_row.addWidget(self.make_restore_button())
        frame_row.addStretch(1)
        frame_row.addWidget(export)
        fold_row.addLayout(frame_row)
        fold_row.addLayout(period_row)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.make_channel_box())
        for w in self.make_run_form():  # the run's settings, beside the run's curve
            lay.addWidget(w)
        lay.addWidget(self.auto_box)
        lay.addLayout(comp_row)
        lay.addWidget(self.comp_table)
        self.layout().insertWidget(0, box)
        # The curve is what the step is for: the form scrolls in four rows and the
        # (empty) table of clicked stars shows only when clicks add stars, so that
        # the curve is in sight on a 768-pixel screen.
        self.scroll_form(height=130)
        self.comp_table.setVisible(False)
        self.click_box.toggled.connect(lambda _on: self._show_comp_table())
        self.curve.setMinimumHeight(180)
        self.layout().addLayout(fold_row)
        self.layout().addWidget(self.curve, 3)
        self.layout().addWidget(self.periodogram, 1)

    # -- targets and frames ---------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.refresh_targets()

    def set_in_front(self, shown: bool) -> None:
        super().set_in_front(shown)
        if shown:
            self.refresh_targets()

    def refresh_targets(self) -> None:
        """List the project's targets (made in the Targets panel)."""
        current = self.target_box.currentText()
        names = [str(t.get("name")) for t in self.session.project.targets]
        listed = [self.target_box.itemText(i) for i in range(self.target_box.count())]
        if names == listed:
            return
        renamed = [(a, b) for a, b in zip(listed, names, strict=False) if a != b]
        if len(listed) == len(names) and len(renamed) == 1:
            # A target renamed (Targets panel): its curve stays shown under the new name.
            old, new = renamed[0]
            for kept in (self.stored, self.unreadable):
                if old in kept:
                    kept[new] = kept.pop(old)  # type: ignore[assignment]
            for run in (self.stored.get(new, (None,))[0], self.run):
                if run is not None and run.table.meta.get("target") == old:
                    run.table.meta["target"] = new  # as its file now says (Targets panel)
            current = new if current == old else current
        self.target_box.blockSignals(True)
        self.target_box.clear()
        self.target_box.addItems(names)
        if current in names:
            self.target_box.setCurrentText(current)
        self.target_box.blockSignals(False)
        if self.target_box.currentText() != current:
            self._on_target_chosen(self.target_box.currentText())

    def _target_doc(self) -> dict[str, Any] | None:
        name = self.target_box.currentText()
        return next((t for t in self.session.project.targets if t.get("name") == name), None)

    def _on_sequence(self) -> None:
        self.frames, self.run, self.rows, self.stored = None, None, np.empty(0, int), {}
        self.unreadable = {}
        self.comparisons.clear()
        self._refresh_comp_table()
        self.curve.clear()
        super()._on_sequence()  # reads the curves the project keeps

    def _on_project(self) -> None:
        super()._on_project()
        self.show_kept_channels()
        self.refresh_targets()

    # -- comparison stars -----------------------------------------------------
    def _on_view_click(self, x: float, y: float, modifiers: Any) -> None:
        if self.click_box.isChecked() and self.in_front:
            self.add_comparison(x, y)

    def add_comparison(self, x: float, y: float, mag: float = float("nan")) -> bool:
        """A comparison star clicked at (x, y) in the current frame (needs the lights ready)."""
        if self.frames is None:
            self._prepare_frames()
            self.result_label.setText("Preparing the lights; click the star again in a moment.")
            return False
        try:
            light = self.frames.indices.index(self.session.current)
        except ValueError:
            self.result_label.setText("This frame is not a light frame.")
            return False
        fx, fy = to_first_light(self.frames, light, x, y)
        self.comparisons.append((fx, fy, float(mag)))
        self.auto_box.setChecked(False)
        self._refresh_comp_table()
        return True

    def _remove_comparison(self) -> None:
        row = self.comp_table.currentRow()
        if 0 <= row < len(self.comparisons):
            del self.comparisons[row]
            self._refresh_comp_table()

    def _show_comp_table(self) -> None:
        self.comp_table.setVisible(self.click_box.isChecked() or bool(self.comparisons))

    def _refresh_comp_table(self) -> None:
        self._show_comp_table()
        self.comp_table.blockSignals(True)
        self.comp_table.setRowCount(len(self.comparisons))
        for r, (x, y, m) in enumerate(self.comparisons):
            for c, v in enumerate(
                (f"{x:.1f}", f"{y:.1f}", "" if not np.isfinite(m) else f"{m:.3f}")
            ):
                self.comp_table.setItem(r, c, QTableWidgetItem(v))
        self.comp_table.blockSignals(False)

    def _on_comp_edited(self, item: QTableWidgetItem) -> None:
        r = item.row()
        if item.column() != 2 or r >= len(self.comparisons):
            return
        try:
            mag = float(item.text()) if item.text().strip() else float("nan")
        except ValueError:
            mag = float("nan")
        x, y, _ = self.comparisons[r]
        self.comparisons[r] = (x, y, mag)

    # -- measuring ------------------------------------------------------------
    def _on_new_solutions(self) -> None:
        """Lights solved since the lights were prepared: prepare them again when needed."""
        self._frames_generation += 1
        self.frames = None

    def _on_site_changed(self) -> None:
        """A new observing site: prepare the lights again; say the curve shown is the old site's.

        A curve keeps the airmass and BJD it was measured with; redrawing it as if it
        had the new site's would show times and airmasses that no run made.
        """
        self._on_new_solutions()
        if self.run is None:
            return
        text = self.result_label.text()
        if SITE_CHANGED_NOTE not in text:
            self.result_label.setText(text + SITE_CHANGED_NOTE)

    def _prepare_frames(self) -> Task | None:
        seq = self.session.sequence
        if seq is None:
            return None
        generation = self._frames_generation
        store = saved_product_store(self.session)
        task = self.session.workers.submit(
            target_frames,
            seq,
            store=store,
            solved_wcs=cached_solutions(self.session, store),
            need_stars=True,
            name="Preparing the lights",
            key="lightcurve:frames",
        )
        task.result.connect(lambda frames: self._frames_ready(frames, generation))
        return task

    def _frames_ready(self, frames: TargetFrames, generation: int | None = None) -> None:
        """Keep the prepared lights, unless another night or new solutions came since."""
        current = generation is None or generation == self._frames_generation
        if frames.sequence is self.session.sequence and current:
            self.frames = frames

    def run_current(self) -> Task | None:
        return self.run_all()

    def run_all(self) -> Task | None:
        """Measure the selected target's light curve in a worker."""
        self.refresh_targets()
        doc = self._target_doc()
        seq = self.session.sequence
        if seq is None:
            return None
        if doc is None:
            self.result_label.setText("No target yet: make one in the Targets panel first.")
            return None
        replacing = self.shows_run_curve(doc)
        if replacing and self.uses_run_stars():
            return self.measure_as_run(doc)
        if self.replaces_run_curve(doc):
            return None
        target = Target.from_dict(doc)
        params, frames = self.params(), self.frames
        comps = np.array([(x, y) for x, y, _ in self.comparisons]).reshape(-1, 2)
        mags = np.array([m for _, _, m in self.comparisons])
        use_clicked = not self.auto_box.isChecked() and len(comps) > 0
        # A colour night's channels: differential, as no catalogue gives a channel's band.
        by_channel = self.channel_photometry(self.colour_pattern())
        comp_mag = mags if use_clicked and by_channel is None else None
        store = self.session.product_store()
        solutions = cached_solutions(self.session, store)
        cache = self.session.product_cache
        executor = self.session.workers.frame_executor
        # product_store() saved an unsaved project: the curve goes into its folder.
        keep = store.folder / light_curve_file(self.session.project.targets, doc)

        def work(state) -> tuple[TargetFrames, LightCurveRun, Path | None, str]:
            f = frames or target_frames(
                seq, store=store, need_stars=True, state=state.sub(0.0, 0.2), solved_wcs=solutions
            )
            # Clicks were saved by file: find their lights in this sequence.
            t = Target.from_dict(doc, f.files, f.times.jd)
            gain = f.gain()
            lights = [seq[k] for k in f.indices]
            cfa = getattr(lights[0], "cfa", None)

            def load(i: int) -> np.ndarray:  # a colour mosaic: each colour's sky out first
                image = np.asarray(frame_image(store, lights[i]).data, float) * gain
                shape = lights[i].shape  # a trimmed product may start on another colour
                same = shape is None or tuple(shape) == image.shape
                return without_colour_sky(image, cfa if same else None)

            read_noise = float(lights[0].read_noise or 0.0)
            field = field_stars(store, lights[0], cache)
            # The zero point's catalogue stars make the curve calibrated by default.
            catalogue = None
            if by_channel is None:
                catalogue = calibration_stars(store, f, params.isolation_radius, cache)
            run = run_light_curve(
                f, t, params, load, comparison_xy=comps if use_clicked else None,
                comparison_mag=comp_mag, catalogue=catalogue, read_noise=read_noise,
                field_xy=None if field is None else field[0],
                field_flux=None if field is None else field[1], executor=executor,
                state=state.sub(0.2, 1.0), measure=by_channel or measure_frames,
            )  # fmt: skip
            if by_channel is not None:
                run = with_channel_curves(run, by_channel, f)
            try:
                if replacing and keep.exists():  # the run's curve stays, beside the new one
                    back_up_run_curve(keep)
                return (
                    f,
                    run,
                    write_light_curve(
                        table_to_keep(run, target.name, params.aperture_radius), keep
                    ),
                    "",
                )
            except Exception as exc:  # noqa: BLE001 (whatever stops the write, keep the curve)
                return f, run, None, f"{type(exc).__name__}: {exc}"

        task = self.session.workers.submit(
            work, name=f"Light curve of {target.name}", key="lightcurve:run"
        )
        self.result_label.setText(
            f"Measuring the light curve of {target.name} (progress in the status bar)..."
        )
        task.cancelled.connect(
            lambda: self.result_label.setText(
                f"Cancelled: the light curve of {target.name} was not measured; "
                "the curve shown before (if any) is kept."
            )
        )
        generation = self._frames_generation
        task.result.connect(
            partial(
                self._measured_result, doc=doc, generation=generation,
                backup=run_backup_name(keep.name) if replacing else None,
            )
        )  # fmt: skip
        return task

    def _measured_result(
        self,
        res: tuple[TargetFrames, LightCurveRun, Path | None, str],
        doc: dict[str, Any] | None,
        generation: int | None = None,
        backup: str | None = None,
    ) -> None:
        self.name_run_backup(doc, res[2], backup)
        self._measured(*res, doc=doc)
        if backup is not None:
            self.session.targets_changed.emit()  # the Run tab says the curve is replaced
        if generation is not None and generation != self._frames_generation:
            self.frames = None  # lights solved during the run: prepared again next time

    def _measured(
        self,
        frames: TargetFrames,
        run: LightCurveRun,
        kept: Path | None = None,
        problem: str = "",
        doc: dict[str, Any] | None = None,
    ) -> None:
        self.frames, self.run, self.rows = frames, run, np.asarray(frames.indices, int)
        lc, choice = run.table, run.choice
        good = np.isfinite(np.asarray(lc["mag"], float))
        text = (
            f"Measured here, aperture {self.params().aperture_radius:.1f} px: "
            f"{len(lc)} lights, {good.sum()} measured; {len(choice.comparison)} comparison star(s)"
            + (", a check star" if choice.check is not None else "")
            + f"; median error {np.nanmedian(lc['mag_err']):.3f} mag"
            + (" (" + scale_words(run) + ").")
        )
        if choice.warnings:
            text += " " + " ".join(choice.warnings)
        seq, details = self.session.sequence, ""
        if seq is not None and len(frames.indices):
            pattern = getattr(seq[frames.indices[0]], "cfa", None)
            channels = tuple(lc.meta.get("channels") or ())
            # A few words in the label, the whole note when hovering over it.
            text += colour_brief(pattern, channels)
            details = channels_note(pattern, channels) if channels else mosaic_note(pattern)
        self.result_label.setToolTip(details.strip())
        text += self.noisy_note()
        if "check_mag" in lc.colnames:
            text += check_star_note(lc["check_mag"], lc["check_mag_err"], ~self.excluded())
        text += self._keep(doc, kept, problem) + self.backup_note()
        self.result_label.setText(text)
        self.session.project.record_result(
            self.step, [kept] if kept is not None else [], n_frames=len(lc),
            measured=int(good.sum()), median_error=float(np.nanmedian(lc["mag_err"])),
        )  # fmt: skip
        self._update_curve()
        self.redraw_overlays()
        self.step_finished.emit(self.step)

    def _keep(self, doc: dict[str, Any] | None, kept: Path | None, problem: str) -> str:
        """Name the written curve in the target's entry (the window autosaves the
        project when the step finishes; exclusions stay); what to tell the user."""
        project = self.session.project
        if kept is None:
            log.error(
                "the light curve of %s was not written into the project (%s); it is still "
                "shown here: export it, or measure again once the folder can be written",
                (doc or {}).get("name", "the target"), problem,
            )  # fmt: skip
            self.session.status_message.emit("The light curve could not be saved; see the log")
            return " Not saved in the project: " + problem
        gone = doc is None or not any(t is doc for t in project.targets)
        if doc is None or gone or project.folder != kept.parent:
            return ""  # another project is open now, or the target was deleted
        doc["light_curve"] = kept.name
        self.stored.pop(str(doc.get("name")), None)  # the old run's curve is replaced
        log.info("light curve of %s kept in %s", doc.get("name"), kept)
        return f" Kept in the project ({kept.name})."

    # -- plot, apertures ------------------------------------------------------
    def _update_curve(self) -> None:
        run = self.run
        if run is None or len(self.rows) != len(run.table):
            self.curve.clear()
            return
        lc = run.table
        jd = np.asarray(lc["jd_utc"], float)
        if self.fold_box.isChecked():
            x, label = fold(jd, self.period_box.value()), "phase"
        else:
            # The same zero as the other panels' plots, unless the curve's times are
            # not the open night's (a table from elsewhere): then its own first point.
            origin = self.session.time_origin()
            if origin is None or not abs(np.nanmin(jd) - origin) < 1.0:
                origin = float(np.nanmin(jd))
            x = (jd - origin) * 24.0
            label = "hours since the first light"
        check = None
        if "check_mag" in lc.colnames:
            check = (np.asarray(lc["check_mag"], float), np.asarray(lc["check_mag_err"], float))
        y_label = magnitude_label(lc, run.calibrated)
        self.curve.set_curve(x, lc["mag"], lc["mag_err"], self.rows, self.excluded(), check,
                             x_label=label, y_label=y_label)  # fmt: skip
        self.curve.mark_frame(self.session.current)

    def _on_frame_changed(self, index: int) -> None:
        self.curve.mark_frame(index)
        self.redraw_overlays()

    def draw_overlays(self, index: int) -> None:
        view, run, light = self.view(), self.run, self._row_of(index)
        if run is None or light is None:
            return
        p = self.params()
        lc = run.table
        x, y = [float(lc["x"][light])], [float(lc["y"][light])]
        if not np.isfinite(x[0] + y[0]):
            return  # a stored curve's frame where the target could not be placed
        # The target by its name (the one its curve and exports carry).
        labels = [str(lc.meta.get("target") or self.target_box.currentText() or "target")]
        stars = [*run.choice.comparison] + (
            [run.choice.check] if run.choice.check is not None else []
        )
        for n, k in enumerate(stars):
            sx, sy = run.stars_xy[light, k]
            x.append(float(sx))
            y.append(float(sy))
            labels.append("K" if k == run.choice.check else f"C{n + 1}")
        radius = self.shown_radius(p.aperture_radius)
        # The run's curve was measured at its own radius, with a sky annulus the form
        # does not know: its apertures are drawn without the form's annulus.
        annulus = (p.annulus_inner, p.annulus_outer) if radius == p.aperture_radius else None
        view.overlays.set_apertures(x, y, radius, annulus)
        view.overlays.set_labels(x, y, labels, offset=radius)  # beside the aperture, not on it

    def _error(self, task: str, message: str, hint: str) -> None:
        self.session.workers.error.emit(ErrorInfo(task, message, hint))


if __name__ == "__main__":
    sys.exit(run_standalone(LightCurvePanel))
