"""What the Targets panel's parts share: its state and the calls one part makes on another.

The panel is put together from mixins (sources of targets, tracking, drawing),
each in its own module. :class:`TargetsState` is their common base: a step
panel with the targets' state declared, so each part is type-checked against
what the others provide (the methods are declared for the checker only; the
panel and its parts define them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table
from PySide6.QtWidgets import QCheckBox, QListWidget

from fluxion.core.targets.ephemerides import Ephemeris
from fluxion.core.targets.inputs import TargetFrames

from ..workers import Task
from .base import StepPanel
from .target_model import Target
from .target_overlay import TargetMarks

__all__ = ["TargetsState"]


class TargetsState(StepPanel):
    """A step panel with the Targets panel's state (see the module docstring)."""

    frames: TargetFrames | None
    targets: list[Target]
    predictions: dict[str, Table]
    ephemerides: dict[str, Ephemeris]
    known: Table | None
    marks: TargetMarks | None
    click_list: QListWidget
    target_list: QListWidget
    #: Clicks made before the lights were ready: (target, frame index, x, y, as clicked).
    waiting_clicks: list[tuple[str, int, float, float, bool]]
    mark_box: QCheckBox

    if TYPE_CHECKING:

        @property
        def current_target(self) -> Target | None: ...

        def target(self, name: str) -> Target | None: ...

        def new_target(
            self, kind: str = "moving", name: str = "", *, ra: float | None = None,
            dec: float | None = None, horizons: str = "",
        ) -> Target: ...  # fmt: skip

        def _replace(self, target: Target) -> None: ...

        def prepare_frames(self) -> Task | None: ...

        def _redraw(self) -> None: ...

        def _refit(self, target: Target) -> Task | None: ...

        def horizons_difference(self, name: str) -> np.ndarray: ...

        def _light_of(self, session_index: int) -> int | None: ...

        def _session_index(self, light: int) -> int: ...

        def _save_targets(self) -> None: ...

        def _refresh_lists(self) -> None: ...

        def click_not_marked(self) -> None: ...
