"""Per-frame steps, their plots, Previous/Next and Play work on the light frames;
bias, dark and flat frames stay in the frame list and can be stepped through on request."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fluxion.app.panels.photometry import PhotometryPanel


def _lights(window) -> list[int]:
    return [i for i, f in enumerate(window.session.sequence.frames) if f.type == "light"]


def test_stepping_and_blinking_go_through_the_lights(
    window, qtbot, open_and_wait, demo_night: Path
) -> None:
    open_and_wait(window, demo_night)
    session, lights = window.session, _lights(window)
    assert len(lights) == 5 and len(session) == 8  # a bias, a dark and a flat before them
    assert session.current == lights[0]
    session.previous()  # no light before the first: it stays
    assert session.current == lights[0]
    visited = [session.current]
    for _ in range(6):
        session.next()
        visited.append(session.current)
    assert visited == [*lights, lights[-1], lights[-1]]
    session.next(wrap=True)
    assert session.current == lights[0]
    session.previous(wrap=True)
    assert session.current == lights[-1]

    seen: set[int] = set()
    window.session.frame_ready.connect(lambda f: seen.add(f.index))
    window.rate_box.setValue(30)
    window.toggle_play()
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=20_000)
    window.toggle_play()
    assert seen <= set(lights), seen

    # On request the calibration frames are stepped through too; a click in the list
    # on one of them still shows it, and Next goes on to the first light after it.
    window.step_all_action.setChecked(True)
    session.go_to(lights[0])
    session.previous()
    assert session.current == lights[0] - 1
    window.step_all_action.setChecked(False)
    session.go_to(0)
    session.next()
    assert session.current == lights[0]
    # The status bar gives the frame-table row and the light number the panels use.
    with qtbot.waitSignal(session.frame_ready, timeout=10_000):
        session.go_to(lights[1])
    assert window.frame_label.text().startswith(f"Frame {lights[1] + 1} / 8 (light 2 of 5)")


def test_a_step_on_all_frames_runs_on_the_lights_and_plots_them(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    # A copy: the run keeps its project and products in the night's folder, and the
    # session's demo night must stay without them for the other tests.
    open_and_wait(window, Path(shutil.copytree(demo_night, tmp_path / "night")))
    panel = next(p for p in window.panels if isinstance(p, PhotometryPanel))
    lights = _lights(window)
    with qtbot.waitSignal(panel.step_finished, timeout=120_000):
        task = panel.run_all()
        assert task is not None and "lights" in task.name
    assert sorted(panel.results) == lights
    # The night plot has one point per light, its time axis from the first light.
    x, _ = panel.plot.points.getData()
    assert len(x) == len(lights)
    jd = [window.session.sequence[i].jd for i in lights]
    hours = (np.asarray(jd) - min(jd)) * 24.0
    # A sequence under half an hour in minutes (see test_night_axis), else in hours.
    unit, scale = ("minutes", 60.0) if np.ptp(hours) < 0.5 else ("hours", 1.0)
    assert np.allclose(x, hours * scale)
    assert panel.plot.plot.getAxis("bottom").labelText == f"{unit} since the first light"
