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
