"""What the Light curve panel's parts share: its state and the calls one part makes on another.

The panel is put together from mixins (the points, the period search, the
reports), each in its own module. :class:`LightCurveState` is their common
base: a step panel with the curve's state declared, so each part is
type-checked against what the panel provides (the methods are declared for
the checker only; the panel defines them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox

from fluxion.core.targets.inputs import TargetFrames

from ..workers import Task
from .base import StepPanel
from .lightcurve_model import LightCurveRun
from .lightcurve_plots import PeriodogramPlot

__all__ = ["LightCurveState"]


class LightCurveState(StepPanel):
    """A step panel with the Light curve panel's state (see the module docstring)."""

    # The latest curve. It takes the name of the step's pure function, which this
    # panel never calls (it measures a whole night at once, in run_current), hence
    # the one ignore: renaming it would change the panel's public attribute.
    run: LightCurveRun | None  # type: ignore[assignment]
    frames: TargetFrames | None
    rows: np.ndarray
    target_box: QComboBox
    period_box: QDoubleSpinBox
    periodogram: PeriodogramPlot

    if TYPE_CHECKING:

        def _target_doc(self) -> dict[str, Any] | None: ...

        def excluded(self) -> np.ndarray: ...

        def _update_curve(self) -> None: ...

        def _prepare_frames(self) -> Task | None: ...

        def refresh_targets(self) -> None: ...

        def noisy_note(self) -> str: ...

        def show_run_settings(self) -> None: ...

        def uses_run_stars(self) -> bool: ...

        def run_differences(self) -> list[str]: ...

        def show_curve_channels(self, table: Any) -> None: ...
