"""``fluxion solve``: WCS files and the results table from FITS frames, bad input handled."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from fluxion.core.simulation.simulate import NightConfig, make_night

SCALE = 1.2
SHAPE = (384, 384)


def _field_error_px(fitted: WCS, truth: WCS) -> float:
    gx, gy = np.meshgrid(np.linspace(0, SHAPE[1] - 1, 15), np.linspace(0, SHAPE[0] - 1, 15))
    a = truth.pixel_to_world(gx.ravel(), gy.ravel())
    b = fitted.pixel_to_world(gx.ravel(), gy.ravel())
    return float(np.sqrt(np.mean(a.separation(b).arcsec ** 2)) / SCALE)


# .wcs files are header-only (NAXIS = 0) as astrometry.net's are; astropy remarks on it.
@pytest.mark.filterwarnings("ignore:The WCS transformation has more axes")
def test_solve_command_writes_wcs_files_and_table(tmp_path, capsys):
    from fluxion.app.cli import main
    from fluxion.core.simulation.simulate import simulate_night

    raw = tmp_path / "night"
    config = NightConfig(shape=SHAPE, n_frames=2, star_density=3.0, n_bias=0, n_dark=0, n_flat=0)
    simulate_night(raw, config)
    lights = sorted(raw.glob("light_*.fits"))
    before = [p.read_bytes() for p in lights]
    out = tmp_path / "solved"
    rc = main(
        ["solve", *map(str, lights), "--catalog", str(raw / "truth" / "reference_catalog.ecsv"),
         "--out", str(out), "--mag-limit", "20", "--no-solve-field", "--workers", "1"]
    )  # fmt: skip
    assert rc == 0
    table = Table.read(out / "solve.ecsv")
    assert list(table["file"]) == [p.name for p in lights]
    assert set(table.colnames) >= {"file", "solved", "method", "n_matched", "rms_arcsec", "seconds"}
    assert all(table["solved"]) and set(table["method"]) == {"hinted"}
    night = make_night(config)
    for i, p in enumerate(lights):
        header = fits.getheader(out / (p.name.removesuffix(".fits") + ".wcs"))
        assert header["FLXSOLV"] == "hinted"
        assert _field_error_px(WCS(header), night.wcs(i)) < 0.1
    assert [p.read_bytes() for p in lights] == before  # inputs untouched
    assert "2 of 2 frames solved" in capsys.readouterr().out


def test_solve_command_bad_input_is_a_clear_message(tmp_path, capsys):
    from fluxion.app.cli import main

    assert main(["solve", str(tmp_path / "nope.fits"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not fits")
    rc = main(
        ["solve", str(junk), "--out", str(tmp_path / "o"), "--catalog",
         str(tmp_path / "missing.ecsv")]
    )  # fmt: skip
    assert rc == 2 and "catalog file not found" in capsys.readouterr().err
    cat = tmp_path / "cat.csv"
    Table({"ra": [10.0], "dec": [10.0], "V": [12.0]}).write(cat)
    rc = main(["solve", str(junk), "--out", str(tmp_path / "o"), "--catalog", str(cat)])
    assert rc == 1
    table = Table.read(tmp_path / "o" / "solve.ecsv")
    assert not table["solved"][0] and table["reason"][0]
