"""Pixel-integrated elliptical Moffat and Gaussian stars, one shape per star, vectorised.

The field-varying analytic PSF gives every star its own FWHM, ellipticity
components ``(e1, e2)`` and Moffat ``beta``; fitting it needs the stamps of a
few hundred stars with different shapes at once, which photutils' models
(one shape per call, sampled at pixel centres) cannot give. The profile is
integrated over each pixel by a Gauss-Legendre rule.

Shape convention: the FWHM is the geometric mean of the axes' FWHMs,
``e = sqrt(e1^2 + e2^2) = 1 - b/a`` and the major axis lies at
``theta = atan2(e2, e1) / 2`` from +x.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_ELLIPTICITY", "integrated_values", "profile_values", "star_stamps"]

MAX_ELLIPTICITY = 0.8
_SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _precision(fwhm, e1, e2, beta, kind: str):
    """Quadratic-form coefficients (A, B, C) and the normalisation of each star's profile."""
    e = np.minimum(np.hypot(e1, e2), MAX_ELLIPTICITY)
    theta = 0.5 * np.arctan2(e2, e1)
    q = np.sqrt(1.0 - e)
    if kind == "gaussian":
        scale = _SIGMA_PER_FWHM * np.sqrt(2.0)  # exp(-z) with z = r^2 / (2 sigma^2)
    else:
        scale = 1.0 / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    a1 = fwhm / q * scale
    a2 = fwhm * q * scale
    c, s = np.cos(theta), np.sin(theta)
    ia, ib = 1.0 / a1**2, 1.0 / a2**2
    a = c * c * ia + s * s * ib
    b = c * s * (ia - ib)
    cc = s * s * ia + c * c * ib
    if kind == "gaussian":
        norm = 1.0 / (np.pi * a1 * a2)
    else:
        norm = (beta - 1.0) / (np.pi * a1 * a2)
    return a, b, cc, norm


def profile_values(u, v, fwhm, e1, e2, beta, kind: str = "moffat") -> np.ndarray:
    """Surface brightness per px^2 of unit stars at offsets (u, v); shapes broadcast with u."""
    a, b, c, norm = _precision(
        np.asarray(fwhm), np.asarray(e1), np.asarray(e2), np.asarray(beta), kind
    )
    z = a * u * u + 2.0 * b * u * v + c * v * v
    if kind == "gaussian":
        return norm * np.exp(-z)
    return norm * (1.0 + z) ** (-np.asarray(beta))


def star_stamps(
    size: int,
    dx: np.ndarray,
    dy: np.ndarray,
    fwhm: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    beta: np.ndarray | float,
    *,
    kind: str = "moffat",
    order: int = 4,
) -> np.ndarray:
    """Pixel-integrated stamps (N, size, size) of unit stars offset (dx, dy) from the centre.

    Each star has its own shape; an ``order`` x ``order`` Gauss-Legendre rule
    integrates each pixel (order 4 is within 1e-6 of the peak of a FWHM 2 px
    Moffat, far below what any star's flux can feel).
    """
    n = len(dx)
    half = size // 2
    nodes, weights = np.polynomial.legendre.leggauss(order)
    sub = nodes / 2.0
    w = weights / 2.0
    grid = (np.arange(-half, half + 1)[:, None] + sub[None, :]).ravel()  # size*order
    u = grid[None, None, :] - np.asarray(dx, dtype=np.float64)[:, None, None]
    v = grid[None, :, None] - np.asarray(dy, dtype=np.float64)[:, None, None]
    shape = (n, 1, 1)
    vals = profile_values(
        u,
        v,
        np.reshape(fwhm, shape),
        np.reshape(e1, shape),
        np.reshape(e2, shape),
        np.reshape(np.broadcast_to(beta, (n,)), shape),
        kind,
    )
    vals = vals.reshape(n, size, order, size, order)
    return np.einsum("naibj,i,j->nab", vals, w, w)


def integrated_values(u, v, fwhm, e1, e2, beta, kind: str = "moffat", order: int = 4):
    """The profile averaged over a 1 px box centred on each offset (u, v) (an ePSF's samples)."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    sub = nodes / 2.0
    w = weights / 2.0
    uu = np.asarray(u, dtype=np.float64)[..., None, None] + sub[:, None]
    vv = np.asarray(v, dtype=np.float64)[..., None, None] + sub[None, :]
    vals = profile_values(uu, vv, fwhm, e1, e2, beta, kind)
    return np.einsum("...ij,i,j->...", vals, w, w)
