"""Horizons and SkyBoT clients replayed from recorded responses on 127.0.0.1."""

from __future__ import annotations

import socket
from urllib.parse import unquote

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time
from astropy.wcs import WCS
from replay_server import replay_server, trust_replay_server  # noqa: F401

from fluxion.core.targets.ephemerides import (
    EphemerisError,
    horizons_ephemeris,
    horizons_location,
    known_objects_in_field,
)

HORIZONS_PATH = "/api/horizons.api"
SKYBOT_PATH = "/webservices/skybot/api/conesearch.php"

# Ceres from the recorded ceres_ephemerides_range.txt (geocentric, 10-day step).
CERES_TIMES = Time(["2022-06-10", "2022-06-20", "2022-06-30", "2022-07-10"], scale="utc")


def _point_at(monkeypatch, conf, item, url):
    # The server URL is a list-valued ConfigItem (a class attribute of Conf)
    # whose validation refuses other URLs: replace the attribute for the test.
    monkeypatch.setattr(type(conf), item, url)


@pytest.fixture
def horizons(trust_replay_server, shared_data, monkeypatch):  # noqa: F811
    from astroquery.jplhorizons import conf

    server = trust_replay_server
    _point_at(monkeypatch, conf, "horizons_server", server.https_url + HORIZONS_PATH)
    return server, shared_data / "astroquery" / "jplhorizons"


def _recorded_rows(path):
    """RA, Dec (deg) and JD of the recorded table, read without astroquery."""
    text = path.read_text()
    body = text.split("$$SOE")[1].split("$$EOE")[0].strip().splitlines()
    rows = [[c.strip() for c in ln.split(",")] for ln in body]
    jd = np.array([float(r[1]) for r in rows])
    ra = np.array([float(r[4]) for r in rows])
    dec = np.array([float(r[5]) for r in rows])
    return jd, ra, dec


def test_horizons_ephemeris_parsed_and_interpolated(horizons):
    server, folder = horizons
    server.add(HORIZONS_PATH, folder / "ceres_ephemerides_range.txt", content_type="text/plain")
    eph = horizons_ephemeris("Ceres", CERES_TIMES, observatory_code="568", step_minutes=14400)
    jd, ra, dec = _recorded_rows(folder / "ceres_ephemerides_range.txt")
    assert eph.source == "JPL Horizons" and "Ceres" in eph.name
    assert np.allclose(eph.table["jd"], jd) and np.allclose(eph.table["ra"], ra)
    assert np.allclose(eph.table["dec"], dec)
    # At the tabulated epochs the interpolation returns the table exactly.
    at = eph.sky(jd)
    assert np.max(at.separation(SkyCoord(ra * u.deg, dec * u.deg)).arcsec) < 1e-6
    # Between epochs it lies between neighbours (smooth motion).
    mid = eph.sky(0.5 * (jd[1] + jd[2]))
    assert min(ra[1], ra[2]) < mid.ra.deg[0] < max(ra[1], ra[2])
    # The request carried the observatory code and the target.
    q = server.requests[0].query
    assert q["CENTER"] == ["'568'"] and "Ceres" in unquote(q["COMMAND"][0])
    assert q["EPHEM_TYPE"] == ["OBSERVER"]
    with pytest.raises(EphemerisError, match="does not cover"):
        eph.sky(jd[-1] + 1.0)


def test_horizons_site_from_headers_is_sent_as_geodetic_coordinates(horizons):
    server, folder = horizons
    server.add(HORIZONS_PATH, folder / "ceres_ephemerides_range.txt", content_type="text/plain")
    site = EarthLocation.from_geodetic(-71.48 * u.deg, 42.61 * u.deg, 100 * u.m)
    horizons_ephemeris("Ceres", CERES_TIMES, site=site)
    q = server.requests[0].query
    assert q["CENTER"] == ["coord@399"] and q["COORD_TYPE"] == ["GEODETIC"]
    lon, lat, height = (float(v) for v in q["SITE_COORD"][0].strip("'").split(","))
    assert (lon, lat) == pytest.approx((-71.48, 42.61)) and height == pytest.approx(0.1)
    assert horizons_location() == "500"


