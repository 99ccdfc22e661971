"""``fluxion zeropoint --catalog NAME``: the field's stars through the catalog chain.

VizieR is the local replay server (a real APASS DR9 reply of the EY UMa field);
nothing reaches the internet.
"""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io.votable import from_table
from astropy.io.votable.exceptions import W03
from astropy.table import Table
from astropy.wcs.utils import fit_wcs_from_points

from fluxion.app.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import replay_server as replay  # noqa: E402

replay_server = replay.replay_server
trust_replay_server = replay.trust_replay_server

PHOT = "stellarphot/stellarphot/differential_photometry/tests/data/2014-12-29-ey-uma-9.fits"
APASS = "stellarphot/stellarphot/tests/data/all_apass_ey_uma.ecsv"
VOTABLE = "application/x-votable+xml"
N_FRAMES = 4


@pytest.fixture(scope="module")
def night(shared_data, tmp_path_factory):
    """The first frames of the EY UMa photometry, the APASS file and its VizieR reply."""
    phot = Table.read(shared_data / PHOT)
    keep = np.isin(phot["file"], np.unique(phot["file"])[:N_FRAMES])
    folder = tmp_path_factory.mktemp("eyuma")
    path = folder / "ey-uma.ecsv"
    phot[keep].write(path)
    apass = Table.read(shared_data / APASS)
    apass = apass[~apass["Vmag"].mask] if hasattr(apass["Vmag"], "mask") else apass
    apass["_RAJ2000"] = apass["RAJ2000"]
    apass["_DEJ2000"] = apass["DEJ2000"]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Column names such as g'mag make astropy invent XML ids; VizieR sends its own.
        warnings.simplefilter("ignore", W03)
        vot = from_table(apass)
    vot.resources[0].tables[0].name = "II/336/apass9"
    vot.to_xml(buf)
    return path, shared_data / APASS, buf.getvalue()


def _zeropoints(out: Path) -> Table:
    return Table.read(out / "zeropoints.ecsv")


def _run(path, out, *extra) -> int:
    return main(["zeropoint", str(path), "--out", str(out), *extra])


def test_named_catalog_is_fetched_once_cached_and_matches_the_file(
    night, trust_replay_server, tmp_path, capsys
):
    path, apass_file, reply = night
    server = trust_replay_server
    server.add("/viz-bin/votable", reply, content_type=VOTABLE)
    cache = tmp_path / "cache"
    named = ["--catalog", "APASS DR9", "--vizier-server", server.https_host,
             "--cache-dir", str(cache)]  # fmt: skip
    assert _run(path, tmp_path / "named", *named) == 0
    assert "1 field(s) from APASS DR9 (fetched)" in capsys.readouterr().out
    # One query for the whole night: a cone around the field, not per frame.
    assert len(server.requests) == 1
    asked = server.requests[0].asu
    assert asked["-source"] == "II/336/apass9"
    # Centred on the field (EY UMa at 135.55 +49.84), a little wider than it.
    ra, dec = (float(v) for v in asked["-c"].replace("+", " +").split())
    assert abs(ra - 135.55) < 0.05 and abs(dec - 49.84) < 0.05
    assert 0.1 < float(asked["-c.rd"]) < 0.5
    assert list(cache.rglob("*.ecsv"))
    # The same calibration as with the catalog given as a file.
    assert _run(path, tmp_path / "file", "--catalog", str(apass_file)) == 0
    zp_named, zp_file = _zeropoints(tmp_path / "named"), _zeropoints(tmp_path / "file")
    assert len(zp_named) == N_FRAMES and zp_named["calibrated"].all()
    np.testing.assert_allclose(zp_named["zero_point"], zp_file["zero_point"], atol=0.002)
    np.testing.assert_array_equal(zp_named["n_stars"], zp_file["n_stars"])
    # Offline, the cache answers alone: no new request, same zero points.
    assert _run(path, tmp_path / "offline", *named, "--offline") == 0
    assert "(cache)" in capsys.readouterr().out
    assert len(server.requests) == 1
    np.testing.assert_allclose(
        _zeropoints(tmp_path / "offline")["zero_point"], zp_named["zero_point"], atol=1e-9
    )


def test_service_down_falls_back_along_the_chain(night, trust_replay_server, tmp_path, capsys):
    path, apass_file, _ = night
    server = trust_replay_server
    server.add("/viz-bin/votable", b"internal error", status=500, content_type="text/plain")
    common = ["--vizier-server", server.https_host, "--cache-dir", str(tmp_path / "cache")]
    # Nothing else to ask: instrumental magnitudes, and the reason says why.
    assert _run(path, tmp_path / "down", "--catalog", "APASS DR9", *common) == 1
    zps = _zeropoints(tmp_path / "down")
    assert not zps["calibrated"].any()
    assert "no reference catalog" in zps["reason"][0] and "APASS DR9" in zps["reason"][0]
    assert len(server.requests) == 1  # the failed field is not asked again per frame
    # With a local file after it in the chain, the file answers.
    chain = f"APASS DR9,{apass_file}"
    assert _run(path, tmp_path / "chain", "--catalog", chain, *common) == 0
    out = capsys.readouterr().out
    assert "from all_apass_ey_uma" in out and "VizieR answered with an error (HTTP 500)" in out
    assert _zeropoints(tmp_path / "chain")["calibrated"].all()


def test_field_from_the_wcs_when_the_table_has_pixels_only(night, tmp_path):
    path, apass_file, _ = night
    phot = Table.read(path)
    phot = phot[phot["file"] == phot["file"][0]]  # one frame: one WCS
    single = tmp_path / "single.ecsv"
    phot.write(single)
    good = np.isfinite(np.asarray(phot["RA"], float))
    sky = SkyCoord(np.asarray(phot["RA"], float)[good], np.asarray(phot["Dec"], float)[good],
                   unit="deg")  # fmt: skip
    xy = (np.asarray(phot["xcenter"], float)[good], np.asarray(phot["ycenter"], float)[good])
    wcs = fit_wcs_from_points(xy, sky, projection="TAN")
    pixels_only = phot.copy()
    pixels_only.remove_columns(["RA", "Dec"])
    pixels_only.meta.update(dict(wcs.to_header()))
    moved = tmp_path / "pixels.ecsv"
    pixels_only.write(moved)
    # Through the catalog chain (a field query) and with the catalog file itself.
    assert _run(moved, tmp_path / "wcs", "--catalog", f"{apass_file},{apass_file}") == 0
    assert _run(moved, tmp_path / "wcs_file", "--catalog", str(apass_file)) == 0
    assert _run(single, tmp_path / "radec", "--catalog", str(apass_file)) == 0
    np.testing.assert_allclose(
        _zeropoints(tmp_path / "wcs")["zero_point"],
        _zeropoints(tmp_path / "radec")["zero_point"],
        atol=0.002,
    )
    assert len(_zeropoints(tmp_path / "wcs")) == 1
    np.testing.assert_allclose(
        _zeropoints(tmp_path / "wcs_file")["zero_point"],
        _zeropoints(tmp_path / "radec")["zero_point"],
        atol=0.002,
    )


def test_unknown_catalog_name_is_a_clear_error(night, tmp_path, capsys):
    path, _, _ = night
    assert _run(path, tmp_path / "x", "--catalog", "No Such Survey") == 2
    assert "unknown catalog" in capsys.readouterr().err
