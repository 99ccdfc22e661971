"""Scintillation through ``fluxion run``'s chain: from the lights' APTDIA (or the observer's
aperture) to every source's ``mag_err`` and the light curve's meta."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.core.astrometry import SolveParams
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.chain.targets import fixed_target
from fluxion.core.io.frames import with_telescope_aperture
from fluxion.core.io.sequence import scan
from fluxion.core.photometry.noise import MAG_PER_LN
from fluxion.core.project.document import Project
from fluxion.core.project.products import ProductStore
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(
    n_frames=2, shape=(288, 288), n_bias=2, n_dark=2, n_flat=2, exptime=20.0, interval=30.0,
    scintillation_aperture=150.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("twinkling_night")
    simulate_night(out, CONFIG)
    return out


def _run(night: Path, folder: Path, frames):
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file))
    )
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    project = Project.from_inputs([night])
    project.save(folder)
    run = run_night(
        project, frames, params, catalog=Table.read(catalog_file),
        target=fixed_target(star["ra"], star["dec"]),
    )  # fmt: skip
    assert list(run.frames["status"]) == ["ok"] * CONFIG.n_frames
    return run


def test_the_headers_aperture_puts_scintillation_in_every_error(night, tmp_path):
    run = _run(night, tmp_path / "p", scan(night))
    meta = run.light_curve.meta
    assert meta["scintillation_included"] is True and "APTDIA" in meta["scintillation_note"]
    store = ProductStore(tmp_path / "p")
    for i, f in enumerate(f for f in scan(night) if f.type == "light"):
        table = store.read_table("zeropoint", f.path)
        sigma = Table.read(night / f"truth/light_{i + 1:04d}.ecsv").meta["scintillation"]
        assert table.meta["scintillation_included"] is True
        assert table.meta["scintillation_median"] == pytest.approx(sigma, rel=0.02)
        # No source's error is below its twinkling.
        err = np.asarray(table["mag_err"], float)
        assert np.nanmin(err) >= MAG_PER_LN * sigma * 0.999


def test_without_an_aperture_it_is_left_out_and_said_so(night, tmp_path):
    frames = scan(night)
    light = next(f for f in frames if f.type == "light")
    # The header's aperture stays: the observer's setting is for frames without one.
    assert with_telescope_aperture(light, 300.0).aperture_mm == pytest.approx(150.0)
    bare = dataclasses.replace(light, aperture_mm=None)
    given = with_telescope_aperture(bare, 300.0)
    assert given.aperture_mm == 300.0 and given.sources["aperture_mm"] == "set by the user"
    # A changed setting replaces the one it filled in; none removes it; the header's stays.
    assert with_telescope_aperture(given, 50.0).aperture_mm == 50.0
    cleared = with_telescope_aperture(given, None)
    assert cleared.aperture_mm is None and "aperture_mm" not in cleared.sources
    assert with_telescope_aperture(bare, 0.0) is bare
    assert with_telescope_aperture(light, None) is light
    stripped = [dataclasses.replace(f, aperture_mm=None) for f in frames]
    meta = _run(night, tmp_path / "q", stripped).light_curve.meta
    assert meta["scintillation_included"] is False
    assert "aperture is not known" in meta["scintillation_note"]
