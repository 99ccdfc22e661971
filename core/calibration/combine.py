"""Combining a stack of frames into one, in bands of rows to bound memory.

Fifty 4k x 4k frames are 3.2 GB in float32; the stack is never held at once.
Each frame is read one band of rows at a time (FITS sections read only those
bytes), every band is combined on its own, and the band height follows from a
memory budget. Bands are independent, so an Executor can combine them in
parallel (numpy's median and astropy's sigma clipping release the GIL).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

import numpy as np
from astropy.stats import SigmaClip
from astropy.utils.exceptions import AstropyUserWarning

from ..runtime.pipeline import StepState
from ..runtime.quiet import quiet
from .median import stack_median

__all__ = [
    "COMBINE_METHODS",
    "RowReader",
    "band_height",
    "combine",
    "robust_median",
    "robust_stats",
]

log = logging.getLogger(__name__)

#: Stack combinations: pixel-wise median, or mean after sigma clipping.
COMBINE_METHODS = ("median", "sigma-clipped mean")

#: Reads rows ``y0:y1`` of one frame, already prepared (overscan, bias,
#: scaling), as float32 of shape ``(y1 - y0, nx)``.
RowReader = Callable[[int, int], np.ndarray]


def band_height(n_frames: int, shape: tuple[int, int], memory_bytes: int) -> int:
    """Rows per band so that the band stack (float32, x3 for work) fits the budget."""
    per_row = max(n_frames, 1) * shape[1] * 4 * 3
    return int(min(max(memory_bytes // per_row, 1), shape[0]))


def _combine_band(stack: np.ndarray, method: str, sigma: float) -> np.ndarray:
    if method == "median":
        return _nan_median(stack)
    if stack.shape[0] < 3:
        return _nan_mean(stack)
    clip = SigmaClip(sigma=sigma, maxiters=5, cenfunc="median", stdfunc="std")
    if not np.isnan(stack).any():
        return _nan_mean(clip(stack, axis=0, masked=False, copy=False))
    # astropy says that it leaves NaN out, by a warning; quiet() serialises the
    # bands that have NaN (rare: a dead pixel in every frame, a bad input).
    with quiet(AstropyUserWarning, "Input data contains invalid values"):
        clipped = clip(stack, axis=0, masked=False, copy=False)
    return _nan_mean(clipped)


# Pixels NaN in every frame (or clipped in every frame) stay NaN: not an error.
# numpy's nan-functions warn about them, and silencing a warning swaps the
# process-wide filters, which is not safe on the threads that combine bands;
# these compute the same numbers without warning.


def _nan_median(stack: np.ndarray) -> np.ndarray:
    """``np.nanmedian(stack, axis=0)`` as float32, NaN where every frame is NaN."""
    nan = np.isnan(stack)
    if not nan.any():
        # The same numbers as np.median's, by a selection network (numpy's
        # nanmedian along a short axis goes through masked arrays, and its
        # median partitions one strided column per pixel).
        return stack_median(stack)
    empty = nan.all(axis=0)
    if empty.any():
        stack = stack.copy()
        stack[:, empty] = 0.0
    out = np.nanmedian(stack, axis=0).astype(np.float32)
    out[empty] = np.nan
    return out


def _nan_mean(stack: np.ndarray) -> np.ndarray:
    """``np.nanmean(stack, axis=0)`` as float32, NaN where every frame is NaN."""
    count = np.count_nonzero(~np.isnan(stack), axis=0)
    total = np.nansum(stack, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count
    return out.astype(np.float32)


def combine(
    readers: Sequence[RowReader],
    shape: tuple[int, int],
    *,
    method: str = "median",
    sigma: float = 3.0,
    memory_bytes: int = 1 << 30,
    executor: Executor | None = None,
    state: StepState | None = None,
) -> np.ndarray:
    """Combine frames pixel by pixel, band by band.

    Parameters
    ----------
    readers : sequence of RowReader
        One per frame; each returns prepared float32 rows.
    shape : (ny, nx)
        Shape of every prepared frame.
    method : {'median', 'sigma-clipped mean'}
        Median, or the mean of the values within ``sigma`` standard
        deviations of the median, iterated (astropy SigmaClip).
    sigma : float
        Clipping threshold of the sigma-clipped mean.
    memory_bytes : int
        Budget for the band stack.
    executor : Executor, optional
        Combine bands in parallel.
    state : StepState, optional
        Progress and cancellation (checked between bands).

    Returns
    -------
    ndarray
        float32 image of ``shape``.
    """
    if method not in COMBINE_METHODS:
        raise ValueError(f"unknown combine method {method!r}; use one of {COMBINE_METHODS}")
    if not readers:
        raise ValueError("no frames to combine")
    state = state if state is not None else StepState()
    ny, nx = shape
    rows = band_height(len(readers), shape, memory_bytes)
    if executor is not None:
        # Parallel bands share the budget.
        rows = max(1, rows // 2)
    starts = list(range(0, ny, rows))
    out = np.empty(shape, np.float32)
    tick = state.counter(len(starts), "combining")

    def one(y0: int) -> None:
        state.check()
        y1 = min(y0 + rows, ny)
        stack = np.empty((len(readers), y1 - y0, nx), np.float32)
        for k, read in enumerate(readers):
            band = read(y0, y1)
            if band.shape != (y1 - y0, nx):
                raise ValueError(
                    f"frame {k + 1} gave rows of shape {band.shape}, expected {(y1 - y0, nx)}"
                )
            stack[k] = band
        out[y0:y1] = _combine_band(stack, method, sigma)
        tick()

    log.debug("combining %d frames in %d bands of %d rows", len(readers), len(starts), rows)
    if executor is None:
        for y0 in starts:
            one(y0)
    else:
        for future in [executor.submit(one, y0) for y0 in starts]:
            future.result()
    return out


def _finite_sample(image: np.ndarray, max_samples: int) -> np.ndarray:
    """At most about ``max_samples`` finite pixels of ``image``, evenly spaced (a new array)."""
    flat = image.ravel()
    step = max(1, math.ceil(flat.size / max_samples))
    sample = flat[::step]
    return sample[np.isfinite(sample)]


def robust_median(image: np.ndarray, max_samples: int = 1_000_000) -> float:
    """The median of :func:`robust_stats`, without the other statistics (a flat's level)."""
    sample = _finite_sample(image, max_samples)
    if sample.size == 0:
        return math.nan
    # The sample is this function's own copy: partitioned in place.
    return float(np.median(sample, overwrite_input=True))


def robust_stats(image: np.ndarray, max_samples: int = 1_000_000) -> dict[str, float]:
    """Mean, median and robust standard deviation of an image (subsampled when large)."""
    sample = _finite_sample(image, max_samples)
    if sample.size == 0:
        return {"mean": math.nan, "median": math.nan, "std": math.nan}
    # The mean first: the medians below reorder the sample (their own copy) in place.
    mean = float(np.mean(sample))
    median = float(np.median(sample, overwrite_input=True))
    mad = float(np.median(np.abs(sample - median), overwrite_input=True)) * 1.4826
    return {"mean": mean, "median": median, "std": mad}
