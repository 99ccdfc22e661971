"""sep's extraction with a threshold in S/N of the filtered image, and its kernels.

sep compares the filtered image with ``threshold x err``, ``err`` being the
pixel noise; the kernel's noise factor turns an S/N of the filtered image into
that unit (see :mod:`fluxion.core.detection.extract` for why).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import sep

from .params import DetectionParams

__all__ = ["extract_objects", "gaussian_kernel", "noise_factor", "pyramid_kernel"]

# sep's pixel stack bounds the size of the largest object it can follow; the
# default (300 000) overflows on 4k x 4k frames with bright extended stars. It
# is allocated and cleared on every extraction (0.06 s at 3 million pixels,
# four times a 1k x 1k frame's whole extraction), so it is grown only for a
# frame that overflows it, and only for that extraction.
_PIXSTACK_LOCK = threading.Lock()

# Gaussian sigma per unit FWHM.
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def pyramid_kernel() -> np.ndarray:
    """SExtractor's default 3x3 pyramid kernel (default.conv), also sep's default."""
    return np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])


def gaussian_kernel(fwhm: float) -> np.ndarray:
    """A Gaussian detection kernel of the given FWHM (px), out to 1 FWHM.

    sep convolves directly, at a cost in proportion to the kernel's area (a
    13 x 13 kernel for a 3.5 px star was half the extraction). At 1 FWHM
    (2.35 sigma) from the centre the box holds all but 1e-3 of the kernel's
    sum of squares, for any FWHM from 1.5 to 12 px: the matched filter's S/N
    for a point source is the untruncated kernel's to 5e-4 (a threshold of
    S/N 4.5 acts as 4.502), and the noise factor is the truncated kernel's own.
    A box out to 1.5 FWHM, as this kernel had, is twice the area for 2e-5 of
    S/N on a 3.5 px star.
    """
    sigma = fwhm * _FWHM_TO_SIGMA
    half = max(1, int(math.ceil(fwhm)))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    return np.exp(-0.5 * (xx**2 + yy**2) / sigma**2)


def noise_factor(kernel: np.ndarray | None) -> float:
    """Noise of the filtered image per unit pixel noise: ``sqrt(sum k^2) / sum k``.

    sep normalises the kernel to unit sum, so white noise of rms 1 comes out
    with this rms (0.375 for SExtractor's 3x3 pyramid, ``1 / (sqrt(4 pi) sigma)``
    for a wide Gaussian of width sigma).
    """
    if kernel is None:
        return 1.0
    k = np.asarray(kernel, dtype=np.float64)
    return float(math.sqrt(np.sum(k**2)) / np.sum(k))


def extract_objects(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    snr_threshold: float,
    pixel_threshold: float,
    min_area: int,
    kernel: np.ndarray | None,
    p: DetectionParams,
) -> tuple[np.ndarray, np.ndarray]:
    """sep's objects and segmentation map of a background-subtracted frame.

    ``data`` must be zero where ``bad`` (as the detection leaves it). A pixel
    of the image filtered with ``kernel`` is taken when it passes the
    lower of ``snr_threshold`` (S/N of the filtered image) and
    ``pixel_threshold`` (times the pixel noise ``err``). An object larger than
    sep's pixel stack grows the stack for this extraction only.
    """

    # With one noise value for the frame, sep's mask only zeroes the masked
    # pixels before filtering, and they are zero already: it is not read (a
    # converted pixel at a time, 5 % of a 1k x 1k matched extraction). With a
    # noise map it also keeps masked pixels out of the threshold, so it is passed.
    mask = bad if np.ndim(err) else None

    def extract() -> tuple[np.ndarray, np.ndarray]:
        # sep compares the filtered image with threshold x err, err being the
        # pixel noise (a number or the rms map): the kernel's noise factor turns
        # the filtered image's S/N into that unit.
        return sep.extract(
            data,
            min(snr_threshold * noise_factor(kernel), pixel_threshold),
            err=err,
            mask=mask,
            minarea=min_area,
            filter_kernel=kernel,
            # 'conv' with the scaled threshold means the same with a number and
            # with an rms map; sep's 'matched' treatment applies only to a noise array.
            filter_type="conv",
            deblend_nthresh=p.deblend_levels,
            deblend_cont=p.deblend_contrast,
            segmentation_map=True,
        )

    try:
        return extract()
    except Exception as exc:
        if "pixel buffer full" not in str(exc):
            raise
    # sep's stack is one setting for the process: grown for this frame (until
    # it holds every pixel of the frame), put back after.
    with _PIXSTACK_LOCK:
        default = sep.get_extract_pixstack()
        size = default
        try:
            while True:
                size = min(10 * size, max(data.size, default + 1))
                sep.set_extract_pixstack(size)
                try:
                    return extract()
                except Exception as exc:
                    if "pixel buffer full" not in str(exc) or size >= data.size:
                        raise
        finally:
            sep.set_extract_pixstack(default)
