"""The Light curve panel's curves as the project keeps them (``fluxion run``'s, or measured here).

A project made by ``fluxion run`` keeps the target's curve; the panel draws
it as it is, says which curve it is (the run's against its comparison stars,
with their number and the aperture, or from the zero points) and puts the
run's comparison stars on the viewer. Measuring again in the window makes a
different curve (the form's aperture, the window's own choice of stars), so
it replaces the run's only when the user says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from fluxion.core.project.products import ProductStore
from fluxion.core.runtime.pipeline import StepState

from ..workers import Task
from .base import frame_names, saved_product_store
from .lightcurve_backup import RUN_CURVE_KEY, restore_run_curve
from .lightcurve_model import LightCurveRun, stored_light_curves
from .lightcurve_run_stars import (
    is_run_comparison_curve,
    run_curve_description,
    run_curve_notes,
    run_star_positions,
    with_run_stars,
)
from .lightcurve_state import LightCurveState

__all__ = ["LightCurveStoredMixin", "ask_to_replace", "kept_curves"]


def kept_curves(
    folder: str | Path,
    docs: Sequence[dict],
    files: Sequence[str],
    store: ProductStore | None,
    paths: Mapping[str, str],
    state: StepState | None = None,
) -> tuple[dict[str, tuple[LightCurveRun, np.ndarray]], dict[str, str]]:
    """The project's curves (:func:`stored_light_curves`), the run's with its stars placed,
    and what is wrong with those that cannot be read (by target name).

    Runs in a worker: finding the run's comparison stars reads every light's
    stored photometry.
    """
    problems: dict[str, str] = {}
    found = stored_light_curves(folder, docs, files, state, problems)
    for name, (run, rows) in list(found.items()):
        if store is not None and is_run_comparison_curve(run.table):
            xy, radius = run_star_positions(store, run.table, paths)
            found[name] = (with_run_stars(run, xy, radius), rows)
    return found, problems


def ask_to_replace(parent: QWidget, text: str) -> bool:
    """Whether the user agrees to replace the run's curve (a modal question)."""
    answer = QMessageBox.question(
        parent, "Replace the run's light curve?", text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )  # fmt: skip
    return answer == QMessageBox.StandardButton.Yes


