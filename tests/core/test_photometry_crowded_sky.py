"""The scene fitter's mesh sky: quiet on a flat sky, following real structure."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.scene.sky import mesh_sky
from fluxion.core.photometry.synthetic import star_field

RN = 5.0


def _frame(truth: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(truth) + rng.normal(0.0, RN, truth.shape)


@pytest.mark.parametrize("seed", [0, 1])
def test_flat_sky_is_smoothed_far_below_one_cells_noise(seed):
    img = _frame(np.full((512, 512), 100.0), seed)
    sky = mesh_sky(img, np.zeros(img.shape, bool), 20)
    # One 20 px cell's clipped mean scatters by 11.2 / 20 = 0.56 e-, the
    # 3 x 3 median of cells by ~0.21 (the previous mesh: 0.20-0.24 rms);
    # smoothed over the flat sky: 0.02-0.05.
    assert np.std(sky) < 0.08
    assert np.mean(sky) == pytest.approx(100.0, abs=0.1)


def test_sky_structure_is_followed_and_masked_cells_filled_from_their_rim():
    yy, xx = np.mgrid[:512, :512]
    # A 30 e- glow of 50 px sigma on a gradient: smoothing it over the
    # widest scale (120 px) would leave errors of ~10 e-.
    glow = 100 + 0.02 * xx + 30 * np.exp(-((xx - 300) ** 2 + (yy - 250) ** 2) / (2 * 50.0**2))
    sky = mesh_sky(_frame(glow, 2), np.zeros(glow.shape, bool), 20)
    assert np.std(sky - glow) < 0.7  # 0.51-0.53 (the previous mesh: 0.49-0.51)
    assert np.abs(sky - glow).max() < 4.5  # the 3 x 3 median clips the peak by ~4
    # A 100 px masked block near the corner of a steep gradient (25 e- across
    # the frame): filled from the cells around it, not the frame's median
    # (the previous mesh: 17 e- off).
    grad = 100 + 0.05 * xx + 0.03 * yy
    img = _frame(grad, 3)
    mask = np.zeros(img.shape, bool)
    mask[380:480, 380:480] = True
    img[mask] = 1e6
    sky = mesh_sky(img, mask, 20)
    assert np.abs(sky - grad)[mask].max() < 3.0  # 1.6-2.1
    assert np.std((sky - grad)[~mask]) < 0.45  # 0.28-0.34 (previous: 0.50-0.55)


def test_scene_sky_of_a_flat_field_is_quiet():
    # Every star detectable (>= 1000 e-): the sky is flat but for the
    # unresolved wings, and the scene's final sky should be nearly so.
    gain = 1.5
    field = star_field((256, 256), 260, seed=22, gain=gain, read_noise=RN, flux_range=(1e3, 1e5))
    res = Photometry(PhotometryParams(method="crowded")).run(field.image, gain=gain, read_noise=RN)
    # 0.07 e- rms (the 3 x 3 median of 20 px cells: 0.22).
    assert np.std(res.sky - field.sky) < 0.12
    assert np.median(res.sky) == pytest.approx(field.sky, abs=0.5)
