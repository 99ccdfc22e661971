"""Running one piece of work per frame on an executor, a few frames in flight at a time.

The executor may be a thread pool, a process pool or a dask.distributed
client (its ``get_executor()``), so the work function and its arguments must
be picklable, and nothing that holds a lock (a StepState, a ProductStore)
travels to the workers: results come back to the calling thread, which
records them. Only ``window`` frames are in flight, so the pixels in memory
do not grow with the night, and a cancel takes effect after at most that many
frames.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from ..io.frames import FrameInfo
from ..runtime.pipeline import Cancelled, StepState

__all__ = ["StepOutcome", "executor_width", "portable", "run_frames"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class StepOutcome:
    """What one step did to one frame.

    Attributes
    ----------
    frame : str
        The frame's file name.
    status : str
        ``'done'`` (computed now), ``'current'`` (the stored product was
        still valid) or ``'failed'``.
    error : str
        Why it failed, or what a finished step could not do for the frame, in
        one line ('' otherwise).
    value : object
        The step's result for the frame (None when failed).
    """

    frame: str
    status: str
    error: str = ""
    value: Any = None

    @property
    def ok(self) -> bool:
        """True unless the frame failed."""
        return self.status != "failed"


def portable(frame: FrameInfo) -> FrameInfo:
    """``frame`` in a form the standard pickle takes (for process pools).

    A FrameInfo keeps its header sources read-only (a mappingproxy), which
    pickle refuses; workers only read them, so a plain dict is as good.
    """
    return dataclasses.replace(frame, sources=dict(frame.sources))


def executor_width(executor: Executor | None) -> int:
    """How many frames the executor works on at once (1 without one)."""
    if executor is None:
        return 1
    for attr in ("_max_workers", "_n_workers"):
        n = getattr(executor, attr, None)
        if isinstance(n, int) and n > 0:
            return n
    client = getattr(executor, "_client", None)  # dask's ClientExecutor
    if client is not None:
        try:
            threads = client.nthreads()
            return max(1, sum(threads.values()))
        except Exception:  # a client that cannot answer still works with a guess
            return 2
    return 2


def run_frames(
    items: Iterable[T],
    work: Callable[..., Any],
    args_of: Callable[[T], tuple],
    on_result: Callable[[T, Any], None],
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
    label: str = "frames",
    window: int | None = None,
) -> None:
    """Call ``work(*args_of(item))`` for every item; ``on_result(item, result)`` in this thread.

    ``on_result`` gets the exception instead of a result when the work raised
    one (other than :class:`Cancelled`); it decides what a failure means.
    Cancelling (``state.check()``) stops submitting, waits for the frames in
    flight (their results are still recorded, so finished work is kept) and
    raises :class:`Cancelled`.
    """
    todo = list(items)
    tick = state.counter(len(todo), label) if state is not None and todo else None
    if executor is None:
        for item in todo:
            if state is not None:
                state.check()
            try:
                result = work(*args_of(item))
            except Cancelled:
                raise
            except Exception as exc:  # one frame's failure is that frame's, not the run's
                result = exc
            on_result(item, result)
            if tick is not None:
                tick()
        return
    width = window if window is not None else 2 * executor_width(executor)
    flight: deque[tuple[T, Future]] = deque()
    cancelled = False

    def settle(item: T, fut: Future) -> None:
        try:
            result = fut.result()
        except Exception as exc:  # raised in the worker: that frame failed
            result = exc
        on_result(item, result)
        if tick is not None:
            try:
                tick()
            except Cancelled:
                pass  # noticed by the loop's own check

    try:
        for item in todo:
            if state is not None and state.cancelled:
                cancelled = True
                break
            while len(flight) >= width:
                settle(*flight.popleft())
            flight.append((item, executor.submit(work, *args_of(item))))
        while flight:
            settle(*flight.popleft())
    finally:
        for _, fut in flight:
            fut.cancel()
    if cancelled or (state is not None and state.cancelled):
        raise Cancelled("cancelled by the user")
