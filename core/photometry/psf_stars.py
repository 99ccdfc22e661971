"""The PSF method's stars: bright, isolated (or, in a crowded field, nearly), cleanly fitted."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from .detect import isolated
from .params import PhotometryParams

__all__ = [
    "CROWDED_ISOLATION",
    "FIELD_PSF_STARS",
    "ISOLATION",
    "LOCAL_STARS",
    "crowded_field",
    "psf_star_positions",
]


def psf_star_positions(
    stars: Table,
    shape: tuple[int, int],
    fwhm: float,
    sky_level: float,
    sat: float | None,
    *,
    max_stars: int = 40,
    margin: int = 12,
    crowded: float = 0.0,
) -> np.ndarray:
    """Bright, isolated, unsaturated, unflagged stars away from the edge (x, y).

    Isolated is no other detection within 4 FWHM. With ``crowded`` (in
    FWHM, below 4), the stars with no detection within ``crowded`` FWHM
    follow the isolated ones (each brightest first, ``max_stars`` in all):
    in a crowded field most bright stars have a neighbour within 4 FWHM,
    and their neighbours, subtracted and masked where they dominate
    (:func:`_neighbour_pixels`), leave them nearly as good as isolated ones.
    """
    if len(stars) == 0:
        return np.zeros((0, 2))
    ny, nx = shape
    x, y = np.asarray(stars["x"]), np.asarray(stars["y"])
    ok = np.asarray(stars["flags"]) == 0
    ok &= (x > margin) & (x < nx - 1 - margin) & (y > margin) & (y < ny - 1 - margin)
    if sat is not None:
        ok &= np.asarray(stars["peak"]) + sky_level < 0.7 * sat
    alone = isolated(x, y, ISOLATION * fwhm)
    idx = np.flatnonzero(ok & alone)  # stars are sorted brightest first
    if 0 < crowded < ISOLATION:
        idx = np.concatenate([idx, np.flatnonzero(ok & ~alone & isolated(x, y, crowded * fwhm))])
    idx = idx[:max_stars]
    return np.c_[x[idx], y[idx]]


ISOLATION = 4.0
"""FWHM: no other detection or fitted star this near an isolated PSF star."""

CROWDED_ISOLATION = 2.0
"""FWHM: the same for PSF stars of a crowded field, whose neighbours are masked where they dominate.

