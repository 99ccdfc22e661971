"""Photometry of an uncalibrated (raw) frame: slower to trust, never slow to run.

A raw simulated light carries the bias column pattern, dark current with hot
pixels and the flat's vignetting and dust, none of which the sky mesh
follows. The finder must not take that structure or the hot pixels for
stars (they once made 186 fake stars and 182 fake companions of a 256^2
light, and the PSF fits of them took 100-235 s).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.spatial import cKDTree

from fluxion.core.photometry import Photometry, PhotometryParams
from fluxion.core.photometry.detect import find_stars, frame_sky
from fluxion.core.photometry.synthetic import MoffatProfile
from fluxion.core.simulation.simulate import NightConfig, make_night


@pytest.fixture(scope="module")
def raw_light():
    """A raw 256^2 light, its stars on the frame with their ideal S/N, and its hot pixels."""
    night = make_night(NightConfig(n_frames=1, shape=(256, 256)))
    c = night.config
    data, _, truth = night.light(0)
    ny, nx = data.shape
    t = truth[(truth["x"] > 0) & (truth["x"] < nx - 1) & (truth["y"] > 0) & (truth["y"] < ny - 1)]
    # The S/N a PSF fit can reach: Poisson light + read noise, no pattern.
    expected = night.light_expected_electrons(0, raw=True)
    variance = expected + c.read_noise**2
    yy, xx = np.mgrid[0:ny, 0:nx]
    snr = np.empty(len(t))
    for k, star in enumerate(t):
        psf = MoffatProfile(float(star["fwhm"]), c.moffat_beta).value(
            xx - star["x"], yy - star["y"]
        )
        flux = star["flux"] * night.camera.flat[int(round(star["y"])), int(round(star["x"]))]
        snr[k] = flux * np.sqrt(np.sum(psf**2 / (variance + flux * psf)))
    hot = night.camera.hot_pixels & (night.camera.dark_current * c.exptime > 20 * c.read_noise)
    return data.astype(np.float64), np.c_[t["x"], t["y"]], snr, np.c_[np.nonzero(hot)[::-1]]


def _matches(found: np.ndarray, truth: np.ndarray, radius: float) -> np.ndarray:
    if len(found) == 0 or len(truth) == 0:
        return np.zeros(len(found), dtype=bool)
    d, _ = cKDTree(truth).query(found)
    return d < radius


def test_finder_on_a_raw_frame_finds_stars_not_pattern_or_hot_pixels(raw_light):
    data, stars, snr, hot = raw_light
    assert len(hot) >= 5  # the frame has hot pixels bright enough to matter
    sky = frame_sky(data)
    found = find_stars(data, sky, threshold=5.0, fwhm=3.0)
    xy = np.c_[found["x"], found["y"]]
    real = _matches(xy, stars, 1.5)
    # Before: 209 detections, 176 of them neither star nor hot pixel.
    assert (~real).sum() < 0.1 * len(found)
    assert not _matches(xy, hot, 1.0).any()
    bright = snr > 20
    assert _matches(stars[bright], xy, 1.5).mean() >= 0.9
    # The column pattern lifts the filtered sky's scatter well above white noise.
    assert found.meta["noise_scale"] > 1.5


def test_psf_photometry_of_a_raw_frame_is_fast_and_clean(raw_light):
    data, stars, snr, hot = raw_light
    start = time.perf_counter()
    table = Photometry(PhotometryParams(method="psf")).run(data).table
    elapsed = time.perf_counter() - start
    xy = np.c_[table["x"], table["y"]]
    real = _matches(xy, stars, 1.5)
    assert (~real).sum() < 0.1 * len(table)
    assert not _matches(xy, hot, 1.0).any()
    assert _matches(stars[snr > 20], xy, 1.5).mean() >= 0.9
    # Well under a second here; minutes when the pattern made fake stars.
    assert elapsed < 15.0
