"""Projects (save, autosave, reopen), settings, the panel lifecycle, cancel from the status bar."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clipped_stats

from fluxion.app.main import parse_args
from fluxion.app.main_window import MainWindow
from fluxion.app.panels import PANELS
from fluxion.app.panels.frame_stats import FrameStatsPanel, FrameStatsParams
from fluxion.app.settings import Settings
from fluxion.core.runtime.pipeline import StepState


def _stats_panel(window) -> FrameStatsPanel:
    return next(p for p in window.panels if isinstance(p, FrameStatsPanel))


def test_panel_registry_builds_one_dock_per_panel(window) -> None:
    assert [type(p) for p in window.panels] == PANELS
    assert window.panel_docks[0].windowTitle() == FrameStatsPanel.title


def test_run_current_and_all_then_autosave_and_reopen(
    window, qtbot, open_and_wait, demo_night: Path, tmp_path: Path
) -> None:
    open_and_wait(window, demo_night)
    inputs = {p: p.stat().st_mtime_ns for p in demo_night.glob("*.fits")}
    panel = _stats_panel(window)
    panel.form.editor("sigma").setValue(2.5)
    task = panel.run_current()
    assert task is not None
    with qtbot.waitSignal(task.finished, timeout=120_000):
        pass  # the task's own end: a deadline on the result failed on a busy machine
    assert window.session.current in panel.results
    i = window.session.current
    raw = fits.getdata(window.session.sequence[i].path).astype(np.float32)
    _, median, std = sigma_clipped_stats(raw, sigma=2.5, maxiters=5)
    assert panel.results[i].sky == pytest.approx(median, rel=1e-6)
    assert panel.results[i].noise == pytest.approx(std, rel=1e-5)
    assert f"sky {median:.1f}" in panel.result_label.text()

    project_dir = tmp_path / "project"
    assert window.save_project_as(project_dir) == project_dir / "project.json"
    with qtbot.waitSignal(panel.step_finished, timeout=120_000):
        panel.run_all()
    # the lights only: bias, dark and flat frames have no sky to measure
    n_lights = len(window.session.light_indices())
    assert sorted(panel.results) == window.session.light_indices() and n_lights < len(
        window.session
    )
    # autosaved after the step: the results index is in the file
    doc = json.loads((project_dir / "project.json").read_text())
    assert doc["results"]["frame_stats"]["summary"]["n_frames"] == n_lights
    assert doc["steps"]["frame_stats"]["sigma"] == 2.5
    # clicking a point of the diagnostics plot goes to that frame
    target = (i + 2) % len(window.session)
    with qtbot.waitSignal(window.session.frame_ready, timeout=60_000):
        panel.plot.frame_clicked.emit(target)
    assert window.session.current == target
    window.image_view.set_stretch("sqrt")
    window.save_project()
    # input files were never written
    assert {p: p.stat().st_mtime_ns for p in demo_night.glob("*.fits")} == inputs

    other = MainWindow(Settings(tmp_path / "settings.ini"))
    try:
        assert str(project_dir.resolve()) in other.settings.recent_projects()
        with qtbot.waitSignal(other.session.frame_ready, timeout=60_000):
            other.open_path(project_dir)
        assert other.session.current == target
        assert _stats_panel(other).params() == FrameStatsParams(sigma=2.5)
        assert other.session.project.results["frame_stats"].summary["n_frames"] == n_lights
        assert other.image_view.display_settings()["stretch"] == "sqrt"
        assert other.start_page.recent.count() == 1
    finally:
        other.close()
        other.deleteLater()


def test_cancel_from_the_status_bar(window, qtbot) -> None:
    started = threading.Event()

    def long_step(state: StepState) -> None:
        started.set()
        for k in range(10_000):
            state.progress(k / 10_000, "working")
            threading.Event().wait(0.001)

    task = window.workers.submit(long_step, name="Long step")
    assert started.wait(60)
    qtbot.waitUntil(lambda: window.task_progress.bar.value() > 0, timeout=60_000)
    assert window.task_progress.isVisible()
    assert window.task_progress.label.text().startswith("Long step")
    with qtbot.waitSignal(task.cancelled, timeout=60_000):
        window.task_progress.cancel_button.click()
    qtbot.waitUntil(lambda: not window.task_progress.isVisible(), timeout=60_000)
    assert not window.error_bar.isVisible()  # a cancel is not an error


def test_settings_persist_geometry_and_stretch(qtbot, tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    w = MainWindow(Settings(path))
    w.resize(1250, 780)
    w.image_view.set_colormap("inverted grey")
    w.image_view.set_stretch("log")
    w.close()
    geometry = w.saveGeometry()
    w.deleteLater()
    w2 = MainWindow(Settings(path))
    try:
        assert w2.image_view.display_settings()["colormap"] == "inverted grey"
        assert w2.image_view.display_settings()["stretch"] == "log"
        assert Settings(path).geometry() == geometry
    finally:
        w2.close()
        w2.deleteLater()


def test_damaged_project_shows_an_error(window, tmp_path: Path) -> None:
    (tmp_path / "project.json").write_text('{"schema_version": 42}')
    window.open_path(tmp_path)
    assert "newer Fluxion" in window.error_bar.label.text()


def test_gui_arguments() -> None:
    a = parse_args(["--demo", "--demo-dir", "/tmp/x"])
    assert a.demo and a.demo_dir == Path("/tmp/x") and a.path is None
    assert parse_args(["/data/night"]).path == Path("/data/night")
