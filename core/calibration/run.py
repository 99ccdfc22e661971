"""Calibrating a night: masters from the scanned groups, then every light, to disk.

Products go to the output folder, written atomically:
``masters/master_bias.fits``, ``masters/master_dark_<t>s.fits``,
``masters/master_flat_<filter>.fits`` and one calibrated file per light named
after the raw file, with the mask as its ``MASK`` extension. A light that
cannot be calibrated is reported and the others carry on.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from ..io.fitsio import FitsReadError, atomic_write_fits, atomic_write_hdulist
from ..runtime.pipeline import Cancelled, StepState
from .apply import CalibratedFrame, Calibration, CalibrationMasters, CalibrationParams
from .masters import (
    CalibrationError,
    MasterFrame,
    MasterParams,
    make_master_bias,
    make_master_dark,
    make_master_flat,
)
from .overscan import OverscanError
from .raw import RawFrame

__all__ = [
    "FrameOutcome",
    "build_masters",
    "calibrate_lights",
    "write_master",
]

log = logging.getLogger(__name__)

_FRAME_ERRORS = (CalibrationError, FitsReadError, OverscanError, OSError, ValueError)


@dataclass(frozen=True)
class FrameOutcome:
    """What happened to one light: its product, or why there is none."""

    name: str
    output: Path | None = None
    applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    n_masked: int = 0


@dataclass(frozen=True)
class MastersReport:
    """Masters built for a night and their files."""

    masters: CalibrationMasters
    files: tuple[Path, ...] = ()
    problems: tuple[str, ...] = field(default=())


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "none"


def master_file_name(master: MasterFrame) -> str:
    """``master_bias.fits``, ``master_dark_180s.fits``, ``master_flat_V.fits``."""
    if master.kind == "dark":
        return f"master_dark_{master.exptime:g}s.fits"
    if master.kind == "flat":
        return f"master_flat_{_safe(str(master.filter))}.fits"
    return "master_bias.fits"


def write_master(master: MasterFrame, folder: str | os.PathLike[str]) -> Path:
    """Write a master into ``folder`` under :func:`master_file_name`."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return atomic_write_fits(Path(folder) / master_file_name(master), master.data, master.header)


def build_masters(
    bias: Sequence[RawFrame],
    darks: dict[float | None, Sequence[RawFrame]],
    flats: dict[str | None, Sequence[RawFrame]],
    params: MasterParams | None = None,
    *,
    folder: str | os.PathLike[str] | None = None,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> MastersReport:
    """Build (and write, when ``folder`` is given) every master a night allows.

    A group that cannot be combined is reported in ``problems`` and skipped;
    the lights are then calibrated without that master.
    """
    state = state if state is not None else StepState()
    params = params or MasterParams()
    problems: list[str] = []
    files: list[Path] = []
    n_groups = (1 if bias else 0) + len(darks) + len(flats)
    done = 0

    def sub() -> StepState:
        return state.sub(done / max(n_groups, 1), (done + 1) / max(n_groups, 1))

    def attempt(what: str, build):
        try:
            master = build()
        except (CalibrationError, FitsReadError, OverscanError, OSError) as exc:
            problems.append(f"{what}: {exc}")
            log.warning("%s: %s", what, exc)
            return None
        if folder is not None:
            files.append(write_master(master, folder))
        return master

    master_bias = None
    if bias:
        master_bias = attempt(
            "master bias",
            lambda: make_master_bias(bias, params, executor=executor, state=sub()),
        )
        done += 1
    master_darks = []
    for t, frames in darks.items():
        d = attempt(
            f"master dark {t} s",
            lambda f=frames: make_master_dark(
                f, master_bias, params, executor=executor, state=sub()
            ),
        )
        done += 1
        if d is not None:
            master_darks.append(d)
    masters = CalibrationMasters(master_bias, tuple(master_darks))
    master_flats = []
    for filt, frames in flats.items():
        dark = masters.dark_for(frames[0].exptime if frames else None)
        fl = attempt(
            f"master flat {filt}",
            lambda f=frames, dk=dark: make_master_flat(
                f, master_bias, dk, params, executor=executor, state=sub()
            ),
        )
        done += 1
        if fl is not None:
            master_flats.append(fl)
    state.progress(1.0, "masters done")
    return MastersReport(
        CalibrationMasters(master_bias, tuple(master_darks), tuple(master_flats)),
        tuple(files),
        tuple(problems),
    )


def calibrate_lights(
    lights: Sequence[RawFrame],
    masters: CalibrationMasters,
    outdir: str | os.PathLike[str],
    params: CalibrationParams | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> list[FrameOutcome]:
    """Calibrate every light and write ``outdir/<raw name>`` (image + MASK extension).

    Lights run in parallel on ``executor``; a light that fails is reported in
    its :class:`FrameOutcome` and the others go on. Cancelling stops between
    frames (raises :class:`~fluxion.core.runtime.pipeline.Cancelled`).
    """
    state = state if state is not None else StepState()
    out = Path(outdir)
    for frame in lights:
        if frame.path is not None and (out / frame.name).resolve() == frame.path.resolve():
            raise CalibrationError(
                f"{out} holds the raw frames; choose another output folder "
                "(raw files are never overwritten)"
            )
    out.mkdir(parents=True, exist_ok=True)
    step = Calibration(params, masters)
    tick = state.counter(len(lights), "calibrated")

    def one(frame: RawFrame) -> FrameOutcome:
        state.check()
        try:
            result: CalibratedFrame = step(frame)
            path = atomic_write_hdulist(out / frame.name, result.to_hdulist())
            outcome = FrameOutcome(
                frame.name,
                path,
                result.applied,
                result.warnings,
                n_masked=int(result.header.get("NMASKED", 0)),
            )
        except _FRAME_ERRORS as exc:
            log.warning("%s: %s", frame.name, exc)
            outcome = FrameOutcome(frame.name, error=str(exc))
        tick()
        return outcome

    if executor is None:
        return [one(f) for f in lights]
    futures = [executor.submit(one, f) for f in lights]
    try:
        return [f.result() for f in futures]
    except Cancelled:
        for f in futures:
            f.cancel()
        raise
