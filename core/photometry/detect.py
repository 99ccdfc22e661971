"""Finding stars and measuring the seeing for the photometry step.

sep's SExtractor-style sky, a matched-filter peak finder and the detection
step's stacked Moffat fit for the FWHM: enough for photometry to run on a
frame without a source list.
``fluxion.core.detection`` is the full detection step with its own panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import fit_fwhm
from scipy.spatial import cKDTree

from fluxion.core.detection_fwhm import fit_stacked_moffat
from fluxion.core.quiet import quiet

__all__ = ["FrameSky", "find_stars", "frame_sky", "isolated", "measure_fwhm", "residual_sky"]


@dataclass(frozen=True)
class FrameSky:
    """A smooth sky map and its noise, from sep's SExtractor-style mesh."""

    level: np.ndarray
    """Sky per pixel (same units as the image)."""
    rms: np.ndarray
    """Sky noise per pixel."""
    global_level: float
    global_rms: float


def _native(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.float64)


def frame_sky(image: np.ndarray, mask: np.ndarray | None = None, box: int = 64) -> FrameSky:
    """Estimate the sky with sep on a ``box`` px mesh (masked pixels ignored)."""
    data = _native(image)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    data = np.where(bad, 0.0, data)
    box = int(max(8, min(box, min(data.shape) // 2 or 8)))
    bkg = sep.Background(data, mask=bad, bw=box, bh=box, fw=3, fh=3)
    return FrameSky(bkg.back(), bkg.rms(), float(bkg.globalback), float(bkg.globalrms))


def residual_sky(residual: np.ndarray, mask: np.ndarray | None = None, box: int = 64) -> np.ndarray:
    """Sky map of a frame whose stars are subtracted: clipped means on a ``box`` px mesh.

    Once the stars' model is subtracted, the sky pixels are noise about the
    sky, and a 4-sigma clipped mean (photutils ``Background2D``) is both
    unbiased and efficient. sep's mode estimator on the frame itself must
    tolerate the stars: on 500 stars in 1024^2 its sky scatters by 0.24 e-
    per px about the truth (the Poisson skew biases its mode by -0.3 e-,
    which the stars' wings happen to offset), against 0.07 e- here, and that
    sky error was most of the PSF fluxes' scatter beyond the Cramér-Rao bound
    (0.10-0.14 sigma of it).
    """
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MeanBackground

    data = np.asarray(residual, dtype=np.float64)
    bad = ~np.isfinite(data) if mask is None else mask | ~np.isfinite(data)
    box = int(max(8, min(box, min(data.shape) // 2 or 8)))
    bkg = Background2D(
        np.where(bad, 0.0, data),
        box,
        mask=bad,
        filter_size=3,
        sigma_clip=SigmaClip(sigma=4.0, maxiters=5),
        bkg_estimator=MeanBackground(),
        exclude_percentile=50.0,
    )
    return np.asarray(bkg.background, dtype=np.float64)


def find_stars(
    image: np.ndarray,
    sky: FrameSky,
    *,
    threshold: float = 5.0,
    mask: np.ndarray | None = None,
    fwhm: float = 3.0,
) -> Table:
    """Point sources whose matched-filter significance passes ``threshold``.

    A matched filter (see :mod:`.scene.peaks`) reaches stars at S/N 5 that
    sep's per-pixel threshold with a minimum area misses. Returns x, y
    (0-based), flux (matched-filter estimate), peak (pixel value above the
    sky), significance and flags (0), brightest first. An empty frame gives
    an empty table.
    """
    from .scene.peaks import find_peaks, significance

    data = np.asarray(image, dtype=np.float64) - sky.level
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    data = np.where(bad, 0.0, data)
    sig, flux = significance(data, sky.rms**2, fwhm, bad)
    x, y = find_peaks(sig, threshold, border=1)
    xi, yi = np.round(x).astype(int), np.round(y).astype(int)
    order = np.argsort(flux[yi, xi])[::-1]
    xi, yi = xi[order], yi[order]
    return Table(
        {
            "x": x[order],
            "y": y[order],
            "flux": flux[yi, xi],
            "peak": data[yi, xi],
            "significance": sig[yi, xi],
            "flags": np.zeros(len(order), dtype=np.int32),
        }
    )


def isolated(x: np.ndarray, y: np.ndarray, distance: float) -> np.ndarray:
    """True for sources with no other source within ``distance`` px."""
    if len(x) < 2:
        return np.ones(len(x), dtype=bool)
    pts = np.c_[x, y]
    d, _ = cKDTree(pts).query(pts, k=2)
    return d[:, 1] > distance


def measure_fwhm(
    image: np.ndarray,
    sky: FrameSky,
    stars: Table,
    *,
    saturation: float | None = None,
    guess: float = 4.0,
    max_stars: int = 40,
) -> float:
    """FWHM (px) of bright, isolated, unsaturated stars; NaN when no star is usable.

    A pixel-integrated Moffat is fitted to the stars' stacked profile
    (:func:`fluxion.core.detection_fwhm.fit_stacked_moffat`, the detection
    step's fit), started from the median of photutils' per-star Gaussian
    fits. The Gaussian alone reads a beta = 3 Moffat's FWHM ~13% high (3.97
    px for 3.5): its width follows the wings, and everything scaled by the
    FWHM (the matched filter, the groups, the PSF fit's start) with it.
    """
    if len(stars) == 0:
        return float("nan")
    ny, nx = image.shape
    x, y = np.asarray(stars["x"]), np.asarray(stars["y"])
    base = (np.asarray(stars["flags"]) == 0) & (x > 8) & (x < nx - 9) & (y > 8) & (y < ny - 9)
    if saturation is not None:
        base &= np.asarray(stars["peak"]) + sky.global_level < 0.8 * saturation
    # Crowded fields have no star 12 px from all others: relax the isolation
    # until a handful of stars qualify.
    for distance in (12.0, 8.0, 6.0):
        idx = np.flatnonzero(base & isolated(x, y, distance))[:max_stars]
        if idx.size >= 5:
            break
    if idx.size == 0:
        return float("nan")
    data = _native(image) - sky.level
    # A star whose fit does not converge gives an implausible width, dropped
    # below; photutils' warning about it says nothing more.
    with quiet(AstropyUserWarning, "One or more fit"):
        fit = fit_fwhm(data, xypos=np.c_[x[idx], y[idx]], fwhm=guess, fit_shape=11)
    fwhm = np.asarray(fit, dtype=np.float64)
    fwhm = fwhm[np.isfinite(fwhm) & (fwhm > 0.5) & (fwhm < 50)]
    if fwhm.size == 0:
        return float("nan")
    gaussian = float(np.median(fwhm))
    flux = np.asarray(stars["flux"], dtype=np.float64)[idx]
    moffat = fit_stacked_moffat(data, x[idx], y[idx], flux, gaussian, bad=~np.isfinite(data))
    # A stack spoilt by blends can run to a bound: then the Gaussian width.
    if moffat is None or not 0.5 * gaussian < moffat.fwhm < 1.5 * gaussian:
        return gaussian
    return float(moffat.fwhm)
