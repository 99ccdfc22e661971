"""The PSF fits of stars that are groups of one, all at once.

photutils' ``PSFPhotometry`` fits each group with its own call of scipy's
``least_squares`` (through astropy's ``TRFLSQFitter``), which evaluates the
astropy model pixel by pixel, star by star: on a frame of 5000 stars with
a PSF that varies across the field (:class:`.gridpsf.model.FieldPSFModel`)
these per-star calls were the largest part of the PSF method's time. scipy
has no solver for many small independent least-squares problems, so the
stars that are alone in their group are fitted here together, by hand:

- the fluxes at fixed positions are a linear fit (exact, one step);
- free fits take damped Gauss-Newton (Levenberg-Marquardt) steps in (flux,
  x, y), one 3 x 3 system per star solved by numpy's stacked
  ``np.linalg.solve``, with the positions kept within ``xy_bounds`` of the
  start (photutils' bounds), until every step is below 1e-7 of its
  parameter (``TRFLSQFitter``'s ``xtol``) or lowers chi^2 by less than
  1e-8 of it (``least_squares``' ``ftol``).

The model is the one photutils fits (the same spline coefficients and
basis weights as :class:`FieldPSFModel`, with its analytic derivatives),
evaluated for all stars at once: a star's fit box is a regular grid on the
oversampled PSF, so its values are ``Wv C Wu^T`` with ``C`` the star's
combined spline coefficients and ``Wv``, ``Wu`` the cubic weights of its
rows and columns. The errors are photutils': the square root of the
diagonal of (J^T J)^-1 of the noise-weighted Jacobian at the solution
(the weights taken as absolute). Only stars whose whole fit box is inside
the frame, unmasked and finite are fitted here; the others go to photutils.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gridpsf.model import MESH, FieldPSFModel

__all__ = ["SingleFits", "fit_single_stars", "fits_here"]

_XTOL = 1e-7
_FTOL = 1e-8
_MAX_STEPS = 100
_CHUNK = 256
"""Stars evaluated at a time (their (n, n) coefficients: 256 x 73^2 doubles ~ 11 MB)."""


@dataclass(frozen=True)
class SingleFits:
    """Fitted values of single stars (photutils' columns, by our names)."""

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    x_err: np.ndarray
    y_err: np.ndarray
    qfit: np.ndarray
    converged: np.ndarray


def _box_start(v: np.ndarray, fit_size: int) -> np.ndarray:
    """First pixel of the fit box around ``v`` (astropy's ``overlap_slices``)."""
    return np.ceil(v - fit_size / 2.0).astype(np.intp)


def fits_here(
    x: np.ndarray,
    y: np.ndarray,
    fit_size: int,
    shape: tuple[int, int],
    bad: np.ndarray,
) -> np.ndarray:
    """Boolean per star: its whole fit box is in the frame and has no bad pixel.

    ``bad`` is the frame's mask of masked or non-finite pixels.
    """
    ny, nx = shape
    ok = np.isfinite(x) & np.isfinite(y)
    cx = _box_start(np.where(ok, x, 0.0), fit_size)
    cy = _box_start(np.where(ok, y, 0.0), fit_size)
    ok &= (cx >= 0) & (cy >= 0) & (cx + fit_size <= nx) & (cy + fit_size <= ny)
    if ok.any():
        # Bad pixels per box from the summed-area table of the mask.
        s = np.zeros((ny + 1, nx + 1), dtype=np.int64)
        s[1:, 1:] = np.cumsum(np.cumsum(bad, axis=0), axis=1)
        i = np.flatnonzero(ok)
        r0, c0 = cy[i], cx[i]
        r1, c1 = r0 + fit_size, c0 + fit_size
        ok[i] = (s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]) == 0
    return ok


def _cubic(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) cubic B-spline weights of samples floor - 1 .. floor + 2, and their derivatives."""
    s = 1.0 - t
    t2, t3 = t * t, t * t * t
    w = np.stack(
        [s**3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6], axis=1
    )
    d = np.stack([-0.5 * s * s, 1.5 * t2 - 2 * t, -1.5 * t2 + t + 0.5, 0.5 * t2], axis=1)
    return w, d


def _taps(first: np.ndarray, size: int, k: int, n: int):
    """A star's samples on one axis of the coefficient grid: taps, weights, slopes, inside.

    ``first``: each star's first sample on the grid; the samples are ``k``
    apart, so all share the star's four cubic weights. Returns the tap
    indices (N, size * 4), the weights and their derivatives (N, 4) and
    which samples lie on the grid (N, size): the taps beyond the grid's edge
    take the mirrored coefficients and samples outside it are 0
    (``map_coordinates(order=3, mode="constant", prefilter=False)``).
    """
    i0 = np.floor(first).astype(np.intp)
    w, d = _cubic(first - i0)
    pos = first[:, None] + k * np.arange(size)[None, :]
    inside = (pos >= 0) & (pos <= n - 1)
    idx = np.abs(i0[:, None, None] + k * np.arange(size)[None, :, None] + np.arange(-1, 3))
    idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    # Beyond one reflection the sample is outside the grid (0) anyway.
    idx = np.clip(idx, 0, n - 1).reshape(len(first), -1)
    return idx, w, d, inside


def _sample(coeffs: np.ndarray, rows, cols, row_w: np.ndarray, col_ws: list[np.ndarray]):
    """Each star's (N, n, n) coefficients at its samples: (N, size, size) per column weight."""
    idx_v, _, _, in_v = rows
    idx_u, _, _, in_u = cols
    m, size = in_v.shape
    g = np.take_along_axis(coeffs, idx_v[:, :, None], axis=1).reshape(m, size, 4, -1)
    r = np.einsum("nsat,na->nst", g, row_w) * in_v[..., None]
    h = np.take_along_axis(r, idx_u[:, None, :], axis=2).reshape(m, size, size, 4)
    mask = in_v[:, :, None] & in_u[:, None, :]
    return [np.einsum("nijb,nb->nij", h, w) * mask for w in col_ws]


