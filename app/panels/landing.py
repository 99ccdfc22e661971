"""A run's frames brought into the step's results as a worker finishes them."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from fluxion.core.project.results import RunTicket, StepResults

__all__ = ["FrameLanding"]


class FrameLanding(QObject):
    """Brings a run's frames, as a worker finishes them, into the step's results.

    :meth:`land` is called on the worker; the result is kept on the GUI thread
    (a queued signal), so that the results and what the panel shows of them
    change together, as when the whole run ends.
    """

    _landed = Signal(object, int, object)

    def __init__(self, results: StepResults[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results = results
        self._landed.connect(self._keep)

    def land(self, ticket: RunTicket, index: int, result: Any) -> None:
        """Keep frame ``index``'s ``result`` for ``ticket``'s run (any thread)."""
        try:
            self._landed.emit(ticket, index, result)
        except RuntimeError:  # the panel was closed while the run went on
            pass

    def _keep(self, ticket: RunTicket, index: int, result: Any) -> None:
        self.results.put(index, result, ticket)  # dropped when the run is stale
