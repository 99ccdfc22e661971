"""The crowded-field Cramér-Rao bound against the isolated-star bound and a blended pair."""

from __future__ import annotations

import numpy as np
import pytest

from fluxion.core.photometry.scene.bound import crowded_flux_bound
from fluxion.core.photometry.scene.records import PlacedStars
from fluxion.core.photometry.synthetic import MoffatProfile, star_field

SKY, RN = 100.0, 5.0


def test_isolated_star_gets_the_isolated_bound():
    field = star_field((64, 64), 1, seed=3, sky=SKY, read_noise=RN)
    x, y, f = (np.array([v]) for v in (31.25, 30.5, 5e3))
    crowded, isolated = crowded_flux_bound(PlacedStars(x, y, f), [0], field.profile.stamp, SKY, RN)
    expected = field.bound(f).sigma_flux
    assert isolated[0] == pytest.approx(expected[0], rel=2e-3)
    assert crowded[0] == pytest.approx(isolated[0], rel=1e-9)


def test_blended_pair_costs_information_and_distant_pair_does_not():
    prof = MoffatProfile(3.5, 3.0)
    f = np.array([5e3, 5e3])
    y = np.array([40.0, 40.0])
    for sep, low, high in ((2.0, 1.5, 20.0), (30.0, 1.0 - 1e-9, 1.0 + 1e-9)):
        x = np.array([40.0, 40.0 + sep])
        crowded, isolated = crowded_flux_bound(PlacedStars(x, y, f), [0, 1], prof.stamp, SKY, RN)
        ratio = crowded / isolated
        # Equal stars: the same bound for both.
        assert ratio[0] == pytest.approx(ratio[1], rel=1e-6)
        assert low < ratio[0] < high, (sep, ratio)


def test_bound_of_a_crowded_field_is_never_below_the_isolated_one():
    field = star_field((128, 128), 120, seed=5, sky=SKY, read_noise=RN)
    t = field.truth
    which = np.arange(0, len(t), 4)
    crowded, isolated = crowded_flux_bound(
        PlacedStars(t["x"], t["y"], t["flux"]),
        which,
        field.profile.stamp,
        SKY,
        RN,
        shape=(128, 128),
    )
    # Neighbours' light adds variance and their parameters are nuisance
    # parameters: both only lower the information.
    assert np.all(crowded >= isolated * (1 - 1e-9))
    # At 7 stars per 1000 px^2 a good fraction of stars share their core.
    assert 0.1 < np.mean(crowded > 1.05 * isolated) < 0.9


def test_stars_at_one_position_get_the_bound_of_their_summed_flux():
    prof = MoffatProfile(3.5, 3.0)
    f = np.array([5e3, 2e3, 4e3])
    y = np.array([40.0, 40.0, 40.0])
    # A single star of the summed flux at the pair's light-weighted centroid.
    alone, _ = crowded_flux_bound(
        PlacedStars(np.array([40.0 + 0.5 * 2 / 7]), y[:1], np.array([7e3])),
        [0],
        prof.stamp,
        SKY,
        RN,
    )
    # Two at one place (the Fisher matrix is singular without the merge), and
    # a pair half a pixel apart merged at 0.3 FWHM; a third star 30 px away.
    for sep, unresolved in ((0.0, 0.0), (0.5, 0.3 * 3.5)):
        x = np.array([40.0, 40.0 + sep, 70.0])
        crowded, isolated = crowded_flux_bound(
            PlacedStars(x + (0.5 * 2 / 7 if sep == 0 else 0.0), y, f),
            [0, 1, 2],
            prof.stamp,
            SKY,
            RN,
            unresolved=unresolved,
        )
        assert np.all(np.isfinite(crowded)), (sep, crowded)
        assert crowded[0] == crowded[1]
        assert crowded[0] == pytest.approx(alone[0], rel=1e-3), sep
        # The summed flux is measured far better than either flux of a resolved
        # pair, and no better than its own isolated bound.
        assert crowded[0] >= isolated[0] * (1 - 1e-9)
        # The distant star keeps its own (isolated) bound.
        assert crowded[2] == pytest.approx(isolated[2], rel=1e-6)
    # Unmerged, the half-pixel pair's bound is hundreds of times the sum's.
    x = np.array([40.0, 40.5])
    apart, _ = crowded_flux_bound(PlacedStars(x, y[:2], f[:2]), [0], prof.stamp, SKY, RN)
    assert apart[0] > 100 * alone[0]
