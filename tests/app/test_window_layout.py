"""The window's first layout gives the image the room; the user's own layout and step win later."""

from __future__ import annotations

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
