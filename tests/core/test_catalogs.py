"""Reference catalogs against recorded service replies replayed on 127.0.0.1.

VizieR is replayed over HTTPS (astroquery builds https URLs) with a self-signed
certificate; the Gaia archive over HTTP (TapPlus takes a server URL). No test
reaches the internet.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import replay_server as replay
from astropy.io.votable import from_table
from astropy.io.votable.exceptions import W03
from astropy.table import Table

from fluxion.core.catalogs import (
    CatalogCache,
    CatalogChain,
    CatalogError,
    CatalogSource,
    Cone,
    GaiaArchiveCatalog,
    LocalCatalog,
    VizierCatalog,
    VizierSpec,
    angular_separation_deg,
    apply_proper_motion,
    select_cone,
)

# The replay server's fixtures, used by name below.
replay_server = replay.replay_server
trust_replay_server = replay.trust_replay_server

STELLARPHOT = "stellarphot/stellarphot/tests/data"
VOTABLE = "application/x-votable+xml"
EY_UMA = (135.5509, 49.8429)  # the field centre of stellarphot's EY UMa WCS


def _apass_votable(shared_data) -> tuple[bytes, Table]:
    """A real VizieR APASS DR9 reply (stellarphot's download) as VizieR sends it."""
    t = Table.read(shared_data / STELLARPHOT / "all_apass_ey_uma.ecsv")
    t = t[~t["Vmag"].mask] if hasattr(t["Vmag"], "mask") else t
    t["_RAJ2000"] = t["RAJ2000"]
    t["_DEJ2000"] = t["DEJ2000"]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Column names such as g'mag make astropy invent XML ids; VizieR sends its own.
        warnings.simplefilter("ignore", W03)
        vot = from_table(t)
    vot.resources[0].tables[0].name = "II/336/apass9"
    vot.to_xml(buf)
    return buf.getvalue(), t


def _vizier(server, name="APASS DR9", **kw) -> VizierCatalog:
    return VizierCatalog(name, server=server.https_host, **kw)


def test_vizier_apass_replay(shared_data, trust_replay_server):
    body, raw = _apass_votable(shared_data)
    trust_replay_server.add("/viz-bin/votable", body, content_type=VOTABLE)
    cone = Cone(*EY_UMA, radius=0.25, mag_limit=15.0)
    table = _vizier(trust_replay_server).query(cone)

    req = trust_replay_server.requests[0]
    assert req.scheme == "https" and req.method == "POST"
    assert req.asu["-source"] == "II/336/apass9"
    assert req.asu["Vmag"] == "<15"
    assert req.asu["-c"] == "135.55090000+49.84290000" and req.asu["-c.rd"] == "0.25"
    # Every star not fainter than the limit comes back (those without V too: they
    # still pin the astrometry), positions and magnitudes unchanged, brightest first.
    v = np.asarray(raw["Vmag"].filled(np.inf), dtype=float)
    want = raw[v < 15.0]
    order = np.argsort(v[v < 15.0], kind="stable")
    assert len(table) == len(want) > 15
    assert set(table.meta["bands"]) == {"B", "V", "g", "r", "i"}
    assert np.allclose(table["ra"], want["RAJ2000"][order], atol=1e-9)
    assert np.allclose(table["dec"], want["DEJ2000"][order], atol=1e-9)
    assert np.allclose(table["V"], want["Vmag"][order], atol=1e-4)
    assert np.all(np.diff(table["V"]) >= 0)
    # APASS's e_RAJ2000 is one night's scatter: the mean position's error is that
    # over sqrt(nobs) (0.1-0.5 arcsec), which is what weights the WCS fit.
    nobs = np.asarray(want["nobs"][order], float)
    assert np.allclose(table["ra_err"], want["e_RAJ2000"][order] / np.sqrt(nobs), rtol=1e-6)
    assert np.allclose(table["dec_err"], want["e_DEJ2000"][order] / np.sqrt(nobs), rtol=1e-6)


def test_vizier_errors_are_clear(shared_data, trust_replay_server):
    recorded = shared_data / "astroquery" / "vizier"
    server = trust_replay_server
    cone = Cone(*EY_UMA, radius=0.2)
    server.add("/viz-bin/votable", b"internal error", status=500, content_type="text/plain")
    with pytest.raises(
        CatalogError, match=r"APASS DR9: VizieR answered with an error \(HTTP 500\)"
    ):
        _vizier(server).query(cone)
    # A real VizieR reply reporting that its database was down.
    server.add("/viz-bin/votable", recorded / "no_server_error.xml", content_type=VOTABLE)
    with pytest.raises(CatalogError, match="APASS DR9"):
        _vizier(server).query(cone)
    # A real reply of a table without equatorial positions.
    server.add("/viz-bin/votable", recorded / "kang2010.xml", content_type=VOTABLE)
    spec = VizierSpec("Kang 2010", "J/ApJ/706/83/ysos", {"J": ("Jmag", None)}, "J")
    with pytest.raises(CatalogError, match="no '_RAJ2000'/'_DEJ2000' position columns"):
        VizierCatalog(spec, server=server.https_host).query(cone)
    # A server that does not answer in time.
    server.add("/viz-bin/votable", b"", delay=3.0)
    with pytest.raises(CatalogError, match="time-out"):
        _vizier(server, timeout=0.3).query(cone)


def test_gaia_archive_replay(shared_data, replay_server):
    recorded = shared_data / "astroquery" / "gaia" / "1710099405832VAL-result.vot"
    replay_server.add("/tap-server/tap/sync", recorded, content_type=VOTABLE)
    truth = Table.read(recorded, format="votable")
    star = truth[0]
    cone = Cone(float(star["ra"]), float(star["dec"]), radius=0.1)
    table = GaiaArchiveCatalog(replay_server.http_url + "/", timeout=5).query(cone)

    req = replay_server.requests[-1]
    assert req.path == "/tap-server/tap/sync"
    adql = req.form["QUERY"][0]
    assert "gaiadr3.gaia_source" in adql and "CONTAINS" in adql
    assert len(table) == 1  # the other recorded star is far outside the cone
    assert table["ra"][0] == pytest.approx(float(star["ra"]), abs=1e-12)
    assert table["G"][0] == pytest.approx(float(star["phot_g_mean_mag"]), abs=1e-5)
    assert table["pm_ra"][0] == pytest.approx(float(star["pmra"]), abs=1e-9)
    assert table["epoch"][0] == pytest.approx(2016.0)
    # Gaia's position errors come in mas; the schema's are arcsec.
    assert table["ra_err"][0] == pytest.approx(float(star["ra_error"]) / 1000, rel=1e-6)
    assert table["dec_err"][0] == pytest.approx(float(star["dec_error"]) / 1000, rel=1e-6)
    assert "ra_error" in adql
    snr = float(star["phot_g_mean_flux_over_error"])
    assert table["G_err"][0] == pytest.approx(2.5 / np.log(10) / snr, rel=1e-6)


def test_gaia_archive_down_is_clear(replay_server):
    replay_server.add("/tap-server/tap/sync", b"<html>down</html>", status=503)
    with pytest.raises(CatalogError, match="Gaia DR3"):
        GaiaArchiveCatalog(replay_server.http_url + "/", timeout=5).query(Cone(10, 10, 0.1))


def test_cache_serves_a_field_once_fetched(shared_data, trust_replay_server, tmp_path):
    body, _ = _apass_votable(shared_data)
    server = trust_replay_server
    server.add("/viz-bin/votable", body, content_type=VOTABLE)
    cache = CatalogCache(tmp_path / "cache")
    chain = CatalogChain([_vizier(server)], cache=cache)
    first = chain.query(Cone(*EY_UMA, radius=0.15, mag_limit=16))
    assert not first.from_cache and len(server.requests) == 1
    # A smaller, shifted cone inside the fetched one, and a brighter limit: no new request.
    inner = Cone(EY_UMA[0] + 0.02, EY_UMA[1], radius=0.1, mag_limit=14)
    second = chain.query(inner)
    assert second.from_cache and len(server.requests) == 1
    assert second.age_seconds < 60
    sep = angular_separation_deg(inner.ra, inner.dec, second.table["ra"], second.table["dec"])
    assert np.all(sep <= 0.1) and np.all(second.table["V"] < 14)
    # Offline with the service gone, the cache still answers; a new field is refused clearly.
    server.clear()
    offline = CatalogChain([_vizier(server)], cache=cache, offline=True)
    assert len(offline.query(inner).table) == len(second.table)
    with pytest.raises(CatalogError, match=r"not asked \(working offline"):
        offline.query(Cone(200.0, -30.0, 0.1))
    assert server.requests == []


def test_chain_falls_back_to_stale_cache_then_next_source(
    shared_data, trust_replay_server, tmp_path
):
    body, raw = _apass_votable(shared_data)
    server = trust_replay_server
    cache = CatalogCache(tmp_path / "cache")
    server.add("/viz-bin/votable", body, content_type=VOTABLE)
    cone = Cone(*EY_UMA, radius=0.1)
    CatalogChain([_vizier(server)], cache=cache).query(cone)
    server.add("/viz-bin/votable", b"broken", status=502)
    # Expired cache and a failing service: the stale answer serves, and says so.
    stale = CatalogChain([_vizier(server)], cache=cache, max_age_days=-1).query(cone)
    assert stale.from_cache
    assert any("VizieR answered with an error (HTTP 502)" in m for m in stale.messages)
    # No cache for this field: the next source (a local file) answers.
    local = LocalCatalog(shared_data / STELLARPHOT / "all_refcat2_ey_uma.ecsv", epoch=2015.5)
    far = Cone(EY_UMA[0] + 0.05, EY_UMA[1] - 0.1, radius=0.05)
    answer = CatalogChain([_vizier(server), local], cache=cache).query(far)
    assert answer.source == "all_refcat2_ey_uma.ecsv" and len(answer.table) > 5
    assert "APASS DR9: VizieR answered with an error (HTTP 502)" in answer.messages[0]


def test_proper_motion_moves_stars_to_the_frame_epoch():
    t = Table(
        {
            "ra": [30.0, 30.0],
            "dec": [60.0, 60.0],
            "pmra": [1000.0, 0.0],
            "pmdec": [-500.0, 0.0],
            "V": [10.0, 11.0],
        }
    )
    t.meta["epoch"] = 2016.0
    chain = CatalogChain([LocalCatalog(t, name="pm test")])
    moved = chain.query(Cone(30.0, 60.0, 0.1, epoch=2026.0)).table
    # 10 years at (1000, -500) mas/yr: 10 arcsec east (on the sky), 5 arcsec south.
    d_ra = (moved["ra"][0] - 30.0) * np.cos(np.radians(60.0)) * 3600
    d_dec = (moved["dec"][0] - 60.0) * 3600
    assert d_ra == pytest.approx(10.0, abs=1e-3)
    assert d_dec == pytest.approx(-5.0, abs=1e-6)
    assert moved["ra"][1] == 30.0 and moved["dec"][1] == 60.0
    # The stars are moved in the answer's own table: the source's stay where they
    # were, and a second query moves them by the same amount, not twice.
    again = chain.query(Cone(30.0, 60.0, 0.1, epoch=2026.0)).table
    assert list(again["ra"]) == list(moved["ra"]) and list(again["dec"]) == list(moved["dec"])
    held = chain.sources[0].table
    assert list(held["ra"]) == [30.0, 30.0] and list(held["epoch"]) == [2016.0, 2016.0]
    assert moved.meta["epoch"] == 2026.0 and "epoch" not in held.meta


class _Online(CatalogSource):
    """A network catalog without the network: a new table of the same stars each query."""

    name = "online stub"
    online = True

    def __init__(self, table: Table) -> None:
        self.table, self.asked = table, 0

    def query(self, cone: Cone) -> Table:
        self.asked += 1
        return select_cone(self.table, cone)


def test_a_cached_answer_is_moved_in_a_copy_fetched_or_not(tmp_path):
    rng = np.random.default_rng(5)
    n = 50
    raw = Table(
        {
            "ra": 30.0 + rng.uniform(-0.1, 0.1, n),
            "dec": 60.0 + rng.uniform(-0.05, 0.05, n),
            "pmra": rng.normal(0.0, 300.0, n),
            "pmdec": rng.normal(0.0, 300.0, n),
            "V": rng.uniform(9.0, 15.0, n),
        }
    )
    raw.meta["epoch"] = 2016.0
    source = _Online(LocalCatalog(raw, name="stub").table)
    chain = CatalogChain([source], cache=CatalogCache(tmp_path / "cache"))
    cone = Cone(30.0, 60.0, 0.05, epoch=2030.0)
    fetched = chain.query(cone)
    cached = chain.query(cone)
    assert source.asked == 1 and not fetched.from_cache and cached.from_cache
    expected = apply_proper_motion(select_cone(source.table, cone), cone.epoch)
    for answer in (fetched, cached, chain.query(cone)):
        assert answer.table.meta["epoch"] == 2030.0
        for name in ("ra", "dec", "epoch"):
            np.testing.assert_array_equal(answer.table[name], expected[name])
    assert np.all(source.table["epoch"] == 2016.0) and "epoch" not in source.table.meta


@pytest.mark.parametrize(
    "fmt,suffix", [("ascii.ecsv", ".ecsv"), ("fits", ".fits"), ("ascii.csv", ".csv")]
)
def test_local_catalog_files(tmp_path, fmt, suffix):
    rng = np.random.default_rng(1)
    t = Table(
        {
            "RAJ2000": 100 + rng.uniform(-0.2, 0.2, 50),
            "DEJ2000": 20 + rng.uniform(-0.2, 0.2, 50),
            "Vmag": rng.uniform(10, 16, 50),
            "e_Vmag": np.full(50, 0.02),
            "B": rng.uniform(10, 16, 50),
        }
    )
    path = tmp_path / f"stars{suffix}"
    t.write(path, format=fmt)
    before = path.read_bytes()
    got = LocalCatalog(path).query(Cone(100.0, 20.0, 0.1, mag_limit=14.0))
    sep = angular_separation_deg(100.0, 20.0, t["RAJ2000"], t["DEJ2000"])
    want = (sep <= 0.1) & (t["Vmag"] <= 14.0)
    assert len(got) == int(want.sum()) > 0
    assert set(got.meta["bands"]) == {"V", "B"}
    assert np.allclose(np.sort(got["V"]), np.sort(t["Vmag"][want]))
    assert np.all(got["V_err"] == 0.02)
    assert path.read_bytes() == before  # input never modified


def test_local_catalog_bad_files_say_why(tmp_path):
    no_mag = tmp_path / "pos.csv"
    Table({"ra": [1.0], "dec": [2.0], "name": ["a"]}).write(no_mag)
    with pytest.raises(CatalogError, match="no magnitude column"):
        LocalCatalog(no_mag).query(Cone(1, 2, 1))
    no_pos = tmp_path / "mags.csv"
    Table({"x": [1.0], "y": [2.0], "V": [3.0]}).write(no_pos)
    with pytest.raises(CatalogError, match="no right ascension"):
        LocalCatalog(no_pos).query(Cone(1, 2, 1))
    with pytest.raises(CatalogError, match="not found"):
        LocalCatalog(tmp_path / "missing.ecsv").query(Cone(1, 2, 1))
    garbage = tmp_path / "garbage.fits"
    garbage.write_bytes(b"not a fits file at all")
    with pytest.raises(CatalogError, match="cannot read"):
        LocalCatalog(garbage).query(Cone(1, 2, 1))


def test_index_file_stars_agree_with_apass(shared_data):
    from fluxion.core.catalogs import IndexFileCatalog, find_index_files

    files = [f for f in find_index_files() if "tycho2-1" in f.name]
    if not files:
        pytest.skip("no astrometry.net Tycho-2 index files installed (astrometry-data-tycho2)")
    tycho = IndexFileCatalog(files).query(Cone(*EY_UMA, radius=0.3))
    apass = LocalCatalog(shared_data / STELLARPHOT / "all_apass_ey_uma.ecsv").table
    assert len(tycho) >= 3 and tycho.meta["bands"] == ["VT"]
    # The answer serves as a table catalog as it is (fluxion run hands it to every frame).
    again = LocalCatalog(tycho).table
    assert again.meta["bands"] == ["VT"] and np.array_equal(again["VT"], tycho["VT"])
    # Each Tycho-2 star inside APASS's field has an APASS star within 1 arcsec,
    # and the two V magnitudes agree to the Tycho-2 VT precision.
    inside = angular_separation_deg(*EY_UMA, tycho["ra"], tycho["dec"]) < 0.12
    assert inside.sum() >= 1
    for star in tycho[inside]:
        sep = angular_separation_deg(star["ra"], star["dec"], apass["ra"], apass["dec"]) * 3600
        k = int(np.argmin(sep))
        assert sep[k] < 1.0
        if np.isfinite(apass["V"][k]):  # APASS has no V for its saturated stars
            assert abs(star["VT"] - apass["V"][k]) < 0.3


def test_local_catalog_position_errors_in_arcsec():
    """Position errors are recognised by name and unit, and given in arcsec."""
    base = {"ra": [10.0, 10.01], "dec": [5.0, 5.01], "G": [12.0, 13.0]}
    # Gaia archive names carry mas even without a unit.
    gaia = LocalCatalog(Table({**base, "ra_error": [20.0, 40.0], "dec_error": [10.0, 30.0]})).table
    assert np.allclose(gaia["ra_err"], [0.02, 0.04]) and np.allclose(gaia["dec_err"], [0.01, 0.03])
    # A unit on the column wins (VizieR's Gaia e_RA_ICRS is in mas).
    vizier = Table({**base, "e_RA_ICRS": [500.0, 250.0], "e_DE_ICRS": [100.0, 50.0]})
    vizier["e_RA_ICRS"].unit = vizier["e_DE_ICRS"].unit = "mas"
    got = LocalCatalog(vizier).table
    assert np.allclose(got["ra_err"], [0.5, 0.25]) and np.allclose(got["dec_err"], [0.1, 0.05])
    # A user's ra_err without a unit is arcsec; APASS's per-night scatter is divided by sqrt(nobs).
    user = LocalCatalog(Table({**base, "ra_err": [0.3, 0.2], "dec_err": [0.1, 0.4]})).table
    assert np.allclose(user["ra_err"], [0.3, 0.2])
    apass = Table({**base, "e_RAJ2000": [0.8, 0.6], "e_DEJ2000": [0.4, 0.3], "nobs": [4, 9]})
    got = LocalCatalog(apass).table
    assert np.allclose(got["ra_err"], [0.4, 0.2]) and np.allclose(got["dec_err"], [0.2, 0.1])
    # No error columns: unknown, not zero.
    assert np.all(np.isnan(LocalCatalog(Table(base)).table["ra_err"]))


def test_select_cone_is_the_cut_then_the_sort():
    # Stars in and out of the cone, fainter than the limit, without a magnitude, tied.
    rng = np.random.default_rng(4)
    n = 400
    mag = np.round(rng.uniform(8.0, 18.0, n), 1)
    mag[::37] = np.nan
    table = Table(
        {
            "ra": 150.0 + rng.uniform(-0.6, 0.6, n),
            "dec": 2.0 + rng.uniform(-0.6, 0.6, n),
            "V": mag,
            "id": np.arange(n),
        },
        meta={"mag_band": "V", "epoch": 2016.0},
    )
    cone = Cone(150.0, 2.0, 0.4, 16.0)
    got = select_cone(table, cone)
    sep = angular_separation_deg(150.0, 2.0, table["ra"], table["dec"])
    keep = (sep <= 0.4) & ~(mag > 16.0)
    cut = table[keep]
    expect = cut[np.argsort(np.where(np.isfinite(cut["V"]), cut["V"], np.inf), kind="stable")]
    assert 50 < len(got) < n
    assert list(got["id"]) == list(expect["id"])  # brightest first, ties in catalog order
    assert got.meta == table.meta and got.colnames == table.colnames
    assert len(select_cone(table, Cone(10.0, -40.0, 0.1, 16.0))) == 0
