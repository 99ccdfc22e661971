"""The whole transit fit of one light curve: detrending choice, noise, sampling.

1. Every small set of systematics regressors is fitted jointly with the
   transit (least squares); the set with the lowest BIC is kept.
2. Points more than ``clip_sigma`` robust deviations off that fit are set
   aside (a cosmic ray, a satellite) and the fit is redone.
3. The per-point errors are scaled so the residuals' reduced chi-square is 1
   (the photometric errors rarely know every noise source), then multiplied
   by the red-noise factor beta (:mod:`.noise`).
4. The posterior is sampled with emcee on those errors; the reported values
   are medians with 16-84 % intervals. With ``mcmc_steps = 0`` the least-
   squares covariance (on the same inflated errors) is reported instead;
   with a/Rs and b free without priors it misses b's spread (the fit says
   so in its notes), and the sampler's prior is uniform in the durations
   (:func:`.fit.duration_log_jacobian`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..runtime.params import param
from ..runtime.pipeline import StepState
from .data import TransitData
from .ephemeris import Ephemeris
from .fit import PARAMETERS, FitSetup, LeastSquares, TransitProblem, least_squares_fit
from .limb_darkening import LimbDarkening, limb_darkening
from .model import TransitCurve, TransitShape, durations
from .noise import RedNoise, red_noise_beta
from .sampling import Posterior, sample_posterior
from .setup import density_prior, make_setup
from .starts import best_minimum, mid_time_starts, start_from_data
from .systematics import (
    baseline_spread,
    bic,
    candidate_sets,
    design_matrix,
    regressors_from_columns,
)

__all__ = [
    "LEAST_SQUARES_GEOMETRY_NOTE", "TransitParams", "TransitResult", "fit_transit",
    "parameters_note", "geometry_text",
]  # fmt: skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransitParams:
    """How a transit is fitted."""

    filter: str = param(
        "", label="Filter",
        help="Filter of the frames (V, R, Rc, SR, r' ...) for the limb-darkening table; "
        "empty: the light curve's own, else a wide prior between V and R.",
    )  # fmt: skip
    limb_darkening: str = param(
        "prior", label="Limb darkening", choices=("prior", "free", "fixed"),
        help="Tabulated coefficients (Claret & Bloemen 2011) as a Gaussian prior, free, or fixed.",
    )  # fmt: skip
    geometry: str = param(
        "auto", label="a/Rs and inclination", choices=("auto", "prior", "free", "fixed"),
        help="The archive's a/Rs and inclination: priors when it gives their errors, held "
        "when it gives none, fitted without them (auto); always priors, only starting "
        "points, or always held.",
    )  # fmt: skip
    max_regressors: int = param(
        3, label="Detrending terms (max.)", minimum=0, maximum=5,
        help="Most regressors (airmass, FWHM, sky, x, y, time, time^2, comparison counts) "
        "tried together; the set is chosen by the BIC.",
    )  # fmt: skip
    clip_sigma: float = param(
        5.0, label="Outlier clip", unit="sigma", minimum=3.0, maximum=100.0,
        help="Points this many robust deviations off the first fit are left out.",
    )  # fmt: skip
    mcmc_steps: int = param(
        5000, label="MCMC steps", minimum=0, maximum=100000,
        help="emcee steps per walker (0: least-squares errors only).",
    )  # fmt: skip
    mcmc_burn: int = param(
        1500, label="MCMC burn-in", minimum=0, maximum=50000,
        help="Steps dropped at the start of the chain.",
    )  # fmt: skip
    beta_min_minutes: float = param(
        10.0, label="Red-noise bins from", unit="min", minimum=1.0, maximum=120.0,
        help="Shortest bin of the time-averaging test of correlated noise.",
    )  # fmt: skip
    beta_max_minutes: float = param(
        30.0, label="Red-noise bins to", unit="min", minimum=2.0, maximum=240.0,
        help="Longest bin of the time-averaging test.",
    )  # fmt: skip
    seed: int = param(1, label="Random seed", minimum=0, maximum=2**31 - 1)


@dataclass(frozen=True)
class TransitResult:
    """Everything a transit fit found, in plain values.

    ``values``/``errors`` hold each parameter's best value and 1-sigma error
    (symmetric: the mean of the 16-84 % half-widths; ``errors_low``/``_high``
    keep both). ``model`` holds per-point arrays: ``t``, ``flux``, ``flux_err``
    (inflated), ``model``, ``transit``, ``baseline``, ``detrended``,
    ``residual``, ``used`` (False for clipped points).
    """

    values: dict[str, float]
    errors: dict[str, float]
    errors_low: dict[str, float]
    errors_high: dict[str, float]
    free: tuple[str, ...]
    priors: dict[str, tuple[float, float]]
    detrending: tuple[str, ...]
    coefficients: dict[str, float]
    bic: float
    bic_table: list[dict]
    noise_scale: float
    beta: float
    red_noise: RedNoise
    residual_rms: float
    n_points: int
    n_clipped: int
    limb_darkening: LimbDarkening
    ephemeris: Ephemeris
    timing: dict[str, float]
    method: str
    sampler: dict[str, float | bool]
    model: dict[str, np.ndarray] = field(repr=False)
    notes: tuple[str, ...] = ()


#: Said with least-squares errors when a/Rs and b are free without priors.
LEAST_SQUARES_GEOMETRY_NOTE = (
    "a/Rs and b are free without priors and the errors are least-squares ones: the "
    "duration's and the mid-time's understate the scatter when the ingress is barely "
    "resolved (b near 0 hides b's spread from the covariance); sample (MCMC steps > 0) "
    "for honest errors"
)


_LABELS = {"tmid": "mid-time", "rp_rs": "Rp/Rs", "a_rs": "a/Rs", "b": "impact parameter",
           "u1": "u1", "u2": "u2"}  # fmt: skip


def parameters_note(setup: FitSetup, eph: Ephemeris, ld: LimbDarkening) -> str:
    """Which parameters were fitted, which held, and where the held values and priors come from.

    Said with every result: a depth fitted with the geometry held is only as
    good as the archive's geometry, and its error does not hold that one's.
    """
    src = eph.source or "user"
    held = [f"period {eph.period:.7f} d ({src})"]
    # The geometry's priors and held values may come from elsewhere than the period.
    geo_src = eph.geometry_source or src
    fixed = [k for k in PARAMETERS if k not in setup.free]
    if "a_rs" in fixed:
        inc = eph.inc_deg if eph.inc_deg is not None else float("nan")
        held.append(
            f"a/Rs {setup.start['a_rs']:.2f} and inclination {inc:.2f} deg "
            f"(b {setup.start['b']:.2f}; {geo_src}; their uncertainty is not in the errors)"
        )
    if "u1" in fixed:
        held.append(f"limb darkening u1 {ld.u1:.3f}, u2 {ld.u2:.3f} (the {ld.band} table)")
    fitted = []
    for k in setup.free:
        if k in ("u1", "u2"):
            continue
        if k in setup.priors:
            mu, sd = setup.priors[k]
            fitted.append(f"{_LABELS[k]} (prior {mu:.3f} +/- {sd:.3f}, {geo_src})")
        else:
            fitted.append(_LABELS[k])
    if "u1" in setup.free:
        if "u1" in setup.priors:
            (m1, s1), (m2, s2) = setup.priors["u1"], setup.priors["u2"]
            fitted.append(f"limb darkening (priors u1 {m1:.3f} +/- {s1:.3f}, u2 {m2:.3f} "
                          f"+/- {s2:.3f}, the {ld.band} table)")  # fmt: skip
        else:
            fitted.append("limb darkening")
    return f"fitted: {', '.join(fitted)} and the baseline; held: {'; '.join(held)}"


#: Said when no archive gives a/Rs and the inclination.
NO_GEOMETRY_NOTE = (
    "no a/Rs or inclination known (the planet was not looked up): both come from this "
    "night alone, and with little baseline around the transit they trade off against "
    "the baseline's trend (a long, grazing transit), and the mid-time with them; look the "
    "planet up for them (--planet NAME, online) or give their published values (--a-rs "
    "A+-ERR with --inclination DEG+-ERR or --impact B+-ERR)"
)


#: Regressors every baseline holds when the night alone gives the geometry. The
#: airmass trend (differential extinction between target and comparisons of
#: other colours) is in every ground-based night; left to the BIC it was left out
#: when a longer or shorter transit could take it: over simulated nights of
#: TrES-1's layout (tests/core/test_transit_free_geometry_pulls.py) with 1 % per
#: airmass, a constant baseline won most draws and put the mid-time early by
#: about a sigma. EXOTIC, too, always fits an airmass term.
FREE_GEOMETRY_REGRESSORS = ("airmass",)


def _robust_sigma(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


#: Out-of-transit points needed per baseline coefficient (the constant included).
OOT_POINTS_PER_TERM = 5


def _max_regressors(data: TransitData, setup, requested: int) -> int:
    """Detrending terms the out-of-transit points can carry.

    The baseline is pinned down by the points outside the transit; inside it,
    a trend trades off against the depth. Each baseline coefficient (the
    constant included) needs :data:`OOT_POINTS_PER_TERM` of them, so a short
    baseline is not detrended with many terms that would eat the transit.
    """
    start = {k: setup.start[k] for k in ("tmid", "rp_rs", "a_rs", "b", "u1", "u2")}
    total, _ = durations(TransitShape(**start, period=setup.period))
    if not np.isfinite(total):
        return requested
    n_oot = int(np.sum(np.abs(data.t - start["tmid"]) > 0.5 * total))
    return int(max(0, min(requested, n_oot // OOT_POINTS_PER_TERM - 1)))


def _select(
    data: TransitData,
    regs: dict,
    setup,
    max_terms: int,
    state: StepState | None,
    starts: tuple[dict, ...] = (),
    required: tuple[str, ...] = (),
) -> tuple[tuple, LeastSquares, TransitProblem, list[dict]]:
    """Fit every candidate regressor set (from each start); the lowest BIC wins."""
    sets = candidate_sets(tuple(regs), max_terms, required)
    table: list[dict[str, Any]] = []
    best = None
    for k, names in enumerate(sets):
        problem = TransitProblem(
            data.t, data.flux, data.flux_err, design_matrix(regs, names, len(data)), setup
        )
        fit = best_minimum(problem, starts)
        n_par = len(setup.free) + 1 + len(names)
        score = bic(fit.weighted_rss, len(data), n_par)
        found = problem.values(fit.theta)
        found["depth"] = problem.shape(fit.theta).depth
        table.append({"regressors": list(names), "bic": score, "chi2": fit.chi2,
                      "values": {k: found[k] for k in SPREAD_PARAMETERS}})  # fmt: skip
        if best is None or score < best[0]:
            best = (score, names, fit, problem)
        if state is not None:
            state.progress((k + 1) / len(sets), f"detrending {k + 1}/{len(sets)}")
    assert best is not None
    table.sort(key=lambda r: r["bic"])
    return best[1], best[2], best[3], table


def fit_transit(
    data: TransitData,
    eph: Ephemeris,
    params: TransitParams | None = None,
    *,
    stellar: dict[str, float] | None = None,
    state: StepState | None = None,
) -> TransitResult:
    """Fit a transit with systematics, red noise and posterior sampling.

    Parameters
    ----------
    data : TransitData
    eph : Ephemeris
        Period (fixed) and the predicted mid-time; geometry and the star's
        parameters when known.
    params : TransitParams, optional
    stellar : dict, optional
        ``teff``, ``logg``, ``feh`` overriding the ephemeris' star.
    state : StepState, optional
        Progress (detrending 0-0.3, sampling 0.3-1) and Cancel.

    Returns
    -------
    TransitResult
    """
    p = params or TransitParams()
    star = {"teff": eph.teff, "logg": eph.logg, "feh": eph.feh, **(stellar or {})}
    filt = p.filter or data.filter
    ld = limb_darkening(filt, star["teff"], star["logg"], star["feh"])
    density = density_prior(eph, p.geometry, star)
    setup = make_setup(data, eph, ld, geometry=p.geometry, limb_darkening=p.limb_darkening,
                       density=density)  # fmt: skip
    notes = [parameters_note(setup, eph, ld)]
    if density is not None:
        notes.append(density.note)
    for why, n in data.dropped.items():
        notes.append(f"{n} point(s) left out: {why}")
    regs = regressors_from_columns(data.t, data.columns, setup.start["tmid"])
    starts: tuple[dict, ...] = ()
    required: tuple[str, ...] = ()
    # The out-of-transit points are counted about the transit the star's density
    # predicts when there is one, not about the scan's start: on TrES-1's
    # frames curve the scan started a 3 h transit, which left room for the
    # airmass term alone, and that one baseline's minimum (-11 min) was the fit.
    max_terms = _max_regressors(data, setup, p.max_regressors) if density else p.max_regressors
    if eph.a_rs is None:
        setup = start_from_data(data, regs, setup)
        starts = mid_time_starts(setup, eph, data)
        required = FREE_GEOMETRY_REGRESSORS
        notes.append(NO_GEOMETRY_NOTE)
    if density is None:
        max_terms = _max_regressors(data, setup, p.max_regressors)
    if max_terms < p.max_regressors:
        notes.append(
            f"at most {max_terms} detrending term(s): the baseline is measured out of "
            "transit, and there are too few points there for more"
        )
    sub = state.sub(0.0, 0.3) if state is not None else None
    names, fit, problem, table = _select(data, regs, setup, max_terms, sub, starts,
                                          required)  # fmt: skip

    # Outliers off the chosen fit, then the same model again without them.
    resid = (data.flux - fit.model) / data.flux_err
    keep = np.abs(resid - np.median(resid)) <= p.clip_sigma * max(_robust_sigma(resid), 1e-12)
    n_clipped = int((~keep).sum())
    used = data.subset(keep) if n_clipped else data
    regs_used = {k: v[keep] for k, v in regs.items()}
    if n_clipped:
        problem = TransitProblem(
            used.t, used.flux, used.flux_err, design_matrix(regs_used, names, len(used)), setup
        )
        fit = least_squares_fit(problem, theta0=fit.theta)
        notes.append(f"{n_clipped} outlier(s) beyond {p.clip_sigma:g} sigma left out")

    # Errors: white-noise scale to reduced chi-square 1, then red noise.
    n_par = len(setup.free) + 1 + len(names)
    dof = max(len(used) - n_par, 1)
    scale = math.sqrt(fit.chi2 / dof)
    red = red_noise_beta(
        used.t, used.flux - fit.model, bin_minutes=(p.beta_min_minutes, p.beta_max_minutes)
    )
    sigma = used.flux_err * scale * red.beta
    fit = least_squares_fit(problem, sigma=sigma, theta0=fit.theta)

    posterior: Posterior | None = None
    if p.mcmc_steps > 0:
        burn = min(p.mcmc_burn, p.mcmc_steps // 2)
        posterior = sample_posterior(
            problem, fit.theta, fit.errors(), sigma=sigma, n_steps=p.mcmc_steps, burn=burn,
            seed=p.seed, state=state.sub(0.3, 1.0) if state is not None else None,
        )  # fmt: skip
    values, err_lo, err_hi = _summaries(problem, fit, posterior)
    shape = problem.shape(np.array([values[k] - (problem.t_ref if k == "tmid" else 0.0)
                                    for k in setup.free]))  # fmt: skip
    derived = _derived(problem, posterior, shape, fit)
    for k, (v, lo, hi) in derived.items():
        values[k], err_lo[k], err_hi[k] = v, lo, hi
    spread = _baseline_spread(table, setup.free)
    for k, extra in spread.items():
        err_lo[k], err_hi[k] = math.hypot(err_lo[k], extra), math.hypot(err_hi[k], extra)
    errors = {k: 0.5 * (err_lo[k] + err_hi[k]) for k in values}
    if len(table) > 1:
        notes.append(_spread_note(spread, errors))
    model = _model_arrays(data, regs, names, problem, shape, keep, sigma)
    resid_rel = model["residual"][keep]
    timing = eph.o_minus_c(values["tmid"], errors["tmid"])
    if posterior is None and setup.duration_prior:
        notes.append(LEAST_SQUARES_GEOMETRY_NOTE)
    if posterior is not None and not posterior.converged:
        notes.append(
            "the chain is shorter than 50 autocorrelation times: raise the MCMC steps "
            "for final numbers"
        )
    coef_names = ["constant", *names]
    coefficients = {n: float(c) for n, c in zip(coef_names, fit.coefficients, strict=True)}
    return TransitResult(
        values=values, errors=errors, errors_low=err_lo, errors_high=err_hi,
        free=tuple(setup.free), priors=dict(setup.priors), detrending=tuple(names),
        coefficients=coefficients, bic=float(table[0]["bic"]), bic_table=table,
        noise_scale=scale, beta=red.beta, red_noise=red,
        residual_rms=float(np.std(resid_rel)), n_points=len(used), n_clipped=n_clipped,
        limb_darkening=ld, ephemeris=eph, timing=timing,
        method="emcee" if posterior is not None else "least squares",
        sampler=_sampler_facts(posterior), model=model, notes=tuple(notes),
    )  # fmt: skip


def geometry_text(result: TransitResult) -> str:
    """a/Rs and the inclination as a result line says them: with errors, or held."""
    v, e = result.values, result.errors
    if "a_rs" not in result.free:
        return f"a/Rs {v['a_rs']:.2f}, i {v['inc_deg']:.2f} deg (held)"
    return (
        f"a/Rs {v['a_rs']:.2f} +/- {e['a_rs']:.2f}, i {v['inc_deg']:.2f} +/- {e['inc_deg']:.2f} deg"
    )


#: Parameters whose spread over the baselines enters their errors.
SPREAD_PARAMETERS = ("tmid", "rp_rs", "a_rs", "b", "depth")


def _baseline_spread(table: list[dict], free: tuple[str, ...]) -> dict[str, float]:
    """Each fitted parameter's spread over the candidate baselines (systematics.baseline_spread)."""
    keys = [k for k in SPREAD_PARAMETERS if k in free or k == "depth"]
    bics = np.array([r["bic"] for r in table])
    vals = np.array([[r["values"][k] for k in keys] for r in table])
    return dict(zip(keys, (float(x) for x in baseline_spread(bics, vals)), strict=True))


