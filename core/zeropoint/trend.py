"""The zero point's rejection trend past the chosen solution, by downdating the normal equations."""

from __future__ import annotations

import math

import numpy as np

from .lsq import _CHI2_1_MEDIAN, _inverse, _middle, _robust_scatter


def _twins(at: np.ndarray, b: np.ndarray, var: np.ndarray) -> dict[int, list[int]]:
    """Each star that has identical copies (every number equal) -> all of them, in order."""
    rows = np.column_stack([at.T, b, var])
    _, group, count = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    twins: dict[int, list[int]] = {}
    for g in np.flatnonzero(count > 1):
        members = np.flatnonzero(group == g).tolist()
        for i in members:
            twins[i] = members
    return twins


def _median_over(r2v: np.ndarray, keep: np.ndarray, m: int) -> bool:
    """Whether the kept stars' median ``r2v`` may exceed chi2(1)'s (the robust scatter is not 0).

    Counted, not sorted: the median is above when more than half the kept
    values are, and not when fewer than half are; only an even count split
    exactly in two needs the median itself. (:func:`_robust_scatter` looks
    at the median again, so a True here is never wrong.)
    """
    above = int(np.count_nonzero((r2v > _CHI2_1_MEDIAN) & keep))
    half = m // 2
    if above != half or m % 2 == 1:
        return above > half
    return _middle(r2v[keep]) > _CHI2_1_MEDIAN


def _trend(
    at_all: np.ndarray,
    target: np.ndarray,
    var_all: np.ndarray,
    used: np.ndarray,
    s: float,
    n_params: int,
    floor: int,
    intrinsic_scatter: bool,
    rows: list[tuple],
) -> None:
    """Rejection past the chosen solution down to ``floor`` stars, one star a step.

    The steps only illustrate the trend, so the chosen solution's scatter
    ``s`` is kept and the weights do not change: each step removes one
    star's term from the normal equations (a rank-one downdate, its terms
    computed once) instead of rebuilding them, and likewise from the normal
    matrix at zero scatter, which the studentised residuals need whenever
    the robust scatter is 0 (most steps). The rest is :func:`_studentised2`
    over every star with the rejected ones weighted out, so that no array is
    cut at each step: at a few hundred stars numpy's per-call cost, not the
    arithmetic, is the time. Appends one trajectory row a step to ``rows``;
    ``used`` is left as it was given.
    """
    idx = used.nonzero()[0]  # the other stars may have no numbers at all
    at, b, var = at_all.take(idx, 1), target.take(idx), var_all.take(idx)
    m = len(idx)
    keep = np.ones(m, bool)
    weight = np.ones(m)  # 1 for a kept star, 0 for a rejected one
    out = np.zeros(m)  # -inf for a rejected star, so that it is never the worst
    v = var + s * s
    # Each star's term of the normal matrices (at the scatter s and at 0) and
    # of the right-hand side, so that a downdate is one subtraction.
    terms = at[:, None, :] * at[None, :, :]
    term_v, term_0 = (terms / v).transpose(2, 0, 1), (terms / var).transpose(2, 0, 1)
    term_b = (at * (b / v)).T
    normal, normal0, rhs = term_v.sum(0), term_0.sum(0), term_b.sum(0)
    floor_v, floor_0 = 1e-3 * v, 1e-3 * var
    twins = _twins(at, b, var)
    while True:
        cov = _inverse(normal)
        params = cov @ rhs
        resid = b - params @ at
        r2 = resid * resid
        r2v = r2 / var
        chi2 = float(np.dot(r2v, weight) / max(m - n_params, 1))
        s_rob = 0.0
        if intrinsic_scatter and _median_over(r2v, keep, m):
            s_rob = _robust_scatter(resid[keep], var[keep], r2v[keep])
        if s_rob == s:
            hat_cov, vh, vh_floor = cov, v, floor_v
        elif s_rob == 0.0:
            hat_cov, vh, vh_floor = _inverse(normal0), var, floor_0
        else:
            vh = var + s_rob * s_rob
            vh_floor = 1e-3 * vh
            hat_cov = _inverse(np.dot(at * (weight / vh), at.T))
        x = hat_cov @ at
        x *= at
        # Residual variance net of the star's own weight in the fit, var (1 - h).
        z2 = r2 / np.maximum(vh - np.add.reduce(x, 0), vh_floor)
        z2 += out
        worst = int(z2.argmax())
        # Equal stars (the same star twice in a catalog) have equal z2 only up
        # to the last bits, which depend on their places in BLAS's blocks: the
        # first of them goes, whatever the rounding.
        if worst in twins:
            worst = next(i for i in twins[worst] if keep[i])
        more = m > floor
        rows.append((m, params[0], math.sqrt(cov[0, 0]), chi2, s, int(idx[worst]) if more else -1))
        if not more:
            return
        normal -= term_v[worst]
        normal0 -= term_0[worst]
        rhs -= term_b[worst]
        keep[worst] = False
        weight[worst] = 0.0
        out[worst] = -np.inf
        m -= 1
