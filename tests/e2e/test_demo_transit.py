"""The demo night's transit from its raw frames: calibrate, photometry choice, fit, report.

The classroom demo (``fluxion demo``) has a transiting planet: a 1 % limb-
darkened transit of 55 minutes around a V = 12.5 star, mid-time in the
night's truth (JD UTC; converted here to BJD_TDB for the star and the site).
The night is written at a reduced frame size so the test stays quick; the
transit, its host and the cadence are the demo's. The frames are calibrated
with ``fluxion calibrate``, the lights keep their WCS (``--write-wcs``), the
photometry is chosen by :func:`frames_light_curve` and the light curve fitted
by ``fluxion transit``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time

from fluxion.app.cli import main
from fluxion.core.io.sequence import Sequence
from fluxion.core.lightcurve.differential import light_curve_times
from fluxion.core.targets.inputs import target_frames
from fluxion.core.transit.ephemeris import Ephemeris
from fluxion.core.transit.frames import frames_light_curve


@pytest.fixture(scope="module")
def demo_fit(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-transit")
    night, cal = root / "night", root / "cal"
    assert main(["demo", str(night), "--size", "512", "512", "--write-wcs"]) == 0
    assert main(["calibrate", str(night), "--out", str(cal)]) == 0
    truth = json.loads((night / "truth" / "night.json").read_text())
    first = Table.read(night / "truth" / "light_0001.ecsv")
    host = first[first["kind"] == "transit"][0]
    coord = SkyCoord(host["ra"] * u.deg, host["dec"] * u.deg)
    frames = target_frames(Sequence.from_paths([cal]), need_stars=True)
    tc_utc = Time([truth["events"]["transit_mid_jd"]], format="jd", scale="utc")
    tc = float(light_curve_times(tc_utc, coord, frames.location)["bjd_tdb"][0])
    # The planet's period is not the demo's business: the ephemeris predicts the
    # night's transit 6 minutes off, as a catalogue ephemeris might.
    eph = Ephemeris(period=3.0, t0=tc + 6 / 1440, duration_h=55 / 60)
    xy = frames.wcs[0].world_to_pixel(coord)
    choice = frames_light_curve(frames, xy, eph, target=coord)
    lc_path = root / "lightcurve.ecsv"
    choice.light_curve.write(lc_path, format="ascii.ecsv")
    out = root / "fit"
    rc = main(["transit", str(lc_path), "--out", str(out), "--period", "3.0", "--t0",
               f"{eph.t0:.6f}", "--filter", "V", "--mcmc-steps", "2500", "--burn", "800",
               "--no-png", "--name", "Demo b"])  # fmt: skip
    assert rc == 0
    return json.loads((out / "transit.json").read_text()), tc, choice, truth["config"]


def test_demo_transit_mid_time_and_depth_recovered(demo_fit):
    fit, tc, choice, night = demo_fit
    assert abs(fit["tmid_bjd_tdb"] - tc) < 3 * fit["tmid_err"]
    # Carter et al. (2008): 0.45 min for this depth, ingress, cadence and the
    # host's 1.3 ppt per light; the sampler's error with a/Rs and b free is near it.
    assert fit["tmid_err"] < 1.0 / 1440
    # The simulator's depth is the flux lost at mid-transit, limb darkening
    # included, as the fit's is. Within three of the fit's own error, which
    # is honest for this layout (4 lights before the transit, 7 after) over
    # many draws: tests/core/test_transit_fit.py.
    assert fit["depth_err"] < 0.001
    assert abs(fit["depth"] - night["transit_depth"]) < 3 * fit["depth_err"]
    # The duration's error with a/Rs and b free on so little baseline: honest
    # with the sampler's prior set in the durations (tests/core/
    # test_transit_duration_pulls.py); within three of it, and 6 minutes.
    duration_off = abs(fit["duration_h"] - night["transit_duration"] / 60.0)
    assert duration_off < 3 * fit["duration_err_h"] and duration_off < 0.1
    assert fit["aavso_report_problems"] == ["#OBSCODE= is empty"]
    assert choice.explanation[0].startswith("aperture")
    assert np.isfinite(choice.apertures["scatter"]).sum() >= 4
