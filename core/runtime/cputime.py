"""CPU seconds by phase of a run: what runs on one core and what on the workers.

With two cores a run is at best ``S + P / 2`` long for ``S`` CPU seconds that
only one core can do (the masters, the night's registration, its light curve,
recording what the workers hand back) and ``P`` that the workers share
(Amdahl). A :class:`CpuLedger` adds up the calling process's CPU time by
phase, and the workers' own CPU time (each task measures its thread's,
:func:`task_cpu`), so that a run says its serial fraction ``S / (S + P)``
without a quiet machine to time it on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["CpuLedger", "task_cpu"]


def task_cpu() -> float:
    """CPU seconds of the calling thread so far (a worker thread's or process's own)."""
    return time.thread_time()


@dataclass
class CpuLedger:
    """CPU seconds of the calling process by phase, and of the workers' tasks.

    Attributes
    ----------
    phases : dict of str to float
        Phase name -> CPU seconds of this process (every thread of it) spent in it.
    workers : float
        CPU seconds of the tasks the workers ran (added by :meth:`add_task`).
    in_process : float
        The part of ``workers`` that ran as threads of this process (inside
        ``phases`` as well, and taken out of them by :meth:`serial`).
    """

    phases: dict[str, float] = field(default_factory=dict)
    workers: float = 0.0
    in_process: float = 0.0
    _current: str | None = field(default=None, repr=False)
    _since: float = field(default=0.0, repr=False)

    def lap(self, name: str | None) -> None:
        """From now on count this process's CPU time under ``name`` (None: stop counting).

        The time since the last lap goes to the phase that was running.
        """
        now = time.process_time()
        if self._current is not None:
            self.phases[self._current] = self.phases.get(self._current, 0.0) + now - self._since
        self._current, self._since = name, now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count this process's CPU time in the block under ``name``, then go back."""
        before = self._current
        self.lap(name)
        try:
            yield
        finally:
            self.lap(before)

    def add_task(self, seconds: float, *, here: bool) -> None:
        """A worker's task took ``seconds`` of CPU (``here``: on a thread of this process)."""
        self.workers += seconds
        if here:
            self.in_process += seconds

    def serial(self) -> dict[str, float]:
        """CPU seconds by phase of this process's own work (the workers' threads taken out)."""
        out = dict(self.phases)
        left = self.in_process
        for name in out:  # the workers' threads ran inside the phases that ran them
            take = min(left, out[name])
            if take > 0 and name.startswith("frames"):
                out[name] -= take
                left -= take
        return out

    @property
    def serial_fraction(self) -> float:
        """Serial CPU seconds over all CPU seconds (NaN before any work)."""
        s = sum(self.serial().values())
        total = s + self.workers
        return s / total if total > 0 else float("nan")

    def summary(self) -> dict[str, float]:
        """Phase -> serial CPU seconds, plus ``workers`` (the parallel part)."""
        return {**self.serial(), "workers": self.workers}