class LightCurveStoredMixin(LightCurveState):
    """Reads, shows and guards the curves the project keeps (see the module docstring).

    Needs ``stored``, ``run``, ``rows``, ``target_box``, ``result_label``,
    ``refresh_targets``, ``noisy_note``, ``_update_curve`` and ``redraw_overlays``.
    """

    stored: dict[str, tuple[LightCurveRun, np.ndarray]]
    #: What is wrong with the curves the project names but the panel cannot read.
    unreadable: dict[str, str] = {}

    def reload_products(self) -> Task | None:
        """Read the light curves the project keeps (``fluxion run``) in a worker.

        They are drawn as they are, not measured again; "Measure" makes a new one.
        """
        seq, folder = self.session.sequence, self.session.project.folder
        docs = [dict(d) for d in self.session.project.targets if d.get("light_curve")]
        if seq is None or folder is None or not docs:
            return None
        names = frame_names(self.session)
        files = [names.file(f.path) for f in seq.frames]
        paths = {file: str(f.path) for file, f in zip(files, seq.frames, strict=True)}
        task = self.session.workers.submit(
            kept_curves, folder, docs, files, saved_product_store(self.session), paths,
            name="Reading the light curve", key="restore:lightcurve", quiet=True,
        )  # fmt: skip
        task.result.connect(lambda res, s=seq: self._on_stored(res[0], res[1], s))
        return task

    def _on_stored(
        self, found: dict[str, tuple[LightCurveRun, np.ndarray]], problems: dict[str, str], seq
    ) -> None:
        if seq is not self.session.sequence:
            return
        self.unreadable = problems
        if not found:
            if problems:
                self._on_target_chosen(self.target_box.currentText())
            return
        self.stored = found
        self.refresh_targets()
        if self.target_box.currentText() not in found:
            self.target_box.setCurrentText(next(iter(found)))  # shows it
        else:
            self._on_target_chosen(self.target_box.currentText())

    def _on_target_chosen(self, name: str) -> None:
        """Show the chosen target's stored curve, unless a measured one is shown."""
        if self.run is not None and not self.run.stored:
            return
        kept = self.stored.get(name)
        if kept is None:
            self.run, self.rows = None, np.empty(0, int)
            self.show_restore()
            if problem := self.unreadable.get(name):
                # The project names a curve the panel cannot show: say which file and why.
                self.result_label.setText(
                    f"{name}: the project's light curve {problem}; \"Measure the light "
                    'curve" measures a new one.'
                )
            self._update_curve()
            self.redraw_overlays()
            self.show_run_settings()
            return
        self.run, self.rows = kept
        self.show_restore()
        lc = self.run.table
        self.show_curve_channels(lc)
        good = int(np.isfinite(np.asarray(lc["mag"], float)).sum())
        what = run_curve_description(lc, self.run.calibrated)
        notes = " ".join(run_curve_notes(lc))
        if is_run_comparison_curve(lc) and self.run.stars_xy.shape[1] == 0:
            notes += (
                " The run's comparison stars cannot be placed on these lights (their "
                "photometry is not in the project)."
            )
        self.result_label.setText(
            f"{name}: {what}. {len(lc)} lights, {good} measured, as the project keeps it. "
            + (notes + " " if notes else "")
            # The run's comparison curve: the line under the form says what Measure does.
            + ("" if is_run_comparison_curve(lc) else '"Measure the light curve" measures it '
               "again here, with this form's aperture and its own comparison stars.")
            + self.backup_note() + self.noisy_note()
        )  # fmt: skip
        self.show_run_settings()
        self._update_curve()
        self.redraw_overlays()

    def shown_radius(self, form_radius: float) -> float:
        """The aperture to draw: a kept curve's own radius (the run's, or one measured here
        earlier with its stars), else the form's."""
        run = self.run
        if (
            run is not None
            and run.stored
            and (is_run_comparison_curve(run.table) or run.stars_xy.shape[1])
        ):
            radius = run.table.meta.get("aperture_radius")
            if radius is not None and np.isfinite(float(radius)):
                return float(radius)
        return form_radius

    def replaces_run_curve(self, doc: dict[str, Any]) -> bool:
        """Whether measuring ``doc`` here would replace ``fluxion run``'s comparison curve,
        and the user did not agree to it (asked once per measurement)."""
        kept = self.stored.get(str(doc.get("name")))
        if kept is None or not is_run_comparison_curve(kept[0].table):
            return False
        lc = kept[0].table
        how = (
            "; ".join(self.run_differences())
            if self.uses_run_stars()
            else f"this form's aperture {self.params().aperture_radius:.1f} px, the window's own "
            "choice of comparison stars"
        )
        text = (
            f"The project keeps {run_curve_description(lc, kept[0].calibrated)}, in "
            f"{doc.get('light_curve')}. Measuring here makes another curve ({how}) and "
            "replaces it in the project (the run's is kept beside it). Replace it?"
        )
        if ask_to_replace(self, text):
            return False
        said = "Not measured: the run's curve is kept as it is. "
        self.result_label.setText(said + self.result_label.text().removeprefix(said))
        return True

    # -- the run's curve kept beside the window's (lightcurve_backup) -----------
    def shows_run_curve(self, doc: dict[str, Any]) -> bool:
        """Whether the curve the project keeps for ``doc`` is ``fluxion run``'s comparison curve."""
        kept = self.stored.get(str(doc.get("name")))
        return kept is not None and is_run_comparison_curve(kept[0].table)

    def make_restore_button(self) -> QPushButton:
        """The button that brings back the run's curve (shown when there is a copy)."""
        self.restore_button = QPushButton("Restore the run's curve")
        self.restore_button.setToolTip(
            "Put fluxion run's light curve back in the project in place of the one measured "
            "here (the run's curve was kept beside it when it was replaced)"
        )
        self.restore_button.clicked.connect(self.restore_run_curve)
        self.restore_button.setVisible(False)
        return self.restore_button

    def show_restore(self) -> None:
        """Show the restore button when the chosen target keeps a copy of the run's curve."""
        doc = self._target_doc()
        button = getattr(self, "restore_button", None)
        if button is not None:
            button.setVisible(bool(doc and doc.get(RUN_CURVE_KEY)))

    def backup_note(self) -> str:
        """What the label adds when the run's curve was replaced and kept beside it."""
        doc = self._target_doc()
        if not doc or not doc.get(RUN_CURVE_KEY):
            return ""
        return (
            f" The run's own curve is kept in {doc[RUN_CURVE_KEY]}: \"Restore the run's curve\" "
            "brings it back."
        )

    def name_run_backup(self, doc: dict[str, Any] | None, kept: Path | None, backup: str | None):
        """Name the copy of the run's curve in the target's entry once the new curve is kept."""
        project = self.session.project
        if backup is None or doc is None or kept is None or project.folder != kept.parent:
            return
        if any(t is doc for t in project.targets):
            doc[RUN_CURVE_KEY] = backup  # saved with the project when the step finishes
        self.show_restore()

    def restore_run_curve(self) -> Task | None:
        """Put the run's curve back in place of the window's (in a worker) and show it."""
        doc, folder = self._target_doc(), self.session.project.folder
        if doc is None or folder is None or not doc.get(RUN_CURVE_KEY):
            return None
        task = self.session.workers.submit(
            restore_run_curve, folder, str(doc["light_curve"]), str(doc[RUN_CURVE_KEY]),
            name="Restoring the run's light curve", key="lightcurve:restore", pass_state=False,
        )  # fmt: skip
        task.result.connect(lambda _path, d=doc: self._run_curve_restored(d))
        return task

    def _run_curve_restored(self, doc: dict[str, Any]) -> None:
        doc.pop(RUN_CURVE_KEY, None)
        self.stored.pop(str(doc.get("name")), None)
        self.run, self.rows = None, np.empty(0, int)
        self.show_restore()
        self.result_label.setText(f"{doc.get('name')}: the run's curve is back; reading it...")
        self.step_finished.emit(self.step)  # the project is saved without the copy's name
        self.session.targets_changed.emit()  # the Run tab no longer says it was replaced
        self.reload_products()
