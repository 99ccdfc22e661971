"""Target locators of ``fluxion run``: positions from the lights' WCS, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.time import Time
from astropy.wcs import WCS

from fluxion.core.chain.targets import ephemeris_target, fixed_target
from fluxion.core.io.frames import FrameInfo


def _wcs(crval=(310.0, 40.0), scale=1.2 / 3600) -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [50.5, 50.5]
    w.wcs.cdelt = [-scale, scale]
    return w


def _light(name: str, time: str | None) -> FrameInfo:
    t = None if time is None else Time(time, scale="utc")
    return FrameInfo(path=Path(name), hdu=0, type="light", time=t, shape=(100, 100))


def test_fixed_target_is_placed_by_each_light_wcs():
    lights = [_light("a.fits", "2024-09-10T23:00:00"), _light("b.fits", "2024-09-10T23:03:00")]
    shifted = _wcs(crval=(310.0 + 30 * 1.2 / 3600 / np.cos(np.radians(40)), 40.0))
    locate = fixed_target(310.0, 40.0)
    (xa, ya), (xb, yb) = locate(lights, [_wcs(), shifted])
    # 0-based pixels: the reference pixel 50.5 (1-based) is 49.5; the second field moved 30 px.
    assert abs(xa - 49.5) < 1e-6 and abs(ya - 49.5) < 1e-6
    assert abs(xb - (49.5 + 30)) < 0.01 and abs(yb - 49.5) < 0.01
    assert locate(lights, [_wcs(), None])[1] is None
    assert fixed_target(300.0, 40.0)(lights, [_wcs(), _wcs()]) == [None, None]  # off the frame
    with pytest.raises(ValueError, match="no frame was solved"):
        locate(lights, [None, None])


def test_ephemeris_needs_every_light_timed_and_says_which_are_not():
    lights = [_light("a.fits", "2024-09-10T23:00:00"), _light("b.fits", None)]
    with pytest.raises(ValueError, match=r"observation time of every light; b\.fits have none"):
        ephemeris_target("Ceres")(lights, [_wcs(), _wcs()])
