"""One star fitted as two: close pairs tested against a single star.

A star can be fitted as two stars 1-2 px apart that share its light: two
peaks of the first pass's matched filter on one bright star (the starting
PSF is only a guess), or the split of a bright star whose profile the PSF
misses (:mod:`.split` takes the misfit for a companion). Its second half is
a false detection and its flux is split between the two. For every pair of
stars closer than ``radius`` the two-star model (both fluxes, at their
fitted positions) is tested against the best single star (flux and a
linearised shift, from a grid of starting points around the pair's
light-weighted centre) on the pair's window of the image with every other
star subtracted; the pair becomes one star where two stars lower the
chi-square by less than ``min_dchi2`` (scaled by the reduced chi-square of
the two-star fit where that exceeds 1: the PSF's misfit of a bright star
is not evidence of a second star). The test mirrors :mod:`.split`: a blend
split there with a chi-square gain above the same threshold stays split.

Two bright stars 1.5-2 px apart can also be fitted as three: the pair test
then holds the third star fixed and no two of them make one star. Groups of
three close stars (:func:`merge_triples`) are tested as three stars at their
fitted positions against the best two of them with their positions refitted
(Gauss-Newton steps on the stamps' derivative columns), with the same
threshold; the third star goes where two explain its light.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
from scipy.spatial import cKDTree

from ..flags import PhotometryFlag as F
from .design import Tables, _phase
from .forced import SceneResult
from .records import NoisyImage, PlacedStars, SceneFrame
from .settings import SceneSettings
from .split import _window, windows

__all__ = ["merge_pairs", "merge_triples", "merged"]

log = logging.getLogger(__name__)

GRID = np.arange(-0.5, 0.51, 0.125)
"""px: trial places of the single star around the pair's light centre (a 9 x 9 grid)."""
MAX_RADIUS = 3.0
"""px: the widest pair tested (each star within 3 px of the window's centre)."""
STEP = 0.5
"""px: the largest move of a star in one Gauss-Newton step of :func:`merge_triples`."""


