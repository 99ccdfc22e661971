"""Header normalisation with synthetic headers, one card variant at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import EarthLocation
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

from fluxion.core.io.headers import normalise_header, pixel_scale_arcsec
from fluxion.core.io.obstime import quiet_erfa
from fluxion.core.io.profiles import ProfileError, load_profiles, match_profile, profile_by_name

START = Time("2024-03-05T21:10:00.250", scale="utc")
EXPTIME = 120.0


def _header(**cards) -> fits.Header:
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = 100
    h["NAXIS2"] = 80
    for key, value in cards.items():
        h[key.replace("_", "-") if key in ("MJD_OBS",) else key] = value
    return h


def _seconds_from(t: Time, ref: Time) -> float:
    return float((t - ref).sec)


MID_EXPECTED = Time("2024-03-05T21:11:00.250", scale="utc")


@pytest.mark.parametrize(
    "cards, source",
    [
        ({"DATE-OBS": "2024-03-05T21:10:00.250"}, "DATE-OBS + EXPTIME/2"),
        ({"DATE-OBS": "2024-03-05 21:10:00.250"}, "DATE-OBS + EXPTIME/2"),
        ({"DATE-OBS": "2024-03-05", "TIME-OBS": "21:10:00.250"}, "DATE-OBS+TIME-OBS + EXPTIME/2"),
        ({"DATE-OBS": "2024-03-05", "UT": "21:10:00.25"}, "DATE-OBS+UT + EXPTIME/2"),
        ({"DATE-OBS": "2024-03-05", "UTSTART": "21:10:00.250"}, "DATE-OBS+UTSTART + EXPTIME/2"),
        ({"DATE-OBS": "2024-03-05", "UTCSTART": "21 10 00.25"}, "DATE-OBS+UTCSTART + EXPTIME/2"),
        ({"MJD-OBS": START.mjd}, "MJD-OBS + EXPTIME/2"),
        ({"MJD-OBS": str(START.mjd)}, "MJD-OBS + EXPTIME/2"),
        ({"JD": START.jd}, "JD + EXPTIME/2"),
        ({"MIDTIMJD": MID_EXPECTED.jd}, "MIDTIMJD"),
        ({"MIDTIMJD": MID_EXPECTED.mjd}, "MIDTIMJD"),
        ({"DATE-AVG": "2024-03-05T21:11:00.250"}, "DATE-AVG"),
        # DATE-AVG (mid) is preferred over DATE-OBS (start) when both exist.
        ({"DATE-AVG": "2024-03-05T21:11:00.250", "DATE-OBS": "2024-03-05T21:10:00.25"}, "DATE-AVG"),
    ],
)
def test_mid_exposure_time_variants(cards, source) -> None:
    facts = normalise_header(_header(EXPTIME=EXPTIME, IMAGETYP="Light Frame", **cards))
    assert facts.time is not None, facts.problems
    # JD in double precision is good to ~20 microseconds.
    assert abs(_seconds_from(facts.time, MID_EXPECTED)) < 1e-3
    assert facts.time.scale == "utc"
    assert facts.sources["time"] == source
    assert facts.problems == ()


def test_old_style_date_and_exposure_in_minutes_for_plates() -> None:
    h = _header(ORIGIN="CASB -- STScI", **{"DATE-OBS": "29/11/51"}, UT="12:07:00.00")
    h["EXPOSURE"] = 50.0
    facts = normalise_header(h)
    assert facts.profile == "dss-plate"
    assert facts.exptime == 3000.0
    assert facts.sources["exptime"] == "EXPOSURE (min)"
    with quiet_erfa():  # UTC before 1960 makes ERFA warn "dubious year"
        assert facts.time.utc.isot == "1951-11-29T12:32:00.000"


def test_date_without_time_is_used_but_reported() -> None:
    facts = normalise_header(_header(EXPTIME=10.0, **{"DATE-OBS": "2000-09-27"}))
    assert facts.time is not None
    assert any("without time of day" in p for p in facts.problems)


def test_date_only_defers_to_mjd_obs() -> None:
    # ESO MIDAS writes DATE-OBS = 'dd/mm/yy' and the precise time in MJD-OBS.
    facts = normalise_header(_header(EXPTIME=1200.0, **{"DATE-OBS": "26/10/92"}, MJD_OBS=48921.5))
    assert facts.sources["time"] == "MJD-OBS + EXPTIME/2"
    assert abs(facts.time.mjd - (48921.5 + 600 / 86400)) < 1e-9
    assert facts.problems == ()


def test_missing_time_and_exposure_are_problems_not_errors() -> None:
    facts = normalise_header(_header(IMAGETYP="LIGHT"))
    assert facts.time is None and facts.exptime is None
    assert "no observation time in the header" in facts.problems
    assert "no exposure time in the header" in facts.problems
    start_only = normalise_header(_header(**{"DATE-OBS": "2024-03-05T21:10:00"}))
    assert any("exposure time unknown" in p for p in start_only.problems)
    assert abs(_seconds_from(start_only.time, Time("2024-03-05T21:10:00"))) < 1e-6


def test_disagreeing_time_cards_are_reported() -> None:
    h = _header(EXPTIME=60.0, **{"DATE-OBS": "2024-03-05T21:10:00.25"}, MJD_OBS=START.mjd + 0.001)
    facts = normalise_header(h)
    assert any("disagree by 86.4 s" in p for p in facts.problems)


@pytest.mark.parametrize(
    "cards, expected",
    [
        ({"EXPTIME": 30.0}, 30.0),
        ({"EXPOSURE": 45.0}, 45.0),
        ({"EXPTIME": "53.907456"}, 53.907456),
        ({"EXPTIME": "1.5D1"}, 15.0),
    ],
)
def test_exposure_cards(cards, expected) -> None:
    assert normalise_header(_header(**cards)).exptime == expected


def test_unparsable_number_is_a_problem() -> None:
    facts = normalise_header(_header(EXPTIME="long", GAIN="n/a", EGAIN=1.3))
    assert facts.exptime is None
    assert "EXPTIME='long' is not a number" in facts.problems
    # The next card in the profile's order is used.
    assert (facts.gain, facts.sources["gain"]) == (1.3, "EGAIN")


@pytest.mark.parametrize(
    "card, value, expected",
    [
        ("IMAGETYP", "Light Frame", "light"),
        ("IMAGETYP", "LIGHT", "light"),
        ("IMAGETYP", "OBJECT", "light"),
        ("OBSTYPE", "EXPOSE", "light"),
        ("IMAGETYP", "science", "light"),
        ("IMAGETYP", "zero", "bias"),
        ("IMAGETYP", "BIAS", "bias"),
        ("IMAGETYP", "Bias Frame", "bias"),
        ("IMAGETYP", "Dark Frame", "dark"),
        ("FRAME", "Dark", "dark"),
        ("IMAGETYP", "Flat Field", "flat"),
        ("IMAGETYP", "SKYFLAT", "flat"),
        ("OBSTYPE", "DOMEFLAT", "flat"),
        ("IMAGETYP", "FLAT", "flat"),
        ("IMAGETYP", "Tricolor", "unknown"),
    ],
)
def test_image_type_variants(card, value, expected) -> None:
    facts = normalise_header(_header(**{card: value}))
    assert facts.image_type == expected
    assert facts.sources["image_type"] == card
    if expected == "unknown":
        assert any("not a known image type" in p for p in facts.problems)


def test_image_type_guesses_are_marked() -> None:
    by_name = normalise_header(_header(EXPTIME=60.0), file_name="m42-Dark-60s_003.fits")
    assert by_name.image_type == "dark"
    assert by_name.sources["image_type"] == "guessed from file name"
    assert by_name.is_guess("image_type")
    zero = normalise_header(_header(EXPTIME=0.0), file_name="frame_001.fits")
    assert (zero.image_type, zero.sources["image_type"]) == ("bias", "guessed from exposure time 0")
    light = normalise_header(_header(EXPTIME=5.0), file_name="darkcloud_field.fits")
    assert light.image_type == "light" and light.is_guess("image_type")


@pytest.mark.parametrize(
    "cards, binning, source",
    [
        ({"XBINNING": 2, "YBINNING": 2}, (2, 2), "XBINNING/YBINNING"),
        ({"XBINNING": 3}, (3, 3), "XBINNING"),
        ({"CCDSUM": "2 1"}, (2, 1), "CCDSUM"),
        ({"BINNING": "4x4"}, (4, 4), "BINNING"),
        ({"BINNING": 2}, (2, 2), "BINNING"),
        ({}, (1, 1), "default"),
    ],
)
def test_binning_variants(cards, binning, source) -> None:
    facts = normalise_header(_header(**cards))
    assert (facts.binning, facts.sources["binning"]) == (binning, source)


@pytest.mark.parametrize(
    "cards, ra, dec",
    [
        ({"RA": 63.051, "DEC": -22.5}, 63.051, -22.5),
        ({"RA": "63.051", "DEC": "-22.5"}, 63.051, -22.5),
        ({"OBJCTRA": "04 12 12.24", "OBJCTDEC": "+22 53 01.8"}, 63.051, 22.883833333),
        ({"RA": "04:12:12.24", "DEC": "-22:53:01.8"}, 63.051, -22.883833333),
        ({"RA": " 04h12m12.24s", "DEC": "-22d53m01.8s"}, 63.051, -22.883833333),
        ({"OBJCTRA": "00 00 00.00", "OBJCTDEC": "-00 30 00.0"}, 0.0, -0.5),
    ],
)
def test_pointing_sexagesimal_and_degrees(cards, ra, dec) -> None:
    facts = normalise_header(_header(**cards))
    assert facts.ra == pytest.approx(ra, abs=1e-7)
    assert facts.dec == pytest.approx(dec, abs=1e-7)
    assert not [p for p in facts.problems if "RA" in p or "DEC" in p]


def test_numeric_ra_hours_vs_degrees_rule() -> None:
    # Numbers are degrees unless the profile or the card's comment says hours.
    h = _header(DEC=10.0)
    h["RA"] = (4.2034, "[h] right ascension")
    hours = normalise_header(h)
    assert hours.ra == pytest.approx(63.051)
    assert hours.sources["ra_unit"].startswith("hours")
    h["RA"] = (4.2034, "right ascension (deg)")
    assert normalise_header(h).ra == pytest.approx(4.2034)
    eso = normalise_header(_header(ORIGIN="ESO-MIDAS", RA=5.64817, DEC=-30.18297))
    assert eso.profile == "eso-midas" and eso.ra == pytest.approx(5.64817)


def test_out_of_range_pointing_is_refused() -> None:
    facts = normalise_header(_header(RA=400.0, DEC=10.0))
    assert facts.ra is None
    assert any("out of range" in p for p in facts.problems)


def _sky_wcs() -> WCS:
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [50.5, 40.5]
    w.wcs.cdelt = [-1e-4, 1e-4]
    return w


def test_pointing_falls_back_to_wcs_even_with_string_cards() -> None:
    h = _header()
    h.update(_sky_wcs().to_header())
    for key in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2", "CDELT1", "CDELT2"):
        h[key] = str(h[key])
    facts = normalise_header(h)
    assert facts.sources["ra"] == "guessed from WCS image centre"
    # (nx-1)/2, (ny-1)/2 = 49.5, 39.5 (0-based) is CRPIX: the centre is CRVAL.
    assert facts.ra == pytest.approx(150.0, abs=1e-9)
    assert facts.dec == pytest.approx(2.0, abs=1e-9)


def test_theskyx_longitude_is_west_positive() -> None:
    h = _header(SWCREATE="TheSkyX Version 10.5.0 Build 11587")
    h["SITELAT"] = "+42 36 36.00"
    h["SITELONG"] = "+71 29 06.00"
    facts = normalise_header(h)
    assert facts.profile == "theskyx"
    lon, lat, height = facts.site
    assert lon == pytest.approx(-(71 + 29 / 60 + 6 / 3600), abs=1e-9)
    assert lat == pytest.approx(42 + 36 / 60 + 36 / 3600, abs=1e-9)
    assert "west positive" in facts.sources["site"]
    # The same cards without TheSkyX are read east positive (FITS and MaxIm convention).
    del h["SWCREATE"]
    assert normalise_header(h).site[0] == pytest.approx(71.485, abs=1e-9)


def test_longitude_comment_decides_when_no_profile_does() -> None:
    h = _header(SITELAT=-29.25)
    h["SITELONG"] = (70.73, "[deg] West longitude")
    assert normalise_header(h).site[0] == pytest.approx(-70.73)
    wrapped = _header(SITELAT=10.0, SITELONG=210.0)
    assert normalise_header(wrapped).site[0] == pytest.approx(-150.0)


def test_site_variants() -> None:
    lco = normalise_header(_header(LATITUDE=30.679833, LONGITUD=-104.015173, HEIGHT=2030.0))
    assert lco.site == pytest.approx((-104.015173, 30.679833, 2030.0))
    loc = EarthLocation.from_geodetic(-17.8792, 28.7606, 2326.0)
    geo = _header(**{"OBSGEO-X": loc.x.value, "OBSGEO-Y": loc.y.value, "OBSGEO-Z": loc.z.value})
    facts = normalise_header(geo)
    assert facts.sources["site"] == "OBSGEO-X/Y/Z"
    assert facts.site == pytest.approx((-17.8792, 28.7606, 2326.0), abs=1e-6)
    no_height = normalise_header(_header(SITELAT=40.0, SITELONG=-3.0))
    assert no_height.site[2] == 0.0 and "height default" in no_height.sources["site"]


def test_gain_read_noise_saturation() -> None:
    facts = normalise_header(_header(EGAIN=2.07, RDNOISE="11.5", SATURATE=60000))
    assert (facts.gain, facts.read_noise, facts.saturation) == (2.07, 11.5, 60000.0)
    zero_gain = normalise_header(_header(GAIN=0.0))
    assert zero_gain.gain is None
    assert "GAIN=0.0 is not a valid gain; ignored" in zero_gain.problems
    guess = normalise_header(_header(BITPIX=16, BZERO=32768, BSCALE=1))
    assert guess.saturation == 65535.0 and guess.is_guess("saturation")


def test_simulator_style_header() -> None:
    """The cards core.simulation writes (MaxIm/N.I.N.A. shape, east-positive site)."""
    h = _header(
        IMAGETYP="Light Frame",
        **{"DATE-OBS": "2024-03-05T21:10:00.250"},
        EXPTIME=120.0,
        EXPOSURE=120.0,
        FILTER="V",
        OBJECT="2713 Luxembourg",
        RA=(63.051, "[deg] mount pointing RA (J2000)"),
        DEC=(22.883833, "[deg] mount pointing Dec (J2000)"),
        OBJCTRA=("04 12 12.24", "[hms] mount pointing RA"),
        OBJCTDEC=("+22 53 01.8", "[dms] mount pointing Dec"),
        GAIN=1.4,
        RDNOISE=9.0,
        SATURATE=62000.0,
        AIRMASS=1.23,
        XBINNING=2,
        YBINNING=2,
        SITELAT=28.7606,
        SITELONG=-17.8792,
        SITEELEV=2326.0,
        FOCALLEN=2000.0,
        XPIXSZ=9.0,
        BITPIX=16,
        BZERO=32768,
    )
    f = normalise_header(h)
    assert f.profile == "generic"
    assert abs(_seconds_from(f.time, MID_EXPECTED)) < 1e-6
    assert (f.image_type, f.exptime, f.filter, f.object) == ("light", 120.0, "V", "2713 Luxembourg")
    assert (f.gain, f.read_noise, f.saturation, f.airmass) == (1.4, 9.0, 62000.0, 1.23)
    assert f.binning == (2, 2)
    assert (f.ra, f.dec) == (63.051, 22.883833)
    assert f.site == pytest.approx((-17.8792, 28.7606, 2326.0), abs=1e-12)
    assert pixel_scale_arcsec(f.focal_length_mm, f.pixel_size_um) == pytest.approx(0.928, abs=1e-3)
    assert f.problems == ()
    assert not any(f.is_guess(k) for k in ("time", "gain", "ra", "site", "binning"))


def test_pixel_scale_guess() -> None:
    # C14 (3910 mm) with 24 um pixels: 1.266 arcsec/px.
    assert pixel_scale_arcsec(3910.0, 24.0) == pytest.approx(1.2661, abs=1e-4)
    assert pixel_scale_arcsec(None, 24.0) is None
    assert pixel_scale_arcsec(3910.0, 0.0) is None


def test_profiles_load_and_match() -> None:
    profiles = load_profiles()
    names = [p.name for p in profiles]
    assert names[0] == "generic"
    assert {"theskyx", "maxim-dl", "lco", "swope", "dss-plate", "eso-midas"} <= set(names)
    assert match_profile(_header(SWCREATE="MaxIm DL Version 6.18")).name == "maxim-dl"
    assert match_profile(_header(ORIGIN="LCOGT")).name == "lco"
    assert match_profile(_header(ORIGIN="LCO/OCIW")).name == "swope"
    assert match_profile(_header(ORIGIN="somewhere")).name == "generic"
    # Profiles inherit the generic cards they do not override.
    assert (
        profile_by_name("theskyx").cards["exptime"] == profile_by_name("generic").cards["exptime"]
    )
    assert profile_by_name("theskyx").cards["gain"][0] == "EGAIN"


def test_user_profile_overrides_and_bad_profiles(tmp_path: Path) -> None:
    mine = tmp_path / "observatory.json"
    mine.write_text(
        json.dumps(
            {
                "name": "backyard",
                "match": {"TELESCOP": "^Backyard"},
                "cards": {"filter": ["FILTPOS"]},
                "conventions": {"exptime_unit": "ms"},
            }
        )
    )
    profiles = load_profiles([mine])
    h = _header(TELESCOP="Backyard 8in", FILTPOS="R", FILTER="ignored", EXPTIME=2500)
    facts = normalise_header(h, profiles=profiles)
    assert (facts.profile, facts.filter, facts.exptime) == ("backyard", "R", 2.5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "conventions": {"longitude_positive": "up"}}))
    with pytest.raises(ProfileError, match="longitude_positive"):
        load_profiles([bad])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_profiles([broken])


def test_every_fact_has_a_source() -> None:
    h = _header(
        **{"DATE-OBS": "2024-03-05T21:10:00"}, EXPTIME=1.0, IMAGETYP="LIGHT", RA=1.0, DEC=2.0
    )
    facts = normalise_header(h)
    for fact in ("time", "exptime", "image_type", "ra", "dec", "binning"):
        assert facts.sources[fact]
    assert np.isfinite(facts.time.jd)
