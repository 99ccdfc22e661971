"""Header facts of every real set: times against their best card, gains, site and time.

Each frame's mid-exposure time is recomputed here from the card the header's
best time comes from (parsed by astropy, not by Fluxion) and compared with what
the scan says, with the precision that card is written to; the other time cards
must agree within their precisions (no "disagree" problem). The Seestar's
GAIN = 80 is a gain setting: the gain is measured from its frames. The
asteroid night's site and clock are checked against the header's own LST, the
pointing's altitude and azimuth (TheSkyX writes SITELONG positive to the west),
and its local-time card.
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import AltAz, Angle, EarthLocation, SkyCoord
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.fitsio import read_header
from fluxion.core.io.frames import frame_info
from fluxion.core.io.obstime import quiet_erfa
from fluxion.core.io.sequence import scan
from fluxion.core.runtime.quiet import quiet

# (files, card giving the best time, how to read it, at, precision s, frames)
TIME_SETS = [
    ("asteroid2713-night1/*.fit", "DATE-OBS", "isot", "start", 1e-3, 40),
    ("seestar-osc/*.fit", "DATE-OBS", "isot", "start", 1e-6, 8),
    # MaxIm DL's JD is the DATE-OBS second converted: no finer than it.
    ("tres1-oscaar/*.fit.fz", "DATE-OBS", "isot", "start", 1.0, 80),
    ("astropy-data/tutorials/FITS-images/M13_blue_*.fits", "DATE-OBS", "isot", "start", 1.0, 5),
    # ESO MIDAS: DATE-OBS is a date only; MJD-OBS to 5 decimals (0.864 s).
    ("sep/data/image.fits", "MJD-OBS", "mjd", "start", 0.864, 1),
    # MaxIm DL 6 with ACP: MJD-OBS and JD-OBS restate DATE-OBS (1 s; 1 ms on the newer one).
    ("stellarphot/stellarphot/photometry/tests/data/center_cutout_1.fits",
     "DATE-OBS", "isot", "start", 1.0, 1),
    ("stellarphot/stellarphot/tests/data/TIC-367710318-tiny.fit.bz2",
     "DATE-OBS", "isot", "start", 1e-3, 1),
    # LCO: DATE-OBS to the ms (UTSTART restates it); its MJD-OBS is kept out of the check.
    ("neoexchange/neoexchange/photometrics/tests/mef_raw_test_frame.fits",
     "DATE-OBS", "isot", "start", 1e-3, 1),
]  # fmt: skip


def _files(shared_data: Path, pattern: str) -> list[Path]:
    files = sorted(shared_data.glob(pattern))
    if not files:
        pytest.skip(f"{pattern} not in {shared_data}")
    return files


def _card_time(header: fits.Header, card: str, how: str) -> Time:
    if how == "isot":
        return Time(header[card], format="isot", scale="utc")
    return Time(float(header[card]), format=how, scale="utc")


@pytest.mark.parametrize("pattern, card, how, at, precision, count", TIME_SETS)
def test_times_against_their_best_card(
    shared_data: Path, pattern, card, how, at, precision, count
) -> None:
    files = _files(shared_data, pattern)
    assert len(files) == count
    for path in files:
        with quiet():
            info = frame_info(path)
            header, _ = read_header(path)  # an extension's header with the primary's cards
        assert info.time is not None, (path.name, info.problems)
        assert info.sources["time"].startswith(card), (path.name, info.sources["time"])
        assert info.time_precision == pytest.approx(precision, rel=1e-6), path.name
        assert not [p for p in info.problems if "disagree" in p or "not a date" in p]
        with quiet_erfa():
            start = _card_time(header, card, how)
            offset = float((info.time - start).to_value(u.s))
        expected = info.exptime / 2 if at == "start" else 0.0
        assert offset == pytest.approx(expected, abs=1e-6), path.name


def test_seestar_gain_is_measured_not_80(shared_data: Path) -> None:
    files = _files(shared_data, "seestar-osc/*.fit")
    header = frame_info(files[0])
    assert header.gain_setting == 80 and header.gain is None
    assert "gain setting" in header.sources["gain"]
    frames = scan(files)
    gains = {f.gain for f in frames}
    assert len(gains) == 1
    gain = gains.pop()
    source = frames[0].sources["gain"]
    assert source.startswith("measured from 3 light pairs (photon transfer)")
    error = float(source.split(" +- ")[1].split(" e-/ADU")[0])
    # Measured 0.0775 +- 0.0003 e-/ADU of the file (photon transfer on 3 pairs),
    # three orders of magnitude from the GAIN card's 80.
    assert 0.06 < gain < 0.10 and error < 0.01 * gain
    assert not any(f.problems for f in frames)


def test_seestar_values_come_in_steps_of_3_2_adu(shared_data: Path) -> None:
    """The profile's statement that the raw sub-frames are not ADC values padded to 16 bits."""
    (path,) = _files(shared_data, "seestar-osc/*212046.fit")
    data = fits.getdata(path).astype(np.int64)
    residues = np.bincount((data % 16).ravel(), minlength=16) / data.size
    assert sorted(np.flatnonzero(residues > 0.05)) == [1, 4, 7, 10, 14]


