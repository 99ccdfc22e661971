"""The curve of growth's interpolation of all stars at once: numpy's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.growth import interp_rows


def test_rows_interpolate_as_numpy_does_bit_for_bit():
    rng = np.random.default_rng(3)
    xp = np.sort(rng.uniform(1.0, 12.0, 20))
    fp = rng.normal(1e4, 3e3, (300, 20))
    # NaNs, infinities and flat stretches: numpy's special cases.
    fp[rng.random(fp.shape) < 0.05] = np.nan
    fp[rng.random(fp.shape) < 0.02] = np.inf
    fp[rng.random(fp.shape) < 0.02] = -np.inf
    fp[:20, 5:9] = 7.0
    fp[20:25, 5:9] = np.inf
    xs = np.concatenate([xp, rng.uniform(0.0, 13.0, 200), [xp[0] - 1, xp[-1] + 1]])
    for x in xs:
        expected = np.array([np.interp(x, xp, row) for row in fp])
        np.testing.assert_array_equal(interp_rows(float(x), xp, fp), expected)


def test_rows_must_match_the_knots():
    with pytest.raises(ValueError, match="column per xp"):
        interp_rows(1.0, np.arange(3.0), np.zeros((4, 5)))
