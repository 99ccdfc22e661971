"""Nights filed in sub-folders go through every command that takes a folder, and the window.

``fluxion demo --layout nina`` writes a night as N.I.N.A. does (a date folder
with LIGHT/, DARK/, FLAT/, BIAS/), ``--layout observatory`` as zero/, dark/,
flat/ and a target folder with no IMAGETYP card. Opening the top folder finds
every frame; outputs written inside the night are not read back on a re-run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import ASTEROID_ID

N = 3
COUNTS = "18 files: 5 bias, 5 dark, 5 flat, 3 light"


@pytest.fixture(scope="module")
def nina(tmp_path_factory) -> Path:
    night = tmp_path_factory.mktemp("nina") / "night"
    assert main(["demo", str(night), "--layout", "nina", "--frames", str(N),
                 "--size", "256", "256", "--write-wcs"]) == 0  # fmt: skip
    return night


def _lights(night: Path) -> list[Path]:
    record = json.loads((night / "truth" / "night.json").read_text())
    return [night / r["file"] for r in record["frames"]]


def test_scan_finds_every_frame_below_the_top_folder(nina, capsys):
    assert main(["scan", str(nina)]) == 0
    out = capsys.readouterr().out
    assert COUNTS in out
    assert f"not read: {nina / 'truth'}" in out and "(Fluxion products)" in out
    assert main(["scan", str(nina), "-r"]) == 0  # the old spelling, now the default
    assert COUNTS in capsys.readouterr().out
    assert main(["scan", str(nina), "--no-recurse"]) == 1
    assert "no FITS files found" in capsys.readouterr().out


def test_calibrate_pairs_the_sibling_folders_and_a_rerun_skips_its_output(nina, capsys):
    out = nina / "calibrated"
    for _ in range(2):  # the second run must not read the first one's products
        assert main(["calibrate", str(nina), "--out", str(out), "--no-cosmic-rays"]) == 0
        text = capsys.readouterr().out
        assert f"found {N} lights, 5 bias, 5 darks, 5 flats; {N} of {N} lights" in text
        assert "missing" not in text
    for light in _lights(nina):
        with fits.open(out / light.name) as hdul:
            assert hdul[0].header["CALSTEPS"] == "bias,dark,flat"
    assert main(["scan", str(nina)]) == 0
    text = capsys.readouterr().out
    assert COUNTS in text and f"not read: {out}" in text


def test_detect_and_photometry_measure_the_lights_of_the_tree(nina, tmp_path):
    assert main(["detect", str(nina), "--out", str(tmp_path / "det"), "--workers", "1"]) == 0
    assert main(["photometry", str(nina), "--out", str(tmp_path / "phot")]) == 0
    stems = sorted(p.stem for p in _lights(nina))
    assert sorted(p.stem for p in (tmp_path / "det").glob("*.ecsv")) == stems
    assert sorted(p.stem for p in (tmp_path / "phot").glob("*.ecsv")) == stems


def test_track_follows_the_asteroid_in_a_sub_folder_night(nina, tmp_path):
    truths = [Table.read(nina / "truth" / f"light_{k:04d}.ecsv") for k in range(1, N + 1)]
    ast = [t[t["id"] == ASTEROID_ID][0] for t in truths]
    clicks = ["--click", f"0,{ast[0]['x']:.2f},{ast[0]['y']:.2f}",
              "--click", f"{N - 1},{ast[-1]['x']:.2f},{ast[-1]['y']:.2f}"]  # fmt: skip
    assert main(["track", str(nina), *clicks, "--out", str(tmp_path / "t")]) == 0
    table = Table.read(tmp_path / "t" / "positions.ecsv")
    err = np.hypot(table["x"] - [a["x"] for a in ast], table["y"] - [a["y"] for a in ast])
    assert len(table) == N and np.max(err) < 0.5


def test_run_with_its_project_inside_the_night_and_offline(nina, capsys, no_network):
    project = nina / "project"
    for _ in range(2):
        rc = main(["run", str(nina), "--project", str(project), "--workers", "2",
                   "--no-cosmic-rays", "--no-report"])  # fmt: skip
        assert rc == 0
        assert f"{N} of {N} lights fully processed" in capsys.readouterr().out
    frames = Table.read(project / "frames.ecsv")
    assert sorted(frames["file"]) == sorted(p.name for p in _lights(nina))
    assert np.all(frames["wcs_ok"]) and np.all(np.isfinite(frames["zero_point"]))
    assert main(["scan", str(nina)]) == 0
    text = capsys.readouterr().out
    assert COUNTS in text and f"not read: {project}" in text and "(a Fluxion project)" in text


def test_observatory_folders_type_the_frames(tmp_path, capsys):
    night = tmp_path / "night"
    assert main(["demo", str(night), "--layout", "observatory", "--frames", "2",
                 "--size", "96", "96"]) == 0  # fmt: skip
    assert main(["calibrate", str(night), "--out", str(tmp_path / "cal"), "--no-cosmic-rays"]) == 0
    text = capsys.readouterr().out
    assert "found 2 lights, 5 bias, 5 darks, 5 flats; 2 of 2 lights" in text
    assert text.count(": bias, dark, flat;") == 2


def test_lights_of_the_same_name_in_two_target_folders_keep_their_own_products(tmp_path, capsys):
    night = tmp_path / "night"
    assert main(["demo", str(night), "--layout", "observatory", "--frames", "1",
                 "--size", "96", "96"]) == 0  # fmt: skip
    first = next((night / "Cygnus_field").glob("*.fits"))
    (night / "M67").mkdir()
    (night / "M67" / first.name).write_bytes(first.read_bytes())
    assert main(["calibrate", str(night), "--out", str(tmp_path / "cal")]) == 0
    text = capsys.readouterr().out
    for folder in ("Cygnus_field", "M67"):
        assert f"light    {folder}/{first.name}: bias, dark, flat" in text
        assert (tmp_path / "cal" / folder / first.name).is_file()
    assert not (tmp_path / "cal" / first.name).exists()


def test_the_window_opens_a_sub_folder_night_with_its_catalog(window, open_and_wait, nina):
    open_and_wait(window, nina)
    frames = window.session.sequence.frames
    # Named after the folder opened, not the first frame's sub-folder (BIAS).
    assert window.session.project.name == nina.name
    assert window.windowTitle().startswith(f"Fluxion - {nina.name}")
    assert len(frames) == 18
    assert sum(f.type == "light" for f in frames) == N
    assert window.session.reference_catalog() == (nina / "truth/reference_catalog.ecsv").resolve()
    shown = window.session.sequence.frames[window.session.current]
    assert shown.type == "light"  # a night opens on its first light
