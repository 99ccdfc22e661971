"""Targets panel: the fixed target ``fluxion run --ra --dec`` made is kept from stray clicks.

Opened in the window, the run's target (fixed, placed by its coordinates)
has the panel's click mode off: a click on the viewer adds no click to it
and says why. It can be given a name, and its light curve follows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import Qt

from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.targets import TargetsPanel

simulate = pytest.importorskip("fluxion.core.simulation.simulate")


@pytest.fixture(scope="module")
def run_project(tmp_path_factory) -> Path:
    """A simulated night's project by ``fluxion run`` with its target given by RA/Dec."""
    from fluxion.app.cli import main

    night = tmp_path_factory.mktemp("fixed_night")
    config = simulate.NightConfig(
        n_frames=4, shape=(300, 300), n_bias=1, n_dark=1, n_flat=1, star_density=3.0
    )
    simulate.simulate_night(night, config)
    first = Table.read(night / "truth/light_0001.ecsv")
    inside = (first["x"] > 60) & (first["x"] < 240) & (first["y"] > 60) & (first["y"] < 240)
    stars = first[inside & (first["kind"] == "star")]
    star = stars[np.argsort(stars["mag_V"])[len(stars) // 3]]
    folder = tmp_path_factory.mktemp("fixed_project") / "project"
    args = [
        "run", str(night), "--project", str(folder),
        "--ra", repr(float(star["ra"])), "--dec", repr(float(star["dec"])),
        "--catalog", str(night / "truth/reference_catalog.ecsv"),
        "--workers", "1", "--no-cosmic-rays", "--no-report",
    ]  # fmt: skip
    assert main(args) == 0
    return folder


def test_a_click_leaves_the_runs_fixed_target_and_the_target_can_be_named(
    window, qtbot, open_and_wait, run_project
) -> None:
    targets = next(p for p in window.panels if isinstance(p, TargetsPanel))
    curve = next(p for p in window.panels if isinstance(p, LightCurvePanel))
    open_and_wait(window, run_project / "project.json")
    qtbot.waitUntil(lambda: curve.run is not None, timeout=30_000)
    window.raise_step(targets.title)
    qtbot.waitUntil(lambda: targets.in_front and len(targets.targets) == 1, timeout=30_000)
    t = targets.current_target
    assert t is not None and t.kind == "fixed" and t.ra is not None
    old = t.name
    assert old.startswith("RA ")  # the run names it after its coordinates
    assert not targets.mark_box.isChecked()

    # A click on a star (once the target is placed): it keeps no click, and the panel says why.
    qtbot.waitUntil(
        lambda: "fixed target at the given" in targets.result_label.text(), timeout=20_000
    )
    window.image_view.pixel_clicked.emit(150.0, 150.0, Qt.KeyboardModifier.NoModifier)
    qtbot.wait(200)
    assert len(targets.current_target.track.clicks) == 0
    said = targets.result_label.text()
    assert said.startswith("The target is fixed at RA ") and "a click does not change it" in said
    assert "clicks" not in window.session.project.targets[0].get("track", {})

    # Named: the project's entry (with its light curve) and the Light curve panel follow.
    assert targets.rename_target("TrES-1")
    doc = window.session.project.targets[0]
    assert doc["name"] == "TrES-1" and doc["light_curve"] == "lightcurve.ecsv"
    assert targets.current_target.name == "TrES-1" and targets.current_target.ra == t.ra
    assert curve.target_box.currentText() == "TrES-1"
    assert "TrES-1" in curve.stored and old not in curve.stored
    assert curve.run is curve.stored["TrES-1"][0]
    # Saved at once (the window is often closed before another step finishes).
    saved = json.loads((run_project / "project.json").read_text())
    assert [d["name"] for d in saved["targets"]] == ["TrES-1"]
    # Its CSV export's description names it by its new name.
    curve.export("table", run_project.parent / "named.csv")
    about = run_project.parent / "named.about.txt"
    qtbot.waitUntil(about.exists, timeout=10_000)
    assert about.read_text().startswith("Fluxion light curve of TrES-1: ")
    # A name taken or empty is refused.
    assert not targets.rename_target("") and not targets.rename_target("TrES-1")

    # A target of clicks ("New fixed") keeps the click mode on.
    targets.new_target("fixed", "clicked star")
    assert targets.mark_box.isChecked()

    # Every edit is saved at once, as the rename: the new target, a click on it, the
    # click's removal and the target's (closing the window keeps them).
    def saved() -> dict[str, dict]:
        doc = json.loads((run_project / "project.json").read_text())
        return {d["name"]: d for d in doc["targets"]}

    assert "clicked star" in saved()
    assert targets.add_click(150.0, 150.0, as_clicked=True) is not None
    qtbot.waitUntil(lambda: len(saved()["clicked star"]["clicks"]) == 1, timeout=10_000)
    click = saved()["clicked star"]["clicks"][0]
    assert (click["x"], click["y"]) == (150.0, 150.0) and click["file"]
    targets.remove_click(int(click["frame"]))
    assert saved()["clicked star"]["clicks"] == []
    targets.remove_target()
    assert list(saved()) == ["TrES-1"]
    # The curve's own file names the target by its new name too (its exports, the label).
    qtbot.waitUntil(
        lambda: Table.read(run_project / "lightcurve.ecsv").meta["target"] == "TrES-1",
        timeout=10_000,
    )
    assert curve.run.table.meta["target"] == "TrES-1"
