"""Comparison-star choice, differential magnitudes and times against truth."""

from __future__ import annotations

import erfa
import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from fluxion.core.lightcurve.comparison import ComparisonError, choose_comparison_stars
from fluxion.core.lightcurve.differential import (
    _airmass,
    calibrated_magnitudes,
    differential_magnitudes,
    light_curve_times,
)

N_FRAMES = 40


def _field(seed=3):
    """Fluxes of 10 stars under a passing cloud; star 2 varies, 5 has a neighbour."""
    rng = np.random.default_rng(seed)
    mags = np.array([12.0, 12.3, 12.1, 11.8, 12.6, 12.2, 13.0, 11.9, 15.5, 12.4])
    true = 10 ** (-0.4 * (mags - 25.0))  # e-
    transparency = 1.0 - 0.3 * np.exp(-(((np.arange(N_FRAMES) - 20) / 6.0) ** 2))
    flux = true[None, :] * transparency[:, None]
    flux[:, 2] *= 1 + 0.05 * np.sin(np.arange(N_FRAMES) / 3.0)  # a variable star
    err = np.sqrt(flux + 200.0)
    noisy = flux + rng.normal(0, 1, flux.shape) * err
    positions = rng.uniform(50, 450, (10, 2))
    positions[5] = positions[4] + [4.0, 3.0]  # blended pair
    flags = np.zeros(flux.shape, dtype=int)
    flags[7, 3] = 8  # contaminated once
    noisy[12, 9] = np.nan  # off the frame once
    return noisy, err, positions, flags, transparency, mags


def test_choice_refuses_variable_blended_flagged_and_missing_stars():
    flux, err, pos, flags, _, _ = _field()
    choice = choose_comparison_stars(
        flux, err, pos, flags=flags, target_flux=float(np.median(flux[:, 0])), exclude=[0],
        n_comparison=3,
    )  # fmt: skip
    assert "variable" in choice.rejected[2]
    assert "neighbour" in choice.rejected[4] and "neighbour" in choice.rejected[5]
    assert "flagged" in choice.rejected[3]
    assert "not measured" in choice.rejected[9]
    assert "mag from the target" in choice.rejected[8]
    assert set(choice.comparison) | {choice.check} <= {1, 6, 7}
    assert choice.check not in choice.comparison
    # Good stars pass the variability test with a reduced chi2 near 1.
    assert np.all(choice.chi2[list(choice.comparison)] < 3.0)


def test_choice_without_any_good_star_says_why():
    flux, err, pos, flags, _, _ = _field()
    with pytest.raises(ComparisonError, match="no usable comparison star"):
        choose_comparison_stars(flux[:, :1], err[:, :1], pos[:1], exclude=[0])


def test_differential_light_curve_recovers_truth_within_noise():
    flux, err, pos, flags, transparency, mags = _field()
    # The target: star 0 with a 0.2 mag deep dip of known shape.
    t = np.arange(N_FRAMES)
    dip = 0.2 * np.exp(-(((t - 25) / 4.0) ** 2))
    rng = np.random.default_rng(9)
    tf = 10 ** (-0.4 * (mags[0] + dip - 25.0)) * transparency
    terr = np.sqrt(tf + 200.0)
    tflux = tf + rng.normal(0, 1, N_FRAMES) * terr
    comp = [1, 6, 7]
    d = differential_magnitudes(
        tflux, terr, flux[:, comp], err[:, comp], comparison_mag=mags[comp],
        comparison_mag_err=np.full(3, 0.02),
    )  # fmt: skip
    resid = (d.mag - (mags[0] + dip)) / d.mag_err
    assert abs(np.mean(resid)) < 3 / np.sqrt(N_FRAMES) * 1.5
    assert 0.6 < np.std(resid) < 1.5  # errors are honest
    assert d.offset_err == pytest.approx(0.02 / np.sqrt(3), rel=0.3)
    # A frame with one comparison missing stays on the same scale (moving target).
    partial = flux[:, comp].copy()
    partial[::2, 0] = np.nan
    d2 = differential_magnitudes(tflux, terr, partial, err[:, comp], comparison_mag=mags[comp])
    resid2 = (d2.mag - (mags[0] + dip)) / d2.mag_err
    assert abs(np.mean(resid2)) < 0.6 and np.std(resid2) < 1.6
    assert set(d2.n_comparison) == {2, 3}


def test_calibrated_magnitudes_from_zero_points():
    mag, err = calibrated_magnitudes(np.array([1e4, -5.0]), np.array([100.0, 1.0]), 25.0, 0.03)
    assert mag[0] == pytest.approx(15.0)
    assert err[0] == pytest.approx(np.hypot(1.0857 * 0.01, 0.03), rel=1e-3)
    assert np.isnan(mag[1])


