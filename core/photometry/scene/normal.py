"""The scene's least-squares fit solved exactly, through its normal equations.

Every column of the design (:class:`.design.SceneDesign`) is a square stamp
around a star, so the noise-weighted normal matrix ``A^T W A`` has a
non-zero only where two stamps overlap: about 25 000 for the 3900 stars of
a 5000-star 1024^2 frame, whose sparse Cholesky-like factorisation
(SuperLU) takes milliseconds. scipy's sparse product ``A.T @ A`` forms it
through a general sparse-times-sparse product over the ~2 million stored
values and takes over a second; here each overlapping pair's entry is the
sum over their common pixels of their two weighted stamps' product, read
from the stamps themselves (one vectorised gather and dot product per
pair of stamp sizes). LSQR needed 20-30 iterations (two passes over the
matrix each) to its 1e-4 tolerance on the forced passes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import sliding_window_view
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from .design import SceneDesign

__all__ = ["normal_matrix", "solve_normal"]


def _column_sizes(design: SceneDesign) -> np.ndarray:
    """Edge (px) of every column's square stamp."""
    side = np.zeros(design.n_columns, dtype=np.int64)
    for c0, n, m in design.blocks:
        side[c0 : c0 + n] = int(round(np.sqrt(m)))
    return side


def _overlapping_pairs(design: SceneDesign, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column pairs (k, l), k's stamp no larger than l's, whose stamps share pixels."""
    centres = np.asarray(design.centres)
    half = side // 2
    if len(side) < 2:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    tree = cKDTree(centres[:, ::-1].astype(np.float64))
    pairs = tree.query_pairs(float(2 * half.max()), p=np.inf, output_type="ndarray")
    k, l = pairs[:, 0], pairs[:, 1]
    reach = half[k] + half[l]
    d = np.abs(centres[k] - centres[l])
    ok = (d[:, 0] <= reach) & (d[:, 1] <= reach)
    k, l = k[ok], l[ok]
    swap = side[k] > side[l]
    return np.where(swap, l, k), np.where(swap, k, l)


def normal_matrix(design: SceneDesign, v: np.ndarray) -> sp.csc_array:
    """``A^T A`` (float64, CSC) of the design whose stored values are ``v`` (weighted).

    Parameters
    ----------
    design : SceneDesign
        The stamps' layout (blocks, ``indptr``, ``centres``).
    v : ndarray
        The columns' stored values in ``design``'s order (e.g. the unit-norm
        noise-weighted values of :meth:`.SceneDesign.unit_columns`).
    """
    side = _column_sizes(design)
    indptr = design.indptr
    n = design.n_columns
    k, l = _overlapping_pairs(design, side)
    centres = np.asarray(design.centres, dtype=np.int64)
    a, b = side[k], side[l]
    # Pixel (i, j) of k's stamp is pixel (i + oy, j + ox) of l's; the
    # overlap is rows r0..r1 and columns c0..c1 of k's stamp.
    oy = centres[k, 0] - centres[l, 0] + b // 2 - a // 2
    ox = centres[k, 1] - centres[l, 1] + b // 2 - a // 2
    r0, r1 = np.maximum(0, -oy), np.minimum(a, b - oy)
    c0, c1 = np.maximum(0, -ox), np.minimum(a, b - ox)
    h, w = r1 - r0, c1 - c0
    # The pairs in order of their overlap's width, so that each width's
    # rows are one contiguous run below.
    order = np.argsort(w, kind="stable")
    k, l, a, b, oy, ox, r0, c0, h, w = (q[order] for q in (k, l, a, b, oy, ox, r0, c0, h, w))
    # One dot product per overlapping row of each pair, grouped by the
    # rows' length: the work is the overlap's pixels only (1.2 million
    # for a 5000-star 1024^2 frame, a third of the smaller stamps' area).
    pair = np.repeat(np.arange(len(k)), h)
    first = np.cumsum(h) - h
    row = np.arange(len(pair)) - first[pair] + r0[pair]
    start_k = indptr[k][pair] + row * a[pair] + c0[pair]
    start_l = indptr[l][pair] + (row + oy[pair]) * b[pair] + c0[pair] + ox[pair]
    # Row runs of each width: a row of width m is one row of v's sliding
    # windows of length m (a view), so a gather copies whole rows instead
    # of indexing every pixel (half the time of per-pixel fancy indexing).
    widths, starts = np.unique(w[pair], return_index=True)
    bounds = np.r_[starts, len(pair)].tolist()
    dots = np.empty(len(pair), dtype=np.float64)
    for m, i0, i1 in zip(widths.tolist(), bounds[:-1], bounds[1:], strict=True):
        windows = sliding_window_view(v, m)
        dots[i0:i1] = np.einsum(
            "ij,ij->i", windows[start_k[i0:i1]], windows[start_l[i0:i1]], dtype=np.float64
        )
    values = np.bincount(pair, weights=dots, minlength=len(k))
    diag = np.zeros(n)
    for first_col, cnt, size in design.blocks:
        s0 = indptr[first_col]
        block = v[s0 : s0 + cnt * size].reshape(cnt, size)
        diag[first_col : first_col + cnt] = np.einsum("ij,ij->i", block, block, dtype=np.float64)
    cols = np.arange(n)
    mat = sp.coo_array(
        (np.r_[values, values, diag], (np.r_[k, l, cols], np.r_[l, k, cols])), shape=(n, n)
    )
    return mat.tocsc()


def solve_normal(
    design: SceneDesign, data: np.ndarray, sqrt_w: np.ndarray, x0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least-squares coefficients of every column, and the weighted columns' norms.

    The same problem as :meth:`.records.Solver.solve` (minimise
    ``|sqrt_w * (data - A c)|``), solved exactly. A column without weight
    keeps its coefficient of ``x0`` (it has no equation).
    """
    v, norm = design.unit_columns(sqrt_w)
    b = (sqrt_w * data).ravel().astype(np.float32)
    atb = np.zeros(design.n_columns)
    for c0, cnt, m in design.blocks:
        start = design.indptr[c0]
        stop = start + cnt * m
        block = v[start:stop].reshape(cnt, m).astype(np.float64)
        atb[c0 : c0 + cnt] = np.einsum(
            "ij,ij->i", block, b[design.rows[start:stop]].reshape(cnt, m)
        )
    gram = normal_matrix(design, v)
    empty = gram.diagonal() == 0
    if empty.any():
        gram = gram + sp.diags_array(empty.astype(np.float64), format="csc")
    z = splu(gram, permc_spec="MMD_AT_PLUS_A").solve(atb)
    coef = z / norm
    coef[empty] = x0[empty]
    return coef, norm
