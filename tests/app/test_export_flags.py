"""Report flags of ``fluxion lightcurve`` / ``fluxion track``: written, parsed back, checked."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.app.commands.reports import alcdef_filter_code
from fluxion.core.reports.alcdef import check_alcdef, parse_alcdef
from fluxion.core.simulation.simulate import ASTEROID_ID, NightConfig, simulate_night

N = 6
META = ["--observers", "A. Observer; B. Helper", "--contact-name", "A. Observer",
        "--contact-info", "a.observer@example.org"]  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    out = tmp_path_factory.mktemp("night")
    config = NightConfig(shape=(256, 256), n_frames=N, n_bias=0, n_dark=0, n_flat=0,
                         write_wcs=True)  # fmt: skip
    simulate_night(out, config)
    truths = [Table.read(out / "truth" / f"light_{i + 1:04d}.ecsv") for i in range(N)]
    return out, truths


def _row(truth, source_id):
    return truth[truth["id"] == source_id][0]


def _clicks(truths):
    ast = [_row(t, ASTEROID_ID) for t in truths]
    return ["--click", f"0,{ast[0]['x']:.2f},{ast[0]['y']:.2f}",
            "--click", f"{N - 1},{ast[-1]['x']:.2f},{ast[-1]['y']:.2f}"]  # fmt: skip


def test_asteroid_light_curve_as_alcdef_mpc_and_ades(night, tmp_path):
    folder, truths = night
    out = {k: tmp_path / f"2713.{k}" for k in ("ecsv", "alcdef", "mpc", "psv")}
    rc = main(["lightcurve", str(folder), *_clicks(truths), "-o", str(out["ecsv"]),
               "--alcdef", str(out["alcdef"]), "--mpc", str(out["mpc"]),
               "--ades", str(out["psv"]), "--number", "2713", "--object", "Luxembourg",
               "--obscode", "W34", *META])  # fmt: skip
    assert rc == 0
    lc = Table.read(out["ecsv"])
    # ALCDEF: conforms to the standard, and the data are the light curve's.
    text = out["alcdef"].read_text()
    assert check_alcdef(text) == []
    meta, data = parse_alcdef(text)[0]
    assert meta["OBJECTNUMBER"] == "2713" and meta["OBJECTNAME"] == "Luxembourg"
    assert meta["MPCCODE"] == "W34" and meta["DIFFERMAGS"] == "TRUE"
    assert meta["OBSERVERS"] == "A. Observer, B. Helper" and meta["FILTER"] == "V"
    assert meta["MAGBAND"] == "V"  # differential, through the V filter
    good = np.isfinite(lc["mag"])
    assert data.shape[0] == good.sum() == N
    np.testing.assert_allclose(data[:, 0], lc["jd_utc"][good], atol=5e-7)
    np.testing.assert_allclose(data[:, 1], lc["mag"][good], atol=5e-4)
    # The asteroid's truth sky positions in the two clicked frames.
    truth_sky = SkyCoord(
        [_row(truths[i], ASTEROID_ID)["ra"] for i in (0, N - 1)] * u.deg,
        [_row(truths[i], ASTEROID_ID)["dec"] for i in (0, N - 1)] * u.deg,
    )
    # MPC 80 columns: one line per clicked frame, read back by column.
    lines = out["mpc"].read_text().splitlines()
    assert len(lines) == 2 and all(len(ln) == 80 for ln in lines)
    assert all(ln[:5] == "02713" and ln[77:80] == "W34" and ln[14] == "C" for ln in lines)
    mpc_sky = SkyCoord([ln[32:44] for ln in lines], [ln[44:56] for ln in lines],
                       unit=(u.hourangle, u.deg))  # fmt: skip
    assert np.all(mpc_sky.separation(truth_sky).arcsec < 0.5)
    # ADES PSV: the header's observers and the positions in degrees.
    psv = out["psv"].read_text().splitlines()
    assert "! mpcCode W34" in psv and "! name B. Helper" in psv
    body = [ln for ln in psv if not ln.startswith(("#", "!"))]
    cols = [c.strip() for c in body[0].split("|")]
    rows = [dict(zip(cols, [v.strip() for v in ln.split("|")], strict=False)) for ln in body[1:]]
    assert len(rows) == 2 and rows[0]["permID"] == "2713" and rows[0]["stn"] == "W34"
    ades_sky = SkyCoord([float(r["ra"]) for r in rows] * u.deg,
                        [float(r["dec"]) for r in rows] * u.deg)  # fmt: skip
    assert np.all(ades_sky.separation(truth_sky).arcsec < 0.5)
    assert all(0 < float(r["rmsRA"]) < 1.0 for r in rows)


def test_alcdef_of_unfiltered_frames_says_clear_not_v(night, tmp_path):
    # A camera's "Open" wheel slot is unfiltered light: ALCDEF's code is C, and
    # the differential magnitudes are in that clear band, not in V.
    folder, truths = night
    lights = tmp_path / "lights"
    shutil.copytree(folder, lights)
    for path in sorted(lights.glob("light_*.fits")):
        fits.setval(path, "FILTER", value="Open")
    out = tmp_path / "2713.alcdef"
    rc = main(["lightcurve", str(lights), *_clicks(truths), "-o", str(tmp_path / "lc.ecsv"),
               "--alcdef", str(out), "--number", "2713", "--obscode", "W34", *META])  # fmt: skip
    assert rc == 0
    text = out.read_text()
    assert check_alcdef(text) == []
    meta, data = parse_alcdef(text)[0]
    assert (meta["FILTER"], meta["MAGBAND"], meta["DIFFERMAGS"]) == ("C", "C", "TRUE")
    assert data.shape[0] == N


@pytest.mark.parametrize(
    ("name", "code"),
    [("Open", "C"), ("", "C"), ("L", "C"), ("Clear", "C"), ("IRCUT", "C"), ("v", "V"), ("Rc", "R"),
     ("r'", "SR"), ("SG", "SG")],
)  # fmt: skip
def test_frame_filter_names_become_alcdef_codes(name, code):
    assert alcdef_filter_code(name) == code


def test_variable_star_as_aavso_extended(night, tmp_path):
    folder, truths = night
    t0 = truths[0]
    target = _row(t0, 25)
    comps = [_row(t0, k) for k in (4, 39, 17, 32)]  # three comparisons and a check star
    comp_args = []
    for c in comps:
        comp_args += ["--comparison", f"{c['x']:.2f},{c['y']:.2f},{c['mag_V']:.3f}"]
    report = tmp_path / "star.txt"
    rc = main(["lightcurve", str(folder), "--radec", str(target["ra"]), str(target["dec"]),
               *comp_args, "-o", str(tmp_path / "star.ecsv"), "--aavso", str(report),
               "--aavso-code", "XOBS", "--object", "SIM STAR 25"])  # fmt: skip
    assert rc == 0
    lc = Table.read(tmp_path / "star.ecsv")
    lines = report.read_text().splitlines()
    assert lines[:6] == ["#TYPE=EXTENDED", "#OBSCODE=XOBS", "#SOFTWARE=Fluxion", "#DELIM=,",
                         "#DATE=JD", "#OBSTYPE=CCD"]  # fmt: skip
    rows = [ln.split(",") for ln in lines[7:]]
    assert len(rows) == N and all(len(r) == 15 for r in rows)
    assert {r[0] for r in rows} == {"SIM STAR 25"} and {r[4] for r in rows} == {"V"}
    assert {r[6] for r in rows} == {"STD"} and {r[7] for r in rows} == {"ENSEMBLE"}
    np.testing.assert_allclose([float(r[1]) for r in rows], lc["jd_utc"], atol=1e-5)
    mags = np.array([float(r[2]) for r in rows])
    np.testing.assert_allclose(mags, lc["mag"], atol=5e-4)
    # Standard magnitudes from the comparisons' catalogue values: near the truth
    # (raw frames: the flat's vignetting across the field is not removed).
    assert abs(np.median(mags) - target["mag_V"]) < 0.1
    assert all(r[10] != "na" for r in rows)  # the check star's magnitude


def test_track_writes_the_mpc_report_too(night, tmp_path):
    folder, truths = night
    report = tmp_path / "track.mpc"
    rc = main(["track", str(folder), *_clicks(truths), "-o", str(tmp_path / "track.csv"),
               "--mpc", str(report), "--designation", "2024 AB12", "--obscode", "W34"])  # fmt: skip
    assert rc == 0
    lines = report.read_text().splitlines()
    assert len(lines) == 2 and all(ln[5:12] == "K24A12B" for ln in lines)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alcdef", "x.alcdef", "--number", "2713", "--observers", "A",
          "--contact-info", "a@b"], "--alcdef needs --contact-name"),
        (["--alcdef", "x.alcdef", *META], "--alcdef needs the asteroid's --number"),
        (["--mpc", "x.mpc", "--number", "2713"], "--mpc needs your MPC observatory code"),
        (["--ades", "x.psv", "--number", "2713", "--obscode", "W34"], "--observers"),
        (["--aavso", "x.txt", "--object", "V1"], "--aavso-code"),
        (["--aavso", "x.dat", "--object", "V1", "--aavso-code", "X"], ".txt, .csv and .tsv"),
    ],
)  # fmt: skip
def test_missing_metadata_is_named_before_any_work(night, tmp_path, capsys, monkeypatch, extra,
                                                   message):  # fmt: skip
    folder, truths = night
    monkeypatch.chdir(tmp_path)
    rc = main(["lightcurve", str(folder), *_clicks(truths), "-o", "lc.ecsv", *extra])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_aavso_refuses_differential_magnitudes(night, tmp_path, capsys):
    folder, truths = night
    report = str(tmp_path / "x.txt")
    rc = main(["lightcurve", str(folder), *_clicks(truths), "-o", str(tmp_path / "lc.ecsv"),
               "--aavso", report, "--aavso-code", "XOBS", "--object", "V1"])  # fmt: skip
    assert rc == 2
    assert "standard magnitudes" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()
