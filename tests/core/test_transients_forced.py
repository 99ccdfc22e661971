"""Forced photometry at a fixed position: honest errors and correct upper limits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom, norm

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.simulation.psf import add_sources
from fluxion.core.transients.forced import ForcedParams, forced_photometry

SKY, READ, GAIN, FWHM, ZP = 800.0, 7.0, 1.0, 3.0, 25.0
SHAPE = (48, 48)
TRIALS = 300


def _draws(flux: float, rng, n_sigma: float = 3.0, trials: int = TRIALS):
    psf = analytic_psf("moffat", FWHM, beta=3.0, size=31)
    out = []
    for _ in range(trials):
        image = np.full(SHAPE, SKY)
        x, y = 24 + rng.uniform(-0.5, 0.5), 24 + rng.uniform(-0.5, 0.5)
        add_sources(image, [x], [y], [flux], [FWHM])
        data = rng.poisson(image) + READ * rng.standard_normal(SHAPE)
        t = forced_photometry(
            data, np.array([[x, y]]), psf, gain=GAIN, zero_point=ZP,
            params=ForcedParams(n_sigma=n_sigma),
        )  # fmt: skip
        out.append((t["flux"][0], t["flux_err"][0], t["detected"][0], t["limit_mag"][0]))
    return np.array(out, dtype=float)


@pytest.mark.parametrize("flux", [0.0, 600.0, 20000.0])
def test_flux_errors_are_honest(flux):
    r = _draws(flux, np.random.default_rng(int(flux) + 1))
    pull = (r[:, 0] - flux) / r[:, 1]
    assert abs(np.mean(pull)) < 4 / np.sqrt(TRIALS)  # unbiased at zero flux too
    assert 0.88 < np.std(pull) < 1.12


def test_upper_limits_are_correct():
    """A source at the limit is found half the time; one below it almost never.

    With detection and limit both at n sigma, a source ``dm`` mag fainter than
    the limit has S/N ``n 10**(-0.4 dm)``: below ``n - 1.645`` it is missed
    95% of the time. For n = 3 that is 0.86 mag below the limit.
    """
    rng = np.random.default_rng(7)
    n = 3.0
    limit = float(np.median(_draws(0.0, rng, n, 60)[:, 3]))
    at = _draws(10 ** (-0.4 * (limit - ZP)), rng, n)
    lo, hi = binom.ppf([0.001, 0.999], TRIALS, 0.5) / TRIALS
    assert lo <= at[:, 2].mean() <= hi
    dm = 2.5 * np.log10(n / (n - norm.isf(0.05)))
    below = _draws(10 ** (-0.4 * (limit + dm + 0.05 - ZP)), rng, n)
    # Missed at least 95% of the time: no more detections than a 5% rate gives
    # in 999 samples out of 1000.
    assert below[:, 2].sum() <= binom.ppf(0.999, TRIALS, 0.05)
    nothing = _draws(0.0, rng, n)
    assert nothing[:, 2].sum() <= binom.ppf(0.999, TRIALS, norm.sf(n))


def test_off_frame_and_masked_positions_are_said():
    psf = analytic_psf("moffat", FWHM, beta=3.0, size=31)
    image = np.random.default_rng(0).normal(SKY, 30.0, SHAPE)
    mask = np.zeros(SHAPE, bool)
    mask[20:28, 20:28] = True
    mask[0:16, 0:16] = True
    t = forced_photometry(
        image, np.array([[-80.0, 10.0], [24.0, 24.0], [7.0, 7.0]]), psf, mask=mask
    )
    assert t["flags"][0] & 1 and not np.isfinite(t["flux"][0])
    assert t["flags"][1] == 2 and np.isfinite(t["flux"][1])  # partly masked: measured, said
    assert t["flags"][2] & 1 and not np.isfinite(t["flux"][2])
