"""A folded tab bar takes no height and asks for one tab's width; unfolded, it is whole again."""

from __future__ import annotations

from PySide6.QtWidgets import QTabBar

from fluxion.widgets.folded_tabs import fold_tab_bar, is_folded, unfold_tab_bar


def test_fold_and_unfold_a_tab_bar(qtbot) -> None:
    bar = QTabBar()
    qtbot.addWidget(bar)
    for k in range(11):
        bar.addTab(f"Step number {k}")
    bar.setUsesScrollButtons(True)
    bar.show()
    whole = bar.sizeHint().height()
    assert whole > 10
    fold_tab_bar(bar)
    assert is_folded(bar)
    assert bar.sizeHint().height() == 0 and bar.maximumHeight() == 0
    # Its scroll buttons stay: it asks for about one tab's width, not eleven's.
    assert bar.minimumSizeHint().width() < 3 * bar.tabRect(0).width() + 60
    fold_tab_bar(bar)  # twice is once
    unfold_tab_bar(bar)
    assert not is_folded(bar)
    assert bar.sizeHint().height() == whole and bar.maximumHeight() > 10_000
