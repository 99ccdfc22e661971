"""A whole night through the chain, as ``fluxion run`` does it, into a project the GUI opens.

Stages: the masters (from the night's calibration frames); then each light,
on the executor, through every per-frame step in one pass
(:func:`~fluxion.core.chain.worker.process_frame`: its raw file read once,
calibrated, detected, solved, measured with the target where its solution
puts it, and calibrated photometrically); the registration of the lights on
their stars; the target where only the whole night places it (measured
again in those lights only); the target's light curve. Each finished frame
is recorded at once, so a run stopped midway keeps every finished frame and
a re-run redoes only what is missing or stale. ``frames.ecsv`` says, frame
by frame, what came out and why a frame failed, and how each light was
registered on its stars (shift, rotation, scale, matched stars, residual);
one bad frame never stops the night.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from ..astrometry.params import SolveParams
from ..astrometry.summary import solve_summary
from ..calibration import CalibrationParams, MasterParams
from ..calibration.pairing import missing_summary
from ..detection.params import DetectionParams
from ..io.atomic import durable_batch
from ..io.fitsio import atomic_write_ecsv
from ..io.frames import FrameInfo
from ..io.names import FrameNames
from ..io.site import site_note
from ..photometry import PhotometryParams
from ..project.document import Project
from ..project.products import ProductStore
from ..runtime.cputime import CpuLedger
from ..runtime.pipeline import StepState
from ..runtime.threads import single_thread
from ..zeropoint import ZeroPointParams
from .batch import executor_width, portable, run_frames
from .blind import (
    BLIND_FAILED,
    UNCATALOGUED_FAILED,
    blind_night,
    run_blind_night,
    uncatalogued_night,
)
from .calibrate import (
    calibration_fingerprint,
    masters_fingerprint,
    masters_problems,
    prepare_masters,
)
from .frames_table import frames_table
from .lightcurve import NO_TARGET_NOTE, light_curve_from_magnitudes
from .project_facts import with_project_facts
from .register import add_registration, place_through_registration
from .register_beside import register_beside
from .weak_zeropoint import weak_note
from .worker import (
    FrameJob,
    FrameReport,
    measure_target,
    process_frame,
    seed_calibration,
)

if TYPE_CHECKING:
    from astropy.wcs import WCS

    from ..registration import Registration

__all__ = ["NightParams", "NightRun", "FRAMES_FILE", "LIGHT_CURVE_FILE", "run_night"]

log = logging.getLogger(__name__)

FRAMES_FILE = "frames.ecsv"
LIGHT_CURVE_FILE = "lightcurve.ecsv"
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
    """What a run did: per-frame table, per-step counts of done/current/failed, light curve.

    ``cpu`` holds the CPU seconds of the run's own (serial) phases and of the
    workers' frames: its serial fraction bounds what more workers can gain.
    """

    frames: Table
    counts: dict[str, dict[str, int]]
    light_curve: Table | None
    project: Project
    notes: list[str] = field(default_factory=list)
    cpu: CpuLedger = field(default_factory=CpuLedger)

    @property
    def work_done(self) -> int:
        """Frames any step computed (0 when everything was current)."""
        return sum(c.get("done", 0) for c in self.counts.values())


def _target_sky(target: TargetLocator | None, lights: Sequence[FrameInfo]) -> list:
    """The target's RA, Dec in each light before any is solved, when the locator knows it.

    A star's position, or an ephemeris's at each light's time: each light's
    own solution then places it, and its pixels are measured once. Other
    locators (a track fitted to every light) give None here.
    """
    sky = getattr(target, "sky_positions", None)
    if sky is None:
        return [None] * len(lights)
    try:
        return list(sky(lights))
    except ValueError as exc:
        log.info("target: placed after the night's solutions (%s)", exc)
        return [None] * len(lights)


def _same_place(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Whether two target positions measure the same (to a millipixel, as fingerprints do)."""
    if a is None or b is None:
        return a is b
    return abs(a[0] - b[0]) < 1e-3 and abs(a[1] - b[1]) < 1e-3


