"""Presentation mode: larger text, thicker lines and markers, high contrast, a key-driven lesson."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from fluxion.app.presentation import font_scale_for
from fluxion.app.settings import Settings
from fluxion.widgets.projector import Enlargement


def _activate(window, qtbot) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)


def _styles(window):
    """The pen widths, marker sizes and fonts the test follows, by name."""
    overlays = window.image_view.overlays
    sources = overlays.items("sources")[0]
    marker, *rest = overlays.items("targets")
    label = next(i for i in rest if hasattr(i, "textItem"))
    track = rest[-1]
    plot = window.panels[0].plot
    axis = plot.plot.getPlotItem().getAxis("left")
    tick_font = axis.style["tickFont"]
    return {
        "aperture_pen": sources.opts["pen"].widthF(),
        "target_marker_px": float(marker.opts["size"]),
        "target_pen": marker.opts["pen"].widthF(),
        "track_pen": track.opts["pen"].widthF(),
        "label_pt": label.textItem.font().pointSizeF(),
        "plot_line_pen": plot.line.opts["pen"].widthF(),
        "axis_pen": axis.pen().widthF(),
        "axis_tick_pt": None if tick_font is None else tick_font.pointSizeF(),
        "axis_title_pt": axis.label.font().pointSizeF(),
    }


def _draw_overlays(window) -> None:
    o = window.image_view.overlays
    o.set_sources([40.0, 80.0, 120.0], [50.0, 90.0, 130.0], radius=6.0)
    o.set_targets(["asteroid"], [100.0], [100.0], tracks={"asteroid": ([90, 110], [95, 105])})


def test_presentation_mode_enlarges_text_lines_and_markers(
    window, qtbot, open_and_wait, demo_night, tmp_path
):
    open_and_wait(window, demo_night)
    app = QApplication.instance()
    normal_pt = app.font().pointSizeF()
    normal_palette = QPalette(app.palette())
    _draw_overlays(window)
    before = _styles(window)
    assert not window.presentation.on and not window.presentation.hints_bar.isVisible()

    # The View menu's action carries the keys; F5 turns the mode on.
    assert window.presentation.action in window.view_menu.actions()
    assert "F5" in window.presentation.action.shortcut().toString()
    _activate(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.presentation.on and window.presentation.action.isChecked()
    # 1.6x, or 1.4x on a screen under 900 px high.
    assert window.presentation.font_scale == font_scale_for(window.screen().size().height())
    big_pt = round(normal_pt * window.presentation.font_scale, 1)
    assert app.font().pointSizeF() == pytest.approx(big_pt)
    # Every widget follows the application's font (delivered as an event).
    qtbot.waitUntil(lambda: window.lesson_panel.text.font().pointSizeF() == pytest.approx(big_pt))
    assert window.frame_table.font().pointSizeF() == pytest.approx(big_pt)
    qtbot.waitUntil(lambda: _styles(window)["aperture_pen"] > before["aperture_pen"])
    on = _styles(window)
    # Lines thicker (and at least 3 px), screen-sized markers and text larger.
    e = Enlargement()
    for pen in ("aperture_pen", "target_pen", "track_pen", "plot_line_pen"):
        assert on[pen] == pytest.approx(max(e.line * max(before[pen], 1.0), e.min_line)), pen
        assert on[pen] >= 2 * before[pen]
    assert on["target_marker_px"] == pytest.approx(e.marker * before["target_marker_px"])
    assert on["label_pt"] == pytest.approx(big_pt)
    assert on["axis_tick_pt"] == pytest.approx(big_pt)
    assert on["axis_title_pt"] == pytest.approx(big_pt)
    assert on["axis_pen"] >= 2.0
    assert font_scale_for(768) < font_scale_for(1080)
    # The image keeps the room: no magnifier and histogram beside it.
    assert not window.image_view.magnifier.isVisible()
    # High contrast: black on white.
    pal = app.palette()
    assert pal.color(QPalette.ColorRole.Text).name() == "#000000"
    assert pal.color(QPalette.ColorRole.Base).name() == "#ffffff"
    # The lesson comes forward, its keys shown along the window and on its buttons.
    panel = window.lesson_panel
    qtbot.waitUntil(window.presentation.hints_bar.isVisible)
    assert window.lesson_dock.isVisible()
    hints = window.presentation.hints.text()
    for words in ("next step", "previous step", "run this step", "check my answer", "blink"):
        assert words in hints
    assert panel.next_button.text() == "Next step (N)"
    assert panel.check_button.text() == "Check my answer (C)"
    # Remembered.
    assert Settings(tmp_path / "settings.ini").presentation()

    # What is drawn while the mode is on is drawn thick too (a new frame's overlays).
    _draw_overlays(window)
    qtbot.waitUntil(lambda: _styles(window)["aperture_pen"] == on["aperture_pen"])
    assert _styles(window)["target_marker_px"] == on["target_marker_px"]

    # Off again (Ctrl+Shift+P): everything as it was.
    qtbot.keyClick(
        window, Qt.Key.Key_P,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )  # fmt: skip
    assert not window.presentation.on
    assert app.font().pointSizeF() == pytest.approx(normal_pt)
    assert app.palette().color(QPalette.ColorRole.Base) == normal_palette.color(
        QPalette.ColorRole.Base
    )
    # (The window's layout is put back, and the panel in front redraws its own overlays.)
    _draw_overlays(window)
    assert _styles(window) == before
    assert not window.presentation.hints_bar.isVisible()
    assert window.image_view.magnifier.isVisible()
    assert panel.next_button.text() == "Next step"
    assert not Settings(tmp_path / "settings.ini").presentation()


def test_keys_drive_the_lesson(window, qtbot, open_and_wait, demo_night, tmp_path):
    open_and_wait(window, demo_night)
    assert window.save_project_as(tmp_path / "project") is not None
    panel = window.lesson_panel
    qtbot.waitUntil(lambda: panel.lesson is not None)
    _activate(window, qtbot)
    # Off: the lesson's letters do nothing.
    panel.steps.setCurrentRow(0)
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert panel.steps.currentRow() == 0

    qtbot.keyClick(window, Qt.Key.Key_F5)
    assert window.presentation.on
    _activate(window, qtbot)
    # Next and previous: letters, and the Page keys a presenter's remote sends.
    qtbot.keyClick(window, Qt.Key.Key_N)
    assert panel.steps.currentRow() == 1
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert panel.steps.currentRow() == 2
    qtbot.keyClick(window, Qt.Key.Key_P)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert panel.steps.currentRow() == 0
    qtbot.keyClick(window, Qt.Key.Key_PageUp)  # stays on the first
    assert panel.steps.currentRow() == 0

    # R runs this step: its panel comes forward and runs on every light.
    title = panel.step_panel()
    step_panel = next(p for p in window.panels if p.title == title)
    with qtbot.waitSignal(window.workers.task_finished, timeout=60_000):
        qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.current_step == title
    qtbot.waitUntil(lambda: len(step_panel.results) == len(window.session.light_indices()))

    # A step done by hand (clicking the asteroid): R brings its panel and says so.
    by_hand = next(k for k, st in enumerate(panel.lesson.steps) if st.panel == "Targets")
    panel.steps.setCurrentRow(by_hand)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert window.current_step == "Targets"
    assert "by hand" in window.statusBar().currentMessage()

    # Blink frame by frame and play, as the hints say.
    start = window.session.current
    with qtbot.waitSignal(window.session.frame_ready, timeout=10_000):
        qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.session.current != start
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.blink_timer.isActive()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not window.blink_timer.isActive()

    # C checks the answer and shows the result under the last step.
    with qtbot.waitSignal(window.workers.task_finished, timeout=60_000):
        qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: panel.report is not None)
    assert panel.steps.currentRow() == len(panel.lesson.steps) - 1
    assert "Check of your answer" in panel.text.toPlainText()
    assert panel.status.text().endswith("off.")

    # The window closing gives the application its fonts back and keeps the choice.
    app = QApplication.instance()
    big = app.font().pointSizeF()
    window.close()
    assert app.font().pointSizeF() == pytest.approx(big / window.presentation.font_scale, abs=0.1)
    assert Settings(tmp_path / "settings.ini").presentation()
