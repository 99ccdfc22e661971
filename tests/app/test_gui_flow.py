"""The observer's main flow, driven through the window with real mouse and key events.

Open a night, run calibration, detection, astrometry, photometry and the zero
point from their buttons, click the asteroid in three lights, measure its light
curve (calibrated by default), export ALCDEF and AAVSO, close, reopen: the
same curve. Numbers against the simulator's truth.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from PySide6.QtCore import QPoint, QPointF, Qt

from fluxion.app.main_window import MainWindow
from fluxion.app.settings import Settings
from fluxion.core.reports.alcdef import check_alcdef, parse_alcdef
from fluxion.core.simulation.simulate import NightConfig, simulate_night

pytestmark = pytest.mark.gui_flow

CONFIG = NightConfig(n_frames=6, shape=(384, 384), n_bias=2, n_dark=2, n_flat=2, seed=21)
STEP_WAIT = 180_000


@pytest.fixture(scope="module")
def night(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("flow") / "night"
    simulate_night(out, CONFIG)
    return out


def _press_step(window, qtbot, title: str):
    """Click the step's name in the Steps bar; its panel comes to the front."""
    qtbot.mouseClick(window.step_buttons[title], Qt.MouseButton.LeftButton)
    panel = next(p for p in window.panels if p.title == title)
    qtbot.waitUntil(lambda: panel.in_front, timeout=5_000)
    return panel


def _run_all(window, qtbot, title: str):
    panel = _press_step(window, qtbot, title)
    with qtbot.waitSignal(panel.step_finished, timeout=STEP_WAIT):
        qtbot.mouseClick(panel.run_all_button, Qt.MouseButton.LeftButton)
    assert window.step_actions[title].text().startswith("\u2713")
    return panel


def _click_image(window, qtbot, x: float, y: float) -> None:
    view = window.image_view
    pos = view.graphics.mapFromScene(view.view_box.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos))


def test_main_flow_with_real_events(qtbot, night: Path, tmp_path: Path) -> None:
    truth = json.loads((night / "truth" / "night.json").read_text())["frames"]
    window = MainWindow(Settings(tmp_path / "settings.ini"))
    window.resize(1366, 740)
    window.show()
    qtbot.waitExposed(window)
    try:
        with qtbot.waitSignal(window.session.frame_ready, timeout=30_000):
            window.open_path(night)
        session = window.session
        lights = session.light_indices()
        assert len(lights) == CONFIG.n_frames and session.current == lights[0]
        for title in ("Calibration", "Detection", "Astrometry", "Photometry", "Zero point"):
            panel = _run_all(window, qtbot, title)
            assert sorted(panel.results) == lights, title
        astrometry = next(p for p in window.panels if p.title == "Astrometry")
        assert all(r.solved for r in astrometry.results.values())

        targets = _press_step(window, qtbot, "Targets")
        new_moving = next(b for b in targets.findChildren(type(targets.run_all_button))
                          if b.text() == "New moving")  # fmt: skip
        qtbot.mouseClick(new_moving, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: targets.frames is not None, timeout=60_000)
        for k in (0, 2, 5):  # three lights, reached with the keyboard
            while session.current != lights[k]:
                with qtbot.waitSignal(session.frame_ready, timeout=10_000):
                    qtbot.keyClick(window, Qt.Key.Key_D)
            a = truth[k]["asteroid"]
            n = len(targets.current_target.track.clicks)
            _click_image(window, qtbot, a["x"], a["y"])
            qtbot.waitUntil(lambda n=n: len(targets.current_target.track.clicks) == n + 1,
                            timeout=20_000)  # fmt: skip
        clicks = targets.current_target.track.clicks
        for c, k in zip(clicks, (0, 2, 5), strict=True):
            a = truth[k]["asteroid"]
            assert np.hypot(c.x - a["x"], c.y - a["y"]) < 0.5

        curve = _press_step(window, qtbot, "Light curve")
        assert curve.target_box.currentText() == targets.current_target.name
        measure = curve.run_all_button
        with qtbot.waitSignal(curve.step_finished, timeout=STEP_WAIT):
            qtbot.mouseClick(measure, Qt.MouseButton.LeftButton)
        lc = curve.run.table
        assert curve.run.calibrated and "calibrated V magnitudes" in curve.result_label.text()
        true_mag = np.array([_true_mag(night, f) for f in lc["file"]])
        resid = np.asarray(lc["mag"], float) - true_mag
        err = np.hypot(np.asarray(lc["mag_err"], float), float(lc.meta["magnitude_scale_err"]))
        assert np.all(np.abs(resid) < 5 * err + 0.03), (resid, err)

        meta = {"number": "9999", "observers": "A. Observer", "contact_name": "A. Observer",
                "contact_info": "a@example.org", "object": "Sim", "aavso_code": "XYZ"}  # fmt: skip
        curve.export("alcdef", tmp_path / "flow.alcdef", meta)
        curve.export("aavso", tmp_path / "flow_aavso.txt", meta)
        qtbot.waitUntil(lambda: (tmp_path / "flow_aavso.txt").exists(), timeout=20_000)
        qtbot.waitUntil(lambda: (tmp_path / "flow.alcdef").exists(), timeout=20_000)
        text = (tmp_path / "flow.alcdef").read_text()
        assert check_alcdef(text) == []
        header, data = parse_alcdef(text)[0]
        assert header["DIFFERMAGS"] == "FALSE" and "COMPNAME1" in header
        assert len(data) == CONFIG.n_frames
        kept = np.asarray(lc["mag"], float).copy()
        folder = session.project.folder
    finally:
        window.close()
        window.deleteLater()
        qtbot.wait(1)

    again = MainWindow(Settings(tmp_path / "settings.ini"))
    again.show()
    try:
        with qtbot.waitSignal(again.session.frame_ready, timeout=30_000):
            again.open_path(folder)
        curve = next(p for p in again.panels if p.title == "Light curve")
        qtbot.waitUntil(lambda: curve.run is not None, timeout=30_000)
        assert curve.run.calibrated
        np.testing.assert_allclose(np.asarray(curve.run.table["mag"], float), kept, atol=1e-6)
        assert again.step_actions["Zero point"].text().startswith("\u2713")
    finally:
        again.close()
        again.deleteLater()
        qtbot.wait(1)


def _true_mag(night: Path, file: str) -> float:
    t = Table.read(night / "truth" / file.replace(".fits", ".ecsv"))
    return float(t[t["kind"] == "asteroid"]["mag_V"][0])