def _unknown_band_notes(lights, report_of, names, params, light_curve) -> list[str]:
    """The notes on lights whose filter names no band, saying the light curve's true scale.

    The run may have measured the curve against comparison stars after all;
    the note then says so instead of calling the curve instrumental.
    """
    from ..zeropoint.bands import INSTRUMENTAL_CURVE, unknown_band_notes

    done = INSTRUMENTAL_CURVE if light_curve is not None else "photometry (instrumental)"
    if light_curve is not None and "comparison_stars" in light_curve.meta:
        n = len(light_curve.meta["comparison_stars"])
        done = (
            "photometry and the light curve (differential magnitudes against "
            f"{n} comparison stars of the night, below)"
        )
    # A colour camera's channels are calibrated to R, V and B whatever its FILTER says.
    uncalibrated = [f for f in lights if f.cfa is None and not report_of(f).facts.get("calibrated")]
    lines = unknown_band_notes(
        [(names.file(f.path), f.filter) for f in uncalibrated], params.zeropoint.clear_band, done
    )
    for line in lines:
        log.warning("%s", line)
    return lines


@contextlib.contextmanager
def _threads_like(executor: Executor | None) -> Iterator[Executor | None]:
    """A thread pool as wide as ``executor`` (itself when it is one) for the masters.

    Combining the masters shares band buffers between its workers, so it runs
    on threads only; with process workers it would otherwise run on one core
    while the others wait for the lights (numpy's medians release the GIL).
    """
    if executor is None or isinstance(executor, ThreadPoolExecutor):
        yield executor
        return
    width = min(executor_width(executor), os.cpu_count() or 1)
    if width < 2:
        yield None
        return
    with ThreadPoolExecutor(width) as pool:
        yield pool


def _stored_wcs(store: ProductStore, frame: FrameInfo) -> WCS | None:
    """:func:`.solve.frame_wcs`, imported only for a light whose worker reported no WCS.

    The solver's module imports the astrometry's; the main process of a run
    on worker processes has no other use for them.
    """
    from .solve import frame_wcs

    return frame_wcs(store, frame)


def _uncount(counts: dict[str, dict[str, int]], step: str, status: str | None) -> None:
    """Take back a step's count for a frame whose step runs again."""
    if status is not None and counts.get(step, {}).get(status, 0) > 0:
        counts[step][status] -= 1


