"""``fluxion transients`` on a simulated night: the nova and the dwarf nova found unprompted."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from fluxion.app.cli import main
from fluxion.core.simulation.simulate import NightConfig, simulate_night
from fluxion.core.simulation.transients import NOVA_ID

CONFIG = NightConfig(
    n_frames=10, shape=(300, 300), n_bias=3, n_dark=3, n_flat=3, outburst_start=0.3, seed=21,
)  # fmt: skip


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    night = tmp_path_factory.mktemp("transient_night")
    simulate_night(night, CONFIG)
    project = tmp_path_factory.mktemp("transient_project") / "project"
    truth0 = Table.read(night / "truth/light_0001.ecsv")
    nova = truth0[truth0["id"] == NOVA_ID][0]
    args = ["transients", str(night), "--project", str(project), "--workers", "2",
            "--ra", f"{nova['ra']:.6f}", "--dec", f"{nova['dec']:.6f}"]  # fmt: skip
    assert main(args) == 0
    return night, project


def _truth(night, k):
    return Table.read(night / f"truth/light_{k + 1:04d}.ecsv")


def test_candidates_are_the_nova_and_the_outburst(searched, capsys):
    night, project = searched
    cand = Table.read(project / "candidates.ecsv")
    assert list(cand.colnames[:11]) == [
        "ra", "dec", "x", "y", "file", "bjd_tdb", "mag", "mag_err", "score", "reason", "accepted",
    ]  # fmt: skip
    accepted = cand[cand["accepted"]]
    kinds = []
    for row in accepted:
        t = _truth(night, int(row["frame"]))
        d = np.hypot(t["x"] - row["x"], t["y"] - row["y"])
        k = int(np.argmin(d))
        kinds.append(str(t["kind"][k]) if d[k] < 2.0 else "false")
    # What changed over the night and nothing else (the eclipse may show too).
    assert set(kinds) <= {"nova", "outburst", "eclipsing"}, kinds
    assert kinds.count("nova") >= 3 and kinds.count("outburst") >= 3
    # The asteroid is never accepted: it moves.
    for row in accepted:
        t = _truth(night, int(row["frame"]))
        a = t[t["kind"] == "asteroid"]
        if len(a):
            assert np.hypot(a["x"][0] - row["x"], a["y"][0] - row["y"]) > 3
    assert np.all(np.isfinite(accepted["bjd_tdb"]))


def test_forced_photometry_at_the_nova(searched):
    night, project = searched
    forced = Table.read(project / "forced.ecsv")
    assert list(forced.colnames[:8]) == [
        "file", "bjd_tdb", "flux", "flux_err", "mag", "mag_err", "limit_mag", "detected",
    ]  # fmt: skip
    assert len(forced) == CONFIG.n_frames
    # The nova brightens by 2.5 mag over the night: late lights detect it on the
    # difference (the template holds its mean early light), calibrated.
    assert forced["detected"][-3:].all()
    late = forced[forced["detected"]]
    truth = np.array([_truth(night, int(r["frame"]))["mag_V"][
        _truth(night, int(r["frame"]))["id"] == NOVA_ID][0] for r in late])  # fmt: skip
    assert np.all(np.diff(np.asarray(late["mag"])[-3:]) < 0.05)
    # Magnitudes on the difference are of the flux added since the template,
    # so never brighter than the nova itself.
    assert np.all(np.asarray(late["mag"]) > truth - 0.3)
    assert np.all(np.isfinite(forced["limit_mag"]))


def test_transients_command_says_what_is_wrong(tmp_path, capsys):
    assert main(["transients", str(tmp_path), "--project", str(tmp_path / "p"), "--ra", "10"]) == 2
    assert "--ra and --dec" in capsys.readouterr().err
