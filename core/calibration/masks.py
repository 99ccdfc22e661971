"""Bad-pixel masks: saturation, hot and cold pixels, cosmic rays, NaNs.

A frame's mask is a uint8 image of :class:`MaskBits`, written as the ``MASK``
extension of the calibrated frame; 0 is a good pixel. Detection and photometry
ignore every flagged pixel except SATURATED, which flags its source instead.
"""

from __future__ import annotations

import enum

import numpy as np
from scipy import ndimage

from ..io.cfa import CHANNELS, channel_offsets, channel_view
from ..runtime.sparse import sparse_nonzero
from .cold import cold_pixels
from .cosmics import detect_cosmics_near, reflect_pad, whole_frame_cosmics

__all__ = [
    "MaskBits",
    "WarmPixels",
    "bad_pixels_from_masters",
    "cosmic_rays",
    "dark_level",
    "hot_pixels",
    "pixel_noise",
    "cosmic_rays_by_channel",
    "grow_saturated",
    "saturation_mask",
]


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
    return grow_saturated(np.asarray(raw) >= level)


def grow_saturated(hit: np.ndarray) -> np.ndarray:
    """:func:`saturation_mask` of the pixels ``hit`` (bool): grown by one pixel, in place."""
    # A 3 x 3 dilation drawn around the few saturated pixels only (binary_dilation
    # of the whole frame cost more than calibrating it at 4096^2).
    rows, cols = sparse_nonzero(hit)
    if rows.size:
        ny, nx = hit.shape
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                r, c = rows + dy, cols + dx
                inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
                hit[r[inside], c[inside]] = True
    return hit


