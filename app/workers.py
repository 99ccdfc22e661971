"""The one worker abstraction: run a core callable on a thread pool, report through Qt signals.

``pool.submit(fn, *args, name=..., key=...)`` calls ``fn(*args, state=state)``
on a worker thread. The returned :class:`Task` emits ``started``,
``progress(fraction, message)``, then exactly one of ``result(value)``,
``error(ErrorInfo)`` or ``cancelled()``, then ``finished()``; every signal is
delivered on the GUI thread. Submitting again with the same ``key`` (the user
clicked again) cancels the older task and bumps a generation counter: the
older task's outcome is dropped, so a slow stale result never overwrites a
fresh one.

Per-frame parallel work inside a task uses :attr:`WorkerPool.frame_executor`,
a separate pool, so a task waiting on its frames never starves the task pool.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import shiboken6
from PySide6.QtCore import QObject, Signal, Slot

from fluxion.core.runtime.network import OFFLINE_HELP, ServiceError, network_failure
from fluxion.core.runtime.pipeline import Cancelled, StepState
from fluxion.widgets.qt_compat import make_singletons_immortal

__all__ = ["ErrorInfo", "describe_error", "Task", "WorkerPool"]

log = logging.getLogger("fluxion.app.workers")

make_singletons_immortal()  # PySide6 6.12 drops references to None and True (see qt_compat)

# Progress signals at most this often: a core loop may report per row.
_PROGRESS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class ErrorInfo:
    """An error as shown to the user: what failed, why, and what to do next."""

    task: str
    message: str
    hint: str
    details: str = ""

    def text(self) -> str:
        """One paragraph for the error bar."""
        return f"{self.task} failed: {self.message}. {self.hint}"


def describe_error(task: str, exc: BaseException) -> ErrorInfo:
    """Turn an exception from core into a message with a next step for the user.

    An exception that knows the next step carries it as ``hint`` (a str).
    """
    details = "".join(traceback.format_exception(exc))
    message = str(exc) or type(exc).__name__
    failure = exc.failure if isinstance(exc, ServiceError) else network_failure(exc)
    if failure is not None and failure.unreachable:
        # The network first: whatever failed after it did so for want of it.
        if not isinstance(exc, ServiceError):
            message = f"a service {failure.text}: {message}"
        hint = f"Check the network connection, or try again later. {OFFLINE_HELP}"
    elif isinstance(exc, ServiceError):
        hint = (
            "The catalog or service gave no usable answer: check its name or file, "
            "choose another one, or try again later."
        )
    elif isinstance(exc, FileNotFoundError):
        hint = "Check that the file or folder still exists, then try again."
    elif isinstance(exc, PermissionError):
        hint = "Choose a folder you can write to, or fix its permissions."
    elif isinstance(exc, MemoryError):
        hint = "Close other programs or work on fewer or smaller frames."
    elif isinstance(exc, OSError):
        hint = "Check the disk and the file (is it a complete FITS file?), then try again."
    elif isinstance(exc, ValueError):
        hint = "Check the input and this step's parameters, then run it again."
    else:
        hint = "This looks like a bug in Fluxion; the log panel has the details to report."
    own = getattr(exc, "hint", None)
    if isinstance(own, str) and own and not (failure is not None and failure.unreachable):
        hint = own
    return ErrorInfo(task=task, message=message, hint=hint, details=details)


class Task(QObject):
    """One submitted call. Signals arrive on the GUI thread.

    Signals
    -------
    started()
    progress(float, str)
        Fraction done (0..1) and a message.
    result(object)
        The callable's return value (not emitted when the task went stale).
    error(object)
        An :class:`ErrorInfo`.
    cancelled()
    finished()
        Always last, also for stale tasks.
    """

    started = Signal()
    progress = Signal(float, str)
    result = Signal(object)
    error = Signal(object)
    cancelled = Signal()
    finished = Signal()
    # internal, emitted on the worker thread and connected here at construction so
    # nothing is lost before the caller connects; re-emitted on the GUI thread
    _outcome = Signal(str, object)
    _raw_progress = Signal(float, str)

    def __init__(
        self, pool: WorkerPool, name: str, key: str | None, generation: int, quiet: bool
    ) -> None:
        # No Qt parent: a window closed while the task runs deletes its pool and
        # every child of it, and the worker thread would then signal through a
        # freed object (a segfault). The pool's table and the worker hold the
        # task; it is deleted once its outcome has been delivered.
        super().__init__()
        self.name = name
        self.key = key
        self.generation = generation
        self.quiet = quiet
        self.fraction = 0.0
        self.message = ""
        self.done = False
        #: What a cancelled callable finished before it stopped (:class:`Cancelled`).
        self.partial: object = None
        self.state = StepState(self._report)
        self._pool = pool
        self._last_emit = 0.0
        self._outcome.connect(self._on_outcome)
        self._raw_progress.connect(self._on_progress)

    def cancel(self) -> None:
        """Ask the callable to stop at its next ``state.check()``."""
        self.state.cancel()

    @property
    def stale(self) -> bool:
        """True when a newer task with the same key was submitted."""
        return self._pool.is_stale(self)

    def _report(self, fraction: float, message: str) -> None:
        # runs on the worker thread; Qt queues the signal to the GUI thread
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_emit >= _PROGRESS_INTERVAL_S:
            self._last_emit = now
            self._raw_progress.emit(float(fraction), str(message))

    @Slot(float, str)
    def _on_progress(self, fraction: float, message: str) -> None:
        if not self.done and not self.stale:
            self.fraction, self.message = fraction, message
            self.progress.emit(fraction, message)

    @Slot(str, object)
    def _on_outcome(self, kind: str, value: object) -> None:
        if not shiboken6.isValid(self._pool):
            # The window and its pool are gone; nobody is left to tell.
            self.deleteLater()
            return
        if kind == "started":
            self.started.emit()
            return
        self.done = True
        if not self.stale:
            if kind == "result":
                self.result.emit(value)
            elif kind == "cancelled":
                self.cancelled.emit()
            else:
                value = cast(ErrorInfo, value)  # what the worker sends with "error"
                log.error("%s\n%s", value.text(), value.details)
                self.error.emit(value)
                self._pool.error.emit(value)
        self.finished.emit()
        self._pool._task_done(self)


class WorkerPool(QObject):
    """Thread pool for core callables with progress, cancel and stale-result dropping.

    Parameters
    ----------
    max_tasks : int
        Tasks running at once (more wait in the queue).

    Signals
    -------
    task_started(object)
        A :class:`Task` started (not emitted for ``quiet`` ones).
    task_finished(object)
    error(object)
        Every task's :class:`ErrorInfo`: the one place the window shows errors.
    """

    task_started = Signal(object)
    task_finished = Signal(object)
    error = Signal(object)

    def __init__(self, max_tasks: int = 4, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_tasks, thread_name_prefix="fluxion-task")
        self.frame_executor: Executor = ThreadPoolExecutor(
            max(os.cpu_count() or 2, 2), thread_name_prefix="fluxion-frame"
        )
        self._generations: dict[str, int] = {}
        self._running: dict[int, Task] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str,
        key: str | None = None,
        pass_state: bool = True,
        quiet: bool = False,
        **kwargs: Any,
    ) -> Task:
        """Run ``fn(*args, state=task.state, **kwargs)`` on a worker thread.

        Parameters
        ----------
        name : str
            What the user sees ("Loading frame 3", "Detecting sources").
        key : str, optional
            Tasks with the same key replace each other: the older is cancelled
            and its outcome dropped.
        pass_state : bool
            Pass the task's :class:`StepState` as ``state=``.
        quiet : bool
            Not shown in the status bar (prefetching).
        """
        generation = 0
        if key is not None:
            generation = self._generations.get(key, 0) + 1
            self._generations[key] = generation
            for t in list(self._running.values()):
                if t.key == key:
                    t.cancel()
        task = Task(self, name, key, generation, quiet)
        if pass_state:
            kwargs["state"] = task.state
        self._running[id(task)] = task
        if not quiet:
            self.task_started.emit(task)
        self._executor.submit(self._run, task, fn, args, kwargs)
        return task

    @staticmethod
    def _run(task: Task, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            task._outcome.emit("started", None)
            task.state.check()
            value = fn(*args, **kwargs)
        except Cancelled as exc:
            task.partial = exc.partial  # read on the GUI thread once ``cancelled`` arrives
            task._outcome.emit("cancelled", None)
        except BaseException as exc:  # noqa: BLE001 - every failure reaches the user
            task._outcome.emit("error", describe_error(task.name, exc))
        else:
            task._outcome.emit("result", value)

    def is_stale(self, task: Task) -> bool:
        """Whether a newer task replaced ``task``."""
        return task.key is not None and self._generations.get(task.key, 0) != task.generation

    def _task_done(self, task: Task) -> None:
        self._running.pop(id(task), None)
        if not task.quiet:
            self.task_finished.emit(task)
        task.deleteLater()

    def running(self, *, include_quiet: bool = False) -> list[Task]:
        """Tasks submitted and not finished, oldest first."""
        return [t for t in self._running.values() if include_quiet or not t.quiet]

    def cancel(self, key: str) -> None:
        """Cancel the running tasks with ``key``."""
        for t in list(self._running.values()):
            if t.key == key:
                t.cancel()

    def cancel_all(self) -> None:
        """Cancel every running task."""
        for t in list(self._running.values()):
            t.cancel()

    def shutdown(self, wait: bool = True) -> None:
        """Cancel everything and stop the threads (call when the window closes)."""
        self.cancel_all()
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self.frame_executor.shutdown(wait=wait, cancel_futures=True)
