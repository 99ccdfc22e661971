"""The left docks' tabs (Frames, Run, Header, Lesson) are all reachable without scrolling.

With the Run tab added, a narrow left dock showed "Frames | Run | Header"
and the Lesson was behind the tab bar's scroll arrow. The window now opens
the left docks wide enough for the four whole names (at most a quarter of
the window).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTabBar

LEFT = ["Frames", "Run", "Header", "Lesson"]


def _left_bar(window) -> QTabBar:
    return next(
        b
        for b in window.findChildren(QTabBar)
        if b.isVisible() and {b.tabText(i) for i in range(b.count())} >= set(LEFT)
    )


def _all_in_sight(bar: QTabBar) -> bool:
    return all(bar.rect().contains(bar.tabRect(i)) for i in range(bar.count()))


def test_the_lesson_tab_is_one_click_away_at_the_default_width(window, qtbot) -> None:
    qtbot.waitUntil(lambda: window.frames_dock.isVisible(), timeout=5_000)
    bar = _left_bar(window)
    assert [bar.tabText(i) for i in range(bar.count())] == LEFT
    # The default layout: every tab whole (as wide as its name asks) and inside the bar.
    assert _all_in_sight(bar)
    assert all(bar.tabRect(i).width() >= bar.tabSizeHint(i).width() - 1 for i in range(4))
    lesson = LEFT.index("Lesson")
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(lesson).center())
    qtbot.waitUntil(lambda: not window.lesson_panel.visibleRegion().isEmpty(), timeout=5_000)
    assert window.frame_table.visibleRegion().isEmpty()