def merge_pairs(
    residual: NoisyImage,
    tables: Tables,
    drawn: PlacedStars,
    stars: PlacedStars,
    pinned: np.ndarray,
    *,
    radius: float,
    min_dchi2: float = 30.0,
) -> tuple[np.ndarray, PlacedStars]:
    """Stars to keep, and the stars with every merged pair made one star.

    Parameters
    ----------
    residual : NoisyImage
        Image minus sky minus the model of every star as ``drawn``.
    tables : stamp tables of the PSF (a size of 19 px among them).
    drawn : PlacedStars
        The positions and fluxes the residual's model was drawn with.
    stars : PlacedStars
        The same stars' current positions (e.g. re-centred since) and fluxes.
    pinned : ndarray of bool
        Stars never merged (saturated ones).
    radius : float
        px: pairs closer than this (at most :data:`MAX_RADIUS`) are tested.
    min_dchi2 : float
        Least chi-square gain of the second star for the pair to stay two stars.

    Returns
    -------
    keep : ndarray of bool
        False for the fainter star of each merged pair.
    stars : PlacedStars
        All the stars (``keep`` not applied), the brighter one of each
        merged pair at the single star's position and flux.
    """
    x = np.array(stars.x, dtype=np.float64)
    y = np.array(stars.y, dtype=np.float64)
    flux = np.array(stars.flux, dtype=np.float64)
    keep = np.ones(len(x), dtype=bool)
    # Both stars and the single star's trial places stay inside the 11 px
    # window of the 19 px tables.
    i, j = _pairs(x, y, flux, pinned, min(radius, MAX_RADIUS))
    if not len(i):
        return keep, PlacedStars(x, y, flux)
    n = len(i)
    # Window centred on the pair's light-weighted centre.
    fi, fj = np.maximum(flux[i], 0.0), np.maximum(flux[j], 0.0)
    # (the midpoint where neither has positive flux)
    tot = fi + fj
    wi = np.where(tot > 0, fi / np.where(tot > 0, tot, 1.0), 0.5)
    cx = wi * x[i] + (1 - wi) * x[j]
    cy = wi * y[i] + (1 - wi) * y[j]
    xi0 = np.floor(cx + 0.5).astype(np.intp)
    yi0 = np.floor(cy + 0.5).astype(np.intp)
    win = _windows_with(residual, tables, drawn, np.stack([i, j], axis=1), xi0, yi0)
    a2 = np.stack(
        [_window(tables, "p", x[k], y[k], xi0, yi0).reshape(n, -1) for k in (i, j)], axis=-1
    )
    chi2_two, _ = _fit(a2, win)
    # The single star: the best flux-only fit on a 1/8 px grid around the
    # centre, then one linearised step from it (its chi-square taken only
    # where the shifted star itself fits better: a linearised shift is
    # free to fit more than a moved star).
    best = np.full(n, np.inf)
    bx, by, bf = cx.copy(), cy.copy(), fi + fj
    for ox in GRID:
        for oy in GRID:
            sx, sy = cx + ox, cy + oy
            chi2, g = _fit(_window(tables, "p", sx, sy, xi0, yi0).reshape(n, -1, 1), win)
            better = (chi2 < best) & (g[:, 0] > 0)
            best = np.where(better, chi2, best)
            bx, by = np.where(better, sx, bx), np.where(better, sy, by)
            bf = np.where(better, g[:, 0], bf)
    a1 = np.stack(
        [_window(tables, k, bx, by, xi0, yi0).reshape(n, -1) for k in ("p", "px", "py")], axis=-1
    )
    _, g = _fit(a1, win)
    f = g[:, 0]
    half = 0.5 * (GRID[1] - GRID[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        # The derivative columns are taken at the 1/16 px phase centre
        # (the position less its offset from that centre).
        nx_ = bx - _phase(bx)[2] + np.where(f > 0, g[:, 1] / f, 0.0)
        ny_ = by - _phase(by)[2] + np.where(f > 0, g[:, 2] / f, 0.0)
    nx_ = np.clip(nx_, bx - half, bx + half)
    ny_ = np.clip(ny_, by - half, by + half)
    chi2, g = _fit(_window(tables, "p", nx_, ny_, xi0, yi0).reshape(n, -1, 1), win)
    step = (chi2 < best) & (g[:, 0] > 0)
    best = np.where(step, chi2, best)
    best_pos = np.c_[np.where(step, nx_, bx), np.where(step, ny_, by)]
    best_flux = np.where(step, g[:, 0], bf)
    npix = np.maximum(np.count_nonzero(win.w, axis=1) - 2, 1)
    scale = np.maximum(np.nan_to_num(chi2_two / npix, posinf=1.0), 1.0)
    ok = np.isfinite(best) & np.isfinite(chi2_two)
    gain = np.where(ok, best - np.where(ok, chi2_two, 0.0), np.inf) / scale
    merge = ok & (gain < min_dchi2)
    a, b = i[merge], j[merge]
    # The brighter of the two carries the single star.
    x[a], y[a] = best_pos[merge, 0], best_pos[merge, 1]
    flux[a] = best_flux[merge]
    keep[b] = False
    return keep, PlacedStars(x, y, flux)


def merge_triples(
    residual: NoisyImage,
    tables: Tables,
    drawn: PlacedStars,
    stars: PlacedStars,
    pinned: np.ndarray,
    *,
    radius: float,
    min_dchi2: float = 30.0,
    iterations: int = 6,
) -> tuple[np.ndarray, PlacedStars, np.ndarray]:
    """Stars to keep where two of three close stars explain the light of all three.

    Each group is a star and the two nearest stars within ``radius`` of it
    (the brightest free star first, each star in one group at most). Three
    stars at their positions (fluxes fitted) are compared with the
    brightest and either of the other two, whose positions are refitted
    from where they are (``iterations`` Gauss-Newton steps of at most
    :data:`STEP` px, a step kept only where it lowers the chi-square).
    Where the best pair is worse by less than ``min_dchi2`` (scaled by the
    three-star fit's reduced chi-square where that exceeds 1, as in
    :func:`merge_pairs`) the third star goes and the pair takes the
    refitted positions and fluxes. Two bright stars 1.9 px apart fitted as
    three (case B seed 401: 20895 and 30896 e- as 25298, 20908 and 5486 e-)
    become two; a third star 2 px away is kept where it is worth a
    chi-square of 30 with the other two's positions free (at S/N ~100
    beside 12000 and 20000 e- stars, tests/core/test_scene_merge.py).

    Parameters are those of :func:`merge_pairs`.

    Returns
    -------
    keep : ndarray of bool
        False for each group's star that goes.
    stars : PlacedStars
        All the stars (``keep`` not applied), the two that took the light
        of a star that goes at their refitted positions and fluxes.
    changed : ndarray of bool
        True for those two stars (their fluxes and positions are no longer
        those the residual was made with).
    """
    x = np.array(stars.x, dtype=np.float64)
    y = np.array(stars.y, dtype=np.float64)
    flux = np.array(stars.flux, dtype=np.float64)
    keep = np.ones(len(x), dtype=bool)
    changed = np.zeros(len(x), dtype=bool)
    groups = _triples(x, y, flux, pinned, min(radius, MAX_RADIUS))
    if not len(groups):
        return keep, PlacedStars(x, y, flux), changed
    n = len(groups)
    cx, cy = x[groups[:, 0]], y[groups[:, 0]]
    xi0 = np.floor(cx + 0.5).astype(np.intp)
    yi0 = np.floor(cy + 0.5).astype(np.intp)
    win = _windows_with(residual, tables, drawn, groups, xi0, yi0)

    def flux_fit(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = [_window(tables, "p", px[:, k], py[:, k], xi0, yi0) for k in range(px.shape[1])]
        chi2, coef = _fit(np.stack([c.reshape(n, -1) for c in cols], axis=-1), win)
        return np.where((coef > 0).all(axis=1), chi2, np.inf), coef

    chi2_three, _ = flux_fit(x[groups], y[groups])
    best = np.full(n, np.inf)
    # The brightest star stays: two fainter ones 1-2 px apart on either side
    # of it mimic it and take its light.
    best_drop = np.ones(n, dtype=np.intp)
    best_x, best_y, best_f = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros((n, 2))
    for drop in (1, 2):
        pair = groups[:, [k for k in range(3) if k != drop]]
        chi2, coef = flux_fit(x[pair], y[pair])
        fit = _PairFit(x[pair], y[pair], chi2, coef)
        for _ in range(iterations):
            fit = _newton_step(tables, win, fit)
        better = fit.chi2 < best
        best = np.where(better, fit.chi2, best)
        best_drop[better] = drop
        best_x[better], best_y[better] = fit.x[better], fit.y[better]
        best_f[better] = fit.flux[better]
    npix = np.maximum(np.count_nonzero(win.w, axis=1) - 3, 1)
    scale = np.maximum(np.nan_to_num(chi2_three / npix, posinf=1.0), 1.0)
    ok = np.isfinite(best) & np.isfinite(chi2_three)
    gain = np.where(ok, best - np.where(ok, chi2_three, 0.0), np.inf) / scale
    rows = np.flatnonzero(ok & (gain < min_dchi2))
    for r in rows:
        pair = [groups[r, k] for k in range(3) if k != best_drop[r]]
        keep[groups[r, best_drop[r]]] = False
        x[pair], y[pair], flux[pair] = best_x[r], best_y[r], best_f[r]
        changed[pair] = True
    return keep, PlacedStars(x, y, flux), changed


@dataclass(frozen=True)
class _Windows:
    """The 11 x 11 px windows (one row each) of a merge test, every star's light as drawn in."""

    w: np.ndarray
    """(N, 121) inverse variance."""
    data: np.ndarray
    """(N, 121) residual plus the tested stars' drawn model."""
    dwd: np.ndarray
    """(N,) weighted sum of squares of ``data``."""
    xi0: np.ndarray
    yi0: np.ndarray
    """Centre pixels of the windows."""


@dataclass(frozen=True)
class _PairFit:
    """Two stars' positions (N, 2), their fitted fluxes (N, 2) and the windows' chi-square."""

    x: np.ndarray
    y: np.ndarray
    chi2: np.ndarray
    flux: np.ndarray


def _windows_with(
    residual: NoisyImage,
    tables: Tables,
    drawn: PlacedStars,
    members: np.ndarray,
    xi0: np.ndarray,
    yi0: np.ndarray,
) -> _Windows:
    """Windows centred on (xi0, yi0) with the light of the stars ``members`` (N, K) added back."""
    n = len(xi0)
    w, data = windows(residual.image, residual.weight, xi0, yi0)
    for g in members.T:
        data += drawn.flux[g, None] * _window(
            tables, "p", drawn.x[g], drawn.y[g], xi0, yi0
        ).reshape(n, -1)
    return _Windows(w, data, np.einsum("np,np->n", w, data * data), xi0, yi0)


def _newton_step(tables: Tables, win: _Windows, fit: _PairFit) -> _PairFit:
    """One Gauss-Newton step of two stars' positions and fluxes, kept where it fits better."""
    px, py, xi0, yi0 = fit.x, fit.y, win.xi0, win.yi0
    n = len(px)
    cols = [
        _window(tables, kind, px[:, k], py[:, k], xi0, yi0).reshape(n, -1)
        for k in range(2)
        for kind in ("p", "px", "py")
    ]
    _, g = _fit(np.stack(cols, axis=-1), win)
    f = g[:, [0, 3]]
    with np.errstate(divide="ignore", invalid="ignore"):
        # The derivative columns are taken at the 1/16 px phase centre.
        sx = np.where(f > 0, g[:, [1, 4]] / f, 0.0) - _phase(px)[2]
        sy = np.where(f > 0, g[:, [2, 5]] / f, 0.0) - _phase(py)[2]
    # Each star stays within the window's reach of its centre pixel.
    lim = MAX_RADIUS
    nx_ = np.clip(px + np.clip(sx, -STEP, STEP), xi0[:, None] - lim, xi0[:, None] + lim)
    ny_ = np.clip(py + np.clip(sy, -STEP, STEP), yi0[:, None] - lim, yi0[:, None] + lim)
    cols = [_window(tables, "p", nx_[:, k], ny_[:, k], xi0, yi0).reshape(n, -1) for k in range(2)]
    new_chi2, new_coef = _fit(np.stack(cols, axis=-1), win)
    new_chi2 = np.where((new_coef > 0).all(axis=1), new_chi2, np.inf)
    better = new_chi2 < fit.chi2
    b = better[:, None]
    return _PairFit(
        np.where(b, nx_, px),
        np.where(b, ny_, py),
        np.where(better, new_chi2, fit.chi2),
        np.where(b, new_coef, fit.flux),
    )


def _triples(x, y, flux, pinned, radius):
    """Disjoint groups (N, 3): a free star and its two nearest free stars within ``radius``."""
    free = np.flatnonzero(~np.asarray(pinned, dtype=bool))
    if len(free) < 3:
        return np.zeros((0, 3), dtype=np.intp)
    tree = cKDTree(np.c_[x[free], y[free]])
    pairs = tree.query_pairs(radius, output_type="ndarray")
    # Only stars with two neighbours or more can head a group (a few dozen
    # of the thousands of a frame): the loop below runs over those alone.
    heads = free[np.flatnonzero(np.bincount(pairs.ravel(), minlength=len(free)) >= 2)]
    used = np.zeros(len(x), dtype=bool)
    out = []
    for k in heads[np.argsort(-flux[heads], kind="stable")]:
        if used[k]:
            continue
        near = [free[j] for j in tree.query_ball_point([x[k], y[k]], radius) if free[j] != k]
        near = [j for j in near if not used[j]]
        if len(near) < 2:
            continue
        near.sort(key=lambda j: np.hypot(x[j] - x[k], y[j] - y[k]))
        group = [k, near[0], near[1]]
        used[group] = True
        out.append(group)
    return np.asarray(out, dtype=np.intp).reshape(-1, 3)


def _pairs(x, y, flux, pinned, radius):
    """Disjoint pairs (brighter, fainter) closer than ``radius``, closest first."""
    free = np.flatnonzero(~np.asarray(pinned, dtype=bool))
    if len(free) < 2:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    pairs = cKDTree(np.c_[x[free], y[free]]).query_pairs(radius, output_type="ndarray")
    if not len(pairs):
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    p, q = free[pairs[:, 0]], free[pairs[:, 1]]
    order = np.argsort(np.hypot(x[p] - x[q], y[p] - y[q]), kind="stable")
    used = np.zeros(len(x), dtype=bool)
    out_i, out_j = [], []
    for k in order:
        a, b = p[k], q[k]
        if used[a] or used[b]:
            continue
        used[a] = used[b] = True
        if flux[b] > flux[a]:
            a, b = b, a
        out_i.append(a)
        out_j.append(b)
    return np.asarray(out_i, dtype=np.intp), np.asarray(out_j, dtype=np.intp)


def _fit(a: np.ndarray, win: _Windows) -> tuple[np.ndarray, np.ndarray]:
    """Chi-square and coefficients of the weighted fit of the windows by the columns ``a``."""
    wa = a * win.w[:, :, None]
    m = np.einsum("npi,npj->nij", wa, a)
    b = np.einsum("npi,np->ni", wa, win.data)
    ok = np.abs(np.linalg.det(m)) > 0
    m[~ok] = np.eye(a.shape[2])
    g = np.linalg.solve(m, b[..., None])[..., 0]
    chi2 = win.dwd - np.einsum("ni,ni->n", b, g)
    return np.where(ok, chi2, np.inf), g


def merged(
    result: SceneResult,
    frame: SceneFrame,
    tables: Tables,
    stars: PlacedStars,
    st: SceneSettings,
    fwhm: float,
) -> tuple[SceneResult, PlacedStars]:
    """:func:`merge_triples`, then :func:`merge_pairs`, on a forced pass's stars.

    ``stars`` are the forced pass's stars at their new positions, with the
    fluxes its model was drawn with. Returns ``result`` with the merged
    rows left out of its table, and the remaining stars.
    """
    t = result.table
    residual = frame.noisy(result.residual, result.model)
    drawn = PlacedStars(
        np.asarray(t["x"], dtype=np.float64), np.asarray(t["y"], dtype=np.float64), stars.flux
    )
    saturated = (np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    radius = st.merge_radius * fwhm
    kept, stars, changed = merge_triples(
        residual, tables, drawn, stars, saturated, radius=radius, min_dchi2=st.merge_dchi2
    )
    # The pair test adds each star's light back as the residual drew it:
    # the stars the triple test moved or dropped are not paired again.
    keep, stars = merge_pairs(
        residual,
        tables,
        drawn,
        stars,
        saturated | changed | ~kept,
        radius=radius,
        min_dchi2=st.merge_dchi2,
    )
    keep &= kept
    log.debug(
        "%d of three close stars and %d pairs merged",
        int((~kept).sum()),
        int((~keep).sum() - (~kept).sum()),
    )
    if keep.all():
        return result, stars
    return replace(result, table=t[keep]), stars.take(keep)
