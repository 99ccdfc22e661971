"""The step panel lifecycle, shared by every pipeline step's panel.

A panel is built from its step's parameter dataclass (the form comes from the
metadata), runs the step's core function on the current frame or on all
frames through the one worker pool, shows the result and a per-frame
diagnostic plot, and redoes the current frame when it changes (if asked to).
A concrete panel declares::

    class SkyPanel(StepPanel):
        title = "Sky"
        step = "sky"
        params_type = SkyParams
        quantity = "sky (ADU)"

        @staticmethod
        def run(inputs, params, state): ...              # core call, Qt-free
        def summary(self, result) -> float: ...          # value for the plot
        def show_result(self, index, result) -> None: ... # text, plots
        def draw_overlays(self, index) -> None: ...       # circles on the image

and is registered with one line in :mod:`fluxion.app.panels`.

``run`` is a pure function of its inputs: :class:`FrameInputs` (the frame's
pixels, its facts and the panel's :meth:`StepPanel.run_context`), the
parameters and the step state. Everything it needs from the window (the
project's product store, a catalog, another step's parameters) is taken on
the GUI thread by ``run_context`` before the run starts, as a Qt-free value;
a worker never reads the panel, so a second click cannot change a run that is
under way. A panel whose step leaves products in the project sets
``restore_products`` (a Qt-free ``fn(store, frames, cache=..., state=...) ->
{index: result}``) to show them again when a project is reopened; products
are read through the session's :class:`~fluxion.core.project.cache.ProductCache`,
so what another panel or the viewer read already is not read again.

The image view's overlay layers are shared by every panel, so only the panel
in front (the tab the user sees, :meth:`StepPanel.set_in_front`) draws on
them: :meth:`StepPanel.redraw_overlays` empties the layers and calls the
panel's :meth:`StepPanel.draw_overlays` for the current frame, when the frame
changes, when a result arrives and when the panel comes to the front.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.core.io.frames import FrameInfo
from fluxion.core.project.results import (
    ResultsChange,
    RunStatus,
    RunSummary,
    RunTicket,
    StepResults,
)
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.widgets.image_view import ImageView
from fluxion.widgets.param_form import ParamForm
from fluxion.widgets.plots import TimeSeriesPlot

from ..results_signal import ResultsSignal
from ..session import Session
from ..workers import ErrorInfo, Task
from .landing import FrameLanding
from .night_axis import night_axis
from .scroll import FormScroll, fitted, holding, scrolling
from .stored import (
    cached_solutions,
    frame_names,
    product_store,
    read_stored,
    saved_product_store,
    suggested_file,
)

__all__ = [
    "NO_FRAMES_OPEN",
    "FrameInputs",
    "FrameLanding",
    "StepPanel",
    "frame_names",
    "product_store",
    "read_stored",
    "cached_solutions",
    "night_axis",
    "saved_product_store",
    "fitted",
    "scrolling",
    "suggested_file",
]

log = logging.getLogger("fluxion.app.panels")

#: What a step's run button says when no night is open.
NO_FRAMES_OPEN = (
    "No frames open yet: open a folder of FITS frames or a project (File > Open folder..., "
    "Open project...), or try File > Classroom demo."
)


@dataclass(frozen=True)
class FrameInputs:
    """What a step's pure ``run`` gets besides its parameters and state.

    Attributes
    ----------
    data : numpy.ndarray
        The frame's pixels (read-only; read in the worker from the sequence's cache).
    frame : FrameInfo
        The frame's facts (path, type, time, exposure...).
    context : object
        The panel's :meth:`StepPanel.run_context`, taken on the GUI thread
        when the run started (Qt-free: product store, catalog, parameters).
    """

    data: np.ndarray
    frame: FrameInfo
    context: Any = None


class StepPanel(QWidget):
    """Base class of the step panels (see the module docstring).

    Signals
    -------
    step_finished(str)
        "Run on all lights" finished; the window autosaves the project.
    """

    title: ClassVar[str] = "Step"
    step: ClassVar[str] = "step"
    params_type: ClassVar[type]
    quantity: ClassVar[str] = ""
    #: Reads what earlier runs left in the project, in a worker:
    #: ``fn(store, frames, state) -> {index: result}``; None when nothing is kept.
    restore_products: ClassVar[Callable[..., dict[int, Any]] | None] = None
    #: The worker keys of the panel's runs, which its Cancel stops (default ``panel:<step>``).
    run_keys: ClassVar[tuple[str, ...]] = ()

    step_finished = Signal(str)

    def __init__(
        self, session: Session, image_view: ImageView | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.image_view = image_view
        # What the step produced, frame by frame: a Qt-free model the session
        # keeps, which the viewer and other panels read too. The panel redraws
        # on its changes, whoever made them.
        self.results: StepResults[Any] = session.results.of(self.step, type(self).error_of)
        self._results_signal = ResultsSignal(self.results, self)
        self._results_signal.changed.connect(self._on_results_changed)
        self.landing = FrameLanding(self.results, self)
        # A panel on its own is in front; the window says which tab is (a tabbed
        # dock's widget stays isVisible() behind the current tab).
        self.in_front = True
        self.form = ParamForm(
            self.params_type, session.project.step_params(self.step, self.params_type)
        )
        self.form.params_changed.connect(self._on_params)
        self.run_button = QPushButton("Run on current frame")
        self.run_all_button = QPushButton("Run on all lights")
        # The panel's own Cancel, beside its run: the status bar's stops the
        # newest task of all, which is not always this panel's.
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop this panel's run; frames already done are kept")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.redo_box = QCheckBox("Redo when the frame changes")
        self.result_label = QLabel("Not run yet.")
        self.result_label.setWordWrap(True)
        self.plot = TimeSeriesPlot(self.quantity, "hours since the first light")
        self.run_button.clicked.connect(lambda: self._run_clicked(self.run_current))
        self.run_all_button.clicked.connect(lambda: self._run_clicked(self.run_all))
        self.plot.frame_clicked.connect(session.go_to)
        session.current_changed.connect(self._on_frame_changed)
        session.sequence_changed.connect(self._on_sequence)
        session.project_changed.connect(self._on_project)
        session.workers.task_started.connect(self._update_cancel)
        session.workers.task_finished.connect(self._update_cancel)

        self.buttons = QHBoxLayout()
        """The row of run buttons (a panel adds its Cancel and the like)."""
        self.buttons.addWidget(self.run_button)
        self.buttons.addWidget(self.run_all_button)
        self.buttons.addWidget(self.cancel_button)
        self._box = layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addLayout(self.buttons)
        layout.addWidget(self.redo_box)
        layout.addWidget(self.result_label)
        layout.addWidget(self.plot, 1)

    def layout(self) -> QVBoxLayout:
        """The panel's column (typed: every panel adds its own rows to it)."""
        return self._box

    def view(self) -> ImageView:
        """The image view the panel draws on (:meth:`draw_overlays` is only called with one)."""
        if self.image_view is None:
            raise RuntimeError(f"the {self.title} panel has no image view")
        return self.image_view

    # -- what a concrete panel provides --------------------------------------
    @staticmethod
    def run(inputs: FrameInputs, params: Any, state: StepState | None) -> Any:
        """The core work on one frame: a pure function (runs in a worker; never sees the panel)."""
        raise NotImplementedError

    def run_context(self) -> Any:
        """What :meth:`run` needs from the window, as a Qt-free snapshot (GUI thread).

        Called after :meth:`prepare_run` agreed; handed to every frame of the
        run as ``inputs.context``.
        """
        return None

    def summary(self, result: Any) -> float:
        """The number plotted for one frame's result."""
        return float("nan")

    @staticmethod
    def error_of(result: Any) -> str | None:
        """The message of a result that stands for a failed frame (None: a good one)."""
        return None

    def show_result(self, index: int, result: Any) -> None:
        """Show one frame's result in the panel (text, plots; overlays: :meth:`draw_overlays`)."""
        self.result_label.setText(f"frame {index + 1}: {result}")

    def draw_overlays(self, index: int) -> None:
        """Draw the panel's overlays for frame ``index`` on the image view.

        Called only while the panel is in front, with every layer emptied
        first, and with an image view; a frame without a result draws nothing.
        """

    def prepare_run(self) -> bool:
        """Get ready for a run on the GUI thread; False when the run cannot start."""
        return True

    # -- lifecycle ------------------------------------------------------------
    def set_in_front(self, shown: bool) -> None:
        """Whether the panel is the step tab the user sees (work that waits for it starts).

        Coming to the front, the panel's overlays replace the previous panel's.
        """
        self.in_front = shown
        if shown:
            self.redraw_overlays()

    def redraw_overlays(self) -> None:
        """Replace the view's overlays by this panel's for the current frame, if in front."""
        view = self.image_view
        if view is None or not self.in_front:
            return
        # Every layer, not only the panel's own: what another panel drew for
        # this or another frame must not stay mixed with it.
        view.overlays.clear()
        if self.session.current >= 0:
            self.draw_overlays(self.session.current)

    def params(self) -> Any:
        """The parameters in the form."""
        return self.form.params()

    def _on_params(self, params: Any) -> None:
        self.session.project.set_step_params(self.step, self.kept_params(params))

    def kept_params(self, params: Any) -> Any:
        """What the project keeps of the form ``params`` (a panel with settings
        beside its form adds them here)."""
        return params

    def _on_project(self) -> None:
        self.form.set_params(self.session.project.step_params(self.step, self.params_type))

    def scroll_form(self, height: int | None = None) -> int:
        """Put the parameter form in a scroll area (tall forms) where it was; its index.

        ``height``: the most it asks for (default ``FormScroll.FORM_HEIGHT``).
        """
        layout = self.layout()
        index = layout.indexOf(self.form)
        layout.removeWidget(self.form)
        scroll = holding(FormScroll(), self.form)
        if height is not None:
            scroll.FORM_HEIGHT = height
        # It keeps its height (and the buttons their place) whatever the plots below
        # do; the room a tall dock has to spare goes to the plots.
        scroll.setMinimumHeight(min(self.form.sizeHint().height() + 2, 150, scroll.FORM_HEIGHT))
        layout.insertWidget(index, scroll, 0)
        return index

    def keep_params_and_store(self) -> Any:
        """Keep the form in the project, then the project's product store (or None).

        In that order: :func:`product_store` saves an unsaved project, which
        reloads every panel's form from the project.
        """
        self.session.project.set_step_params(self.step, self.kept_params(self.params()))
        return product_store(self.session)

    def _on_sequence(self) -> None:
        self.results.clear()  # the view resets on the change (_on_results_changed)
        self.reload_products()

    def reload_products(self) -> Task | None:
        """Read what earlier runs of the step left in a saved project (in a worker)."""
        read = type(self).restore_products
        seq = self.session.sequence
        if read is None or seq is None or self.session.project.folder is None:
            return None
        task = self.session.workers.submit(
            read,
            self.session.product_store(),
            list(seq.frames),
            cache=self.session.product_cache,
            name=f"Reading the {self.title.lower()} products",
            key=f"restore:{self.step}",
            quiet=True,
        )
        task.result.connect(self._on_restored)
        return task

    def _on_restored(self, results: dict[int, Any]) -> None:
        # Only frames this session has not run since: its own results are newer.
        self.results.restore(results)

    def _on_results_changed(self, change: ResultsChange) -> None:
        """Show a change of the step's results: plot, current frame's text, overlays."""
        if change.cleared:
            self.plot.clear()
            self.result_label.setText("Not run yet.")
            return
        cancelled = change.status is RunStatus.CANCELLED and not change.restored
        if not change.frames and not change.finished:
            if cancelled:
                self._say_cancelled()
            self._say_running(self.session.current)  # a run begins
            return  # the status alone
        self._update_plot()
        index = self.session.current
        if index in change.frames:
            result = self.results.get(index)
            if result is not None:
                self.show_result(index, result)
            self.redraw_overlays()
        else:
            self._say_running(index)
        if cancelled:
            self._say_cancelled()
        summary = self.results.summary
        if change.finished and summary is not None and summary.text:
            self.result_label.setText(f"{summary.text}\n\n{self.result_label.text()}".strip())

    def cancel_keys(self) -> tuple[str, ...]:
        """The worker keys of this panel's runs (:attr:`run_keys`, else ``panel:<step>``)."""
        return self.run_keys or (f"panel:{self.step}",)

    def running(self) -> bool:
        """Whether one of this panel's runs is under way."""
        keys = self.cancel_keys()
        return any(t.key in keys for t in self.session.workers.running())

    def cancel(self) -> None:
        """Stop this panel's run; frames already done are kept."""
        for key in self.cancel_keys():
            self.session.workers.cancel(key)

    def _update_cancel(self, _task: object = None) -> None:
        """Cancel is enabled while one of the panel's runs is under way."""
        self.cancel_button.setEnabled(self.running())

    def _say_running(self, index: int) -> None:
        """Say that a run is under way when frame ``index`` has no result yet.

        Not "Not run yet." (or another frame's text) while the run's first
        lights are plotted.
        """
        if index in self.results or self.results.status is not RunStatus.RUNNING:
            return
        self.result_label.setText(
            f"Running: {len(self.results)} light(s) done so far, plotted as they land; "
            f"frame {index + 1} shows its result once it is done."
        )

    def _say_cancelled(self) -> None:
        """Say that Cancel stopped the run and what it kept (not "Not run yet.")."""
        index = self.session.current
        text = (
            f"Cancelled: the lights finished before it are kept ({len(self.results)} shown); "
            f'"{self.run_all_button.text()}" again runs the rest.'
        )
        if index in self.results:
            self.show_result(index, self.results[index])
            text += "\n\n" + self.result_label.text()
        self.result_label.setText(text)

    def _on_frame_changed(self, index: int) -> None:
        self.plot.mark_frame(index)
        if index in self.results:
            self.show_result(index, self.results[index])
        else:
            self._say_running(index)
        self.redraw_overlays()  # also empties them when the frame has no result
        if index not in self.results and self.redo_box.isChecked():
            self.run_current()

    def _run_clicked(self, run: Callable[[], Task | None]) -> None:
        """A run button: with no night open it says so (the click did nothing, silently)."""
        if self.session.sequence is None:
            self.result_label.setText(NO_FRAMES_OPEN)
            return
        run()

    def run_current(self) -> Task | None:
        """Run the step on the current frame in a worker."""
        seq, index = self.session.sequence, self.session.current
        if seq is None or index < 0 or not self.prepare_run():
            return None
        # The class's function, not a method bound to the panel: the worker
        # gets the snapshot below and nothing of the widget.
        run, params, context = type(self).run, self.params(), self.run_context()

        def work(state: StepState) -> Any:
            return run(FrameInputs(seq.data(index), seq[index], context), params, state)

        task = self.session.workers.submit(
            work, name=f"{self.title} on frame {index + 1}", key=f"panel:{self.step}"
        )
        ticket = self._follow(task, [index])
        task.result.connect(lambda r, i=index: self._store(i, r, ticket))
        return task

    def run_all(self) -> Task | None:
        """Run the step on every light (in parallel on the frame executor).

        Bias, dark and flat frames are left out: the per-frame steps measure
        the sky, and their numbers would only spoil the night's plots.
        """
        seq = self.session.sequence
        if seq is None or not len(seq) or not self.prepare_run():
            return None
        run, params, context = type(self).run, self.params(), self.run_context()
        executor = self.session.workers.frame_executor
        lights = self.session.light_indices()
        land, ticket = self.landing.land, self.results.begin_run(lights)

        def work(state: StepState) -> dict[int, Any]:
            tick = state.counter(len(lights), "lights")
            done: dict[int, Any] = {}

            def one(i: int) -> Any:
                state.check()
                # Cancel reaches the frame's own work (a running solve-field is killed).
                r = run(FrameInputs(seq.data(i), seq[i], context), params, state.silent())
                done[i] = r
                # Shown as it lands, not only when the last light is done.
                land(ticket, i, r)
                tick()
                return r

            try:
                return dict(zip(lights, executor.map(one, lights), strict=True))
            except Cancelled as exc:
                exc.partial = {i: done[i] for i in lights if i in done}
                raise

        task = self.session.workers.submit(
            work, name=f"{self.title} on all lights", key=f"panel:{self.step}"
        )
        self._follow(task, lights, cancel=False, ticket=ticket)
        task.result.connect(lambda r: self._store_all(r, ticket))
        # The lights finished before Cancel are shown (their products are kept).
        task.cancelled.connect(
            lambda t=task: self._store_run(t.partial or {}, False, ticket, cancelled=True)
        )
        return task

    def _follow(
        self, task: Task, frames: list[int], cancel: bool = True, ticket: RunTicket | None = None
    ) -> RunTicket:
        """Start a run of the step's results for ``task``: its failure (and Cancel) end it.

        ``cancel``: whether a cancelled task ends the run with nothing (a panel
        that keeps what a cancelled run finished says so itself). ``ticket``:
        the run's, when begun before the task (a run that shows its frames as
        they land writes with it from the worker).
        """
        ticket = ticket if ticket is not None else self.results.begin_run(frames)
        task.error.connect(lambda info: self._run_failed(ticket, info))
        if cancel:
            task.cancelled.connect(lambda: self.results.cancel(ticket, {}))
        return ticket

    def _run_failed(self, ticket: RunTicket, info: ErrorInfo) -> None:
        self.results.fail(ticket, info.text())

    def _store(self, index: int, result: Any, ticket: RunTicket | None = None) -> None:
        """Keep one frame's result (dropped when ``ticket``'s run is no longer the latest)."""
        self.results.finish(ticket, {index: result})

    def _store_run(
        self,
        results: dict[int, Any],
        everything: bool,
        ticket: RunTicket | None = None,
        cancelled: bool = False,
    ) -> None:
        """Keep a batch run's results; a run on every frame is recorded in the project.

        The project's record of a run needs at least one number (a median),
        so a run where no frame gave one is kept frame by frame. ``cancelled``:
        what a run stopped by Cancel finished.
        """
        measured = [r for r in results.values() if np.isfinite(self.summary(r))]
        if cancelled:
            self.results.cancel(ticket, results)
        elif everything and measured:
            self._store_all(results, ticket)
        else:
            self.results.finish(ticket, results)

    def run_summary(self, results: dict[int, Any]) -> str:
        """A few lines about a run on all frames, shown above the current frame's text."""
        return ""

    def _store_all(self, results: dict[int, Any], ticket: RunTicket | None = None) -> None:
        values = [self.summary(results[i]) for i in sorted(results)]
        measured = [v for v in values if np.isfinite(v)]
        median = float(np.median(measured)) if measured else float("nan")
        summary = RunSummary(len(results), median, self.run_summary(results))
        if not self.results.finish(ticket, results, summary):
            return  # a newer run, or another night, since
        # The project's record of a run needs a number: a run where no frame
        # gave one (nothing solved offline) is kept frame by frame only.
        if measured:
            self.session.project.record_result(
                self.step, n_frames=summary.n_frames, median=summary.median
            )
        self.step_finished.emit(self.step)

    def _update_plot(self) -> None:
        seq = self.session.sequence
        if seq is None:
            return
        # The night's plots show the lights (a result of a calibration frame,
        # run on it by hand, stays in the panel's text only).
        results = self.results.snapshot()
        idx = [i for i in sorted(results) if seq[i].type == "light"] or sorted(results)
        x, label = night_axis([seq[i].jd for i in idx], idx, self.session.time_origin())
        self.plot.plot.setLabel("bottom", label)
        self.plot.set_series(x, [self.summary(results[i]) for i in idx], frames=idx)
        self.plot.mark_frame(self.session.current)
