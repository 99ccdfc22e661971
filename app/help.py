"""Help > Shortcuts and steps: the keys, and what each step does, in one window.

The shortcuts are read from the window's own actions (so the list cannot go
stale) and each step's line is its panel's summary (the first line of its
class docstring).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

__all__ = ["help_html", "HelpDialog", "shortcut_rows"]

#: Mouse actions on the image, which no QAction describes.
MOUSE = (
    ("Left click", "what the step in front does with a click (mark the target, add a star)"),
    ("Wheel", "zoom about the cursor"),
    ("Left drag", "pan"),
    ("Right drag", "contrast (up/down) and brightness (left/right)"),
)


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for every action that has a shortcut, in order, without repeats."""
    rows, seen = [], set()
    for act in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in act.shortcuts()]
        keys = [k for k in keys if k]
        what = (act.toolTip() or act.text()).replace("&", "").rstrip(".")
        if not keys or not what or (tuple(keys), what) in seen:
            continue
        seen.add((tuple(keys), what))
        rows.append((" or ".join(keys), what))
    return rows


def help_html(shortcuts: Sequence[tuple[str, str]], steps: Sequence[tuple[str, str]]) -> str:
    """The help text: keys, mouse, then the steps in their order."""
    esc = html.escape

    def table(rows: Sequence[tuple[str, str]]) -> str:
        cells = "".join(f"<tr><td><b>{esc(k)}</b>&nbsp;&nbsp;</td><td>{esc(v)}</td></tr>"
                        for k, v in rows)  # fmt: skip
        return f"<table>{cells}</table>"

    step_items = "".join(f"<li><b>{esc(t)}</b>: {esc(d)}</li>" for t, d in steps)
    return (
        "<h3>Keys</h3>" + table(shortcuts) + "<h3>Mouse on the image</h3>" + table(MOUSE)
        + "<h3>Steps, in order</h3><ol>" + step_items + "</ol>"
        "<p>Each step runs on the current frame or on all lights, in the background with "
        "progress and Cancel in the status bar; a tick in the Steps bar marks the steps done. "
        "Run &gt; Every step on all lights runs Calibration to Zero point one after the other. "
        "Projects keep every parameter, target and result: File &gt; Save project.</p>"
    )  # fmt: skip


class HelpDialog(QDialog):
    """The help text in a scrolling, non-modal window."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fluxion: shortcuts and steps")
        self.browser = QTextBrowser()
        self.browser.setHtml(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.resize(640, 560)