def _spread_note(spread: dict[str, float], errors: dict[str, float]) -> str:
    """How much the baselines' spread adds to the mid-time's and the depth's errors."""
    parts = []
    for k, label, unit, scale in (("tmid", "mid-time", "min", 1440.0),
                                  ("depth", "depth", "%", 100.0)):  # fmt: skip
        if k in spread:
            parts.append(f"{label} {scale * spread[k]:.2g} {unit} of {scale * errors[k]:.2g}")
    return (
        "the errors hold the spread over the candidate baselines (weighted by their BIC): "
        + ", ".join(parts)
    )


def _summaries(problem: TransitProblem, fit: LeastSquares, posterior: Posterior | None):
    """Best values and lower/upper errors of every parameter (fixed ones: error 0)."""
    best = problem.values(fit.theta)
    values = dict(best)
    lo = {k: 0.0 for k in PARAMETERS}
    hi = {k: 0.0 for k in PARAMETERS}
    errs = fit.errors()
    for i, k in enumerate(problem.setup.free):
        if posterior is not None:
            values[k], lo[k], hi[k] = posterior.summary(k)
        else:
            lo[k] = hi[k] = float(errs[i])
    return values, lo, hi


def _derived_values(shape) -> np.ndarray:
    return np.array([shape.inc_deg, shape.depth, durations(shape)[0] * 24.0])


