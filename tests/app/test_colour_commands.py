"""fluxion photometry and fluxion zeropoint on colour frames (FITS and a camera raw file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(
    n_frames=1, shape=(320, 320), n_bias=0, n_dark=0, n_flat=0, write_wcs=True, seed=4,
    bayer_pattern="GRBG", star_density=3.0, mag_faint=17.0, asteroid=False, fwhm=4.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("colour_commands")
    simulate_night(out, CONFIG)
    return out


def test_photometry_then_zeropoint_give_each_channel_its_band(night, tmp_path, capsys):
    phot = tmp_path / "phot"
    assert main(["photometry", str(night / "light_0001.fits"), "--out", str(phot)]) == 0
    table = Table.read(phot / "light_0001.ecsv")
    assert table.meta["bayer_pattern"] == "GRBG"
    assert list(dict.fromkeys(table["channel"])) == ["R", "G", "B"]
    zp = tmp_path / "zp"
    catalog = str(night / "truth/reference_catalog.ecsv")
    code = main(
        ["zeropoint", str(phot / "light_0001.ecsv"), "--catalog", catalog, "--out", str(zp)]
    )
    assert code == 0, capsys.readouterr()
    rows = Table.read(zp / "zeropoints.ecsv")
    assert [str(f)[-3:] for f in rows["file"]] == ["[R]", "[G]", "[B]"]
    assert list(rows["band"]) == ["R", "V", "B"] and all(rows["calibrated"])
    magnitudes = Table.read(zp / "light_0001.ecsv")
    assert np.isfinite(magnitudes["mag"][magnitudes["channel"] == "B"]).sum() > 20


def test_photometry_of_a_camera_raw_file(night, tmp_path):
    pytest.importorskip("rawpy")
    from fluxion.core.simulation.dng import write_dng

    with fits.open(night / "light_0001.fits") as hdul:
        image, header = hdul[0].data, hdul[0].header
    start = Time(header["DATE-OBS"]).to_datetime().replace(microsecond=0)
    raw = tmp_path / "IMG_0001.DNG"
    write_dng(raw, image, "GRBG", black_level=0, white_level=65535, exptime=10.0, iso=400,
              start=start)  # fmt: skip
    out = tmp_path / "phot"
    assert main(["photometry", str(raw), "--out", str(out)]) == 0
    table = Table.read(out / "IMG_0001.ecsv")
    assert table.meta["bayer_pattern"] == "GRBG" and len(table) > 30
    found = tmp_path / "detect"
    assert main(["detect", str(raw), "--out", str(found)]) == 0
    assert len(Table.read(found / "IMG_0001.ecsv")) > 10
