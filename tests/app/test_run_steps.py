"""Run > Every step on all lights: the night's steps one after the other, from one key.

On a simulated night the chain calibrates, detects, solves, measures and
calibrates the zero point of every light, each step when the one before has
landed, with zero points against the simulator's truth. A step that fails or is
cancelled stops the chain where it is, says so, and keeps what was done.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fluxion.app.run_steps import NIGHT_STEPS
from fluxion.core.simulation.simulate import NightConfig, simulate_night

# No calibration frames to make: the zero point is then the simulator's exactly.
CLEAN_CAMERA = dict(
    n_bias=0, n_dark=0, n_flat=0, bias_level=0.0, bias_column_rms=0.0, dark_current=0.0,
    hot_pixel_fraction=0.0, vignetting=0.0, n_dust=0, prnu=0.0, cosmic_ray_rate=0.0,
)  # fmt: skip
CONFIG = NightConfig(n_frames=3, shape=(256, 256), seed=5, **CLEAN_CAMERA)
WAIT = 600_000  # the work ends the wait, whatever the machine's load


@pytest.fixture
def night(tmp_path: Path) -> Path:
    """A fresh night per test: a run leaves its project and products beside the lights."""
    out = tmp_path / "night"
    simulate_night(out, CONFIG)
    return out


def _panel(window, step: str):
    return next(p for p in window.panels if p.step == step)


def _messages(window) -> list[str]:
    said: list[str] = []
    window.session.status_message.connect(said.append)
    return said


def test_every_step_runs_on_all_lights_in_order_from_one_key(
    window, qtbot, open_and_wait, night: Path
) -> None:
    open_and_wait(window, night)
    lights = window.session.light_indices()
    said = _messages(window)
    # When each step starts: how many lights every step has done by then.
    starts: list[tuple[str, dict[str, int]]] = []

    def note(text: str) -> None:
        for step in NIGHT_STEPS:
            if text.startswith(f"{_panel(window, step).title}: running"):
                starts.append((step, {s: len(_panel(window, s).results) for s in NIGHT_STEPS}))

    window.session.status_message.connect(note)
    assert window.stop_steps_action.isEnabled() is False
    with qtbot.waitSignal(
        window.night_steps.running_changed, timeout=WAIT, check_params_cb=lambda on: not on
    ):
        qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        assert window.night_steps.running and window.stop_steps_action.isEnabled()
    assert said[-1].startswith("Every step done on all lights"), said
    # Each step began once the steps before it had landed on every light.
    assert [step for step, _ in starts] == list(NIGHT_STEPS), starts
    for k, (step, done) in enumerate(starts):
        assert all(done[s] == len(lights) for s in NIGHT_STEPS[:k]), (step, done)
    for step in NIGHT_STEPS:
        assert sorted(_panel(window, step).results) == lights, step
        assert window.step_actions[_panel(window, step).title].text().startswith("\u2713")
    assert all(r.solved for r in _panel(window, "astrometry").results.values())
    facts = json.loads((night / "truth" / "night.json").read_text())["frames"]
    expected = CONFIG.zero_point - CONFIG.extinction * np.array([f["airmass"] for f in facts])
    for i, fc in _panel(window, "zeropoint").results.items():
        r = fc.result
        assert r.calibrated, r.reason
        # Aperture photometry: the aperture correction's own error rides on top.
        assert abs(r.zero_point - expected[i]) < 3 * r.zero_point_err + 0.02, (i, r.zero_point)
    assert window.run_steps_action.isEnabled() and not window.stop_steps_action.isEnabled()


def _stuck_detection(window, monkeypatch, fail: bool) -> list[str]:
    """Detection's run replaced by one that fails, or that waits for Cancel."""
    panel = _panel(window, "detection")
    started: list[str] = []

    def work(state):
        started.append("detection")
        if fail:
            raise RuntimeError("the detector broke on light 2")
        while True:
            state.check()
            time.sleep(0.01)

    def run_all():
        return window.session.workers.submit(work, name="Detection", key="panel:detection")

    monkeypatch.setattr(panel, "run_all", run_all)
    return started


