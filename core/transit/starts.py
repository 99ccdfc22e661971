"""Starting points of the transit fit when no archive gives the geometry.

Without a/Rs and the inclination the fit's least squares has several minima:
the transit's duration, its mid-time and the baseline's trend trade off. The
start is found by a scan over durations (:func:`start_from_data`), and each
candidate baseline is also started at other mid-times (:func:`mid_time_starts`)
and keeps its best minimum (:func:`best_minimum`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .data import TransitData
from .ephemeris import Ephemeris
from .fit import PARAMETERS, LeastSquares, TransitProblem, least_squares_fit
from .model import TransitShape, durations
from .systematics import design_matrix

__all__ = ["start_from_data", "mid_time_starts", "best_minimum"]


def start_from_data(data: TransitData, regs: dict, setup):
    """Starting geometry from the light curve when no archive gives it.

    A Sun-like star's a/Rs can be far off (a giant host, a grazing orbit), and
    a fit started with the wrong duration may stop in a wrong minimum; so
    transits of 0.5 to 8 h are fitted with a straight-line baseline, and the
    best one is the start. These trials only rank durations, so they stop
    early (the full-precision fit follows from the best one); to the last
    digit they took nearly all of a fit's time.
    """
    names = ("time",) if "time" in regs else ()
    design = design_matrix(regs, names, len(data))
    best = None
    for hours in (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.5, 6.0, 8.0):
        a_rs = setup.period / np.pi / (hours / 24.0) * np.sqrt((1 + setup.start["rp_rs"]) ** 2
                                                                 - 0.09)  # fmt: skip
        start = {**setup.start, "a_rs": float(np.clip(a_rs, 1.5, 190.0)), "b": 0.3}
        trial = replace(setup, start=start)
        fit = least_squares_fit(TransitProblem(data.t, data.flux, data.flux_err, design, trial),
                                tol=1e-6, max_nfev=40 * (len(trial.free) + 1))  # fmt: skip
        if best is None or fit.chi2 < best[0]:
            best = (fit.chi2, trial, TransitProblem(data.t, data.flux, data.flux_err, design,
                                                    trial).values(fit.theta))  # fmt: skip
    assert best is not None
    found = best[2]
    start = {**setup.start, **{k: found[k] for k in ("tmid", "rp_rs", "a_rs", "b")}}
    return replace(setup, start=start)


def mid_time_starts(setup, eph: Ephemeris, data: TransitData) -> tuple[dict, ...]:
    """Other starts of the mid-time for a fit whose geometry the night alone gives.

    With a/Rs and b free, a baseline regressor and the transit's duration
    trade off, and the least-squares fit of one baseline has a minimum per
    way of doing so: on TrES-1's night (tres1-oscaar) the airmass and sky
    baseline has one at the published mid-time (+4 min) and a/Rs 11.2, the
    constant baseline one at -12 min and a/Rs 8.8 (a 3 h transit), and from
    the duration scan's start (-12 min) every baseline stopped in the
    latter, so the BIC chose the constant baseline, its mid-time 5 sigma
    off, and the spread over the baselines (``run._baseline_spread``) missed
    the other minimum. Each baseline is therefore also started at the
    ephemeris' prediction and a tenth of the transit either side of the
    scan's best mid-time, and keeps its best minimum.
    """
    start = {k: setup.start[k] for k in PARAMETERS}
    total, _ = durations(TransitShape(**start, period=setup.period))
    step = 0.1 * total if np.isfinite(total) else 1.0 / 24.0
    mid = 0.5 * (data.t[0] + data.t[-1])
    lo, hi = setup.tmid_window
    found: list[float] = [start["tmid"]]
    for tmid in (eph.predict(mid).tc, start["tmid"] - step, start["tmid"] + step):
        tmid = float(np.clip(tmid, lo, hi))
        if min(abs(tmid - f) for f in found) > 2.0 / 1440.0:  # 2 min apart at least
            found.append(tmid)
    return tuple({**start, "tmid": t} for t in found[1:])


def best_minimum(problem: TransitProblem, starts: tuple[dict, ...]) -> LeastSquares:
    """The least-squares fit from the setup's start and from each of ``starts``, the best kept."""
    best = least_squares_fit(problem)

    def cost(f: LeastSquares) -> float:
        return f.chi2 + float(np.sum(problem.prior_residuals(f.theta) ** 2))

    for start in starts:
        theta0 = np.array([start[k] - (problem.t_ref if k == "tmid" else 0.0)
                           for k in problem.setup.free])  # fmt: skip
        fit = least_squares_fit(problem, theta0=theta0)
        if cost(fit) < cost(best):
            best = fit
    return best
