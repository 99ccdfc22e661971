"""PSF-matched image subtraction with a proper noise model: ZOGY.

Zackay, Ofek & Gal-Yam (2016, ApJ 830, 27) give the optimal difference of a
new image ``N`` and a reference ``R`` of the same sky, each with its PSF
(``P_n``, ``P_r``), background noise (``sigma_n``, ``sigma_r``) and flux
scale (``F_n``, ``F_r``); in Fourier space (hats)::

    den   = sigma_n^2 F_r^2 |P_r|^2 + sigma_r^2 F_n^2 |P_n|^2
    D     = (F_r P_r N - F_n P_n R) / sqrt(den)                  (eq. 13)
    F_D   = F_r F_n / sqrt(sigma_n^2 F_r^2 + sigma_r^2 F_n^2)     (eq. 15)
    P_D   = F_r F_n P_r P_n / (F_D sqrt(den))                     (eq. 14)
    S     = F_D conj(P_D) D                                       (eq. 17)

``D`` has white noise of unit variance where the background dominates, ``S``
is the matched-filter image for point sources, and a point source of flux
``alpha`` (in ``N``'s units when ``F_n = 1``) has ``S = alpha F_S`` at its
centre, ``F_S = F_D^2 sum(P_D^2)``. Bright sources add their own shot noise
and registration errors: the score is corrected by the variance of ``S``
from both images (eqs. 25-30)::

    k_r = F_r F_n^2 conj(P_r) |P_n|^2 / den,   k_n = F_n F_r^2 conj(P_n) |P_r|^2 / den
    V(S_N) = V_N (x) k_n^2,   V(S_R) = V_R (x) k_r^2
    V_ast = sigma_x^2 (dS_N/dx)^2 + sigma_y^2 (dS_N/dy)^2 (and the same for R)
    S_corr = S / sqrt(V(S_N) + V(S_R) + V_ast)

Why written here rather than taken from a package: the maintained Python
implementations do not install or run with this project's pinned numpy and
dependencies: properimage hard-imports ``tinynpydb``, whose build downloads
setuptools at install time (it fails offline) and pulls matplotlib,
astroalign and scikit-image; sfft needs numba and llvmlite, a Cython build
and SExtractor for its source selection, and gives no noise model for the
score. The algorithm is a few array operations; scipy.fft does the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import fft
from scipy.ndimage import map_coordinates

__all__ = ["ZogyInputs", "ZogyResult", "zogy_subtract", "psf_on_grid"]


def psf_on_grid(stamp: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A centred, odd PSF stamp placed on a ``shape`` grid with its centre at (0, 0).

    The FFT's origin is pixel (0, 0): a PSF centred there shifts nothing.
    The stamp is normalised to unit sum.
    """
    stamp = np.asarray(stamp, dtype=np.float64)
    h, w = stamp.shape
    if h % 2 == 0 or w % 2 == 0:
        raise ValueError("the PSF stamp must have odd sides")
    ny, nx = shape
    if h > ny or w > nx:
        # A stamp larger than the image keeps its centre part.
        cy, cx = h // 2, w // 2
        hy, hx = min(h, ny - (1 - ny % 2)) // 2, min(w, nx - (1 - nx % 2)) // 2
        stamp = stamp[cy - hy : cy + hy + 1, cx - hx : cx + hx + 1]
        h, w = stamp.shape
    grid = np.zeros(shape)
    grid[:h, :w] = stamp / stamp.sum()
    return np.roll(grid, (-(h // 2), -(w // 2)), axis=(0, 1))


@dataclass(frozen=True)
class ZogyInputs:
    """One pair of images for :func:`zogy_subtract`.

    Attributes
    ----------
    new, ref : ndarray
        Background-subtracted images on the same pixel grid; bad pixels set to 0.
    psf_new, psf_ref : ndarray
        Odd, centred PSF stamps (any normalisation).
    sigma_new, sigma_ref : float
        Background noise (rms per pixel) of each image.
    flux_new, flux_ref : float
        Flux scales: ``F_n = 1`` and ``F_r`` the reference's flux of a source of
        unit flux in the new image (measured on common stars).
    var_new, var_ref : ndarray, optional
        Each pixel's full variance (sky and sources); default the background's.
    registration_sigma : (float, float)
        rms registration error (px) in x and y, for the astrometric noise term.
    """

    new: np.ndarray = field(repr=False)
    ref: np.ndarray = field(repr=False)
    psf_new: np.ndarray = field(repr=False)
    psf_ref: np.ndarray = field(repr=False)
    sigma_new: float
    sigma_ref: float
    flux_new: float = 1.0
    flux_ref: float = 1.0
    var_new: np.ndarray | None = field(default=None, repr=False)
    var_ref: np.ndarray | None = field(default=None, repr=False)
    registration_sigma: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ZogyResult:
    """A ZOGY difference.

    Attributes
    ----------
    difference : ndarray
        ``D``: unit-variance white noise where the background dominates.
    score : ndarray
        ``S_corr``: the significance (sigma) of a point source at each pixel,
        with the sources' own noise and registration noise.
    s : ndarray
        ``S``: the matched-filter image (``alpha F_S`` at a source of flux ``alpha``).
    s_variance : ndarray
        The variance of ``S`` at each pixel (background, sources, registration).
    psf_difference : ndarray
        ``P_D``, centred stamp of the size of the input stamps, unit sum.
    flux_difference : float
        ``F_D``.
    flux_score : float
        ``F_S = F_D^2 sum(P_D^2)``: ``S / F_S`` is a flux in the new image's units.
    photometric_variance : ndarray or None
        The variance of ``S`` from the images' noise alone (no registration
        term): a flux measured at a source's own centre, where ``S`` peaks, does
        not move with a small misalignment, so its error leaves that term out.
    """

    difference: np.ndarray = field(repr=False)
    score: np.ndarray = field(repr=False)
    s: np.ndarray = field(repr=False)
    s_variance: np.ndarray = field(repr=False)
    psf_difference: np.ndarray = field(repr=False)
    flux_difference: float
    flux_score: float
    photometric_variance: np.ndarray | None = field(default=None, repr=False)

    def flux(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PSF flux (new image's units) and its error at sub-pixel positions.

        The matched filter at a source's centre is its optimal PSF flux. ``S``
        is smooth on the pixel scale (the data seen through the PSF twice), so
        a cubic spline reads it between pixels.
        """
        coords = np.vstack(
            [np.atleast_1d(np.asarray(y, float)), np.atleast_1d(np.asarray(x, float))]
        )
        s = map_coordinates(self.s, coords, order=3, mode="nearest")
        var = self.photometric_variance if self.photometric_variance is not None else (
            self.s_variance
        )  # fmt: skip
        v = map_coordinates(var, coords, order=1, mode="nearest")
        return s / self.flux_score, np.sqrt(np.maximum(v, 0.0)) / self.flux_score


def _centre_stamp(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    out = np.roll(grid, (h // 2, w // 2), axis=(0, 1))[:h, :w]
    return out / out.sum()


def zogy_subtract(z: ZogyInputs) -> ZogyResult:
    """The ZOGY difference, its score and flux scale for one pair of images.

    Both images must be on one grid; edges are treated as periodic by the
    FFT, so pad or mask a margin of a few FWHM where that matters.
    """
    new = np.asarray(z.new, dtype=np.float64)
    ref = np.asarray(z.ref, dtype=np.float64)
    if new.shape != ref.shape:
        raise ValueError(f"new {new.shape} and reference {ref.shape} differ in shape")
    if not (z.sigma_new > 0 and z.sigma_ref >= 0):
        raise ValueError("background noise must be positive")
    shape = new.shape
    fn, fr = float(z.flux_new), float(z.flux_ref)
    sn2, sr2 = float(z.sigma_new) ** 2, float(z.sigma_ref) ** 2
    pn = fft.rfft2(psf_on_grid(z.psf_new, shape))
    pr = fft.rfft2(psf_on_grid(z.psf_ref, shape))
    n_hat = fft.rfft2(new)
    r_hat = fft.rfft2(ref)
    pn2, pr2 = np.abs(pn) ** 2, np.abs(pr) ** 2
    den = sn2 * fr**2 * pr2 + sr2 * fn**2 * pn2
    # Where both PSFs vanish (far beyond their bandwidth) nothing is measured:
    # a floor keeps the division finite and those modes' weight nil.
    den = np.maximum(den, 1e-30 * den.max())
    root = np.sqrt(den)
    d_hat = (fr * pr * n_hat - fn * pn * r_hat) / root
    f_d = fr * fn / math.sqrt(sn2 * fr**2 + sr2 * fn**2)
    pd_hat = fr * fn * pr * pn / (f_d * root)
    s_hat = f_d * np.conj(pd_hat) * d_hat
    difference = fft.irfft2(d_hat, s=shape)
    s = fft.irfft2(s_hat, s=shape)
    pd_grid = fft.irfft2(pd_hat, s=shape)
    f_s = f_d**2 * float(np.sum(pd_grid**2))

    kr_hat = fr * fn**2 * np.conj(pr) * pn2 / den
    kn_hat = fn * fr**2 * np.conj(pn) * pr2 / den
    var_n = z.var_new if z.var_new is not None else np.full(shape, sn2)
    var_r = z.var_ref if z.var_ref is not None else np.full(shape, sr2)
    kn = fft.irfft2(kn_hat, s=shape)
    kr = fft.irfft2(kr_hat, s=shape)
    v_sn = fft.irfft2(fft.rfft2(var_n) * fft.rfft2(kn**2), s=shape)
    v_sr = fft.irfft2(fft.rfft2(var_r) * fft.rfft2(kr**2), s=shape)
    variance = v_sn + v_sr
    photometric = np.maximum(variance, 1e-30)
    sx, sy = z.registration_sigma
    if sx > 0 or sy > 0:
        s_n = fft.irfft2(kn_hat * n_hat, s=shape)
        s_r = fft.irfft2(kr_hat * r_hat, s=shape)
        for img in (s_n, s_r):
            gy, gx = np.gradient(img)
            variance = variance + sx**2 * gx**2 + sy**2 * gy**2
    variance = np.maximum(variance, 1e-30)
    score = s / np.sqrt(variance)
    size = (np.shape(z.psf_new)[0], np.shape(z.psf_new)[1])
    return ZogyResult(
        difference=difference,
        score=score,
        s=s,
        s_variance=variance,
        psf_difference=_centre_stamp(pd_grid, size),
        flux_difference=f_d,
        flux_score=f_s,
        photometric_variance=photometric,
    )
