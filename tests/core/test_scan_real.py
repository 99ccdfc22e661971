"""``scan`` on the real data in ../shared/data: facts checked against the headers' truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.time import Time

from fluxion.core.io.fitsio import is_fits_name
from fluxion.core.io.headers import normalise_header
from fluxion.core.io.sequence import group_frames, scan
from fluxion.core.runtime.quiet import quiet

ASTEROID = "asteroid2713-night1"


@pytest.fixture(scope="module")
def night(shared_data: Path):
    folder = shared_data / ASTEROID
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    return scan(folder)


def test_asteroid_night_counts_exposure_and_gain(night) -> None:
    groups = group_frames(night)
    assert groups.counts() == {"bias": 10, "dark": 5, "flat": 0, "light": 25, "unknown": 0}
    lights = groups.lights[("2713 Luxembourg", "Open")]
    assert len(lights) == 25
    assert {f.exptime for f in lights} == {180.0}
    assert list(groups.darks) == [180.0]
    assert {f.gain for f in night} == {2.07}
    assert all(f.sources["gain"] == "EGAIN" for f in night)
    assert {f.shape for f in night} == {(1024, 1024)}
    assert all(not f.problems for f in night)


def test_asteroid_night_mid_exposure_times(night) -> None:
    lights = [f for f in night if f.type == "light"]
    # Sorted by time, and every light's time is DATE-OBS (start) + 90 s.
    jds = [f.jd for f in lights]
    assert jds == sorted(jds)
    for f in lights:
        start = Time(fits.getval(f.path, "DATE-OBS"), scale="utc")
        assert abs((f.time - start).sec - 90.0) < 1e-3
    first = min(lights, key=lambda f: f.jd)
    assert first.path.name.endswith("00000015.fit")
    assert first.time_utc == "2018-10-13T02:04:40.984"


def test_asteroid_night_site_is_west_of_greenwich(night) -> None:
    # TheSkyX writes SITELONG = '+71 29 06.00' meaning 71.485 deg WEST (MIT Wallace).
    lon, lat, _ = night[0].site
    assert lon == pytest.approx(-71.485, abs=1e-6)
    assert lat == pytest.approx(42.61, abs=1e-6)
    # OBJCTRA '04 12 12.262' is hours: 63.05 deg.
    first = next(f for f in night if f.path.name.endswith("00000015.fit"))
    assert first.ra == pytest.approx(15 * (4 + 12 / 60 + 12.262 / 3600), abs=1e-9)
    assert first.dec == pytest.approx(22 + 53 / 60 + 1.76 / 3600, abs=1e-9)


def test_every_fits_file_in_shared_data_scans(shared_data: Path) -> None:
    """No exception anywhere; table-only files are reported, images are typed."""
    files = [p for p in shared_data.rglob("*") if p.is_file() and is_fits_name(p.name)]
    frames = scan(shared_data, recursive=True)
    assert len(frames) == len(files)
    by_name = {f.path.relative_to(shared_data).as_posix(): f for f in frames}
    for f in frames:
        if f.type == "unknown":
            assert f.problems, f"{f.path} is unknown without a reason"
    # Multi-extension LCO raw frame: first amplifier, its own gain, binning from CCDSUM.
    mef = by_name["neoexchange/neoexchange/photometrics/tests/mef_raw_test_frame.fits"]
    assert (mef.hdu, mef.shape, mef.binning, mef.gain) == (1, (522, 544), (2, 2), 6.42)
    assert mef.type == "light" and mef.profile == "lco"
    # Photographic plate: EXPOSURE is in minutes, DATE-OBS dd/mm/yy + UT.
    plate = by_name["astropy-data/photometry/M6707HH.fits"]
    assert plate.exptime == 3000.0
    assert plate.time_utc == "1951-11-29T12:32:00.000"
    # UK Schmidt (DSS GetImage) longitude 210.934 is west positive: Siding Spring 149.07 E.
    horse = by_name["astropy-data/tutorials/FITS-images/HorseHead.fits"]
    assert horse.site[0] == pytest.approx(149.066, abs=1e-3)
    # ESO MIDAS: numeric RA in degrees, time from MJD-OBS (DATE-OBS has no time of day).
    sep_image = by_name["sep/data/image.fits"]
    assert sep_image.ra == pytest.approx(5.64817)
    assert sep_image.jd == pytest.approx(48921.62787 + 2400000.5 + 600 / 86400, abs=1e-8)
    # 2MASS: no pointing cards, the WCS gives the centre.
    gc = by_name["astropy-data/galactic_center/gc_2mass_j.fits"]
    assert gc.sources["ra"].startswith("guessed from WCS")
    assert np.hypot(gc.ra - 266.4, gc.dec + 28.93333) < 0.01


def test_lco_and_swope_text_headers(shared_data: Path) -> None:
    """neoexchange keeps real headers as text files; normalise them directly."""
    folder = shared_data / "neoexchange/neoexchange/photometrics/tests"
    if not folder.is_dir():
        pytest.skip(f"{folder} not present")
    with quiet():  # the text files carry a few non-standard cards
        lco = fits.Header.fromtextfile(folder / "example_lco_proc_hdr")
        pp = fits.Header.fromtextfile(folder / "example_pp_hdr")
        swope = fits.Header.fromtextfile(folder / "swope_test_header")
    f = normalise_header(lco)
    # DATE-OBS is rounded to the second; UTSTART '22:48:14.724' refines it.
    assert f.profile == "lco" and f.sources["time"] == "DATE-OBS+UTSTART + EXPTIME/2"
    assert f.time.isot == "2016-06-06T22:49:04.724"
    assert (f.image_type, f.binning, f.gain) == ("light", (2, 2), 1.0)
    assert f.site[0] == pytest.approx(20.8100389)  # [deg East]
    assert f.problems == ()
    # The Photometry Pipeline's MIDTIMJD is the mid-time: it must agree with ours.
    g = normalise_header(pp)
    assert abs((g.time - Time(pp["MIDTIMJD"], format="jd", scale="utc")).sec) < 1e-3
    s = normalise_header(swope)
    assert (s.profile, s.gain, s.sources["gain"]) == ("swope", 1.04, "EGAIN")
    assert s.ra == pytest.approx(15 * (3 + 2 / 60 + 30.1 / 3600))