def _derived(problem: TransitProblem, posterior: Posterior | None, shape, fit) -> dict:
    """Inclination, depth and duration, from the samples when there are any.

    Without samples their errors come from the least-squares covariance through
    the derivatives (central differences of one tenth of each error).
    """
    names = ("inc_deg", "depth", "duration_h")
    best = _derived_values(shape)
    if posterior is None:
        cov = fit.covariance
        steps = 0.1 * fit.errors()
        grad = np.zeros((3, len(fit.theta)))
        for i, h in enumerate(steps):
            if not (np.isfinite(h) and h > 0):
                continue
            up, down = fit.theta.copy(), fit.theta.copy()
            up[i] += h
            down[i] -= h
            grad[:, i] = (
                _derived_values(problem.shape(up)) - _derived_values(problem.shape(down))
            ) / (2 * h)
        err = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", grad, cov, grad), 0.0))
        return {k: (float(v), float(e), float(e)) for k, v, e in zip(names, best, err, strict=True)}
    rows = posterior.samples
    pick = rows[np.linspace(0, len(rows) - 1, min(len(rows), 2000)).astype(int)]
    incs, depths, durs = [], [], []
    for row in pick:
        theta = row.copy()
        if "tmid" in problem.setup.free:
            theta[problem.setup.free.index("tmid")] -= problem.t_ref
        s = problem.shape(theta)
        incs.append(s.inc_deg)
        depths.append(s.depth)
        durs.append(durations(s)[0] * 24.0)
    res = {}
    for k, arr in (("inc_deg", incs), ("depth", depths), ("duration_h", durs)):
        a = np.asarray(arr, dtype=float)
        a = a[np.isfinite(a)]
        q = np.percentile(a, [15.865, 50.0, 84.135]) if a.size else [np.nan] * 3
        res[k] = (float(q[1]), float(q[1] - q[0]), float(q[2] - q[1]))
    return res


