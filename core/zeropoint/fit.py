"""Weighted zero-point fit with a colour term, a spatial polynomial and intrinsic scatter.

The model for a calibration star is (STDPipe's form)::

    m_catalog - m_instrumental = ZP + k * colour + P(u, v)

with P a polynomial in the normalised pixel position (no constant term, so
ZP is the zero point at the field centre and at colour 0). Each star weighs
``1 / (sigma_i**2 + s**2)``: ``sigma_i`` combines the measurement and catalog
errors, ``s`` is an intrinsic scatter fitted with the other parameters
(its restricted maximum-likelihood value), so the zero-point error includes any scatter the
stated errors do not explain. Outliers are rejected one at a time, the most
significant first, and the zero point and reduced chi2 are kept at each step
(the Photometry Pipeline's calibration analysis, Mommert 2017).

The linear algebra is a few small weighted least-squares solves per frame;
numpy's ``lstsq`` does them, ``scipy.optimize`` finds the scatter.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from scipy.optimize import minimize_scalar

from .lsq import _hat, _inverse, _logdet, _normal, _robust_scatter, _solve
from .trend import _trend

__all__ = ["FitError", "ZeroPointFit", "fit_zero_point", "spatial_terms"]

log = logging.getLogger(__name__)


class FitError(ValueError):
    """The fit cannot be made (too few stars); the message says why."""


def spatial_terms(order: int) -> list[tuple[int, int]]:
    """Exponents ``(p, q)`` of ``u**p * v**q`` for 1 <= p+q <= order."""
    return [(p, d - p) for d in range(1, order + 1) for p in range(d, -1, -1)]


@dataclass(frozen=True)
class ZeroPointFit:
    """One frame's fitted photometric model.

    Attributes
    ----------
    zero_point, zero_point_err : float
        ZP at the field centre and colour 0, and its 1-sigma error (which
        includes the intrinsic scatter).
    colour_term, colour_term_err : float
        k; the error is 0 when k was fixed rather than fitted.
    colour_fitted : bool
        Whether k was a free parameter.
    spatial, spatial_err : ndarray
        Coefficients of ``u**p * v**q`` for :attr:`spatial_exponents`.
    spatial_exponents : list of (int, int)
    centre, scale : tuple of float
        ``u = (x - centre[0]) / scale``, ``v = (y - centre[1]) / scale``.
    intrinsic_scatter : float
        s in magnitudes.
    chi2 : float
        Reduced chi2 of the kept stars against their stated errors alone (a
        value well above 1 says the errors are underestimated).
    n_stars : int
        Stars kept.
    used : ndarray of bool
        Kept stars among the fit's input.
    residual : ndarray
        Observed minus model for every input star (mag).
    trajectory : Table
        One row per rejection step: ``n_stars``, ``zero_point``,
        ``zero_point_err``, ``chi2``, ``intrinsic_scatter``, ``rejected`` (input
        row rejected before the next step, -1 for the last) and ``chosen``.
    covariance : ndarray
        Covariance of the free parameters (ZP, [k], spatial...).
    leverage : ndarray or None
        Each input star's weight in the model at its own place (0 for
        rejected stars): the fraction of its own noise the fit takes up.
    """

    zero_point: float
    zero_point_err: float
    colour_term: float
    colour_term_err: float
    colour_fitted: bool
    spatial: np.ndarray
    spatial_err: np.ndarray
    spatial_exponents: list[tuple[int, int]]
    centre: tuple[float, float]
    scale: float
    intrinsic_scatter: float
    chi2: float
    n_stars: int
    used: np.ndarray
    residual: np.ndarray
    trajectory: Table
    covariance: np.ndarray = field(repr=False)
    leverage: np.ndarray | None = field(default=None, repr=False)

    def design(self, colour: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Rows of the design matrix of the free parameters for given stars."""
        return _design(
            np.asarray(colour, float),
            np.asarray(x, float),
            np.asarray(y, float),
            self.colour_fitted,
            self.spatial_exponents,
            self.centre,
            self.scale,
        )

    def offset(
        self, colour: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibration offset ``m - m_inst`` and its model error at given stars."""
        colour = np.asarray(colour, float)
        a = self.design(colour, x, y)
        params = self._params()
        value = a @ params
        if not self.colour_fitted:
            value = value + self.colour_term * colour
        err = np.sqrt(np.einsum("ij,jk,ik->i", a, self.covariance, a))
        return value, err

    def _params(self) -> np.ndarray:
        head = [self.zero_point] + ([self.colour_term] if self.colour_fitted else [])
        return np.concatenate([head, self.spatial])


def _design(
    colour: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    fit_colour: bool,
    exponents: list[tuple[int, int]],
    centre: tuple[float, float],
    scale: float,
) -> np.ndarray:
    cols = [np.ones_like(x)]
    if fit_colour:
        cols.append(colour)
    if exponents:
        u = (x - centre[0]) / scale
        v = (y - centre[1]) / scale
        cols += [u**p * v**q for p, q in exponents]
    return np.column_stack(cols)


def _fit_with_scatter(
    at: np.ndarray, b: np.ndarray, var0: np.ndarray, want_scatter: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]:
    """Fit, with the intrinsic scatter s at its restricted maximum likelihood.

    ``var0`` holds the stated variances. Returns the parameters, their
    covariance, the residuals, s and the model's own covariance (before the
    Knapp-Hartung scaling below).

    REML rather than plain maximum likelihood because ML underestimates s by
    the fraction of degrees of freedom the model uses, which with a colour
    and a spatial term and a few tens of stars makes the errors too small.
    """
    n_params = at.shape[0]
    if not want_scatter or len(b) <= n_params + 1:
        params, cov, resid = _solve(at, b, var0)
        return params, cov, resid, 0.0, cov

    def neg_log_likelihood(s: float) -> float:
        v = var0 + s * s
        n, rhs = _normal(at, b, v)
        r = b - (_inverse(n) @ rhs) @ at
        return 0.5 * float(np.log(v).sum() + _logdet(n) + (r * r / v).sum())

    hi = 2.0 * float(np.std(b)) + 1e-4
    best = minimize_scalar(
        neg_log_likelihood, bounds=(0.0, hi), method="bounded", options={"xatol": 1e-5}
    )
    s = float(best.x) if best.fun < neg_log_likelihood(0.0) else 0.0
    v = var0 + s * s
    params, cov, resid = _solve(at, b, v)
    # Knapp-Hartung: s is itself uncertain with a few tens of stars; scaling
    # the covariance by the reduced chi2 when it exceeds 1 carries that
    # uncertainty into the errors (never shrinks them below the model's).
    q = float((resid * resid / v).sum()) / (len(b) - n_params)
    return params, cov * max(q, 1.0), resid, s, cov


def _studentised2(
    at: np.ndarray,
    r2: np.ndarray,
    resid: np.ndarray,
    var: np.ndarray,
    r2v: np.ndarray,
    scatter: bool,
    fit_s: float,
    fit_cov: np.ndarray,
) -> np.ndarray:
    """Squared residuals in units of their own variance, corrected for leverage.

    A star of extreme colour or at the field edge pulls the colour or spatial
    term towards itself and hides its own residual; dividing by
    ``1 - h_ii`` (the hat-matrix diagonal) undoes that, so a blue variable
    star cannot bend the colour term and survive. ``r2`` and ``r2v`` are
    ``resid**2`` and ``resid**2 / var``; ``fit_cov`` is the fit's model
    covariance with scatter ``fit_s``: the hat matrix's when the robust
    scatter is the same (often both are 0). Squares, not their roots: the
    rejection only compares them.
    """
    s = _robust_scatter(resid, var, r2v.copy()) if scatter else 0.0
    v = var + s * s
    cov = fit_cov if s == fit_s else _inverse(np.dot(at / v, at.T))
    # The hat matrix's diagonal (as _hat, written out: this runs at every step).
    x = cov @ at
    x *= at
    return r2 / (v * np.maximum(1.0 - np.add.reduce(x, 0) / v, 1e-3))


def fit_zero_point(
    delta: np.ndarray,
    delta_err: np.ndarray,
    *,
    colour: np.ndarray | None = None,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    fit_colour: bool = False,
    colour_term: float = 0.0,
    spatial_order: int = 0,
    centre: tuple[float, float] | None = None,
    scale: float | None = None,
    intrinsic_scatter: bool = True,
    rejection_sigma: float = 3.0,
    min_stars: int = 3,
    trajectory_floor: float = 0.5,
) -> ZeroPointFit:
    """Fit the zero point of one frame with iterative outlier rejection.

    Parameters
    ----------
    delta : ndarray
        ``m_catalog - m_instrumental`` of each calibration star.
    delta_err : ndarray
        Its error (measurement and catalog errors in quadrature).
    colour : ndarray, optional
        Catalog colour of each star (needed for a colour term).
    x, y : ndarray, optional
        Pixel positions (needed for a spatial polynomial).
    fit_colour : bool
        Fit the colour term k; otherwise ``colour_term`` is applied as fixed.
    colour_term : float
        Fixed k when not fitted.
    spatial_order : int
        Order of the spatial polynomial (0: none).
    centre, scale : optional
        Normalisation of positions; by default the centre and half-size of
        the box around the stars. Pass the image centre to make zero points of
        different frames comparable.
    intrinsic_scatter : bool
        Fit the intrinsic scatter term.
    rejection_sigma : float
        Stars whose residual exceeds this many sigma are rejected, the most
        significant first, one per step.
    min_stars : int
        Never keep fewer than this.
    trajectory_floor : float
        After the chosen solution, rejection continues down to this fraction
        of the stars (at least ``min_stars``) to show the trend in the
        trajectory, as the Photometry Pipeline's calibration analysis does.

    Raises
    ------
    FitError
        Fewer stars than ``min_stars`` or than free parameters + 1.
    """
    delta = np.asarray(delta, float)
    err = np.asarray(delta_err, float)
    n = len(delta)
    colour = np.zeros(n) if colour is None else np.asarray(colour, float)
    if (x is None or y is None) and spatial_order > 0:
        raise FitError("a spatial term needs pixel positions x, y")
    x = np.zeros(n) if x is None else np.asarray(x, float)
    y = np.zeros(n) if y is None else np.asarray(y, float)
    exponents = spatial_terms(spatial_order)
    n_params = 1 + int(fit_colour) + len(exponents)
    need = max(int(min_stars), n_params + 1)
    good = np.isfinite(delta) & np.isfinite(err) & (err > 0) & np.isfinite(colour)
    good &= np.isfinite(x) & np.isfinite(y)
    if good.sum() < need:
        raise FitError(
            f"{int(good.sum())} calibration stars, at least {need} are needed "
            f"for {n_params} free parameter(s)"
        )
    if centre is None:
        centre = (0.5 * (x[good].min() + x[good].max()), 0.5 * (y[good].min() + y[good].max()))
    if scale is None:
        scale = max(0.5 * max(np.ptp(x[good]), np.ptp(y[good])), 1.0)
    target = delta if fit_colour else delta - colour_term * colour
    a_all = _design(colour, x, y, fit_colour, exponents, centre, scale)

    at_all = np.ascontiguousarray(a_all.T)
    var_all = err**2
    used = good.copy()
    rows: list[tuple] = []
    chosen: dict | None = None
    floor = max(need, int(np.ceil(trajectory_floor * good.sum())))
    while chosen is None:
        idx = used.nonzero()[0]
        at, b, var = at_all.take(idx, 1), target.take(idx), var_all.take(idx)
        params, cov, resid, s, model_cov = _fit_with_scatter(at, b, var, intrinsic_scatter)
        dof = max(len(idx) - n_params, 1)
        r2 = resid * resid
        r2v = r2 / var
        chi2 = float(np.add.reduce(r2v) / dof)
        z2 = _studentised2(at, r2, resid, var, r2v, intrinsic_scatter, s, model_cov)
        worst = int(z2.argmax())
        if z2[worst] <= rejection_sigma**2 or len(idx) <= need:
            chosen = {
                "step": len(rows),
                "used": used.copy(),
                "params": params,
                "cov": cov,
                "s": s,
                "chi2": chi2,
            }
        more = len(idx) > (floor if chosen is not None else need)
        rows.append(
            (len(idx), params[0], math.sqrt(cov[0, 0]), chi2, s, int(idx[worst]) if more else -1)
        )
        if not more:
            break
        used[idx[worst]] = False
    assert chosen is not None
    if rows[-1][-1] >= 0:
        # Past the chosen solution the steps only illustrate the trend.
        _trend(at_all, target, var_all, used, chosen["s"], n_params, floor, intrinsic_scatter, rows)
    used = chosen["used"]
    at = at_all[:, used]
    v = var_all[used] + chosen["s"] ** 2
    c = _inverse(np.dot(at / v, at.T))
    # Each kept star's weight in the model at its own place (the hat
    # matrix's diagonal): a calibrated source that is itself a calibration
    # star shares that much of its own noise with the zero point.
    leverage = np.zeros(n)
    leverage[used] = _hat(at, c, v)
    chosen["leverage"] = leverage
    return _result(
        chosen,
        rows,
        target,
        a_all,
        colour,
        err,
        fit_colour,
        colour_term,
        exponents,
        centre,
        scale,
        n_params,
    )


def _result(
    chosen: dict,
    rows: list[tuple],
    target: np.ndarray,
    a_all: np.ndarray,
    colour: np.ndarray,
    err: np.ndarray,
    fit_colour: bool,
    colour_term: float,
    exponents: list[tuple[int, int]],
    centre: tuple[float, float],
    scale: float,
    n_params: int,
) -> ZeroPointFit:
    params, cov = chosen["params"], chosen["cov"]
    perr = np.sqrt(np.diag(cov))
    k = float(params[1]) if fit_colour else float(colour_term)
    k_err = float(perr[1]) if fit_colour else 0.0
    first_spatial = 1 + int(fit_colour)
    with np.errstate(invalid="ignore"):
        residual = target - a_all @ params
    # Column by column: astropy's row-wise constructor took longer than the fit.
    names = ("n_stars", "zero_point", "zero_point_err", "chi2", "intrinsic_scatter", "rejected")
    types = (int, float, float, float, float, int)
    cols: list[np.ndarray] = [
        np.array(c, dtype=t) for c, t in zip(zip(*rows, strict=True), types, strict=True)
    ]
    cols.append(np.arange(len(rows)) == chosen["step"])
    traj = Table(cols, names=(*names, "chosen"), copy=False)
    return ZeroPointFit(
        zero_point=float(params[0]),
        zero_point_err=float(perr[0]),
        colour_term=k,
        colour_term_err=k_err,
        colour_fitted=fit_colour,
        spatial=np.asarray(params[first_spatial:], float),
        spatial_err=np.asarray(perr[first_spatial:], float),
        spatial_exponents=exponents,
        centre=(float(centre[0]), float(centre[1])),
        scale=float(scale),
        intrinsic_scatter=float(chosen["s"]),
        chi2=float(chosen["chi2"]),
        n_stars=int(chosen["used"].sum()),
        used=chosen["used"],
        residual=residual,
        trajectory=traj,
        covariance=cov,
        leverage=chosen["leverage"],
    )
