"""Whether a faint star is needed beside a brighter one: its S/N with the neighbour free.

A forced pass fits every flux at fixed positions, so a peak in the wing of a
bright star (the residual of the bright star's position or PSF being slightly
off) is fitted as a star of its own with a respectable S/N. The test of a
star that matters is the likelihood ratio of the model with it against the
model without it, where the brighter neighbours may take its light by
changing their flux and their position. For a linear model that ratio is
the Wald statistic ``(a_i / sigma_i)^2`` with ``sigma_i`` from the inverse
Fisher matrix of the star and those neighbours' flux and shift columns:
the isolated S/N times ``sqrt(1 - R^2)``, ``R^2`` being the multiple
correlation of the star's (noise-weighted) PSF column with theirs.
crowdsource's ``flux / dflux`` cut uses the isolated S/N only.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..flags import PhotometryFlag as F
from .design import Tables, build_design
from .normal import normal_matrix
from .records import NoisyImage

__all__ = ["explained", "shadow_factor"]

SIZE = 19
"""Largest stamp (px) of the columns whose correlations are computed."""


def shadow_factor(
    tables: Tables,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    sizes: np.ndarray,
    sqrt_w: np.ndarray,
    *,
    radius: float,
    max_neighbours: int = 4,
    brighter_only: bool = True,
) -> np.ndarray:
    """How much each star's S/N drops when its brighter neighbours' flux and position are free.

    Parameters
    ----------
    tables : stamp tables of the PSF.
    x, y, flux, sizes : ndarray
        Positions, fluxes and stamp sizes of every star of the scene.
    sqrt_w : ndarray
        Square root of the pixel weights (1 / sigma, 0 on bad pixels).
    radius : float
        Brighter stars closer than this (px) are the neighbours freed.
    max_neighbours : int
        At most this many nearest brighter neighbours are freed.
    brighter_only : bool
        Free only the brighter neighbours (False: every neighbour within ``radius``).

    Returns
    -------
    ndarray
        ``sqrt(1 - R^2)``: 1 for stars without a brighter neighbour, 0 for
        a star its neighbours' columns reproduce exactly.
    """
    n = len(x)
    factor = np.ones(n)
    if n < 2:
        return factor
    k = min(max_neighbours + 1, n)
    d, j = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=k)
    d, j = d.reshape(n, k)[:, 1:], j.reshape(n, k)[:, 1:]
    nb = d < radius
    if brighter_only:
        nb &= flux[np.minimum(j, n - 1)] > flux[:, None]
    cand = np.flatnonzero(nb.any(axis=1))
    if not len(cand):
        return factor
    # Only the candidates and their freed neighbours enter the matrix.
    involved = np.unique(np.concatenate([cand, j[cand][nb[cand]]]))
    local = np.full(n, -1, dtype=np.int64)
    local[involved] = np.arange(len(involved))
    # Stamps of at most 19 px: the correlations of stars a few px apart
    # are those of their cores.
    design = build_design(
        tables,
        x[involved],
        y[involved],
        np.minimum(sizes[involved], SIZE),
        sqrt_w.shape,
        derivatives=np.isin(involved, j[cand][nb[cand]]),
    )
    # The unit-norm columns' Gram from the stamps' overlaps
    # (:func:`.normal.normal_matrix`: 0.26 -> ~0.03 s on a case B frame,
    # against scipy's general sparse product).
    v, _ = design.unit_columns(sqrt_w)
    gram = normal_matrix(design, v).tocsr()
    cols = np.full((n, 3), -1, dtype=np.int64)
    cols[involved] = design.col_of_star
    # Columns of each candidate's block: its flux, then each freed
    # neighbour's flux, x and y shift (-1 where absent: padded).
    m = 1 + 3 * (k - 1)
    block = np.full((len(cand), m), -1, dtype=np.int64)
    block[:, 0] = cols[cand, 0]
    for q in range(k - 1):
        use = nb[cand, q]
        nbr = j[cand, q]
        for c in range(3):
            block[:, 1 + 3 * q + c] = np.where(use, cols[np.minimum(nbr, n - 1), c], -1)
    bi = block
    valid = bi >= 0
    rows = np.broadcast_to(np.maximum(bi, 0)[:, :, None], (len(cand), m, m))
    cols_ = np.broadcast_to(np.maximum(bi, 0)[:, None, :], (len(cand), m, m))
    g = np.asarray(gram[rows.ravel(), cols_.ravel()]).reshape(len(cand), m, m)
    both = valid[:, :, None] & valid[:, None, :]
    eye = np.broadcast_to(np.eye(m, dtype=bool), g.shape)
    # Absent columns: an identity block, uncorrelated with the rest.
    g = np.where(both, g, np.where(eye, 1.0, 0.0))
    # 1 / (G^-1)_00 = 1 - R^2 for unit-norm columns; a singular block
    # (a neighbour on top of the star) leaves nothing of the star.
    e0 = np.zeros((len(cand), m, 1))
    e0[:, 0, 0] = 1.0
    with np.errstate(all="ignore"):
        try:
            inv00 = np.linalg.solve(g, e0)[:, 0, 0]
        except np.linalg.LinAlgError:
            inv00 = np.array([_inv00(b) for b in g])
    keep = np.where(np.isfinite(inv00) & (inv00 >= 1.0), 1.0 / np.maximum(inv00, 1.0), 0.0)
    factor[cand] = np.sqrt(keep)
    return factor


def _inv00(g: np.ndarray) -> float:
    """(G^-1)_00 of one block, inf when G is singular."""
    try:
        return float(np.linalg.solve(g, np.eye(len(g))[:, 0])[0])
    except np.linalg.LinAlgError:
        return float("inf")


def explained(table, noisy: NoisyImage, tables: Tables, *, snr: float, radius: float) -> np.ndarray:
    """True for the rows of ``table`` whose S/N, their brighter neighbours free, is below ``snr``.

    The final form of the test :func:`shadow_factor` serves: at the reported
    positions, after the faint companions were placed, with the weights of
    the final model (``noisy``). Saturated rows are never explained away.
    """
    n = len(table)
    if snr <= 0 or n < 2:
        return np.zeros(n, dtype=bool)
    flux = np.nan_to_num(np.asarray(table["flux"], dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        iso = flux / np.asarray(table["flux_err"], dtype=np.float64)
    factor = shadow_factor(
        tables,
        np.asarray(table["x"], dtype=np.float64),
        np.asarray(table["y"], dtype=np.float64),
        flux,
        np.asarray(table["stamp"]),
        np.sqrt(noisy.weight),
        radius=radius,
    )
    saturated = (np.asarray(table["flags"]) & F.SATURATED).astype(bool)
    return (iso * factor < snr) & ~saturated
