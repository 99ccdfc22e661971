"""Calibration: master bias, dark and flat from the night's frames, then calibrated lights.

The form comes from :class:`~fluxion.core.calibration.MasterParams` (how the
calibration frames are combined) and
:class:`~fluxion.core.calibration.CalibrationParams` (what is done to each
light). A run goes through :func:`fluxion.core.chain.calibrate_frames` into the
project's products, so the masters are built once and lights already current
are not redone. The panel shows each master as an image with its statistics
(mean, median, noise, hot or cold pixels), what was applied to each light and
its warnings (a flat of another filter, no exposure time), the masked fraction
per frame over the night, and offers the viewer's raw/calibrated choice and
the mask as an overlay.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.calibration import CalibrationParams, MasterParams
from fluxion.core.chain import calibrate_frames, frame_image, load_masters
from fluxion.core.project.results import ResultsChange, RunTicket
from fluxion.core.runtime.pipeline import StepState
from fluxion.widgets.param_form import ParamForm

from ..workers import Task
from .base import StepPanel, scrolling
from .calibration_facts import (
    LightFacts,
    MasterSummary,
    light_facts,
    stored_light_facts,
    summarise_masters,
)
from .standalone import run_standalone

__all__ = ["CalibrationPanel", "CalibrationRun", "calibrate"]

MASTER_STEP = "calibration_masters"  # where the project keeps the MasterParams


@dataclass(frozen=True)
class CalibrationRun:
    """What one run left: facts per light (by frame index) and the masters."""

    lights: dict[int, LightFacts] = field(default_factory=dict)
    masters: list[MasterSummary] = field(default_factory=list)


def calibrate(
    store,
    frames: list,
    indices: list[int],
    params: CalibrationParams,
    master_params: MasterParams,
    executor=None,
    state: StepState | None = None,
) -> CalibrationRun:
    """Calibrate the lights among ``frames[indices]`` (masters from all ``frames``).

    Runs in a worker. Calibration frames in ``indices`` are skipped: only
    lights are calibrated.
    """
    state = state if state is not None else StepState()
    chosen = {store.names.file(frames[i].path): i for i in indices if frames[i].type == "light"}
    inputs = [f for f in frames if f.type != "light"] + [frames[i] for i in chosen.values()]
    outcomes = calibrate_frames(
        store, inputs, params, master_params, executor=executor, state=state.sub(0.0, 0.9)
    )
    lights: dict[int, LightFacts] = {}
    for o in outcomes:
        i = chosen.get(o.frame)
        if i is None:
            continue
        if o.ok and o.value is not None:
            lights[i] = light_facts(o.value)
        else:
            lights[i] = LightFacts(error=o.error or "calibration failed")
    state.progress(0.95, "master statistics")
    masters = summarise_masters(load_masters(store), params)
    return CalibrationRun(lights, masters)


def restore(
    store, frames: list, params: CalibrationParams, cache=None, state=None
) -> CalibrationRun:
    """What earlier runs left in the project (a reopened project shows it again)."""
    return CalibrationRun(
        stored_light_facts(store, frames, cache), summarise_masters(load_masters(store), params)
    )


def _mask_of(store, frame, state=None) -> np.ndarray | None:
    return frame_image(store, frame).mask


class MasterView(QWidget):
    """A master frame as a small image with its statistics; "Show in viewer" enlarges it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.masters: list[MasterSummary] = []
        # How many bias, dark and flat frames the night has (what the masters are made of).
        self.raw_counts: dict[str, int] = {}
        self.choice = QComboBox()
        self.choice.setToolTip("Master frame to inspect")
        self.show_button = QPushButton("Show in viewer")
        self.stats_label = QLabel("No masters yet.")
        self.stats_label.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(140)
        box = self.graphics.addViewBox(lockAspect=True)
        box.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.image)
        self.view_box = box
        self.choice.currentIndexChanged.connect(self._show)
        top = QHBoxLayout()
        top.addWidget(self.choice, 1)
        top.addWidget(self.show_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.stats_label)

    def set_masters(self, masters: list[MasterSummary]) -> None:
        """Offer these masters; keeps the chosen kind when it is still there."""
        previous = self.choice.currentText()
        self.masters = list(masters)
        self.choice.blockSignals(True)
        self.choice.clear()
        self.choice.addItems([m.label for m in self.masters])
        k = self.choice.findText(previous)
        self.choice.setCurrentIndex(max(k, 0) if self.masters else -1)
        self.choice.blockSignals(False)
        self._show()

    def no_masters_text(self) -> str:
        """What to say before there is a master: what the night has to make them from."""
        have = [f"{n} {kind}" for kind, n in self.raw_counts.items() if n]
        if not have:
            return "No masters: the night has no bias, dark or flat frames."
        return (
            f"No masters yet: {', '.join(have)} frame(s) to combine. "
            '"Run on all lights" makes the masters first.'
        )

    def current(self) -> MasterSummary | None:
        """The master shown."""
        i = self.choice.currentIndex()
        return self.masters[i] if 0 <= i < len(self.masters) else None

    def _show(self, *_: Any) -> None:
        m = self.current()
        if m is None:
            self.image.clear()
            self.stats_label.setText(self.no_masters_text())
            return
        self.image.setImage(m.data, autoLevels=False, levels=(m.limits.vmin, m.limits.vmax))
        self.view_box.autoRange(padding=0)
        self.stats_label.setText(m.describe())


