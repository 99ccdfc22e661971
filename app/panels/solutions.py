"""New plate solutions, for the panels whose lights were prepared before them.

The Targets and Light curve panels prepare the lights once (their WCS, the
registration): a fixed target given by RA/Dec, or an ephemeris, is placed on
the lights only through their solutions. Lights prepared before Astrometry
solved them are prepared again when it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

from fluxion.core.project.results import ResultsChange

from ..results_signal import ResultsSignal

__all__ = ["follow_solutions"]


def follow_solutions(session: Any, owner: QObject, slot: Callable[[], None]) -> None:
    """Call ``slot`` on the GUI thread when a run solves lights (not when they are read back).

    The relay is a child of ``owner``: it goes with it.
    """
    results = getattr(session, "results", None)
    if results is None:
        return
    solutions = results.of("astrometry")
    relay = ResultsSignal(solutions, owner)

    def changed(change: ResultsChange) -> None:
        if change.restored:
            return  # read with the project: the lights are prepared with them
        if any(getattr(solutions.get(i), "solved", False) for i in change.frames):
            slot()

    relay.changed.connect(changed)
