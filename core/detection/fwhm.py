"""The FWHM of a frame's stars, from a Moffat fit to their stacked profile.

Twice the half-light radius equals the FWHM only for a Gaussian star; real
seeing has Moffat wings (beta ~ 2.5-4) that make it 20-35% larger. So the
frame's FWHM comes from a fit: the clean isolated stars' pixels, normalised by
their fluxes and centred on their windowed centroids, form one densely sampled
profile, to which a pixel-integrated Moffat (amplitude, alpha, beta) is fitted.

The fit is written with scipy rather than photutils' PSF photometry because
one joint fit over stacked stars costs a few milliseconds, where fitting each
star with ``PSFPhotometry`` costs about 10 ms per star; photutils' MoffatPSF
has no pixel integration either, which biases a 2.5 px FWHM by ~3%.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

__all__ = ["MoffatProfile", "fit_stacked_moffat"]

log = logging.getLogger(__name__)

# 3 x 3 sub-pixel offsets: integrates the profile over each pixel to ~1%
# of the peak for FWHM >= 1.5 px, enough for the FWHM to 0.5%.
_SUB = (np.arange(3) - 1.0) / 3.0
_SUB_DX, _SUB_DY = (a.ravel() for a in np.meshgrid(_SUB, _SUB))
# The mean over a pixel's sub-pixel samples as a product with this vector: a
# matrix-vector product is several times faster than numpy's mean along a
# 9-long axis, and the fit evaluates it a few dozen times.
_SUB_MEAN = np.full(_SUB_DX.size, 1.0 / _SUB_DX.size, dtype=np.float32)


@dataclass(frozen=True)
class MoffatProfile:
    """A Moffat profile ``amplitude * (1 + r^2 / alpha^2) ** -beta`` (flux-normalised).

    Attributes
    ----------
    alpha : float
        Core width (px).
    beta : float
        Power index of the wings.
    n_stars : int
        Stars in the stack.
    amplitude : float
        Peak of the flux-normalised profile (NaN when not known).
    """

    alpha: float
    beta: float
    n_stars: int
    amplitude: float = math.nan

    @property
    def fwhm(self) -> float:
        """Full width at half maximum (px)."""
        return 2.0 * self.alpha * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0)


def _soft_l1(z: np.ndarray) -> np.ndarray:
    """scipy's ``soft_l1`` loss ``rho(z) = 2 (sqrt(1 + z) - 1)`` and its two derivatives.

    The same function as ``loss="soft_l1"``, written as least_squares' callable
    loss because scipy's own takes ``t**-0.5`` and ``t**-1.5`` (two general
    powers over every residual, each evaluation): here they are one square root
    and a reciprocal, ``rho'' = -rho'^3 / 2``. The losses agree to rounding
    (1e-16 relative) and the fit to far below its own error.
    """
    rho = np.empty((3, z.size))
    s = np.add(z, 1.0, out=rho[2])
    np.sqrt(s, out=s)
    np.subtract(s, 1.0, out=rho[0])
    rho[0] *= 2.0
    np.divide(1.0, s, out=rho[1])
    np.multiply(rho[1], rho[1], out=rho[2])
    rho[2] *= rho[1]
    rho[2] *= -0.5
    return rho


class _StackedMoffat:
    """Residuals and their analytic Jacobian of the pixel-integrated Moffat fit.

    The Jacobian is written out, not left to least_squares' finite
    differences: those cost three more profile evaluations per iteration
    (the power over every sub-pixel sample was most of a frame's detection
    time), where the derivatives reuse the power of the residuals' call at
    the same parameters.
    """

    def __init__(self, dx: np.ndarray, dy: np.ndarray, values: np.ndarray) -> None:
        # The sub-pixel samples in float32: their log and exp are most of a
        # fit and take half the time of float64's. Each sample is good to
        # ~1e-7 relative, and the means over a pixel's samples are taken on
        # to float64 for the residuals and the normal equations; the fitted
        # FWHM moves by ~1e-7 relative, against its own error of ~3e-3.
        r2 = np.square(np.add(dx[:, None], _SUB_DX, dtype=np.float32))
        r2 += np.square(np.add(dy[:, None], _SUB_DY, dtype=np.float32))
        self.r2 = r2
        self.values = values
        self._key: tuple[float, float] | None = None
        # The terms are written into buffers made once: a fit evaluates them a
        # dozen times, and fresh arrays of every sub-pixel sample each time
        # cost as much as the arithmetic (the same operations, the same numbers).
        self._q, self._log_q, self._w, self._tmp = (np.empty_like(self.r2) for _ in range(4))
        self._w_mean = np.zeros(len(values))

    def _terms(self, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``q = 1 + r^2 / alpha^2``, ``q^-beta`` and its mean over each pixel's samples."""
        if self._key != (alpha, beta):
            np.multiply(self.r2, np.float32(1.0 / alpha**2), out=self._q)
            self._q += np.float32(1.0)
            # q^-beta as exp(-beta log q): the Jacobian's derivative in beta
            # needs log q at the same parameters, so it is taken once.
            np.log(self._q, out=self._log_q)
            np.multiply(self._log_q, np.float32(-beta), out=self._w)
            np.exp(self._w, out=self._w)
            self._w_mean = (self._w @ _SUB_MEAN).astype(np.float64)
            self._key = (alpha, beta)
        return self._q, self._w, self._w_mean

    def residuals(self, p: np.ndarray) -> np.ndarray:
        amp, alpha, beta = p
        _, _, w_mean = self._terms(alpha, beta)
        return amp * w_mean - self.values

    def jacobian(self, p: np.ndarray) -> np.ndarray:
        amp, alpha, beta = p
        q, w, w_mean = self._terms(alpha, beta)
        jac = np.empty((len(self.values), 3))
        jac[:, 0] = w_mean
        # d/dalpha of q^-beta = 2 beta r^2 / alpha^3 q^(-beta-1)
        tmp = np.multiply(w, self.r2, out=self._tmp)
        np.divide(tmp, q, out=tmp)
        jac[:, 1] = tmp @ _SUB_MEAN
        jac[:, 1] *= 2.0 * amp * beta / alpha**3
        np.multiply(w, self._log_q, out=tmp)
        jac[:, 2] = tmp @ _SUB_MEAN
        jac[:, 2] *= -amp
        return jac