class CalibrationPanel(StepPanel):
    """Masters and calibrated lights, with their diagnostics."""

    title = "Calibration"
    step = "calibration"
    params_type = CalibrationParams
    quantity = "masked pixels (%)"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        self.masters: list[MasterSummary] = []
        self.master_form = ParamForm(
            MasterParams, session.project.step_params(MASTER_STEP, MasterParams)
        )
        self.master_form.params_changed.connect(
            lambda p: session.project.set_step_params(MASTER_STEP, p)
        )
        self.master_view = MasterView()
        self.master_view.show_button.clicked.connect(self.show_master_in_viewer)
        self.cancel_button.setToolTip("Stop the run; lights already calibrated are kept")
        self.calibrated_box = QCheckBox("Show calibrated frames")
        self.calibrated_box.setToolTip(
            "The viewer shows each frame's calibrated product when there is one, else the raw"
        )
        self.calibrated_box.setChecked(session.show_calibrated)
        self.calibrated_box.toggled.connect(session.set_show_calibrated)
        self.mask_box = QCheckBox("Show mask")
        self.mask_box.setToolTip(
            "Pixels flagged saturated, hot, cold, cosmic ray or NaN, in red over the image"
        )
        self.mask_box.toggled.connect(lambda _: self.update_mask())
        # The mask follows the frame shown (raw or calibrated), once it is in the view.
        session.frame_ready.connect(lambda _: self.update_mask())
        self._arrange()

    def _arrange(self) -> None:
        layout = self.layout()
        # Two forms make a tall panel: they scroll, so the window keeps its height.
        layout.removeWidget(self.form)
        forms = QWidget()
        inner = QVBoxLayout(forms)
        inner.setContentsMargins(0, 0, 0, 0)
        for title, form in (("Masters", self.master_form), ("Lights", self.form)):
            group = QGroupBox(title)
            QVBoxLayout(group).addWidget(form)
            inner.addWidget(group)
        scroll = scrolling(forms, form=True)
        scroll.setMinimumHeight(180)
        layout.insertWidget(0, scroll, 0)
        toggles = QHBoxLayout()
        toggles.addWidget(self.calibrated_box)
        toggles.addWidget(self.mask_box)
        layout.insertLayout(2, toggles)
        group = QGroupBox("Master frames")
        QVBoxLayout(group).addWidget(self.master_view)
        layout.addWidget(group, 1)
        # The masked-pixels plot needs room for its axis titles; the master's
        # preview is a thumbnail ("Show in viewer" enlarges it).
        layout.setStretchFactor(self.plot, 2)
        self.plot.setMinimumHeight(160)
        self.master_view.graphics.setMaximumHeight(220)

    # -- running ----------------------------------------------------------------
    def master_params(self) -> MasterParams:
        """The masters' parameters in the form."""
        return self.master_form.params()

    def run_current(self) -> Task | None:
        """Calibrate the current frame (building the masters first when needed)."""
        index = self.session.current
        if self.session.sequence is None or index < 0:
            return None
        if self.session.sequence[index].type != "light":
            kind = self.session.sequence[index].type
            self.result_label.setText(
                f"Frame {index + 1} is a {kind} frame; calibration applies to lights."
            )
            return None
        return self._submit([index], f"{self.title} of frame {index + 1}", everything=False)

    def run_all(self) -> Task | None:
        """Calibrate every light of the night (in parallel on the frame executor)."""
        seq = self.session.sequence
        if seq is None or not len(seq):
            return None
        return self._submit(list(range(len(seq))), f"{self.title} of all lights", everything=True)

    def _submit(self, indices: list[int], name: str, everything: bool) -> Task:
        params, master_params = self.params(), self.master_params()
        store = self.session.product_store()  # saving the project reloads the forms
        seq = self.session.sequence
        frames = list(seq.frames) if seq is not None else []  # run_* checked there is one
        task = self.session.workers.submit(
            calibrate,
            store,
            frames,
            indices,
            params,
            master_params,
            self.session.workers.frame_executor,
            name=name,
            key=f"panel:{self.step}",
        )
        ticket = self._follow(task, indices)
        task.result.connect(lambda run: self._on_run(run, everything, ticket))
        return task

    def _on_run(self, run: CalibrationRun, everything: bool, ticket: RunTicket) -> None:
        self._set_masters(run.masters)
        self._store_run(run.lights, everything, ticket)
        if self.session.show_calibrated:
            self.session.refresh_display()  # the frame shown may now have a product
        elif self.mask_box.isChecked():
            self.update_mask()

    def _set_masters(self, masters: list[MasterSummary]) -> None:
        self.masters = masters
        self.master_view.set_masters(masters)

    def _on_results_changed(self, change: ResultsChange) -> None:
        super()._on_results_changed(change)
        if change.frames and not change.cleared:
            self._publish_column()

    def _publish_column(self) -> None:
        results = self.results.snapshot()
        self.session.set_frame_column(
            "Calibration", {i: f.short() for i, f in results.items()}, "{}"
        )

    @staticmethod
    def error_of(result: LightFacts) -> str | None:
        return result.error

    # -- what a frame shows ------------------------------------------------------
    def summary(self, result: LightFacts) -> float:
        return 100.0 * result.masked_fraction if not result.error else float("nan")

    def show_result(self, index: int, result: LightFacts) -> None:
        self.result_label.setText(result.describe(index))

    def _on_project(self) -> None:
        super()._on_project()
        # The project's raw/calibrated choice (a reopened project shows it again).
        self.calibrated_box.blockSignals(True)
        self.calibrated_box.setChecked(self.session.show_calibrated)
        self.calibrated_box.blockSignals(False)

    def _on_sequence(self) -> None:
        super()._on_sequence()
        seq = self.session.sequence
        frames = seq.frames if seq is not None else []
        self.master_view.raw_counts = {
            kind: sum(1 for f in frames if f.type == kind) for kind in ("bias", "dark", "flat")
        }
        self._set_masters([])
        if self.image_view is not None:
            self.image_view.overlays.clear("mask")
        seq = self.session.sequence
        if seq is None or self.session.project.folder is None:
            return
        # a reopened project shows what its earlier runs left
        task = self.session.workers.submit(
            restore,
            self.session.product_store(),
            list(seq.frames),
            self.params(),
            cache=self.session.product_cache,
            name="Reading the calibration products",
            key=f"restore:{self.step}",
            quiet=True,
        )
        task.result.connect(self._on_run_restored)

    def _on_run_restored(self, run: CalibrationRun) -> None:
        self._set_masters(run.masters)
        self.results.restore(run.lights)

    def show_master_in_viewer(self) -> None:
        """Put the chosen master in the main viewer (until the next frame is shown)."""
        m = self.master_view.current()
        if m is None or self.image_view is None:
            return
        self.image_view.overlays.clear()
        self.image_view.set_image(m.data, limits=m.limits)
        self.result_label.setText(f"Viewer: master {m.label}. {m.describe()}")

    def draw_overlays(self, index: int) -> None:
        self.update_mask()

    def update_mask(self) -> Task | None:
        """Show the current frame's mask over the image when asked (read in a worker)."""
        view, seq, index = self.image_view, self.session.sequence, self.session.current
        if view is None or not self.in_front:
            return None
        if not self.mask_box.isChecked() or seq is None or index < 0:
            view.overlays.clear("mask")
            return None
        if self.session.project.folder is None:
            view.overlays.clear("mask")  # nothing calibrated yet: no mask
            return None
        task = self.session.workers.submit(
            _mask_of,
            self.session.product_store(),
            seq[index],
            name=f"Mask of frame {index + 1}",
            key="calibration:mask",
            quiet=True,
        )
        task.result.connect(lambda mask, i=index: self._show_mask(i, mask))
        return task

    def _show_mask(self, index: int, mask: np.ndarray | None) -> None:
        view = self.image_view
        if view is None or index != self.session.current or not self.in_front:
            return
        shown = view.data
        # A raw frame with overscan is larger than its calibrated mask: no overlay then.
        if mask is None or shown is None or shown.shape != mask.shape:
            view.overlays.clear("mask")
            return
        view.overlays.set_mask(mask)


if __name__ == "__main__":
    sys.exit(run_standalone(CalibrationPanel))
