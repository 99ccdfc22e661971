"""The Horizons answer cache: kept in a folder not yet made, damaged caches said clearly.

Horizons is replaced by a canned answer (no network): these tests are about
what happens around the query.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
from astropy.table import Table
from astropy.time import Time
from astroquery.jplhorizons import HorizonsClass

from fluxion.core.targets import ephemerides
from fluxion.core.targets.ephemerides import EphemerisError, horizons_ephemeris

TIMES = Time(["2024-09-10T23:00:00", "2024-09-11T01:00:00"], scale="utc")


def _answer() -> Table:
    jd = np.linspace(TIMES[0].jd - 0.01, TIMES[1].jd + 0.01, 12)
    raw = Table({"datetime_jd": jd, "RA": 310.0 + (jd - jd[0]), "DEC": 40.0 - 0.5 * (jd - jd[0])})
    raw["V"] = 15.5
    raw["targetname"] = "2713 Luxembourg (1938 EA)"
    return raw


@pytest.fixture
def horizons_up(monkeypatch):
    monkeypatch.setattr(HorizonsClass, "ephemerides_async", lambda self, **kw: "reply")
    monkeypatch.setattr(ephemerides, "_query_then_parse", lambda service, response: _answer())


@pytest.fixture
def horizons_down(monkeypatch):
    def fail(self, **kw):
        raise requests.exceptions.ConnectionError("no route to host")

    monkeypatch.setattr(HorizonsClass, "ephemerides_async", fail)


def test_answer_is_kept_in_a_cache_folder_not_yet_made(horizons_up, tmp_path):
    cache = tmp_path / "project" / "ephemerides"
    eph = horizons_ephemeris("2713", TIMES, cache_dir=cache)
    assert eph.source == "JPL Horizons" and "Luxembourg" in eph.name
    # Interpolated halfway between two table rows: the linear motion, to 1e-6 deg.
    jd = float(np.mean(TIMES.jd))
    expected = 310.0 + (jd - (TIMES[0].jd - 0.01))
    assert abs(eph.sky(jd).ra.deg - expected) < 1e-6
    files = list(cache.glob("horizons-*.ecsv"))
    assert len(files) == 1


def test_offline_uses_the_cache_and_a_damaged_cache_is_a_clear_error(
    horizons_up, tmp_path, monkeypatch
):
    cache = tmp_path / "ephemerides"
    online = horizons_ephemeris("2713", TIMES, cache_dir=cache)
    monkeypatch.setattr(
        HorizonsClass,
        "ephemerides_async",
        lambda self, **kw: (_ for _ in ()).throw(requests.exceptions.ConnectionError("down")),
    )
    offline = horizons_ephemeris("2713", TIMES, cache_dir=cache)
    assert offline.source == "cache"
    np.testing.assert_allclose(offline.table["ra"], online.table["ra"], rtol=0, atol=1e-12)
    (path,) = cache.glob("horizons-*.ecsv")
    path.write_text("# %ECSV 1.0\nnot a table at all\n")
    with pytest.raises(EphemerisError, match=r"could not be reached.*cached ephemeris.*unreadable"):
        horizons_ephemeris("2713", TIMES, cache_dir=cache)


def test_unwritable_cache_keeps_the_answer(horizons_up, tmp_path):
    blocker = tmp_path / "ephemerides"
    blocker.write_text("a file where the cache folder should be")
    eph = horizons_ephemeris("2713", TIMES, cache_dir=blocker)
    assert eph.source == "JPL Horizons" and len(eph.table) == 12


def test_offline_without_cache_says_what_to_do(horizons_down, tmp_path):
    with pytest.raises(EphemerisError, match="could not be reached.*clicking"):
        horizons_ephemeris("2713", TIMES, cache_dir=tmp_path / "none")