# The parameters' box (amplitude, alpha, beta): alpha and beta far outside any
# seeing, where a fit that strays has failed.
_LOWER = np.array([0.0, 0.1, 1.01])
_UPPER = np.array([np.inf, 50.0, 30.0])
# Stop when a step lowers the cost by under 1e-6 of it: a parameter moved by
# its own 1-sigma error changes the cost by about 1/m of it (m ~ 15 000
# pixels, 7e-5), so a tighter tolerance only spends evaluations on moves of a
# few 1e-6 relative.
_FTOL = 1e-6
_MAX_EVALUATIONS = 40


def _robust_cost(r: np.ndarray, f_scale: float) -> tuple[float, np.ndarray, np.ndarray]:
    """The soft-L1 cost of residuals ``r``, its weights in the gradient and in the Hessian.

    With ``s = sqrt(1 + (r / f)^2)`` the cost is ``f^2 sum(s - 1)``, its
    gradient ``J^T (r / s)`` and its Gauss-Newton Hessian ``J^T diag(1 / s^3) J``
    (scipy's ``rho' + 2 rho'' z``, which for soft-L1 is ``1 / s^3``, never
    negative): the same cost and the same approximation that least_squares
    minimises with ``loss="soft_l1"``.
    """
    s = r / f_scale
    np.multiply(s, s, out=s)
    s += 1.0
    np.sqrt(s, out=s)
    cost = f_scale**2 * (float(s.sum()) - s.size)
    inv = np.divide(1.0, s, out=s)
    return cost, r * inv, inv**3


def _levenberg_marquardt(
    model: _StackedMoffat, x0: np.ndarray, f_scale: float
) -> np.ndarray | None:
    """Minimise the soft-L1 cost of ``model`` from ``x0``: (amplitude, alpha, beta), or None.

    A Levenberg-Marquardt loop written out rather than scipy's
    ``least_squares``: for three parameters and a start next to the minimum
    (3-4 evaluations), scipy's trust-region machinery (an SVD of the
    15 000 x 3 Jacobian per step, its bound scaling and bookkeeping) cost as
    much as the profile evaluations themselves, ~5 ms of a fit's ~11. Here a
    step is the 3 x 3 normal equations. None when it does not converge inside
    the box in ``_MAX_EVALUATIONS`` evaluations (the caller then takes
    scipy's fit); the minimum is the same, to the tolerance ``_FTOL``.
    """
    p = x0
    if not (np.all(p > _LOWER) and np.all(p < _UPPER)):
        return None
    cost, grad_w, hess_w = _robust_cost(model.residuals(p), f_scale)
    lam = 1e-3
    evaluations = 1
    while evaluations < _MAX_EVALUATIONS:
        jac = model.jacobian(p)
        grad = jac.T @ grad_w
        hess = (jac.T * hess_w) @ jac
        diag = np.diag(hess).copy()
        first = True
        while evaluations < _MAX_EVALUATIONS and lam < 1e12:
            try:
                step = np.linalg.solve(hess + np.diag(lam * diag), -grad)
            except np.linalg.LinAlgError:
                return None
            trial = p + step
            if not (
                np.all(np.isfinite(trial)) and np.all(trial > _LOWER) and np.all(trial < _UPPER)
            ):
                lam *= 10.0
                first = False
                continue
            if first and -(grad @ step) - 0.5 * (step @ hess @ step) <= _FTOL * cost:
                # The quadratic model of the cost, exact to second order
                # here, says this step lowers it by under the tolerance: the
                # minimum is reached, and the step is taken without another
                # evaluation of the profile (one of a fit's four).
                return trial
            first = False
            new_cost, new_grad_w, new_hess_w = _robust_cost(model.residuals(trial), f_scale)
            evaluations += 1
            if new_cost <= cost:
                break
            lam *= 10.0
        else:
            return None
        reduction = cost - new_cost
        p, cost, grad_w, hess_w = trial, new_cost, new_grad_w, new_hess_w
        lam = max(lam / 10.0, 1e-9)
        if reduction <= _FTOL * cost or np.all(np.abs(step) <= 1e-10 * np.abs(p)):
            return p
    return None


