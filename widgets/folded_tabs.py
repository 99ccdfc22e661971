"""Fold away a tab bar that Qt's main window keeps showing.

Qt's main window shows the tab bar of tabified docks, and shows it again each
time it lays the docks out, so hiding it does not last (and hiding it each
time it is shown again makes the two fight). Where another control already
chooses between those docks (the window's Steps bar), :func:`fold_tab_bar`
leaves the bar shown but zero pixels tall: the docks take its room.
"""

from __future__ import annotations

from PySide6.QtWidgets import QTabBar

__all__ = ["fold_tab_bar", "is_folded", "unfold_tab_bar"]

_MARK = "fluxion_folded"
_NO_LIMIT = 16777215  # Qt's QWIDGETSIZE_MAX
# The bar's height comes from its tabs' (the dock layout asks the bar's size hint).
_FOLDED = (
    "QTabBar::tab { height: 0px; min-height: 0px; max-height: 0px; padding: 0px;"
    " margin: 0px; border: 0px; }"
)


def fold_tab_bar(bar: QTabBar) -> None:
    """Make ``bar`` zero pixels tall (its tabs still switch the docks, by code)."""
    if bar.property(_MARK) is True:
        return
    bar.setProperty(_MARK, True)
    # With scroll buttons its least width is one tab's; without, every tab's (the
    # step docks were then 650 px wide at least).
    bar.setUsesScrollButtons(True)
    bar.setStyleSheet(_FOLDED)
    bar.setMaximumHeight(0)
    bar.updateGeometry()


def is_folded(bar: QTabBar) -> bool:
    """Whether :func:`fold_tab_bar` folded ``bar``."""
    return bar.property(_MARK) is True


def unfold_tab_bar(bar: QTabBar) -> None:
    """Give a folded bar its height back (Qt reuses a main window's tab bars for
    other docks, which may need theirs)."""
    if bar.property(_MARK) is not True:
        return
    bar.setProperty(_MARK, False)
    bar.setStyleSheet("")
    bar.setMaximumHeight(_NO_LIMIT)
    bar.updateGeometry()
