"""The NASA Exoplanet Archive client, replayed from recorded answers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from replay_server import replay_server, trust_replay_server  # noqa: F401

from fluxion.core.transit.archive import archive_ephemeris
from fluxion.core.transit.ephemeris import Ephemeris, EphemerisError

DATA = Path(__file__).parent / "data" / "exoplanet_archive"
ALIAS = "/cgi-bin/Lookup/nph-aliaslookup.py"
TAP = "/TAP"
VOTABLE = "text/xml;content=x-votable"


@pytest.fixture
def archive(trust_replay_server):  # noqa: F811
    server = trust_replay_server
    server.add(ALIAS, DATA / "tres1b_aliaslookup.json", content_type="application/json")
    server.add(TAP + "/sync", DATA / "tres1b_pscomppars.xml", content_type=VOTABLE)
    server.add(TAP + "/sync", DATA / "tap_schema_tables.xml", content_type=VOTABLE,
               contains="TAP_SCHEMA")  # fmt: skip
    urls = {"tap_url": server.http_url + TAP, "alias_url": server.http_url + ALIAS + "?objname="}
    return server, urls


def test_archive_ephemeris_read_from_the_recorded_answer(archive, tmp_path):
    server, urls = archive
    eph = archive_ephemeris("tres-1 b", cache_dir=tmp_path, **urls)
    assert eph.name == "TrES-1 b" and eph.source == "NASA Exoplanet Archive"
    assert eph.period == pytest.approx(3.0300689) and eph.period_err == pytest.approx(7e-7)
    assert eph.t0 == pytest.approx(2455489.66026) and eph.t0_err == pytest.approx(0.00044)
    assert eph.rp_rs == pytest.approx(0.1358) and eph.a_rs == pytest.approx(10.48)
    assert eph.a_rs_err is None  # masked in the archive: no invented error
    assert eph.depth == pytest.approx(0.018)  # percent in the archive
    assert (eph.teff, eph.logg) == (5230.0, 4.6)
    assert eph.ra == pytest.approx(286.0408755)
    # The name was resolved by the alias service, then pscomppars asked for it.
    assert server.requests[0].path == ALIAS
    assert server.requests[0].query["objname"] == ["tres-1 b"]
    queries = [unquote_plus(r.text) for r in server.requests if r.path.startswith(TAP)]
    assert any("pscomppars" in q and "TrES-1 b" in q and "pl_tranmid" in q for q in queries)
    # The answer is cached: a second call asks nothing.
    n = len(server.requests)
    again = archive_ephemeris("TrES-1 b", cache_dir=tmp_path, **urls)
    assert len(server.requests) == n and "cached" in again.source
    assert again.t0 == eph.t0 and again.period == eph.period


def test_prediction_and_o_minus_c_for_the_2012_transit(archive, tmp_path):
    _, urls = archive
    eph = archive_ephemeris("TrES-1 b", cache_dir=tmp_path, **urls)
    p = eph.predict(2456095.6)
    # SOURCE.txt of the TrES-1 frames: epoch 200, Tc = 2456095.6740 +- 0.0005.
    assert p.epoch == 200 and p.tc == pytest.approx(2456095.6740, abs=5e-5)
    assert p.tc_err == pytest.approx(0.0005, abs=5e-5)
    oc = eph.o_minus_c(p.tc + 2.0 / 1440, 0.001)
    assert oc["o_minus_c_min"] == pytest.approx(2.0, abs=1e-6) and oc["epoch"] == 200


def test_offline_uses_the_cache_and_says_so(archive, tmp_path):
    server, urls = archive
    archive_ephemeris("TrES-1 b", cache_dir=tmp_path, **urls)
    server.close()  # the service is gone
    eph = archive_ephemeris("TrES-1 b", cache_dir=tmp_path, refresh=True, **urls)
    assert "cached" in eph.source and eph.period == pytest.approx(3.0300689)
    with pytest.raises(EphemerisError, match="could not be reached.*the period and T0"):
        archive_ephemeris("TrES-1 b", cache_dir=tmp_path / "empty", **urls)


def test_unknown_planet_is_said_by_name(archive, tmp_path):
    server, urls = archive
    server.add(TAP + "/sync", DATA / "tres1b_pscomppars_empty.xml", content_type=VOTABLE,
               contains="pscomppars")  # fmt: skip
    alias = json.loads((DATA / "tres1b_aliaslookup.json").read_text())
    alias["manifest"]["lookup_status"] = "Lookup failed"
    alias["system"] = {}
    server.add(ALIAS, json.dumps(alias), content_type="application/json")
    with pytest.raises(EphemerisError, match="knows no planet called 'Kepler-9999 z'"):
        archive_ephemeris("Kepler-9999 z", cache_dir=tmp_path, **urls)


def test_user_ephemeris_is_checked():
    with pytest.raises(EphemerisError, match="reduced date"):
        Ephemeris(period=3.03, t0=56095.67)
    with pytest.raises(EphemerisError, match="positive"):
        Ephemeris(period=-1.0, t0=2456095.67)