def _model_arrays(data, regs, names, problem, shape, keep, sigma_used) -> dict[str, np.ndarray]:
    """Per-point model, baseline and residuals over all points (clipped ones included)."""
    transit = TransitCurve(data.t, data.exposure_s).flux(shape)
    design = design_matrix(regs, names, len(data))
    used_theta = np.array([shape.__dict__[k] - (problem.t_ref if k == "tmid" else 0.0)
                           for k in problem.setup.free])  # fmt: skip
    coef, *_ = problem.solve_baseline(used_theta, sigma_used)
    baseline = design @ coef
    model = transit * baseline
    detrended = data.flux / baseline
    sigma = np.full(len(data), np.nan)
    sigma[keep] = sigma_used
    return {
        "t": data.t, "flux": data.flux, "flux_err": sigma, "model": model, "transit": transit,
        "baseline": baseline, "detrended": detrended, "detrended_err": sigma / baseline,
        "residual": detrended - transit, "used": keep,
    }  # fmt: skip


def _sampler_facts(posterior: Posterior | None) -> dict[str, float | bool]:
    if posterior is None:
        return {}
    return {
        "steps_after_burn_in": posterior.n_steps,
        "samples": int(posterior.samples.shape[0]),
        "acceptance": posterior.acceptance,
        "max_autocorrelation_steps": float(np.nanmax(posterior.autocorrelation)),
        "converged": posterior.converged,
    }
