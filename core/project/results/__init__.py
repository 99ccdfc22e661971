"""What each step produced for the session: a Qt-free, thread-safe results model per step.

A :class:`StepResults` holds one step's per-frame results, the summary of its
last run on every light, the run's status and the frames that failed, and
tells its listeners (plain callables) what changed. The window adapts those
calls to Qt signals; the engine and the tests use the model as it is.
:class:`SessionResults` keeps one model per step, so the viewer and the other
panels read a step's results from the same object its panel writes.
"""

from __future__ import annotations

from .board import SessionResults
from .change import ResultsChange, RunStatus, RunSummary
from .model import RunTicket, StepResults

__all__ = ["ResultsChange", "RunStatus", "RunSummary", "RunTicket", "SessionResults", "StepResults"]