@pytest.mark.parametrize("fail", [True, False], ids=["fails", "cancelled"])
def test_a_step_that_fails_or_is_cancelled_stops_the_chain_and_keeps_what_was_done(
    window, qtbot, open_and_wait, night: Path, monkeypatch, fail: bool
) -> None:
    open_and_wait(window, night)
    lights = window.session.light_indices()
    started = _stuck_detection(window, monkeypatch, fail)
    said = _messages(window)
    with qtbot.waitSignal(
        window.night_steps.running_changed, timeout=WAIT, check_params_cb=lambda on: not on
    ):
        window.run_steps_action.trigger()
        if not fail:
            qtbot.waitUntil(lambda: started == ["detection"], timeout=WAIT)
            window.stop_steps_action.trigger()
    expected = "the detector broke on light 2" if fail else "(cancelled)"
    assert said[-1].startswith("Stopped at Detection") and expected in said[-1], said
    assert sorted(_panel(window, "calibration").results) == lights  # kept
    for step in ("astrometry", "photometry", "zeropoint"):
        assert len(_panel(window, step).results) == 0, step  # never started
    assert window.run_steps_action.isEnabled() and not window.night_steps.running


class _Results(dict):
    def snapshot(self) -> dict:
        return dict(self)


class _Panel:
    """What the chain reads of a step panel once its run has landed."""

    def __init__(self, step: str, title: str, results: dict) -> None:
        self.step, self.title, self.results = step, title, _Results(results)

    @staticmethod
    def error_of(result) -> str | None:
        return getattr(result, "error", None)


def test_the_end_says_which_steps_left_lights_without_a_result(qtbot) -> None:
    """Offline without a catalogue the steps run but solve and calibrate nothing: the
    chain's last word says so instead of "done" (a run of that night takes minutes of
    offline solving; the panels' results are what the message is made from)."""
    from types import SimpleNamespace as R

    from fluxion.app.run_steps import NightSteps

    ok = {i: R(error=None, solved=True, result=R(calibrated=True)) for i in range(3)}
    panels = [
        _Panel("calibration", "Calibration", ok),
        _Panel("detection", "Detection", {**ok, 2: R(error="no sources: the frame is blank")}),
        _Panel("astrometry", "Astrometry", {i: R(solved=False) for i in range(3)}),
        _Panel("photometry", "Photometry", ok),
        _Panel("zeropoint", "Zero point", {**ok, 0: R(result=R(calibrated=False))}),
    ]
    steps = NightSteps(panels, lambda _t: None, lambda _t: None)
    assert [p.step for p in steps.steps] == list(NIGHT_STEPS)
    end = steps._outcome()
    assert end.startswith("Every step run on all lights"), end
    assert "lights with a result: Detection 2 of 3; Astrometry 0 of 3; Zero point 2 of 3." in end
    steps = NightSteps(panels[:1] + panels[3:4], lambda _t: None, lambda _t: None)
    assert steps._outcome() == "Every step done on all lights (Calibration, Photometry)."


@pytest.mark.parametrize(
    "how", ["stop", "status_cancel"], ids=["run_menu_stop", "status_bar_cancel"]
)
def test_stop_cancels_the_running_step_and_no_further_step_starts(
    window, qtbot, open_and_wait, night: Path, monkeypatch, how: str
) -> None:
    """Run > Stop the steps cancels the running step's own task, as the status bar's
    Cancel does. A step whose lights in flight finish after the cancel (a blind solve
    is not interrupted between two lights) lands a result: the chain ends there."""
    open_and_wait(window, night)
    lights = window.session.light_indices()
    panel = _panel(window, "detection")
    tasks: list = []
    started: list[str] = []

    def work(state):
        started.append("detection")
        while not state.cancelled:
            time.sleep(0.01)
        return {}  # the lights under way finished: a result, not Cancelled

    def run_all():
        task = window.session.workers.submit(work, name="Detection", key="panel:detection")
        tasks.append(task)
        return task

    monkeypatch.setattr(panel, "run_all", run_all)
    said = _messages(window)
    with qtbot.waitSignal(
        window.night_steps.running_changed, timeout=WAIT, check_params_cb=lambda on: not on
    ):
        window.run_steps_action.trigger()
        qtbot.waitUntil(lambda: started == ["detection"], timeout=WAIT)
        assert len(tasks) == 1 and not tasks[0].state.cancelled
        if how == "stop":
            window.stop_steps_action.trigger()
        else:
            qtbot.waitUntil(lambda: window.task_progress.task is tasks[0], timeout=WAIT)
            window.task_progress.cancel_button.click()
        assert tasks[0].state.cancelled  # the running step's own flag, at once
    assert said[-1].startswith("Stopped after Detection (cancelled)"), said
    assert len(tasks) == 1
    assert sorted(_panel(window, "calibration").results) == lights  # kept
    for step in ("astrometry", "photometry", "zeropoint"):
        assert len(_panel(window, step).results) == 0, step  # never started
    assert window.run_steps_action.isEnabled() and not window.stop_steps_action.isEnabled()
