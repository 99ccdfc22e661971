"""Posterior sampling of the transit's parameters with emcee.

The least-squares covariance assumes a Gaussian posterior; the impact
parameter against its bound at 0, a grazing geometry or limb darkening pushed
by its prior make it lopsided, and then only samples give honest intervals.
emcee's affine-invariant ensemble (Foreman-Mackey et al. 2013) samples
:meth:`~.fit.TransitProblem.log_probability` (baseline marginalised), started
in a small ball around the least-squares optimum. The chain's length is
checked against its integrated autocorrelation time, and the result says
whether it was long enough (50 autocorrelation times after burn-in).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime.pipeline import StepState
from .fit import TransitProblem

__all__ = ["Posterior", "sample_posterior"]


@dataclass(frozen=True)
class Posterior:
    """Samples of the free parameters.

    Attributes
    ----------
    names : tuple of str
        Parameter names (theta's order).
    samples : ndarray, shape (n_samples, n_free)
        Flattened chain after burn-in and thinning, mid-time absolute.
    acceptance : float
        Mean acceptance fraction of the walkers.
    autocorrelation : ndarray
        Integrated autocorrelation time of each parameter (steps).
    n_steps : int
        Steps after burn-in.
    converged : bool
        True when the chain after burn-in is at least 50 autocorrelation times long.
    """

    names: tuple[str, ...]
    samples: np.ndarray
    acceptance: float
    autocorrelation: np.ndarray
    n_steps: int
    converged: bool

    def summary(self, name: str) -> tuple[float, float, float]:
        """Median and the lower and upper 1-sigma errors (16th, 84th percentiles)."""
        x = self.samples[:, self.names.index(name)]
        lo, med, hi = np.percentile(x, [15.865, 50.0, 84.135])
        return float(med), float(med - lo), float(hi - med)

    def derived(self, fn) -> np.ndarray:
        """A derived quantity evaluated on every sample (``fn(dict) -> float``)."""
        return np.array(
            [fn(dict(zip(self.names, row, strict=True))) for row in self.samples], dtype=float
        )


def sample_posterior(
    problem: TransitProblem,
    theta0: np.ndarray,
    scale0: np.ndarray,
    *,
    sigma: np.ndarray | None = None,
    n_walkers: int | None = None,
    n_steps: int = 3000,
    burn: int = 1000,
    seed: int = 1,
    state: StepState | None = None,
) -> Posterior:
    """Sample the posterior around a starting point.

    Parameters
    ----------
    problem : TransitProblem
    theta0 : ndarray
        Start (the least-squares optimum).
    scale0 : ndarray
        Spread of the starting ball (its errors; small, the walkers spread out).
    sigma : ndarray, optional
        Point errors (inflated by beta) instead of the problem's.
    n_walkers : int, optional
        Default: 4 per parameter, at least 16.
    n_steps, burn : int
        Steps in all, and steps dropped at the start.
    seed : int
        Seed of the walkers' start and moves (results are reproducible).
    state : StepState, optional
        Progress and Cancel, checked every 50 steps.
    """
    import emcee

    ndim = len(theta0)
    nw = n_walkers or max(16, 4 * ndim)
    rng = np.random.default_rng(seed)
    lo, hi = problem.bounds()
    # Half an error around the optimum, but never more than 2% of a parameter's
    # range: at b = 0 the least-squares error of b is unbounded.
    spread = np.where(np.isfinite(scale0) & (scale0 > 0), scale0, 1e-4) * 0.5
    spread = np.minimum(spread, 0.02 * (hi - lo))
    start = np.clip(theta0 + spread * rng.standard_normal((nw, ndim)), lo + 1e-9, hi - 1e-9)
    for i in range(nw):  # every walker must start where the posterior is finite
        shrink = 1.0
        while not np.isfinite(problem.log_probability(start[i], sigma)):
            shrink *= 0.5
            if shrink < 1e-6:
                start[i] = theta0
                break
            start[i] = np.clip(theta0 + shrink * spread * rng.standard_normal(ndim),
                               lo + 1e-9, hi - 1e-9)  # fmt: skip
    sampler = emcee.EnsembleSampler(nw, ndim, problem.log_probability, args=(sigma,))
    # emcee draws its moves from a legacy RandomState; seeding it makes runs repeatable.
    rstate = np.random.RandomState(seed).get_state()  # noqa: NPY002
    initial = emcee.State(start, random_state=rstate)
    for k, _ in enumerate(sampler.sample(initial, iterations=n_steps), start=1):
        if state is not None and k % 50 == 0:
            state.progress(k / n_steps, f"sampling {k}/{n_steps}")
    chain = sampler.get_chain(discard=burn)
    tau = np.asarray(emcee.autocorr.integrated_time(chain, tol=0), dtype=float)
    thin = max(1, int(np.nanmin(tau) / 2)) if np.all(np.isfinite(tau)) else 1
    flat = sampler.get_chain(discard=burn, thin=thin, flat=True).copy()
    if "tmid" in problem.setup.free:
        flat[:, problem.setup.free.index("tmid")] += problem.t_ref
    if "b" in problem.setup.free:  # the model depends on |b| only
        flat[:, problem.setup.free.index("b")] = np.abs(flat[:, problem.setup.free.index("b")])
    n_after = n_steps - burn
    return Posterior(
        names=tuple(problem.setup.free),
        samples=flat,
        acceptance=float(np.mean(sampler.acceptance_fraction)),
        autocorrelation=tau,
        n_steps=n_after,
        converged=bool(np.all(n_after >= 50 * tau)),
    )
