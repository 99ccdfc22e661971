"""``fluxion demo`` writes a small simulated night through the command line."""

from __future__ import annotations

import json

import numpy as np
from astropy.io import fits
from astropy.table import Table

from fluxion.app.cli import main


def test_demo_writes_the_night_and_its_truth(tmp_path, capsys) -> None:
    out = tmp_path / "night"
    assert main(["demo", str(out), "--frames", "3", "--size", "160", "128", "--seed", "7"]) == 0
    assert "3 lights (160x128, V)" in capsys.readouterr().out
    lights = sorted(out.glob("light_*.fits"))
    assert [p.name for p in lights] == ["light_0001.fits", "light_0002.fits", "light_0003.fits"]
    assert len(list(out.glob("bias_*.fits"))) == 5
    assert len(list(out.glob("dark_*.fits"))) == 5
    assert len(list(out.glob("flat_V_*.fits"))) == 5
    data = fits.getdata(lights[2])
    assert data.shape == (128, 160) and data.dtype == np.uint16
    truth = Table.read(out / "truth" / "light_0003.ecsv")
    assert {"id", "kind", "x", "y", "ra", "dec", "flux", "mag_V"} <= set(truth.colnames)
    kinds = {"star", "eclipsing", "transit", "asteroid", "nova", "outburst"}
    assert set(truth["kind"]) == kinds
    assert (out / "truth" / "light_0003.wcs.fits").is_file()
    assert (out / "truth" / "reference_catalog.ecsv").is_file()
    night = json.loads((out / "truth" / "night.json").read_text())
    assert night["config"]["seed"] == 7 and len(night["frames"]) == 3
    # The asteroid in night.json is where the truth table puts it.
    a = truth[truth["kind"] == "asteroid"][0]
    assert abs(night["frames"][2]["asteroid"]["x"] - a["x"]) < 1e-6
    assert "CTYPE1" not in fits.getheader(lights[0])


def test_demo_rejects_bad_input_with_a_message(tmp_path, capsys) -> None:
    assert main(["demo", str(tmp_path / "x"), "--frames", "0"]) == 2
    assert "--frames must be at least 1" in capsys.readouterr().err
    afile = tmp_path / "file.txt"
    afile.write_text("not a folder")
    assert main(["demo", str(afile)]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert afile.read_text() == "not a folder"
    # 2000 frames of 3 minutes: the field sets long before the end.
    assert main(["demo", str(tmp_path / "y"), "--frames", "2000", "--size", "64", "64"]) == 2
    assert "altitude" in capsys.readouterr().err
