"""A seeded random walk of clicks, keys and step switches through the window on a
small night: nothing raises, every frame shown is the current one, and the event
loop still answers at the end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt, QTimer

pytestmark = pytest.mark.soak

EVENTS = 2000
KEYS = (Qt.Key.Key_A, Qt.Key.Key_D, Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_F,
        Qt.Key.Key_Plus, Qt.Key.Key_Minus, Qt.Key.Key_1)  # fmt: skip


def test_random_events_leave_the_window_working(
    window, qtbot, open_and_wait, demo_night: Path
) -> None:
    open_and_wait(window, demo_night)
    rng = np.random.default_rng(2026)
    step_buttons = list(window.step_buttons.values())
    viewport = window.image_view.graphics.viewport()
    table = window.frame_table.viewport()
    for n in range(EVENTS):
        kind = rng.integers(0, 5)
        if kind == 0:  # a click anywhere on the image (marks, stars, empty sky)
            pos = QPoint(
                int(rng.integers(0, viewport.width())), int(rng.integers(0, viewport.height()))
            )
            qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
        elif kind == 1:
            qtbot.keyClick(window, KEYS[int(rng.integers(0, len(KEYS)))])
        elif kind == 2:
            qtbot.mouseClick(step_buttons[int(rng.integers(0, len(step_buttons)))],
                             Qt.MouseButton.LeftButton)  # fmt: skip
        elif kind == 3:  # a row of the frame list, calibration frames too
            pos = QPoint(20, int(rng.integers(0, table.height())))
            qtbot.mouseClick(table, Qt.MouseButton.LeftButton, pos=pos)
        else:
            window.toggle_play() if rng.random() < 0.05 else None
        if n % 50 == 0:
            qtbot.wait(5)  # let workers' results arrive between bursts
    if window.blink_timer.isActive():
        window.toggle_play()
    # Settled: the frame shown is the current one, and a timer still fires.
    qtbot.waitUntil(
        lambda: (
            window.session.shown is not None
            and window.session.shown.index == window.session.current
        ),
        timeout=20_000,
    )
    fired = []
    QTimer.singleShot(0, lambda: fired.append(True))
    qtbot.waitUntil(lambda: fired == [True], timeout=5_000)
    assert 0 <= window.session.current < len(window.session)
