"""The Targets panel while the lights are prepared, and a target by coordinates with a name.

Preparing a real night's lights for tracking takes up to a minute: the panel
says how far it is and lists the targets the project keeps meanwhile (before,
the list stayed empty). A fixed target made by coordinates gets the name typed
beside them, which the light curve and its exports carry.
"""

from __future__ import annotations

import json
import threading

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox


def test_saved_targets_and_progress_while_the_lights_are_prepared(
    run_project, open_panel, qtbot, monkeypatch
) -> None:
    import fluxion.app.panels.targets as targets_module
    from fluxion.app.panels.targets import TargetsPanel

    night, folder, star, config = run_project
    saved = [d["name"] for d in json.loads((folder / "project.json").read_text())["targets"]]
    assert saved
    gate = threading.Event()
    prepare = targets_module.target_frames

    def slow(sequence, *, state, **kwargs):
        state.progress(0.25, "reading the WCS")
        while not gate.wait(0.02):
            state.check()
        return prepare(sequence, state=state, **kwargs)

    monkeypatch.setattr(targets_module, "target_frames", slow)
    try:
        panel = open_panel(TargetsPanel, night, project=folder)
        qtbot.waitUntil(lambda: "25%" in panel.result_label.text(), timeout=20_000)
        text = panel.result_label.text()
        assert "Preparing the lights for tracking" in text and "reading the WCS" in text
        assert f"{len(saved)} saved target(s)" in text
        # The saved targets are listed, greyed: not selectable before the lights are ready.
        items = [panel.target_list.item(k) for k in range(panel.target_list.count())]
        assert [i.text().split(" (")[0] for i in items] == saved
        assert all(not (i.flags() & Qt.ItemFlag.ItemIsEnabled) for i in items)
        assert panel.current_target is None and panel.frames is None
        # A click now is kept (on a new target) and placed once the lights are ready.
        first = panel.session.light_indices()[0]
        assert panel.add_click(float(star["x"]) + 1.5, float(star["y"]) - 1.0, index=first) is None
        assert "click in frame" in panel.result_label.text()
        assert len(panel.waiting_clicks) == 1
        clicked = panel.waiting_clicks[0][0]
        assert clicked not in saved
    finally:
        gate.set()
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=60_000)
    assert [t.name for t in panel.targets] == [*saved, clicked]
    assert panel.target_list.count() == len(saved) + 1
    assert panel.target_list.item(0).flags() & Qt.ItemFlag.ItemIsEnabled
    # The waiting click is placed: refined onto the star (the simulator's position).
    qtbot.waitUntil(lambda: len(panel.target(clicked).track.clicks) == 1, timeout=20_000)
    click = panel.target(clicked).track.clicks[0]
    assert click.frame == 0 and click.refined
    assert np.hypot(click.x - star["x"], click.y - star["y"]) < 0.3
    assert not panel.waiting_clicks


def test_a_target_by_coordinates_gets_the_name_typed(open_panel, demo_night, qtbot) -> None:
    from fluxion.app.panels.lightcurve import LightCurvePanel
    from fluxion.app.panels.target_coordinates import CoordinatesDialog
    from fluxion.app.panels.targets import TargetsPanel

    panel = open_panel(TargetsPanel, demo_night)
    seen: list[bool] = []

    def fill() -> None:
        dialog = panel.findChild(CoordinatesDialog)
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        seen.append(ok.isEnabled())  # no coordinates yet: OK is off
        dialog.name_edit.setText("  TrES-1  ")
        dialog.coords_edit.setText("19:04:09.8 +36:37:57")
        seen.append(ok.isEnabled())
        ok.click()

    QTimer.singleShot(0, fill)
    panel._ask_coordinates()
    assert seen == [False, True]
    doc = next(d for d in panel.session.project.targets if d.get("name") == "TrES-1")
    assert abs(doc["ra"] - (19 + 4 / 60 + 9.8 / 3600) * 15) < 1e-6
    assert abs(doc["dec"] - (36 + 37 / 60 + 57 / 3600)) < 1e-6
    assert panel.current_target is not None and panel.current_target.name == "TrES-1"
    # The Light curve panel lists it by that name (its curve and exports carry it).
    curve = LightCurvePanel(panel.session)
    try:
        curve.refresh_targets()
        assert curve.target_box.currentText() == "TrES-1"
    finally:
        curve.close()
        curve.deleteLater()
