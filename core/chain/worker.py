"""The chain of one frame, run on a worker thread, process or dask worker.

A worker cannot share the project's :class:`ProductStore` (its index lives in
the calling process and holds a lock), so it works on a :class:`FrameStore`:
the same folder, read the same way, but the products it writes are only
*noted*; the caller records them in the real store when the frame comes back.
Products of different frames never collide, and the index is written by one
process only, so two workers cannot lose each other's entries.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.table import Table

from ..astrometry.params import SolveParams
from ..detection.extract import DetectionParams
from ..io.frames import FrameInfo
from ..photometry import PhotometryParams
from ..project.products import ProductStore
from ..zeropoint import ZeroPointParams
from .detect import detect_frame
from .measure import photometry_frame, zeropoint_frame
from .solve import load_solution, solve_frame

__all__ = ["FrameStore", "FrameReport", "detect_and_solve", "measure_and_calibrate"]

log = logging.getLogger(__name__)


class FrameStore(ProductStore):
    """A store that notes the products it writes instead of recording them in the index."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        super().__init__(folder)
        self.noted: list[tuple[str, str, str]] = []

    def _mark(self, step: str, frame: str | os.PathLike[str], fp: str) -> None:
        from ..project.products import frame_key

        with self._lock:
            self._index(step)[frame_key(frame)] = fp
        self.noted.append((step, str(frame), fp))


@dataclass
class FrameReport:
    """What the chain did to one frame: per-step status, the frame's facts, products noted."""

    frame: str
    status: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    noted: list[tuple[str, str, str]] = field(default_factory=list)


def _status(store: FrameStore, before: int) -> str:
    return "done" if len(store.noted) > before else "current"


def detect_and_solve(
    folder: str,
    frame: FrameInfo,
    detection: DetectionParams,
    solve: SolveParams,
    catalog: Table | None,
) -> FrameReport:
    """Detection and astrometry of one frame (its own header hint)."""
    store = FrameStore(folder)
    report = FrameReport(frame.path.name)
    try:
        n = len(store.noted)
        found = detect_frame(store, frame, detection)
        report.status["detection"] = _status(store, n)
        report.facts.update(
            fwhm=found.fwhm, sky=found.sky, sky_noise=found.sky_noise, n_sources=found.n_sources
        )
        n = len(store.noted)
        result = solve_frame(store, frame, solve, catalog=catalog, detection=detection)
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
        report.errors.append(f"{type(exc).__name__}: {exc}")
    report.noted = store.noted
    return report


def measure_and_calibrate(
    folder: str,
    frame: FrameInfo,
    photometry: PhotometryParams,
    zeropoint: ZeroPointParams,
    catalog: Table | None,
    target_xy: tuple[float, float] | None,
) -> FrameReport:
    """Photometry (the frame's sources plus the target) and zero point of one frame."""
    store = FrameStore(folder)
    report = FrameReport(frame.path.name)
    try:
        positions = None
        sources = store.read_table("detection", frame.path)
        if target_xy is not None and sources is not None:
            stars = np.column_stack([np.asarray(sources["x"]), np.asarray(sources["y"])])
            # The target is measured where it is predicted, and the source found on
            # it is dropped so that it is not measured twice.
            d = np.hypot(stars[:, 0] - target_xy[0], stars[:, 1] - target_xy[1])
            positions = np.vstack([stars[d > 2.0], np.asarray(target_xy, float)[None, :]])
        n = len(store.noted)
        photometry_frame(store, frame, photometry, positions)
        report.status["photometry"] = _status(store, n)
        n = len(store.noted)
        solution = load_solution(store, frame)
        if solution is None or not solution.solved:
            report.errors.append("not calibrated: the frame has no astrometric solution")
        else:
            zp = zeropoint_frame(store, frame, zeropoint, catalog)
            report.status["zeropoint"] = _status(store, n)
            report.facts.update(zero_point=zp.zero_point, zero_point_err=zp.zero_point_err)
            if not zp.calibrated:
                report.errors.append(f"not calibrated: {zp.reason}")
    except Exception as exc:  # one bad frame never stops the night: its status says why
        log.warning("%s: %s", frame.path.name, exc)
        report.errors.append(f"{type(exc).__name__}: {exc}")
    report.facts.setdefault("zero_point", math.nan)
    report.facts.setdefault("zero_point_err", math.nan)
    report.noted = store.noted
    return report
