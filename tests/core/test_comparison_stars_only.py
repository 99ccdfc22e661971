"""Comparison candidates must be stars: no galaxy core, none a moving target passes."""

from __future__ import annotations

import numpy as np

from fluxion.core.lightcurve.comparison import choose_comparison_stars
from fluxion.core.lightcurve.extended import extended_sources, source_sizes

SIGMA = 1.5  # stellar PSF (px): FWHM 3.5 px
STARS = np.array([[40.0, 40.0], [120.0, 50.0], [60.0, 140.0], [150.0, 150.0], [100.0, 100.0]])
GALAXY = np.array([30.0, 170.0])


def _field(rng: np.random.Generator) -> np.ndarray:
    """A light with five stars and a galaxy: a core as sharp as a star plus an
    exponential disc of scale 6 px holding as much light (M94's look)."""
    yy, xx = np.mgrid[0:200, 0:200].astype(float)
    image = np.full((200, 200), 100.0)
    for x, y in STARS:
        image += (
            20000.0
            / (2 * np.pi * SIGMA**2)
            * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * SIGMA**2))
        )
    r2 = (xx - GALAXY[0]) ** 2 + (yy - GALAXY[1]) ** 2
    image += 20000.0 / (2 * np.pi * SIGMA**2) * np.exp(-r2 / (2 * SIGMA**2))
    image += 20000.0 / (2 * np.pi * 6.0**2) * np.exp(-np.sqrt(r2) / 6.0)
    return rng.poisson(image).astype(float)


def _fluxes(rng: np.random.Generator, n_frames: int, n_stars: int) -> tuple:
    flux = np.full((n_frames, n_stars), 20000.0) * rng.uniform(0.8, 1.2, n_stars)
    err = np.sqrt(flux)
    return flux + rng.normal(0.0, 1.0, flux.shape) * err, err


def test_a_galaxy_core_is_measured_wide_and_refused():
    rng = np.random.default_rng(5)
    image = _field(rng)
    xy = np.vstack([STARS, GALAXY])
    sizes = source_sizes(image, xy, rmax=6 * SIGMA * 2.355)  # six FWHM
    # A Gaussian's half-light radius is sigma * sqrt(2 ln 2). The sky's noise
    # in the 21 px circle is ~2 % of a star's 20 000 e-, which moves the
    # half-flux point by up to a few %: 10 % is three times that.
    np.testing.assert_allclose(sizes[:5], SIGMA * np.sqrt(2 * np.log(2)), rtol=0.10)
    # Half the galaxy's light is in its star-like core, so its half-light
    # radius is only ~1.6 x the stars': still beyond their spread.
    assert sizes[5] > 1.5 * sizes[:5].max()
    wide = extended_sources(sizes)
    assert wide.tolist() == [False] * 5 + [True]
    flux, err = _fluxes(rng, 20, 6)
    # The galaxy is as bright and as constant as the stars: without its size it is taken.
    before = choose_comparison_stars(flux, err, xy, n_comparison=5)
    assert 5 in before.comparison + (before.check,)
    after = choose_comparison_stars(flux, err, xy, n_comparison=4, extended=wide)
    assert 5 not in after.comparison + (after.check,)
    assert after.rejected[5] == "an extended source, not a star"
    assert sorted(after.comparison + (after.check,)) == [0, 1, 2, 3, 4]


def test_a_star_the_moving_target_passes_is_refused():
    rng = np.random.default_rng(7)
    flux, err = _fluxes(rng, 4, 5)
    # A fast target crosses the field at y = 100, 50 px per light: star 4 lies
    # 3 px off its track between two lights, star 1 is 58 px away (the
    # asteroid night's C1).
    path = np.column_stack([10 + 50 * np.arange(4.0), np.full(4, 100.0)])
    near, far_off = np.array([85.0, 103.0]), np.array([85.0, 158.0])
    xy = np.vstack([STARS[0], far_off, STARS[2], STARS[3], near])
    vertex = np.min(np.hypot(*(path - near).T))
    assert vertex > 21  # the lights' own positions pass it by more than the clearance
    choice = choose_comparison_stars(flux, err, xy, n_comparison=3, aperture_radius=3.0,
                                     annulus_outer=12.0, target_path=path)  # fmt: skip
    # Clearance: aperture + outer sky radius + two apertures = 21 px.
    assert choice.rejected == {4: "the target passes within 21 px"}
    assert 1 in choice.comparison + (choice.check,)
    unchanged = choose_comparison_stars(flux, err, xy, n_comparison=3, aperture_radius=3.0,
                                        annulus_outer=12.0)  # fmt: skip
    assert 4 in unchanged.comparison + (unchanged.check,)
