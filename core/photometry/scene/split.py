"""Blends fitted as one star: the two-star model tested against the one-star model.

Two stars of similar brightness 1.5-3 px apart (FWHM ~3.5 px) make one peak in
the matched filter and, fitted as one star, leave a residual that is mostly
below the detection threshold: the single star sits between them, more than
1 px from both. For each candidate the one-star model (flux and a linearised
shift) and the two-star model (the same plus a second star at each point of a
ring of offsets around it) are fitted to the candidate's window of the image
with every other star subtracted; the second star is kept where it lowers the
chi-square by more than ``min_dchi2`` and its own flux has S/N above
``min_snr``. The fits are linear, so every candidate and offset is one small
normal-equation solve (vectorised, no optimiser): the positions found are
starting points which the forced passes' re-centring refines.
"""

from __future__ import annotations

import numpy as np

from ..flags import PhotometryFlag as F
from .design import FieldTables, Tables, _phase, gather
from .forced import SceneResult
from .records import NoisyImage, PlacedStars, SceneFrame

__all__ = ["blend_splits", "split_blends"]

HALF = 5
"""Half-size (px) of the window fitted around each candidate (11 x 11 px)."""
TABLE = 19
"""Stamp tables the window is cut from: a second star 3 px off still fits in them."""
CHUNK = 32
"""Candidates whose ring of second stars is fitted at once (~3 MB of stamps)."""


def split_blends(
    residual: NoisyImage,
    tables: Tables,
    stars: PlacedStars,
    *,
    r_min: float = 1.5,
    r_max: float = 3.0,
    step: float = 0.5,
    min_dchi2: float = 30.0,
    min_snr: float = 5.0,
    max_shift: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates better fitted as two stars, with both stars' starting positions.

    Parameters
    ----------
    residual : NoisyImage
        Image minus sky minus the model of every star (the candidates included).
    tables : stamp tables of the PSF (a size of 19 px among them).
    stars : PlacedStars
        The candidates' fitted positions and fluxes.
    r_min, r_max, step : float
        The second star is tried on a ``step`` px grid between ``r_min`` and
        ``r_max`` px from the candidate (88 offsets). Up to 3.5 px (124
        offsets) case B seeds 111 and 112 have the same splits: pairs
        further apart make two peaks of their own.
    min_dchi2 : float
        Least drop of the window's chi-square for a split. The best of 88
        offsets is taken (three more parameters), so this is well above the
        chi-square of a 5-sigma star alone (25).
    min_snr : float
        Least S/N of the second star's flux in the two-star fit.
    max_shift : float
        px: the first star's shift is clipped to this on each axis (the
        linearised shift of a star 1-1.5 px off is only a first step).

    Returns
    -------
    which, x1, y1, x2, y2, flux2 : ndarray
        Indices of the split candidates, the first star's new position, the
        second star's position and flux.
    """
    x, y, flux = (
        np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (stars.x, stars.y, stars.flux)
    )
    n = len(x)
    empty = np.zeros(0)
    if n == 0:
        return np.zeros(0, dtype=np.intp), empty, empty, empty, empty, empty
    xi0 = np.floor(x + 0.5).astype(np.intp)
    yi0 = np.floor(y + 0.5).astype(np.intp)
    w, data = windows(residual.image, residual.weight, xi0, yi0)
    p0, px0, py0 = (_window(tables, k, x, y, xi0, yi0) for k in ("p", "px", "py"))
    data += flux[:, None] * p0.reshape(n, -1)
    a1 = np.stack([p0.reshape(n, -1), px0.reshape(n, -1), py0.reshape(n, -1)], axis=-1)
    wa1 = a1 * w[:, :, None]
    m1 = np.einsum("npi,npj->nij", wa1, a1)
    b1 = np.einsum("npi,np->ni", wa1, data)
    ok = np.abs(np.linalg.det(m1)) > 0
    m1[~ok] = np.eye(3)
    inv1 = np.linalg.inv(m1)
    g1 = np.einsum("nij,nj->ni", inv1, b1)  # the one-star fit
    # The second star by block elimination: with c = A1' W q, its flux is
    # (q' W D - c' g1) / s and the chi-square drops by (q' W D - c' g1)^2 / s,
    # s = q' W q - c' M1^-1 c (the inverse of its flux variance).
    # All offsets at once: batched matrix products over (candidate, offset).
    grid = np.arange(-r_max, r_max + 1e-9, step)
    ox, oy = (v.ravel() for v in np.meshgrid(grid, grid))
    ring = (np.hypot(ox, oy) >= r_min) & (np.hypot(ox, oy) <= r_max)
    ox, oy = ox[ring], oy[ring]
    # Candidates in chunks: the (candidate, offset, pixel) stamps of all
    # ~800 candidates of a crowded frame are ~70 MB, which every call
    # faulted in afresh; one chunk's stamps stay in the cache.
    k = np.zeros(n, dtype=np.intp)
    best = np.zeros(n)
    best_f2 = np.zeros(n)
    best_c = np.zeros((n, 3))
    n_off = len(ox)
    for lo in range(0, n, CHUNK):
        c = slice(lo, min(lo + CHUNK, n))
        m = c.stop - lo
        q = _window(
            tables,
            "p",
            (x[c, None] + ox).ravel(),
            (y[c, None] + oy).ravel(),
            np.repeat(xi0[c], n_off),
            np.repeat(yi0[c], n_off),
        ).reshape(m, n_off, -1)  # (candidates, offsets, pixels)
        cq = q @ wa1[c]  # (candidates, offsets, 3)
        s = (q * q) @ w[c, :, None] - np.sum((cq @ inv1[c]) * cq, axis=2, keepdims=True)
        u = q @ (w[c] * data[c])[:, :, None] - cq @ g1[c, :, None]
        s, u = s[..., 0], u[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            f2 = np.where(s > 0, u / s, 0.0)
            gain = np.where(s > 0, u * f2, 0.0)
            snr2 = np.where(s > 0, u / np.sqrt(s), 0.0)
        gain = np.where(ok[c, None] & (snr2 > min_snr) & (gain > 0), gain, 0.0)
        kc = np.argmax(gain, axis=1)
        rows = np.arange(m)
        k[c] = kc
        best[c] = gain[rows, kc]
        best_f2[c] = np.where(best[c] > 0, f2[rows, kc], 0.0)
        best_c[c] = cq[rows, kc]
    best_off = np.c_[ox[k], oy[k]]
    # The first star's flux and shift with the second star's light removed.
    coef = g1 - best_f2[:, None] * np.einsum("nij,nj->ni", inv1, best_c)
    f1 = coef[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        sx = np.clip(np.where(f1 > 0, coef[:, 1] / f1, 0.0), -max_shift, max_shift)
        sy = np.clip(np.where(f1 > 0, coef[:, 2] / f1, 0.0), -max_shift, max_shift)
    split = (best > min_dchi2) & (f1 > 0)
    which = np.flatnonzero(split)
    return (
        which,
        x[which] + sx[which],
        y[which] + sy[which],
        x[which] + best_off[which, 0],
        y[which] + best_off[which, 1],
        best_f2[which],
    )


def windows(
    residual: np.ndarray, weight: np.ndarray, xi0: np.ndarray, yi0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The weights and residuals (N, 121) of the 11 x 11 px windows centred on (xi0, yi0).

    Pixels outside the image have no weight and no residual.
    """
    ny, nx = residual.shape
    d = np.arange(-HALF, HALF + 1)
    r = yi0[:, None, None] + d[None, :, None]
    c = xi0[:, None, None] + d[None, None, :]
    inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
    rc, cc = np.clip(r, 0, ny - 1), np.clip(c, 0, nx - 1)
    n = len(xi0)
    w = np.where(inside, weight[rc, cc], 0.0).reshape(n, -1)
    return w, np.where(inside, residual[rc, cc], 0.0).reshape(n, -1)


