"""Star positions measured on the image with the other stars subtracted.

For each star its own model is added back to the residual and the shift that
best fits that stamp is solved by noise-weighted least squares of the PSF and
its derivatives (a linearised PSF fit per star). crowdsource instead takes a
PSF-weighted barycentre and corrects its bias by a factor of two; the
least-squares shift is the maximum-likelihood one and needs no correction.
"""

from __future__ import annotations

import numpy as np

from .design import Tables, _phase, gather

__all__ = ["refine_positions"]

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
