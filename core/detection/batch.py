"""Detection over frames on disk: read lazily, run in parallel, write one ECSV per frame.

Each frame's pixels are read when its turn comes (so memory holds only the
frames in flight), with the ``MASK`` extension that calibration writes when
present. A frame that cannot be read or searched is reported and the others
go on.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..io.fitsio import atomic_write_ecsv, read_image
from ..io.folders import prepare_output_folder, product_stem
from ..io.frames import frame_info, frame_table_meta
from ..io.names import FrameNames
from ..io.rawfile import is_raw_name
from ..runtime.failures import per_file
from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from .extract import Detection, DetectionResult

__all__ = ["DetectionOutcome", "catalog_name", "detect_file", "detect_files", "read_mask"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionOutcome:
    """One frame's detection summary, or why it failed."""

    path: Path
    output: Path | None = None
    n_sources: int = 0
    fwhm: float = math.nan
    fwhm_spread: float = math.nan
    sky: float = math.nan
    sky_noise: float = math.nan
    error: str | None = None


def catalog_name(path: str | os.PathLike[str]) -> str:
    """``light_0001.fits`` -> ``light_0001.ecsv`` (also for .fit, .fts, .fits.fz)."""
    name = Path(path).name
    for ext in (".fits.fz", ".fit.fz", ".fits.gz", ".fit.gz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(ext):
            return product_stem(name[: -len(ext)]) + ".ecsv"
    return product_stem(Path(name).stem) + ".ecsv"


def read_mask(path: str | os.PathLike[str]) -> np.ndarray | None:
    """The ``MASK`` extension of a calibrated frame, or None (a camera raw file has none)."""
    if is_raw_name(path):
        return None
    with quiet():
        with fits.open(path, memmap=False) as hdul:
            if "MASK" not in hdul:
                return None
            return np.array(hdul["MASK"].data, dtype=np.uint8)


def detect_file(
    path: str | os.PathLike[str], step: Detection, *, state: StepState | None = None
) -> tuple[DetectionResult, Table]:
    """Detect the sources of one file; returns the result and its catalog table.

    The table's meta holds the frame's FWHM, spread, sky, sky noise, source
    count and file name.
    """
    info = frame_info(path)
    image = read_image(path, hdu=info.hdu if info.hdu >= 0 else None)
    mask = read_mask(path)
    if mask is not None and mask.shape != image.shape:
        log.warning("%s: MASK shape %s differs from the image; ignored", path, mask.shape)
        mask = None
    # A calibrated frame's saturation is in its mask; a raw one's in its header.
    saturation = info.saturation if mask is None else None
    result = step(image, mask=mask, gain=info.gain, saturation=saturation, state=state)
    table = result.sources
    table.meta.update(frame_table_meta(path, info))
    return result, table


def detect_files(
    paths: Sequence[str | os.PathLike[str]],
    step: Detection,
    outdir: str | os.PathLike[str] | None = None,
    *,
    executor: Executor | None = None,
    state: StepState | None = None,
    names: FrameNames | None = None,
) -> list[DetectionOutcome]:
    """Detect sources in every file; write ``outdir/<base name>.ecsv`` when given.

    Files whose names clash (``names``, by default :meth:`FrameNames.of` the
    ``paths``) have their catalogues in sub-folders named as their own folders.
    """
    names = names if names is not None else FrameNames.of(paths)
    state = state if state is not None else StepState()
    out = Path(outdir) if outdir is not None else None
    if out is not None:
        prepare_output_folder(out)
    tick = state.counter(len(paths), "detected")

    def one(path: str | os.PathLike[str]) -> DetectionOutcome:
        state.check()
        p = Path(path)

        def work() -> DetectionOutcome:
            result, table = detect_file(p, step)
            written = None
            if out is not None:
                written = atomic_write_ecsv(out / names.folder(p) / catalog_name(p), table)
            return DetectionOutcome(
                p,
                written,
                result.n_sources,
                result.fwhm,
                result.fwhm_spread,
                result.sky,
                result.sky_noise,
            )

        done = per_file(p, work)
        outcome = done.value or DetectionOutcome(p, error=done.cause)
        tick()
        return outcome

    if executor is None:
        return [one(p) for p in paths]
    return [f.result() for f in [executor.submit(one, p) for p in paths]]
