"""A step's run button with no night open says so (it did nothing, silently)."""

from __future__ import annotations

from fluxion.app.panels.base import NO_FRAMES_OPEN


def test_every_run_button_says_no_frames_are_open(window, qtbot) -> None:
    started = []
    window.workers.task_started.connect(lambda task: started.append(task.name))
    assert window.session.sequence is None
    for panel in window.panels:
        for button in (panel.run_button, panel.run_all_button):
            panel.result_label.setText("")
            button.click()
            assert panel.result_label.text() == NO_FRAMES_OPEN, panel.title
    qtbot.wait(50)
    assert started == []


def test_new_target_by_clicking_is_refused_with_no_night_open(window, qtbot) -> None:
    """ "New fixed" with no night made "target 1" pointing at no frames, silently."""
    from PySide6.QtWidgets import QPushButton

    panel = next(p for p in window.panels if p.step == "targets")
    assert window.session.sequence is None
    buttons = {b.text(): b for b in panel.findChildren(QPushButton)}
    for kind in ("fixed", "moving"):
        panel.result_label.setText("")
        buttons[f"New {kind}"].click()
        text = panel.result_label.text()
        assert text.startswith(f"No {kind} target made") and NO_FRAMES_OPEN in text, text
        assert "Open folder" in text
    assert panel.targets == [] and panel.target_list.count() == 0
    assert window.session.project.targets == []
