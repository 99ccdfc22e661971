"""Bad-pixel masks: saturation, hot and cold pixels, cosmic rays, NaNs.

A frame's mask is a uint8 image of :class:`MaskBits`, written as the ``MASK``
extension of the calibrated frame; 0 is a good pixel. Detection and photometry
ignore every flagged pixel except SATURATED, which flags its source instead.
"""

from __future__ import annotations

import enum

import astroscrappy
import numpy as np
from scipy import ndimage

__all__ = ["MaskBits", "bad_pixels_from_masters", "cosmic_rays", "saturation_mask"]


class MaskBits(enum.IntFlag):
    """Bits of a frame's mask (uint8 FITS extension ``MASK``); 0 is a good pixel."""

    SATURATED = 1
    HOT = 2
    COLD = 4
    COSMIC_RAY = 8
    NAN = 16


def saturation_mask(raw: np.ndarray, level: float) -> np.ndarray:
    """Raw pixels at or above the saturation level (ADU), grown by one pixel.

    The neighbours of a saturated pixel have collected charge that bled or
    blooms, so they are not trustworthy either.
    """
    hit = np.asarray(raw) >= level
    if hit.any():
        hit = ndimage.binary_dilation(hit, structure=np.ones((3, 3), bool))
    return hit


def bad_pixels_from_masters(
    dark: np.ndarray | None,
    flat: np.ndarray | None,
    *,
    hot_sigma: float = 8.0,
    cold_flat: float = 0.5,
) -> np.ndarray:
    """Hot pixels from the master dark, cold (dead) pixels from the master flat.

    Parameters
    ----------
    dark : ndarray, optional
        Master dark (bias removed).
    flat : ndarray, optional
        Master flat, mean 1.
    hot_sigma : float
        A pixel is hot when its dark exceeds the median by this many robust
        standard deviations of the dark.
    cold_flat : float
        A pixel is cold when its response is below this fraction of the
        local (31 px median-smoothed) flat, so vignetting and dust do not count.

    Returns
    -------
    ndarray
        uint8 mask with HOT and COLD bits.
    """
    shape = dark.shape if dark is not None else flat.shape if flat is not None else None
    if shape is None:
        raise ValueError("need a master dark or a master flat")
    mask = np.zeros(shape, np.uint8)
    if dark is not None:
        sample = dark[:: max(1, dark.shape[0] // 512), :: max(1, dark.shape[1] // 512)]
        median = np.nanmedian(sample)
        std = 1.4826 * np.nanmedian(np.abs(sample - median))
        std = std if std > 0 else np.nanstd(sample)
        mask[dark > median + hot_sigma * max(std, 1e-6)] |= np.uint8(MaskBits.HOT)
    if flat is not None:
        # A coarse median of the flat follows vignetting and dust, not single pixels.
        step = 8
        coarse = ndimage.median_filter(flat[::step, ::step], size=5, mode="nearest")
        local = ndimage.zoom(coarse, step, order=1, mode="nearest", grid_mode=True)
        local = local[: flat.shape[0], : flat.shape[1]]
        pad = ((0, flat.shape[0] - local.shape[0]), (0, flat.shape[1] - local.shape[1]))
        local = np.pad(local, pad, mode="edge")
        with np.errstate(invalid="ignore", divide="ignore"):
            mask[~(flat > cold_flat * local)] |= np.uint8(MaskBits.COLD)
    return mask


# astroscrappy's median filters copy the outermost pixels instead of filtering
# them, so a star within a few pixels of the frame edge has no fine structure
# and its core passes for a cosmic ray. A reflected border gives it neighbours.
_EDGE_PAD = 8


def cosmic_rays(
    image: np.ndarray,
    *,
    gain: float = 1.0,
    read_noise: float,
    saturation: float = np.inf,
    sigma_clip: float = 4.5,
    sigma_frac: float = 0.3,
    object_limit: float = 5.0,
    iterations: int = 2,
    ignore: np.ndarray | None = None,
) -> np.ndarray:
    """Cosmic-ray pixels by L.A.Cosmic (van Dokkum 2001, PASP 113, 1420), via astroscrappy.

    Cosmic rays are sharper than any star the optics can form: the Laplacian
    of the 2x subsampled image, in units of the expected noise, picks out
    sharp edges, and a fine-structure image rejects the cores of undersampled
    stars. :func:`astroscrappy.detect_cosmics` does the work in C and releases
    the GIL in its filters, so frames can run in parallel on threads.

    Parameters
    ----------
    image : ndarray
        Calibrated image, sky included (the noise model is Poisson on the
        image plus read noise), in ADU.
    gain : float
        e-/ADU.
    read_noise : float
        e- rms.
    saturation : float
        Level (e-, in this image) at and above which a pixel is saturated;
        astroscrappy keeps saturated stars and their surroundings out of the
        search. ``inf`` when nothing saturates.
    sigma_clip, sigma_frac, object_limit, iterations
        L.A.Cosmic's sigclip, sigfrac, objlim and niter.
    ignore : ndarray of bool, optional
        Pixels never flagged and left out of the statistics (saturated, hot,
        cold, NaN); astroscrappy also ignores their immediate neighbours.

    Returns
    -------
    ndarray of bool
    """
    image = np.asarray(image, dtype=np.float32)
    ignore = np.zeros(image.shape, bool) if ignore is None else np.asarray(ignore, bool)
    bad = ignore | ~np.isfinite(image)
    if bad.all():
        return np.zeros(image.shape, bool)
    # NaN would spread through the median filters; a masked pixel only needs a
    # value that is not an edge, so it takes the frame's median.
    filled = np.where(bad, np.float32(np.median(image[~bad])), image)
    hits, _ = astroscrappy.detect_cosmics(
        np.pad(filled, _EDGE_PAD, mode="reflect"),
        inmask=np.pad(bad, _EDGE_PAD, mode="reflect"),
        gain=float(gain),
        readnoise=float(read_noise),
        satlevel=float(saturation),
        sigclip=float(sigma_clip),
        sigfrac=float(sigma_frac),
        objlim=float(object_limit),
        niter=int(iterations),
    )
    p = _EDGE_PAD
    return hits[p:-p, p:-p] & ~bad
