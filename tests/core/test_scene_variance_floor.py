"""The crowded fitter's variance floor: frames whose noise model gives a pixel no variance."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import mad_std
from scipy.spatial import cKDTree

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.scene.records import SceneFrame, variance_floor
from fluxion.core.photometry.synthetic import star_field


def test_floor_is_the_digitisation_on_an_empty_noiseless_frame():
    img = np.zeros((128, 128))
    floor = variance_floor(img, np.zeros(img.shape, bool), NoiseModel(2.0, 0.0))
    assert floor == pytest.approx(4.0 / 12.0)
    frame = SceneFrame.of(img, NoiseModel(2.0, 0.0), None, None, 1e-4)
    assert frame.variance(np.full(img.shape, -1.0)).min() == pytest.approx(4.0 / 12.0)
    assert frame.sigma_sky(np.zeros(img.shape)) == pytest.approx(np.sqrt(4.0 / 12.0))


def test_floor_stays_under_a_right_noise_model():
    # Sky 100 e- and read noise 5 e-: every pixel's model variance is >= 125.
    # The floor is a quarter of the measured 125 (stars raise the measure a
    # little), so it changes no pixel's variance even at case B's density.
    for n_stars, seed in ((30, 7), (320, 8)):
        field = star_field((256, 256), n_stars, seed=seed, sky=100.0, read_noise=5.0)
        noise = NoiseModel(1.0, 5.0)
        floor = variance_floor(field.image, np.zeros(field.image.shape, bool), noise)
        assert 0.9 * 125.0 / 4.0 < floor < 125.0 / 2.0
        frame = SceneFrame.of(field.image, noise, None, None, 1e-4)
        model = np.full(field.image.shape, 100.0)
        np.testing.assert_array_equal(frame.variance(model), noise.variance(model))


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_zero_sky_zero_read_noise_frame_fits_with_honest_pulls():
    # Poisson light of the stars alone: away from them every pixel is 0 e-,
    # and a model <= 0 there had variance 0 (infinite weight, 0/0 chi).
    field = star_field(
        (256, 256), 120, seed=31, sky=0.0, read_noise=0.0, gain=1.0, flux_range=(300.0, 1e5)
    )
    res = Photometry(PhotometryParams(method="crowded")).run(field.image, gain=1.0, read_noise=0.0)
    assert np.isfinite(res.residual).all()
    t, truth = res.table, field.truth
    d, i = cKDTree(np.c_[t["x"], t["y"]]).query(np.c_[truth["x"], truth["y"]])
    found = d < 1.0
    assert found.mean() >= 0.95
    pull = (t["flux"][i[found]] - truth["flux"][found]) / t["flux_err"][i[found]]
    assert np.isfinite(pull).all()
    assert 0.8 <= mad_std(pull) <= 1.2
    assert abs(np.median(pull)) < 0.2
