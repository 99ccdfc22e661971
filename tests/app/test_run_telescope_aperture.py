"""``fluxion run --telescope-aperture`` is kept in the project, as ``--site`` and ``--band`` are.

The simulated night's headers give no aperture (no APTDIA), so the one given
puts the scintillation into every light's zero point and every point's
error. A later run without the option must measure the same and redo
nothing; a changed aperture must redo the zero points (which carry the
scintillation) and nothing before them. Scintillation's sigma grows as the
aperture shrinks (Young: D^-2/3), so a smaller telescope gives every point a
larger error, and no aperture at all the smallest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import run_args, step_counts

from fluxion.app.cli import main
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
N = CONFIG.n_frames


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    simulate_night(folder, CONFIG)
    return folder


def _errors(project: Path) -> np.ndarray:
    return np.asarray(Table.read(project / "lightcurve.ecsv")["mag_err"], float)


def test_the_telescope_aperture_is_kept_and_a_change_redoes_only_the_zero_points(
    night, tmp_path, capsys
):
    project = tmp_path / "p"
    args = run_args(night, project)
    assert main([*args, "--telescope-aperture", "200"]) == 0
    assert json.loads((project / "project.json").read_text())["telescope_aperture_mm"] == 200.0
    first = _errors(project)
    assert Table.read(project / "lightcurve.ecsv").meta["scintillation_included"]
    capsys.readouterr()

    # Left out: the project's 200 mm, the same errors, nothing redone.
    assert main(args) == 0
    counts = step_counts(capsys.readouterr().out)
    assert set(counts) >= {"calibration", "photometry", "zeropoint"}
    assert all(done == 0 for done, _ in counts.values()), counts
    assert Project.load(project).telescope_aperture_mm == 200.0
    np.testing.assert_allclose(_errors(project), first, rtol=1e-9)

    # 50 mm: more scintillation; only the zero points are redone.
    assert main([*args, "--telescope-aperture", "50"]) == 0
    counts = step_counts(capsys.readouterr().out)
    assert counts["zeropoint"] == (N, 0), counts
    for step in ("calibration", "detection", "astrometry", "photometry"):
        assert counts[step] == (0, N), (step, counts)
    small = _errors(project)
    assert np.all(small > first)
    assert Project.load(project).telescope_aperture_mm == 50.0

    # 0: the headers' only (none here): no scintillation, the smallest errors, and kept so.
    assert main([*args, "--telescope-aperture", "0"]) == 0
    assert step_counts(capsys.readouterr().out)["zeropoint"] == (N, 0)
    assert "telescope_aperture_mm" not in json.loads((project / "project.json").read_text())
    assert np.all(_errors(project) < first)
    assert main(args) == 0
    assert all(done == 0 for done, _ in step_counts(capsys.readouterr().out).values())


def test_a_damaged_aperture_in_the_project_file_is_named(tmp_path):
    from fluxion.core.project.document import ProjectError

    folder = tmp_path / "p"
    Project(name="p").save(folder)
    doc = json.loads((folder / "project.json").read_text())
    doc["telescope_aperture_mm"] = -3
    (folder / "project.json").write_text(json.dumps(doc))
    with pytest.raises(ProjectError, match="telescope_aperture_mm must be a diameter"):
        Project.load(folder)
