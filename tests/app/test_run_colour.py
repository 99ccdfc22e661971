"""``fluxion run`` on a simulated colour night: a channel's light curve and its AAVSO report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night

CONFIG = NightConfig(
    n_frames=3, shape=(320, 320), n_bias=3, n_dark=3, n_flat=3, bayer_pattern="RGGB",
    asteroid=False, seed=21, fwhm=4.0,
)  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("colour_run_night")
    simulate_night(out, CONFIG)
    return out


def _args(night: Path, project: Path, star, *extra: str) -> list[str]:
    return [
        "run", str(night), "--project", str(project),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "1", "--no-cosmic-rays", "--no-report", *extra,
    ]  # fmt: skip


def test_a_colour_night_gives_each_channels_light_curve_and_report(night, tmp_path, capsys):
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[first["kind"] == "eclipsing"][0]
    truth_v = []
    for k in range(1, CONFIG.n_frames + 1):
        t = Table.read(night / f"truth/light_{k:04d}.ecsv")
        truth_v.append(float(t[t["id"] == star["id"]]["mag_V"][0]))
    project = tmp_path / "project"
    report = tmp_path / "aavso.txt"
    args = ["--aavso", str(report), "--aavso-code", "XYZ", "--object", "V0001 Cyg"]
    assert main(_args(night, project, star, *args)) == 0
    lc = Table.read(project / "lightcurve.ecsv")
    frames = Table.read(project / "frames.ecsv")
    assert list(frames["status"]) == ["ok"] * CONFIG.n_frames
    assert lc.meta["channel"] == "G" and lc.meta["filter"] == "TG"
    # The green channel is calibrated to V: the star's true V within its errors.
    sigma = np.hypot(np.asarray(lc["mag_err"]), np.asarray(frames["zero_point_err"]))
    pulls = (np.asarray(lc["mag"]) - np.asarray(truth_v)) / sigma
    assert np.all(np.abs(pulls) < 4), pulls
    for c in ("R", "G", "B"):
        assert np.isfinite(lc[f"mag_{c}"]).all(), c
    lines = report.read_text().splitlines()
    rows = [line for line in lines if not line.startswith("#")]
    assert len(rows) == CONFIG.n_frames
    assert all(",TG," in r and "V0001 Cyg" in r for r in rows)
    # The blue channel's curve from the same products (nothing measured again).
    capsys.readouterr()
    assert main(_args(night, project, star, *args, "--channel", "B")) == 0
    assert "photometry      0 done,    3 current" in capsys.readouterr().out
    blue = Table.read(project / "lightcurve.ecsv")
    assert blue.meta["filter"] == "TB"
    np.testing.assert_allclose(blue["mag"], lc["mag_B"])
    assert all(",TB," in r for r in report.read_text().splitlines() if not r.startswith("#"))


def test_aavso_needs_its_facts(night, tmp_path, capsys):
    first = Table.read(night / "truth/light_0001.ecsv")
    star = first[0]
    report = str(tmp_path / "r.txt")
    assert main(_args(night, tmp_path / "p", star, "--aavso", report, "--object", "X")) == 2
    assert "--aavso-code" in capsys.readouterr().err
