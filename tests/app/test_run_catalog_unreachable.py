"""A night whose catalog could not be reached says so in every light, and what still works.

Each uncalibrated light's status read "no reference catalog: none was given"
when Gaia was asked and the network was down (or the run offline with
nothing cached): a user then looks for an option they never missed. The
run's catalog problem now reaches every light's reason. On a simulated
night (solved against its own star list, its zero points given no catalog)
and on the real Seestar night run offline (solved with the astrometry.net
index files).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from astropy.table import Table

from fluxion.app.commands.run import _field_catalog
from fluxion.core.astrometry import SolveParams
from fluxion.core.calibration import CalibrationParams
from fluxion.core.chain.night import NightParams, run_night
from fluxion.core.io.sequence import scan
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=2, shape=(256, 256), n_bias=0, n_dark=0, n_flat=0)


def test_an_unreachable_catalog_is_each_lights_reason(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("FLUXION_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached
    night = tmp_path / "night"
    simulate_night(night, CONFIG)
    frames = scan([night])
    args = argparse.Namespace(catalog="Gaia DR3", offline=False)
    table, note, reason = _field_catalog(args, frames)
    assert table is None and no_network  # Gaia was asked, and could not be reached
    assert "Gaia DR3: VizieR could not be reached" in reason, reason
    assert "still solved and measured" in reason and "comparison stars" in reason
    # The run's own note (once) keeps the advice; each light's reason is the cause.
    assert "Without the network" in note and "Without the network" not in reason
    catalog_file = night / "truth/reference_catalog.ecsv"
    params = NightParams(
        calibration=CalibrationParams(find_cosmic_rays=False),
        astrometry=SolveParams(catalog="Local file", catalog_file=str(catalog_file)),
        photometry=PhotometryParams(aperture_radius=5.0, aperture_correction=False),
    )
    project = Project.from_inputs([night])
    project.save(tmp_path / "p")
    run = run_night(project, frames, params, catalog=None, catalog_problem=reason)
    status = list(run.frames["status"])
    assert np.all(run.frames["wcs_ok"]), status
    assert status == [f"not calibrated: no reference catalog: {reason}"] * CONFIG.n_frames
    assert not any("none was given" in s for s in status)


def test_the_seestar_night_offline_says_gaia_was_not_reachable(seestar_offline_run):
    project, _ = seestar_offline_run
    frames = Table.read(project / "frames.ecsv")
    # Solved offline with the Tycho-2 index files; no zero point without Gaia.
    assert np.all(frames["wcs_ok"])
    for status in frames["status"]:
        assert "Gaia DR3: not asked (working offline, nothing cached" in status, status
        assert "none was given" not in status
        assert "still solved and measured" in status
    assert Path(project / "frames.ecsv").is_file()
