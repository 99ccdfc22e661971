"""Progress reporting and cancellation shared by every long step.

Every long piece of engine work takes a :class:`StepState`. It reports progress
through :meth:`StepState.progress` and calls :meth:`StepState.check` between
units of work, which raises :class:`Cancelled` once a cancel was requested.
Sub-steps get a view of the state mapped onto a sub-range of the fraction
(``state.sub(0.0, 0.6)``), so that nested work reports a single monotonic bar.

The engine never sleeps, prints or polls a GUI: the GUI's worker passes a
callback that forwards progress as a Qt signal, the command line passes one that
writes to the terminal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Cancelled", "StepState", "ProgressCallback"]

ProgressCallback = Callable[[float, str], None]


class Cancelled(Exception):
    """Raised by :meth:`StepState.check` when the user asked to stop.

    ``partial`` carries what was finished before the stop (e.g. the frames
    of a batch already done), for the caller to keep; None when nothing.
    """

    def __init__(self, message: str = "cancelled by the user", partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial


class StepState:
    """Progress and cancellation for one run of a step.

    Parameters
    ----------
    callback : callable, optional
        Called as ``callback(fraction, message)`` with ``fraction`` in [0, 1].
        Exceptions raised by the callback propagate: a broken reporter is a bug.
    cancel_event : threading.Event, optional
        Shared flag; a new one is made when not given. Sub-states share it.
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        *,
        _start: float = 0.0,
        _stop: float = 1.0,
    ) -> None:
        self._callback = callback
        self._cancel = cancel_event if cancel_event is not None else threading.Event()
        self._start = float(_start)
        self._stop = float(_stop)
        self._lock = threading.Lock()
        self.last_fraction = self._start
        self.last_message = ""

    # -- cancellation -------------------------------------------------------
    def cancel(self) -> None:
        """Ask the running work to stop at its next :meth:`check`."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called on this state or any sub-state."""
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if a cancel was requested."""
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    # -- progress -----------------------------------------------------------
    def progress(self, fraction: float, message: str = "") -> None:
        """Report that ``fraction`` (0..1) of this (sub-)step is done.

        The fraction is mapped onto this state's range before it reaches the
        callback. Progress is also a cancellation point.
        """
        f = min(max(float(fraction), 0.0), 1.0)
        overall = self._start + f * (self._stop - self._start)
        with self._lock:
            self.last_fraction = overall
            if message:
                self.last_message = message
        if self._callback is not None:
            self._callback(overall, message)
        self.check()

    def sub(self, start: float, stop: float) -> StepState:
        """A state for a sub-step that covers ``start..stop`` of this one."""
        if not 0.0 <= start <= stop <= 1.0:
            raise ValueError(f"sub-range must satisfy 0 <= start <= stop <= 1, got {start}, {stop}")
        span = self._stop - self._start
        return StepState(
            self._callback,
            self._cancel,
            _start=self._start + start * span,
            _stop=self._start + stop * span,
        )

    def silent(self) -> StepState:
        """A state that shares this one's cancellation and reports no progress
        (for work running in parallel, whose fractions would interleave)."""
        return StepState(None, self._cancel)

    def counter(self, total: int, message: str = "") -> Callable[[], None]:
        """Return a thread-safe ``tick()`` that advances progress by ``1/total``.

        Useful with executors where units finish in any order.
        """
        done = 0
        lock = threading.Lock()
        total = max(int(total), 1)

        def tick() -> None:
            nonlocal done
            with lock:
                done += 1
                n = done
            self.progress(n / total, f"{message} {n}/{total}".strip())

        return tick
