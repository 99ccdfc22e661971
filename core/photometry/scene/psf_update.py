"""Re-estimating the PSF from the best stars of the scene, neighbours subtracted.

crowdsource keeps stars whose light in their stamp is mostly their own, whose
centroids moved little and that are bright and unsaturated, and takes the
median of their stamps. Here the same selection feeds the pixel-integrated
profile fit of :func:`fluxion.core.photometry.epsf.fit_analytic_psf` (or
photutils' EPSFBuilder for an empirical PSF) on the image with every other
star subtracted.
"""

from __future__ import annotations

import logging

import numpy as np

from ..epsf import EffectivePSF, build_epsf, fit_analytic_psf

__all__ = ["select_psf_stars", "refit_psf"]

log = logging.getLogger(__name__)

STAMP = 21


def select_psf_stars(
    x: np.ndarray,
    y: np.ndarray,
    snr: np.ndarray,
    own_fraction: np.ndarray,
    bad_near: np.ndarray,
    shape: tuple[int, int],
    *,
    min_snr: float = 30.0,
    max_stars: int = 400,
) -> np.ndarray:
    """Indices of stars fit to shape the PSF: bright, dominant in their stamp, clean.

    Chosen stars are also at least a stamp apart, so that one image with only
    the other stars subtracted serves all of them.
    """
    ny, nx = shape
    m = STAMP
    ok = (snr > min_snr) & (own_fraction > 0.8) & ~bad_near
    ok &= (x > m) & (x < nx - 1 - m) & (y > m) & (y < ny - 1 - m)
    cand = np.flatnonzero(ok)
    cand = cand[np.argsort(snr[cand])[::-1]]
    chosen: list[int] = []
    pts = np.c_[x, y]
    for i in cand:
        if chosen and np.hypot(*(pts[chosen] - pts[i]).T).min() < STAMP:
            continue
        chosen.append(i)
        if len(chosen) >= max_stars:
            break
    return np.array(chosen, dtype=np.int64)


def refit_psf(
    isolated_image: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    psf: EffectivePSF,
    *,
    kind: str,
    mask: np.ndarray,
) -> EffectivePSF:
    """A new PSF from stars on an image where all other stars are subtracted.

    Keeps the old PSF when the fit fails.
    """
    pos = np.c_[x, y]
    try:
        if kind == "empirical" and len(pos) >= 10:
            return build_epsf(isolated_image, pos, size=25, mask=mask, maxiters=3)
        k = "gaussian" if kind == "gaussian" else "moffat"
        new, _ = fit_analytic_psf(isolated_image, pos, psf.fwhm, kind=k, mask=mask, iterations=2)
        # A fit that ran to a bound or jumped is a failed fit, not a new PSF.
        if not 0.7 < new.fwhm / psf.fwhm < 1.4 or not 0.55 < new.fwhm < 45:
            raise ValueError(f"refitted FWHM {new.fwhm:.2f} px is implausible")
        return new
    except (ValueError, np.linalg.LinAlgError) as exc:
        log.info("PSF not refitted: %s", exc)
        return psf
