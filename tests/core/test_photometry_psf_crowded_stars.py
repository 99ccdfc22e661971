"""PSF stars of a crowded field: stars with a neighbour, the neighbour masked where it dominates."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from photometry_helpers import add_stars

from fluxion.core.photometry.epsf import analytic_psf, fit_analytic_psf
from fluxion.core.photometry.psf_step import (
    _all_but_own,
    _neighbour_pixels,
    psf_star_positions,
)
from fluxion.core.photometry.synthetic import MoffatProfile

FWHM = 3.5


def test_crowded_psf_stars_follow_the_isolated_ones():
    # Brightest first: a star with a neighbour 2.5 FWHM away, one with a
    # neighbour 1.5 FWHM away, then an isolated one; the neighbours faint.
    x = np.array([100.0, 300.0, 500.0, 100.0 + 2.5 * FWHM, 300.0 + 1.5 * FWHM])
    y = np.full(5, 100.0)
    stars = Table({"x": x, "y": y, "flags": np.zeros(5, int), "peak": np.full(5, 1e3)})
    alone = psf_star_positions(stars, (200, 600), FWHM, 100.0, None, max_stars=10)
    np.testing.assert_array_equal(alone[:, 0], [500.0])
    both = psf_star_positions(stars, (200, 600), FWHM, 100.0, None, max_stars=10, crowded=2.0)
    # The isolated star first, then the one whose neighbour is beyond 2 FWHM
    # (and that neighbour, which has it as its own neighbour).
    np.testing.assert_array_equal(both[:, 0], [500.0, 100.0, 100.0 + 2.5 * FWHM])
    assert (
        len(psf_star_positions(stars, (200, 600), FWHM, 100.0, None, crowded=2.0, max_stars=1)) == 1
    )


def test_masking_the_neighbours_keeps_the_psf_true_when_their_model_is_off():
    # 40 PSF stars, each with an as bright neighbour 9 px away whose model
    # (the subtracted "neighbours") is drawn 10% too wide: the neighbour's
    # leftover light bends the PSF star's profile unless its pixels are masked.
    rng = np.random.default_rng(3)
    truth = MoffatProfile(fwhm=FWHM, beta=3.0)
    n = 40
    px = 40.0 + 60.0 * (np.arange(n) % 8) + rng.uniform(-0.5, 0.5, n)
    py = 40.0 + 60.0 * (np.arange(n) // 8) + rng.uniform(-0.5, 0.5, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    nx_, ny_ = px + 9.0 * np.cos(angle), py + 9.0 * np.sin(angle)
    flux = np.full(n, 3e4)
    sky = 100.0
    expected = np.full((340, 520), sky)
    add_stars(expected, truth, np.r_[px, nx_], np.r_[py, ny_], np.r_[flux, flux], size=41)
    image = rng.poisson(expected).astype(float)
    wide = analytic_psf("moffat", 1.1 * FWHM, beta=3.0)
    fx, fy, ff = np.r_[px, nx_], np.r_[py, ny_], np.r_[flux, flux]
    sky_sigma = np.sqrt(sky)
    neighbours, own, pos = _all_but_own(image.shape, wide, fx, fy, ff, np.c_[px, py], sky_sigma)
    assert len(pos) == n
    data = image - sky - neighbours
    mask = _neighbour_pixels(neighbours, own, sky_sigma)
    # The star's core is its own: no pixel within 2 px of it is masked.
    ys, xs = np.nonzero(mask)
    d = np.hypot(xs[:, None] - px[None, :], ys[:, None] - py[None, :]).min(axis=1)
    assert mask.any() and d.min() > 2.0
    masked, _ = fit_analytic_psf(data, pos, FWHM, mask=mask)
    unmasked, _ = fit_analytic_psf(data, pos, FWHM, mask=np.zeros_like(mask))
    # With the mask, FWHM and beta as the truth within what 40 stars of 3e4
    # e- allow; without it the over-subtracted wings pull them off.
    assert abs(masked.fwhm / FWHM - 1) < 0.01, masked.fwhm
    assert abs(masked.moffat_beta - 3.0) < 0.06, masked.moffat_beta
    off_masked = abs(masked.moffat_beta - 3.0) + 10 * abs(masked.fwhm / FWHM - 1)
    off_unmasked = abs(unmasked.moffat_beta - 3.0) + 10 * abs(unmasked.fwhm / FWHM - 1)
    assert off_unmasked > 2 * off_masked, (unmasked.fwhm, unmasked.moffat_beta)