def _weights(model: FieldPSFModel, x0: np.ndarray, y0: np.ndarray):
    """The basis weights at (x0, y0) and their slopes, as FieldPSFModel._weights, for many stars."""
    xs, ys, mesh = model._mesh_x, model._mesh_y, model._mesh
    m = len(x0)
    if len(xs) == 1 and len(ys) == 1:
        w = np.broadcast_to(mesh[0, 0], (m, mesh.shape[2]))
        return w, np.zeros_like(w), np.zeros_like(w)
    fx = np.clip((x0 - xs[0]) / MESH, 0, len(xs) - 1.000001)
    fy = np.clip((y0 - ys[0]) / MESH, 0, len(ys) - 1.000001)
    i, j = fx.astype(np.intp), fy.astype(np.intp)
    i1, j1 = np.minimum(i + 1, len(xs) - 1), np.minimum(j + 1, len(ys) - 1)
    tx, ty = (fx - i)[:, None], (fy - j)[:, None]
    a, b, c, d = mesh[j, i], mesh[j, i1], mesh[j1, i], mesh[j1, i1]
    w = (1 - ty) * ((1 - tx) * a + tx * b) + ty * ((1 - tx) * c + tx * d)
    inside_x = ((0 < (x0 - xs[0]) / MESH) & ((x0 - xs[0]) / MESH < len(xs) - 1))[:, None]
    inside_y = ((0 < (y0 - ys[0]) / MESH) & ((y0 - ys[0]) / MESH < len(ys) - 1))[:, None]
    wx = ((1 - ty) * (b - a) + ty * (d - c)) / MESH
    wy = ((1 - tx) * (c - a) + tx * (d - b)) / MESH
    return w, wx * inside_x, wy * inside_y


def _unit_model(
    model: FieldPSFModel,
    x0: np.ndarray,
    y0: np.ndarray,
    bx: np.ndarray,
    by: np.ndarray,
    size: int,
    derivs: bool = False,
):
    """Unit-flux PSF (N, size, size) at (x0, y0) on the boxes starting at (bx, by).

    With ``derivs`` also d/dx0 and d/dy0: the image's shift and the slope
    of the basis weights (:meth:`FieldPSFModel.fit_deriv`'s).
    """
    k = model.field.oversampling
    splines = model._splines
    j, n, _ = splines.shape
    flat = splines.reshape(j, -1)
    w, wx, wy = _weights(model, x0, y0)
    rows = _taps(model._centre + (by - y0) * k, size, k, n)
    cols = _taps(model._centre + (bx - x0) * k, size, k, n)
    if not derivs:
        coeffs = (w @ flat).reshape(-1, n, n)
        return _sample(coeffs, rows, cols, rows[1], [cols[1]])[0], None, None
    m = len(x0)
    # The three combinations in one matrix product.
    all3 = (np.concatenate([w, wx, wy]) @ flat).reshape(3, m, n, n)
    val, gu = _sample(all3[0], rows, cols, rows[1], [cols[1], cols[2]])
    (gv,) = _sample(all3[0], rows, cols, rows[2], [cols[1]])
    (sx,) = _sample(all3[1], rows, cols, rows[1], [cols[1]])
    (sy,) = _sample(all3[2], rows, cols, rows[1], [cols[1]])
    return val, sx - k * gu, sy - k * gv


