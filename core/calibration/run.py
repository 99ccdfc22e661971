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
from typing import TYPE_CHECKING

from ..io.fitsio import atomic_write_fits, atomic_write_hdulist
from ..io.folders import prepare_output_folder
from ..runtime.failures import failure_message, per_file
from ..runtime.pipeline import Cancelled, StepState
from .masters import (
    CalibrationError,
    MasterFrame,
    MasterParams,
    make_master_bias,
    make_master_dark,
    make_master_flat,
)
from .overscan import OverscanError
from .pairing import CalibrationMasters, describe_geometry
from .params import CalibrationParams
from .raw import RawFrame, as_pair

if TYPE_CHECKING:
    from .apply import CalibratedFrame

__all__ = [
    "FrameOutcome",
    "build_masters",
    "calibrate_lights",
    "write_master",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameOutcome:
    """What happened to one light: its product, or why there is none.

    ``missing`` maps a calibration step no master allowed ('bias', 'dark',
    'flat') to the reason.
    """

    name: str
    output: Path | None = None
    applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error: str | None = None
    n_masked: int = 0
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MastersReport:
    """Masters built for a night and their files."""

    masters: CalibrationMasters
    files: tuple[Path, ...] = ()
    problems: tuple[str, ...] = field(default=())


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "none"


def master_file_name(master: MasterFrame, geometry: bool = False) -> str:
    """``master_bias.fits``, ``master_dark_180s.fits``, ``master_flat_V.fits``.

    With ``geometry`` (a night with calibration frames of several binnings or
    shapes) the name ends in the binning and size: ``master_bias_2x2_512x512.fits``.
    """
    if master.kind == "dark":
        stem = f"master_dark_{master.exptime:g}s"
    elif master.kind == "flat":
        stem = f"master_flat_{_safe(str(master.filter))}"
    else:
        stem = "master_bias"
    if geometry:
        (bx, by), (ny, nx) = master.binning, master.shape
        stem += f"_{bx}x{by}_{nx}x{ny}"
    return stem + ".fits"


def write_master(
    master: MasterFrame, folder: str | os.PathLike[str], geometry: bool = False
) -> Path:
    """Write a master into ``folder`` under :func:`master_file_name`.

    The folder is not marked as an output folder: it lies in one (a
    ``--out`` folder, a project), and a master's header says what it is.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    name = master_file_name(master, geometry)
    return atomic_write_fits(Path(folder) / name, master.data, master.header)


# (binning, trimmed shape): what a master must share with the frames it calibrates.
Geometry = tuple[tuple[int, int], tuple[int, int]]


def _by_geometry(frames: Sequence[RawFrame]) -> dict[Geometry, list[RawFrame]]:
    """Frames grouped by binning and trimmed shape (a master is made per group)."""
    groups: dict[Geometry, list[RawFrame]] = {}
    for f in frames:
        try:
            key = f.geometry
        except OverscanError:
            # Grouped by the raw size: combining the group reports the bad card.
            key = (as_pair(f.binning), f.raw_shape)
        groups.setdefault(key, []).append(f)
    return groups


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

    Each group is split by geometry (binning and trimmed shape) first: a
    night with 1x1 and 2x2 darks gets a master of each, and each light later
    takes the masters of its own geometry (:meth:`CalibrationMasters.select`).
    A group that cannot be combined is reported in ``problems`` and skipped;
    the lights are then calibrated without that master.
    """
    state = state if state is not None else StepState()
    params = params or MasterParams()
    problems: list[str] = []
    files: list[Path] = []
    bias_groups = list(_by_geometry(bias).items())
    dark_groups = [(t, kg) for t, fs in darks.items() for kg in _by_geometry(fs).items()]
    flat_groups = [(k, kg) for k, fs in flats.items() for kg in _by_geometry(fs).items()]
    keys = {key for key, _ in bias_groups}
    keys |= {key for _, (key, _) in (*dark_groups, *flat_groups)}
    several = len(keys) > 1
    n_groups = len(bias_groups) + len(dark_groups) + len(flat_groups)
    done = 0

    def where(key: tuple) -> str:
        return f" ({describe_geometry(*key)})" if several else ""

    def sub() -> StepState:
        return state.sub(done / max(n_groups, 1), (done + 1) / max(n_groups, 1))

    def attempt(what: str, build):
        try:
            master = build()
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - one master's failure is said, the rest go on
            cause = failure_message(exc)
            problems.append(f"{what}: {cause}")
            log.warning("%s: %s", what, cause)
            return None
        # Frames left out of the master are said with the master's problems.
        problems.extend(f"{what}: left out {line}" for line in master.rejected)
        if folder is not None:
            files.append(write_master(master, folder, geometry=several))
        return master

    biases = []
    for key, frames in bias_groups:
        b = attempt(
            "master bias" + where(key),
            lambda f=frames: make_master_bias(f, params, executor=executor, state=sub()),
        )
        done += 1
        if b is not None:
            biases.append(b)
    masters = CalibrationMasters(biases=tuple(biases))
    master_darks = []
    for t, (key, frames) in dark_groups:
        b = masters.select(*key, None, None).bias
        d = attempt(
            f"master dark {t} s" + where(key),
            lambda f=frames, b=b: make_master_dark(f, b, params, executor=executor, state=sub()),
        )
        done += 1
        if d is not None:
            master_darks.append(d)
    masters = CalibrationMasters(biases=tuple(biases), darks=tuple(master_darks))
    master_flats = []
    for filt, (key, frames) in flat_groups:
        pick = masters.select(*key, frames[0].exptime, None)
        fl = attempt(
            f"master flat {filt}" + where(key),
            lambda f=frames, b=pick.bias, dk=pick.dark: make_master_flat(
                f, b, dk, params, executor=executor, state=sub()
            ),
        )
        done += 1
        if fl is not None:
            master_flats.append(fl)
    state.progress(1.0, "masters done")
    return MastersReport(
        CalibrationMasters(
            biases=tuple(biases), darks=tuple(master_darks), flats=tuple(master_flats)
        ),
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
    prepare_output_folder(out)
    # Here, not at the top: building masters (the main process of a run) does
    # not import the calibration's masks and cosmic rays.
    from .apply import Calibration

    step = Calibration(params, masters)
    tick = state.counter(len(lights), "calibrated")

    def one(frame: RawFrame) -> FrameOutcome:
        state.check()

        def work() -> FrameOutcome:
            result: CalibratedFrame = step(frame)
            path = atomic_write_hdulist(out / frame.name, result.to_hdulist())
            return FrameOutcome(
                frame.name,
                path,
                result.applied,
                result.warnings,
                n_masked=int(result.header.get("NMASKED", 0)),
                missing=dict(result.missing),
            )

        done = per_file(frame.path or frame.name, work)
        outcome = done.value or FrameOutcome(frame.name, error=done.cause)
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
