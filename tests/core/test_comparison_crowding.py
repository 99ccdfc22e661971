"""Automatic comparison stars are refused when a brighter star reaches into their aperture
or sky annulus: its light biases their flux, which the variability test cannot see
(the bias is the same in every frame)."""

from __future__ import annotations

import numpy as np
import pytest
from photutils.aperture import ApertureStats, CircularAnnulus, CircularAperture

from fluxion.core.lightcurve.comparison import choose_comparison_stars

APERTURE, ANNULUS = 5.0, (10.0, 16.0)
SIGMA = 1.6  # px: a 3.8 px FWHM, as the demo night's seeing
SKY, N_FRAMES = 200.0, 12


def _render(xy: np.ndarray, flux: np.ndarray, rng, shape=(200, 260)) -> np.ndarray:
    y, x = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, SKY)
    for (sx, sy), f in zip(xy, flux, strict=True):
        image += (
            f / (2 * np.pi * SIGMA**2) * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * SIGMA**2))
        )
    return rng.poisson(image).astype(float)


def _measure(image: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Aperture sum minus the annulus median (the light-curve step's method), and its error."""
    ap = CircularAperture(xy, APERTURE)
    sky = ApertureStats(image, CircularAnnulus(xy, *ANNULUS)).median
    total = ApertureStats(image, ap).sum
    flux = total - sky * ap.area
    return flux, np.sqrt(np.maximum(total, 1.0))


@pytest.fixture(scope="module")
def night():
    """Five candidates; candidate 1 has a star 4x brighter 8 px away, candidate 3 a
    fainter one 14 px away, candidate 4 a brighter non-candidate 13 px away (in its
    annulus' reach: 5 + 16 px)."""
    rng = np.random.default_rng(4)
    cand = np.array([[40.0, 40.0], [120.0, 40.0], [200.0, 40.0], [60.0, 140.0], [160.0, 140.0]])
    cand_flux = np.array([20000.0, 20000.0, 24000.0, 18000.0, 22000.0])
    others = np.array([[128.0, 40.0], [74.0, 140.0], [173.0, 140.0]])
    others_flux = np.array([80000.0, 4000.0, 90000.0])
    xy = np.vstack([cand, others])
    truth = np.concatenate([cand_flux, others_flux])
    flux, err = zip(
        *(_measure(_render(xy, truth, rng), cand) for _ in range(N_FRAMES)), strict=True
    )
    return cand, cand_flux, np.array(flux), np.array(err), xy, truth


def test_a_brighter_star_in_the_aperture_or_annulus_refuses_the_candidate(night) -> None:
    cand, cand_flux, flux, err, field_xy, field_flux = night
    # The measured fluxes show why: the crowded candidates are biased far beyond their noise.
    bias = (flux.mean(axis=0) - cand_flux) / (err.mean(axis=0) / np.sqrt(N_FRAMES))
    assert abs(bias[1]) > 5 and abs(bias[4]) > 5
    assert np.all(np.abs(bias[[0, 2]]) < 4)
    choice = choose_comparison_stars(
        flux, err, cand, target_flux=20000.0, n_comparison=3, isolation_radius=5.0,
        aperture_radius=APERTURE, annulus_outer=ANNULUS[1], field_xy=field_xy,
        field_flux=field_flux,
    )  # fmt: skip
    assert "brighter star within 21 px" in choice.rejected[1]
    assert "brighter star within 21 px" in choice.rejected[4]
    # A fainter neighbour is no reason: its light is small against the star's.
    assert 3 not in choice.rejected
    used = set(choice.comparison) | {choice.check}
    assert used == {0, 2, 3}


def test_without_the_field_only_the_candidates_are_compared(night) -> None:
    cand, _, flux, err, _, _ = night
    # Two candidates 8 px apart: the fainter goes, the brighter stays.
    pos = cand.copy()
    pos[1] = pos[0] + [8.0, 0.0]
    choice = choose_comparison_stars(
        flux, err, pos, target_flux=20000.0, isolation_radius=0.0,
        aperture_radius=APERTURE, annulus_outer=ANNULUS[1], max_chi2=np.inf,
    )  # fmt: skip
    fainter = 0 if np.median(flux[:, 0]) < np.median(flux[:, 1]) else 1
    assert "brighter star" in choice.rejected[fainter]
    assert 1 - fainter not in choice.rejected
    # Without the radii the picker behaves as before (isolation only).
    plain = choose_comparison_stars(flux, err, pos, isolation_radius=0.0, max_chi2=np.inf)
    assert not plain.rejected


def test_field_fluxes_must_match_the_field(night) -> None:
    cand, _, flux, err, field_xy, field_flux = night
    with pytest.raises(ValueError, match="field_flux has 2 values for 8 field stars"):
        choose_comparison_stars(
            flux, err, cand, aperture_radius=APERTURE, annulus_outer=ANNULUS[1],
            field_xy=field_xy, field_flux=field_flux[:2],
        )  # fmt: skip
