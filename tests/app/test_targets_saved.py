"""Targets panel: a project's saved targets survive targets made before the lights are ready.

The panel prepares the lights (and only then reads the project's targets)
when it first comes to the front; a target made before that, e.g. by
coordinates, must join the saved ones, never replace them.
"""

from __future__ import annotations

from pathlib import Path

from fluxion.app.panels.targets import TargetsPanel
from fluxion.core.project.document import Project

SAVED = {
    "name": "asteroid",
    "kind": "moving",
    "clicks": [
        {"frame": 0, "file": "light_0001.fits", "jd": 0.0, "x": 100.5, "y": 80.25,
         "sigma": 0.1, "refined": True},
        {"frame": 3, "file": "light_0004.fits", "jd": 0.0, "x": 110.5, "y": 84.75,
         "sigma": 0.1, "refined": True},
    ],
    "excluded": ["light_0002.fits"],
}  # fmt: skip


def _project_with_a_target(night: Path, folder: Path) -> Path:
    lights = sorted(night.glob("light_*.fits"))
    project = Project.from_inputs(lights, name="saved targets")
    project.targets = [dict(SAVED)]
    return project.save(folder)


def test_a_target_made_before_the_lights_are_ready_keeps_the_saved_ones(
    window, qtbot, open_and_wait, demo_night, tmp_path
) -> None:
    open_and_wait(window, _project_with_a_target(demo_night, tmp_path / "project"))
    panel = next(p for p in window.panels if isinstance(p, TargetsPanel))
    assert not panel.in_front and panel.frames is None  # nothing read yet
    # Made before the lights are prepared (no frames needed for coordinates).
    new = panel.add_by_coordinates("150.0 2.0", name="star")
    assert new is not None
    names = [d["name"] for d in window.session.project.targets]
    assert names == ["asteroid", "star"]
    # A name already saved is not taken again by a new target.
    again = panel.new_target("fixed", "asteroid", ra=150.1, dec=2.1)
    assert again.name == "asteroid (2)"
    panel.remove_target()  # the selected one: "asteroid (2)"
    assert [d["name"] for d in window.session.project.targets] == ["asteroid", "star"]
    # The saved target is untouched, the light curve's exclusions included.
    saved = window.session.project.targets[0]
    assert saved["excluded"] == ["light_0002.fits"]
    assert [(c["x"], c["y"]) for c in saved["clicks"]] == [(100.5, 80.25), (110.5, 84.75)]

    # In front: the lights are prepared and every target is read, clicks in their lights.
    window.raise_step(panel.title)
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=20_000)
    assert [t.name for t in panel.targets] == ["asteroid", "star"]
    asteroid = panel.target("asteroid")
    assert asteroid.track.frames == (0, 3)
    assert asteroid.excluded == ("light_0002.fits",)
    assert panel.target("star").ra == 150.0
    # Saving again (any change) writes both, with their files.
    panel.remove_click(99)  # no such click: nothing changes
    panel._save_targets()
    docs = window.session.project.targets
    assert [d["name"] for d in docs] == ["asteroid", "star"]
    assert [c["file"] for c in docs[0]["clicks"]] == ["light_0001.fits", "light_0004.fits"]
