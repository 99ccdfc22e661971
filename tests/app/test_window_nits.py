"""The window at a laptop's 1366x768: no repeated step tabs, focus kept after Cancel,
answer fields wide enough to read, presentation mode on the whole screen."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QTabBar


def _step_tab_bars(window) -> list[QTabBar]:
    """The step docks' tab strips the user can see (shown, and taller than nothing)."""
    steps = {p.title for p in window.panels}
    bars = []
    for bar in window.findChildren(QTabBar):
        names = {bar.tabText(i) for i in range(bar.count())}
        if bar.parent() is window and names and names <= steps and bar.isVisible():
            if bar.height() > 0:
                bars.append(bar)
    return bars


def test_the_step_docks_show_no_tab_strip_beside_the_steps_bar(window, qtbot) -> None:
    window.resize(1366, 768)
    qtbot.waitUntil(lambda: window.width() == 1366)
    qtbot.waitUntil(lambda: not _step_tab_bars(window), timeout=5_000)
    # Folded, the strip asks for no width either: the step dock keeps a third of the window.
    step_dock = window.panel_docks[[p.title for p in window.panels].index("Calibration")]
    assert step_dock.width() <= 0.4 * window.width()
    # The left docks keep theirs: there nothing else chooses between them.
    left = [b for b in window.findChildren(QTabBar) if b.isVisible() and b.parent() is window]
    assert any({b.tabText(i) for i in range(b.count())} >= {"Frames", "Lesson"} for b in left)
    # Choosing steps, and a dock taken out and put back, bring no strip back.
    for title in ("Photometry", "Light curve", "Calibration"):
        window.raise_step(title)
        qtbot.wait(20)
        assert not _step_tab_bars(window)
    dock = window.panel_docks[1]
    dock.setFloating(True)
    qtbot.waitUntil(dock.isFloating)
    dock.setFloating(False)
    window.tabifyDockWidget(window.panel_docks[0], dock)
    qtbot.waitUntil(lambda: not _step_tab_bars(window), timeout=5_000)
    window.raise_step(window.panels[1].title)
    qtbot.waitUntil(lambda: window.current_step == window.panels[1].title, timeout=5_000)


def _long_task(window, started: threading.Event):
    def long_step(state) -> None:
        started.set()
        while not state.cancelled:
            threading.Event().wait(0.01)
        state.check()

    return window.workers.submit(long_step, name="Long step")


def test_cancel_leaves_the_keyboard_focus_where_it_was(window, qtbot) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    before = window.step_buttons["Calibration"]
    before.setFocus()
    qtbot.waitUntil(before.hasFocus, timeout=5_000)
    started = threading.Event()
    task = _long_task(window, started)
    assert started.wait(60)
    cancel = window.task_progress.cancel_button
    qtbot.waitUntil(cancel.isVisible, timeout=60_000)
    with qtbot.waitSignal(task.finished, timeout=60_000):
        qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.task_progress.isVisible(), timeout=60_000)
    assert QApplication.focusWidget() is before
    assert not window.rate_box.hasFocus()

    # By keyboard: Tab reaches Cancel and presses it; when it hides, the focus goes back.
    task = _long_task(window, started)
    qtbot.waitUntil(cancel.isVisible, timeout=60_000)
    assert cancel.focusPolicy() & Qt.FocusPolicy.TabFocus
    cancel.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(cancel.hasFocus, timeout=5_000)
    with qtbot.waitSignal(task.finished, timeout=60_000):
        cancel.click()
    qtbot.waitUntil(lambda: not window.task_progress.isVisible(), timeout=60_000)
    assert QApplication.focusWidget() is before


def test_answer_fields_are_wide_enough_at_1366x768(window, qtbot) -> None:
    window.resize(1366, 768)
    panel = window.lesson_panel
    with_answers = [i for i, lesson in enumerate(panel.lessons) if len(lesson.answers) >= 2]
    assert with_answers
    panel.choice.setCurrentIndex(with_answers[0])
    window.lesson_dock.show()
    window.lesson_dock.raise_()
    qtbot.waitUntil(lambda: panel.isVisible() and bool(panel.answer_fields), timeout=5_000)
    scroll = window.lesson_dock.widget()
    qtbot.waitUntil(lambda: scroll.viewport().width() > 0, timeout=5_000)
    qtbot.wait(50)
    # Nothing scrolls sideways: the panel fits its dock's width.
    assert scroll.horizontalScrollBar().maximum() == 0
    viewport = scroll.viewport()
    for value, error in panel.answer_fields.values():
        for field, least in ((value, 110), (error, 70)):
            assert isinstance(field, QLineEdit)
            left = field.mapTo(viewport, field.rect().topLeft()).x()
            right = field.mapTo(viewport, field.rect().topRight()).x()
            assert left >= 0 and right <= viewport.width(), "cut at the dock's edge"
            assert field.width() >= least
    # The buttons wrap rather than push the panel wider than its dock.
    assert window.lesson_dock.width() >= min(340, window.width() // 4) - 2
    for button in (panel.save_button, panel.check_button, panel.sheet_button):
        assert button.mapTo(viewport, button.rect().topRight()).x() <= viewport.width()
    # A longer message below (where the class sheet went) squeezes no field.
    panel.status.setText("Class sheet: " + "/a/long/folder" * 8 + "/class_sheet.html.")
    panel.status.setWordWrap(True)
    qtbot.wait(50)
    for value, error in panel.answer_fields.values():
        assert value.height() >= value.sizeHint().height()
        assert error.height() >= error.sizeHint().height()
    # Back to the frame list: it is as narrow as it was.
    wide = window.lesson_dock.width()
    window.frames_dock.raise_()
    qtbot.waitUntil(lambda: window.frames_dock.width() < wide, timeout=5_000)


def test_presentation_mode_fills_the_screen_and_gives_the_window_back(window, qtbot) -> None:
    room = window.screen().availableGeometry()
    height = max(room.height() * 2 // 3, window.minimumSizeHint().height())
    window.resize(room.width() // 2, height)
    qtbot.waitUntil(lambda: window.height() == height)
    before = window.geometry()
    window.presentation.set_on(True, remember=False)
    try:
        assert window.isMaximized()
        qtbot.waitUntil(
            lambda: (
                window.frameGeometry().width() >= room.width() - 2
                and window.frameGeometry().height() >= room.height() - 2
            ),
            timeout=5_000,
        )
    finally:
        window.presentation.set_on(False, remember=False)
    assert not window.isMaximized()
    # Its own size again, as far as the screen holds it and its least width allows (a
    # small test screen may not).
    qtbot.waitUntil(lambda: window.height() == before.height(), timeout=5_000)
    width = max(min(before.width(), room.width()), window.minimumSizeHint().width())
    assert abs(window.width() - width) <= 4
