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

from ..astrometry.cfa_sources import bin_cfa_mask, unbinned_sources
from ..calibration.masks import MaskBits
from ..io.cfa import bin_cfa, unbinned_xy
from .extract import Detection, DetectionResult

__all__ = ["detect_on_greens"]


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
    binned_mask = None if mask is None else bin_cfa_mask(mask, pattern)
    # Two pixels' sum: its noise in electrons is still Poisson, the gain unchanged.
    found = detection(greens, binned_mask, gain=gain)
    sources = unbinned_sources(found.sources, 2)
    if "x_iso" in sources.colnames:
        sources["x_iso"], sources["y_iso"] = unbinned_xy(sources["x_iso"], sources["y_iso"])
    # The sky of one pixel: a block's two greens hold twice its level.
    sky, noise = found.sky / 2.0, found.sky_noise / np.sqrt(2.0)
    sources.meta.update(
        bayer_pattern=pattern,
        sky=sky,
        sky_noise=noise,
        fwhm_spread=2.0 * found.fwhm_spread,
        filter_fwhm=2.0 * found.filter_fwhm,
    )
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
