"""Rows of the PSF method that converge onto one star are merged before the neighbour passes."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from photometry_helpers import add_stars

from fluxion.core.photometry.epsf import analytic_psf
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.psf import fit_psf_photometry
from fluxion.core.photometry.psf_step import MERGE_RADIUS, distinct_rows
from fluxion.core.photometry.synthetic import MoffatProfile, star_field

RN = 5.0


def test_distinct_rows_drops_later_rows_on_an_earlier_one():
    t = Table({"x": [10.0, 30.0, 10.3, 30.1, np.nan, 50.0], "y": [10.0, 5.0, 10.0, 5.1, 1.0, 5.0]})
    fwhm = 3.0  # merge radius 0.6 px
    assert MERGE_RADIUS * fwhm > 0.3
    np.testing.assert_array_equal(distinct_rows(t, None, fwhm), [0, 1, 4, 5])
    # The caller's rows stay whatever their place; only later ones go.
    np.testing.assert_array_equal(distinct_rows(t, 3, fwhm), [0, 1, 2, 4, 5])
    np.testing.assert_array_equal(distinct_rows(t, 6, fwhm), np.arange(6))


def test_a_star_fitted_twice_is_fitted_once_after_the_merge():
    # Three rows on one star, each its own group: every neighbour pass fits
    # each on the frame less the others' last models, and their fluxes run
    # away from the truth. Merged, the star and its neighbour come back
    # within the noise of the truth.
    f = star_field((96, 96), 0, seed=1)
    rng = np.random.default_rng(3)
    expected = np.full((96, 96), f.sky)
    tx, ty, tf = np.array([40.25, 52.5]), np.array([48.0, 45.75]), np.array([2e4, 1e4])
    add_stars(expected, MoffatProfile(), tx, ty, tf)
    image = rng.poisson(expected) + rng.normal(0.0, RN, expected.shape)
    psf = analytic_psf("moffat", 3.5)
    kw = dict(sky=f.sky, noise=NoiseModel(1.0, RN), group_distance=0.0)
    bound = f.bound(tf).sigma_flux
    pos = np.c_[np.r_[tx, tx[0] + 0.05, tx[0] - 0.05], np.r_[ty, ty[0], ty[0] + 0.05]]
    dup = fit_psf_photometry(image, pos, psf, neighbour_passes=4, **kw).table
    z_dup = (np.asarray(dup["flux"])[[0, 2, 3]] - tf[0]) / bound[0]
    assert np.abs(z_dup).max() > 20.0, z_dup
    keep = distinct_rows(dup, None, psf.fwhm)
    np.testing.assert_array_equal(keep, [0, 1])
    t = fit_psf_photometry(image, pos[keep], psf, start=dup[keep], **kw).table
    z = (np.asarray(t["flux"]) - tf) / bound
    assert np.all(np.abs(z) < 4.0), z
