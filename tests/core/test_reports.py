"""Report formats validated against their specifications and reference files."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.coordinates import Angle
from astropy.table import Table
from astropy.time import Time

from fluxion.core.reports import ExportError
from fluxion.core.reports.aavso import AAVSO_FIELDS, format_aavso, write_aavso
from fluxion.core.reports.alcdef import (
    REQUIRED_KEYS,
    AlcdefSession,
    check_alcdef,
    format_alcdef,
    parse_alcdef,
    write_alcdef,
)
from fluxion.core.reports.mpc import (
    MpcObservation,
    format_ades_psv,
    format_mpc80,
    pack_number,
    pack_provisional,
)
from fluxion.core.reports.table import read_positions, track_from_positions, write_table

JD = 2458405.5 + np.linspace(0.1, 0.2, 6)
MAG = np.array([14.512, 14.55, 14.601, 14.58, np.nan, 14.5])
ERR = np.full(6, 0.012)

SESSION = AlcdefSession(
    object_number=2713, object_name="Luxembourg", contact_name="A. Observer",
    contact_info="[observer@example.org]", observers="A. Observer", filter="C", magband="V",
    mpc_code="W34", facility="MIT Wallace Observatory", comparison=(("C1", 120.5, -5.25, 12.2),),
)  # fmt: skip


def test_alcdef_reference_file_passes_our_checker(shared_data):
    ref = shared_data / "neoexchange/neoexchange/photometrics/tests/433_738215_ALCDEF.txt"
    text = ref.read_text()
    assert check_alcdef(text) == []
    sessions = parse_alcdef(text)
    assert len(sessions) == 9
    meta, data = sessions[0]
    assert meta["MPCCODE"] == "V38" and data.shape == (29, 3)
    assert data[0].tolist() == [2458495.693115, 7.692, 0.004]


def test_alcdef_written_session_conforms_and_round_trips(tmp_path, shared_data):
    path = write_alcdef(tmp_path / "lc.alcdef", [(SESSION, JD, MAG, ERR)])
    text = path.read_text(encoding="ascii")
    assert check_alcdef(text) == []
    meta, data = parse_alcdef(text)[0]
    good = np.isfinite(MAG)
    assert data.shape == (good.sum(), 3)
    assert np.allclose(data[:, 0], JD[good], atol=5e-7)
    assert np.allclose(data[:, 1], MAG[good], atol=5e-4)
    assert meta["OBJECTNUMBER"] == "2713" and meta["DIFFERMAGS"] == "FALSE"
    assert meta["COMPRA1"] == "08:02:00.00" and meta["COMPDEC1"] == "-05:15:00.0"
    # Same DATA layout and every metadata key the neoexchange reference uses.
    ref = shared_data / "neoexchange/neoexchange/photometrics/tests/433_738215_ALCDEF.txt"
    ref_meta, _ = parse_alcdef(ref.read_text())[0]
    assert set(ref_meta) - set(meta) == set()
    data_lines = [ln for ln in text.splitlines() if ln.startswith("DATA=")]
    assert data_lines[0] == f"DATA={JD[0]:.6f}|+14.512|+0.012"
    # Session time is the session's middle, to the second.
    mid = Time(0.5 * (JD[0] + JD[-1]), format="jd").isot
    assert meta["SESSIONDATE"] + "T" + meta["SESSIONTIME"] == mid[:19]


def test_alcdef_refuses_missing_site_and_all_nan():
    bad = AlcdefSession(2713, "Luxembourg", "A", "[a@b]", "A")
    with pytest.raises(ExportError, match="observatory"):
        format_alcdef(bad, JD, MAG, ERR)
    with pytest.raises(ExportError, match="no valid point"):
        format_alcdef(SESSION, JD, np.full(6, np.nan), ERR)
    assert any("missing SESSIONDATE" in p for p in check_alcdef(
        format_alcdef(SESSION, JD, MAG, ERR).replace("SESSIONDATE", "XDATE")))  # fmt: skip
    assert set(REQUIRED_KEYS) <= set(parse_alcdef(format_alcdef(SESSION, JD, MAG, ERR))[0][0])


def test_aavso_extended_report_follows_the_specification(tmp_path):
    text = format_aavso(
        "EY UMa", JD, MAG, ERR, obscode="xyz", filter="V", comparison_name="ENSEMBLE",
        check_name="000-BBP-713", check_mag=np.full(6, -7.25), airmass=np.full(6, 1.234),
    )  # fmt: skip
    lines = text.splitlines()
    params = dict(ln[1:].split("=", 1) for ln in lines[:6])
    assert params == {"TYPE": "EXTENDED", "OBSCODE": "XYZ", "SOFTWARE": "Fluxion",
                      "DELIM": ",", "DATE": "JD", "OBSTYPE": "CCD"}  # fmt: skip
    rows = [ln.split(",") for ln in lines if not ln.startswith("#")]
    assert len(rows) == 5 and all(len(r) == len(AAVSO_FIELDS) for r in rows)
    r = dict(zip(AAVSO_FIELDS, rows[0], strict=True))
    assert r["DATE"] == f"{JD[0]:.5f}" and len(r["DATE"]) <= 16
    assert r["MAGNITUDE"] == "14.512" and "." in r["MAGNITUDE"] and len(r["MAGNITUDE"]) <= 8
    assert r["MAGERR"] == "0.012" and len(r["MAGERR"]) <= 6
    assert (r["TRANS"], r["MTYPE"], r["CNAME"], r["CMAG"]) == ("NO", "STD", "ENSEMBLE", "na")
    assert (r["KMAG"], r["AIRMASS"], r["GROUP"]) == ("-7.250", "1.2340", "na")
    # No blank lines (WebObs refuses them); only .txt/.csv/.tsv accepted.
    assert "" not in lines
    with pytest.raises(ExportError, match="only .txt"):
        write_aavso(tmp_path / "r.dat", text)
    assert write_aavso(tmp_path / "r.txt", text).read_text() == text
    with pytest.raises(ExportError, match="observer code"):
        format_aavso("EY UMa", JD, MAG, ERR, obscode="", filter="V")
    with pytest.raises(ExportError, match="not an AAVSO filter"):
        format_aavso("EY UMa", JD, MAG, ERR, obscode="XYZ", filter="clear")
    with pytest.raises(ExportError, match="delimiter"):
        format_aavso("EY UMa, the star", JD, MAG, ERR, obscode="XYZ", filter="V")


def test_mpc_packing_matches_the_mpc_examples():
    # Examples from the MPC's packed-designation documentation.
    assert pack_number(3202) == "03202"
    assert pack_number(100345) == "A0345"
    assert pack_number(360017) == "a0017"
    assert pack_number(620000) == "~0000"
    assert pack_number(3140113) == "~AZaz"
    assert pack_provisional("1995 XA") == "J95X00A"
    assert pack_provisional("1995 XL1") == "J95X01L"
    assert pack_provisional("2007 TA418") == "K07Tf8A"
    assert pack_provisional("2008 AA360") == "K08Aa0A"


def test_mpc80_columns_and_values():
    obs = [MpcObservation(2458405.6234567, 120.51234, -5.254321, 15.43),
           MpcObservation(2458405.7, 0.001, 5.0)]  # fmt: skip
    text = format_mpc80(obs, station="W34", number=2713, band="R")
    lines = text.splitlines()
    assert all(len(ln) == 80 for ln in lines)
    ln = lines[0]
    assert ln[0:5] == "02713" and ln[5:12] == " " * 7 and ln[14] == "C"
    assert ln[15:32] == "2018 10 14.123457"
    ra = Angle(ln[32:44].strip().replace(" ", ":"), unit="hourangle").deg
    dec = Angle(ln[44:56].strip().replace(" ", ":"), unit="deg").deg
    assert abs(ra - 120.51234) * 3600 * np.cos(np.radians(5.25)) < 0.01
    assert abs(dec + 5.254321) * 3600 < 0.006
    assert ln[65:71] == "15.4 R" and ln[77:80] == "W34"
    assert lines[1][65:71] == " " * 6 and lines[1][44] == "+"
    prov = format_mpc80(obs[:1], station="W34", designation="2018 AB12").splitlines()[0]
    assert prov[:12] == "     K18A12B"
    with pytest.raises(ExportError, match="observatory code"):
        format_mpc80(obs, station="W3", number=2713)


def test_ades_psv_has_header_and_aligned_records():
    obs = [MpcObservation(2458405.6234567, 120.51234, -5.254321, 15.43, 0.21, 0.18)]
    text = format_ades_psv(obs, station="W34", observers=["A. Observer"], number=2713)
    lines = text.splitlines()
    assert lines[0] == "# version=2017" and "! mpcCode W34" in lines
    records = [ln for ln in lines if not ln.startswith(("#", "!"))]
    head = [c.strip() for c in records[0].split("|")]
    row = dict(zip(head, [c.strip() for c in records[1].split("|")], strict=False))
    assert row["permID"] == "2713" and row["mode"] == "CCD" and row["stn"] == "W34"
    assert row["obsTime"] == "2018-10-14T02:57:46.659Z"
    assert float(row["ra"]) == pytest.approx(120.51234, abs=1e-7)
    assert (row["rmsRA"], row["rmsDec"], row["mag"], row["band"]) == (
        "0.210",
        "0.180",
        "15.43",
        "V",
    )


def test_positions_file_round_trips_into_the_same_clicks(tmp_path):
    jd = 2460000.5 + np.arange(5) * 0.01
    t = Table({"file": [f"f{i}.fits" for i in range(5)], "jd": jd,
               "ra": np.full(5, np.nan), "dec": np.full(5, np.nan),
               "x": [10.0, 11.1234, 12.2, 13.3, 14.4], "y": np.arange(5) * 2.0,
               "sigma_px": np.full(5, 0.05),
               "clicked": [True, False, True, False, True]})  # fmt: skip
    for suffix in (".csv", ".ecsv"):
        path = write_table(tmp_path / f"pos{suffix}", t)
        back = read_positions(path)
        # Match by file name even if the times were rounded by a spreadsheet.
        track = track_from_positions(back, jd + 0.5, [f"/data/f{i}.fits" for i in range(5)])
        assert track.frames == (0, 2, 4)
        assert track.click_in(2).x == pytest.approx(12.2, abs=1e-3)
        # Match by time when names differ.
        assert track_from_positions(back, jd).frames == (0, 2, 4)
    with pytest.raises(ExportError, match="no row"):
        track_from_positions(back, jd + 1.0)
    with pytest.raises(ExportError, match="no positions file"):
        read_positions(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ExportError, match="lacks column"):
        read_positions(tmp_path / "bad.csv")
