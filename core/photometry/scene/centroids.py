"""Star positions measured on the image with the other stars subtracted.

For each star its own model is added back to the residual and the shift that
best fits that stamp is solved by noise-weighted least squares of the PSF and
its derivatives (a linearised PSF fit per star). crowdsource instead takes a
PSF-weighted barycentre and corrects its bias by a factor of two; the
least-squares shift is the maximum-likelihood one and needs no correction.
"""

from __future__ import annotations

import numpy as np

from .design import PHASES, Tables, _phase, build_design, gather
from .records import PlacedStars, SceneFrame

__all__ = ["joint_positions", "phase_centre", "refine_positions"]

CORE = 9  # px: shifts are measured in the inner 9 x 9 pixels
TABLE_SIZE = 11  # px: the smallest stamp tables (forced.STAMP_SIZES[0])


def refine_positions(
    residual: np.ndarray,
    weight: np.ndarray,
    tables: Tables,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    *,
    min_snr: float = 5.0,
    max_shift: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """New (x, y) of every star and a mask of the stars that moved.

    Parameters
    ----------
    residual : ndarray
        Image minus sky minus the model of all stars.
    weight : ndarray
        Inverse variance per pixel (0 for bad pixels).
    tables : dict of StampTable or FieldTables
        Stamp tables with an 11 px size (:data:`.forced.STAMP_SIZES`).
    x, y, flux : ndarray
        Current positions and fluxes.
    min_snr : float
        Stars fainter than this (S/N in the core) keep their position.
    max_shift : float
        Largest move per pass (px).
    """
    ny, nx = residual.shape
    half = CORE // 2
    size = TABLE_SIZE
    off = (size - CORE) // 2
    sl = slice(off, off + CORE)
    xi, mx, ddx = _phase(x)
    yi, my, ddy = _phase(y)
    w_field = tables.weights(x, y) if hasattr(tables, "weights") else None
    p, px, py = (
        gather(tables, size, k, my, mx, x, y, w_field)[:, sl, sl] for k in ("p", "px", "py")
    )
    # The model of the star at its current position (Taylor-shifted by the
    # residual offset from the phase centre).
    own = flux[:, None, None] * (p + ddx[:, None, None] * px + ddy[:, None, None] * py)
    d = np.arange(-half, half + 1)
    r = yi[:, None, None] + d[None, :, None]
    c = xi[:, None, None] + d[None, None, :]
    inside = (r >= 0) & (r < ny) & (c >= 0) & (c < nx)
    rc, cc = np.clip(r, 0, ny - 1), np.clip(c, 0, nx - 1)
    data = np.where(inside, residual[rc, cc], 0.0) + own
    w = np.where(inside, weight[rc, cc], 0.0)
    a = np.stack([p, px, py], axis=-1).reshape(len(x), CORE * CORE, 3)
    ww = w.reshape(len(x), -1)
    ata = np.einsum("npi,np,npj->nij", a, ww, a)
    atb = np.einsum("npi,np,np->ni", a, ww, data.reshape(len(x), -1))
    det_ok = np.abs(np.linalg.det(ata)) > 0
    ata[~det_ok] = np.eye(3)
    coef = np.linalg.solve(ata, atb[..., None])[..., 0]
    f = coef[:, 0]
    snr = f * np.sqrt(np.maximum(ata[:, 0, 0], 0))
    move = det_ok & (f > 0) & (snr > min_snr)
    # Shift relative to the phase centre, then back to the star's own offset.
    sx = np.where(move, coef[:, 1] / np.where(move, f, 1.0) - ddx, 0.0)
    sy = np.where(move, coef[:, 2] / np.where(move, f, 1.0) - ddy, 0.0)
    sx = np.clip(sx, -max_shift, max_shift)
    sy = np.clip(sy, -max_shift, max_shift)
    return x + sx, y + sy, move


def phase_centre(v: np.ndarray) -> np.ndarray:
    """Centre of the 1/16 px phase that ``v`` falls in (where the derivative columns sit)."""
    vi = np.floor(v + 0.5)
    return vi - 0.5 + (np.floor((v - vi + 0.5) * PHASES) + 0.5) / PHASES


def joint_positions(
    frame: SceneFrame,
    background: np.ndarray,
    variance: np.ndarray,
    tables: Tables,
    stars: PlacedStars,
    moving: np.ndarray,
    *,
    max_shift: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """One Newton step of the whole scene: the ``moving`` stars' shifts solved with every flux.

    :func:`refine_positions` fits each star with its neighbours' fluxes and
    positions fixed, which leaves two overlapping bright stars where each
    fits the other's last state (a fixed point of the alternation, not the
    joint optimum). Here every star's flux and the moving stars' x and y
    derivative columns are one linear least-squares problem (the
    linearised scene, as in the main passes), so the shift of each star
    comes with its neighbours' fluxes and shifts re-fitted at once. Case B
    seeds 191 and 192 pooled, scatter over the crowded bound at 1e4-3e4 and
    3e4-1e5 e-: 1.038/1.081 -> 1.019/1.054 (25 LSQR iterations; 50, which
    converge, give the same to 0.005). The step is the exact solution
    (:func:`.normal.solve_normal`), which costs half of 25 LSQR iterations.

    Parameters
    ----------
    frame : SceneFrame
    background : ndarray
        Sky and the stars' light beyond their stamps (e-).
    variance : ndarray
        Expected variance per pixel (of the last model).
    tables : stamp tables of the PSF.
    stars : PlacedStars
        Current positions and fluxes (the starting point), with each star's stamp size.
    moving : ndarray of bool
        Stars whose shift is fitted (bright enough for the step to be reliable).
    max_shift : float
        Largest move (px).

    Returns
    -------
    x, y : ndarray
        New positions (unchanged where the step failed or for stars not moving).
    """
    x, y = stars.x, stars.y
    if not moving.any():
        return x, y
    design = build_design(tables, x, y, stars.stamp_sizes, frame.shape, derivatives=moving)
    cols = design.col_of_star
    start = np.zeros(design.n_columns)
    start[cols[:, 0]] = stars.flux
    coef, _ = frame.solver.solve_exact(
        design, frame.image - background, frame.sqrt_weight(variance), start
    )
    f = coef[cols[:, 0]]
    with np.errstate(divide="ignore", invalid="ignore"):
        sx = coef[np.maximum(cols[:, 1], 0)] / f
        sy = coef[np.maximum(cols[:, 2], 0)] / f
    ok = moving & (f > 0) & np.isfinite(sx) & np.isfinite(sy)
    # The derivative columns sit at the star's 1/16 px phase centre.
    nx_ = np.where(ok, phase_centre(x) + np.clip(sx, -max_shift, max_shift), x)
    ny_ = np.where(ok, phase_centre(y) + np.clip(sy, -max_shift, max_shift), y)
    return nx_, ny_
