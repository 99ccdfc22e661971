"""Helpers for widget tests: every shown widget is closed and deleted."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from PySide6.QtWidgets import QWidget


@pytest.fixture
def show(qtbot) -> Iterator[Callable[[QWidget], QWidget]]:
    """Show a widget for the test; closes and deletes it afterwards.

    PySide6 6.12 with pyqtgraph 0.14 aborts at interpreter exit when shown
    widgets outlive the test, so every test goes through this.
    """
    shown: list[QWidget] = []

    def _show(w: QWidget) -> QWidget:
        w.show()
        qtbot.waitExposed(w)
        shown.append(w)
        return w

    yield _show
    for w in shown:
        w.close()
        w.deleteLater()
    qtbot.wait(1)
