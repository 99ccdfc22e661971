"""The scene's LSQR solve against dense least squares, with the design's rows compacted or not."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import COMPACT_BELOW, build_design, psf_tables
from fluxion.core.photometry.scene.normal import normal_matrix, solve_normal
from fluxion.core.photometry.scene.records import STAMP_SIZES, Solver


@pytest.mark.parametrize("side", [32, 48])
def test_solve_matches_dense_least_squares(side):
    # 3 x 3 stars of 11 px stamps 12 px apart: they cover 88% of a 32 px
    # frame (rows are the image's pixels, some empty), 47% of a 48 px one
    # (rows are the covered pixels only).
    shape = (side, side)
    tables = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)
    g = side / 2 - 0.7 + 12.0 * np.array([-1.0, 0.0, 1.0])
    x, y = (a.ravel() for a in np.meshgrid(g, g + 0.2))
    design = build_design(tables, x, y, np.full(9, 11), shape, derivatives=False)
    rng = np.random.default_rng(3)
    truth = rng.uniform(500, 5000, 9)
    model = design.image(truth)
    data = model + rng.normal(0, 5.0, shape)
    sqrt_w = rng.uniform(0.1, 0.3, shape)
    covered = np.zeros(shape[0] * shape[1], bool)
    covered[design.rows] = True
    assert (covered.mean() > COMPACT_BELOW) == (side == 32)
    coef, _ = Solver(1e-12).solve(design, data, sqrt_w, np.zeros(9), iter_lim=500)
    dense = np.stack([design.image(np.eye(9)[k]).ravel() for k in range(9)], axis=1)
    w = sqrt_w.ravel()
    expect, *_ = np.linalg.lstsq(dense * w[:, None], data.ravel() * w, rcond=None)
    # LSQR runs in single precision: agreement to ~1e-5 of each flux.
    np.testing.assert_allclose(coef, expect, rtol=2e-4)


@pytest.mark.parametrize("derivatives", [False, True])
def test_normal_equations_match_dense_least_squares(derivatives):
    # Stamps of every size, some reaching past the frame's edges, and
    # derivative columns (15 px) on a third of the stars.
    shape = (120, 100)
    tables = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)
    rng = np.random.default_rng(5)
    n = 60
    x, y = rng.uniform(-4, 104, n), rng.uniform(-4, 124, n)
    sizes = rng.choice(STAMP_SIZES, n, p=[0.5, 0.3, 0.15, 0.05])
    deriv = rng.uniform(size=n) < 0.3 if derivatives else False
    design = build_design(tables, x, y, sizes, shape, derivatives=deriv)
    sqrt_w = rng.uniform(0.1, 0.3, shape)
    sqrt_w[50:60, 40:45] = 0.0  # pixels without weight
    v, norm = design.unit_columns(sqrt_w)
    mat, _, _ = design.weighted(sqrt_w, np.float64)
    gram = normal_matrix(design, v).toarray()
    # The same products as scipy's, summed in another order.
    np.testing.assert_allclose(gram, (mat.T @ mat).toarray(), rtol=0, atol=1e-9)
    truth = rng.uniform(500, 5000, design.n_columns)
    data = design.image(truth) + rng.normal(0, 5.0, shape)
    coef, norm2 = solve_normal(design, data, sqrt_w, np.zeros(design.n_columns))
    np.testing.assert_array_equal(norm, norm2)
    dense = np.stack(
        [design.image(np.eye(design.n_columns)[k]).ravel() for k in range(design.n_columns)], 1
    )
    w = sqrt_w.ravel()
    expect, *_ = np.linalg.lstsq(dense * w[:, None], data.ravel() * w, rcond=None)
    # Exact up to the float32 stamps: far below each coefficient's error (1 / norm).
    assert np.max(np.abs(coef - expect) * norm) < 1e-4
