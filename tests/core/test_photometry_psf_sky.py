"""The PSF method's sky holds the light of the stars too faint to be found."""

from __future__ import annotations

import numpy as np

from fluxion.core.photometry.detect import residual_sky
from fluxion.core.photometry.noise import NoiseModel
from fluxion.core.photometry.psf_sky import sky_offset, sky_offset_matters, sky_under_stars
from fluxion.core.photometry.synthetic import star_field

SHAPE = (256, 256)
SKY = 100.0
BORDER = 31  # the 61 px stamps lie wholly inside: each star's light is its flux


def test_sky_under_the_stars_is_the_sky_plus_the_unfound_stars_light():
    # Found stars (their light is the "model", modelled perfectly) and unfound
    # faint ones (100-500 e-: up to 2 detection limits, peaks up to ~6 sigma).
    found = star_field(
        SHAPE, 150, flux_range=(3e3, 1e5), sky=0.0, read_noise=0.0, border=BORDER, seed=3
    )
    faint = star_field(
        SHAPE, 1500, flux_range=(100.0, 500.0), sky=SKY, read_noise=5.0, border=BORDER, seed=4
    )
    image = found.image + faint.image
    model = found.image
    mask = np.zeros(SHAPE, dtype=bool)
    noise = NoiseModel(1.0, 5.0)
    truth = SKY + float(np.sum(faint.truth["flux"])) / (SHAPE[0] * SHAPE[1])
    clipped = residual_sky(image - model, mask)
    offset = sky_offset(image, model, clipped, mask, noise)
    sky = clipped + offset
    # The mean's error on 65536 px of ~11-13 e- noise is 0.05 e-/px (seeds
    # 3-8: -0.03..+0.02 e-/px, where the clipped mesh sky read -0.58..+0.03).
    assert abs(float(sky.mean()) - truth) < 0.2
    assert sky_offset_matters(offset, 3.5, 11.2)


def test_outliers_the_model_does_not_describe_are_left_out():
    rng = np.random.default_rng(5)
    image = rng.normal(SKY, np.sqrt(SKY + 25.0), SHAPE)
    hits = rng.choice(image.size, 200, replace=False)
    image.flat[hits] += 5e3  # cosmic-ray hits: 0.3 % of the pixels, 15 e-/px on average
    mask = np.zeros(SHAPE, dtype=bool)
    offset = sky_offset(image, np.zeros(SHAPE), np.full(SHAPE, SKY), mask, NoiseModel(1.0, 5.0))
    assert abs(offset) < 0.2  # the mean's error is 0.04 e-/px
    assert not sky_offset_matters(0.02, 3.5, 11.2)


def test_sky_map_follows_the_unfound_stars_light_and_not_their_noise():
    found = star_field(
        SHAPE, 150, flux_range=(3e3, 1e5), sky=0.0, read_noise=0.0, border=BORDER, seed=3
    )
    # Unfound stars all over the frame: away from its edges the light of
    # those beyond one (none here) is what each lost across it.
    faint = star_field(SHAPE, 1500, flux_range=(100.0, 500.0), sky=SKY, read_noise=5.0, seed=104)
    image = found.image + faint.image
    mask = np.zeros(SHAPE, dtype=bool)
    truth = SKY + float(np.sum(faint.truth["flux"])) / (SHAPE[0] - 1) ** 2
    clipped = residual_sky(image - found.image, mask)
    sky = sky_under_stars(image, found.image, clipped, mask, NoiseModel(1.0, 5.0), box=32)
    inner = sky[64:-64, 64:-64]
    # Seven seeds: -0.32..-0.04 e-/px, where the interior's own mean scatters
    # by +-0.3 about the truth (the faint stars' clumps); the map's rms about
    # its mean 0.14-0.35 e-/px (its cells' noise alone: 0.11).
    assert abs(float(inner.mean()) - truth) < 0.5
    assert float(np.std(inner)) < 0.5
