"""Run > Every step on all lights: the night's per-light steps one after the other.

An observer who opens a night wants its photometry, not five buttons pressed in
the right order with a wait between each. This runs each step panel's own
"Run on all lights" in turn (Calibration, Detection, Astrometry, Photometry,
Zero point), so every step keeps its products, its plots and its Cancel, and
the panel of the step under way is brought to the front. The next step starts
when the previous one's results have landed (its task's ``result``, after the
panel's own handler). A step that fails or is cancelled stops the chain and the
status bar says where; the lights done before it are kept, and running again
goes on from the products already made.

Run > Stop the steps cancels the running step's task exactly as the status
bar's Cancel does (:meth:`Task.cancel`), and the chain reads that task's cancel
flag whichever of the two set it: a step whose lights in flight all finish
after the cancel lands a result, and no further step starts after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from .panels.base import StepPanel
from .workers import ErrorInfo, Task

__all__ = ["NIGHT_STEPS", "NightSteps"]

#: The per-light steps, in the order each needs the one before.
NIGHT_STEPS = ("calibration", "detection", "astrometry", "photometry", "zeropoint")

#: What a light's result must hold beyond no error: a solution, a zero point.
_MADE: dict[str, Callable[[Any], bool]] = {
    "astrometry": lambda r: bool(getattr(r, "solved", False)),
    "zeropoint": lambda r: bool(getattr(getattr(r, "result", None), "calibrated", False)),
}


class NightSteps(QObject):
    """Runs the step panels' "Run on all lights" one after the other.

    Parameters
    ----------
    panels : sequence of StepPanel
        The window's step panels; those of :data:`NIGHT_STEPS` are run, in
        that order (a step without a panel is passed by).
    show_step : callable
        ``show_step(title)`` brings a step's panel to the front.
    say : callable
        ``say(text)`` shows a message in the status bar.
    parent : QObject, optional

    Signals
    -------
    running_changed(bool)
        A chain started or ended (finished, failed or cancelled).
    """

    running_changed = Signal(bool)

    def __init__(
        self,
        panels: Sequence[StepPanel],
        show_step: Callable[[str], None],
        say: Callable[[str], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        by_step = {p.step: p for p in panels}
        self.steps = [by_step[s] for s in NIGHT_STEPS if s in by_step]
        self._show_step, self._say = show_step, say
        self._queue: list[StepPanel] = []
        self._task: Task | None = None
        self._panel: StepPanel | None = None

    @property
    def running(self) -> bool:
        """Whether a chain is under way."""
        return self._panel is not None

    def start(self) -> bool:
        """Start the chain at its first step; False when one is already running."""
        if self.running or not self.steps:
            return False
        self._queue = list(self.steps)
        self.running_changed.emit(True)
        self._next()
        return True

    def stop(self) -> None:
        """Cancel the step under way, as the status bar's Cancel does; the chain ends
        when its task says it stopped (cancelled, or done with what it had begun)."""
        if self._task is not None:
            self._task.cancel()

    def _next(self) -> None:
        if not self._queue:
            self._end(self._outcome())
            return
        panel = self._panel = self._queue.pop(0)
        self._show_step(panel.title)
        task = panel.run_all()
        if task is None:
            self._end(
                f"Stopped before {panel.title}: it did not start (open a night, or see "
                "its panel for what it needs)."
            )
            return
        self._task = task
        self._say(f"{panel.title}: running on all lights ({len(self.steps) - len(self._queue)} "
                  f"of {len(self.steps)} steps).")  # fmt: skip
        # After the panel's own handlers (connected in run_all): its results have landed.
        task.result.connect(lambda _r, t=task: self._done(t))
        task.error.connect(lambda info, t=task: self._failed(t, info))
        task.cancelled.connect(lambda t=task: self._cancelled(t))

    def _outcome(self) -> str:
        """What the chain did: every step on every light, or where lights lack a result.

        A step that ran but measured nothing on some lights (no solution offline,
        no catalogue for the zero point) is not an error of the chain; it is said
        here, so that "done" does not hide it.
        """
        short = []
        for panel in self.steps:
            results = panel.results.snapshot()
            made = _MADE.get(panel.step, lambda _r: True)
            bad = sum(1 for r in results.values() if type(panel).error_of(r) or not made(r))
            if bad:
                short.append(f"{panel.title} {len(results) - bad} of {len(results)}")
        names = ", ".join(p.title for p in self.steps)
        if not short:
            return f"Every step done on all lights ({names})."
        return (
            f"Every step run on all lights ({names}); lights with a result: "
            + "; ".join(short)
            + ". Their panels say why."
        )

    def _current(self, task: Task) -> bool:
        return task is self._task and self._panel is not None

    def _done(self, task: Task) -> None:
        if not self._current(task) or self._panel is None:
            return
        if task.state.cancelled:
            # Cancelled once its last lights were already under way: they are kept,
            # and the chain stops here rather than start the next step.
            self._end(
                f"Stopped after {self._panel.title} (cancelled); the lights done are kept. "
                "Run > Every step again goes on from there."
            )
            return
        self._next()

    def _failed(self, task: Task, info: ErrorInfo) -> None:
        if self._current(task) and self._panel is not None:
            first = info.text().strip().splitlines()[0] if info.text().strip() else "an error"
            self._end(f"Stopped at {self._panel.title}: {first}. The lights done are kept.")

    def _cancelled(self, task: Task) -> None:
        if self._current(task) and self._panel is not None:
            self._end(
                f"Stopped at {self._panel.title} (cancelled); the lights done are kept. "
                "Run > Every step again goes on from there."
            )

    def _end(self, text: str) -> None:
        self._queue, self._task, self._panel = [], None, None
        self._say(text)
        self.running_changed.emit(False)
