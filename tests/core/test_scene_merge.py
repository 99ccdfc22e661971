"""One star fitted as two, two as three: the merge tests of the scene fitter (scene.merge)."""

from __future__ import annotations

import numpy as np
from photometry_helpers import scene_image

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.scene.design import PHASES, build_design, psf_tables
from fluxion.core.photometry.scene.merge import merge_pairs, merge_triples
from fluxion.core.photometry.scene.records import STAMP_SIZES, NoisyImage, PlacedStars

SHAPE = (48, 48)
SKY, RN = 100.0, 5.0
TABLES = psf_tables(analytic_psf("moffat", 3.5, beta=3.0), STAMP_SIZES)


def _image(x, y, flux, tables=TABLES) -> np.ndarray:
    return scene_image(tables, x, y, flux, SHAPE)


def _draws(truth_image, fx, fy, ff, n: int, seed: int, merge=merge_pairs):
    """``n`` noisy images and ``merge`` (:func:`merge_pairs`, :func:`merge_triples`) on the
    fitted stars (fx, fy, ff): (keep, x, y, flux[, changed]) of each."""
    fx, fy, ff = (np.asarray(v, dtype=np.float64) for v in (fx, fy, ff))
    var = SKY + RN**2 + truth_image
    fitted = _image(fx, fy, ff)
    rng = np.random.default_rng(seed)
    pinned = np.zeros(fx.size, bool)
    stars = PlacedStars(fx, fy, ff)
    out = []
    for _ in range(n):
        residual = truth_image + rng.normal(size=SHAPE) * np.sqrt(var) - fitted
        noisy = NoisyImage(residual, var, np.zeros(SHAPE, bool))
        keep, merged, *rest = merge(noisy, TABLES, stars, stars, pinned, radius=2.1)
        out.append((keep, merged.x, merged.y, merged.flux, *rest))
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


def test_two_bright_stars_fitted_as_three_become_two_at_their_places():
    # Case B seed 401: stars of 20895 and 30896 e- 1.9 px apart were fitted
    # as 25298 and 20908 e- stars 0.8 and 0.3 px from them and a 5486 e-
    # star between, 1.1 px from the nearer (a false detection).
    tx, ty, tf = np.array([22.9, 24.8]), np.array([23.4, 23.9]), np.array([20895.0, 30896.0])
    fits = _draws(
        _image(tx, ty, tf),
        [23.7, 25.1, 21.8],
        [23.5, 24.0, 23.5],
        [25298.0, 20908.0, 5486.0],
        30,
        4,
        merge=merge_triples,
    )
    merged = [r for r in fits if r[0].sum() == 2]
    assert len(merged) >= 29
    err = []
    sigma = _bound(tx, ty, tf)
    for keep, x, y, flux, changed in merged:
        k = np.flatnonzero(keep)
        assert changed[k].all()
        k = k[np.argsort(x[k])]
        err.append(np.c_[flux[k] - tf, x[k] - tx, y[k] - ty])
    # Errors against the pair's Cramér-Rao bound (sigma_flux 1400 e-, flux
    # and position trade off at 1.9 px; sigma_x 0.05-0.07 px): the refitted
    # places are the pair's own fit, not the three stars' compromise (which
    # sits 4-15 bounds off). The trial positions are the tables' 1/16 px
    # phases: the positions may be one phase step off beyond the noise.
    err = np.asarray(err)
    z = err[..., 0] / sigma[:, 0]
    assert np.all(np.abs(z) < 4.5)
    assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5
    assert np.all(np.abs(err[..., 1:]) < 4.5 * sigma[:, 1:] + 1.0 / PHASES)


def _bound(x, y, flux) -> np.ndarray:
    """Cramér-Rao errors (stars, 3) of flux, x and y of stars fitted together."""
    d = build_design(TABLES, x, y, np.full(len(x), 31), SHAPE, derivatives=True)
    var = (SKY + RN**2 + _image(x, y, flux)).ravel()
    a = np.stack([d.image(c).ravel() for c in np.eye(d.n_columns)], axis=1)
    cov = np.linalg.inv(a.T @ (a / var[:, None]))
    s = np.sqrt(np.diag(cov))[d.col_of_star]
    return s / np.c_[np.ones(len(x)), flux, flux]


def test_three_stars_2_px_apart_stay_three():
    # The third star is worth a chi-square of 56-115 over the best two
    # with their positions refitted (10-90 % of draws: 69-115).
    tx, ty = np.array([24.0, 26.0, 22.3]), np.array([24.0, 24.2, 25.0])
    tf = np.array([20000.0, 12000.0, 12000.0])
    fits = _draws(_image(tx, ty, tf), tx, ty, tf, 30, 5, merge=merge_triples)
    assert sum(r[0].all() and not r[4].any() for r in fits) >= 29
