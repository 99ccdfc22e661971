"""The window's first layout gives the image the room; the user's own layout and step win later."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from fluxion.app.settings import Settings


def _front_step(window) -> str:
    shown = [p.title for p, d in zip(window.panels, window.panel_docks, strict=True)
             if not d.visibleRegion().isEmpty()]  # fmt: skip
    assert len(shown) == 1
    return shown[0]


def _new_window(qtbot, path):
    from fluxion.app.main_window import MainWindow

    w = MainWindow(Settings(path))
    w.resize(1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    qtbot.wait(50)
    return w


def test_first_start_layout_then_the_users_step_is_kept(qtbot, tmp_path) -> None:
    settings = tmp_path / "settings.ini"
    w = _new_window(qtbot, settings)
    try:
        assert _front_step(w) == "Calibration"  # the first step of the chain
        assert not w.log_dock.isVisible()  # in the View menu, not taking the image's height
        step_width = w.panel_docks[[p.title for p in w.panels].index("Calibration")].width()
        assert 0.28 * w.width() <= step_width <= 0.40 * w.width()
        # the image column is the widest thing in the window
        w.stack.setCurrentWidget(w.image_view)
        qtbot.wait(50)
        assert w.image_view.graphics.width() > max(step_width, w.frames_dock.width())
        assert w.image_view.histogram.width() <= 200
        w.raise_step("Photometry")
        qtbot.wait(20)
        assert _front_step(w) == "Photometry"
    finally:
        w.close()
        w.deleteLater()
        qtbot.wait(1)
    w = _new_window(qtbot, settings)
    try:
        assert _front_step(w) == "Photometry"
    finally:
        w.close()
        w.deleteLater()
        qtbot.wait(1)


def test_the_first_window_fits_its_screen(qtbot, tmp_path) -> None:
    """A laptop's 1366x768 screen shows the whole window: tall step panels scroll
    inside their dock instead of making the window taller than the screen."""
    from fluxion.app.main_window import MainWindow

    w = MainWindow(Settings(tmp_path / "settings.ini"))
    try:
        least = w.minimumSizeHint()
        assert least.width() <= 1366 and least.height() <= 740, least
        room = w.screen().availableGeometry()
        assert w.width() <= max(room.width(), least.width())
        assert w.height() <= max(room.height(), least.height())
        w.show()
        qtbot.waitExposed(w)
        assert room.contains(w.frameGeometry().topLeft())
    finally:
        w.close()
        w.deleteLater()
        qtbot.wait(1)


def test_every_step_is_one_click_away_and_done_steps_are_ticked(window, qtbot) -> None:
    """Nine step names do not fit the dock's tabs: the Steps bar names them all."""
    titles = [p.title for p in window.panels]
    assert list(window.step_actions) == titles
    bar = window.findChild(QToolBar, "toolbar_steps")
    assert bar.isVisible()
    for title in ("Light curve", "Targets", "Photometry"):
        button = window.step_buttons[title]
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda t=title: _front_step(window) == t, timeout=5_000)
        assert window.step_actions[title].isChecked()
    photometry = window.panels[titles.index("Photometry")]
    assert not window.step_actions["Photometry"].text().startswith("\u2713")
    window.session.project.record_result(photometry.step, n_frames=3, median=1.0)
    photometry.step_finished.emit(photometry.step)
    assert window.step_actions["Photometry"].text() == "\u2713 Photometry"
    assert window.step_actions["Targets"].text() == "Targets"


def test_the_steps_bar_wraps_when_the_names_do_not_fit(window, qtbot) -> None:
    """At twice the scale (QT_SCALE_FACTOR=2) a 1366-pixel-wide screen is 683 logical
    pixels wide: the window's least width fits about that (the image view's controls wrap
    too), and every step's button stays in sight, on a second row, none behind an arrow."""
    assert window.minimumSizeHint().width() <= 720
    window.resize(720, 720)
    qtbot.waitUntil(lambda: window.width() <= 720, timeout=5_000)
    qtbot.wait(50)
    bar = window.findChild(QToolBar, "toolbar_steps")
    inside = bar.rect()
    rows = set()
    for title, button in window.step_buttons.items():
        assert button.isVisible(), title
        top_left = button.mapTo(bar, button.rect().topLeft())
        bottom_right = button.mapTo(bar, button.rect().bottomRight())
        assert inside.contains(top_left) and inside.contains(bottom_right), title
        rows.add(top_left.y())
    assert len(rows) >= 2  # it wrapped
    qtbot.mouseClick(window.step_buttons["Light curve"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _front_step(window) == "Light curve", timeout=5_000)


def test_no_stale_dock_tab_bar_shows_on_the_start_page(window, qtbot) -> None:
    """Qt left the first two step docks' tab bar in the middle of the start page."""
    from PySide6.QtWidgets import QTabBar

    qtbot.waitExposed(window)
    qtbot.wait(100)
    bars = [b for b in window.findChildren(QTabBar) if b.parent() is window and b.isVisible()]
    names = [{b.tabText(i) for i in range(b.count())} for b in bars]
    assert not any(a < b for a in names for b in names), names


def test_a_step_panel_is_laid_out_in_its_dock_not_at_its_natural_height(window, qtbot) -> None:
    """Word-wrapped result text made the scroll area lay the Zero point panel out 1421 px
    tall in a 586-px dock, its plots out of sight; it now takes the dock's height."""
    window.resize(1366, 738)
    qtbot.waitExposed(window)
    window.raise_step("Zero point")
    qtbot.wait(200)
    panel = next(p for p in window.panels if p.title == "Zero point")
    dock = window.panel_docks[window.panels.index(panel)]
    viewport = dock.widget().viewport().height()
    assert panel.height() <= max(viewport, panel.minimumSizeHint().height()) + 1
    assert panel.height() < 800
