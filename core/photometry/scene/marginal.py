"""Each star's flux and position errors with its neighbours' fitted too.

The forced pass's error ``1 / |column|`` is a star's error alone (crowdsource's
``dflux``): it leaves out the covariance with the blended neighbours whose
fluxes and positions the scene fits at the same time. In a crowded frame
(5000 stars on 1024^2 px) the fitted fluxes scatter 1.2-1.3x that error. The
marginal error is ``sqrt((F^-1)_ff)`` of the Fisher matrix ``F`` over every
star's flux and position: as in :func:`.bound.crowded_flux_bound`, a star
couples only to the stars near it, so each star's entry is read from the
inverse of the small block of ``F`` over it and its nearest neighbours. The
exact diagonal (a sparse LU solve for every star's flux column) gives the
same errors to 0.1 % and costs ten times more. The same inverse holds the
star's position variances (its block entries 1 and 2): the isolated
``1 / (flux |d column|)`` position errors are as short (pulls 1.15-1.25)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .design import SceneDesign
from .normal import normal_matrix

__all__ = ["marginal_errors"]


def marginal_errors(
    design: SceneDesign,
    sqrt_w: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    *,
    radius: float = 12.0,
    neighbours: int = 8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux (e-) and position (px) errors with the neighbours' fluxes and positions free.

    Parameters
    ----------
    design : SceneDesign
        The stars' flux and position columns (``derivatives=True``), one star
        per row of ``col_of_star``, in the order of ``x``, ``y``.
    sqrt_w : ndarray
        Square root of the pixels' weights (1 / variance), image-shaped.
    x, y : ndarray
        The stars' positions (px).
    flux : ndarray
        The stars' fluxes (e-): a position column is the flux's derivative
        of the PSF, so a position error is the column's over ``|flux|``.
    radius : float
        px: neighbours further than this are not coupled to the star.
    neighbours : int
        Most neighbours (nearest first) fitted with each star.

    Returns
    -------
    flux_err, x_err, y_err : ndarray
        NaN for a star where its own column has no weight.
    """
    n = len(x)
    out = (np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan))
    if n == 0:
        return out
    v, norm = design.unit_columns(sqrt_w)
    # The matrix with each star's flux, x and y columns side by side, in
    # 3x3 blocks per pair of stars: a star pair's block is then one
    # vectorised search of the pair's key instead of sparse fancy indexing
    # of nine entries.
    perm = design.col_of_star.ravel()
    pairs = normal_matrix(design, v)[perm][:, perm].tobsr(blocksize=(3, 3))
    pairs.sort_indices()
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(pairs.indptr))
    keys = row * n + pairs.indices
    k = min(neighbours + 1, n)
    dist, idx = cKDTree(np.c_[x, y]).query(np.c_[x, y], k=k)
    idx, dist = idx.reshape(n, k), dist.reshape(n, k)
    # The star itself is its own nearest (distance 0) unless another sits at
    # the same position; put it first so its flux is the block's entry 0.
    self_at = np.argmax(idx == np.arange(n)[:, None], axis=1)
    idx[np.arange(n), self_at] = idx[:, 0]
    dist[np.arange(n), self_at] = dist[:, 0]
    idx[:, 0], dist[:, 0] = np.arange(n), 0.0
    used = dist <= radius
    q = idx[:, :, None].astype(np.int64) * n + idx[:, None, :]
    pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    # Neighbours beyond the radius are not coupled.
    hit = (keys[pos] == q) & used[:, :, None] & used[:, None, :]
    block = np.where(hit[..., None, None], pairs.data[pos], 0.0)
    block = block.transpose(0, 1, 3, 2, 4).reshape(n, 3 * k, 3 * k)
    # Columns without weight (and unused neighbours) become uncoupled unit
    # rows so every block stays invertible.
    eye = np.eye(3 * k, dtype=bool)[None]
    empty = np.diagonal(block, axis1=1, axis2=2) <= 0
    block = np.where(eye & empty[:, :, None], 1.0, block)
    # The star's own flux, x and y unit vectors: the first three columns of
    # the block's inverse, whose diagonal holds its three variances.
    rhs = np.zeros((n, 3 * k, 3))
    rhs[:, [0, 1, 2], [0, 1, 2]] = 1.0
    with np.errstate(invalid="ignore", over="ignore"):
        try:
            inv = np.linalg.solve(block, rhs)
        except np.linalg.LinAlgError:
            # A singular block (two stars at one position): those stars,
            # one at a time, get the pseudo-inverse's entries.
            inv = np.array([np.linalg.pinv(b)[:, :3] for b in block])
    var = inv[:, [0, 1, 2], [0, 1, 2]]
    scale = np.abs(np.asarray(flux, dtype=np.float64))
    for j, err in enumerate(out):
        good = ~empty[:, j] & np.isfinite(var[:, j]) & (var[:, j] > 0)
        if j:
            good &= scale > 0
        err[good] = np.sqrt(var[good, j]) / norm[design.col_of_star[good, j]]
        if j:
            err[good] /= scale[good]
    return out
