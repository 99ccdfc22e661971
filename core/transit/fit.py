"""The transit fit: the likelihood, its priors, and the least-squares solution.

The model is ``transit(t; theta) * (A c)``: theta are the transit's
parameters (mid-time, Rp/Rs, a/Rs, impact parameter, limb darkening), A the
baseline's design matrix (:mod:`.systematics`), c its coefficients. For a
given theta the model is linear in c, so c is solved exactly by weighted
least squares at every step. With flat priors on c this is exact
marginalisation, up to the term -1/2 ln det(M^T W M) (M = transit * A) that
:meth:`TransitProblem.log_probability` adds, so the sampler explores only
theta and converges in far fewer steps.

Priors are Gaussian (limb darkening from the tables, a/Rs and b from an
archive when known) and enter the least-squares fit as extra residuals,
so the least-squares optimum is the posterior's mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from .model import TransitCurve, TransitShape, durations

__all__ = ["PARAMETERS", "FitSetup", "TransitProblem", "LeastSquares", "least_squares_fit"]

#: The transit's parameters in the order of theta.
PARAMETERS = ("tmid", "rp_rs", "a_rs", "b", "u1", "u2")

# Typical scales for the optimizer's steps.
_SCALES = {"tmid": 1e-3, "rp_rs": 1e-2, "a_rs": 0.5, "b": 0.1, "u1": 0.1, "u2": 0.1}


@dataclass(frozen=True)
class FitSetup:
    """What is fitted, from where, within which limits.

    Attributes
    ----------
    period : float
        Orbital period (days), fixed.
    start : dict
        Starting (or fixed) value of every name in :data:`PARAMETERS`.
    free : tuple of str
        Parameters that are fitted; the others stay at ``start``.
    priors : dict
        Name -> (mean, sigma) of a Gaussian prior.
    tmid_window : (float, float)
        Range the mid-time may take (the data's span widened by a half transit).
    exposure_s : float, optional
        Exposure time, for the model's integration over it.
    duration_prior : bool
        The sampler's prior on a/Rs and b is uniform in the transit's total
        and ingress durations instead of in a/Rs and b (see
        :func:`duration_log_jacobian`); for a/Rs and b free without priors.
    """

    period: float
    start: Mapping[str, float]
    free: tuple[str, ...] = ("tmid", "rp_rs", "a_rs", "b", "u1", "u2")
    priors: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    tmid_window: tuple[float, float] = (-np.inf, np.inf)
    exposure_s: float | None = None
    duration_prior: bool = False

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limits of the free parameters."""
        limits = {
            "tmid": self.tmid_window,
            "rp_rs": (1e-3, 0.5),
            "a_rs": (1.2, 200.0),
            # b and -b are the same transit: the sign is left free so that b = 0
            # is no boundary (at a bound the Jacobian's covariance is wrong).
            "b": (-1.5, 1.5),
            "u1": (-1.0, 2.0),
            "u2": (-1.0, 2.0),
        }
        lo = np.array([limits[k][0] for k in self.free], dtype=float)
        hi = np.array([limits[k][1] for k in self.free], dtype=float)
        return lo, hi


class TransitProblem:
    """The data, the baseline's design matrix and the setup of one fit.

    Parameters
    ----------
    t, flux, sigma : ndarray
        Times (days), relative flux and its 1-sigma errors.
    design : ndarray, shape (n, k)
        Baseline design matrix (first column ones).
    setup : FitSetup
    """

    def __init__(
        self,
        t: np.ndarray,
        flux: np.ndarray,
        sigma: np.ndarray,
        design: np.ndarray,
        setup: FitSetup,
    ) -> None:
        self.t = np.asarray(t, dtype=float)
        self.flux = np.asarray(flux, dtype=float)
        self.sigma = np.asarray(sigma, dtype=float)
        self.design = np.asarray(design, dtype=float)
        self.setup = setup
        self.curve = TransitCurve(self.t, setup.exposure_s)
        self._free_idx = [PARAMETERS.index(k) for k in setup.free]
        # theta holds the mid-time as an offset from this reference: the
        # optimizer's finite-difference steps are relative to the value, and
        # relative to a Julian date they would be hours long.
        self.t_ref = float(setup.start["tmid"])

    # -- parameters ----------------------------------------------------------
    def theta0(self) -> np.ndarray:
        """The starting point of the free parameters, inside their bounds."""
        lo, hi = self.bounds()
        x = np.array([self.setup.start[k] for k in self.setup.free], dtype=float)
        x[self._tmid_slot()] -= self.t_ref
        pad = 1e-6 * np.array([_SCALES[k] for k in self.setup.free])
        return np.clip(x, lo + pad, hi - pad)

    def _tmid_slot(self) -> slice | int:
        return self.setup.free.index("tmid") if "tmid" in self.setup.free else slice(0, 0)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Limits of theta (the mid-time's as offsets from :attr:`t_ref`)."""
        lo, hi = self.setup.bounds()
        lo[self._tmid_slot()] -= self.t_ref
        hi[self._tmid_slot()] -= self.t_ref
        return lo, hi

    def values(self, theta: np.ndarray) -> dict[str, float]:
        """Every parameter's value (the mid-time absolute) for a theta."""
        full = {k: float(self.setup.start[k]) for k in PARAMETERS}
        for k, v in zip(self.setup.free, theta, strict=True):
            full[k] = float(v) + (self.t_ref if k == "tmid" else 0.0)
        full["b"] = abs(full["b"])
        return full

    def shape(self, theta: np.ndarray) -> TransitShape:
        """The transit of a parameter vector (fixed parameters from the setup)."""
        v = self.values(theta)
        return TransitShape(**{k: v[k] for k in PARAMETERS}, period=self.setup.period)

    # -- model -----------------------------------------------------------------
    def solve_baseline(
        self, theta: np.ndarray, sigma: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Best baseline for a transit: coefficients, transit, model, ln det(M^T W M)."""
        s = self.sigma if sigma is None else sigma
        transit = self.curve.flux(self.shape(theta))
        m = transit[:, None] * self.design
        w = 1.0 / s
        a = m * w[:, None]
        # Normal equations: the baseline has a handful of well-conditioned
        # (standardised) columns, and the matrix is needed for ln det anyway.
        g = a.T @ a
        try:
            coef = np.linalg.solve(g, a.T @ (self.flux * w))
        except np.linalg.LinAlgError:
            coef, *_ = np.linalg.lstsq(a, self.flux * w, rcond=None)
        _, logdet = np.linalg.slogdet(g)
        return coef, transit, m @ coef, float(logdet)

    def prior_residuals(self, theta: np.ndarray) -> np.ndarray:
        """(value - mean) / sigma of every prior on a free parameter."""
        out = []
        for k, (mu, sd) in self.setup.priors.items():
            if k in self.setup.free:
                v = theta[self.setup.free.index(k)]
                v = v + self.t_ref if k == "tmid" else (abs(v) if k == "b" else v)
                out.append((v - mu) / sd)
        return np.asarray(out, dtype=float)

    def residuals(self, theta: np.ndarray, sigma: np.ndarray | None = None) -> np.ndarray:
        """Normalised residuals of the data, then of the priors (for least squares)."""
        s = self.sigma if sigma is None else sigma
        _, _, model, _ = self.solve_baseline(theta, s)
        return np.concatenate([(self.flux - model) / s, self.prior_residuals(theta)])

    def log_probability(self, theta: np.ndarray, sigma: np.ndarray | None = None) -> float:
        """Log posterior of theta, the baseline marginalised (flat priors on c)."""
        lo, hi = self.bounds()
        if np.any(theta <= lo) or np.any(theta >= hi):
            return -np.inf
        shape = self.shape(theta)
        if shape.b >= 1.0 + shape.rp_rs or not _physical_ld(shape.u1, shape.u2):
            return -np.inf  # no transit, or a star brighter at the limb than at the centre
        s = self.sigma if sigma is None else sigma
        _, _, model, logdet = self.solve_baseline(theta, s)
        chi2 = float(np.sum(((self.flux - model) / s) ** 2))
        prior = float(np.sum(self.prior_residuals(theta) ** 2))
        value = -0.5 * (chi2 + prior + logdet)
        if self.setup.duration_prior:
            value += duration_log_jacobian(shape)
        return value if np.isfinite(value) else -np.inf


def _contacts(k: float, a_rs: float, b: float, period: float) -> tuple[float, float]:
    """Total and ingress durations (days) of a circular orbit (:func:`.model.durations`)."""
    if a_rs <= b:  # the orbit does not reach the line of sight's distance: no transit
        return float("nan"), float("nan")
    return durations(TransitShape(0.0, k, a_rs, b, 0.0, 0.0, period))


def duration_log_jacobian(shape: TransitShape) -> float:
    """ln of the sampler's prior density on (a/Rs, b) when neither has a prior.

    A single transit measures its durations; a/Rs and b only through them.
    Uniform in a/Rs and b, the prior piles its mass on box-shaped transits near
    b = 0, where the durations hardly change with b: with the ingress barely
    resolved (a few points on it) the posterior's duration then ran short with
    an error too small over many draws. Uniform in the total and ingress
    durations T14 and T12 (Jacobian |d(T14, T12)/d(a/Rs, b)|) it piles them
    near grazing instead (T12 changes fastest there), and the duration runs
    long. The prior used is the geometric mean of the two: uniform in T14,
    and half-way between uniform in b (orbits oriented at random) and uniform
    in T12, i.e. sqrt(|dT14/da| |d(T14, T12)/d(a, b)|). Over draws of a
    poorly resolved ingress it centres the duration's pulls (see
    tests/core/test_transit_duration_pulls.py). A grazing transit's ingress
    is half its duration (the determinant vanishes); there the half duration
    over Rp/Rs (the depth changes over a range of b of about Rp/Rs) stands in
    for the ingress's change, so grazing orbits keep a finite prior. Central
    differences: the durations are cheap closed forms.
    """
    k, a, b, p = shape.rp_rs, shape.a_rs, abs(shape.b), shape.period
    ha, hb = 1e-4 * a, 1e-4
    up_a, dn_a = _contacts(k, a + ha, b, p), _contacts(k, a - ha, b, p)
    up_b, dn_b = _contacts(k, a, b + hb, p), _contacts(k, a, max(b - hb, 0.0), p)
    if not np.all(np.isfinite([*up_a, *dn_a, *up_b, *dn_b])):
        return -np.inf  # a step off the star: no transit
    db = b + hb - max(b - hb, 0.0)
    dt14_da = abs(up_a[0] - dn_a[0]) / (2 * ha)
    j = np.array([[(up_a[0] - dn_a[0]) / (2 * ha), (up_b[0] - dn_b[0]) / db],
                  [(up_a[1] - dn_a[1]) / (2 * ha), (up_b[1] - dn_b[1]) / db]])  # fmt: skip
    det = abs(float(np.linalg.det(j)))
    if b > 1.0 - k:  # grazing: T12 = T14 / 2, the depth changes over b ~ k instead
        det = dt14_da * 0.5 * _contacts(k, a, b, p)[0] / max(k, 1e-3)
    if not (det > 0 and dt14_da > 0):
        return -np.inf
    return 0.5 * float(np.log(det) + np.log(dt14_da))


def _physical_ld(u1: float, u2: float) -> bool:
    """Kipping (2013): positive intensity everywhere, decreasing towards the limb."""
    return u1 + u2 < 1.0 and u1 > 0.0 and u1 + 2.0 * u2 > 0.0


@dataclass(frozen=True)
class LeastSquares:
    """The least-squares (posterior mode) solution.

    Attributes
    ----------
    theta : ndarray
        Free parameters at the optimum (the mid-time as an offset from the
        problem's ``t_ref``; :meth:`TransitProblem.values` gives absolutes).
    covariance : ndarray
        Their covariance from the Jacobian (baseline profiled out).
    coefficients : ndarray
        Baseline coefficients.
    transit, model : ndarray
        Transit alone and transit x baseline at the data's times.
    chi2 : float
        Data chi-square (without the priors).
    weighted_rss : float
        Same as chi2 (kept for the BIC's notation).
    success : bool
        Whether the optimizer converged.
    """

    theta: np.ndarray
    covariance: np.ndarray
    coefficients: np.ndarray
    transit: np.ndarray
    model: np.ndarray
    chi2: float
    weighted_rss: float
    success: bool

    def errors(self) -> np.ndarray:
        """1-sigma errors of theta (NaN where the covariance is singular)."""
        d = np.diag(self.covariance)
        return np.sqrt(np.where(d >= 0, d, np.nan))


def least_squares_fit(
    problem: TransitProblem,
    sigma: np.ndarray | None = None,
    theta0: np.ndarray | None = None,
    *,
    tol: float = 1e-10,
    max_nfev: int | None = None,
) -> LeastSquares:
    """Fit theta by least squares (scipy's trust-region reflective method).

    Parameters
    ----------
    problem : TransitProblem
    sigma : ndarray, optional
        Errors to use instead of the problem's own (e.g. inflated by beta).
    theta0 : ndarray, optional
        Starting point.
    tol : float
        scipy's xtol, ftol and gtol.
    max_nfev : int, optional
        Most model evaluations (default 400 per free parameter and one).
    """
    s = problem.sigma if sigma is None else sigma
    lo, hi = problem.bounds()
    scale = np.array([_SCALES[k] for k in problem.setup.free])
    pad = 1e-6 * scale
    x0 = problem.theta0() if theta0 is None else np.clip(theta0, lo + pad, hi - pad)
    res = least_squares(
        problem.residuals, x0, args=(s,), bounds=(lo, hi), x_scale=scale, method="trf",
        xtol=tol, ftol=tol, gtol=tol, max_nfev=max_nfev or 400 * (len(x0) + 1),
    )  # fmt: skip
    jac = res.jac
    try:
        cov = np.linalg.pinv(jac.T @ jac)
    except np.linalg.LinAlgError:
        cov = np.full((len(x0), len(x0)), np.nan)
    coef, transit, model, _ = problem.solve_baseline(res.x, s)
    chi2 = float(np.sum(((problem.flux - model) / s) ** 2))
    return LeastSquares(
        theta=res.x, covariance=cov, coefficients=coef, transit=transit, model=model,
        chi2=chi2, weighted_rss=chi2, success=bool(res.success),
    )  # fmt: skip
