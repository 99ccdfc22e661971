"""ZOGY subtraction on synthetic pairs whose truth is known exactly."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import mad_std

from fluxion.core.simulation.psf import add_sources, psf_stamp
from fluxion.core.transients.zogy import ZogyInputs, psf_on_grid, zogy_subtract

SHAPE = (192, 192)
GRID = np.arange(-12, 13.0)


def _pair(rng, transient_flux: float, depth: float = 9.0):
    """A new frame (FWHM 3.4) and a reference `depth` frames deep (FWHM 2.8), in e-."""
    n = 120
    xs, ys = rng.uniform(0, SHAPE[1], n), rng.uniform(0, SHAPE[0], n)
    flux = 10 ** rng.uniform(2.5, 5.0, n)
    en = np.full(SHAPE, 1000.0)
    er = np.full(SHAPE, 1000.0 * depth)
    add_sources(en, xs, ys, flux, np.full(n, 3.4))
    add_sources(er, xs, ys, flux * depth, np.full(n, 2.8))
    add_sources(en, [96.3], [80.6], [transient_flux], [3.4])
    new = rng.poisson(en) + 7.0 * rng.standard_normal(SHAPE) - 1000.0
    ref = rng.poisson(er) + 7.0 * np.sqrt(depth) * rng.standard_normal(SHAPE) - 1000.0 * depth
    return ZogyInputs(
        new, ref, psf_stamp(GRID, GRID, 3.4), psf_stamp(GRID, GRID, 2.8),
        float(np.sqrt(1049.0)), float(np.sqrt(1000.0 * depth + 49.0 * depth)),
        1.0, depth, var_new=en + 49.0, var_ref=er + 49.0 * depth,
    )  # fmt: skip


def test_difference_is_white_unit_noise_and_flux_is_right():
    rng = np.random.default_rng(3)
    pulls, noise, score_noise = [], [], []
    for _ in range(6):
        z = _pair(rng, 3000.0)
        res = zogy_subtract(z)
        noise.append(mad_std(res.difference))
        score_noise.append(mad_std(res.score))
        f, e = res.flux(np.array([96.3]), np.array([80.6]))
        pulls.append((f[0] - 3000.0) / e[0])
    # Expected: unit variance where the background dominates (most pixels).
    assert 0.95 < np.median(noise) < 1.1
    assert 0.95 < np.median(score_noise) < 1.1
    assert abs(np.mean(pulls)) < 1.5
    assert res.psf_difference.sum() == pytest.approx(1.0)


def test_identical_sky_leaves_no_source_above_five_sigma():
    rng = np.random.default_rng(5)
    z = _pair(rng, 0.0)
    res = zogy_subtract(z)
    # 192^2 independent-ish pixels: a 5-sigma noise peak has a chance of ~1e-2.
    assert np.max(res.score[10:-10, 10:-10]) < 5.5
    f, e = res.flux(np.array([96.3]), np.array([80.6]))
    assert abs(f[0] / e[0]) < 4


def test_psf_on_grid_centres_at_origin():
    stamp = psf_stamp(GRID, GRID, 3.0)
    grid = psf_on_grid(stamp, (64, 64))
    assert grid.sum() == pytest.approx(1.0)
    assert np.unravel_index(np.argmax(grid), grid.shape) == (0, 0)
    with pytest.raises(ValueError, match="odd"):
        psf_on_grid(np.ones((4, 4)), (64, 64))