Beyond 2 FWHM a neighbour's core and the PSF star's core are apart; nearer,
a neighbour fitted with a still imperfect PSF takes part of the star's
misfit and bends its profile.
"""


def _clean_psf_stars(psf_pos: np.ndarray, first: Table, *, local: bool = False) -> np.ndarray:
    """PSF stars whose first-pass fit is as good as most (photutils qfit).

    A star with an unresolved companion a few px away passes every
    isolation test on the detections, yet its residual is 3-5x the others'
    (qfit 0.2 for 0.05); a few such blends pulled beta low. Stars beyond
    median + 3 robust sigma of qfit are dropped.

    With ``local`` (the stars of a PSF that may vary across the frame), each
    star's qfit is taken relative to the median of its ``LOCAL_STARS``
    nearest PSF stars first: the first pass's one PSF fits the corners'
    stars worse, and an absolute cut dropped exactly the stars that show how
    the PSF changes.
    """
    fx = np.nan_to_num(np.asarray(first["x"], dtype=np.float64), nan=-1e9)
    fy = np.nan_to_num(np.asarray(first["y"], dtype=np.float64), nan=-1e9)
    d, j = cKDTree(np.c_[fx, fy]).query(psf_pos)
    q = np.where(d < 1.0, np.asarray(first["qfit"], dtype=np.float64)[j], np.inf)
    finite = np.isfinite(q)
    if finite.sum() < 3:
        return psf_pos
    ratio = q
    if local:
        k = min(LOCAL_STARS, int(finite.sum()))
        _, near = cKDTree(psf_pos[finite]).query(psf_pos, k=k)
        around = np.median(q[finite][np.atleast_2d(near.T).T], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(around > 0, q / around, q)
    ok = np.isfinite(ratio)
    med = float(np.median(ratio[ok]))
    spread = 1.4826 * float(np.median(np.abs(ratio[ok] - med)))
    keep = ratio <= med + 3.0 * spread
    return psf_pos[keep] if keep.sum() >= 3 else psf_pos


def _alone_among_fitted(
    psf_pos: np.ndarray, fx: np.ndarray, fy: np.ndarray, distance: float | np.ndarray
) -> np.ndarray:
    """PSF stars with no other fitted star within ``distance`` px (all, if fewer than 3 would be).

    ``distance`` may be one per PSF star.

    The PSF stars were chosen isolated among the detections; the first pass
    then adds the companions its residual search found. Such a companion or
    near neighbour is fitted with the first pass's PSF and takes up part of
    the bright star's misfit, so subtracting its model bends the PSF star's
    profile. On frames of 500 stars in 1024^2 whose PSF varies across the
    field, the ~10 such stars of ~220 left the refitted field's flux scale
    for a 3e4 e- star off by 0.13-0.22 sigma rms over the 3 x 3 regions (up
    to 0.5 in one) on four of six frames; without them 0.065-0.07 there,
    what the remaining stars' noise allows, and 0.07 -> 0.09 on the others.
    """
    if len(psf_pos) < 3 or len(fx) < 2:
        return psf_pos
    d, _ = cKDTree(np.c_[fx, fy]).query(psf_pos, k=2)
    # The nearest fitted star is the PSF star itself (within 1 px) or another.
    other = np.where(d[:, 0] <= 1.0, d[:, 1], d[:, 0])
    keep = other > distance
    return psf_pos[keep] if keep.sum() >= 3 else psf_pos


def _field_psf_stars(
    psf_pos: np.ndarray, stars: Table, fx: np.ndarray, fy: np.ndarray, fwhm: float
) -> np.ndarray:
    """Up to ``FIELD_PSF_STARS`` PSF stars: the isolated first, then the crowded field's.

    Isolated: no other detection or fitted star within ``ISOLATION`` FWHM
    (see :func:`_alone_among_fitted`). On 5000 stars in 1024^2 (FWHM 2.5 to
    4.5 px) only ~115 stars were isolated once the first pass had added the
    companions it found; a field fitted to them left a 3e4 e- star's flux
    +0.1..+0.2 sigma high. The rest come from stars with no detection or
    fitted star within ``CROWDED_ISOLATION`` FWHM, brightest first, their
    neighbours masked where they dominate (:func:`_neighbour_pixels`).
    """
    if len(psf_pos) < 3:
        return psf_pos

    def nearest_other(px: np.ndarray, py: np.ndarray) -> np.ndarray:
        if len(px) < 2:
            return np.full(len(psf_pos), np.inf)
        d, _ = cKDTree(np.c_[px, py]).query(psf_pos, k=2)
        # The nearest is the PSF star itself (within 1 px) or another.
        return np.where(d[:, 0] <= 1.0, d[:, 1], d[:, 0])

    sx, sy = (np.asarray(stars[c], dtype=np.float64) for c in ("x", "y"))
    other = np.minimum(nearest_other(sx, sy), nearest_other(fx, fy))
    alone = np.flatnonzero(other > ISOLATION * fwhm)
    crowded = np.flatnonzero((other > CROWDED_ISOLATION * fwhm) & (other <= ISOLATION * fwhm))
    keep = np.concatenate([alone, crowded])[:FIELD_PSF_STARS]
    return psf_pos[np.sort(keep)] if len(keep) >= 3 else psf_pos


_CANDIDATES = 4
"""Candidates for the ``FIELD_PSF_STARS`` per star wanted (most of a crowded field's drop out)."""


LOCAL_STARS = 15
"""PSF stars a star's fit quality is compared with (its neighbours in the frame)."""


def _n_psf_stars(p: PhotometryParams) -> int:
    # An analytic PSF from 100 stars rather than 40: beta scatters by 0.011
    # rather than 0.014 from frame to frame (500 stars in 1024^2, neighbours
    # subtracted), and a beta error of 0.02 moves a 1e5 e- star by 0.4 sigma.
    return 80 if p.psf_model == "empirical" else 100


FIELD_PSF_STARS = 240
"""PSF stars looked for when the PSF may vary: spread over the frame, not only the brightest 100.

A degree-2 field (19 parameters) asks for 57 stars per half in the
held-out test; a 3 x 3 grid of cell ePSFs for 25 per cell.
"""


CROWDED_NEIGHBOURS = 1.0
"""Other fitted stars within ``ISOLATION`` FWHM of a star, on average, that make a field crowded.

Case FA (500 stars in 1024^2, FWHM ~3 px) has 0.26, case FB (5000) ~1.9.
"""


def crowded_field(n_stars: int, fwhm: float, shape: tuple[int, int]) -> bool:
    """Whether ``n_stars`` fitted stars crowd a frame of ``shape`` (:data:`CROWDED_NEIGHBOURS`)."""
    area = float(shape[0]) * float(shape[1])
    return n_stars * np.pi * (ISOLATION * fwhm) ** 2 / max(area, 1.0) > CROWDED_NEIGHBOURS
