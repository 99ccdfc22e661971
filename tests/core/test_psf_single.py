"""The PSF method's batched pieces: field stamps a spline a star, single stars fitted at once."""

from __future__ import annotations

import numpy as np
from astropy.table import Table
from photutils.psf import PSFPhotometry

from fluxion.core.photometry.gridpsf.shift import field_stamps
from fluxion.core.photometry.psf import _model_of, _run, _table
from fluxion.core.photometry.psf_fitter import GroupJacobianFitter
from fluxion.core.photometry.psf_single import fit_single_stars, fits_here
from fluxion.core.photometry.synthetic import field_shape_of
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (300, 400)
SKY, READ = 100.0, 5.0


def _field():
    return field_shape_of(FieldPSF(SHAPE)).to_field(SHAPE)


def test_field_stamps_equal_the_sum_over_basis_images():
    field = _field()
    rng = np.random.default_rng(4)
    n = 400
    x, y = rng.uniform(-30, 430, n), rng.uniform(-30, 330, n)
    dx, dy = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
    dx[:3], dy[:3] = [-0.5, 0.5, 0.0], [0.5, -0.5, 0.0]
    for size in (15, field.size):
        c = field.coefficients(x, y)
        ref = sum(
            c[:, k, None, None] * field.basis_psf(k).stamps(size, dx, dy)
            for k in range(field.n_basis)
        )
        got = field_stamps(field, size, dx, dy, x, y)
        # Rounding only: the same spline, summed in another order.
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
        # The field's own stamps are these.
        np.testing.assert_allclose(
            field.stamps(size, dx, dy, x, y), ref, rtol=0, atol=1e-12 * np.abs(ref).max()
        )


def _stars(rng, field):
    """Isolated stars on a grid across the frame (corners included), with their noisy image."""
    truth = FieldPSF(SHAPE)
    gx, gy = np.meshgrid(np.arange(15.0, 390, 25), np.arange(15.0, 290, 25))
    x = gx.ravel() + rng.uniform(-0.5, 0.5, gx.size)
    y = gy.ravel() + rng.uniform(-0.5, 0.5, gx.size)
    flux = 10 ** rng.uniform(3.0, 4.5, x.size)
    image = np.zeros(SHAPE)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        c, r = int(round(xi)), int(round(yi))
        image[r - 10 : r + 11, c - 10 : c + 11] += fi * truth.stamp(21, xi, yi)
    var = SKY + image + READ**2
    data = rng.poisson(SKY + image).astype(float) + rng.normal(0, READ, SHAPE) - SKY
    return x, y, flux, data, np.sqrt(var)


def test_single_star_fits_are_photutils_fits_and_find_the_true_fluxes():
    field = _field()
    rng = np.random.default_rng(7)
    x, y, flux, data, error = _stars(rng, field)
    sx, sy = x + rng.normal(0, 0.3, x.size), y + rng.normal(0, 0.3, x.size)
    start = flux * rng.uniform(0.7, 1.3, x.size)
    assert fits_here(sx, sy, 15, SHAPE, np.zeros(SHAPE, dtype=bool)).all()
    for forced in (False, True):
        px, py = (x, y) if forced else (sx, sy)
        model = _model_of(field, forced, 15)
        phot = PSFPhotometry(
            model,
            15,
            aperture_radius=4.0,
            xy_bounds=None if forced else 2.0,
            group_warning_threshold=2**31,
            fitter=GroupJacobianFitter(),
        )
        init = Table({"x": px, "y": py, "flux": start, "group_id": np.arange(x.size) + 1})
        ref = _table(_run(phot, data, error, None, init), init if forced else None)
        got = fit_single_stars(data, error, model, px, py, start, 15, forced=forced)
        assert got.converged.all()
        ref_flux, ref_err = np.asarray(ref["flux"]), np.asarray(ref["flux_err"])
        # The same minimum: within a thousandth of the noise (the solvers' tolerances).
        assert np.max(np.abs(got.flux - ref_flux) / ref_err) < 1e-3
        np.testing.assert_allclose(got.flux_err, ref_err, rtol=1e-3)
        np.testing.assert_allclose(got.qfit, np.asarray(ref["qfit"]), rtol=1e-3)
        if not forced:
            # Positions: the solvers stop on chi^2 (ftol) for the faint ones.
            assert np.max(np.abs(got.x - ref["x"]) / got.x_err) < 0.05
            assert np.max(np.abs(got.y - ref["y"]) / got.y_err) < 0.05
            np.testing.assert_allclose(got.x_err, np.asarray(ref["x_err"]), rtol=1e-3)
        # Against the truth (the fitted PSF is the simulator's, sampled on a grid).
        pull = (got.flux - flux) / got.flux_err
        assert abs(np.mean(pull)) < 3 / np.sqrt(pull.size) + 0.1
        assert 0.7 < np.std(pull) < 1.3


def test_stars_at_the_edge_or_on_bad_pixels_are_left_to_photutils():
    bad = np.zeros(SHAPE, dtype=bool)
    bad[100, 200] = True
    x = np.array([3.0, 396.0, 50.0, 200.4, 207.4, 208.6])
    y = np.array([50.0, 50.0, 296.8, 100.0, 100.0, 100.0])
    # Off the frame's edges, on the bad pixel, 7 px (inside the 15 px box) and 8 px from it.
    np.testing.assert_array_equal(
        fits_here(x, y, 15, SHAPE, bad), [False, False, False, False, False, True]
    )
