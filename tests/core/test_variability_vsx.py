"""Known variables from VSX through VizieR, replayed on 127.0.0.1, and cached.

The reply is the real VSX content of the EY UMa field (stellarphot's download
of B/vsx/vsx, Feder Observatory test data) written as VizieR sends a
cone search: a VOTable whose table is named B/vsx/vsx with VizieR's computed
_RAJ2000/_DEJ2000 and the catalogue's own columns. No test reaches the internet.
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

from fluxion.core.catalogs import CatalogError
from fluxion.core.variability.vsx import mark_known, vsx_variables

replay_server = replay.replay_server
trust_replay_server = replay.trust_replay_server

STELLARPHOT = "stellarphot/stellarphot/tests/data"
VOTABLE = "application/x-votable+xml"
EY_UMA = (135.5509, 49.8429)


def _vsx_votable(shared_data) -> tuple[bytes, Table]:
    """The EY UMa field's VSX rows as VizieR's VOTable reply."""
    t = Table.read(shared_data / STELLARPHOT / "unclipped_ey_uma_vsx.fits")
    reply = Table()
    reply["_RAJ2000"] = np.asarray(t["ra"], float)
    reply["_DEJ2000"] = np.asarray(t["dec"], float)
    reply["OID"] = np.asarray(t["OID"], np.int32)
    reply["Name"] = [str(v) for v in t["id"]]
    reply["Type"] = [str(v) for v in t["Type"]]
    reply["max"] = t["mag"]
    reply["n_max"] = [str(v) for v in t["passband"]]
    reply["min"] = t["min"]
    reply["Period"] = t["Period"]
    reply["_RAJ2000"].unit = reply["_DEJ2000"].unit = "deg"
    reply["Period"].unit = "d"
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W03)
        vot = from_table(reply)
    vot.resources[0].tables[0].name = "B/vsx/vsx"
    vot.to_xml(buf)
    return buf.getvalue(), t


def test_vsx_field_replayed_then_cached(shared_data, trust_replay_server, tmp_path):
    body, truth = _vsx_votable(shared_data)
    server = trust_replay_server
    server.add("/viz-bin/votable", body, content_type=VOTABLE)
    table = vsx_variables(*EY_UMA, 0.5, cache_dir=tmp_path, server=server.https_host)
    req = server.requests[0]
    assert req.asu["-source"] == "B/vsx/vsx"
    assert req.asu["-c"] == "135.55090000+49.84290000" and req.asu["-c.rd"] == "0.5"
    assert len(table) == len(truth) == 39
    ey = table[table["name"] == "EY UMa"]
    # EY UMa is an RR Lyrae star (VSX: RRAB/BL, 0.54907 d).
    assert len(ey) == 1 and ey["type"][0] == "RRAB/BL"
    assert np.isclose(ey["period"][0], 0.54907) and np.isclose(ey["ra"][0], 135.5865, atol=1e-3)
    period = np.asarray(table["period"], float)
    assert np.isfinite(period).sum() == int((~np.asarray(truth["Period"].mask)).sum())
    # Asked once: the same field again (or a smaller one) comes from the cache,
    # also when VizieR is down.
    server.add("/viz-bin/votable", b"down", status=503)
    again = vsx_variables(*EY_UMA, 0.3, cache_dir=tmp_path, server=server.https_host)
    assert len(server.requests) == 1
    assert 0 < len(again) < len(table)
    # Each star of a field is named by the VSX variable on it.
    names, index = mark_known(np.array([135.5865, 135.3]), np.array([49.8192, 49.0]), table)
    assert names[0] == "EY UMa (RRAB/BL)" and names[1] == ""
    assert index[0] >= 0 and index[1] == -1


def test_vsx_failures_say_why(trust_replay_server, tmp_path):
    server = trust_replay_server
    with pytest.raises(CatalogError, match="offline"):
        vsx_variables(*EY_UMA, 0.5, cache_dir=tmp_path, offline=True)
    server.add("/viz-bin/votable", b"internal error", status=500, content_type="text/plain")
    with pytest.raises(CatalogError, match="VSX: VizieR query failed"):
        vsx_variables(*EY_UMA, 0.5, cache_dir=tmp_path, server=server.https_host)
