"""The real TrES-1 night (tres1-oscaar) with the observing site its headers lack.

MaxIm DL wrote no SITELAT/SITELONG: without a site the night has no airmass
and a geocentric BJD_TDB. The frames were taken at the University of
Maryland Observatory (see test_real_transit.py: OSCAAR's ``umo.par``). Given
as the project's site, every light takes it (said as "project setting"), and
the times the light curve gets (core.chain.lightcurve: the lights' site, then
``light_curve_times``) have the target's airmass at College Park and a BJD
that differs from the geocentric one by the site's light time towards
TrES-1, which is less than the Earth's radius in light time (21.3 ms).
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

from fluxion.core.chain.field import project_lights
from fluxion.core.io.site import parse_site, site_note
from fluxion.core.lightcurve.differential import light_curve_times
from fluxion.core.project.document import Project

TRES1 = SkyCoord("19h04m09.85s", "+36d37m57.4s")
# University of Maryland Observatory (OSCAAR's extras/eph/observatories/umo.par).
UMD_LON = -(76 + 56 / 60 + 13.92 / 3600)
UMD_LAT = 38 + 58 / 60 + 50.16 / 3600
UMD = EarthLocation.from_geodetic(UMD_LON * u.deg, UMD_LAT * u.deg, 20 * u.m)
EARTH_LIGHT_S = 6378.137e3 / 299792458.0


@pytest.fixture(scope="module")
def tres1_lights(shared_data):
    folder = shared_data / "tres1-oscaar"
    if not folder.is_dir():
        pytest.skip("tres1-oscaar not in the shared data")
    bare = Project.from_inputs([folder])
    assert all(f.site is None for f in project_lights(bare))
    project = Project.from_inputs([folder])
    project.site = parse_site(f"{UMD_LON!r},{UMD_LAT!r},20", "UMD Observatory")
    return project_lights(project)


def test_every_light_takes_the_project_site(tres1_lights):
    assert len(tres1_lights) == 70
    for f in tres1_lights:
        assert f.site == pytest.approx((UMD_LON, UMD_LAT, 20.0), abs=1e-12)
        assert f.sources["site"] == "project setting (UMD Observatory)"
    assert "for 70 of 70 lights (their headers give none)" in site_note(tres1_lights)


def test_airmass_and_bjd_from_the_given_site(tres1_lights):
    times = Time([f.time.utc.isot for f in tres1_lights], scale="utc")
    location = EarthLocation.from_geodetic(*tres1_lights[0].site)  # as the chain's light curve
    sited = light_curve_times(times, TRES1, location)
    geocentric = light_curve_times(times, TRES1, None)
    airmass = np.asarray(sited["airmass"], float)
    assert np.all(np.isfinite(airmass)) and np.all(np.isnan(geocentric["airmass"]))
    with iers.conf.set_temp("auto_download", False):
        altaz = TRES1.transform_to(AltAz(obstime=times, location=UMD))
        # The site's position from the geocentre, in GCRS (m), towards TrES-1.
        site_xyz = UMD.get_gcrs_posvel(times)[0].xyz.to_value(u.m)
    # Plane-parallel sec z against the chain's airmass: they part by < 0.3 % above 30 deg.
    np.testing.assert_allclose(airmass, 1.0 / np.sin(altaz.alt.rad), rtol=3e-3)
    assert 1.0 <= airmass.min() and airmass.max() < 2.0  # TrES-1 passes near the zenith
    toward = TRES1.cartesian.xyz.value
    expected_s = (toward @ site_xyz) / 299792458.0
    dt_s = (np.asarray(sited["bjd_tdb"]) - np.asarray(geocentric["bjd_tdb"])) * 86400.0
    assert np.all(np.abs(dt_s) < EARTH_LIGHT_S)
    # The site's light time, to 60 us: a JD near 2.456e6 in float64 steps by 40 us
    # (2**-31 d), and aberration turns the direction by 20" (2 us).
    np.testing.assert_allclose(dt_s, expected_s, rtol=0, atol=6e-5)
    assert np.abs(dt_s).min() > 5e-3  # a site near the star's meridian: milliseconds
