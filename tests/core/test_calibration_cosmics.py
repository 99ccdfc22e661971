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


@pytest.mark.parametrize("size", [5, 7, 9])
def test_screen_medians_are_astroscrappys(lights, size):
    from astroscrappy.utils import sepmedfilt5, sepmedfilt7, sepmedfilt9

    from fluxion.core.calibration.cosmics import _separable_medians

    image = lights[0][0][:60, :70].copy()
    theirs = {5: sepmedfilt5, 7: sepmedfilt7, 9: sepmedfilt9}[size](image)
    half = size // 2
    y, x = np.mgrid[10:50:7, 12:60:9]
    ours = _separable_medians(image, y.ravel(), x.ravel(), size, 3)
    # Every pixel within 3 px of each point, all away from the edges astroscrappy copies.
    for k, (yy, xx) in enumerate(zip(y.ravel(), x.ravel(), strict=True)):
        window = theirs[yy - 3 : yy + 4, xx - 3 : xx + 4]
        assert half < yy - 3 and yy + 3 < image.shape[0] - half
        np.testing.assert_array_equal(ours[k], window)


def test_screen_leaves_star_cores_out(lights):
    """Most candidates are hits: the search's cut-outs are not spent on stars."""
    image, ignore, sigma, night = lights[0]
    whole = _search(image, ignore, night, iterations=1, whole_frame=True)
    cores = core_candidates(
        image * np.float32(night.gain), ignore, night.read_noise, sigma_clip=4.5, object_limit=5.0
    )
    assert cores.any()
    # The screen applies astroscrappy's own tests: a candidate it does not flag
    # is one next to a masked pixel (astroscrappy grows its mask by one pixel).
    # The 2-D medians screened before let star cores through (0.90 flagged here).
    assert (cores & whole).sum() >= 0.97 * cores.sum()


def test_screen_laplacian_at_points_is_the_frames_and_its_bound_holds(lights):
    from fluxion.core.calibration.cosmics import _laplacian_at, _laplacian_bound

    image = lights[0][0] * np.float32(lights[0][3].gain)
    whole = laplacian_plus(image)
    padded = np.pad(image, 1, mode="edge")
    y, x = np.nonzero(np.ones(image.shape, bool))
    np.testing.assert_array_equal(_laplacian_at(padded, y, x).reshape(image.shape), whole)
    # The bound passes any positive threshold L+ passes (0.999: the rounding of
    # L+'s sum of four terms); where L+ is 0 it may be negative.
    bound = _laplacian_bound(padded)
    positive = whole > 0
    assert positive.sum() > 0.3 * whole.size
    assert np.all(bound[positive] >= 0.999 * whole[positive])


@pytest.mark.parametrize("size", [3, 5, 7, 9, 11])
def test_median_networks_select_numpys_median(size):
    """Every 0/1 input (a network that selects the median of those selects it of any
    input, the 0-1 principle), ties and float32 noise: np.median's values to the bit."""
    import itertools

    from fluxion.core.calibration.cosmics import _odd_median

    bits = np.array(list(itertools.product((0.0, 1.0), repeat=size)), np.float32)
    np.testing.assert_array_equal(_odd_median(bits), np.median(bits, axis=1))
    rng = np.random.default_rng(size)
    for values in (
        rng.integers(0, 4, (5000, size)).astype(np.float32),
        rng.normal(100.0, 10.0, (5000, size)).astype(np.float32),
    ):
        np.testing.assert_array_equal(_odd_median(values), np.median(values, axis=1))


@pytest.mark.parametrize("shape", [(50, 70), (9, 30), (8, 8), (3, 40), (17, 9)])
def test_padded_frames_are_numpys(shape):
    """The screen's padded frames, made in one write, are np.pad's to the bit (corners too)."""
    from fluxion.core.calibration.cosmics import _edge_pad_one, reflect_pad

    rng = np.random.default_rng(shape[0])
    image = rng.normal(size=shape).astype(np.float32)
    where = rng.random(shape) < 0.1
    for width in (1, 8):
        np.testing.assert_array_equal(
            reflect_pad(image, width), np.pad(image, width, mode="reflect")
        )
        np.testing.assert_array_equal(
            reflect_pad(where, width), np.pad(where, width, mode="reflect")
        )
        fill = np.float32(3.5)
        np.testing.assert_array_equal(
            reflect_pad(image, width, fill=fill, where=where),
            np.pad(np.where(where, fill, image), width, mode="reflect"),
        )
    gain = np.float32(1.7)
    np.testing.assert_array_equal(_edge_pad_one(image, gain), np.pad(image * gain, 1, mode="edge"))


def test_scratch_frames_are_kept_per_thread_and_remade_for_another_shape():
    import threading

    from fluxion.core.calibration.cosmics import scratch_frame

    first = scratch_frame("test", (30, 40), np.float32)
    assert scratch_frame("test", (30, 40), np.float32) is first
    other = scratch_frame("test", (31, 40), np.float32)
    assert other.shape == (31, 40) and other is not first
    assert scratch_frame("test", (31, 40), np.bool_).dtype == np.bool_
    seen = []
    worker = threading.Thread(target=lambda: seen.append(scratch_frame("test", (31, 40), bool)))
    worker.start()
    worker.join()
    assert seen[0] is not scratch_frame("test", (31, 40), bool)
