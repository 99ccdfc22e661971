"""Honest transit errors on TrES-1's night layout, with and without the published geometry.

TrES-1's night (tres1-oscaar: an hour of baseline before ingress, twenty
minutes after egress, 4.9 ppt per light) fitted with the ephemeris alone put
the mid-time 13 min (5 sigma) before the published one: with a/Rs and b free
the duration scan started every baseline in a 3 h transit whose longer
ingress took the night's airmass and sky trend, the BIC then chose the
constant baseline, and the errors held neither the other minimum nor the
trend. Now every baseline is also started at other mid-times
(``starts.mid_time_starts``), the airmass term is in every baseline
(``run.FREE_GEOMETRY_REGRESSORS``), a/Rs has a prior from the star's
density (``stellar_density``) and the detrending terms are counted about the
transit that density predicts: the run's curve gives +5.4 +- 3.7 min (emcee,
2500 steps; a/Rs 10.9 +- 0.8, Rp/Rs 0.135 +- 0.011) and the frames curve of
tests/benchmarks/bench_transit.py +2.5 +- 7.1 min (-10.9 +- 2.7 before; the
airmass-only baseline's minimum at -11 min is nearly as likely as the one
chosen, and the error holds both).

Simulated draws of that night (``transit_helpers.tres1_night_draw``: its
cadence, exposure, white noise, an AR(1) red component and an airmass trend,
batman's transit with Winn et al.'s geometry) check that the reported errors
are honest for the mid-time, Rp/Rs and the depth. Least-squares errors, as in
test_transit_fit.py, so that the draws run in seconds; the sampled ones over
the same layout are in tests/benchmarks/bench_transit.py's notes.
"""

from __future__ import annotations

import numpy as np
import pytest
from transit_helpers import TRES1_NIGHT, TRES1_STAR, tres1_night_draw

from fluxion.core.transit.run import TransitParams, fit_transit
from fluxion.core.transit.stellar_density import a_rs_prior_from_star, torres_mass_radius

N_DRAWS = 40
KEYS = ("tmid", "rp_rs", "depth")


def _pulls(geometry: bool, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    params = TransitParams(filter="V", mcmc_steps=0)
    rows = []
    for _ in range(N_DRAWS):
        data, eph, truth = tres1_night_draw(rng, geometry)
        r = fit_transit(data, eph, params)
        rows.append([(r.values[k] - truth[k]) / r.errors[k] for k in KEYS])
    return np.asarray(rows)


def test_mid_time_radius_and_depth_pulls_are_honest_on_tres1s_night_from_the_ephemeris_alone():
    pulls = _pulls(False, 2012)
    median, width = np.median(pulls, axis=0), pulls.std(axis=0, ddof=1)
    # Unbiased within 2.5 standard errors of the median of N unit pulls (1.25 / sqrt(N)).
    assert np.all(np.abs(median) < 2.5 * 1.2533 / np.sqrt(N_DRAWS)), median
    # Errors honest: the pulls' spread is 1 within 2.5 standard errors of a standard
    # deviation of N unit pulls (1 / sqrt(2 (N - 1)) = 0.11 for N = 40).
    assert np.all(np.abs(width - 1.0) < 2.5 / np.sqrt(2.0 * (N_DRAWS - 1))), width


def test_the_star_gives_tres1s_a_rs_within_its_error():
    # Torres et al. (2010) for TrES-1 (Teff 5226 K, log g 4.59, [Fe/H] 0.06): 0.89 Msun
    # and 0.79 Rsun (Winn et al. 2007: 0.88, 0.81); a/Rs 10.8 +- 1.3 for their 10.52 +- 0.18.
    m, r = torres_mass_radius(**TRES1_STAR)
    assert m == pytest.approx(0.88, abs=0.03) and r == pytest.approx(0.81, abs=0.04)
    prior = a_rs_prior_from_star(TRES1_NIGHT["period"], **TRES1_STAR)
    assert prior is not None
    assert abs(prior.a_rs - TRES1_NIGHT["a_rs"]) < prior.a_rs_err
    # The Sun: 1.0 Msun, 1.0 Rsun, a/Rs 215 at one year.
    m, r = torres_mass_radius(5772.0, 4.438, 0.0)
    assert m == pytest.approx(1.0, abs=0.06) and r == pytest.approx(1.0, abs=0.03)
    assert a_rs_prior_from_star(365.25, 5772.0, 4.438, 0.0).a_rs == pytest.approx(215, rel=0.03)
    # Outside the calibration (no log g, a white dwarf's) there is no prior.
    assert a_rs_prior_from_star(3.0, 5226.0, None) is None
    assert a_rs_prior_from_star(3.0, 12000.0, 8.0) is None