# OpenBLAS's pool of one thread per core only spins against the frames'
# workers and the night's other steps (small least-squares problems cost
# three to four times the CPU time with it on two cores).
@single_thread("blas")
def run_night(
    project: Project,
    frames: Sequence[FrameInfo],
    params: NightParams,
    *,
    catalog: Table | None = None,
    catalog_problem: str = "",
    target: TargetLocator | None = None,
    target_name: str = "target",
    executor: Executor | None = None,
    state: StepState | None = None,
    channel: str | None = None,
    comparison: str = "auto",
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
    catalog_problem : str
        Why there is no ``catalog`` (a service unreachable, offline with
        nothing cached): every uncalibrated light's reason says it.
    target : callable, optional
        Gives the target's (x, y) in each light from the solutions; no light
        curve without it.
    executor : Executor, optional
        Per-frame work in parallel (threads, processes, a dask client's executor).
    state : StepState, optional
        Progress and cancellation; a cancel raises
        :class:`~fluxion.core.runtime.pipeline.Cancelled` after recording what finished.
    channel : str, optional
        Colour frames: the channel the light curve follows (default green).
    comparison : {"auto", "on", "off"}
        The light curve against comparison stars of the night instead of the
        frames' zero points: when fewer than half the lights are calibrated
        (auto), always, or never (:mod:`.comparison_curve`).
    """
    state = state if state is not None else StepState()
    ledger = CpuLedger()
    ledger.lap("start")
    # Worker threads' CPU time is inside this process's: the ledger takes it out.
    here = executor is None or isinstance(executor, ThreadPoolExecutor)
    if here:
        # This process runs the frames: their steps imported once, here, before
        # any worker thread reaches for them (not by two threads at once).
        from . import steps  # noqa: F401
    if project.folder is None:
        raise ValueError("the project needs a folder before a run")
    folder = project.folder
    # Named over every frame of the night, as the window names the project's.
    names = FrameNames.of_night(frames)
    store = ProductStore(folder, names)
    for step, p in params.by_step().items():
        project.set_step_params(step, p)
    project.save()
    # The project's site and telescope aperture where the headers give none: every step
    # sees the same ones.
    lights = with_project_facts([f for f in frames if f.type == "light" and f.usable], project)
    reports = {names.file(f.path): FrameReport(names.file(f.path)) for f in lights}

    def report_of(f: FrameInfo) -> FrameReport:
        return reports[names.file(f.path)]

    counts: dict[str, dict[str, int]] = {}

    def count(step: str, status: str) -> None:
        c = counts.setdefault(step, {"done": 0, "current": 0, "failed": 0})
        c[status] = c.get(status, 0) + 1

    def finish(step: str, files: list[Path], **summary) -> None:
        project.record_result(step, files, **summary, **counts.get(step, {}))
        project.save()

    # -- masters: the whole night's, before any light ----------------------------------
    mfp = masters_fingerprint(frames, params.masters)
    job = FrameJob(
        str(folder), params.calibration, mfp, params.detection, params.astrometry,
        params.photometry, params.zeropoint, catalog, names, catalog_problem,
    )  # fmt: skip
    stale = [
        f for f in lights
        if not store.is_current(
            "calibration", f.path, calibration_fingerprint(f, params.calibration, mfp), ".fits"
        )
    ]  # fmt: skip
    if stale:
        with ledger.phase("masters"), _threads_like(executor) as pool:
            masters = prepare_masters(store, frames, params.masters, mfp, pool, state.sub(0, 0.1))
            if here:
                # The masters in memory serve this process's own workers; worker
                # processes load them from the project (the calibration's imports
                # and masks are theirs, not this process's).
                from ..calibration.apply import Calibration

                seed_calibration(job, Calibration(params.calibration, masters))

    # -- every light through every per-frame step, read once ----------------------------
    sky = _target_sky(target, lights)
    # Whether each light can be measured as soon as it is solved: no target, or
    # one whose sky position is known before the night's solutions.
    ready = target is None or any(s is not None for s in sky)
    index = {names.file(f.path): k for k, f in enumerate(lights)}

    def take(report: FrameReport) -> None:
        # A frame's products are recorded in the steps' indexes durably together.
        with durable_batch():
            for step, frame, fp in report.noted:
                store.record(step, frame, fp)
        mine = reports[report.frame]
        statuses[report.frame] = dict(report.status)
        mine.facts.update(report.facts)
        mine.errors.extend(report.errors)
        mine.target_xy, mine.target_row = report.target_xy, report.target_row
        mine.deferred = report.deferred
        mine.image_fp = report.image_fp or mine.image_fp
        for attr in ("sources", "wcs"):  # the second pass has neither
            if getattr(report, attr) is not None:
                setattr(mine, attr, getattr(report, attr))
        mine.missing.update(report.missing)
        for step, status in report.status.items():
            count(step, status)
        ledger.add_task(report.cpu, here=here)

    def on_result(f: FrameInfo, result: FrameReport | BaseException) -> None:
        if isinstance(result, BaseException):
            result = FrameReport(names.file(f.path), errors=[f"{type(result).__name__}: {result}"])
        take(result)

    def process(todo: list[FrameInfo], frame_job: FrameJob, part: StepState) -> None:
        run_frames(
            todo, process_frame,
            lambda f: (
                frame_job, portable(f), sky[index[names.file(f.path)]], target is None or ready
            ),
            on_result, executor=executor, state=part, label="processed",
        )  # fmt: skip

    blind_notes: list[str] = []
    statuses: dict[str, dict[str, str]] = {}

    def forget(f: FrameInfo) -> None:
        """A light searched blind in vain runs again: what it reported is taken back."""
        mine = report_of(f)
        for step, status in statuses.pop(mine.frame, {}).items():
            _uncount(counts, step, status)
        mine.errors.clear()

    with ledger.phase("frames"):
        blind = blind_night(lights, params.astrometry)
        if blind or uncatalogued_night(lights, params.astrometry, catalog):
            blind_notes = run_blind_night(
                lights, job, process,
                lambda f: report_of(f).wcs if report_of(f).facts.get("wcs_ok") else None,
                forget, state.sub(0.1, 0.9),
                failed_note=BLIND_FAILED if blind else UNCATALOGUED_FAILED, search_after=blind,
            )  # fmt: skip
            for note in blind_notes:
                log.warning("astrometry: %s", note)
        else:
            process(lights, job, state.sub(0.1, 0.9))
    ledger.lap("tables")
    # Said in the run's summary, not only logged: a master made without a bad
    # frame, or lights calibrated without one, changes the photometry.
    calibration_notes = [f"masters: {p}" for p in masters_problems(store)]
    for line in missing_summary((name, r.missing) for name, r in reports.items() if r.missing):
        log.warning("calibration: %s", line)
        calibration_notes.append(f"calibration: {line}")
    finish("calibration", [store.step_folder("calibration")])
    finish("detection", [store.step_folder("detection")])
    solved = [bool(report_of(f).facts.get("wcs_ok")) for f in lights]
    finish("astrometry", [store.step_folder("astrometry")], solved=sum(solved))
    problems = [str(report_of(f).facts.get("service_problem", "")) for f in lights]
    where = site_note(lights)
    if where:
        (log.warning if any(f.site is None for f in lights) else log.info)("%s", where)
        calibration_notes.insert(0, where)  # said first, before the calibration's
    notes: list[str] = calibration_notes + [
        f"astrometry: {line}" if k == 0 else line
        for k, line in enumerate(solve_summary(solved, problems, noun="lights"))
    ]
    notes += [f"astrometry: {line}" for line in blind_notes]

    # -- registration on the detected stars, on a worker beside the target's steps -------
    found = [report_of(f).sources for f in lights]
    with ledger.phase("registration"):
        registering = register_beside(executor, job, store, lights, found, state.sub(0.9, 0.91))
    registration_note = len(notes)

    def registered() -> tuple[Registration | None, list[int]]:
        with ledger.phase("registration"):
            return registering(ledger)

    # -- the target ------------------------------------------------------------------
    target_xy: list = [None] * len(lights)
    ledger.lap("target")
    if target is not None:
        # As photometry places its stars: the solution, else the header's WCS.
        wcs = [
            report_of(f).wcs if report_of(f).wcs is not None
            else _stored_wcs(store, f)
            for f in lights
        ]  # fmt: skip
        try:
            target_xy = list(target(lights, wcs))
        except ValueError as exc:
            notes.append(f"no light curve: {exc}")
            log.warning("target: %s", exc)
            target = None
        if target is not None and getattr(target, "project_entry", {}).get("kind") == "fixed":
            # A star stays where the stars are: unsolved lights get it by registration.
            unsolved = [w is None for w in wcs]
            if any(unsolved):
                target_xy = place_through_registration(target_xy, unsolved, *registered())
    # Lights left for the night to place the target (a track, the registration), and
    # lights where the night placed it elsewhere than their own solution did.
    again = [
        f for f, xy in zip(lights, target_xy, strict=True)
        if report_of(f).deferred
        or (xy is not None and not _same_place(xy, report_of(f).target_xy))
    ]  # fmt: skip
    if again:
        for f in again:
            for step in ("photometry", "zeropoint"):
                _uncount(counts, step, report_of(f).status.get(step))
        with ledger.phase("frames (target)"):
            run_frames(
                again, measure_target,
                lambda f: (
                    job, portable(f), target_xy[index[names.file(f.path)]], report_of(f).image_fp
                ),
                on_result, executor=executor, state=state.sub(0.91, 0.95),
                label="target measured",
            )  # fmt: skip
    ledger.lap("light curve")
    finish("photometry", [store.step_folder("photometry")])
    n_cal = sum(bool(report_of(f).facts.get("calibrated", False)) for f in lights)
    finish("zeropoint", [store.step_folder("zeropoint")], calibrated=int(n_cal))
    weak = [
        (names.file(f.path), str(report_of(f).facts["zero_point_weak"]))
        for f in lights if report_of(f).facts.get("zero_point_weak")
    ]  # fmt: skip
    if line := weak_note(weak, len(lights)):
        log.warning("%s", line)
        notes.append(line)
    # The unknown-band note goes here, once the light curve's scale is known.
    band_at = len(notes)

    # -- light curve and the per-frame table -------------------------------------------
    light_curve = None
    if target is None and not any(n.startswith("no light curve") for n in notes):
        notes.append(NO_TARGET_NOTE)  # a first run of a folder: how to get its light curve
    if target is not None:
        # Rows measured where the curve places the target; others read as stored.
        rows = {
            names.file(f.path): (r.target_row, bool(r.facts.get("calibrated", False)))
            for f, xy in zip(lights, target_xy, strict=True)
            if (r := report_of(f)).target_xy is not None and _same_place(xy, r.target_xy)
        }
        try:
            light_curve = light_curve_from_magnitudes(store, lights, target_xy, rows, channel)
        except ValueError as exc:  # a channel the frames were not measured in
            notes.append(f"no light curve: {exc}")
            target = None
    if target is not None and light_curve is not None:
        from .comparison_curve import comparison_light_curve, comparison_reason

        # The band the zero points put the magnitudes in (a clear filter's is the
        # calibration's choice, R unless --band): the reports' codes follow it.
        bands = [
            str(r.facts.get("band", ""))
            for f in lights
            if (r := report_of(f)).facts.get("calibrated")
        ]
        if bands:
            light_curve.meta["band"] = max(set(bands), key=bands.count)

        zp_err = [float(report_of(f).facts.get("zero_point_err", np.nan)) for f in lights]
        why = comparison_reason(light_curve, comparison, np.asarray(zp_err))
        if why:
            facts = [report_of(f).facts for f in lights]
            light_curve, said = comparison_light_curve(
                store, lights, light_curve, facts, why,
                annulus_outer_fwhm=params.photometry.annulus_outer,
            )  # fmt: skip
            notes += said
        light_curve.meta["target"] = target_name
        atomic_write_ecsv(folder / LIGHT_CURVE_FILE, light_curve)
        good = int(np.isfinite(np.asarray(light_curve["mag"], float)).sum())
        # What the target is (a locator's project_entry), so the window places it too.
        entry = dict(getattr(target, "project_entry", {}))
        project.targets = [{**entry, "name": target_name, "light_curve": LIGHT_CURVE_FILE}]
        project.record_result("lightcurve", [folder / LIGHT_CURVE_FILE], points=good)
    if params.zeropoint.band == "auto":
        notes[band_at:band_at] = _unknown_band_notes(lights, report_of, names, params, light_curve)
    registration, order = registered()
    if registration is not None:
        named = [names.file(lights[k].path) for k in order]
        notes.insert(registration_note, f"registration: {registration.summary(named)}")
    table = add_registration(
        frames_table(lights, [report_of(f) for f in lights]), registration, order
    )
    atomic_write_ecsv(folder / FRAMES_FILE, table)
    # What the run command adds to its account (its notes, the transit it fits) stays
    # until the command replaces it: an unchanged run then leaves project.json unwritten.
    before = project.results.get("run")
    kept = {k: v for k, v in before.summary.items() if k != "frames"} if before else {}
    project.record_result("run", [folder / FRAMES_FILE], frames=len(lights), **kept)
    project.save()
    ledger.lap(None)
    state.progress(1.0, f"{len(lights)} lights")
    return NightRun(table, counts, light_curve, project, notes, ledger)
