"""The light of the fitted stars beyond their stamps, which the sky must not take.

Each star is drawn in the design matrix only out to its stamp (11 to 63 px,
the smallest whose edge is below a third of the sky noise: :func:`.forced.stamp_sizes`).
Per pixel its light beyond is faint, but summed it is several per cent of a
faint star's flux (8% beyond the 11 px stamp of a Moffat of FWHM 3.5 px,
beta 3), and the mesh sky, measured on the image minus the stars' model, took
it: every flux came out low. Isolated stars at S/N 11.7 on a 20 px grid:
-0.10 sigma (with the position debias), -0.01 with every stamp 31 px.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from .design import _phase

__all__ = ["beyond_stamps"]


def beyond_stamps(
    shape: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    sizes: np.ndarray,
    psf: np.ndarray,
) -> np.ndarray:
    """Image of every star's light outside its own stamp.

    Parameters
    ----------
    shape : tuple of int
        The frame's shape.
    x, y, flux : ndarray
        The stars.
    sizes : ndarray of int
        The stamp (px, odd) each star was drawn with, centred on its nearest
        pixel as in the design matrix.
    psf : ndarray
        The unit PSF on an odd square of pixels (the largest stamp), centred.

    Returns
    -------
    ndarray
        The wings, each star's placed at its nearest pixel: sub-pixel shifts
        barely change light this far out, and one FFT convolution per stamp
        size (summed in Fourier space) replaces drawing every star again with
        the largest stamp.
    """
    ny, nx = shape
    k = psf.shape[0]
    h = k // 2
    out = np.zeros(shape)
    xi, _, _ = _phase(np.asarray(x, dtype=np.float64))
    yi, _, _ = _phase(np.asarray(y, dtype=np.float64))
    sizes = np.asarray(sizes)
    flux = np.asarray(flux, dtype=np.float64)
    inside = (xi >= 0) & (xi < nx) & (yi >= 0) & (yi < ny) & (sizes < k)
    if not inside.any():
        return out
    fshape = (fft.next_fast_len(ny + k - 1, real=True), fft.next_fast_len(nx + k - 1, real=True))
    # Every star's whole light is one FFT convolution of the points with the
    # PSF; its light inside its own stamp is then drawn and taken off, stamp
    # by stamp: 3 FFTs and a scatter instead of a point image and a kernel
    # transformed per stamp size (7 FFTs, 65 -> 45 ms a case B pass). The
    # stamps hold at most ~1e4 e-. The FFTs are in single precision (a
    # quarter of the double's CPU on case B's 1125^2): their rounding, ~1e-7
    # of the brightest stars' peaks, leaves the wings within ~1e-3 e- of the
    # double's, far below a pixel's noise (the sky's alone is ~10 e-).
    flat = yi[inside] * nx + xi[inside]
    points = np.bincount(flat, weights=flux[inside], minlength=ny * nx).reshape(shape)
    f32 = np.float32
    term = fft.rfft2(points.astype(f32), fshape) * fft.rfft2(np.asarray(psf, dtype=f32), fshape)
    out = fft.irfft2(term, fshape)[h : h + ny, h : h + nx].astype(np.float64)
    kernel = np.asarray(psf, dtype=np.float64)
    for s in np.unique(sizes[inside]).tolist():
        sel = np.flatnonzero(inside & (sizes == s))
        hs = int(s) // 2
        d = np.arange(-hs, hs + 1)
        r = yi[sel, None, None] + d[None, :, None]
        c = xi[sel, None, None] + d[None, None, :]
        ok = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
        light = flux[sel, None, None] * kernel[None, h - hs : h + hs + 1, h - hs : h + hs + 1]
        out -= np.bincount(
            (r * nx + c)[ok], weights=np.broadcast_to(light, ok.shape)[ok], minlength=ny * nx
        ).reshape(shape)
    return out
