"""Detection on a colour-filter-array frame: on its green pixels, positions in the frame's.

The two greens of each 2 x 2 block (:func:`fluxion.core.io.cfa.bin_cfa`) make
one image of the blocks whose light centre is the block's whatever a star's
colour; sources are found and measured there and given back in the frame's
pixels. Detected on the mosaic itself, a star is a checkerboard whose
centroid leans towards its colour's pixels (a quarter of a pixel for a red
star) and whose pixel-to-pixel steps pass for structure.
"""

from __future__ import annotations

import numpy as np
from astropy.table import Table

from ..calibration.masks import MaskBits
from ..io.cfa import bin_cfa, channel_offsets, unbinned_xy
from .extract import Detection, DetectionResult

__all__ = ["detect_on_greens", "green_mask", "unbinned_sources"]

# Sizes a source table counts in pixels (they double back in the frame).
_SIZE_COLUMNS = ("fwhm", "x_err", "y_err", "a", "b", "flux_radius", "kron_radius")
_POSITION_PAIRS = (("x", "y"), ("x_iso", "y_iso"))


def green_mask(mask: np.ndarray, pattern: str) -> np.ndarray:
    """A :class:`MaskBits` mask of the green blocks: the bits of either green pixel."""
    offsets = channel_offsets(pattern)
    ny, nx = (s - s % 2 for s in mask.shape)
    m = np.asarray(mask[:ny, :nx], dtype=np.uint8)
    (y1, x1), (y2, x2) = offsets["G1"], offsets["G2"]
    return m[y1::2, x1::2] | m[y2::2, x2::2]


def unbinned_sources(table: Table, factor: int = 2, note: str | None = None) -> Table:
    """Sources measured on a ``factor``-binned image, in the unbinned frame's pixels."""
    out = table.copy()
    out.meta = dict(table.meta)
    for cx, cy in _POSITION_PAIRS:
        if cx in out.colnames and cy in out.colnames:
            out[cx], out[cy] = unbinned_xy(out[cx], out[cy], factor)
    for name in _SIZE_COLUMNS:
        if name in out.colnames:
            out[name] = np.asarray(out[name], float) * factor
    for key in ("fwhm", "fwhm_spread", "filter_fwhm"):
        if key in out.meta and out.meta[key] is not None:
            out.meta[key] = float(out.meta[key]) * factor
    if note:
        prior = out.meta.get("centroids_note")
        out.meta["centroids_note"] = f"{prior}; {note}" if prior else note
    return out


def detect_on_greens(
    detection: Detection,
    image: np.ndarray,
    pattern: str,
    mask: np.ndarray | None = None,
    *,
    gain: float | None = None,
    saturation: float | None = None,
) -> DetectionResult:
    """Detect the sources of a colour frame on its green pixels; frame positions and sizes.

    A raw frame's saturation (``saturation``, no mask) becomes a mask bit of
    the pixels at that level first, so that a block is saturated when either
    of its greens is (the sum of two pixels says nothing about one).
    """
    data = np.asarray(image, dtype=np.float64)
    if mask is None and saturation is not None:
        mask = np.where(data >= saturation, np.uint8(MaskBits.SATURATED), np.uint8(0))
    greens = bin_cfa(data, pattern)
    binned_mask = None if mask is None else green_mask(mask, pattern)
    # Two pixels' sum: its noise in electrons is still Poisson, the gain unchanged.
    found = detection(greens, binned_mask, gain=gain)
    sources = unbinned_sources(found.sources, 2, "sources found on the green pixels")
    # The sky of one pixel: a block's two greens hold twice its level.
    sky, noise = found.sky / 2.0, found.sky_noise / np.sqrt(2.0)
    sources.meta.update(bayer_pattern=pattern, sky=sky, sky_noise=noise)
    return DetectionResult(
        sources=sources,
        fwhm=2.0 * found.fwhm,
        fwhm_spread=2.0 * found.fwhm_spread,
        n_fwhm_stars=found.n_fwhm_stars,
        sky=sky,
        sky_noise=noise,
        background=found.background,
        filter_fwhm=2.0 * found.filter_fwhm,
    )
