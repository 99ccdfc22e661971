"""A step's results model (:mod:`fluxion.core.project.results`) as a Qt signal.

The model calls its listeners in the thread that changed it; a worker that
writes results must not touch widgets. :class:`ResultsSignal` re-emits each
change as :attr:`ResultsSignal.changed`: Qt delivers it at once to receivers
on the thread that changed the model (the GUI thread's own writes redraw
before the write returns) and queues it to the GUI thread from a worker.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from fluxion.core.project.results import ResultsChange, StepResults

__all__ = ["ResultsSignal"]


class ResultsSignal(QObject):
    """Emits :attr:`changed` (a :class:`ResultsChange`) for every change of ``model``.

    It stops listening when it is deleted (with its Qt parent).
    """

    changed = Signal(object)

    def __init__(self, model: StepResults, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._stop = model.subscribe(self._relay)
        self.destroyed.connect(self._stop)

    def _relay(self, change: ResultsChange) -> None:
        try:
            self.changed.emit(change)
        except RuntimeError:
            # Deleted on the GUI thread while a worker wrote the model.
            self._stop()
