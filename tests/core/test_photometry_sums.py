"""Aperture sums, areas and peaks in C: photutils' exact apertures' numbers."""

from __future__ import annotations

import numpy as np
import pytest
from photutils.aperture import ApertureStats, CircularAperture, aperture_photometry

from fluxion.core.photometry.sums import (
    circle_areas,
    circle_frame_areas,
    circle_peaks,
    circle_reaches,
    circle_sums,
    circle_sums_radii,
)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(7)
    image = rng.normal(100.0, 10.0, (180, 260))
    bad = rng.random(image.shape) < 0.03
    # Positions inside, on and off the frame's edges, at every sub-pixel phase.
    pos = np.column_stack([rng.uniform(-5, 265, 400), rng.uniform(-5, 185, 400)])
    return np.where(bad, 0.0, image), bad, pos


@pytest.mark.parametrize("radius", [0.7, 2.5, 6.3, 11.0])
def test_sums_areas_and_peaks_are_photutils(frame, radius):
    clean, bad, pos = frame
    aperture = CircularAperture(pos, r=radius)
    expected = np.asarray(aperture_photometry(clean, aperture, mask=bad)["aperture_sum"])
    np.testing.assert_allclose(circle_sums(clean, pos, radius), expected, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(
        circle_areas(~bad, pos, radius), aperture.area_overlap(clean, mask=bad), atol=1e-9
    )
    np.testing.assert_allclose(
        circle_areas(np.ones(clean.shape), pos, radius), aperture.area_overlap(clean), atol=1e-9
    )
    # The part on the frame, from cut-outs: the same numbers to the bit.
    np.testing.assert_array_equal(
        circle_frame_areas(clean.shape, pos, radius),
        circle_areas(np.ones(clean.shape), pos, radius),
    )
    peaks = np.asarray(ApertureStats(clean, aperture, mask=bad).max, dtype=float)
    np.testing.assert_array_equal(circle_peaks(clean, bad, pos, radius), peaks)


def test_no_positions_give_empty_answers(frame):
    clean, bad, _ = frame
    none = np.zeros((0, 2))
    assert circle_sums(clean, none, 3.0).shape == (0,)
    assert circle_peaks(clean, bad, none, 3.0).shape == (0,)
    assert circle_reaches(clean, bad, none, 3.0, 100.0).shape == (0,)


@pytest.mark.parametrize("radius", [0.7, 2.5, 6.3, 11.0])
@pytest.mark.parametrize("level", [110.0, 125.0, 1e9])
def test_circle_reaches_is_the_peak_test(frame, radius, level):
    clean, bad, pos = frame
    pos = pos.copy()
    pos[::37] = np.nan  # no position, no peak
    # Centres on pixel centres and half-pixel lines, where the strict test bites.
    pos[1::41] = np.round(pos[1::41] * 2) / 2
    with np.errstate(invalid="ignore"):
        expected = circle_peaks(clean, bad, pos, radius) >= level
    got = circle_reaches(clean, bad, pos, radius, level)
    np.testing.assert_array_equal(got, expected)
    assert level > 1e8 or got.sum() > 0


def test_sums_at_many_radii_are_photutils(frame):
    """Every position at every radius in one call: photutils' sums, NaN wholly off the frame."""
    clean, bad, pos = frame
    pos = np.vstack([pos, [[np.nan, 10.0], [-40.0, 50.0]]])
    radii = np.array([0.7, 2.5, 6.3, 11.0])
    sums = circle_sums_radii(clean, pos, radii)
    assert sums.shape == (len(pos), len(radii))
    for k, r in enumerate(radii):
        aperture = CircularAperture(pos[:-2], r=r)
        expected = np.asarray(aperture_photometry(clean, aperture, mask=bad)["aperture_sum"])
        np.testing.assert_allclose(sums[:-2, k], expected, rtol=1e-7, atol=1e-6)
    assert np.isnan(sums[-2:]).all()
    assert circle_sums_radii(clean, np.zeros((0, 2)), radii).shape == (0, len(radii))
