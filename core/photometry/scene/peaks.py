"""Peaks of the PSF-convolved significance image (the matched filter).

The significance of a star at a pixel is the matched-filter flux estimate over
its error, ``(D * K) / sqrt(V * K^2)`` for a PSF-like kernel ``K``. With a
Gaussian kernel both convolutions are separable Gaussian filters, which keeps
a 4-Mpx frame under a second; photutils' finders convolve with a full kernel
and apply shape cuts that reject the blends a scene fitter wants to keep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    # The scene's records import the PSF models (scipy.interpolate, the ePSF):
    # the chain's star finding needs only significance_at, not them.
    from .records import NoisyImage

__all__ = ["find_peaks", "new_peaks", "significance", "significance_at"]

_FWHM_TO_SIGMA = 1.0 / 2.3548200450309493


def significance(
    residual: np.ndarray, variance: np.ndarray | float, fwhm: float, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Matched-filter significance and flux estimate of a point source at every pixel.

    Parameters
    ----------
    residual : ndarray
        Sky-subtracted image (e-), with already-fitted sources removed.
    variance : ndarray or float
        Per-pixel variance (e-^2).
    fwhm : float
        PSF FWHM (px) for the Gaussian kernel.
    mask : ndarray of bool, optional
        Bad pixels: given zero weight.

    Returns
    -------
    sig, flux : ndarray
        Significance (sigma) and the flux estimate of a star centred there.
    """
    s = max(fwhm * _FWHM_TO_SIGMA, 0.5)
    # All in single precision: half the memory traffic of the 4-Mpx passes,
    # and a significance needs 3 digits.
    f32 = np.float32
    var = np.broadcast_to(np.asarray(variance, dtype=f32), residual.shape)
    w = np.reciprocal(var, dtype=f32)
    if mask is not None:
        w[mask] = 0.0
    # Weighted matched filter: flux = sum(K w D) / sum(K^2 w), var = 1 / sum(K^2 w).
    # gaussian_filter gives sum(K x) with K normalised; K^2 is a Gaussian of
    # width s / sqrt(2) scaled by 1 / (4 pi s^2).
    wd = np.multiply(residual, w, dtype=f32)
    num = gaussian_filter(wd, s, mode="constant", truncate=3.0, output=wd)
    den = gaussian_filter(w, s / np.sqrt(2.0), mode="constant", truncate=3.0, output=w)
    den *= f32(1.0 / (4 * np.pi * s * s))
    with np.errstate(divide="ignore", invalid="ignore"):
        pos = den > 0
        flux = np.where(pos, num / den, f32(0.0))
        sig = np.where(pos, num / np.sqrt(den), f32(0.0))
    return sig, flux


def significance_at(
    image: np.ndarray,
    variance: np.ndarray,
    fwhm: float,
    xi: np.ndarray,
    yi: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`significance` evaluated at a few pixels only (no full-image filtering)."""
    s = max(fwhm * _FWHM_TO_SIGMA, 0.5)
    half = int(np.ceil(3.0 * s))
    d = np.arange(-half, half + 1)
    g = np.exp(-0.5 * (d / s) ** 2)
    g /= g.sum()
    k = g[:, None] * g[None, :]
    ny, nx = image.shape
    r = yi[:, None, None] + d[None, :, None]
    c = xi[:, None, None] + d[None, None, :]
    inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
    r, c = np.clip(r, 0, ny - 1), np.clip(c, 0, nx - 1)
    w = np.where(inside, 1.0 / variance[r, c], 0.0)
    if mask is not None:
        w = np.where(mask[r, c], 0.0, w)
    num = np.sum(k * w * image[r, c], axis=(1, 2))
    den = np.sum(k * k * w, axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.sqrt(den), 0.0)


def find_peaks(
    sig: np.ndarray, threshold: float, *, exclude: np.ndarray | None = None, border: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of ``sig`` above ``threshold``, with sub-pixel positions.

    The position is the vertex of a parabola through the peak and its two
    neighbours along each axis (exact for a Gaussian-smoothed point source
    to a few hundredths of a pixel).
    """
    # Local maxima tested only at pixels above the threshold (a few percent of
    # the frame): a full-frame maximum_filter costs as much as the filtering.
    above = sig > threshold
    if exclude is not None:
        above &= ~exclude
    if border > 0:
        above[:border, :] = above[-border:, :] = False
        above[:, :border] = above[:, -border:] = False
    yi, xi = np.nonzero(above)
    c = sig[yi, xi]
    pad = np.pad(sig, 1, mode="constant", constant_values=-np.inf)
    is_max = np.ones(len(yi), bool)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                is_max &= c >= pad[yi + 1 + dy, xi + 1 + dx]
    yi, xi, c = yi[is_max], xi[is_max], c[is_max]
    # Stars on the edge keep their pixel position along that axis.
    pad[pad == -np.inf] = np.nan

    def vertex(lo, hi):
        den = lo - 2 * c + hi
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(den < 0, 0.5 * (lo - hi) / den, 0.0)
        return np.clip(np.nan_to_num(d, nan=0.0), -0.5, 0.5)

    dx = vertex(pad[yi + 1, xi], pad[yi + 1, xi + 2])
    dy = vertex(pad[yi, xi + 1], pad[yi + 2, xi + 1])
    return xi + dx, yi + dy


def new_peaks(
    sig: np.ndarray,
    model: NoisyImage,
    fwhm: float,
    known: np.ndarray,
    threshold: float,
    *,
    near_threshold: float | None = None,
    model_factor: float = 0.0,
    exclude: np.ndarray | None = None,
    border: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a residual's significance ``sig`` that are new stars (crowdsource's test).

    A peak counts when it passes ``threshold``, or ``near_threshold``
    (lower) where the model of the known stars is itself significant (a
    companion hides where a star is; on a small part of the frame, so that
    few noise peaks are added); it must exceed ``model_factor`` times the
    model's own significance there, so that the residual of a bright
    star's imperfect PSF is not taken for a star; and it must lie more
    than half a FWHM from every ``known`` (x, y) star, whose residual it
    is otherwise.

    ``model`` is the known stars' model image with the variance of the
    residual whose significance ``sig`` is; its ``mask`` has no weight in
    the model's significance. ``exclude`` (default the ``mask``) and
    ``border`` hold no peaks.
    """
    mask = model.mask
    low = threshold if near_threshold is None else min(near_threshold, threshold)
    px, py = find_peaks(sig, low, exclude=mask if exclude is None else exclude, border=border)
    if not len(px):
        return px, py
    pxi, pyi = np.round(px).astype(int), np.round(py).astype(int)
    s_here = sig[pyi, pxi]
    msig = significance_at(model.image, model.variance, fwhm, pxi, pyi, mask)
    keep = (s_here > model_factor * msig) & ((s_here > threshold) | (msig > threshold))
    if len(known):
        d, _ = cKDTree(np.asarray(known, dtype=np.float64)).query(np.c_[px, py])
        keep &= d > 0.5 * fwhm
    return px[keep], py[keep]
