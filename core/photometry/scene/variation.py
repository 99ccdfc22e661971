"""A fast test of whether the PSF stars ask for a PSF that changes across the frame.

:func:`fluxion.core.photometry.gridpsf.choose_psf` decides by held-out
residuals, fitting field models of several polynomial degrees on halves of
the stars; on a crowded 1-Mpx frame that is ~17 s, a third of the whole
scene fit, and on most frames it keeps the constant PSF. This score test
comes first: each PSF star's stamp is fitted with the constant profile and
its linear change in FWHM and in the two ellipticity components (the PSF's
derivatives as extra columns, besides flux and shift), which measures every
star's own shape to first order; a weighted polynomial of degree 2 in x, y
of those shapes is then compared with "the same FWHM everywhere, round" by
an F test. Only a frame whose shapes vary significantly
(``p < P_VALUE``, far looser than the held-out choice's two standard
errors) pays for :func:`choose_psf`; for the others the choice would have
been the constant PSF anyway.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import f as f_dist

from ..gridpsf.fit import star_cutouts
from ..gridpsf.moffat import star_stamps

__all__ = ["P_VALUE", "shape_variation_p"]

P_VALUE = 0.05
"""Shapes varying with this false-alarm probability send the frame to the held-out choice."""

SIZE = 15  # px: the core, where the shape is measured (the held-out choice's stamp)
_H = 0.01  # finite-difference step of FWHM (relative) and ellipticity


def _monomials(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 6) terms of a degree-2 polynomial in coordinates scaled to [-1, 1]."""
    ny, nx = shape
    u = 2.0 * x / max(nx - 1, 1) - 1.0
    v = 2.0 * y / max(ny - 1, 1) - 1.0
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)


def shape_variation_p(
    isolated: np.ndarray,
    positions: np.ndarray,
    fwhm: float,
    beta: float,
    *,
    kind: str = "moffat",
    mask: np.ndarray | None = None,
) -> float:
    """False-alarm probability of the stars' FWHM and ellipticity varying across the frame.

    Parameters
    ----------
    isolated : ndarray
        Sky-subtracted frame with everything but the PSF stars subtracted.
    positions : ndarray, shape (N, 2)
        The PSF stars (x, y).
    fwhm, beta : float
        The constant profile fitted on those stars (``beta`` unused for a Gaussian).
    kind : {"moffat", "gaussian"}
    mask : ndarray of bool, optional

    Returns
    -------
    float
        p-value of the F test (1.0 when there are too few stars to tell).
    """
    stars = star_cutouts(isolated, np.asarray(positions, dtype=np.float64), SIZE, mask)
    n = len(stars.data)
    n_alt = 6 * 3  # a degree-2 polynomial of each of FWHM, e1, e2
    if n < 2 * n_alt:
        return 1.0
    dx, dy = stars.offset[:, 0], stars.offset[:, 1]
    f = np.full(n, float(fwhm))
    zero = np.zeros(n)
    b = float(beta) if kind == "moffat" else 3.0

    def stamps(ddx=0.0, ddy=0.0, df=0.0, e1=0.0, e2=0.0) -> np.ndarray:
        return star_stamps(
            SIZE, dx + ddx, dy + ddy, f * (1 + df), zero + e1, zero + e2, b, kind=kind
        )

    def diff(**step: float) -> np.ndarray:
        minus = {k: -v for k, v in step.items()}
        return (stamps(**step) - stamps(**minus)) / (2 * _H)

    p = stamps()
    cols = [p, diff(ddx=_H), diff(ddy=_H), diff(df=_H), diff(e1=_H), diff(e2=_H)]
    a = np.stack([c.reshape(n, -1) for c in cols], axis=2)
    data = stars.data.reshape(n, -1)
    # Noise from the constant model's light and the stamps' sky.
    flux0 = np.sum(data * stars.valid.reshape(n, -1), axis=1)
    var = np.maximum(flux0[:, None] * p.reshape(n, -1), 0.0) + stars.sky_var
    w = stars.valid.reshape(n, -1) / var
    ata = np.einsum("npi,np,npj->nij", a, w, a)
    atb = np.einsum("npi,np,np->ni", a, w, data)
    ok = np.abs(np.linalg.det(ata)) > 0
    ata[~ok] = np.eye(6)
    coef = np.linalg.solve(ata, atb[..., None])[..., 0]
    cov = np.linalg.inv(ata)
    flux = coef[:, 0]
    ok &= flux > 0
    flux = np.where(ok, flux, 1.0)
    # Each star's relative FWHM change and ellipticity, and their variances.
    shape = coef[:, 3:6] / flux[:, None]
    sig2 = np.stack([cov[:, k, k] for k in (3, 4, 5)], axis=1) / flux[:, None] ** 2
    ok &= np.all(np.isfinite(shape), axis=1) & np.all(sig2 > 0, axis=1)
    # Stars whose shape is far off the median (blends the PSF-star
    # selection missed) would make any polynomial look needed. Blends are
    # few: when most stars are far off, the field varies (a bright star in
    # the corner of a field whose FWHM grows 2.5 -> 4.5 px is hundreds of
    # sigma from the median, and a 5000-star frame so kept too few stars and
    # scored p = 1); the outliers are then those far from the polynomial.
    median_ok = np.all(np.abs(shape - np.median(shape[ok], axis=0)) / np.sqrt(sig2) < 5.0, axis=1)
    terms = _monomials(stars.positions[:, 0], stars.positions[:, 1], isolated.shape)
    if np.sum(ok & median_ok) >= 0.5 * ok.sum():
        ok &= median_ok
    else:
        for cut in (50.0, 15.0, 5.0):
            if ok.sum() < 2 * n_alt:
                return 1.0
            pull = np.zeros((n, 3))
            for k in range(3):
                sw = 1.0 / np.sqrt(sig2[ok, k])
                coef_k, *_ = np.linalg.lstsq(terms[ok] * sw[:, None], shape[ok, k] * sw, rcond=None)
                with np.errstate(invalid="ignore", divide="ignore"):
                    pull[:, k] = np.abs(shape[:, k] - terms @ coef_k) / np.sqrt(sig2[:, k])
            ok &= np.all(pull < cut, axis=1)
    if ok.sum() < 2 * n_alt:
        return 1.0
    terms = terms[ok]
    chi2_null = chi2_alt = 0.0
    for k in range(3):
        wk = 1.0 / sig2[ok, k]
        yk = shape[ok, k]
        # Null: the same FWHM change for all (the constant fit's), no ellipticity.
        null = np.average(yk, weights=wk) if k == 0 else 0.0
        chi2_null += float(np.sum(wk * (yk - null) ** 2))
        sw = np.sqrt(wk)
        beta_k, *_ = np.linalg.lstsq(terms * sw[:, None], yk * sw, rcond=None)
        chi2_alt += float(np.sum(wk * (yk - terms @ beta_k) ** 2))
    m = int(ok.sum())
    d1 = n_alt - 1
    d2 = 3 * m - n_alt
    stat = ((chi2_null - chi2_alt) / d1) / max(chi2_alt / d2, 1e-12)
    return float(f_dist.sf(stat, d1, d2))
