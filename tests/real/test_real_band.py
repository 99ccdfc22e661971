"""``fluxion run --band`` on the real TrES-1 night (tres1-oscaar), whose FILTER is 'Filter 2'.

'Filter 2' is a filter-wheel slot, not a band (SOURCE.txt: the ST-10's
lights are unfiltered or in an unnamed filter), so the run cannot tell which
catalog band to calibrate to. Without ``--band`` it must say so, naming the
filter and the lights, and still measure them; with ``--band R`` the band is no
longer the reason a light is uncalibrated. Offline, as tests run, no catalog
answers for this field (the headers carry no pointing and Gaia DR3 is not
cached), so the zero points stop at the catalog: that is the reason the run
must then give.

A few of the 70 lights keep the run short; the night's 10 darks make the
master dark as in the full run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.io.sequence import scan
from fluxion.core.project.document import Project
from fluxion.core.zeropoint.bands import unknown_band_notes

LIGHTS = ("tres1-020.fit.fz", "tres1-101.fit.fz", "tres1-227.fit.fz")
TRES1_RA, TRES1_DEC = 286.041042, 36.632611  # SOURCE.txt, 19:04:09.85 +36:37:57.4


@pytest.fixture(scope="module")
def tres1(shared_data) -> Path:
    folder = shared_data / "tres1-oscaar"
    if not folder.is_dir():
        pytest.skip("tres1-oscaar not in the shared data")
    return folder


def test_the_whole_night_names_filter_2_as_no_band(tres1):
    lights = [f for f in scan([tres1]) if f.type == "light" and f.usable]
    assert len(lights) == 70 and {f.filter for f in lights} == {"Filter 2"}
    (line,) = unknown_band_notes([(f.path.name, f.filter) for f in lights])
    assert "filter 'Filter 2' of 70 lights (tres1-020.fit.fz" in line and "67 more" in line
    assert "--band BAND" in line


@pytest.fixture(scope="module")
def few_lights(tres1, tmp_path_factory) -> Path:
    night = tmp_path_factory.mktemp("tres1") / "night"
    night.mkdir()
    for path in [tres1 / name for name in LIGHTS] + sorted(tres1.glob("tres1-0??d.fit.fz")):
        shutil.copy(path, night / path.name)
    return night


def _run(night: Path, project: Path, *extra: str) -> int:
    return main([
        "run", str(night), "--project", str(project),
        "--ra", repr(TRES1_RA), "--dec", repr(TRES1_DEC),
        "--workers", "1", "--offline", "--no-report", *extra,
    ])  # fmt: skip


def test_band_given_by_hand_is_used_and_kept(few_lights, tmp_path, capsys):
    project = tmp_path / "p"
    assert _run(few_lights, project) == 1
    said = capsys.readouterr().out
    assert "zero points: filter 'Filter 2' of 3 lights" in said
    frames = Table.read(project / "frames.ecsv")
    assert all("'Filter 2' is not a known band" in s for s in frames["status"])
    # What still worked: every light solved and measured, and the light curve.
    assert np.all(frames["wcs_ok"]) and np.all(np.asarray(frames["n_sources"]) > 50)
    assert (project / "lightcurve.ecsv").exists()

    assert _run(few_lights, project, "--band", "R") == 1
    said = capsys.readouterr().out
    assert "zero points: " not in said
    assert "zeropoint       3 done,    0 current" in said
    assert "photometry      0 done,    3 current" in said
    frames = Table.read(project / "frames.ecsv")
    # The band is R now: the zero points stop at the catalog, which is offline.
    assert all("no reference catalog" in s and "band" not in s for s in frames["status"])
    assert Project.load(project).steps["zeropoint"]["band"] == "R"
