"""The demo night's transit with a/Rs and b free: the duration's and mid-time's errors.

With four lights before the transit and seven after, 1.3 ppt per light and
an 8-minute ingress on a 3-minute cadence, the light curve hardly tells b:
a prior uniform in a/Rs and b then piles its mass on box-shaped transits
near b = 0 (there the durations hardly change with b), and the posterior's
duration ran short with an error too small (pulls over 40 draws: median
-0.6, width 1.4). The sampler's prior is now set in the transit's
durations, which the light curve measures (``fit.duration_log_jacobian``).
The least-squares covariance cannot see b's spread at b = 0, so with ``mcmc_steps=0`` the fit
says its errors understate.
"""

from __future__ import annotations

import numpy as np
from transit_helpers import demo_layout

from fluxion.core.transit.fit import duration_log_jacobian
from fluxion.core.transit.model import TransitShape, durations
from fluxion.core.transit.run import LEAST_SQUARES_GEOMETRY_NOTE, TransitParams, fit_transit

# Sampler draws: few, as each samples a posterior; the tolerances follow from N.
N_DRAWS = 16


def test_sampled_duration_and_mid_time_pulls_are_honest_in_the_demo_layout():
    layout = demo_layout()
    eph = layout.ephemeris()
    params = TransitParams(filter="V", mcmc_steps=1500, mcmc_burn=500)
    rng = np.random.default_rng(31)
    true_duration = layout.config.transit_duration / 60.0
    pulls = []
    for _ in range(N_DRAWS):
        r = fit_transit(layout.draw(rng), eph, params)
        pulls.append([(r.values["duration_h"] - true_duration) / r.errors["duration_h"],
                      (r.values["tmid"] - layout.tmid) / r.errors["tmid"]])  # fmt: skip
    pulls = np.asarray(pulls)
    median, width = np.median(pulls, axis=0), pulls.std(axis=0, ddof=1)
    # Standard errors of a median (1.25 / sqrt(N)) and of a standard deviation
    # (1 / sqrt(2 (N - 1))) of unit Gaussian pulls; 2.5 of them either way.
    assert np.all(np.abs(median) < 2.5 * 1.2533 / np.sqrt(N_DRAWS)), median
    band = 2.5 / np.sqrt(2.0 * (N_DRAWS - 1))
    assert np.all(np.abs(width - 1.0) < band), width


def test_least_squares_errors_with_free_geometry_say_they_understate():
    layout = demo_layout()
    rng = np.random.default_rng(5)
    data = layout.draw(rng)
    free = fit_transit(data, layout.ephemeris(), TransitParams(filter="V", mcmc_steps=0))
    assert LEAST_SQUARES_GEOMETRY_NOTE in free.notes
    archive = fit_transit(data, layout.ephemeris(geometry=True),
                          TransitParams(filter="V", mcmc_steps=0))  # fmt: skip
    assert LEAST_SQUARES_GEOMETRY_NOTE not in archive.notes


def test_duration_prior_is_the_geometric_mean_of_the_duration_jacobians():
    # Against the model's own durations (inclination route), by central differences:
    # sqrt(|dT14/da| |d(T14, T12)/d(a, b)|).
    for k, a, b in ((0.1, 22.0, 0.05), (0.1, 22.0, 0.65), (0.14, 10.5, 0.3), (0.1, 8.0, 0.85)):

        def contacts(a_rs: float, bb: float, k: float = k) -> np.ndarray:
            total, ingress = durations(TransitShape(0.0, k, a_rs, bb, 0.4, 0.2, 3.0))
            return np.array([total, ingress])

        h = 1e-5
        ja = (contacts(a + h * a, b) - contacts(a - h * a, b)) / (2 * h * a)
        jb = (contacts(a, b + h) - contacts(a, max(b - h, 0.0))) / (b + h - max(b - h, 0.0))
        expected = np.sqrt(abs(ja[0]) * abs(ja[0] * jb[1] - ja[1] * jb[0]))
        got = np.exp(duration_log_jacobian(TransitShape(0.0, k, a, b, 0.4, 0.2, 3.0)))
        assert abs(got / expected - 1.0) < 1e-3, (k, a, b, got, expected)