def test_tres1_times_and_cadence(shared_data: Path) -> None:
    files = _files(shared_data, "tres1-oscaar/*.fit.fz")
    frames = scan(files)
    lights = [f for f in frames if f.type == "light"]
    darks = [f for f in frames if f.type == "dark"]
    assert (len(lights), len(darks)) == (70, 10)
    (gain,) = {f.gain for f in frames}
    assert gain == pytest.approx(0.78)
    assert {f.sources["gain"] for f in frames} == {"EGAIN"}
    # Every third frame of 209 at 60 s: about 3.2 min apart, in file order.
    assert [f.path.name for f in lights] == sorted(f.path.name for f in lights)
    with quiet_erfa():
        steps = np.diff([f.time.jd for f in lights]) * 1440.0
        night = Time("2012-06-17T00:00:00", scale="utc")
        first, last = ((f.time - night).to_value(u.hour) for f in (lights[0], lights[-1]))
    assert np.median(steps) == pytest.approx(3.2, abs=0.2)
    # SOURCE.txt: observed 2012-06-17 01:56-05:41 UT; the first light kept is the
    # 20th (mid-exposure 01:56:05), the last the 227th (05:39:21).
    assert 1.9 < first < 1.95 and 5.6 < last < 5.7
    # The JD card (start, MaxIm DL) agrees with DATE-OBS within its second.
    for f in lights[::10]:
        with quiet():
            jd = float(fits.getval(f.path, "JD", ext=1))
        assert abs((jd - f.time.jd) * 86400 + 30.0) < 1.0
    assert all(f.pixel_scale is None for f in frames)  # FOCALLEN = 0, no scale card


def test_asteroid_night_site_and_clock(shared_data: Path) -> None:
    files = _files(shared_data, "asteroid2713-night1/*Light*.fit")
    for path in files[:: len(files) // 4]:
        info = frame_info(path)
        header = fits.getheader(path)
        lon, lat, height = info.site
        # TheSkyX: SITELONG '+71 29 06.00' is 71.485 deg west (MIT Wallace, MPC 810).
        assert (lon, lat) == (pytest.approx(-71.485, abs=1e-9), pytest.approx(42.61, abs=1e-9))
        site = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, height * u.m)
        start = Time(header["DATE-OBS"], scale="utc")
        # The header's LST at the exposure start: a wrong longitude sign would be 9.5 h off.
        lst = start.sidereal_time("apparent", longitude=site.lon)
        diff = (lst - Angle(header["LST"], unit=u.hourangle)).wrap_at(12 * u.hourangle)
        assert abs(diff.to_value(u.hourangle) * 3600) < 2.0
        # The pointing's altitude and azimuth at that time, as TheSkyX wrote them.
        pointing = SkyCoord(info.ra * u.deg, info.dec * u.deg)
        altaz = pointing.transform_to(AltAz(obstime=start, location=site))
        assert altaz.alt.deg == pytest.approx(header["CENTALT"], abs=0.01)
        assert altaz.az.deg == pytest.approx(header["CENTAZ"], abs=0.01)
        # LOCALTIM is Eastern Daylight Time, four hours behind DATE-OBS.
        local = Time.strptime(header["LOCALTIM"][:-4], "%m/%d/%Y %I:%M:%S.%f %p")
        assert float((start - local).to_value(u.s)) == pytest.approx(4 * 3600, abs=0.01)
        assert info.time_origin == "DATE-OBS + EXPTIME/2, 1 ms"
