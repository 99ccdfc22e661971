"""The photometry step's own star finder and FWHM against simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.detect import find_stars, frame_sky, measure_fwhm, residual_sky
from fluxion.core.photometry.synthetic import MoffatProfile, star_field


@pytest.mark.parametrize(("fwhm", "beta"), [(3.5, 3.0), (2.5, 2.5), (5.0, 4.0)])
def test_fwhm_of_moffat_stars(fwhm, beta):
    # A Gaussian fit reads a beta = 3 Moffat's FWHM 13% high (3.97 px for 3.5).
    f = star_field(
        (384, 384), 120, seed=3, profile=MoffatProfile(fwhm, beta), flux_range=(1e3, 1e5)
    )
    sky = frame_sky(f.image)
    stars = find_stars(f.image, sky, fwhm=3.0)
    assert measure_fwhm(f.image, sky, stars) == pytest.approx(fwhm, rel=0.03)


@pytest.mark.parametrize("fwhm", [2.0, 5.0])
def test_fwhm_does_not_depend_on_the_guess(fwhm):
    # The stacked fit's cutouts follow its own FWHM, not the guess: guesses
    # of 2 and 8 px land on the truth alike.
    f = star_field((384, 384), 120, seed=5, profile=MoffatProfile(fwhm, 3.0), flux_range=(1e3, 1e5))
    sky = frame_sky(f.image)
    stars = find_stars(f.image, sky, fwhm=3.0)
    for guess in (2.0, 8.0):
        assert measure_fwhm(f.image, sky, stars, guess=guess) == pytest.approx(fwhm, rel=0.03)


def test_fwhm_of_an_empty_frame_is_nan():
    f = star_field((64, 64), 0, seed=1)
    sky = frame_sky(f.image)
    assert np.isnan(measure_fwhm(f.image, sky, find_stars(f.image, sky)))


def test_sky_of_the_residual_is_unbiased_and_smooth():
    # With the stars subtracted, the clipped-mean sky sits on the true sky
    # (sep's mode of the frame itself scatters several times more about it).
    from fluxion.core.photometry.epsf import analytic_psf
    from fluxion.core.photometry.psf import render_stars

    f = star_field((512, 512), 250, seed=8)
    t = f.truth
    model = render_stars(
        f.image.shape, analytic_psf("moffat", 3.5), t["x"], t["y"], t["flux"], sky_sigma=11.0
    )
    sky = residual_sky(f.image - model)
    assert abs(float(np.mean(sky)) - f.sky) < 0.05
    assert float(np.std(sky)) < 0.12
    framewise = frame_sky(f.image).level
    assert float(np.std(sky)) < 0.6 * float(np.std(framewise))


@pytest.mark.parametrize("fwhm", [0.8, 1.7, 3.5, 7.2])
def test_significance_from_stamps_is_the_whole_frames(fwhm):
    # add_significance reads the stars' stamps only: the same numbers as the
    # whole frame less its sky map, to the bit, stars on the edges included.
    from astropy.table import Table

    from fluxion.core.photometry.detect import FrameSky, add_significance
    from fluxion.core.photometry.scene.peaks import significance_at

    rng = np.random.default_rng(3)
    image = rng.normal(100.0, 10.0, (300, 200))
    bad = rng.random(image.shape) < 0.02
    level = 100.0 + rng.normal(0.0, 1.0, image.shape)
    rms = 10.0 + rng.random(image.shape)
    x = np.r_[0.0, 199.0, 0.2, 198.8, rng.uniform(-0.4, 199.4, 200)]
    y = np.r_[0.0, 299.0, 298.9, 0.1, rng.uniform(-0.4, 299.4, 200)]
    stars = Table({"x": x, "y": y})
    add_significance(stars, image, FrameSky(level, rms, 100.0, 10.0), bad, fwhm)
    xi = np.clip(np.round(x).astype(np.int64), 0, 199)
    yi = np.clip(np.round(y).astype(np.int64), 0, 299)
    whole = significance_at(np.where(bad, 0.0, image - level), rms**2, fwhm, xi, yi, mask=bad)
    np.testing.assert_array_equal(np.asarray(stars["significance"]), whole)
    assert np.all(whole[4:] != 0.0)


def test_sky_from_detection_is_the_sky_photometry_measures():
    # Detection's sep background of the frame in ADU, times the gain, is the
    # sky photometry measured again in electrons (float32 rounding apart);
    # the stars measured with it are the same to a thousandth of their errors.
    from fluxion.core.detection.extract import Detection
    from fluxion.core.photometry import Photometry
    from fluxion.core.photometry.detect import detected_sky

    gain = 1.7
    f = star_field((384, 384), 150, seed=11, gain=gain, sky=800.0, flux_range=(500.0, 2e5))
    image = f.image.astype(np.float32)
    found = Detection()(image, gain=gain, keep_background=True)
    own = frame_sky(np.asarray(image, np.float64) * gain)
    given = detected_sky(found.background, image.shape, gain)
    assert given is not None
    # Read at a few pixels before the whole maps are made: the whole maps' values there.
    flat = np.arange(0, image.size, 97)
    level, rms = given.level_at(flat), given.rms_at(flat)
    np.testing.assert_array_equal(level, given.level.ravel()[flat])
    np.testing.assert_array_equal(rms, given.rms.ravel()[flat])
    noise = own.global_rms
    assert noise == pytest.approx(np.sqrt(f.sky + f.read_noise**2), rel=0.05)
    assert np.max(np.abs(given.level - own.level)) < 1e-3 * noise
    assert np.max(np.abs(given.rms - own.rms)) < 1e-3 * noise
    # (sep's mode on a field of stars sits a few hundredths of the noise high.)
    assert abs(given.global_level - f.sky) < 0.1 * noise

    def measure(background):
        return Photometry().run(
            image, gain=gain, read_noise=f.read_noise, fwhm=found.fwhm,
            sources=found.sources, background=background,
        ).table  # fmt: skip

    a, b = measure(None), measure(found.background)
    assert len(a) == len(b) > 100
    np.testing.assert_array_equal(a["flags"], b["flags"])
    err = np.asarray(a["flux_err"])
    assert np.nanmax(np.abs(np.asarray(a["flux"]) - np.asarray(b["flux"])) / err) < 1e-3
    # Maps of another mesh, or none (a stored table's levels), are not taken.
    assert detected_sky(Detection().__call__(image, gain=gain).background, image.shape, 1.0) is None