def _scipy_fit(model: _StackedMoffat, x0: list[float], f_scale: float) -> np.ndarray | None:
    """The same fit by scipy's bounded trust-region solver, or None when it fails."""
    try:
        fit = least_squares(
            model.residuals,
            x0=x0,
            jac=model.jacobian,
            bounds=(_LOWER, _UPPER),
            # Robust loss: a neighbour or cosmic ray in one stamp must not drag the fit.
            loss=_soft_l1,
            f_scale=f_scale,
            ftol=_FTOL,
        )
    except ValueError as exc:
        log.info("stacked Moffat fit failed: %s", exc)
        return None
    if not fit.success:
        return None
    return np.asarray(fit.x)


def fit_stacked_moffat(
    data: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    flux: np.ndarray,
    fwhm_guess: float,
    *,
    bad: np.ndarray | None = None,
    start: MoffatProfile | None = None,
) -> MoffatProfile | None:
    """Fit one pixel-integrated Moffat profile to the stacked stars.

    Parameters
    ----------
    data : ndarray
        Background-subtracted image.
    x, y, flux : ndarray
        Centroids (0-based px) and fluxes of clean, isolated stars.
    fwhm_guess : float
        Rough FWHM (px), e.g. twice the median half-light radius; sets the
        cutout size and the starting point.
    bad : ndarray of bool, optional
        Pixels to leave out.
    start : MoffatProfile, optional
        Where the fit starts (a fit of the same frame's stars): the same
        minimum, found in fewer steps. ``fwhm_guess`` still sets the cutouts
        and the robust loss's scale, so the fit is the same fit.

    Returns
    -------
    MoffatProfile or None
        None when fewer than 3 stars are usable or the fit fails.
    """
    ny, nx = data.shape
    half = int(min(max(math.ceil(2.0 * fwhm_guess), 3), 20))
    x, y, flux = (np.asarray(a, dtype=np.float64) for a in (x, y, flux))
    # Every star's stamp at once (a Python loop over the stars was a third of
    # a fit): numpy's rounding halves to even, as Python's round does.
    cx, cy = np.round(x).astype(np.intp), np.round(y).astype(np.intp)
    inside = (half <= cx) & (cx < nx - half) & (half <= cy) & (cy < ny - half) & (flux > 0)
    n_used = int(np.count_nonzero(inside))
    if n_used < 3:
        return None
    x, y, flux, cx, cy = x[inside], y[inside], flux[inside], cx[inside], cy[inside]
    oy, ox = np.mgrid[-half : half + 1, -half : half + 1]
    rows = cy[:, None, None] + oy
    cols = cx[:, None, None] + ox
    # One flat index a pixel: numpy's take is several times faster than
    # indexing with a pair of broadcast index arrays (the same pixels).
    flat = rows * nx + cols
    stamps = np.take(data, flat) / flux[:, None, None]
    keep = np.ones(stamps.shape, bool) if bad is None else ~np.take(bad, flat)
    gx = cols - x[:, None, None]
    gy = rows - y[:, None, None]
    # Only the core and inner wings: the outer pixels are all sky noise.
    keep &= gx**2 + gy**2 <= half**2
    # Star by star, row by row: the order in which the stamps were stacked one at a time.
    dx, dy, v = gx[keep], gy[keep], stamps[keep]
    alpha0 = fwhm_guess / (2.0 * math.sqrt(2.0 ** (1.0 / 3.0) - 1.0))
    amp0 = 2.0 / (math.pi * alpha0**2)  # normalisation of beta = 3

    x0 = [amp0, alpha0, 3.0]
    if start is not None and math.isfinite(start.amplitude) and start.amplitude > 0:
        # Inside the bounds, where least_squares must start.
        x0 = [start.amplitude, float(np.clip(start.alpha, 0.11, 49.9)),
              float(np.clip(start.beta, 1.02, 29.9))]  # fmt: skip
    model = _StackedMoffat(dx, dy, v)
    f_scale = 0.1 * amp0
    fitted = _levenberg_marquardt(model, np.array(x0, dtype=np.float64), f_scale)
    if fitted is None:
        fitted = _scipy_fit(model, x0, f_scale)
    if fitted is None:
        return None
    amp, alpha, beta = fitted
    return MoffatProfile(alpha=float(alpha), beta=float(beta), n_stars=n_used, amplitude=float(amp))
