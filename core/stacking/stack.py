"""Shift-and-add stacking on the stars or on a moving target's track.

The Photometry Pipeline's ``pp_combine``, without SWarp: calibrated frames of
one night are aligned onto the reference frame's pixel grid and combined
pixel by pixel, either

* on the stars (the sky frame): stars add up, a moving target is smeared;
  the alignment comes from the frames' WCS (:func:`star_offsets_from_wcs`) or
  from the frames' registration on their stars
  (:func:`fluxion.core.registration.register_frames`: a shift, rotation and
  scale per frame, :func:`registration_transforms`), or
* on the target (its moving frame): the shifts follow the target's predicted
  positions (a :class:`fluxion.core.targets.tracking.TrackFit` or an ephemeris,
  :func:`target_offsets`), so a faint asteroid adds up and stars are trailed.

How frames are aligned (and why by a shift or an affine map and a cubic
spline) is :mod:`.align`; the parameters and the result are :mod:`.results`.
Both are re-exported here.

Memory is bounded: aligned frames go one by one to a scratch cube that is an
in-memory array when it fits the budget and a memory-mapped temporary file
otherwise, and the cube is combined in bands of rows whose height follows
from the same budget.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import SigmaClip
from astropy.time import Time

from ..calibration.combine import band_height
from ..io.cards import fits_text
from ..registration import FrameTransform
from ..runtime.failures import per_file, shown_name
from ..runtime.pipeline import StepState
from .align import (
    align_all,
    read_calibrated_light,
    registration_transforms,
    star_offsets_from_wcs,
    target_offsets,
    translation_residual,
)
from .results import STACK_METHODS, FrameLoader, StackError, StackParams, StackResult

__all__ = [
    "STACK_METHODS",
    "StackError",
    "StackParams",
    "StackResult",
    "FrameLoader",
    "stack_frames",
    "star_offsets_from_wcs",
    "target_offsets",
    "translation_residual",
    "read_calibrated_light",
    "registration_transforms",
]

log = logging.getLogger(__name__)


def _combine_band(band: np.ndarray, params: StackParams) -> np.ndarray:
    """Combine one band of aligned frames (NaN = no data) pixel by pixel."""
    if params.method == "median":
        # Pixels no frame covers would make nanmedian warn: give them a value
        # and blank them after (cheaper than a lock around the warning filter).
        empty = ~np.isfinite(band).any(axis=0)
        band = np.where(empty, 0.0, band)
        median = np.nanmedian(band, axis=0).astype(np.float32)
        median[empty] = np.nan
        return median
    values = np.ma.masked_invalid(band)
    if params.method == "clipped" and band.shape[0] >= 3:
        # A masked array (not NaN) so that astropy does not warn about the
        # pixels the masks and the frame edges left out.
        clip = SigmaClip(sigma=params.clip_sigma, maxiters=5, cenfunc="median", stdfunc="std")
        values = clip(values, axis=0, masked=True, copy=False)
    return np.ma.filled(values.mean(axis=0), np.nan).astype(np.float32)


def _combine(
    cube: np.ndarray,
    params: StackParams,
    budget: int,
    state: StepState,
    executor: Executor | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and combined image of the aligned cube, in bands of rows.

    Why not :func:`fluxion.core.calibration.combine.combine`: it has no plain
    average and gives sigma clipping NaN-holed input, on which astropy warns.
    """
    n, ny, nx = cube.shape
    rows = band_height(n, (ny, nx), budget)
    if executor is not None:
        rows = max(1, rows // 2)  # parallel bands share the budget
    starts = list(range(0, ny, rows))
    data = np.empty((ny, nx), np.float32)
    coverage = np.empty((ny, nx), np.int16)
    tick = state.counter(len(starts), "combining")

    def one(y0: int) -> None:
        state.check()
        band = np.asarray(cube[:, y0 : y0 + rows])
        coverage[y0 : y0 + rows] = np.isfinite(band).sum(axis=0)
        data[y0 : y0 + rows] = _combine_band(band, params)
        tick()

    if executor is None:
        for y0 in starts:
            one(y0)
    else:
        for future in [executor.submit(one, y0) for y0 in starts]:
            future.result()
    return coverage, data


def stack_frames(
    load: FrameLoader,
    offsets: np.ndarray | Sequence[FrameTransform],
    params: StackParams | None = None,
    *,
    reference: int | None = None,
    header: fits.Header | None = None,
    files: Sequence[str] = (),
    on: str = "stars",
    target: str = "",
    times: Time | None = None,
    exptime: Sequence[float] | None = None,
    scratch_dir: str | os.PathLike[str] | None = None,
    state: StepState | None = None,
    executor: Executor | None = None,
) -> StackResult:
    """Align frames by sub-pixel shifts and combine them.

    Parameters
    ----------
    load : FrameLoader
        ``load(i)`` gives frame ``i`` (calibrated) and its mask or None.
    offsets : ndarray, shape (n_frames, 2), or sequence of FrameTransform
        (dx, dy) px: where the reference frame's pixel lies in frame ``i``
        (:func:`star_offsets_from_wcs`, :func:`target_offsets`); or each
        frame's transform from the reference frame's pixels
        (:func:`registration_transforms`) for a field that rotates.
    params : StackParams, optional
        Method, clipping, interpolation, background, memory budget.
    reference : int, optional
        Frame whose grid and WCS the stack takes; default the middle frame,
        which keeps the largest shift smallest.
    header : astropy.io.fits.Header, optional
        The reference frame's header, copied into the stack's (its WCS is
        the stack's WCS when stacked on the stars).
    files : sequence of str
        File names, recorded as IMCMBnnn cards.
    on : {"stars", "target"}
        What the frames are aligned on, recorded in the header.
    target : str
        Target name for a target stack.
    times : astropy.time.Time, optional
        Mid-exposure times, for the mean time in the header.
    exptime : sequence of float, optional
        Exposure times (s), for EXPTIME (mean) and TOTEXP (sum).
    scratch_dir : path, optional
        Where the aligned frames go when they exceed the memory budget.
    state : StepState, optional
        Progress (aligning 0-0.7, combining 0.7-1) and cancellation.
    executor : Executor, optional
        Aligns frames and combines bands in parallel.

    Returns
    -------
    StackResult
    """
    params = params or StackParams()
    state = state if state is not None else StepState()
    transforms = None
    if len(offsets) and all(isinstance(t, FrameTransform) for t in offsets):
        transforms = list(offsets)
        offsets = np.zeros((len(transforms), 2))
    offsets = np.asarray(offsets, dtype=float).reshape(-1, 2)
    n = len(offsets)
    if n == 0:
        raise StackError("no frames to stack")
    if not np.all(np.isfinite(offsets)):
        raise StackError("some frames have no alignment offset (NaN)")
    if on not in ("stars", "target"):
        raise StackError(f"on must be 'stars' or 'target', got {on!r}")
    reference = n // 2 if reference is None else int(reference)
    if not 0 <= reference < n:
        raise StackError(f"reference frame {reference} not in 0..{n - 1}")
    ref_name = files[reference] if reference < len(files) else f"frame {reference}"
    read = per_file(ref_name, lambda: load(reference))
    if read.failure is not None:
        raise StackError(
            f"the reference frame cannot be read: {shown_name(ref_name)}: {read.failure.cause}"
        )
    first, _ = read.get()
    shape = tuple(int(v) for v in np.shape(first))
    if len(shape) != 2:
        raise StackError(f"frame {reference} is not a 2-D image")
    ny, nx = shape
    if transforms is None:
        alignment = [FrameTransform.shift(dx, dy) for dx, dy in offsets]
    else:
        alignment = transforms
        centre = ((nx - 1) / 2.0, (ny - 1) / 2.0)
        offsets = np.array([t.shift_at(*centre) for t in transforms])
    big = np.abs(offsets).max(axis=0)
    if big[0] >= nx or big[1] >= ny:
        raise StackError(
            f"shifts up to ({big[0]:.0f}, {big[1]:.0f}) px exceed the {nx}x{ny} frames: "
            "nothing would overlap"
        )

    budget = int(params.memory_mb * 2**20)
    cube_bytes = n * ny * nx * 4
    with tempfile.TemporaryDirectory(prefix="fluxion-stack-", dir=scratch_dir) as scratch:
        if cube_bytes <= budget // 2:
            cube = np.empty((n, ny, nx), np.float32)
        else:
            log.info("stack of %d frames: aligned frames on disk (%.0f MB)", n, cube_bytes / 2**20)
            cube = np.lib.format.open_memmap(
                Path(scratch) / "aligned.npy", mode="w+", dtype=np.float32, shape=(n, ny, nx)
            )
        left_out = align_all(
            load, cube, alignment, params, state.sub(0.0, 0.7), executor, names=files
        )
        coverage, data = _combine(cube, params, budget, state.sub(0.7, 1.0), executor)
        del cube  # a memory map must be closed before its folder goes
    out_header = _stack_header(
        header, params, offsets, reference, files, on, target, times, exptime
    )
    if transforms is not None:
        turn = max(abs(t.rotation) for t in transforms)
        out_header["ROTMAX"] = (turn, "[deg] largest rotation undone (affine alignment)")
        out_header["HISTORY"] = "frames aligned by affine transforms from their registration"
    if left_out:
        out_header["NLEFTOUT"] = (len(left_out), "frames unreadable when aligned, left out")
    state.progress(1.0, f"stacked {n - len(left_out)} frames")
    return StackResult(data, coverage, out_header, offsets, transforms, left_out)


def _stack_header(
    header: fits.Header | None,
    params: StackParams,
    offsets: np.ndarray,
    reference: int,
    files: Sequence[str],
    on: str,
    target: str,
    times: Time | None,
    exptime: Sequence[float] | None,
) -> fits.Header:
    """The reference frame's header, with cards that say what was stacked."""
    h = fits.Header()
    if header is not None:
        skip = {"SIMPLE", "BITPIX", "EXTEND", "BZERO", "BSCALE", "BLANK", "XTENSION",
                "PCOUNT", "GCOUNT", "NMASKED"}  # fmt: skip
        for card in header.cards:
            if card.keyword and not card.keyword.startswith("NAXIS") and card.keyword not in skip:
                h.append(card, end=True)
    n = len(offsets)
    h["NCOMBINE"] = (n, "number of frames stacked")
    h["STACKMTD"] = (params.method, "combination: average, median or clipped mean")
    h["STACKON"] = (on, "frames aligned on the stars or on the target")
    if on == "target":
        h["STACKTGT"] = (target or "target", "moving target the frames follow")
        h["COMMENT"] = "Comoving stack: stars are trailed; the WCS is the reference frame's,"
        h["COMMENT"] = "valid for the stars at the reference frame's time."
    if params.method == "clipped":
        h["CLIPSIG"] = (params.clip_sigma, "sigma-clipping threshold")
    h["INTERP"] = (f"spline{params.interpolation_order}", "sub-pixel shift interpolation")
    h["BACKSUB"] = (bool(params.subtract_background), "sky subtracted before stacking")
    h["STACKREF"] = (reference, "frame (0-based) whose pixel grid is used")
    h["SHIFTMAX"] = (float(np.max(np.hypot(*offsets.T))), "[px] largest shift applied")
    if exptime is not None and len(exptime) == n:
        h["EXPTIME"] = (float(np.mean(exptime)), "[s] mean exposure of a frame (mean stack)")
        h["TOTEXP"] = (float(np.sum(exptime)), "[s] total exposure stacked")
    if times is not None and len(times) == n:
        mid = Time(np.mean(times.jd), format="jd", scale=times.scale)
        h["JD-MID"] = (float(mid.utc.jd), "mean mid-exposure JD (UTC) of the frames")
        h["DATE-AVG"] = (mid.utc.isot, "mean mid-exposure time (UTC)")
    for k, name in enumerate(list(files)[:999]):
        h[f"IMCMB{k + 1:03d}"] = (
            fits_text(str(name))[:68],
            f"shift {offsets[k][0]:+.2f} {offsets[k][1]:+.2f}",
        )
    h["HISTORY"] = f"Fluxion stack of {n} frames on the {on} ({params.method})"
    return h
