"""Step panels. A new panel is one line in :data:`PANELS`; each opens on its own with
``python -m fluxion.app.panels.<module>`` on the demo sequence."""

from __future__ import annotations

from .astrometry import AstrometryPanel
from .base import StepPanel
from .calibration import CalibrationPanel
from .detection import DetectionPanel
from .field import FieldPanel
from .frame_stats import FrameStatsPanel
from .lightcurve import LightCurvePanel
from .photometry import PhotometryPanel
from .targets import TargetsPanel
from .transients import TransientsPanel
from .transit import TransitPanel
from .zeropoint import ZeroPointPanel

__all__ = ["PANELS", "StepPanel"]

# Order is the order of the tabs in the window's step dock.
PANELS: list[type[StepPanel]] = [
    FrameStatsPanel,
    CalibrationPanel,
    DetectionPanel,
    AstrometryPanel,
    PhotometryPanel,
    ZeroPointPanel,
    TargetsPanel,
    LightCurvePanel,
    TransitPanel,
    FieldPanel,
    TransientsPanel,
]
