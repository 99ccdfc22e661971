"""Running one piece of work per frame on an executor, a few frames in flight at a time.

The executor may be a thread pool, a process pool or a dask.distributed
client (its ``get_executor()``), so the work function and its arguments must
be picklable, and nothing that holds a lock (a StepState, a ProductStore)
travels to the workers: results come back to the calling thread, which
records them. Only ``window`` frames are in flight, so the pixels in memory
do not grow with the night, and a cancel takes effect after at most that many
frames.
A worker process killed midway costs its own frame only (see :func:`run_frames`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import BrokenExecutor, Executor, Future
from dataclasses import dataclass
from typing import Any, TypeVar

from ..io.frames import FrameInfo
from ..runtime.pipeline import Cancelled, StepState
from ..runtime.processes import WorkerLost

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

    A worker process that dies (killed, out of memory) fails the frame it was
    running, with a :class:`WorkerLost` to ``on_result``; the frames that were
    only in flight beside it run again on a new pool when the executor can
    start one (:class:`~fluxion.core.runtime.processes.WorkerPool`), else
    :class:`WorkerLost` is raised once the frames finished are recorded.
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
    queue: deque[T] = deque(todo)
    flight: deque[tuple[T, Future]] = deque()
    tries: dict[int, int] = {}
    cancelled = False

    def settle(item: T, result: Any) -> None:
        on_result(item, result)
        if tick is not None:
            try:
                tick()
            except Cancelled:
                pass  # noticed by the loop's own check

    try:
        while queue or flight:
            while queue and len(flight) < width:
                if state is not None and state.cancelled:
                    cancelled = True
                    queue.clear()
                    break
                item = queue.popleft()
                try:
                    flight.append((item, executor.submit(work, *args_of(item))))
                except BrokenExecutor:
                    # A worker died before the frames in flight said so: they
                    # tell which frame it was; with none in flight it was idle.
                    queue.appendleft(item)
                    if not flight:
                        _restart(executor)
                    break
            if not flight:
                break
            item, fut = flight.popleft()
            try:
                result = fut.result()
            except BrokenExecutor:
                _broken(executor, item, fut, flight, queue, tries, settle)
                continue
            except Exception as exc:  # raised in the worker: that frame failed
                result = exc
            settle(item, result)
    finally:
        for _, fut in flight:
            fut.cancel()
    if cancelled or (state is not None and state.cancelled):
        raise Cancelled("cancelled by the user")


# How often a frame caught in a broken pool (its worker alive) runs again.
_RETRIES = 2


def _broken(
    executor: Executor,
    item: Any,
    fut: Future,
    flight: deque,
    queue: deque,
    tries: dict[int, int],
    settle: Callable[[Any, Any], None],
) -> None:
    """A worker process died: its frame fails by name, the others in flight run again.

    Only a pool that can replace itself (:class:`WorkerPool`) goes on; any
    other stops cleanly, the frames finished so far recorded
    (:class:`WorkerLost` after the frames in flight are settled).
    """
    caught = [(item, fut), *flight]
    flight.clear()
    if getattr(executor, "restart", None) is None:
        for it, _ in caught:
            settle(it, WorkerLost("a worker process stopped: the pool cannot go on"))
        queue.clear()
    lost = _restart(executor)
    again = []
    for it, f in caught:
        if f in lost:
            code = lost[f]
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            log.warning("the worker process running a frame stopped (%s)", how)
            settle(it, WorkerLost(f"its worker process stopped ({how}: killed or out of memory?)"))
        elif f.done() and not f.cancelled() and not isinstance(f.exception(), BrokenExecutor):
            settle(it, f.exception() or f.result())
        elif tries.get(id(it), 0) >= _RETRIES:
            settle(it, WorkerLost("its worker process stopped (killed or out of memory?)"))
        else:
            tries[id(it)] = tries.get(id(it), 0) + 1
            again.append(it)
    queue.extendleft(reversed(again))


def _restart(executor: Executor) -> dict[Future, int]:
    """A new pool in place of the broken one: the futures whose worker died, with its exit code.

    :class:`WorkerLost` when the executor cannot start a new pool.
    """
    restart = getattr(executor, "restart", None)
    if restart is None:
        raise WorkerLost(
            "a worker process stopped and the pool cannot go on; finished frames are kept"
        )
    return restart().lost
