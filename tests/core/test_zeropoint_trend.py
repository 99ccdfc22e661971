"""The rejection trend past the chosen zero point, by downdating, against a refit from scratch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fluxion.core.zeropoint.fit import (
    _design,
    _fit_with_scatter,
    _studentised2,
    fit_zero_point,
    spatial_terms,
)
from fluxion.core.zeropoint.lsq import _robust_scatter, _solve


def _refit_trajectory(delta, err, colour, x, y, fit_colour, order, sigma=3.0, floor_frac=0.5):
    """Each step's fit from scratch on the kept stars: rows (n, zp, zp_err, chi2, s, rejected)."""
    exps = spatial_terms(order)
    n_params = 1 + int(fit_colour) + len(exps)
    need = max(3, n_params + 1)
    good = np.isfinite(delta) & np.isfinite(err) & np.isfinite(colour) & (err > 0)
    centre = (0.5 * (x[good].min() + x[good].max()), 0.5 * (y[good].min() + y[good].max()))
    scale = max(0.5 * max(np.ptp(x[good]), np.ptp(y[good])), 1.0)
    at_all = np.ascontiguousarray(_design(colour, x, y, fit_colour, exps, centre, scale).T)
    var_all = err**2
    used, rows, s_chosen = good.copy(), [], None
    floor = max(need, math.ceil(floor_frac * good.sum()))
    while True:
        idx = used.nonzero()[0]
        at, b, var = at_all.take(idx, 1), delta.take(idx), var_all.take(idx)
        if s_chosen is None:
            params, cov, resid, s, model_cov = _fit_with_scatter(at, b, var, True)
        else:
            s = s_chosen
            params, cov, resid = _solve(at, b, var + s * s)
            model_cov = cov
        r2 = resid * resid
        z2 = _studentised2(at, r2, resid, var, r2 / var, True, s, model_cov)
        worst = int(z2.argmax())
        if s_chosen is None and (z2[worst] <= sigma**2 or len(idx) <= need):
            s_chosen = s
        more = len(idx) > (floor if s_chosen is not None else need)
        chi2 = float((r2 / var).sum() / max(len(idx) - n_params, 1))
        rows.append(
            (len(idx), params[0], math.sqrt(cov[0, 0]), chi2, s, idx[worst] if more else -1)
        )
        if not more:
            return np.array(rows)
        used[idx[worst]] = False


def _stars(seed: int, n: int, scatter: float, twins: int = 0):
    """A frame's calibration stars: errors growing to the faint end, colours, 5% outliers."""
    rng = np.random.default_rng(seed)
    mag = rng.uniform(11.0, 17.0, n)
    err = 0.002 + 0.02 * 10 ** (0.4 * (mag - 16.0))
    colour = rng.normal(0.7, 0.3, n)
    x, y = rng.uniform(0, 1024, n), rng.uniform(0, 1024, n)
    delta = 24.3 + 0.05 * colour + rng.normal(0.0, 1.0, n) * np.hypot(err, scatter)
    outlier = rng.random(n) < 0.05
    delta[outlier] += rng.normal(0.0, 0.3, outlier.sum())
    cols = [delta, err, colour, x, y]
    if twins:  # the same stars listed twice
        cols = [np.concatenate([c, c[:twins]]) for c in cols]
    return cols


CASES = [
    (seed, n, scatter, fit_colour, order, twins)
    for seed, (n, scatter, fit_colour, order, twins) in enumerate(
        [
            (320, 0.0, True, 0, 0),
            (320, 0.02, True, 0, 0),
            (300, 0.005, False, 0, 0),
            (120, 0.02, True, 1, 0),
            (150, 0.01, True, 2, 0),
            (60, 0.02, True, 2, 20),
            (200, 0.0, True, 0, 40),
            (40, 0.03, False, 1, 10),
        ]
    )
]


@pytest.mark.parametrize(("seed", "n", "scatter", "fit_colour", "order", "twins"), CASES)
def test_trend_matches_refit_from_scratch(seed, n, scatter, fit_colour, order, twins):
    delta, err, colour, x, y = _stars(seed, n, scatter, twins)
    delta[7] = np.nan  # a star without numbers is never used
    ref = _refit_trajectory(delta, err, colour, x, y, fit_colour, order)
    fit = fit_zero_point(
        delta, err, colour=colour, x=x, y=y, fit_colour=fit_colour, spatial_order=order
    )
    traj = fit.trajectory
    assert len(traj) == len(ref)
    assert np.array_equal(traj["n_stars"], ref[:, 0])
    # The same stars in the same order; a star listed twice is one star, so
    # either copy may go first in the refit (its z2 ties up to rounding).
    first_copy = np.arange(len(delta) + 1)
    first_copy[n : n + twins] = np.arange(twins)
    first_copy[-1] = -1
    assert np.array_equal(first_copy[traj["rejected"]], first_copy[ref[:, 5].astype(int)])
    for k, name in enumerate(("zero_point", "zero_point_err", "chi2", "intrinsic_scatter"), 1):
        np.testing.assert_allclose(traj[name], ref[:, k], rtol=1e-9, atol=0)
    assert traj["chosen"].sum() == 1
    assert len(traj) > 20  # the trend is long enough to test


def test_equal_stars_go_first_copy_first():
    delta, err, colour, x, y = _stars(3, 60, 0.0, twins=60)
    fit = fit_zero_point(delta, err, colour=colour, x=x, y=y, fit_colour=True)
    traj = fit.trajectory
    trend = np.asarray(traj["rejected"])[int(np.flatnonzero(traj["chosen"])[0]) :]
    gone = trend[trend >= 0]
    assert len(gone) > 20
    # Each star listed twice: its first copy is always rejected before its second.
    for i in gone:
        if i >= 60:
            assert i - 60 in gone[: list(gone).index(i)]


@pytest.mark.parametrize("resid", [[0.10, -0.10], [0.10, -0.09], [0.05, 0.06, -0.055]])
def test_robust_scatter_of_few_stars_with_like_residuals(resid):
    """Two or three catalog stars off by about the same: the scatter whose median
    normalised squared residual is chi2(1)'s, found (no bracketing error)."""
    r = np.array(resid)
    var = np.full(r.size, 0.01**2)
    s = _robust_scatter(r, var, r * r / var)
    assert s > 0.05
    assert np.median(r * r / (var + s * s)) == pytest.approx(0.454936, abs=1e-4)
