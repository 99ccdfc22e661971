"""Help > Shortcuts and steps lists the window's keys and every step in order."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu


def test_help_lists_the_keys_and_the_steps(window, qtbot) -> None:
    menus = {m.title().replace("&", ""): m for m in window.menuBar().findChildren(QMenu)}
    assert "Help" in menus
    dialog = window.show_help()
    qtbot.waitExposed(dialog)
    text = dialog.browser.toPlainText()
    for keys, what in (("A or Left", "Previous light"), ("D or Right", "Next light"),
                       ("Space", "Play or pause the blink"), ("F", "Fit the frame")):  # fmt: skip
        assert f"{keys}  {what}" in text.replace("\t", " ").replace("\xa0", " ") or (
            keys in text and what in text
        )
    assert "Ctrl+Q" in text and "Quit" in text
    # Every step, in the window's order, with its panel's summary.
    positions = [text.index(p.title + ":") for p in window.panels]
    assert positions == sorted(positions)
    assert "Masters and calibrated lights" in text
    dialog.close()


def test_ctrl_q_closes_the_window(window, qtbot) -> None:
    from PySide6.QtCore import Qt

    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
