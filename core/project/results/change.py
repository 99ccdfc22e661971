"""What a step's results model tells its listeners: the run's status and what changed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ResultsChange", "RunStatus", "RunSummary"]


class RunStatus(Enum):
    """Where a step's latest run is."""

    IDLE = "idle"
    """Nothing run since the night was opened (results restored from a project count as done)."""
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    """Stopped by the user; the frames finished before are kept."""
    FAILED = "failed"
    """The run as a whole failed (its message is :attr:`StepResults.message`)."""


@dataclass(frozen=True)
class RunSummary:
    """What a run on every light amounted to, as the project records it.

    Attributes
    ----------
    n_frames : int
        Frames the run covered.
    median : float
        Median of the step's plotted quantity over the frames that gave one
        (NaN when none did: nothing solved offline).
    text : str
        A few lines for the user ('' when the step has nothing to say).
    """

    n_frames: int
    median: float
    text: str = ""


@dataclass(frozen=True)
class ResultsChange:
    """One change of a step's results, as its listeners get it.

    Attributes
    ----------
    step : str
        The step whose results changed.
    frames : frozenset of int
        Frame indices whose result was added, replaced or removed (empty when
        only the status or summary changed).
    status : RunStatus
        The status after the change.
    cleared : bool
        Every result went (a new night, or :meth:`StepResults.clear`).
    finished : bool
        The change ends a run on every light (its summary is set).
    restored : bool
        The results were read back from the project, not computed now.
    """

    step: str
    frames: frozenset[int]
    status: RunStatus
    cleared: bool = False
    finished: bool = False
    restored: bool = False
