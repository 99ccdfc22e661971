"""The scene's LSQR solve against dense least squares, with the design's rows compacted or not."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.records import STAMP_SIZES, Solver


@pytest.mark.parametrize("spacing", [10.0, 14.0])
def test_solve_matches_dense_least_squares(spacing):
    # 3 x 3 stars of 11 px stamps: 10 px apart they cover 94% of the frame
    # (rows are the image's pixels, some empty), 14 px apart 62% (rows
    # are the covered pixels only).
    shape = (32, 32)
    tables = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)
    g = 15.3 + spacing * np.array([-1.0, 0.0, 1.0])
    x, y = (a.ravel() for a in np.meshgrid(g, g + 0.2))
    design = build_design(tables, x, y, np.full(9, 11), shape, derivatives=False)
    rng = np.random.default_rng(3)
    truth = rng.uniform(500, 5000, 9)
    model = design.image(truth)
    data = model + rng.normal(0, 5.0, shape)
    sqrt_w = rng.uniform(0.1, 0.3, shape)
    covered = np.zeros(shape[0] * shape[1], bool)
    covered[design.rows] = True
    assert (covered.mean() > 0.9) == (spacing == 10.0)
    coef, _ = Solver(1e-12).solve(design, data, sqrt_w, np.zeros(9), iter_lim=500)
    dense = np.stack([design.image(np.eye(9)[k]).ravel() for k in range(9)], axis=1)
    w = sqrt_w.ravel()
    expect, *_ = np.linalg.lstsq(dense * w[:, None], data.ravel() * w, rcond=None)
    # LSQR runs in single precision: agreement to ~1e-5 of each flux.
    np.testing.assert_allclose(coef, expect, rtol=2e-4)
