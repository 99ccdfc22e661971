"""A light curve's target is never its own calibration star.

A transit host bright enough to weigh in its frame's zero point pulled the
zero point with it: the calibrated transit came out shallower by the host's
weight (10-20 % on the transit lesson's night).
"""

from __future__ import annotations

import numpy as np
import pytest
from test_zeropoint import SHAPE, _catalog, _frame

from fluxion.core.zeropoint import ZeroPoint, ZeroPointParams


def test_the_target_dims_without_moving_its_zero_point():
    rng = np.random.default_rng(4)
    catalog, truth = _catalog(rng, n=12)
    host = int(np.argmin(truth[:, 2]))  # the brightest star: the largest weight
    step = ZeroPoint(ZeroPointParams(intrinsic_scatter=False))
    sources = _frame(rng, truth, 22.0, scatter=0.0)
    dimmed = sources.copy()
    dimmed["flux"][host] *= 10 ** (-0.4 * 0.01)  # a 0.01 mag transit
    kw = dict(filter="V", image_shape=SHAPE)
    before = step(sources, catalog, exclude_rows=[host], **kw)
    during = step(dimmed, catalog, exclude_rows=[host], **kw)
    kept = dict(zip(before.stars["source_row"], before.stars["reason"], strict=True))
    assert kept[host] == "target"
    assert during.zero_point == pytest.approx(before.zero_point, abs=1e-12)
    depth = float(during.sources["mag"][host] - before.sources["mag"][host])
    assert depth == pytest.approx(0.01, abs=1e-9)
    # As a calibration star it takes part of its own eclipse into the zero point.
    used = step(dimmed, catalog, **kw)
    assert float(used.sources["mag"][host] - before.sources["mag"][host]) < 0.0095
