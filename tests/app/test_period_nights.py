"""An asteroid's rotation period from two rendered nights five days apart, end to end.

Two nights of the simulator's asteroid (its rotation carried across them from
one epoch and seen light time late), each measured by ``fluxion run`` along
the asteroid's true track (a positions file from the truth tables), then
joined by ``fluxion period`` on the two project folders: the period within
1 % of the truth and within its error, the cycle-count aliases beaten.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from astropy.time import Time

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night

PERIOD_H = 2.7
EPOCH = Time("2024-09-01T00:00:00", scale="utc").jd
NIGHTS = [("2024-09-10T22:00:00", 1.30, 1), ("2024-09-15T22:30:00", 1.34, 2)]  # start, delta, seed


def _night(folder: Path, start: str, delta: float, seed: int) -> Path:
    config = NightConfig(
        n_frames=24, interval=450.0, exptime=120.0, shape=(320, 320), start=start, seed=seed,
        asteroid=True, asteroid_rate=0.5, asteroid_period=PERIOD_H, asteroid_amplitude=0.3,
        asteroid_epoch=EPOCH, asteroid_delta=delta, n_bias=1, n_dark=1, n_flat=1, star_density=2.0,
    )  # fmt: skip
    simulate_night(folder, config)
    rows = []
    for k in range(config.n_frames):
        truth = Table.read(folder / f"truth/light_{k + 1:04d}.ecsv")
        a = truth[truth["kind"] == "asteroid"][0]
        rows.append((truth.meta["jd_mid"], float(a["x"]), float(a["y"])))
    positions = folder.parent / f"{folder.name}_positions.ecsv"
    Table(rows=rows, names=("jd", "x", "y")).write(positions, overwrite=True)
    return positions


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> list[Path]:
    base = tmp_path_factory.mktemp("period_nights")
    out = []
    for n, (start, delta, seed) in enumerate(NIGHTS):
        night = base / f"night{n + 1}"
        positions = _night(night, start, delta, seed)
        project = base / f"project{n + 1}"
        args = ["run", str(night), "--project", str(project), "--positions", str(positions),
                "--workers", "2", "--no-cosmic-rays", "--no-report"]  # fmt: skip
        assert main(args) == 0
        assert (project / "lightcurve.ecsv").is_file()
        out.append(project)
    return out


def test_two_rendered_nights_give_the_period(projects, tmp_path, capsys):
    out = tmp_path / "period"
    args = ["period", *map(str, projects), "--out", str(out), "--min", "1", "--max", "10"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "period.json").read_text())
    period, err = summary["period_h"], summary["period_err_h"]
    assert abs(period / PERIOD_H - 1.0) < 0.01, printed
    assert abs(period - PERIOD_H) < 4 * err and err < 0.01, printed
    # The right alias: the miscounts of rotations over the five days are beaten.
    counted = [a for a in summary["aliases"] if a["kind"].startswith("cycle count")]
    assert counted and min(a["delta_chi2"] for a in counted) > 9, printed
    # The curve's amplitude and the fit's quality against the truth (0.3 mag,
    # errors from the photometry).
    assert abs(summary["amplitude_mag"] - 0.3) < 0.05, printed
    assert summary["reduced_chi2"] < 2.0, printed
    assert [s["name"] for s in summary["sessions"]] == ["project1", "project2"]
    phased = Table.read(out / "phased.ecsv")
    resid = np.asarray(phased["mag_aligned"] - phased["model"])
    assert np.std(resid) < 2.0 * np.median(phased["mag_err"])


def test_period_command_names_a_project_without_a_light_curve(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["period", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no lightcurve.ecsv" in capsys.readouterr().err
