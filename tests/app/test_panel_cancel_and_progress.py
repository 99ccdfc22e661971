"""A step panel's own Cancel, and its frames shown as they land during "Run on all lights"."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from fluxion.app.panels.frame_stats import FrameStatsPanel
from fluxion.app.panels.lightcurve import LightCurvePanel
from fluxion.app.panels.photometry import PhotometryPanel
from fluxion.app.panels.zeropoint import ZeroPointPanel
from fluxion.core.project.results import RunStatus
from fluxion.core.runtime.pipeline import StepState

# The lights after the first wait here until the test lets them go (or Cancel stops them).
GATE = threading.Event()
FIRST: list[str] = []


class GatedPanel(FrameStatsPanel):
    """Frame statistics whose lights after the first wait for :data:`GATE`."""

    @staticmethod
    def run(inputs, params, state: StepState | None):
        if inputs.frame.path.name not in FIRST:
            while not GATE.wait(0.02):
                if state is not None:
                    state.check()  # Cancel reaches the waiting lights
        return FrameStatsPanel.run(inputs, params, state)


@pytest.fixture
def gated(open_panel, demo_night: Path):
    GATE.clear()
    panel = open_panel(GatedPanel, demo_night)
    seq = panel.session.sequence
    FIRST[:] = [seq[panel.session.light_indices()[0]].path.name]
    yield panel
    GATE.set()


def _plotted(panel) -> int:
    x, _ = panel.plot.points.getData()
    return 0 if x is None else int(np.size(x))


def test_frames_show_as_they_land(gated, qtbot) -> None:
    panel = gated
    lights = panel.session.light_indices()
    assert panel.result_label.text() == "Not run yet."
    task = panel.run_all()
    assert task is not None
    assert panel.result_label.text().startswith("Running: 0 light(s) done so far")
    # The first light is plotted and its sky shown while the others still wait.
    qtbot.waitUntil(lambda: _plotted(panel) == 1, timeout=20_000)
    assert not task.done and list(panel.results) == [lights[0]]
    panel.session.go_to(lights[0])
    qtbot.waitUntil(lambda: "sky" in panel.result_label.text(), timeout=5_000)
    # A light not done yet says the run is under way (not another light's text).
    panel.session.go_to(lights[1])
    qtbot.waitUntil(lambda: panel.session.current == lights[1], timeout=5_000)
    assert panel.result_label.text().startswith("Running: 1 light(s) done so far")
    GATE.set()
    with qtbot.waitSignal(task.finished, timeout=20_000):
        pass
    assert sorted(panel.results) == lights and _plotted(panel) == len(lights)
    assert panel.results.status is RunStatus.DONE


def test_the_panels_cancel_stops_its_run(gated, qtbot) -> None:
    panel = gated
    lights = panel.session.light_indices()
    assert not panel.cancel_button.isEnabled()  # nothing of the panel's runs
    # An unrelated task does not enable it (the status bar's Cancel is for that).
    other = panel.session.workers.submit(lambda state: GATE.wait(20), name="other")
    assert not panel.cancel_button.isEnabled()
    task = panel.run_all()
    assert task is not None and panel.cancel_button.isEnabled()
    assert panel.buttons.indexOf(panel.cancel_button) >= 0  # beside its run
    qtbot.waitUntil(lambda: lights[0] in panel.results, timeout=20_000)
    with qtbot.waitSignal(task.cancelled, timeout=20_000):
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.cancel_button.isEnabled(), timeout=5_000)
    # What was done before Cancel is kept; the rest was not measured.
    assert list(panel.results) == [lights[0]]
    assert panel.results.status is RunStatus.CANCELLED
    # It says so, and shows the kept light's result below.
    text = panel.result_label.text()
    assert text.startswith("Cancelled: the lights finished before it are kept (1 shown)")
    assert "sky" in text.split("\n\n", 1)[1]
    assert not other.done  # the other task goes on
    GATE.set()
    qtbot.waitUntil(lambda: other.done, timeout=20_000)


@pytest.mark.parametrize("cls", [PhotometryPanel, ZeroPointPanel, LightCurvePanel])
def test_every_step_panel_has_a_cancel_beside_its_run(open_panel, demo_night, cls) -> None:
    panel = open_panel(cls, demo_night)
    assert panel.cancel_button.text() == "Cancel"
    assert (
        panel.buttons.indexOf(panel.cancel_button)
        == panel.buttons.indexOf(panel.run_all_button) + 1
    )
    assert not panel.cancel_button.isHidden() and not panel.cancel_button.isEnabled()