def dark_level(dark: np.ndarray) -> tuple[float, float]:
    """The typical pixel of a master dark and its robust scatter (median, MAD sigma)."""
    sample = dark[:: max(1, dark.shape[0] // 512), :: max(1, dark.shape[1] // 512)]
    median = float(np.nanmedian(sample))
    std = 1.4826 * float(np.nanmedian(np.abs(sample - median)))
    return median, std if std > 0 else float(np.nanstd(sample))


def pixel_noise(image: np.ndarray) -> float:
    """A frame's noise per pixel, from the differences of pixels two columns apart.

    The median absolute difference ignores stars, hot pixels and cosmic rays,
    and a difference of near pixels ignores the vignetting and sky gradients
    that make a frame's own MAD several times its noise (an unflattened real
    light: 209 ADU against 50); two columns apart, a colour mosaic's pixels
    are of the same colour. NaN when the frame has no such finite pair.
    """
    sample = np.asarray(image[:: max(1, image.shape[0] // 256)], dtype=np.float64)
    diff = (sample[:, 2:] - sample[:, :-2]).ravel()
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan")
    centre = _median(diff)
    np.subtract(diff, centre, out=diff)
    np.abs(diff, out=diff)
    return 1.4826 * float(_median(diff)) / np.sqrt(2.0)


def _median(values: np.ndarray) -> float:
    """``np.median`` of finite ``values`` (1-D), to the bit, mostly without partitioning them all.

    The middle order statistics lie, but for a one-in-a-million chance,
    between two quantiles of a sparse sample; only the values between them
    (a few percent) are partitioned, after counting those below. When they
    do not hold the middle, the whole array is partitioned as np.median does.
    """
    n = values.size
    if n < 20000:
        return float(np.median(values))
    middle = [(n - 1) // 2, n // 2]
    sample = np.sort(values[:: max(1, n // 2000)])
    m = sample.size
    # The sample's ranks of the middle, +- 6 binomial sigma.
    spread = int(np.ceil(6.0 * np.sqrt(m) / 2.0)) + 1
    low = sample[max(m // 2 - spread, 0)]
    high = sample[min(m // 2 + spread, m - 1)]
    below = int(np.count_nonzero(values < low))
    window = values[(values >= low) & (values <= high)]
    first, last = middle[0] - below, middle[1] - below
    if first < 0 or last >= window.size:
        window, first, last = values, middle[0], middle[1]
    part = np.partition(window, [first, last])
    # np.median's own last step: the mean of the middle one or two.
    return float(np.mean(part[first : last + 1]))


def hot_pixels(dark: np.ndarray, hot_sigma: float = 8.0, floor: float = 0.0) -> np.ndarray:
    """Pixels of a master dark above its median by ``hot_sigma`` robust sigma and by ``floor``.

    A real camera's dark has a long tail of warm pixels: 1.5 % of an SBIG
    STL-1001E's pixels are 8 robust sigma above the median, each holding a
    few tens of electrons that the dark subtracts. ``floor`` (in the dark's
    units) says which of them matter (see :class:`CalibrationParams.hot_sky`).
    """
    median, std = dark_level(dark)
    return dark > median + max(hot_sigma * max(std, 1e-6), floor)


class WarmPixels:
    """A master dark's pixels that may be hot, so that each light's threshold is a lookup.

    :func:`hot_pixels` of the dark for any ``floor`` (the light's own noise
    sets it, so it changes from light to light) is the candidates above the
    threshold: the dark's level and the pixels above ``hot_sigma`` robust
    sigma are found once, not the whole dark scanned again for every light.
    """

    def __init__(self, dark: np.ndarray, hot_sigma: float = 8.0) -> None:
        self.shape = dark.shape
        self.median, self.std = dark_level(dark)
        self._sigma_level = self.median + hot_sigma * max(self.std, 1e-6)
        flat = np.asarray(dark).ravel()
        self._index = np.flatnonzero(flat > self._sigma_level)
        self._values = flat[self._index]

    def hot(self, floor: float = 0.0) -> np.ndarray:
        """Flat indices of the pixels :func:`hot_pixels` ``(dark, hot_sigma, floor)`` gives."""
        if self.median + floor <= self._sigma_level:
            return self._index
        return self._index[self._values > self.median + floor]


def bad_pixels_from_masters(
    dark: np.ndarray | None,
    flat: np.ndarray | None,
    *,
    hot_sigma: float = 8.0,
    cold_flat: float = 0.5,
    hot_floor: float = 0.0,
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
        standard deviations of the dark ...
    cold_flat : float
        A pixel is cold when its response is below this fraction of the
        local (31 px median-smoothed) flat, so vignetting and dust do not count.
    hot_floor : float
        ... and by this much (the dark's units; see :func:`hot_pixels`).

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
        mask[hot_pixels(dark, hot_sigma, hot_floor)] |= np.uint8(MaskBits.HOT)
    if flat is not None:
        mask[cold_pixels(flat, cold_flat)] |= np.uint8(MaskBits.COLD)
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
    whole_frame: bool = False,
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
    whole_frame : bool
        Search the whole frame (the reference the cut-outs are checked against).

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
    # value that is not an edge, so it takes the frame's typical level (the
    # median of one pixel in 16: the whole frame's cost as much as the search).
    # Filled straight into the padded frame (no filled copy of the frame first).
    # Both into this thread's scratch frames, reused from light to light.
    if bad.any():
        fill = _typical(image, bad)
        padded = reflect_pad(image, _EDGE_PAD, fill=fill, where=bad, scratch="image")
    else:
        padded = reflect_pad(image, _EDGE_PAD, scratch="image")
    search = whole_frame_cosmics if whole_frame else detect_cosmics_near
    hits = search(
        padded,
        reflect_pad(bad, _EDGE_PAD, scratch="mask"),
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


def _typical(image: np.ndarray, bad: np.ndarray) -> np.float32:
    """Median of the good pixels of a sparse grid of the frame (of all of them when few)."""
    sample = image[::4, ::4][~bad[::4, ::4]]
    if sample.size < 1000:
        sample = image[~bad]
    return np.float32(np.median(sample))


def cosmic_rays_by_channel(
    image: np.ndarray, pattern: str, *, star_contrast: float = 8.0, **kw
) -> np.ndarray:
    """:func:`cosmic_rays` of a colour-filter-array frame: each channel's grid, stars vetoed.

    On the mosaic a star is a checkerboard whose pixel-to-pixel steps
    L.A.Cosmic takes for hits (25 000 pixels of a 256^2 simulated light
    flagged), so each channel's grid is searched as an image of its own. On
    a grid, though, a star of 2.5 px FWHM is 1.3 grid pixels wide, as sharp
    as a hit, and its core is flagged too (38 core pixels of that light).
    What tells them apart is the light on the pixels around, whatever their
    channel. A flagged pixel is a star's when it rises less than
    ``star_contrast`` times the 5 x 5 median of the mosaic above its
    channel's sky (a median of 25 pixels keeps a star, whose light covers
    them, but not a hit one or two pixels wide, even along a track; a star's
    core rises 2-4 times it, more for strong colours; a hit tens of times),
    or when its unflagged neighbours hold a significant share of its light (a
    faint star, whose median is lost in the noise; a track's pixels are
    flagged themselves). Two simulated lights: no core flagged, 98% of the
    hits found.
    ``kw`` as for :func:`cosmic_rays`.
    """
    image = np.asarray(image, dtype=np.float64)
    ignore = kw.pop("ignore", None)
    hits = np.zeros(image.shape, bool)
    sky = np.empty(image.shape)
    for channel in CHANNELS:
        grid = channel_view(image, pattern, channel)
        sub_ignore = None if ignore is None else channel_view(ignore, pattern, channel)
        dy, dx = channel_offsets(pattern)[channel]
        hits[dy::2, dx::2] = cosmic_rays(grid, ignore=sub_ignore, **kw)
        # The channel's local sky: a median over 7 grid pixels (14 px) is not moved by a star.
        finite = np.where(np.isfinite(grid), grid, np.nanmedian(grid))
        sky[dy::2, dx::2] = ndimage.median_filter(finite, size=7, mode="nearest")
    if not hits.any():
        return hits
    excess = np.nan_to_num(image - sky)
    body = ndimage.median_filter(excess, size=5, mode="nearest")
    star = excess < star_contrast * np.maximum(body, 0.0)
    # A faint star's median is lost in the noise; its eight neighbours not
    # flagged still hold a fair share of its core's light, as a hit's do not
    # (the pixels of a track are flagged themselves).
    gain = float(kw.get("gain", 1.0))
    variance = np.maximum(image, 0.0) / gain + (float(kw["read_noise"]) / gain) ** 2
    free = (~hits & np.isfinite(image)).astype(float)
    if ignore is not None:
        free *= ~np.asarray(ignore, bool)
    ring = np.ones((3, 3))
    ring[1, 1] = 0.0
    n = ndimage.convolve(free, ring, mode="constant")
    total = ndimage.convolve(excess * free, ring, mode="constant")
    spread = np.sqrt(ndimage.convolve(np.nan_to_num(variance) * free, ring, mode="constant"))
    with np.errstate(divide="ignore", invalid="ignore"):
        lit = (total > 3.0 * spread) & (total / n > excess / star_contrast)
    return hits & ~(star | lit)
