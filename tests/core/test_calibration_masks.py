"""Bad-pixel masks made faster stay the masks they were: hot pixels and a light's noise."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.calibration.masks import WarmPixels, _median, hot_pixels, pixel_noise


def test_warm_pixels_give_hot_pixels_for_any_floor():
    rng = np.random.default_rng(11)
    dark = rng.normal(20.0, 2.0, (200, 300))
    # A tail of warm pixels, some exactly on thresholds below.
    warm = rng.random(dark.shape) < 0.02
    dark[warm] += rng.exponential(40.0, warm.sum())
    dark[5, 5] = np.nan
    candidates = WarmPixels(dark, hot_sigma=8.0)
    median = candidates.median
    for floor in (0.0, 1.0, 16.0, 30.0, dark[warm][7] - median, 1e6):
        expected = np.flatnonzero(hot_pixels(dark, 8.0, floor).ravel())
        np.testing.assert_array_equal(candidates.hot(floor), expected)
    assert candidates.hot(0.0).size > 100
    assert candidates.hot(1e6).size == 0


@pytest.mark.parametrize("n", [19999, 20000, 20001, 261_121])
def test_median_is_numpys(n):
    rng = np.random.default_rng(n)
    for values in (
        rng.normal(0.0, 10.0, n),
        np.round(rng.normal(0.0, 2.0, n)),  # many ties on the middle
        rng.standard_cauchy(n),
        np.r_[np.zeros(n // 2), rng.random(n - n // 2)],
    ):
        assert _median(values.copy()) == np.median(values)


def test_pixel_noise_of_white_noise():
    rng = np.random.default_rng(5)
    image = rng.normal(1000.0, 12.0, (1024, 1024)).astype(np.float32)
    image[::97, ::89] = np.nan
    assert pixel_noise(image) == pytest.approx(12.0, rel=0.01)


def test_saturation_mask_grows_each_saturated_pixel_by_one():
    from scipy import ndimage

    from fluxion.core.calibration.masks import saturation_mask

    rng = np.random.default_rng(2)
    raw = rng.uniform(0.0, 60000.0, (64, 80)).astype(np.float32)
    raw[rng.random(raw.shape) < 0.01] = 65535.0
    raw[0, 0] = raw[63, 79] = raw[0, 40] = 65535.0  # corners and edges
    raw[10, 10] = np.nan
    expected = ndimage.binary_dilation(raw >= 65535.0, structure=np.ones((3, 3), bool))
    np.testing.assert_array_equal(saturation_mask(raw, 65535.0), expected)
    assert not saturation_mask(np.zeros((8, 8)), 1.0).any()