def test_horizons_error_reply_becomes_a_clear_error(horizons):
    server, folder = horizons
    server.add(HORIZONS_PATH, folder / "tlist_error.txt", content_type="text/plain")
    with pytest.raises(EphemerisError, match="JPL Horizons answered.*clicking"):
        horizons_ephemeris("499", CERES_TIMES)


def test_horizons_down_falls_back_to_cache_then_fails_clearly(horizons, tmp_path, monkeypatch):
    from astroquery.jplhorizons import conf

    server, folder = horizons
    server.add(HORIZONS_PATH, folder / "ceres_ephemerides_range.txt", content_type="text/plain")
    first = horizons_ephemeris("Ceres", CERES_TIMES, step_minutes=14400, cache_dir=tmp_path)
    # Now the service is down (a closed port): the cache answers.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}{HORIZONS_PATH}"
    _point_at(monkeypatch, conf, "horizons_server", dead)
    again = horizons_ephemeris("Ceres", CERES_TIMES, step_minutes=14400, cache_dir=tmp_path)
    assert again.source == "cache"
    assert np.allclose(again.table["ra"], first.table["ra"])
    with pytest.raises(EphemerisError, match="could not be reached.*clicking"):
        horizons_ephemeris("Vesta", CERES_TIMES, cache_dir=tmp_path)
    # A server error status is an error too, not a crash.
    _point_at(monkeypatch, conf, "horizons_server", server.https_url + HORIZONS_PATH)
    server.add(HORIZONS_PATH, "Internal error", status=500, content_type="text/plain")
    with pytest.raises(EphemerisError, match="JPL Horizons"):
        horizons_ephemeris("Ceres", CERES_TIMES)


def test_ephemeris_track_in_frame_pixels(horizons):
    server, folder = horizons
    server.add(HORIZONS_PATH, folder / "ceres_ephemerides_range.txt", content_type="text/plain")
    eph = horizons_ephemeris("Ceres", CERES_TIMES, step_minutes=14400)
    jd, ra, dec = _recorded_rows(folder / "ceres_ephemerides_range.txt")
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crpix = [512, 512]
    w.wcs.crval = [ra[0], dec[0]]
    w.wcs.cd = np.diag([-1.0, 1.0]) / 3600.0
    pred = eph.predict(jd[:1], [w])
    assert pred["x"][0] == pytest.approx(511.0, abs=1e-6)
    assert pred["y"][0] == pytest.approx(511.0, abs=1e-6)


@pytest.fixture
def skybot(trust_replay_server, shared_data, monkeypatch):  # noqa: F811
    from astroquery.imcce import conf

    server = trust_replay_server
    _point_at(monkeypatch, conf, "skybot_server", server.https_url + SKYBOT_PATH)
    return server, shared_data / "astroquery" / "imcce" / "skybot_query.vot"


def test_skybot_lists_known_objects_in_the_field(skybot):
    server, vot = skybot
    server.add(SKYBOT_PATH, vot, content_type="application/x-votable+xml")
    center = SkyCoord(81.2833 * u.deg, 4.49278 * u.deg)
    found = known_objects_in_field(center, 0.2 * u.deg, Time("2025-01-02"), observatory_code="X05")
    assert len(found) == 4
    first = found[0]
    assert first["number"] == 229762 and first["name"] == "G!kun||'homdima"
    # 05 25 12.7657 +04 29 25.081 in the recorded VOTable.
    expected = SkyCoord("05h25m12.7657s", "+04d29m25.081s")
    assert SkyCoord(first["ra"] * u.deg, first["dec"] * u.deg).separation(expected).arcsec < 1e-3
    assert first["v_mag"] == pytest.approx(19.6)
    assert 0 in set(found["number"])  # unnumbered objects are kept, with number 0
    q = server.requests[0].query
    assert q["-loc"] == ["X05"] and float(q["-rd"][0]) == pytest.approx(0.2)


def test_skybot_down_is_a_clear_error(skybot):
    server, _ = skybot
    server.add(SKYBOT_PATH, "Service unavailable", status=503, content_type="text/plain")
    with pytest.raises(EphemerisError, match="SkyBoT"):
        known_objects_in_field(SkyCoord(0 * u.deg, 0 * u.deg), 0.1 * u.deg, Time("2025-01-02"))
