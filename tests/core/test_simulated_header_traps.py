"""A simulated night written with real capture programs' header traps, read back against its truth.

Local DATE-OBS with a UTC offset plus a coarse MJD-OBS (3 decimals), a ZWO GAIN
setting with no EGAIN, and PIXSCAL of the unbinned detector with CCDSUM 3 3.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs.utils import proj_plane_pixel_scales

from fluxion.core.io.sequence import scan
from fluxion.core.simulation.simulate import (
    NightConfig,
    make_night,
    read_truth_wcs,
    simulate_night,
)

CONFIG = NightConfig(
    seed=77,
    n_frames=3,
    shape=(512, 512),
    n_bias=3,
    n_dark=0,
    n_flat=2,
    date_obs_utc_offset=-7.0,
    mjd_obs_decimals=3,
    gain_card="ZWO setting",
    gain_setting=120,
    binning=3,
)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("traps")
    simulate_night(folder, CONFIG)
    return folder


def test_the_simulator_writes_the_traps(night: Path) -> None:
    h = fits.getheader(night / "light_0001.fits")
    assert h["DATE-OBS"].endswith("-0700") and h["DATE-OBS"].startswith("2024-09-10T16:00:00")
    assert h["MJD-OBS"] == round(h["MJD-OBS"], 3)
    assert (h["GAIN"], h["INSTRUME"], "EGAIN" in h) == (120, "ZWO ASI462MM", False)
    assert (h["CCDSUM"], h["PIXSCAL"]) == ("3 3", pytest.approx(0.4))


def test_times_gain_and_scale_are_recovered(night: Path) -> None:
    truth = make_night(CONFIG)
    frames = scan(night)
    lights = [f for f in frames if f.type == "light"]
    assert len(lights) == CONFIG.n_frames
    for i, f in enumerate(lights):
        # The offset DATE-OBS, not the 86 s MJD-OBS, to the millisecond of the truth.
        assert abs((f.time - truth.times[i]).to_value(u.s)) < 1e-3
        assert f.sources["time"] == "DATE-OBS (UTC-0700 removed) + EXPTIME/2"
        assert f.time_precision == pytest.approx(1e-3)
        assert f.problems == ()
        # PIXSCAL 0.4 of the unbinned detector x CCDSUM 3 = the frame's 1.2"/px.
        assert f.binning == (3, 3)
        assert f.pixel_scale.arcsec_per_px == pytest.approx(CONFIG.pixel_scale, rel=1e-9)
        assert f.sources["pixel_scale"] == "PIXSCAL 0.4 unbinned x binning 3"
        wcs = read_truth_wcs(night / "truth" / f"light_{i + 1:04d}.wcs.fits")
        true_scale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600.0
        assert f.pixel_scale.arcsec_per_px == pytest.approx(true_scale, rel=0.01)
    # GAIN = 120 is a setting: the gain comes from the flats, within its error.
    (gain,) = {f.gain for f in frames}
    source = frames[0].sources["gain"]
    error = float(source.split(" +- ")[1].split(" e-/ADU")[0])
    assert source.startswith("measured from 1 flat pair and 3 bias frames")
    assert abs(gain - truth.gain) < 3 * error and error < 0.01 * truth.gain
