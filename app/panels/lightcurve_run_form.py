"""The Light curve form beside ``fluxion run``'s curve: the run's settings, and what differs.

When the curve shown is the run's comparison curve, the form takes the
run's aperture and sky annulus, the number of its comparison stars, and
"Measure against the run's comparison stars" is ticked: "Measure the light
curve" then measures the target against those stars with the form's
settings (:mod:`.lightcurve_run_measure`, in a worker). Unchanged, that is
the run's curve again, and the project's file is left as it is; a changed
setting is named under the form, and the curve it makes replaces the run's
only when the user agrees (the run's curve is kept beside it).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtWidgets import QCheckBox, QLabel

from fluxion.core.lightcurve.comparison import ComparisonChoice
from fluxion.core.lightcurve.run import write_light_curve

from ..workers import Task
from .base import frame_names, saved_product_store
from .lightcurve_backup import back_up_run_curve, run_backup_name
from .lightcurve_model import LightCurveRun
from .lightcurve_run_measure import RunSettings, measure_as_run, run_settings, settings_differ
from .lightcurve_state import LightCurveState

__all__ = ["LightCurveRunFormMixin"]


class LightCurveRunFormMixin(LightCurveState):
    """The form's run settings (see the module docstring).

    Needs ``stored``, ``auto_box``, ``click_box``, ``result_label``,
    ``replaces_run_curve``, ``name_run_backup``, ``backup_note`` and ``_keep``.
    """

    stored: dict[str, tuple[LightCurveRun, np.ndarray]]
    auto_box: QCheckBox
    click_box: QCheckBox

    def make_run_form(self) -> list[Any]:
        """The "run's stars" box and the line saying what differs from the run (hidden)."""
        self.run_stars_box = QCheckBox("Measure against the run's comparison stars")
        self.run_stars_box.setToolTip(
            "The stars fluxion run measured this target against (C1-Cn in the viewer); "
            "untick to let the window choose its own"
        )
        self.run_stars_box.setVisible(False)
        self.run_stars_box.toggled.connect(lambda _on: self.say_run_difference())
        self.run_diff_label = QLabel()
        self.run_diff_label.setWordWrap(True)
        self.run_diff_label.setVisible(False)
        self.form.params_changed.connect(lambda _p: self.say_run_difference())
        return [self.run_stars_box, self.run_diff_label]

    def _run_curve_settings(self) -> RunSettings | None:
        """The settings of the chosen target's run curve, when the project keeps one."""
        kept = self.stored.get(self.target_box.currentText())
        if kept is None:
            return None
        return run_settings(kept[0].table)

    def show_run_settings(self) -> None:
        """Put the run's settings in the form when the run's curve is shown (else hide the box)."""
        settings = self._run_curve_settings()
        shown = settings is not None and self.run is not None and self.run.stored
        self.run_stars_box.setVisible(shown)
        if shown and settings is not None:
            self.form.set_params(
                replace(
                    self.params(), aperture_radius=settings.radius,
                    annulus_inner=settings.annulus[0], annulus_outer=settings.annulus[1],
                    n_comparison=max(1, min(50, settings.n_comparison)),
                )
            )  # fmt: skip
            self.run_stars_box.setChecked(True)
        self.say_run_difference()

    def uses_run_stars(self) -> bool:
        """Whether Measure measures against the run's comparison stars (the run's curve shown)."""
        return (
            not self.run_stars_box.isHidden()
            and self.run_stars_box.isChecked()
            and self._run_curve_settings() is not None
        )

    def run_differences(self) -> list[str]:
        """What in the form differs from the run's curve shown (empty: nothing, or no run curve)."""
        settings = self._run_curve_settings()
        if settings is None or self.run_stars_box.isHidden():
            return []
        own = not self.run_stars_box.isChecked()
        return settings_differ(settings, self.params(), own_stars=own)

    def say_run_difference(self) -> None:
        """Say under the form whether Measure gives the run's curve or another one."""
        settings = self._run_curve_settings()
        for box in (self.auto_box, self.click_box):
            box.setEnabled(self.run_stars_box.isHidden() or not self.run_stars_box.isChecked())
        if settings is None or self.run_stars_box.isHidden():
            self.run_diff_label.setVisible(False)
            return
        differ = self.run_differences()
        if differ:
            text = (
                "Differs from the run's curve: " + "; ".join(differ) + '. "Measure the light '
                "curve\" makes another curve and asks before replacing the run's."
            )
        else:
            text = (
                f"The run's settings: aperture {settings.radius:.2f} px, its "
                f"{settings.n_comparison} comparison stars (C1-C{settings.n_comparison}). "
                '"Measure the light curve" measures the run\'s curve again.'
            )
        self.run_diff_label.setText(text)
        self.run_diff_label.setVisible(True)

    # -- measuring against the run's stars -------------------------------------
    def measure_as_run(self, doc: dict[str, Any]) -> Task | None:
        """Measure ``doc`` against the run's comparison stars with the form (in a worker)."""
        name = str(doc.get("name"))
        kept, seq, folder = (
            self.stored.get(name),
            self.session.sequence,
            self.session.project.folder,
        )
        store = saved_product_store(self.session)
        if kept is None or seq is None or store is None or folder is None:
            return None
        if self.run_differences() and self.replaces_run_curve(doc):
            return None  # the user kept the run's curve
        run, rows = kept
        names = frame_names(self.session)
        by_file = {names.file(f.path): f for f in seq.frames}
        lights = [by_file.get(str(f)) for f in run.table["file"]]
        if any(f is None for f in lights):
            self.result_label.setText(
                "Not measured: some of the run's lights are not open in the window."
            )
            return None
        params = self.params()
        keep = Path(folder) / str(doc.get("light_curve"))

        def work() -> tuple[Any, np.ndarray, bool, Path | None, str]:
            table, xy, same = measure_as_run(store, lights, run.table, params)  # type: ignore[arg-type]
            if same:
                return table, xy, same, None, ""  # the run's curve: its file stays as it is
            try:
                if keep.exists():
                    back_up_run_curve(keep)
                return table, xy, same, write_light_curve(table, keep), ""
            except Exception as exc:  # noqa: BLE001 (whatever stops the write, keep the curve)
                return table, xy, same, None, f"{type(exc).__name__}: {exc}"

        task = self.session.workers.submit(
            work, name=f"Light curve of {name}", key="lightcurve:run", pass_state=False
        )
        self.result_label.setText(
            f"Measuring the light curve of {name} against the run's comparison stars..."
        )
        task.result.connect(lambda res, d=doc, k=kept: self._measured_as_run(res, d, k))
        return task

    def _measured_as_run(
        self, res: tuple[Any, np.ndarray, bool, Path | None, str], doc: dict[str, Any], kept
    ) -> None:
        table, xy, same, path, problem = res
        run, rows = kept
        n = xy.shape[1]
        choice = ComparisonChoice(tuple(range(n)), None, {}, np.full(n, np.nan))
        new = LightCurveRun(table, run.positions, xy, choice, False, stored=same)
        old = np.asarray(run.table["mag"], float)
        diff = np.abs(np.asarray(table["mag"], float) - old)
        largest = float(np.nanmax(diff)) if np.any(np.isfinite(diff)) else float("nan")
        self.run, self.rows = new, rows
        if same:
            self.stored[str(doc.get("name"))] = (new, rows)
            text = (
                f"{doc.get('name')}: measured again with the run's settings, against its {n} "
                f"comparison stars: the run's curve (largest difference {largest:.1e} mag). "
                "The project's curve is kept as it is."
            )
        else:
            self.name_run_backup(doc, path, run_backup_name(str(doc.get("light_curve"))))
            text = (
                f"{doc.get('name')}: measured here against the run's {n} comparison stars, "
                f"aperture {float(table.meta['aperture_radius']):.1f} px: differs from the run's "
                f"curve by up to {largest:.3f} mag." + self._keep(doc, path, problem)
                + self.backup_note()
            )  # fmt: skip
            self.session.targets_changed.emit()  # the Run tab says the curve is replaced
        self.result_label.setText(text)
        self.show_run_settings()  # a replaced run curve: the box goes, the form stays
        self._update_curve()
        self.redraw_overlays()
        if not same:
            self.step_finished.emit(self.step)

    if TYPE_CHECKING:  # declared for the checker only (the panel defines them)

        def replaces_run_curve(self, doc: dict[str, Any]) -> bool: ...

        def name_run_backup(self, doc: Any, kept: Path | None, backup: str | None) -> None: ...

        def backup_note(self) -> str: ...

        def _keep(self, doc: Any, kept: Path | None, problem: str) -> str: ...
