"""The chain of one frame, run on a worker thread, process or dask worker.

One call takes a light through every per-frame step: its raw file is read
once and calibrated in memory, its sources are found in those pixels, it is
solved from those sources, its calibrated product is written once with the
solution in its header, its stars are measured in the same pixels and its
zero point fitted to that table (a :class:`~fluxion.core.chain.record.FrameRecord`
carries each step's result to the next). Steps whose stored product is
current are not redone, and the pixels are only read when a step needs them.

A worker cannot share the project's :class:`ProductStore` (its index lives in
the calling process and holds a lock), so it works on a :class:`FrameStore`:
the same folder, read the same way, but the products it writes are only
*noted*; the caller records them in the real store when the frame comes back.
Products of different frames never collide, and the index is written by one
process only, so two workers cannot lose each other's entries.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..astrometry.params import SolveParams
from ..calibration import CalibrationParams
from ..detection.params import DetectionParams
from ..io.atomic import durable_batch
from ..io.frames import FrameInfo
from ..io.names import FrameNames
from ..photometry import PhotometryParams
from ..project.products import ProductStore
from ..runtime.cputime import task_cpu
from ..runtime.failures import failure_message
from ..runtime.params import params_to_dict
from ..runtime.threads import single_thread_worker_process
from ..zeropoint import ZeroPointParams
from . import WORKER_PRELOAD
from .catalog_state import catalog_from_state, catalog_state
from .wcs_state import wcs_from_state, wcs_state

if TYPE_CHECKING:
    from astropy.table import Table
    from astropy.wcs import WCS

    from ..calibration.apply import Calibration
    from ..registration import Registration, RegistrationSources
    from .record import FrameRecord

# The steps (detection, astrometry, photometry... and what they import, two
# thirds of the engine's import time) are imported by the functions that run
# them, on the workers: a run on worker processes imports them once in the
# forkserver (:data:`~fluxion.core.chain.WORKER_PRELOAD`) beside the main
# process, which never needs them.


__all__ = [
    "WORKER_PRELOAD",
    "FrameJob",
    "FrameReport",
    "FrameStore",
    "measure_target",
    "process_frame",
    "register_night",
    "seed_calibration",
]

log = logging.getLogger(__name__)


class FrameStore(ProductStore):
    """A store that notes the products it writes instead of recording them in the index."""

    def __init__(self, folder: str | os.PathLike[str], names: FrameNames | None = None) -> None:
        super().__init__(folder, names)
        self.noted: list[tuple[str, str, str]] = []

    def _mark(self, step: str, frame: str | os.PathLike[str], fp: str) -> None:
        with self._lock:
            self._index(step)[self.key(frame)] = fp
        self.noted.append((step, str(frame), fp))


@dataclass(frozen=True)
class FrameJob:
    """What every light of a night goes through: the same for all, picklable.

    ``masters_fp`` names the masters (made before the frames run) that the
    lights are calibrated with; a worker process loads them from the project
    once, a thread takes them from its process's cache (:func:`seed_calibration`).
    ``names`` names the night's products (frames whose file names clash).
    """

    folder: str
    calibration: CalibrationParams
    masters_fp: str
    detection: DetectionParams
    astrometry: SolveParams
    photometry: PhotometryParams
    zeropoint: ZeroPointParams
    catalog: Table | None = None
    names: FrameNames = field(default_factory=FrameNames)
    #: Why there is no catalog (a service unreachable): each uncalibrated light's reason.
    catalog_problem: str = ""

    # Pickled for every frame sent to a worker process: the catalogue's pickle is
    # made once a job, and a worker rebuilds the Table once (catalog_state.py).
    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "_catalog_state"}
        if "_catalog_state" not in self.__dict__:
            object.__setattr__(self, "_catalog_state", catalog_state(self.catalog))
        state["catalog"] = self.__dict__["_catalog_state"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, catalog=catalog_from_state(state.get("catalog")))


@dataclass
class FrameReport:
    """What the chain did to one frame: per-step status, the frame's facts, products noted.

    ``frame`` is the frame's unique name in the night (:meth:`FrameNames.file`).

    ``target_xy`` is where the target was measured (None: not measured),
    ``target_row`` its calibrated row (mag, mag_err, flux, ...), ``sources``
    the detected stars the night registers the lights on (the brightest few
    hundred, not the whole table), ``missing`` what calibration went without, ``wcs`` the
    frame's celestial WCS as photometry placed its stars with (the solution,
    else the header's; None when neither), ``deferred`` whether photometry
    waits for the night to place the target, ``image_fp`` the fingerprint of
    the pixels the steps used (for :func:`measure_target`, which then does not
    open the product to learn it), ``cpu`` the CPU seconds the worker spent on it.
    """

    frame: str
    status: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    noted: list[tuple[str, str, str]] = field(default_factory=list)
    target_xy: tuple[float, float] | None = None
    target_row: dict[str, Any] | None = None
    sources: RegistrationSources | None = None
    missing: dict[str, str] = field(default_factory=dict)
    wcs: WCS | None = None
    deferred: bool = False
    image_fp: str | None = None
    cpu: float = 0.0

    # A worker process's report crosses to the main process pickled. astropy
    # pickles a WCS as a whole FITS file (9 ms a frame, 5 of them in the main
    # process, which records the frames one after the other) and rounds its
    # numbers to 14 digits; its exact state (wcslib's text at 17 digits, the
    # distortions' arrays) crosses in 0.3 ms and arrives bit for bit.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["wcs"] = wcs_state(self.wcs)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["wcs"] = wcs_from_state(state.get("wcs"))
        self.__dict__.update(state)


# Calibration steps (with their masters) by night: a process loads a night's
# masters once, not once per frame. One night at a time is kept.
_STEPS: dict[str, Calibration] = {}
_STEPS_LOCK = threading.Lock()


def _step_key(job: FrameJob) -> str:
    params = json.dumps(params_to_dict(job.calibration), sort_keys=True, default=str)
    return f"{os.path.abspath(job.folder)}|{job.masters_fp}|{params}"


def seed_calibration(job: FrameJob, step: Calibration) -> None:
    """Give this process's workers the night's calibration step (masters already in memory)."""
    with _STEPS_LOCK:
        _STEPS.clear()
        _STEPS[_step_key(job)] = step


def _calibration_step(job: FrameJob, store: ProductStore) -> Calibration:
    from ..calibration.apply import Calibration
    from .calibrate import load_masters

    key = _step_key(job)
    with _STEPS_LOCK:
        step = _STEPS.get(key)
        if step is None:
            # Statistics are for the window's facts; a worker only calibrates with them.
            masters = load_masters(store, job.masters_fp, stats=False)
            if masters is None:
                raise ValueError("the night's masters are missing from the project")
            step = Calibration(job.calibration, masters)
            _STEPS.clear()
            _STEPS[key] = step
        return step


def _status(store: FrameStore, before: int) -> str:
    return "done" if len(store.noted) > before else "current"


def _calibrate(store: FrameStore, job: FrameJob, record: FrameRecord, report: FrameReport) -> None:
    """Calibration of the record's light: the current product's fingerprint, or done in memory."""
    from .calibrate import (
        calibrate_light,
        calibrated_image,
        calibration_fingerprint,
        unmatched_problem,
    )

    frame = record.frame
    fp = calibration_fingerprint(frame, job.calibration, job.masters_fp)
    if store.is_current("calibration", frame.path, fp, ".fits"):
        from ..project.products import fingerprint

        record.image_fingerprint = fingerprint("calibrated", fp)
        record.fingerprints["calibration"] = fp
        report.status["calibration"] = "current"
        return
    result = calibrate_light(_calibration_step(job, store), frame)
    record.calibrated = result
    record.set_image(calibrated_image(result, fp))
    record.fingerprints["calibration"] = fp
    report.status["calibration"] = "done"
    report.missing = dict(result.missing)
    problem = unmatched_problem(result.missing)
    if problem:
        report.errors.append(problem)


def _write_calibrated(store: FrameStore, record: FrameRecord, report: FrameReport) -> None:
    """Write the light calibrated in this pass (once, the solution in its header)."""
    if record.calibrated is None:
        return
    from .calibrate import write_calibrated

    try:
        write_calibrated(store, record.frame, record.calibrated, record.fingerprints["calibration"])
    except OSError as exc:
        report.status["calibration"] = "failed"
        report.errors.append(f"calibration: not written: {exc}")
    record.calibrated = None


def _positions(record: FrameRecord, target_xy: tuple[float, float] | None) -> np.ndarray | None:
    """The frame's sources plus the target where predicted; None measures photometry's own."""
    from .lightcurve import target_positions

    return target_positions(None if record.sources is None else record.sources.sources, target_xy)


def _place(record: FrameRecord, sky: tuple[float, float] | None) -> tuple[float, float] | None:
    """The target's pixel position from its sky position and the frame's solution."""
    wcs = record.wcs
    shape = record.frame.shape
    if sky is None or wcs is None or shape is None:
        return None
    x, y = (float(v) for v in wcs.celestial.world_to_pixel_values(sky[0], sky[1]))
    ny, nx = shape
    return (x, y) if np.isfinite(x) and np.isfinite(y) and 0 <= x < nx and 0 <= y < ny else None


def _measure(
    store: FrameStore,
    job: FrameJob,
    record: FrameRecord,
    report: FrameReport,
    target_xy: tuple[float, float] | None,
) -> None:
    """Photometry (the frame's sources plus the target) and zero point of the record's frame."""
    from .lightcurve import target_row
    from .measure import photometry_frame, zeropoint_frame
    from .weak_zeropoint import weak_zero_point

    frame = record.frame
    n = len(store.noted)
    photometry_frame(store, frame, job.photometry, _positions(record, target_xy), record=record)
    report.status["photometry"] = _status(store, n)
    report.target_xy = target_xy
    solution = record.solution
    if solution is None or not solution.solved:
        report.errors.append("not calibrated: the frame has no astrometric solution")
        return
    n = len(store.noted)
    zp = zeropoint_frame(
        store, frame, job.zeropoint, job.catalog, record=record, target_xy=target_xy,
        catalog_problem=job.catalog_problem,
    )  # fmt: skip
    report.status["zeropoint"] = _status(store, n)
    report.facts.update(zero_point=zp.zero_point, zero_point_err=zp.zero_point_err, band=zp.band)
    calibrated = bool(zp.calibrated)
    if not zp.calibrated:
        report.errors.append(f"not calibrated: {zp.reason}")
    elif weak := weak_zero_point(int(zp.n_stars), float(zp.zero_point_err)):
        # Fitted, but too weak to calibrate a light curve (see weak_zeropoint).
        report.errors.append(f"weak zero point: {weak}")
        report.facts["zero_point_weak"] = weak
        calibrated = False
    if target_xy is not None:
        report.target_row = target_row(zp.sources, target_xy)
    report.facts["calibrated"] = calibrated


@durable_batch()  # the frame's products synced to disk together, before it is reported
def process_frame(
    job: FrameJob,
    frame: FrameInfo,
    target_sky: tuple[float, float] | None = None,
    measure: bool = True,
) -> FrameReport:
    """Every per-frame step of one light, its pixels read at most once.

    Parameters
    ----------
    job : FrameJob
    frame : FrameInfo
    target_sky : (float, float), optional
        The target's RA, Dec (deg) at this light's time: measured where the
        frame's solution puts it. A light that is not solved is not measured
        here (``deferred``): only the whole night places the target in it.
    measure : bool
        False when the target's place in this light is known only from the
        whole night (a track fitted to every light): photometry and zero
        point are left to :func:`measure_target` (``deferred``).

    Returns
    -------
    FrameReport
        Never raises for a bad frame: the steps that failed say why in ``errors``.
    """
    from ..io.fitsio import read_wcs
    from .calibrate import stored_problem
    from .detect import detect_frame
    from .record import FrameRecord
    from .register import registration_stars
    from .solve import solve_frame

    single_thread_worker_process()
    started = task_cpu()
    store = FrameStore(job.folder, job.names)
    report = FrameReport(job.names.file(frame.path))
    record = FrameRecord(frame)
    try:
        _calibrate(store, job, record, report)
    except Exception as exc:  # the later steps still run on the raw file
        log.warning("%s: not calibrated: %s", frame.path.name, exc)
        report.status["calibration"] = "failed"
        report.errors.append(f"calibration: {failure_message(exc)}")
    try:
        n = len(store.noted)
        found = detect_frame(store, frame, job.detection, record=record)
        report.status["detection"] = _status(store, n)
        report.facts.update(
            fwhm=found.fwhm, sky=found.sky, sky_noise=found.sky_noise, n_sources=found.n_sources
        )
        report.sources = registration_stars(found.sources)
        n = len(store.noted)
        result = solve_frame(
            store, frame, job.astrometry, catalog=job.catalog, detection=job.detection,
            record=record,
        )  # fmt: skip
        report.status["astrometry"] = _status(store, n)
        report.facts.update(
            wcs_ok=bool(result.solved),
            astrometric_rms_arcsec=result.rms_arcsec,
            service_problem=result.service_problem,
        )
        if not result.solved:
            report.errors.append(f"not solved: {result.reason}")
    except Exception as exc:  # one bad frame never stops the night: its status says why
        log.warning("%s: %s", frame.path.name, exc)
        report.errors.append(failure_message(exc))
    _write_calibrated(store, record, report)
    report.image_fp = record.image_fingerprint
    report.wcs = record.wcs
    if report.wcs is None and record.has_image:
        report.wcs = read_wcs(record.image(store).header)
    target_xy = _place(record, target_sky)
    if record.sources is not None and (
        not measure or (target_sky is not None and target_xy is None)
    ):
        # Measured once, where the night places the target, not twice.
        report.deferred = True
    elif record.sources is not None:
        try:
            _measure(store, job, record, report, target_xy)
        except Exception as exc:  # one bad frame never stops the night: its status says why
            log.warning("%s: %s", frame.path.name, exc)
            report.errors.append(failure_message(exc))
    if report.status.get("calibration") == "current":
        # The stored product's own account of what it went without: from the
        # header read with the pixels when a step needed them, else on its own.
        header = record.image(store).header if record.has_image else None
        problem = stored_problem(store, frame, header)
        if problem:
            report.errors.insert(0, problem)  # first, as when it was calibrated
    _finish(report, store, started)
    return report


@durable_batch()
def measure_target(
    job: FrameJob,
    frame: FrameInfo,
    target_xy: tuple[float, float] | None,
    image_fp: str | None = None,
) -> FrameReport:
    """Photometry and zero point of a light with the target at ``target_xy`` (None: not placed).

    For the lights whose target position only the whole night gives (a track
    fitted to every light, a star placed through the registration in a light
    that was not solved): their calibrated product is read (once), its
    sources and solution as :func:`process_frame` stored them. ``image_fp``
    is the fingerprint of its pixels as :func:`process_frame` reported it
    (``FrameReport.image_fp``): photometry that is still current then opens
    nothing, and photometry redone opens the product once, for its pixels.
    """
    from .detect import load_sources
    from .record import FrameRecord
    from .solve import load_solution

    single_thread_worker_process()
    started = task_cpu()
    store = FrameStore(job.folder, job.names)
    report = FrameReport(job.names.file(frame.path))
    record = FrameRecord(frame, image_fingerprint=image_fp)
    try:
        record.sources = load_sources(store, frame)
        record.fingerprints["detection"] = store.fingerprint_of("detection", frame.path) or ""
        record.solution = load_solution(store, frame)
        if record.solution is not None:
            record.fingerprints["astrometry"] = store.fingerprint_of("astrometry", frame.path) or ""
        _measure(store, job, record, report, target_xy)
    except Exception as exc:  # one bad frame never stops the night: its status says why
        log.warning("%s: %s", frame.path.name, exc)
        report.errors.append(failure_message(exc))
    _finish(report, store, started)
    return report


def register_night(
    job: FrameJob, lights: list[FrameInfo], found: list
) -> tuple[Registration | None, list[int], float]:
    """The night's :func:`register_lights` on a worker: registration, order, its CPU seconds."""
    from .register import register_lights

    single_thread_worker_process()
    started = task_cpu()
    registration, order = register_lights(FrameStore(job.folder, job.names), lights, found=found)
    return registration, order, task_cpu() - started


def _finish(report: FrameReport, store: FrameStore, started: float) -> None:
    report.cpu = task_cpu() - started
    report.facts.setdefault("zero_point", math.nan)
    report.facts.setdefault("zero_point_err", math.nan)
    report.noted = store.noted
