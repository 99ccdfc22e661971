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
