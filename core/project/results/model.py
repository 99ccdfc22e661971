"""One step's results for the session, with change notification (Qt-free, thread-safe).

A panel used to keep its results in a dict on the widget, written on the GUI
thread and read by whoever held the widget. :class:`StepResults` is that dict
made an object of the engine: a mapping of frame index to the step's result,
plus the status of the latest run, its summary, the frames that failed, and
listeners told of every change in the thread that made it (the window turns
the calls into Qt signals, so a change made in a worker reaches the widgets on
the GUI thread).

What a run replaces
-------------------
Each run gets a :class:`RunTicket` from :meth:`StepResults.begin_run`. A run's
results replace the results of the frames it covered and leave the others
(a run on one frame does not forget the night). A newer run, or
:meth:`StepResults.clear` (a new night), makes older tickets stale: what a
stale run delivers is dropped, so a slow run on the previous night or with the
previous parameters never overwrites a newer one. Results restored from the
project fill only the frames this session has no result for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from .change import ResultsChange, RunStatus, RunSummary

__all__ = ["Listener", "RunTicket", "StepResults"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Called with each change, in the thread that made it, after the model's lock is released.
Listener = Callable[[ResultsChange], None]

_MISSING = object()


@dataclass(frozen=True)
class RunTicket:
    """A run's right to write its results (stale once a newer run starts or the model clears)."""

    step: str
    generation: int
    frames: frozenset[int] | None = None
    """The frames the run covers (None: not said)."""


