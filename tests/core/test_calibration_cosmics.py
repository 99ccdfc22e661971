"""Cosmic rays searched near possible cores: the whole-frame search's mask, at less cost."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.calibration.cosmics import core_candidates, laplacian_plus
from fluxion.core.calibration.masks import cosmic_rays, saturation_mask
from fluxion.core.simulation.simulate import NightConfig, make_night

CONFIG = NightConfig(
    seed=5, n_frames=2, shape=(384, 384), n_bias=0, n_dark=0, n_flat=0, cosmic_ray_rate=300.0
)


@pytest.fixture(scope="module")
def lights():
    night = make_night(CONFIG)
    out = []
    for i in range(CONFIG.n_frames):
        data, _, _ = night.light(i)
        image = data.astype(np.float32) - np.float32(CONFIG.bias_level)
        expected = night.light_expected_electrons(i, raw=True)
        sigma = (image * night.gain - expected) / np.sqrt(expected + night.read_noise**2)
        out.append((image, saturation_mask(data, CONFIG.saturation), sigma, night))
    return out


def _search(image, ignore, night, **kw):
    return cosmic_rays(
        image, gain=night.gain, read_noise=night.read_noise,
        saturation=CONFIG.saturation * night.gain, ignore=ignore, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("passes", [1, 2])
def test_near_cores_gives_the_whole_frame_mask(lights, passes):
    for image, ignore, sigma, night in lights:
        near = _search(image, ignore, night, iterations=passes)
        whole = _search(image, ignore, night, iterations=passes, whole_frame=True)
        strong = (sigma > 10) & ~ignore
        assert strong.sum() > 100  # the hits are there to be found
        assert (near & strong).sum() / strong.sum() > 0.97
        # The cut-outs see what the whole frame's filters see: at most a
        # handful of grown edge pixels differ (none on these frames at the
        # time of writing; a cut-out's own fill value for cleaning may move one).
        assert (near ^ whole).sum() <= max(3, 0.005 * whole.sum())


def test_laplacian_is_that_of_the_subsampled_frame():
    rng = np.random.default_rng(3)
    image = rng.normal(100, 10, (20, 24)).astype(np.float32)
    # L.A.Cosmic's own recipe: subsample 2x, Laplacian, clip at 0, rebin.
    sub = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    padded = np.pad(sub, 1, mode="edge")
    lap = 4 * sub - padded[:-2, 1:-1] - padded[2:, 1:-1] - padded[1:-1, :-2] - padded[1:-1, 2:]
    expected = np.maximum(lap, 0).reshape(20, 2, 24, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(laplacian_plus(image), expected, rtol=1e-5, atol=1e-3)


def test_screen_keeps_the_hits_and_few_stars(lights):
    image, ignore, sigma, night = lights[0]
    whole = _search(image, ignore, night, iterations=1, whole_frame=True)
    cores = core_candidates(
        image * np.float32(night.gain), ignore, night.read_noise, sigma_clip=4.5, object_limit=5.0
    )
    # Every hit is within reach of a candidate core, and the screen leaves
    # a small part of the frame to search.
    from scipy import ndimage

    reach = ndimage.binary_dilation(cores, np.ones((3, 3), bool), iterations=2)
    assert not (whole & ~reach).any()
    assert cores.sum() < 0.01 * cores.size
