"""A moving target's path carried into the reference light's pixels by each light's stars."""

from __future__ import annotations

import numpy as np

from fluxion.core.chain.comparison_refusals import best_covered_light, track_in_reference
from fluxion.core.lightcurve.run import Measurement

N_LIGHTS, N_STARS = 12, 30


def _night(target_ref: np.ndarray, rng: np.random.Generator) -> tuple[Measurement, np.ndarray]:
    """Stars and a target (given in the reference light's pixels) seen through each
    light's rotation (up to 3 degrees, an alt-azimuth mount's) and drift."""
    ref = rng.uniform(50, 950, (N_STARS, 2))
    centre = np.array([500.0, 500.0])
    star_xy = np.full((N_LIGHTS, N_STARS, 2), np.nan)
    target_xy = np.zeros((N_LIGHTS, 2))
    for i in range(N_LIGHTS):
        a = np.radians(0.25 * i)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        shift = np.array([3.0 * i, -2.0 * i])
        star_xy[i] = (ref - centre) @ rot.T + centre + shift
        target_xy[i] = (target_ref[i] - centre) @ rot.T + centre + shift
    star_xy[3, :5] = np.nan  # a light that missed some stars
    # Centroids good to 0.05 px.
    star_xy += rng.normal(0, 0.05, star_xy.shape)
    flux = np.ones((N_LIGHTS, N_STARS))
    m = Measurement(
        target_xy=target_xy, target_flux=np.ones(N_LIGHTS), target_err=np.ones(N_LIGHTS),
        target_flags=np.zeros(N_LIGHTS, int), star_xy=star_xy, star_flux=flux,
        star_err=flux, star_flags=np.zeros((N_LIGHTS, N_STARS), int),
    )  # fmt: skip
    return m, ref


def test_a_moving_target_is_placed_in_the_reference_pixels():
    rng = np.random.default_rng(3)
    truth = np.column_stack([np.linspace(200, 320, N_LIGHTS), np.linspace(400, 380, N_LIGHTS)])
    m, ref = _night(truth, rng)
    path = track_in_reference(m, ref, min_motion=5.0)
    assert path is not None
    # 30 stars at 0.05 px each: the map's error at the target is ~0.02 px.
    np.testing.assert_allclose(path, truth, atol=0.1)
    assert best_covered_light(m) != 3


def test_a_fixed_target_has_no_track_however_the_field_turns():
    rng = np.random.default_rng(4)
    truth = np.tile([[420.0, 610.0]], (N_LIGHTS, 1))
    m, ref = _night(truth, rng)
    # In its own pixels it moves by 40 px across the night; on the sky it stays.
    assert np.hypot(*(m.target_xy[-1] - m.target_xy[0])) > 30
    assert track_in_reference(m, ref, min_motion=2.0) is None