class StepResults(MutableMapping[int, T], Generic[T]):
    """What one step produced for the session, frame by frame (see the module docstring).

    Reading it as a mapping (``results[i]``, ``i in results``, ``len``,
    iteration) reads a consistent moment; :meth:`snapshot` copies one out.
    Assigning or deleting an item is a change outside any run.

    Parameters
    ----------
    step : str
        The step's name (``"detection"``...), carried by every change.
    error_of : callable, optional
        ``fn(result) -> str | None``: the message of a result that stands for
        a failed frame (None for a good one); :attr:`errors` lists them.
    """

    def __init__(self, step: str, error_of: Callable[[T], str | None] | None = None) -> None:
        self.step = step
        self.error_of = error_of
        self._lock = threading.RLock()
        self._frames: dict[int, T] = {}
        self._listeners: list[Listener] = []
        self._generation = 0
        self._status = RunStatus.IDLE
        self._summary: RunSummary | None = None
        self._message = ""
        # Listeners hear changes in the order they were made, even from several
        # threads; re-entrant, so that a listener may write (its change is told
        # before the rest of the listeners hear the one that called it).
        self._notify_lock = threading.RLock()

    # -- reading -------------------------------------------------------------
    def __getitem__(self, index: int) -> T:
        with self._lock:
            return self._frames[index]

    def __iter__(self) -> Iterator[int]:
        with self._lock:
            return iter(list(self._frames))

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    def __contains__(self, index: object) -> bool:
        with self._lock:
            return index in self._frames

    def __repr__(self) -> str:
        with self._lock:
            return f"StepResults({self.step!r}, {len(self._frames)} frames, {self._status.value})"

    def snapshot(self) -> dict[int, T]:
        """A copy of the results by frame index, taken at one moment."""
        with self._lock:
            return dict(self._frames)

    @property
    def status(self) -> RunStatus:
        """Where the latest run is."""
        with self._lock:
            return self._status

    @property
    def summary(self) -> RunSummary | None:
        """The latest finished run on every light (None before one)."""
        with self._lock:
            return self._summary

    @property
    def message(self) -> str:
        """Why the latest run failed ('' unless :attr:`status` is FAILED)."""
        with self._lock:
            return self._message

    @property
    def errors(self) -> dict[int, str]:
        """The frames whose result is a failure, with its message."""
        if self.error_of is None:
            return {}
        error_of = self.error_of
        found = {i: error_of(r) for i, r in self.snapshot().items()}
        return {i: m for i, m in found.items() if m}

    # -- listening -----------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` on every change; returns the call that stops it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _tell(self, change: ResultsChange) -> None:
        # Called without self._lock, so that a listener may read or write the model.
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # one broken listener must not cost the others the change
                log.exception("a listener of the %s results failed", self.step)

    def _change(self, frames: frozenset[int], **facts: bool) -> ResultsChange:
        return ResultsChange(self.step, frames, self._status, **facts)

    # -- runs ----------------------------------------------------------------
    def begin_run(self, frames: Mapping[int, object] | list[int] | None = None) -> RunTicket:
        """Start a run (on ``frames`` when said); earlier runs' tickets become stale."""
        with self._notify_lock:
            with self._lock:
                self._generation += 1
                self._status = RunStatus.RUNNING
                self._message = ""
                ticket = RunTicket(
                    self.step, self._generation, None if frames is None else frozenset(frames)
                )
                change = self._change(frozenset())
            self._tell(change)
        return ticket

    def is_current(self, ticket: RunTicket) -> bool:
        """Whether ``ticket``'s run may still write (no newer run, no clear since)."""
        with self._lock:
            return ticket.generation == self._generation

    def put(self, index: int, result: T, ticket: RunTicket | None = None) -> bool:
        """Keep one frame's result; False (nothing kept) when ``ticket`` is stale."""
        return self.put_many({index: result}, ticket)

    def put_many(self, results: Mapping[int, T], ticket: RunTicket | None = None) -> bool:
        """Keep several frames' results at once (one change); False when ``ticket`` is stale."""
        return self._write(results, ticket, None)

    def finish(
        self,
        ticket: RunTicket | None,
        results: Mapping[int, T],
        summary: RunSummary | None = None,
    ) -> bool:
        """End a run with its results (and, for a run on every light, its summary).

        The status becomes DONE. Returns False, keeping nothing, when
        ``ticket`` is stale.
        """
        return self._write(results, ticket, RunStatus.DONE, summary=summary)

    def cancel(self, ticket: RunTicket | None, partial: Mapping[int, T]) -> bool:
        """A run stopped by the user: the frames it finished are kept, status CANCELLED."""
        return self._write(partial, ticket, RunStatus.CANCELLED)

    def fail(self, ticket: RunTicket | None, message: str) -> bool:
        """A run that failed as a whole: status FAILED with ``message``; results unchanged."""
        return self._write({}, ticket, RunStatus.FAILED, message=message)

    def restore(self, results: Mapping[int, T]) -> frozenset[int]:
        """Results read back from the project: kept only for frames without a result.

        A result this session computed is newer than what the project held.
        Returns the frames filled.
        """
        with self._notify_lock:
            with self._lock:
                filled = frozenset(i for i in results if i not in self._frames)
                for i in filled:
                    self._frames[i] = results[i]
                if filled and self._status is RunStatus.IDLE:
                    self._status = RunStatus.DONE
                change = self._change(filled, restored=True)
            if filled:
                self._tell(change)
        return filled

    def _write(
        self,
        results: Mapping[int, T],
        ticket: RunTicket | None,
        status: RunStatus | None,
        summary: RunSummary | None = None,
        message: str = "",
    ) -> bool:
        with self._notify_lock:
            with self._lock:
                if ticket is not None and ticket.generation != self._generation:
                    return False
                self._frames.update(results)
                if status is not None:
                    self._status = status
                    self._message = message
                if summary is not None:
                    self._summary = summary
                change = self._change(frozenset(results), finished=summary is not None)
            self._tell(change)
        return True

    # -- changes outside a run -----------------------------------------------
    def __setitem__(self, index: int, result: T) -> None:
        self.put(index, result)

    def __delitem__(self, index: int) -> None:
        with self._notify_lock:
            with self._lock:
                del self._frames[index]
                change = self._change(frozenset({index}))
            self._tell(change)

    def pop(self, index: int, default: object = _MISSING) -> object:  # type: ignore[override]
        """Remove frame ``index``'s result and return it (``default`` when there is none).

        (Typed wider than MutableMapping.pop's overloads, hence the ignore.)
        """
        with self._notify_lock:
            with self._lock:
                if index not in self._frames:
                    if default is _MISSING:
                        raise KeyError(index)
                    return default
                result = self._frames.pop(index)
                change = self._change(frozenset({index}))
            self._tell(change)
        return result

    def clear(self) -> None:
        """Forget every result, the summary and the status (a new night).

        Runs under way go stale: what they deliver later is dropped.
        """
        with self._notify_lock:
            with self._lock:
                frames = frozenset(self._frames)
                self._frames.clear()
                self._generation += 1
                self._status = RunStatus.IDLE
                self._summary = None
                self._message = ""
                change = self._change(frames, cleared=True)
            self._tell(change)
