"""A night through the chain does each thing once: every stored unit is one astropy knows."""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import pytest
from astropy.table import Table

from fluxion.core.astrometry import SolveParams
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.chain.targets import fixed_target
from fluxion.core.io.sequence import scan
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=2, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2)


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("once_night")
    simulate_night(out, CONFIG)
    return out


@pytest.fixture(scope="module")
def project(night, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("once_project")
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = Project.from_inputs([night])
    project.save(folder)
    run = run_night(
        project, scan(night), params, catalog=Table.read(catalog_file),
        target=fixed_target(star["ra"], star["dec"]),
    )  # fmt: skip
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    return folder


def test_every_stored_unit_parses(project):
    # An unknown unit string costs astropy's parser a "did you mean" search
    # (tens of ms) each time a column is made or a table read.
    tables = sorted(project.rglob("*.ecsv"))
    assert len(tables) >= 4 * CONFIG.n_frames
    units = set()
    for path in tables:
        for line in path.read_text().splitlines():
            if line.startswith("# - {name: ") and ", unit: " in line:
                units.add(line.split(", unit: ")[1].split(",")[0].strip())
    assert units, "no table carries a unit"
    for unit in sorted(units):
        u.Unit(unit, parse_strict="raise")  # raises on a unit astropy does not know
