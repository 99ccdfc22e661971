"""Every per-frame step of the chain, imported together.

:mod:`.worker` imports its steps where it runs them, so that a process that
only schedules frames (``fluxion run`` on worker processes) never imports
them. A worker process imports this module once, before its first frame
(:data:`.worker.WORKER_PRELOAD`, the forkserver's preload), and every worker
it starts has them.
"""

from __future__ import annotations

from ..calibration.apply import Calibration
from ..io.ecsv import ecsv_text
from ..io.fitsio import read_wcs

# Imported by photometry's star finding where it runs (the crowded fitter's peak
# significance): here, so that it is the forkserver's once, not each worker's first frame.
from ..photometry.scene.peaks import significance_at
from ..registration.register import register_sources
from ..registration.sources import RegistrationSources, sources_from_table
from .calibrate import calibrate_light, load_masters, write_calibrated
from .detect import detect_frame, load_sources
from .lightcurve import target_row
from .measure import photometry_frame, zeropoint_frame
from .record import FrameRecord
from .register import register_lights, registration_stars
from .solve import load_solution, solve_frame

__all__ = [
    "Calibration",
    "FrameRecord",
    "RegistrationSources",
    "calibrate_light",
    "detect_frame",
    "ecsv_text",
    "load_masters",
    "load_solution",
    "load_sources",
    "photometry_frame",
    "read_wcs",
    "register_lights",
    "register_sources",
    "registration_stars",
    "significance_at",
    "solve_frame",
    "sources_from_table",
    "target_row",
    "write_calibrated",
    "zeropoint_frame",
]
