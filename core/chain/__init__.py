"""The chain of per-frame steps over a project's products.

One function per step takes the project's :class:`~fluxion.core.project.products.ProductStore`,
a frame, the step's parameters (and upstream inputs) and a state; it returns
the stored product when it is current (same inputs, same parameters), else
computes, stores and returns it. The window's panels and ``fluxion run`` call
the same functions, so a project shows in the GUI exactly what the run left.
The science lives in the step modules; this package is the glue.

Typical use::

    store = ProductStore(project_folder)
    calibrate_frames(store, frames, CalibrationParams(), MasterParams(), executor=pool)
    for frame in lights:
        found = detect_frame(store, frame, DetectionParams())
        solution = solve_frame(store, frame, SolveParams(), catalog=reference_stars)
        table = photometry_frame(store, frame, PhotometryParams())
        zp = zeropoint_frame(store, frame, ZeroPointParams(), reference_stars)
"""

from typing import TYPE_CHECKING

from ..runtime.lazy import lazy_exports

if TYPE_CHECKING:
    from .batch import StepOutcome, executor_width, run_frames
    from .calibrate import (
        FrameImage,
        calibrate_frames,
        calibration_fingerprint,
        frame_image,
        image_fingerprint,
        load_masters,
        masters_fingerprint,
        raw_fingerprint,
    )
    from .detect import detect_frame, detect_image, detection_fingerprint, load_sources
    from .measure import (
        PhotometryDiagnostics,
        load_magnitudes,
        load_photometry,
        load_photometry_diagnostics,
        load_zeropoint,
        measure_photometry,
        photometry_fingerprint,
        photometry_frame,
        zeropoint_fingerprint,
        zeropoint_frame,
    )
    from .solve import (
        catalog_digest,
        frame_wcs,
        load_solution,
        solution_fingerprint,
        solve_frame,
        solved_path,
    )

__all__ = [
    "WORKER_PRELOAD",
    "PhotometryDiagnostics",
    "FrameImage",
    "StepOutcome",
    "calibrate_frames",
    "calibration_fingerprint",
    "catalog_digest",
    "detect_frame",
    "detect_image",
    "detection_fingerprint",
    "executor_width",
    "frame_image",
    "frame_wcs",
    "image_fingerprint",
    "load_magnitudes",
    "load_masters",
    "load_photometry",
    "load_photometry_diagnostics",
    "load_solution",
    "load_sources",
    "load_zeropoint",
    "masters_fingerprint",
    "measure_photometry",
    "photometry_fingerprint",
    "photometry_frame",
    "raw_fingerprint",
    "run_frames",
    "solution_fingerprint",
    "solve_frame",
    "solved_path",
    "zeropoint_fingerprint",
    "zeropoint_frame",
]

#: What a worker process imports before its first frame (a WorkerPool's
#: preload): the chain's worker and every step it runs. Named here, where it
#: costs no import, so that ``fluxion run`` starts its workers' forkserver
#: before it imports anything of the chain itself.
WORKER_PRELOAD = ("fluxion.core.chain.worker", "fluxion.core.chain.steps")

# The steps import the whole engine (scipy, photutils, astropy.modeling); a
# process that needs one of them (the main process of `fluxion run` needs
# the night's glue, not the steps its workers run) does not pay for the others.
# Each name's submodule is imported on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        ".batch": ("StepOutcome", "executor_width", "run_frames"),
        ".calibrate": (
            "FrameImage",
            "calibrate_frames",
            "calibration_fingerprint",
            "frame_image",
            "image_fingerprint",
            "load_masters",
            "masters_fingerprint",
            "raw_fingerprint",
        ),
        ".detect": ("detect_frame", "detect_image", "detection_fingerprint", "load_sources"),
        ".measure": (
            "PhotometryDiagnostics",
            "load_magnitudes",
            "load_photometry",
            "load_photometry_diagnostics",
            "load_zeropoint",
            "measure_photometry",
            "photometry_fingerprint",
            "photometry_frame",
            "zeropoint_fingerprint",
            "zeropoint_frame",
        ),
        ".solve": (
            "catalog_digest",
            "frame_wcs",
            "load_solution",
            "solution_fingerprint",
            "solve_frame",
            "solved_path",
        ),
    },
)
