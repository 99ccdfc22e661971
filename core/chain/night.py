"""A whole night through the chain, as ``fluxion run`` does it, into a project the GUI opens.

Stages: calibration of the lights (masters first); detection and astrometry
of each frame; the target's position in each frame; photometry and
photometric calibration of each frame; the target's light curve. Per-frame
stages run on the executor; each finished frame is recorded at once, so a run
stopped midway keeps every finished frame and a re-run redoes only what is
missing or stale. ``frames.ecsv`` says, frame by frame, what came out and why
a frame failed, and how each light was registered on its stars (shift,
rotation, scale, matched stars, residual); one bad frame never stops the night.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table

from ..astrometry.params import SolveParams
from ..astrometry.summary import solve_summary
from ..calibration import CalibrationParams, MasterParams
from ..detection.extract import DetectionParams
from ..io.fitsio import atomic_write_ecsv
from ..io.frames import FrameInfo
from ..photometry import PhotometryParams
from ..project.document import Project
from ..project.products import ProductStore
from ..runtime.pipeline import StepState
from ..zeropoint import ZeroPointParams
from .batch import portable, run_frames
from .calibrate import calibrate_frames
from .lightcurve import light_curve_from_magnitudes
from .register import add_registration, place_through_registration, register_lights
from .solve import frame_wcs
from .worker import FrameReport, detect_and_solve, measure_and_calibrate

__all__ = ["NightParams", "NightRun", "FRAMES_FILE", "LIGHT_CURVE_FILE", "run_night"]

log = logging.getLogger(__name__)

FRAMES_FILE = "frames.ecsv"
LIGHT_CURVE_FILE = "lightcurve.ecsv"
FRAME_COLUMNS = (
    "file", "jd_utc", "fwhm", "sky", "n_sources", "wcs_ok", "astrometric_rms_arcsec",
    "zero_point", "zero_point_err", "status",
)  # fmt: skip

# A function giving the target's (x, y) in every light from their solutions
# (None where a frame has no WCS); raises ValueError when it cannot.
TargetLocator = Callable[[Sequence[FrameInfo], list], list]


@dataclass(frozen=True)
class NightParams:
    """The parameters of every step of the night (each step's own dataclass)."""

    calibration: CalibrationParams = field(default_factory=CalibrationParams)
    masters: MasterParams = field(default_factory=MasterParams)
    detection: DetectionParams = field(default_factory=DetectionParams)
    astrometry: SolveParams = field(default_factory=SolveParams)
    photometry: PhotometryParams = field(default_factory=PhotometryParams)
    zeropoint: ZeroPointParams = field(default_factory=ZeroPointParams)

    def by_step(self) -> dict[str, object]:
        """Step name (as in project.json and the product folders) -> parameters."""
        return {
            "calibration": self.calibration,
            "masters": self.masters,
            "detection": self.detection,
            "astrometry": self.astrometry,
            "photometry": self.photometry,
            "zeropoint": self.zeropoint,
        }


@dataclass
class NightRun:
    """What a run did: per-frame table, per-step counts of done/current/failed, light curve."""

    frames: Table
    counts: dict[str, dict[str, int]]
    light_curve: Table | None
    project: Project
    notes: list[str] = field(default_factory=list)

    @property
    def work_done(self) -> int:
        """Frames any step computed (0 when everything was current)."""
        return sum(c.get("done", 0) for c in self.counts.values())


def _frames_table(lights: Sequence[FrameInfo], reports: dict[str, FrameReport]) -> Table:
    rows = []
    for f in lights:
        r = reports[f.path.name]
        facts = r.facts
        rows.append(
            (
                f.path.name,
                f.jd if f.jd is not None else math.nan,
                float(facts.get("fwhm", math.nan)),
                float(facts.get("sky", math.nan)),
                int(facts.get("n_sources", 0)),
                bool(facts.get("wcs_ok", False)),
                float(facts.get("astrometric_rms_arcsec", math.nan)),
                float(facts.get("zero_point", math.nan)),
                float(facts.get("zero_point_err", math.nan)),
                "; ".join(r.errors) or "ok",
            )
        )
    dtypes = (str, float, float, float, int, bool, float, float, float, str)
    t = Table(rows=rows or None, names=FRAME_COLUMNS, dtype=dtypes)
    t["fwhm"].unit = "pix"
    t["astrometric_rms_arcsec"].unit = "arcsec"
    t["zero_point"].unit = t["zero_point_err"].unit = "mag"
    return t


def run_night(
    project: Project,
    frames: Sequence[FrameInfo],
    params: NightParams,
    *,
    catalog: Table | None = None,
    target: TargetLocator | None = None,
    target_name: str = "target",
    executor: Executor | None = None,
    state: StepState | None = None,
) -> NightRun:
    """Run the chain on a night's frames into ``project`` (saved as it goes).

    Parameters
    ----------
    project : Project
        The project, with its folder; its ``project.json`` records each step's
        parameters and, once a step finished for every frame, its results.
    frames : sequence of FrameInfo
        The scanned night (calibration frames and lights).
    params : NightParams
    catalog : Table, optional
        Reference stars (ra, dec, band magnitudes) for astrometry and
        photometric calibration; without it the astrometry parameters' catalog
        is used and magnitudes stay instrumental.
    target : callable, optional
        Gives the target's (x, y) in each light from the solutions; no light
        curve without it.
    executor : Executor, optional
        Per-frame work in parallel (threads, processes, a dask client's executor).
    state : StepState, optional
        Progress and cancellation; a cancel raises
        :class:`~fluxion.core.runtime.pipeline.Cancelled` after recording what finished.
    """
    state = state if state is not None else StepState()
    if project.folder is None:
        raise ValueError("the project needs a folder before a run")
    folder = project.folder
    store = ProductStore(folder)
    for step, p in params.by_step().items():
        project.set_step_params(step, p)
    project.save()
    lights = [f for f in frames if f.type == "light" and f.usable]
    reports = {f.path.name: FrameReport(f.path.name) for f in lights}
    counts: dict[str, dict[str, int]] = {}

    def count(step: str, status: str) -> None:
        c = counts.setdefault(step, {"done": 0, "current": 0, "failed": 0})
        c[status] = c.get(status, 0) + 1

    def finish(step: str, files: list[Path], **summary) -> None:
        project.record_result(step, files, **summary, **counts.get(step, {}))
        project.save()

    # -- calibration -------------------------------------------------------------
    for o in calibrate_frames(
        store, frames, params.calibration, params.masters, executor, state.sub(0.0, 0.3)
    ):
        count("calibration", o.status)
        if o.error:  # failed, or calibrated without a master the night has
            reports[o.frame].errors.append(o.error)
    finish("calibration", [store.step_folder("calibration")])

    def take(report: FrameReport) -> None:
        for step, frame, fp in report.noted:
            store.record(step, frame, fp)
        mine = reports[report.frame]
        mine.facts.update(report.facts)
        mine.errors.extend(report.errors)
        for step, status in report.status.items():
            count(step, status)

    def on_result(f: FrameInfo, result: object) -> None:
        if isinstance(result, BaseException):
            result = FrameReport(f.path.name, errors=[f"{type(result).__name__}: {result}"])
        take(result)  # type: ignore[arg-type]

    # -- detection and astrometry ----------------------------------------------------
    run_frames(
        lights,
        detect_and_solve,
        lambda f: (str(folder), portable(f), params.detection, params.astrometry, catalog),
        on_result,
        executor=executor,
        state=state.sub(0.3, 0.65),
        label="detected and solved",
    )
    finish("detection", [store.step_folder("detection")])
    solved = [bool(reports[f.path.name].facts.get("wcs_ok")) for f in lights]
    finish("astrometry", [store.step_folder("astrometry")], solved=sum(solved))
    problems = [str(reports[f.path.name].facts.get("service_problem", "")) for f in lights]
    notes: list[str] = [
        f"astrometry: {line}" if k == 0 else line
        for k, line in enumerate(solve_summary(solved, problems, noun="lights"))
    ]

    # -- registration on the detected stars ----------------------------------------------
    registration, order = register_lights(store, lights, state.sub(0.65, 0.66))
    if registration is not None:
        notes.append(f"registration: {registration.summary()}")

    # -- the target ------------------------------------------------------------------
    target_xy: list = [None] * len(lights)
    if target is not None:
        # As photometry places its stars: the solution, else the header's WCS.
        wcs = [frame_wcs(store, f) for f in lights]
        try:
            target_xy = list(target(lights, wcs))
        except ValueError as exc:
            notes.append(f"no light curve: {exc}")
            log.warning("target: %s", exc)
            target = None
        if target is not None and getattr(target, "project_entry", {}).get("kind") == "fixed":
            # A star stays where the stars are: unsolved lights get it by registration.
            unsolved = [w is None for w in wcs]
            target_xy = place_through_registration(target_xy, unsolved, registration, order)

    # -- photometry and photometric calibration -------------------------------------
    index = {f.path.name: k for k, f in enumerate(lights)}
    run_frames(
        lights,
        measure_and_calibrate,
        lambda f: (
            str(folder),
            portable(f),
            params.photometry,
            params.zeropoint,
            catalog,
            target_xy[index[f.path.name]],
        ),
        on_result,
        executor=executor,
        state=state.sub(0.65, 0.95),
        label="measured",
    )
    finish("photometry", [store.step_folder("photometry")])
    n_cal = sum(np.isfinite(reports[f.path.name].facts.get("zero_point", np.nan)) for f in lights)
    finish("zeropoint", [store.step_folder("zeropoint")], calibrated=int(n_cal))

    # -- light curve and the per-frame table -------------------------------------------
    light_curve = None
    if target is not None:
        light_curve = light_curve_from_magnitudes(store, lights, target_xy)
        light_curve.meta["target"] = target_name
        atomic_write_ecsv(folder / LIGHT_CURVE_FILE, light_curve)
        good = int(np.isfinite(np.asarray(light_curve["mag"], float)).sum())
        # What the target is (a locator's project_entry), so the window places it too.
        entry = dict(getattr(target, "project_entry", {}))
        project.targets = [{**entry, "name": target_name, "light_curve": LIGHT_CURVE_FILE}]
        project.record_result("lightcurve", [folder / LIGHT_CURVE_FILE], points=good)
    table = add_registration(_frames_table(lights, reports), registration, order)
    atomic_write_ecsv(folder / FRAMES_FILE, table)
    project.record_result("run", [folder / FRAMES_FILE], frames=len(lights))
    project.save()
    state.progress(1.0, f"{len(lights)} lights")
    return NightRun(table, counts, light_curve, project, notes)