@pytest.mark.parametrize("ra,dec", [(310.0, 40.0), (83.8, -5.4)])
def test_bjd_tdb_against_an_independent_roemer_delay(ra, dec):
    times = Time("2024-09-10T21:30:00", scale="utc") + np.linspace(0, 0.3, 5) * u.day
    target = SkyCoord(ra * u.deg, dec * u.deg)
    site = EarthLocation.from_geodetic(8.0 * u.deg, 47.0 * u.deg, 500 * u.m)
    got = light_curve_times(times, target, site)
    # Independent: ERFA's Earth barycentric position plus the site's GCRS
    # offset, projected on the target direction (the Roemer delay).
    tdb = times.tdb
    _, pvb = erfa.epv00(tdb.jd1, tdb.jd2)
    earth_au = pvb["p"]
    site_pos, _ = site.get_gcrs_posvel(times)
    site_au = site_pos.xyz.to_value(u.au).T
    n = target.cartesian.xyz.value
    delay_s = ((earth_au + site_au) @ n) * u.au.to(u.m) / const.c.value
    expected = tdb.jd + delay_s / 86400.0
    assert np.max(np.abs(got["bjd_tdb"] - expected)) * 86400 < 0.01  # 10 ms
    assert np.max(np.abs(got["jd_utc"] - times.jd)) * 86400 < 1e-3
    # BJD differs from JD(UTC) by at most 8.3 min + 69.2 s (TT-UTC + TDB-TT).
    assert np.all(np.abs(got["bjd_tdb"] - times.jd) * 86400 < 500 + 70)
    # Airmass: Young's formula agrees with sec z to 1 % below airmass 2 and
    # falls below it towards the horizon (sec z overestimates there).
    from astropy.coordinates import AltAz

    secz = target.transform_to(AltAz(obstime=times, location=site)).secz.value
    low = (secz > 1) & (secz < 2)
    assert np.all(np.abs(got["airmass"][low] / secz[low] - 1) < 0.01)
    assert np.all(got["airmass"][secz > 2.5] < secz[secz > 2.5])
    assert np.all(np.isnan(got["airmass"][secz < 0]))


def test_too_few_candidates_for_the_variability_test_is_reported():
    flux, err, pos, flags, _, _ = _field()
    choice = choose_comparison_stars(flux[:, [1, 2]], err[:, [1, 2]], pos[[1, 2]])
    assert choice.warnings and "could not be tested for variability" in choice.warnings[0]
    full = choose_comparison_stars(flux, err, pos, exclude=[0])
    assert full.warnings == ()


def test_bjd_tdb_for_the_geocentre_is_astropys_without_the_earth_rotation():
    # A fixed target and one moving across the sky, over a year's Earth orbit.
    times = Time("2024-01-05T00:00:00", scale="utc") + np.linspace(0, 365, 7) * u.day
    moving = SkyCoord(np.linspace(0, 350, 7) * u.deg, np.linspace(-80, 80, 7) * u.deg)
    geocentre = EarthLocation.from_geocentric(0, 0, 0, u.m)
    for target in (SkyCoord(83.8 * u.deg, -5.4 * u.deg), moving):
        got = light_curve_times(times, target)
        ltt = times.light_travel_time(target, kind="barycentric", location=geocentre)
        expected = (times.tdb + ltt).jd
        # The Roemer delay reaches 499 s over the year: equal to far below a microsecond.
        assert np.ptp(ltt.to_value(u.s)) > 100
        assert np.max(np.abs(got["bjd_tdb"] - expected)) * 86400 < 1e-6
        assert np.all(np.isnan(got["airmass"]))


def test_bjd_tdb_and_airmass_at_a_site_without_the_iers_tables_lose_nothing():
    from astropy.coordinates import AltAz
    from astropy.utils import iers

    times = Time("2024-01-05T00:00:00", scale="utc") + np.linspace(0, 365, 9) * u.day
    target = SkyCoord(83.8 * u.deg, -5.4 * u.deg)
    site = EarthLocation.from_geodetic(8.0 * u.deg, 47.0 * u.deg, 500 * u.m)
    got = light_curve_times(times, target, site)
    # With the bundled IERS tables (UT1 - UTC, polar motion): the site's light
    # time moves by at most 1.4 microseconds, the altitude by 13 arcsec.
    with iers.conf.set_temp("auto_download", False):
        ltt = times.light_travel_time(target, kind="barycentric", location=site)
        alt = target.transform_to(AltAz(obstime=times, location=site)).alt.deg
    assert np.max(np.abs(got["bjd_tdb"] - (times.tdb + ltt).jd)) * 86400 < 2e-6
    # Young's airmass of the IERS altitude: 5e-4 at airmass 3 is 0.1 mmag of extinction.
    up = alt > 15
    assert up.sum() >= 3 and np.isnan(got["airmass"][alt < 0]).all()
    assert np.max(np.abs(got["airmass"][up] - _airmass(alt[up]))) < 1e-3
