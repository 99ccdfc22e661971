"""The field PSF model's analytic Jacobian, alone and in photutils' group fits."""

from __future__ import annotations

import numpy as np
from astropy.modeling.fitting import TRFLSQFitter
from photutils.psf import PSFPhotometry, SourceGrouper
from scipy.ndimage import map_coordinates, spline_filter

from fluxion.core.photometry.gridpsf.model import FieldPSFModel, spline_gradient
from fluxion.core.photometry.psf_fitter import GroupJacobianFitter
from fluxion.core.photometry.synthetic import field_shape_of
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (300, 400)


def _field():
    return field_shape_of(FieldPSF(SHAPE)).to_field(SHAPE)


def test_spline_value_is_scipys_and_its_gradient_its_slope():
    rng = np.random.default_rng(2)
    coeffs = spline_filter(rng.normal(size=(30, 30)), order=3)[4:24, 4:26]
    # Points inside, at the edges (mirrored coefficients) and outside (0).
    v = rng.uniform(-1.5, 20.5, 4000)
    u = rng.uniform(-1.5, 23.5, 4000)
    val, gu, gv = spline_gradient(coeffs, v, u)
    ref = map_coordinates(coeffs, [v, u], order=3, mode="constant", prefilter=False)
    np.testing.assert_allclose(val, ref, atol=1e-12)
    h = 1e-6
    inner = (u > h) & (u < 21 - h) & (v > h) & (v < 19 - h)
    slope_u = (spline_gradient(coeffs, v, u + h)[0] - spline_gradient(coeffs, v, u - h)[0]) / 2 / h
    slope_v = (spline_gradient(coeffs, v + h, u)[0] - spline_gradient(coeffs, v - h, u)[0]) / 2 / h
    np.testing.assert_allclose(gu[inner], slope_u[inner], atol=1e-6)
    np.testing.assert_allclose(gv[inner], slope_v[inner], atol=1e-6)


def test_field_model_derivatives_match_finite_differences():
    model = FieldPSFModel(_field(), radius=7.5)
    yy, xx = np.mgrid[240:255, 20:35].astype(float)  # a corner: the widest, elongated PSF
    params = (2.0e4, 27.3, 246.8)
    deriv = model.fit_deriv(xx, yy, *params)
    h = (1.0, 1e-4, 1e-4)
    for k in range(3):
        up, down = list(params), list(params)
        up[k] += h[k]
        down[k] -= h[k]
        slope = (model.evaluate(xx, yy, *up) - model.evaluate(xx, yy, *down)) / (2 * h[k])
        # The weights are bilinear on a mesh: their slope jumps at its lines.
        np.testing.assert_allclose(deriv[k], slope, atol=1e-5 * np.abs(slope).max())


def test_group_fits_with_the_analytic_jacobian_find_the_true_fluxes():
    """Blended pairs on noise: the fluxes' pulls against the truth, and the same as differences."""
    truth_psf = FieldPSF(SHAPE)
    field = _field()
    rng = np.random.default_rng(11)
    n_pairs, sky, read = 24, 100.0, 5.0
    # Keep the pairs apart: a grid of cells, one pair each.
    cx = 30 + 50 * (np.arange(n_pairs) % 7) + rng.uniform(0, 10, n_pairs)
    cy = 30 + 60 * (np.arange(n_pairs) // 7) + rng.uniform(0, 10, n_pairs)
    x = np.r_[cx, cx + rng.uniform(2.5, 4.0, n_pairs)]
    y = np.r_[cy, cy + rng.uniform(-1.0, 1.0, n_pairs)]
    flux = rng.uniform(5e3, 3e4, 2 * n_pairs)
    image = np.zeros(SHAPE)
    for xi, yi, fi in zip(x, y, flux, strict=True):
        c, r = int(round(xi)), int(round(yi))
        image[r - 10 : r + 11, c - 10 : c + 11] += fi * truth_psf.stamp(21, xi, yi)
    var = sky + image + read**2
    data = rng.poisson(sky + image).astype(float) + rng.normal(0, read, SHAPE) - sky
    init = {"x": x + rng.normal(0, 0.3, x.size), "y": y + rng.normal(0, 0.3, y.size)}

    def fit(fitter):
        phot = PSFPhotometry(
            FieldPSFModel(field, radius=7.5),
            15,
            grouper=SourceGrouper(min_separation=8.0),
            aperture_radius=4.0,
            fitter=fitter,
        )
        from astropy.table import Table

        return phot(data, error=np.sqrt(var), init_params=Table(init))

    ours, numeric = fit(GroupJacobianFitter()), fit(TRFLSQFitter())
    assert (np.asarray(ours["group_size"]) == 2).all()
    pull = (np.asarray(ours["flux_fit"]) - flux) / np.asarray(ours["flux_err"])
    assert abs(np.mean(pull)) < 3 / np.sqrt(pull.size)
    assert 0.7 < np.std(pull) < 1.3
    np.testing.assert_allclose(np.hypot(ours["x_fit"] - x, ours["y_fit"] - y) < 0.3, True)
    # The same minimum as the numerical Jacobian's, well within the noise.
    same = (np.asarray(ours["flux_fit"]) - np.asarray(numeric["flux_fit"])) / np.asarray(
        ours["flux_err"]
    )
    assert np.abs(same).max() < 0.05
