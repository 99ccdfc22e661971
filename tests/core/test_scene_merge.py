"""One star fitted as two: the pair test of the scene fitter (scene.merge)."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import build_design, psf_tables
from fluxion.core.photometry.scene.merge import merge_pairs
from fluxion.core.photometry.scene.records import STAMP_SIZES

SHAPE = (48, 48)
SKY, RN = 100.0, 5.0
TABLES = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)


def _image(x, y, flux, tables=TABLES) -> np.ndarray:
    x, y, flux = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, y, flux))
    d = build_design(tables, x, y, np.full(len(x), 31), SHAPE, derivatives=False)
    coef = np.zeros(d.n_columns)
    coef[d.col_of_star[:, 0]] = flux
    return d.image(coef)


def _draws(truth_image, fx, fy, ff, n: int, seed: int):
    """``n`` noisy images and :func:`merge_pairs` on the fitted pair (fx, fy, ff)."""
    fx, fy, ff = (np.asarray(v, dtype=np.float64) for v in (fx, fy, ff))
    var = SKY + RN**2 + truth_image
    fitted = _image(fx, fy, ff)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        noisy = truth_image + rng.normal(size=SHAPE) * np.sqrt(var)
        out.append(
            merge_pairs(
                noisy - fitted,
                1.0 / var,
                TABLES,
                fx,
                fy,
                fx,
                fy,
                ff,
                np.zeros(2, bool),
                radius=2.1,
            )
        )
    return out


def test_one_star_fitted_as_two_becomes_one_at_its_place():
    # S/N ~ 150: two halves 1.2 px apart, the second a false detection.
    truth = _image(23.3, 24.1, 20000.0)
    results = _draws(truth, [22.7, 23.9], [24.1, 24.1], [11000.0, 9000.0], 30, seed=1)
    merged = [r for r in results if r[0].sum() == 1]
    assert len(merged) >= 29
    for keep, x, y, flux in merged:
        (k,) = np.flatnonzero(keep)
        # The position bound is ~0.01 px at this S/N; the single star's
        # linearised step from the grid leaves a few hundredths.
        assert np.hypot(x[k] - 23.3, y[k] - 24.1) < 0.1
        assert abs(flux[k] - 20000.0) < 0.02 * 20000.0


def test_a_pair_of_stars_2_px_apart_stays_two():
    x, y, f = np.array([22.3, 24.3]), np.array([23.6, 23.6]), np.array([5000.0, 4000.0])
    results = _draws(_image(x, y, f), x, y, f, 30, seed=2)
    assert sum(r[0].all() for r in results) >= 29


def test_a_bright_star_the_psf_misfits_is_not_two():
    # The star's wings are wider than the PSF's (beta 2.5 against 3): the
    # misfit of its core and wings, which a second star 1.5 px off partly
    # absorbs, is not evidence of that second star.
    wide = psf_tables(analytic_psf("moffat", 3.5, beta=2.5), STAMP_SIZES)
    truth = _image(23.3, 24.1, 60000.0, wide)
    results = _draws(truth, [23.3, 24.8], [24.1, 24.1], [56000.0, 4000.0], 20, seed=3)
    assert sum(r[0].sum() == 1 for r in results) >= 18
