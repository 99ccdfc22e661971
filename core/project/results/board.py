"""Every step's results model for one session, found by step name."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .model import StepResults

__all__ = ["SessionResults"]


class SessionResults:
    """One :class:`StepResults` per step, made on first use (thread-safe).

    The panel of a step writes its model; the viewer, the frame table and the
    other panels read it from here by the step's name.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[str, StepResults[Any]] = {}

    def of(
        self, step: str, error_of: Callable[[Any], str | None] | None = None
    ) -> StepResults[Any]:
        """The results model of ``step`` (made now, with ``error_of``, if it is the first ask)."""
        with self._lock:
            model = self._steps.get(step)
            if model is None:
                model = self._steps[step] = StepResults(step, error_of)
            elif error_of is not None and model.error_of is None:
                model.error_of = error_of
            return model

    def steps(self) -> list[str]:
        """The steps that have a model, in the order they were first asked for."""
        with self._lock:
            return list(self._steps)

    def clear(self) -> None:
        """Forget every step's results (a new night)."""
        with self._lock:
            models = list(self._steps.values())
        for model in models:
            model.clear()
