"""The window's lights take the project's telescope aperture, as ``fluxion run``'s do.

``fluxion run --telescope-aperture`` keeps the aperture in the project; the
run fills it into the lights whose headers give none, so every star's error
holds the scintillation. The window read the lights from their headers only:
its light curve of the same project left the scintillation out ("the
telescope's aperture is not known"). Opened in the window, the lights now
carry the project's aperture (the header's own still wins).
"""

from __future__ import annotations

from fluxion.core.io.frames import USER_APERTURE
from fluxion.core.project.document import Project


def _project(night, folder, aperture_mm):
    project = Project.from_inputs([night], name="aperture")
    project.telescope_aperture_mm = aperture_mm
    return project.save(folder)


def test_the_lights_take_the_projects_telescope_aperture(
    window, open_and_wait, demo_night, tmp_path
) -> None:
    open_and_wait(window, _project(demo_night, tmp_path / "with", 152.0))
    lights = [f for f in window.session.sequence.frames if f.type == "light"]
    assert lights and all(f.aperture_mm == 152.0 for f in lights)
    assert all(f.sources.get("aperture_mm") == USER_APERTURE for f in lights)
    # A project without one leaves the lights as their headers say (none here).
    open_and_wait(window, _project(demo_night, tmp_path / "without", None))
    lights = [f for f in window.session.sequence.frames if f.type == "light"]
    assert lights and all(f.aperture_mm is None for f in lights)
