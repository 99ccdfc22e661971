"""Steps keep what the frames said.

``fluxion photometry`` tables carry the frame's file, FILTER, mid-exposure time,
airmass and exposure time, so ``fluxion zeropoint`` calibrates V frames in V
without ``--filter``; a catalog file with ``ra, dec, mag`` is accepted, and the
help and the error for a file without magnitudes name the same columns.
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.catalogs import CatalogError, normalise_table
from fluxion.core.catalogs.base import MAGNITUDE_COLUMNS
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(shape=(256, 256), n_frames=2, n_bias=0, n_dark=0, n_flat=0, write_wcs=True)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """A V night, its photometry tables written by ``fluxion photometry``."""
    night = tmp_path_factory.mktemp("night")
    simulate_night(night, CONFIG)
    out = night.parent / f"{night.name}_phot"
    lights = [str(night / f"light_{k:04d}.fits") for k in (1, 2)]
    assert main(["photometry", *lights, "--out", str(out)]) == 0
    return night, out


def test_photometry_tables_carry_the_frames_facts(measured):
    night, out = measured
    record = json.loads((night / "truth" / "night.json").read_text())
    for k, truth in enumerate(record["frames"], start=1):
        meta = Table.read(out / f"light_{k:04d}.ecsv").meta
        assert meta["file"] == os.path.abspath(night / truth["file"])
        assert meta["frame"] == truth["file"]
        assert meta["FILTER"] == CONFIG.filter == "V"
        assert meta["exptime"] == CONFIG.exptime
        # Mid-exposure, as the simulator's truth; DATE-OBS is written to the ms.
        assert abs(meta["jd_utc"] - truth["jd_mid"]) * 86400 < 1e-3
        assert meta["time_utc"].startswith(truth["date_obs"][:10])
        assert abs(meta["airmass"] - truth["airmass"]) < 1e-5  # AIRMASS has 5 decimals


def _zero_points(folder) -> Table:
    return Table.read(folder / "zeropoints.ecsv")


def test_zeropoint_takes_the_tables_filter(measured, tmp_path, capsys):
    night, phot = measured
    tables = [str(phot / f"light_{k:04d}.ecsv") for k in (1, 2)]
    catalog = str(night / "truth" / "reference_catalog.ecsv")
    assert main(["zeropoint", *tables, "--catalog", catalog, "--out", str(tmp_path / "a")]) == 0
    zp = _zero_points(tmp_path / "a")
    assert list(zp["band"]) == ["V", "V"] and all(zp["calibrated"])
    # Fluxes in e- per exposure: the simulator's zero point (per second) plus
    # 2.5 log10(exptime), less the aperture correction's few-per-cent error.
    record = json.loads((night / "truth" / "night.json").read_text())
    airmass = np.array([f["airmass"] for f in record["frames"]])
    expected = CONFIG.zero_point - CONFIG.extinction * airmass + 2.5 * np.log10(CONFIG.exptime)
    assert np.all(np.abs(np.asarray(zp["zero_point"]) - expected) < 0.05)
    # An explicit --filter wins over the tables'.
    rc = main(["zeropoint", tables[0], "--catalog", catalog, "--filter", "B",
               "--out", str(tmp_path / "b")])  # fmt: skip
    assert rc == 0 and list(_zero_points(tmp_path / "b")["band"]) == ["B"]


def test_a_catalog_of_ra_dec_mag_is_accepted(measured, tmp_path):
    night, phot = measured
    table = phot / "light_0001.ecsv"
    ref = Table.read(night / "truth" / "reference_catalog.ecsv")
    plain, named = tmp_path / "plain.csv", tmp_path / "named.csv"
    Table({"ra": ref["ra"], "dec": ref["dec"], "mag": ref["V"]}).write(plain)
    Table({"ra": ref["ra"], "dec": ref["dec"], "Vmag": ref["V"]}).write(named)
    for cat, out in ((plain, "p"), (named, "n")):
        assert main(["zeropoint", str(table), "--catalog", str(cat), "--out",
                     str(tmp_path / out)]) == 0  # fmt: skip
    p, n = _zero_points(tmp_path / "p"), _zero_points(tmp_path / "n")
    # The unnamed column is the frames' band: the same calibration as a V column.
    assert p["band"][0] == "V" and bool(p["calibrated"][0])
    assert p["zero_point"][0] == pytest.approx(n["zero_point"][0], abs=1e-9)
    assert p["n_stars"][0] == n["n_stars"][0] > 5
    # The catalog schema reads it as one band that names none.
    assert normalise_table(Table.read(plain), source="plain.csv").meta["bands"] == ["mag"]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_help_and_error_name_the_same_magnitude_columns(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["zeropoint", "--help"])
    assert MAGNITUDE_COLUMNS in _flat(capsys.readouterr().out)
    bad = tmp_path / "positions.csv"
    Table({"ra": [1.0], "dec": [2.0], "name": ["a"]}).write(bad)
    with pytest.raises(CatalogError) as info:
        normalise_table(Table.read(bad), source=bad.name)
    assert MAGNITUDE_COLUMNS in str(info.value)
    phot = tmp_path / "p.ecsv"
    Table({"flux": [1.0], "flux_err": [0.1], "ra": [1.0], "dec": [2.0]}).write(phot)
    rc = main(["zeropoint", str(phot), "--catalog", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2 and MAGNITUDE_COLUMNS in _flat(capsys.readouterr().err)
