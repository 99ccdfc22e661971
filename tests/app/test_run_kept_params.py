"""``fluxion run`` keeps every step's parameters the project holds, and replaces only its options'.

A project's steps changed in the window (detection, photometry, zero point)
must reach the frames of a later ``fluxion run`` and stay in ``project.json``;
a run given nothing new finds every product current and computes nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from night_helpers import run_args, step_counts

from fluxion.app.cli import main
from fluxion.core.detection.params import DetectionParams
from fluxion.core.photometry import PhotometryParams
from fluxion.core.project.document import Project
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.zeropoint import ZeroPointParams

CONFIG = NightConfig(n_frames=4, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3)
N = CONFIG.n_frames


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("night")
    simulate_night(folder, CONFIG)
    return folder


def _without(args: list[str], *options: str) -> list[str]:
    """``args`` less the given options (and the value of those that take one)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in options:
            skip = a != "--no-cosmic-rays"
        else:
            out.append(a)
    return out


def test_the_windows_settings_survive_a_run_and_an_unchanged_run_redoes_nothing(
    night, tmp_path, capsys
):
    project = tmp_path / "p"
    args = run_args(night, project)
    assert main(args) == 0
    first = Table.read(project / "frames.ecsv")
    capsys.readouterr()

    # The same command again: every product current, nothing computed.
    assert main(args) == 0
    counts = step_counts(capsys.readouterr().out)
    assert set(counts) >= {"calibration", "detection", "astrometry", "photometry", "zeropoint"}
    assert all(done == 0 and current == N for done, current in counts.values()), counts

    # Options left out keep the project's values (5 px, no cosmic-ray search): still nothing.
    assert main(_without(args, "--aperture", "--no-cosmic-rays")) == 0
    counts = step_counts(capsys.readouterr().out)
    assert all(done == 0 for done, _ in counts.values()), counts
    kept = Project.load(project)
    assert kept.step_params("photometry", PhotometryParams).aperture_radius == 5.0
    assert kept.steps["calibration"]["find_cosmic_rays"] is False

    # The window changes a setting of detection, photometry and the zero point.
    p = Project.load(project)
    detection = dataclasses.replace(p.step_params("detection", DetectionParams), mesh_size=32)
    photometry = dataclasses.replace(
        p.step_params("photometry", PhotometryParams), annulus_outer=11.0
    )
    zeropoint = dataclasses.replace(
        p.step_params("zeropoint", ZeroPointParams), intrinsic_scatter=False
    )
    for step, params in (
        ("detection", detection), ("photometry", photometry), ("zeropoint", zeropoint)
    ):  # fmt: skip
        p.set_step_params(step, params)
    p.save(project)

    assert main(args) == 0
    counts = step_counts(capsys.readouterr().out)
    # Detection's change redoes it and what follows it; calibration stays current.
    assert counts["calibration"] == (0, N)
    for step in ("detection", "photometry", "zeropoint"):
        assert counts[step][0] == N, (step, counts)
    after = Project.load(project)
    assert after.step_params("detection", DetectionParams).mesh_size == 32
    assert after.step_params("photometry", PhotometryParams).annulus_outer == 11.0
    assert after.step_params("zeropoint", ZeroPointParams).intrinsic_scatter is False
    assert after.step_params("photometry", PhotometryParams).aperture_radius == 5.0
    # The settings reached the frames: the same stars calibrate alike, within their errors.
    zp, zp0 = np.asarray(Table.read(project / "frames.ecsv")["zero_point"]), first["zero_point"]
    assert np.all(np.isfinite(zp))
    assert np.all(np.abs(zp - np.asarray(zp0)) < 3 * np.asarray(first["zero_point_err"]))

    # And once more with nothing new: nothing redone.
    assert main(args) == 0
    counts = step_counts(capsys.readouterr().out)
    assert all(done == 0 for done, _ in counts.values()), counts
