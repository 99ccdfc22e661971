"""The matchers' false-alarm tails equal scipy.stats' over the ranges they use.

The asterism matcher's binomial tail and the few-star registration's Poisson
tail are computed with scipy.special (scipy.stats is too heavy an import for a
worker process's start-up); their numbers, and so every accept / reject
decision, must be scipy.stats' own.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom, poisson

from fluxion.core.astrometry.matching import _log10_false_alarm, _log_binomial_tail
from fluxion.core.registration.fewstars import MAX_SHIFT_FALSE_ALARM, _poisson_tail

# Far below any decision's margin (the thresholds are powers of ten), far above
# the last bits of the logarithm on any CPU.
RTOL = 1e-12


def _close(a: float, b: float) -> bool:
    if math.isinf(b):
        return a == b
    return abs(a - b) <= RTOL * max(abs(b), 1e-300)


def test_binomial_tail_is_scipy_stats_over_the_matchers_range() -> None:
    # The matcher: n sources (a handful to a few thousand), k of them matched,
    # p the chance that a source lands near a catalogue star (1e-7 .. 0.9).
    rng = np.random.default_rng(15)
    n = np.concatenate([np.arange(1, 60), rng.integers(60, 4000, 400)])
    cases = []
    for nn in n:
        for k in {1, 2, int(nn), int(rng.integers(1, nn + 1))}:
            p = float(np.exp(rng.uniform(math.log(1e-7), math.log(0.9))))
            cases.append((k, int(nn), p))
    cases += [(1, 1, 1e-300), (3, 3, 1.0), (5, 4, 0.5), (7, 20, 0.0), (7, 20, 1.0)]
    bad = [
        (k, nn, p)
        for k, nn, p in cases
        if not _close(_log_binomial_tail(k, nn, p), float(binom.logsf(k - 1, nn, p)))
    ]
    assert not bad, bad[:5]


def test_false_alarm_decisions_are_scipy_stats() -> None:
    # A 2048 px field with 60 catalogue stars; the matched counts cross the
    # matcher's -6 threshold (log10) in the middle of the range.
    rng = np.random.default_rng(16)
    xy = rng.uniform(0, 2048, (200, 2))
    plane = rng.uniform(0, 2048, (60, 2))
    affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    crossings = 0
    for n_match in range(1, 60):
        got = _log10_false_alarm(xy, plane, affine, n_match, 6.0, 2048.0, 2048.0)
        density = 60 / 2048.0**2
        p = 1.0 - math.exp(-density * math.pi * 36.0)
        want = float(binom.logsf(n_match - 1, 200, p)) / math.log(10)
        assert _close(got, want)
        assert (got > -6.0) == (want > -6.0)
        crossings += got <= -6.0
    assert 0 < crossings < 59  # the range does cross the threshold


def test_poisson_tail_is_scipy_stats() -> None:
    rng = np.random.default_rng(17)
    for _ in range(1000):
        k = int(rng.integers(0, 60))
        mu = float(np.exp(rng.uniform(math.log(1e-9), math.log(50.0))))
        want = float(poisson.sf(k - 1, mu))
        got = _poisson_tail(k, mu)
        assert _close(got, want), (k, mu, got, want)
        assert (got > MAX_SHIFT_FALSE_ALARM) == (want > MAX_SHIFT_FALSE_ALARM)
    assert _poisson_tail(0, 3.0) == 1.0 == float(poisson.sf(-1, 3.0))
    assert _poisson_tail(4, 0.0) == 0.0 == float(poisson.sf(3, 0.0))