def fit_single_stars(
    data: np.ndarray,
    error: np.ndarray,
    model: FieldPSFModel,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    fit_size: int,
    *,
    forced: bool,
    xy_bounds: float = 2.0,
) -> SingleFits:
    """Fit each star alone in its fit box (see the module docstring).

    Every star's box must lie in the frame with no bad pixel (:func:`fits_here`).
    ``data`` is the frame less the sky (and the other stars); ``error`` its
    1-sigma noise per pixel; ``flux`` the starting fluxes.
    """
    x, y, flux = (np.array(v, dtype=np.float64) for v in (x, y, flux))
    m = len(x)
    out = {k: np.full(m, np.nan) for k in ("x", "y", "flux", "flux_err", "x_err", "y_err", "qfit")}
    converged = np.ones(m, dtype=bool)
    bx, by = _box_start(x, fit_size), _box_start(y, fit_size)
    off = np.arange(fit_size)
    for lo in range(0, m, _CHUNK):
        s = slice(lo, min(lo + _CHUNK, m))
        rows = by[s, None, None] + off[None, :, None]
        cols = bx[s, None, None] + off[None, None, :]
        d = data[rows, cols]
        wgt = 1.0 / error[rows, cols]
        res = _fit_chunk(
            model, d, wgt, x[s], y[s], flux[s], bx[s], by[s], fit_size, forced, xy_bounds
        )
        for key, val in res.items():
            if key == "converged":
                converged[s] = val
            else:
                out[key][s] = val
    return SingleFits(converged=converged, **out)


def _fit_chunk(model, d, wgt, x, y, f, bx, by, size, forced, xy_bounds) -> dict:
    """Fit one chunk of stars; see :func:`fit_single_stars`."""
    m = len(x)
    if forced:
        p, _, _ = _unit_model(model, x, y, bx, by, size, derivs=False)
        a = p * wgt
        h = np.einsum("nij,nij->n", a, a)
        flux = np.einsum("nij,nij->n", a, d * wgt) / h
        jac = a[..., None]
        xf, yf = x, y
        done = np.ones(m, dtype=bool)
    else:
        x_lo, x_hi, y_lo, y_hi = x - xy_bounds, x + xy_bounds, y - xy_bounds, y + xy_bounds
        xf, yf, flux = x.copy(), y.copy(), f.copy()
        lam = np.full(m, 1e-3)
        done = np.zeros(m, dtype=bool)
        jac, chi2, p = _jacobian(model, d, wgt, xf, yf, flux, bx, by, size)
        for _ in range(_MAX_STEPS):
            act = np.flatnonzero(~done)
            if act.size == 0:
                break
            ja = jac[act]
            r = (d[act] - flux[act, None, None] * p[act]) * wgt[act]
            g = np.einsum("nijk,nij->nk", ja, r)
            h = np.einsum("nijk,nijl->nkl", ja, ja)
            # Marquardt's damping of the diagonal.
            damp = h + lam[act, None, None] * (h * np.eye(3))
            step = np.linalg.solve(damp, g[..., None])[..., 0]
            nf = flux[act] + step[:, 0]
            nx = np.clip(xf[act] + step[:, 1], x_lo[act], x_hi[act])
            ny = np.clip(yf[act] + step[:, 2], y_lo[act], y_hi[act])
            # The trial point's Jacobian too: kept when the step is taken.
            jt, ct, pt = _jacobian(model, d[act], wgt[act], nx, ny, nf, bx[act], by[act], size)
            better = ct <= chi2[act]
            # least_squares' ftol: a taken step that lowers chi^2 by < 1e-8 of it.
            flat_chi = better & (chi2[act] - ct <= _FTOL * chi2[act])
            moved = np.abs(np.c_[nf - flux[act], nx - xf[act], ny - yf[act]])
            scale = np.abs(np.c_[flux[act], xf[act], yf[act]])
            small = np.all(moved <= _XTOL * (_XTOL + scale), axis=1)
            take = act[better]
            flux[take], xf[take], yf[take] = nf[better], nx[better], ny[better]
            jac[take], chi2[take], p[take] = jt[better], ct[better], pt[better]
            lam[take] *= 0.1
            lam[act[~better]] *= 10.0
            done[act[small | flat_chi | (lam[act] > 1e10)]] = True
    converged = done
    resid = d - flux[:, None, None] * p
    hess = np.einsum("nijk,nijl->nkl", jac, jac)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = np.linalg.pinv(hess)
    err = np.sqrt(np.maximum(np.diagonal(cov, axis1=1, axis2=2), 0))
    out = dict(
        x=xf,
        y=yf,
        flux=flux,
        flux_err=err[:, 0],
        # photutils reports no position error of a forced fit.
        x_err=err[:, 1] if not forced else np.full(m, np.nan),
        y_err=err[:, 2] if not forced else np.full(m, np.nan),
        qfit=np.sum(np.abs(resid), axis=(1, 2)) / flux,
        converged=converged,
    )
    return out


def _jacobian(model, d, wgt, x, y, flux, bx, by, size):
    """Noise-weighted Jacobian (N, size, size, 3) in (flux, x, y), chi^2 and the unit model."""
    p, px, py = _unit_model(model, x, y, bx, by, size, derivs=True)
    f = flux[:, None, None]
    jac = np.stack([p, f * px, f * py], axis=-1) * wgt[..., None]
    chi2 = np.sum(((d - f * p) * wgt) ** 2, axis=(1, 2))
    return jac, chi2, p
