"""``fluxion run`` on a night written by ``fluxion demo`` needs no network.

The night carries the stars it was made from (``truth/reference_catalog.ecsv``);
``run`` takes them, as the window does, through one function
(:func:`fluxion.core.catalogs.night.night_catalog`), so with every socket
refused it still solves and calibrates every light.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.catalogs.night import night_catalog
from fluxion.core.project.document import Project
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig

N = 3


def test_the_night_catalog_is_found_from_the_top_a_sub_folder_or_a_file(tmp_path):
    night = tmp_path / "night"
    assert main(["demo", str(night), "--frames", "1", "--size", "96", "96"]) == 0
    expected = (night / "truth" / "reference_catalog.ecsv").resolve()
    sub = night / "LIGHT"
    sub.mkdir()
    (sub / "x.fits").write_bytes(b"")
    assert night_catalog([night]) == expected
    assert night_catalog([sub]) == expected
    assert night_catalog([sub / "x.fits"]) == expected
    assert night_catalog([night / "light_0001.fits"]) == expected
    # Not a simulated night: a catalog without night.json is no night's truth.
    (night / "truth" / "night.json").unlink()
    assert night_catalog([night]) is None


def test_run_on_a_demo_night_is_offline(tmp_path, capsys, no_network):
    night, project = tmp_path / "night", tmp_path / "project"
    assert main(["demo", str(night), "--frames", str(N), "--size", "256", "256"]) == 0
    rc = main(["run", str(night), "--project", str(project), "--workers", "2",
               "--no-cosmic-rays", "--no-report"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "the night's own reference stars" in out
    assert no_network == []
    frames = Table.read(project / "frames.ecsv")
    assert list(frames["status"]) == ["ok"] * N
    assert np.all(frames["wcs_ok"]) and np.all(np.isfinite(frames["zero_point"]))
    # Calibrated against the night's own stars: the simulator's zero point
    # (zero_point - extinction * airmass), less the few per cent of a star's
    # light outside the curve-of-growth aperture.
    config = NightConfig()
    airmass = [Table.read(night / f"truth/light_{k:04d}.ecsv").meta["airmass"] for k in (1, 2, 3)]
    expected = config.zero_point - config.extinction * np.array(airmass)
    offset = np.asarray(frames["zero_point"]) - expected
    assert np.all((offset < 0.02) & (offset > -0.15)), offset
    opened = Project.load(project)
    assert opened.steps["astrometry"]["catalog"] == "Local file"
    catalog_file = Path(opened.steps["astrometry"]["catalog_file"])
    assert catalog_file == (night / "truth" / "reference_catalog.ecsv").resolve()
    assert f"{N} of {N} lights fully processed" in out
    # The chain's photometry products carry the frame's facts, as the command's do.
    store = ProductStore(project)
    for k in range(1, N + 1):
        meta = Table.read(store.path("photometry", f"light_{k:04d}.fits", ".ecsv")).meta
        assert meta["file"] == os.path.abspath(night / f"light_{k:04d}.fits")
        assert meta["FILTER"] == "V" and meta["exptime"] == config.exptime
        assert meta["airmass"] == pytest.approx(airmass[k - 1], abs=1e-5)
        assert np.isfinite(meta["jd_utc"]) and meta["time_utc"].startswith("20")
