"""``fluxion scan``: the frame table, the problem lines and --json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from fluxion.app.cli import main


def _light(path: Path, date_obs: str, exptime: float = 180.0) -> None:
    h = fits.Header({"IMAGETYP": "Light Frame", "DATE-OBS": date_obs, "EXPTIME": exptime})
    h["EGAIN"] = 2.07
    h["OBJCTRA"] = "04 12 12.262"
    h["OBJCTDEC"] = "+22 53 01.76"
    fits.PrimaryHDU(np.zeros((16, 20), np.uint16), h).writeto(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _light(tmp_path / "b.fits", "2018-10-13T02:06:15.000")
    _light(tmp_path / "a.fits", "2018-10-13T02:03:10.984")
    (tmp_path / "bad.fits").write_bytes(b"garbage" * 100)
    (tmp_path / "readme.txt").write_text("not a frame")
    return tmp_path


def test_scan_json(folder: Path, capsys) -> None:
    assert main(["scan", str(folder), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [Path(r["file"]).name for r in rows] == ["a.fits", "b.fits", "bad.fits"]
    a = rows[0]
    assert a["time_utc"] == "2018-10-13T02:04:40.984"  # DATE-OBS + 90 s
    assert (a["type"], a["exptime"], a["gain"], a["shape"]) == ("light", 180.0, 2.07, [16, 20])
    assert a["ra"] == pytest.approx(63.0510917, abs=1e-6)
    assert a["dec"] == pytest.approx(22.8838222, abs=1e-6)
    assert rows[2]["type"] == "unknown" and "not a FITS file" in rows[2]["problems"][0]


def test_scan_table_and_problem_lines(folder: Path, capsys) -> None:
    assert main(["scan", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["file", "type", "object"]
    assert out[1].startswith("a.fits") and "2018-10-13T02:04:40.984" in out[1]
    assert "3 files: 2 light, 1 unknown" in out
    problem_lines = [line for line in out if line.startswith("  ")]
    assert len(problem_lines) == 1 and problem_lines[0].startswith("  bad.fits: not a FITS file")


def test_scan_missing_path_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["scan", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fluxion scan: no such file or folder") and err.count("\n") == 1


def test_scan_empty_folder(tmp_path: Path, capsys) -> None:
    assert main(["scan", str(tmp_path)]) == 1
    assert "no FITS files found" in capsys.readouterr().out


def test_scan_says_where_time_and_gain_come_from(tmp_path: Path, capsys) -> None:
    h = fits.Header({"IMAGETYP": "Light Frame", "EXPTIME": 60.0, "GAIN": 80})
    h["DATE-OBS"] = "2017-12-19T18:33:43.317-0700"
    h["MJD-OBS"] = 58107.065
    h["CREATOR"] = "ZWO Seestar S50"
    fits.PrimaryHDU(np.zeros((16, 20), np.uint16), h).writeto(tmp_path / "zwo.fits")
    assert main(["scan", str(tmp_path), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["time_utc"] == "2017-12-20T01:34:13.317"
    assert row["time_source"] == "DATE-OBS (UTC-0700 removed) + EXPTIME/2"
    assert row["time_precision_s"] == pytest.approx(1e-3)
    assert row["gain"] is None and "gain setting" in row["gain_source"]
    assert main(["scan", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[5:9] == ["time_utc", "jd", "time_source", "time_prec"]
    assert "DATE-OBS (UTC-0700 removed) + EXPTIME/2  1 ms " in out[1]
    assert any(line.startswith("gain of 1 file: unknown: GAIN=80 is the") for line in out)
    # One frame cannot measure its own gain: the problem line says so.
    assert any("measuring it from the frames failed" in line for line in out)
