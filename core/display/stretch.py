"""Display limits and stretches for showing astronomical frames.

Limits (the data values shown as black and white) are computed on a subsample
of the frame so that a 4k x 4k frame costs a few milliseconds; the stretch
(linear, sqrt, log, asinh) is applied as a curve on the normalised value so a
viewer can bake it into a colour lookup table and change it without touching
the pixels. The stretch formulas are astropy.visualization's, so the app shows
what ``astropy``/DS9 users expect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from astropy.nddata import block_reduce
from astropy.visualization import (
    AsinhStretch,
    AsymmetricPercentileInterval,
    BaseStretch,
    LinearStretch,
    LogStretch,
    SqrtStretch,
    ZScaleInterval,
)

__all__ = [
    "STRETCHES",
    "LIMIT_METHODS",
    "Limits",
    "subsample",
    "zscale_limits",
    "percentile_limits",
    "compute_limits",
    "stretch_curve",
    "apply_stretch",
    "display_histogram",
    "PREVIEW_MAX_SIDE",
    "block_preview",
]

# A frame zoomed out to fit a screen shows at most ~1500 screen pixels a side;
# a block-averaged preview of this size looks the same and renders 5-10x faster.
PREVIEW_MAX_SIDE = 1536

StretchName = Literal["linear", "sqrt", "log", "asinh"]
STRETCHES: tuple[str, ...] = ("linear", "sqrt", "log", "asinh")
LIMIT_METHODS: tuple[str, ...] = ("zscale", "99.5%", "99%", "98%", "95%", "minmax")

# Pixels looked at for limits: enough for percentiles good to a fraction of
# the sky noise, few enough that a 4k x 4k frame costs milliseconds.
DEFAULT_SAMPLE = 250_000
# zscale's iterative line fit is ~100x slower per pixel than a percentile;
# IRAF used 1000 pixels, 20 000 keeps it stable and near 10 ms.
ZSCALE_SAMPLE = 20_000


@dataclass(frozen=True)
class Limits:
    """Data values shown as the darkest (``vmin``) and brightest (``vmax``) level."""

    vmin: float
    vmax: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.vmin) and np.isfinite(self.vmax)):
            raise ValueError(f"display limits must be finite, got {self.vmin}, {self.vmax}")


def subsample(data: np.ndarray, max_pixels: int = DEFAULT_SAMPLE) -> np.ndarray:
    """Finite pixels of ``data`` on a regular grid of at most ``max_pixels``.

    A regular stride (rather than random picks) keeps it reproducible and
    cheap: the strided view is taken without copying the frame.
    """
    arr = np.asarray(data)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-d image, got shape {arr.shape}")
    step = max(1, int(np.ceil(np.sqrt(arr.size / max(max_pixels, 1)))))
    sample = np.asarray(arr[::step, ::step], dtype=np.float32).ravel()
    finite = sample[np.isfinite(sample)]
    if step > 1 and finite.size < sample.size // 2:
        # The grid can alias with a pattern of bad rows or columns; fall back
        # to seeded random picks, which cannot.
        idx = np.random.default_rng(0).integers(0, arr.size, size=sample.size)
        picked = np.asarray(arr.ravel()[idx], dtype=np.float32)
        finite = picked[np.isfinite(picked)]
    return finite


def _widen(vmin: float, vmax: float) -> Limits:
    # A flat frame (all one value) still needs a non-empty range to display.
    if vmax <= vmin:
        pad = max(abs(vmin) * 1e-6, 1e-6)
        return Limits(vmin - pad, vmin + pad)
    return Limits(vmin, vmax)


def zscale_limits(
    data: np.ndarray, *, contrast: float = 0.25, max_pixels: int = ZSCALE_SAMPLE
) -> Limits:
    """IRAF zscale limits (astropy's ZScaleInterval) on a subsample of ``data``."""
    sample = subsample(data, max_pixels)
    if sample.size == 0:
        raise ValueError("the frame has no finite pixels")
    # ZScaleInterval subsamples to n_samples itself; hand it the whole sample.
    lo, hi = ZScaleInterval(n_samples=sample.size, contrast=contrast).get_limits(sample)
    return _widen(float(lo), float(hi))


def percentile_limits(
    data: np.ndarray,
    lower: float = 0.25,
    upper: float = 99.75,
    *,
    max_pixels: int = DEFAULT_SAMPLE,
) -> Limits:
    """Limits at the ``lower`` and ``upper`` percentiles of a subsample of ``data``."""
    if not 0.0 <= lower < upper <= 100.0:
        raise ValueError(f"need 0 <= lower < upper <= 100, got {lower}, {upper}")
    sample = subsample(data, max_pixels)
    if sample.size == 0:
        raise ValueError("the frame has no finite pixels")
    lo, hi = AsymmetricPercentileInterval(lower, upper).get_limits(sample)
    return _widen(float(lo), float(hi))


def compute_limits(data: np.ndarray, method: str = "zscale", **kwargs: Any) -> Limits:
    """Limits by name: ``"zscale"``, ``"minmax"`` or a central percentile like ``"99.5%"``.

    A central percentile ``p%`` keeps ``p`` percent of the pixels, cutting
    ``(100 - p) / 2`` percent at each end, as DS9 and astropy do. ``kwargs``
    go to :func:`zscale_limits` or :func:`percentile_limits` (``max_pixels``,
    and ``contrast`` for zscale).
    """
    if method == "zscale":
        return zscale_limits(data, **kwargs)
    if method == "minmax":
        return percentile_limits(data, 0.0, 100.0, **kwargs)
    if method.endswith("%"):
        try:
            p = float(method[:-1])
        except ValueError:
            p = -1.0
        if 0.0 < p <= 100.0:
            cut = (100.0 - p) / 2.0
            return percentile_limits(data, cut, 100.0 - cut, **kwargs)
    raise ValueError(f"unknown limits method {method!r}; use one of {', '.join(LIMIT_METHODS)}")


def _stretch_object(kind: str) -> BaseStretch:
    if kind == "linear":
        return LinearStretch()
    if kind == "sqrt":
        return SqrtStretch()
    if kind == "log":
        return LogStretch(a=1000.0)  # DS9's default exponent
    if kind == "asinh":
        return AsinhStretch(a=0.1)
    raise ValueError(f"unknown stretch {kind!r}; use one of {', '.join(STRETCHES)}")


def stretch_curve(
    kind: str = "linear", n: int = 4096, *, contrast: float = 1.0, bias: float = 0.5
) -> np.ndarray:
    """The display value (0..1) for ``n`` evenly spaced normalised data values.

    This is a lookup table: entry ``i`` is what a pixel at fraction
    ``i / (n - 1)`` between the limits is shown as. ``contrast`` and ``bias``
    act like DS9's colour-bar contrast and bias (1 and 0.5 change nothing):
    ``(stretched - bias) * contrast + 0.5``, clipped to 0..1.
    """
    if n < 2:
        raise ValueError("a stretch curve needs at least 2 entries")
    t = np.linspace(0.0, 1.0, n)
    y = np.asarray(_stretch_object(kind)(t, clip=True), dtype=float)
    return np.clip((y - bias) * contrast + 0.5, 0.0, 1.0)


def apply_stretch(data: np.ndarray, limits: Limits, kind: str = "linear") -> np.ndarray:
    """Stretched display values (0..1, float32) of a whole image.

    For exporting or thumbnails; the viewer itself uses :func:`stretch_curve`
    as a lookup table and never recomputes pixels when the stretch changes.
    """
    span = limits.vmax - limits.vmin
    t = (np.asarray(data, dtype=np.float32) - np.float32(limits.vmin)) / np.float32(span)
    np.clip(t, 0.0, 1.0, out=t)
    t = np.nan_to_num(t, nan=0.0)
    return np.asarray(_stretch_object(kind)(t, clip=True), dtype=np.float32)


def display_histogram(
    data: np.ndarray, limits: Limits, *, bins: int = 256, max_pixels: int = DEFAULT_SAMPLE
) -> tuple[np.ndarray, np.ndarray]:
    """Histogram (bin edges, counts) of a subsample around the display limits.

    The range extends half the limits' span beyond each end so the user can
    drag the limits outwards and still see where the pixels are.
    """
    sample = subsample(data, max_pixels)
    span = limits.vmax - limits.vmin
    lo, hi = limits.vmin - 0.5 * span, limits.vmax + 0.5 * span
    counts, edges = np.histogram(sample, bins=bins, range=(lo, hi))
    return edges, counts


def block_preview(
    data: np.ndarray, max_side: int = PREVIEW_MAX_SIDE
) -> tuple[np.ndarray | None, int]:
    """A block-averaged copy of ``data`` no larger than ``max_side``, and the block size.

    Returns ``(None, 1)`` when the frame is already small enough. Blocks are
    averaged (astropy's ``block_reduce``) rather than picked, so the preview
    shows the noise a zoomed-out eye expects; a partial block at the top or
    right edge is dropped (less than one screen pixel when it is used).
    """
    arr = np.asarray(data)
    factor = int(np.ceil(max(arr.shape) / max_side))
    if factor <= 1:
        return None, 1
    preview = block_reduce(arr.astype(np.float32, copy=False), factor, func=np.mean)
    return np.asarray(preview, dtype=np.float32), factor