def _window(
    tables: Tables, kind: str, sx: np.ndarray, sy: np.ndarray, xi0: np.ndarray, yi0: np.ndarray
) -> np.ndarray:
    """Stamps (N, 11, 11) of ``kind`` of stars at (sx, sy) in the windows centred on (xi0, yi0)."""
    xi, mx, _ = _phase(sx)
    yi, my, _ = _phase(sy)
    mid = TABLE // 2
    d = np.arange(-HALF, HALF + 1)
    rows = (mid + d[None, :] - (yi - yi0)[:, None])[:, :, None]
    cols = (mid + d[None, :] - (xi - xi0)[:, None])[:, None, :]
    if not isinstance(tables, FieldTables):
        # One gather of the window's pixels from the (16, 16, S, S) table:
        # the whole 19 x 19 stamps are not needed. Flat indices: numpy's
        # four broadcast index arrays took 1.7x as long (0.12 -> 0.07 s a
        # case B frame, 244 calls; the same values).
        table = getattr(tables[TABLE], kind)
        _, nx, s0, s1 = table.shape
        flat = ((my * nx + mx) * s0)[:, None, None] + rows
        return np.take(table, flat * s1 + cols).astype(np.float64)
    big = gather(tables, TABLE, kind, my, mx, sx, sy)
    return big[np.arange(len(sx))[:, None, None], rows, cols].astype(np.float64)


def blend_splits(
    result: SceneResult,
    frame: SceneFrame,
    tables: Tables,
    *,
    min_snr: float,
    min_rchi2: float,
    min_dchi2: float,
    second_snr: float = 5.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`split_blends` on the stars of a forced pass that may be blends.

    Candidates: unsaturated stars with S/N of at least ``min_snr`` whose
    core fits worse than ``min_rchi2`` (reduced chi-square in the central
    5 x 5 px): a blend fitted as one star leaves its two halves in the
    residual, which a well-fitted star does not. ``second_snr``: least S/N
    of the second star's flux.

    Returns
    -------
    which, x1, y1, x2, y2, flux2 : ndarray
        Rows of ``result.table`` to split, their new positions, and the
        second stars' positions and fluxes.
    """
    t = result.table
    x = np.asarray(t["x"], dtype=np.float64)
    y = np.asarray(t["y"], dtype=np.float64)
    flux = np.nan_to_num(np.asarray(t["flux"], dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = flux / np.asarray(t["flux_err"], dtype=np.float64)
    saturated = (np.asarray(t["flags"]) & F.SATURATED).astype(bool)
    cand = np.flatnonzero(
        ~saturated & (snr >= min_snr) & (np.nan_to_num(np.asarray(t["rchi2"])) > min_rchi2)
    )
    which, x1, y1, x2, y2, f2 = split_blends(
        frame.noisy(result.residual, result.model),
        tables,
        PlacedStars(x[cand], y[cand], flux[cand]),
        min_dchi2=min_dchi2,
        min_snr=second_snr,
    )
    return cand[which], x1, y1, x2, y2, f2
