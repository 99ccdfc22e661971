"""A supernova in a galaxy, found against a reference image of the field taken before it.

The reference is the stack of another night of the same field without the
supernova (what a user's reference image is); the galaxies, extended and
not in the star catalogue, must subtract away, the supernova half an
effective radius from the brightest one's nucleus must be found in most
lights and nothing else accepted (the trailed asteroid, cosmic rays and
bright stars' residuals are rejected by their shape on the difference).
"""

from __future__ import annotations

import numpy as np
import pytest
from transient_helpers import simulated_frames, truth_kinds

from fluxion.core.simulation.simulate import NightConfig
from fluxion.core.simulation.transients import SUPERNOVA_ID
from fluxion.core.transients.difference import difference_search, forced_on_differences
from fluxion.core.transients.template import night_template

BASE = dict(shape=(300, 300), n_frames=6, n_galaxies=4, seed=5, nova=False, outburst=False)


@pytest.fixture(scope="module")
def searched():
    _, before, _ = simulated_frames(NightConfig(**BASE, supernova=False))
    reference = night_template(before, n_best=6)
    night, frames, truths = simulated_frames(NightConfig(**BASE, supernova=True))
    found, kept = difference_search(frames, reference, keep=True)
    return night, frames, truths, found, kept


def test_supernova_found_on_its_galaxy(searched):
    night, frames, truths, found, _ = searched
    accepted = found[found["accepted"]]
    kinds = truth_kinds(accepted, truths)
    assert kinds and set(kinds) == {"supernova"}, kinds
    assert len(kinds) >= BASE["n_frames"] - 2
    # It sits on the brightest galaxy, within its effective radius.
    g = night.galaxies[int(np.argmin(night.galaxies["mag_V"]))]
    gx, gy = frames[0].wcs.all_world2pix(g["ra"], g["dec"], 0)
    row = accepted[accepted["frame"] == accepted["frame"][0]][0]
    assert np.hypot(row["x"] - gx, row["y"] - gy) < g["r_eff"]


def test_supernova_flux_on_the_difference(searched):
    night, frames, truths, _, kept = searched
    sn = truths[0][truths[0]["id"] == SUPERNOVA_ID][0]
    forced = forced_on_differences(frames, kept, float(sn["ra"]), float(sn["dec"]))
    true = np.array([t[t["id"] == SUPERNOVA_ID][0]["flux"] for t in truths])
    ratio = np.asarray(forced["flux"]) / true
    assert forced["detected"].all()
    # The galaxy's residual under it (1-3 sigma per pixel within a few px of a
    # 13.7 mag nucleus) adds up to a few per cent: measured 0.99-1.12.
    assert np.all(np.abs(ratio - 1.0) < 0.15), ratio
    assert abs(np.median(ratio) - 1.0) < 0.06, ratio
