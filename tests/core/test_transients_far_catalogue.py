"""A catalogue wider than the frame does not end the transient search where the
WCS's distortion cannot be inverted far outside the frame."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import Sip
from transient_helpers import simulated_frames

from fluxion.core.detection.extract import Detection
from fluxion.core.simulation.simulate import NightConfig
from fluxion.core.transients.catalog_mode import catalogue_candidates

CONFIG = NightConfig(shape=(300, 300), n_frames=2, seed=5)


@pytest.fixture(scope="module")
def night():
    return simulated_frames(CONFIG)


def test_stars_where_the_distortion_diverges_are_left_out(night) -> None:
    n, frames, _ = night
    f = frames[0]
    det = Detection()(np.asarray(f.image, np.float32), mask=f.mask, gain=1.0)
    cat = n.catalog
    plain = catalogue_candidates(det.sources, f.wcs, cat["ra"], cat["dec"], cat["V"], fwhm=det.fwhm)

    # A quartic distortion: under 0.01 px across the frame, divergent two degrees away.
    w = f.wcs.deepcopy()
    w.wcs.ctype = [c.replace("-SIP", "") + "-SIP" for c in w.wcs.ctype]
    a, b = np.zeros((5, 5)), np.zeros((5, 5))
    a[4, 0] = b[0, 4] = 1e-12
    w.sip = Sip(a, b, None, None, w.wcs.crpix)
    ra0, dec0 = float(np.mean(cat["ra"])), float(np.mean(cat["dec"]))
    far_ra = np.concatenate([cat["ra"], [ra0 + 2.0]])
    far_dec = np.concatenate([cat["dec"], [dec0 + 2.0]])
    far_mag = np.concatenate([cat["V"], [12.0]])
    found = catalogue_candidates(det.sources, w, far_ra, far_dec, far_mag, fwhm=det.fwhm)

    assert len(found) == len(plain)
    np.testing.assert_allclose(np.sort(found["x"]), np.sort(plain["x"]), atol=0.05)
    np.testing.assert_array_equal(np.sort(found["accepted"]), np.sort(plain["accepted"]))
