"""Pixel-integrated point-spread functions and their rendering into an image.

A detector pixel collects all the light that falls on its area, so a star's
image is the PSF *integrated* over each pixel, not sampled at the pixel centre.
The difference matters for a sharp PSF (FWHM ~ 2-3 px): sampling overestimates
the peak pixel by several percent and biases every PSF fit scored against it.

- Gaussian: integrated exactly with erf (photutils ``CircularGaussianPRF``).
- Moffat: no closed form over a square, so the core (within ``4 * FWHM``) is
  integrated over each pixel with an ``order`` x ``order`` Gauss-Legendre rule
  (5 x 5 integrates the smooth profile to ~1e-6, where 5 x 5 equal sub-pixels
  would be off by ~3e-3 at the peak); the wings, smooth on the pixel scale,
  are sampled at pixel centres (error below 1e-4 of the total flux).
"""

from __future__ import annotations

import numpy as np
from photutils.psf import CircularGaussianPRF, MoffatPSF

__all__ = ["moffat_alpha", "psf_radius", "psf_stamp", "add_sources"]

_GAUSS_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
# Largest stamp half-size: enough for the wings of a saturated star to fall
# below the sky noise, small enough to keep one star's cost bounded.
_MAX_RADIUS = 128
# photutils' ``evaluate`` is an instance method that reads no instance state,
# so one shared instance of each serves every thread.
_MOFFAT = MoffatPSF()
_GAUSSIAN = CircularGaussianPRF()


def moffat_alpha(fwhm: float, beta: float) -> float:
    """Moffat core width ``alpha`` (px) for a FWHM (px) and power index ``beta``."""
    return fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))


def psf_radius(flux: float, fwhm: float, psf: str, beta: float) -> int:
    """Half-size (px) of the stamp that holds all but ``min(1e-3, 3 e-/flux)`` of the flux."""
    missing = min(1e-3, 3.0 / max(flux, 1.0))
    if psf == "gaussian":
        sigma = fwhm * _GAUSS_FWHM_TO_SIGMA
        r = sigma * np.sqrt(2.0 * np.log(1.0 / missing))
    else:
        # Flux outside radius r of a Moffat: (1 + r^2/alpha^2)^(1 - beta).
        alpha = moffat_alpha(fwhm, beta)
        r = alpha * np.sqrt(missing ** (1.0 / (1.0 - beta)) - 1.0)
    return int(min(max(np.ceil(r), 3), _MAX_RADIUS))


def _moffat_block(dx: np.ndarray, dy: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    return _MOFFAT.evaluate(dx[None, :], dy[:, None], 1.0, 0.0, 0.0, np.float64(alpha), beta)


def psf_stamp(
    dx: np.ndarray,
    dy: np.ndarray,
    fwhm: float,
    psf: str = "moffat",
    beta: float = 3.0,
    order: int = 5,
) -> np.ndarray:
    """Fraction of a unit-flux star's light falling in each pixel of a stamp.

    Parameters
    ----------
    dx, dy : ndarray
        1-D pixel-centre offsets from the star (px), increasing, step 1:
        columns ``dx`` and rows ``dy`` of the stamp.
    fwhm : float
        Full width at half maximum (px).
    psf : {"moffat", "gaussian"}
        Profile.
    beta : float
        Moffat power index.
    order : int
        Gauss-Legendre nodes per pixel side in the Moffat core.

    Returns
    -------
    ndarray
        ``(len(dy), len(dx))`` pixel-integrated fractions.
    """
    if psf == "gaussian":
        return _GAUSSIAN.evaluate(dx[None, :], dy[:, None], 1.0, 0.0, 0.0, fwhm)
    alpha = moffat_alpha(fwhm, beta)
    stamp = _moffat_block(dx, dy, alpha, beta)
    r_core = 4.0 * fwhm
    ix = np.flatnonzero(np.abs(dx) <= r_core)
    iy = np.flatnonzero(np.abs(dy) <= r_core)
    if ix.size and iy.size:
        nodes, weights = np.polynomial.legendre.leggauss(order)
        sub = nodes / 2.0  # the pixel spans -0.5..0.5 around its centre
        w = weights / 2.0  # weights sum to 1 over the pixel
        sx = (dx[ix][:, None] + sub[None, :]).ravel()
        sy = (dy[iy][:, None] + sub[None, :]).ravel()
        fine = _moffat_block(sx, sy, alpha, beta).reshape(iy.size, order, ix.size, order)
        fine = np.einsum("aibj,i,j->ab", fine, w, w)
        stamp[iy[0] : iy[-1] + 1, ix[0] : ix[-1] + 1] = fine
    return stamp


def add_sources(
    image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    fwhm: np.ndarray,
    psf: str = "moffat",
    beta: float = 3.0,
) -> None:
    """Add stars (electrons) to ``image`` in place.

    Positions are 0-based pixel coordinates (pixel ``(0, 0)`` spans -0.5..0.5);
    sources whose centre is outside the image still add their wings.
    """
    ny, nx = image.shape
    x, y, flux, fwhm = np.broadcast_arrays(*(np.asarray(a, float) for a in (x, y, flux, fwhm)))
    for xi, yi, fi, wi in zip(x.ravel(), y.ravel(), flux.ravel(), fwhm.ravel(), strict=True):
        if fi <= 0:
            continue
        r = psf_radius(fi, wi, psf, beta)
        cx, cy = int(np.floor(xi + 0.5)), int(np.floor(yi + 0.5))
        x0, x1 = max(cx - r, 0), min(cx + r + 1, nx)
        y0, y1 = max(cy - r, 0), min(cy + r + 1, ny)
        if x0 >= x1 or y0 >= y1:
            continue
        dx = np.arange(x0, x1) - xi
        dy = np.arange(y0, y1) - yi
        image[y0:y1, x0:x1] += fi * psf_stamp(dx, dy, wi, psf, beta)
