"""Worker processes for per-frame work, safe beside Qt and threads, that survive a killed worker.

Three things make a plain :class:`~concurrent.futures.ProcessPoolExecutor`
unfit to be the command line's default:

- On Linux it forks. Forking a process that runs other threads (Qt's, a
  logging or BLAS thread, pytest's) copies their locks in whatever state
  they were, and a child can hang on one for ever. Here children come from a
  *forkserver* (a clean interpreter started once, which imports the modules
  the work needs once, then forks a worker in a few milliseconds) and from
  *spawn* where there is no forkserver (Windows, and macOS's default).
- Ctrl-C goes to the terminal's whole process group: each child would raise
  KeyboardInterrupt in the middle of a frame. The children here ignore
  SIGINT, so only the parent hears it and stops cleanly (it lets the frames
  in flight finish and keeps them).
- One child killed (``kill -9``, the out-of-memory killer, a crash in a C
  library) breaks the whole pool: every frame in flight fails and nothing
  more can be submitted. :class:`WorkerPool` tells which frame's worker died
  (each child notes the task it runs in shared memory), starts a new pool,
  and the frames that were only caught in the break run again
  (:meth:`WorkerPool.restart`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from .threads import single_thread_worker_process

__all__ = ["Restart", "WorkerLost", "WorkerPool", "worker_context"]

log = logging.getLogger(__name__)


class WorkerLost(RuntimeError):
    """The worker process running a task ended without answering (killed, out of memory...)."""


def worker_context(preload: Sequence[str] = ()) -> BaseContext:
    """The start method for worker processes: a forkserver where there is one, else spawn.

    ``preload`` names modules the forkserver imports once, before it forks
    any worker, so that each worker starts with them already imported (only
    when this process has not started its forkserver yet).
    """
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        if preload:
            ctx.set_forkserver_preload(list(preload))
        return ctx
    return multiprocessing.get_context("spawn")


# In a child: where it notes the task it runs (pid, ticket) in the pool's shared array.
_SLOTS: Any = None
_SLOT = -1


def _init_worker(slots: Any, preload: Sequence[str]) -> None:
    """A worker's start: deaf to Ctrl-C, one native thread, a slot to note its tasks in."""
    global _SLOTS, _SLOT
    # Ctrl-C is the parent's to handle: it lets this worker finish its frame.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    single_thread_worker_process()
    import os

    with slots.get_lock():
        for k in range(len(slots) // 2):
            if slots[2 * k] == 0:
                slots[2 * k] = os.getpid()
                _SLOTS, _SLOT = slots, k
                break
    for name in preload:  # spawn has no forkserver to import them once
        __import__(name)


def _ready() -> None:
    """Nothing: a first task that makes the pool start a worker."""


def _tracked(ticket: int, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with ``ticket`` noted as this worker's task while it runs."""
    if _SLOTS is not None:
        _SLOTS[2 * _SLOT + 1] = ticket
    try:
        return fn(*args, **kwargs)
    finally:
        if _SLOTS is not None:
            _SLOTS[2 * _SLOT + 1] = 0


@dataclass(frozen=True)
class Restart:
    """What :meth:`WorkerPool.restart` found when the pool broke.

    ``lost`` maps each future whose task was running in a worker that died
    on its own to that worker's exit code (negative: the signal); the other
    futures of the broken pool were caught in the break and may run again.
    """

    lost: dict[Future, int]


class WorkerPool(Executor):
    """A process pool (forkserver or spawn, workers deaf to Ctrl-C) that can replace itself.

    Parameters
    ----------
    workers : int
        Worker processes.
    preload : sequence of str
        Modules every worker needs (imported once by the forkserver).
    warm : bool
        Start every worker now rather than on the first tasks.
    """

    def __init__(self, workers: int, preload: Sequence[str] = (), *, warm: bool = True) -> None:
        if workers < 1:
            raise ValueError(f"a pool needs at least one worker, not {workers}")
        self._max_workers = workers
        self._preload = tuple(preload)
        self._ctx = worker_context(self._preload)
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()
        self._futures: dict[Future, int] = {}
        self.restarts = 0
        self._warm: list[Future] = []
        self._start()
        self._warming: threading.Thread | None = None
        if warm:
            # The workers start (and import what the work needs) while the
            # caller does its own serial work, not when the first frame comes.
            # From a thread: starting a worker waits for its forkserver to
            # finish importing the preload (seconds), and the caller would
            # otherwise wait there before its own imports and scan.
            self._warming = threading.Thread(target=self._start_workers, daemon=True)
            self._warming.start()

    def _start_workers(self) -> None:
        try:
            self._warm = [self._pool.submit(_ready) for _ in range(self._max_workers)]
        except (RuntimeError, BrokenProcessPool, OSError) as exc:
            # Shut down or broken meanwhile: the next submit says so to the caller.
            log.debug("worker processes not started ahead: %s", exc)

    def wait_started(self) -> None:
        """Block until every worker process has started (its forkserver's imports done).

        A pool made with ``warm`` starts its workers in the background; work
        submitted before then simply waits for them. Benchmarks call this to
        time the work, not the interpreters' start.
        """
        if self._warming is not None:
            self._warming.join()
        for future in self._warm:
            with contextlib.suppress(Exception):
                future.result()

    def _start(self) -> None:
        # Two slots a worker: a pool only replaces workers that died, and then all of them.
        self._slots = self._ctx.Array("q", 4 * self._max_workers)
        self._pool = ProcessPoolExecutor(
            self._max_workers, mp_context=self._ctx, initializer=_init_worker,
            initargs=(self._slots, self._preload),
        )  # fmt: skip

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` in a worker process."""
        with self._lock:
            ticket = next(self._tickets)
            future = self._pool.submit(_tracked, ticket, fn, *args, **kwargs)
            self._futures[future] = ticket
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future) -> None:
        # Kept while pending only; a broken pool's futures stay for restart() to sort.
        if future.cancelled() or not isinstance(future.exception(), BrokenProcessPool):
            with self._lock:
                self._futures.pop(future, None)

    def restart(self) -> Restart:
        """Replace a broken pool with a new one; which of its futures' workers died.

        A task is lost when the worker running it ended on its own (its exit
        code is not the pool's own termination of the survivors).
        """
        with self._lock:
            old, slots, futures = self._pool, self._slots, dict(self._futures)
            self._futures.clear()
            processes = dict(getattr(old, "_processes", None) or {})
            running = {int(slots[2 * k]): int(slots[2 * k + 1]) for k in range(len(slots) // 2)}
            old.shutdown(wait=True, cancel_futures=True)
            by_ticket = {t: f for f, t in futures.items()}
            lost: dict[Future, int] = {}
            for pid, process in processes.items():
                code = process.exitcode
                ticket = running.get(int(pid), 0)
                # The pool terminates (SIGTERM) the workers that were still
                # alive when one died: those did not die on their own.
                if code not in (None, 0, -signal.SIGTERM) and ticket in by_ticket:
                    lost[by_ticket[ticket]] = int(code)
            self.restarts += 1
            log.warning(
                "a worker process stopped (exit code %s); a new pool of %d started",
                ", ".join(str(p.exitcode) for p in processes.values()) or "?",
                self._max_workers,
            )
            self._start()
        return Restart(lost)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers (after their tasks when ``wait``)."""
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Stop the workers now, their tasks unfinished (a second Ctrl-C)."""
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        if exc_type is not None:
            # A second Ctrl-C, or a run that failed: nothing will record what
            # the workers are still doing (a cancel settles its frames before
            # it raises), so they are not waited for.
            self.terminate()
            return None
        return super().__exit__(exc_type, exc, tb)
