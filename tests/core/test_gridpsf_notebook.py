"""The photutils PSF notebook's workflow on a grid Fluxion built from a frame and wrote.

The notebook reads an STPSF grid with ``GriddedPSFModel.read``, makes a model
image of stars with ``make_psf_model_image``, adds noise, fits it with
``PSFPhotometry`` (a star finder and a source grouper) and looks at the
residual image. Here the grid is Fluxion's own: built from a simulated frame
whose PSF changes across the field and written in the same FITS format.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fluxion.core.photometry.epsf import fit_analytic_psf
from fluxion.core.photometry.gridpsf import PSFField, choose_psf
from fluxion.core.photometry.gridpsf.io import write_psf_grid
from fluxion.core.photometry.synthetic import star_field
from fluxion.core.simulation.psf import FieldPSF

SHAPE = (480, 640)


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    """A grid Fluxion built from a frame's stars (held-out choice) and wrote to disk."""
    frame = star_field(
        SHAPE,
        260,
        seed=12,
        field_psf=FieldPSF(SHAPE),
        min_separation=20,
        border=12,
        flux_range=(3e3, 1e5),
    )
    data = frame.image * frame.gain - frame.sky
    rng = np.random.default_rng(1)
    pos = np.c_[frame.truth["x"], frame.truth["y"]] + rng.normal(0, 0.2, (len(frame.truth), 2))
    const, _ = fit_analytic_psf(data, pos, 3.0)
    choice = choose_psf(data, pos, const)
    assert isinstance(choice.psf, PSFField) and choice.psf.varies
    path = tmp_path_factory.mktemp("grid") / "fluxion_frame_psf_grid.fits"
    write_psf_grid(path, choice.psf, nodes=(4, 3), meta={"filter": "V"})
    return path


def test_notebook_workflow_on_a_fluxion_grid(grid_file):
    from photutils.datasets import make_noise_image
    from photutils.detection import IRAFStarFinder
    from photutils.psf import GriddedPSFModel, PSFPhotometry, SourceGrouper, make_psf_model_image

    # Read the grid.
    psf_model = GriddedPSFModel.read(grid_file)
    assert psf_model.data.shape[0] == 12
    assert tuple(psf_model.oversampling) == (4, 4)
    # A model image of stars (the notebook's call, smaller).
    data, true_params = make_psf_model_image(
        SHAPE, psf_model, 120, flux=(2000, 40000), min_separation=15, seed=0
    )
    # Noise: the stars' Poisson noise and a read noise of 5 (the notebook's
    # Gaussian noise image), and the error map the fit is weighted by.
    rng = np.random.default_rng(2)
    noisy = rng.poisson(np.maximum(data, 0)).astype(float)
    noisy += make_noise_image(SHAPE, mean=0.0, stddev=5.0, seed=0)
    sigma = np.sqrt(25.0 + data)
    # Fit with a finder and a grouper.
    finder = IRAFStarFinder(threshold=30.0, fwhm=3.0)
    grouper = SourceGrouper(min_separation=12)
    psfphot = PSFPhotometry(psf_model, (7, 7), finder=finder, grouper=grouper, aperture_radius=4)
    phot = psfphot(noisy, error=sigma)
    # Every star found, where it is, with its flux within its error.
    d, i = cKDTree(np.c_[phot["x_fit"], phot["y_fit"]]).query(
        np.c_[true_params["x_0"], true_params["y_0"]]
    )
    assert np.all(d < 0.2)
    assert np.max(phot["group_size"]) >= 1
    pull = (phot["flux_fit"][i] - true_params["flux"]) / phot["flux_err"][i]
    assert abs(np.median(pull)) < 0.3
    assert 0.75 < np.std(pull) < 1.3
    # The residual image: the stars are gone down to the noise.
    resid = psfphot.make_residual_image(noisy)
    chi = resid / sigma
    xi = np.round(true_params["x_0"]).astype(int)
    yi = np.round(true_params["y_0"]).astype(int)
    near = np.zeros(SHAPE, bool)
    for x, y in zip(xi, yi, strict=True):
        near[max(y - 3, 0) : y + 4, max(x - 3, 0) : x + 4] = True
    assert 0.8 < np.std(chi[near]) < 1.2
    # ... where the frame itself had stars many sigma above the noise.
    assert np.std((noisy / sigma)[near]) > 5
