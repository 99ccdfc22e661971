"""The photometry step's own star finder and FWHM against simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.detect import find_stars, frame_sky, measure_fwhm
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


def test_fwhm_of_an_empty_frame_is_nan():
    f = star_field((64, 64), 0, seed=1)
    sky = frame_sky(f.image)
    assert np.isnan(measure_fwhm(f.image, sky, find_stars(f.image, sky)))
