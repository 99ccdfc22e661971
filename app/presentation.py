"""Presentation mode: the window readable on a classroom projector, the lesson driven by keys.

View > Presentation mode (F5 or Ctrl+Shift+P) enlarges the application's
fonts, draws plot lines, markers, apertures and tracks thicker
(:class:`fluxion.widgets.projector.GraphicsEnlarger`), switches to a
high-contrast palette (black on white, a dark selection: a projector washes
out greys and thin lines), brings the Lesson panel forward and lets the keys
drive the lesson, with the keys shown above it. Presenters' remotes send Page
Down and Page Up, so those step through the lesson as N and P do. The mode
is remembered in the settings.
"""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu

from fluxion.widgets.projector import Enlargement, GraphicsEnlarger

__all__ = ["FONT_SCALE", "LESSON_KEYS", "TOGGLE_KEYS", "PresentationMode", "projector_palette"]

TOGGLE_KEYS = ("F5", "Ctrl+Shift+P")
#: Text is this many times its normal size.
FONT_SCALE = 1.6
#: (keys, what it does, the button it stands for) of the lesson in presentation mode.
LESSON_KEYS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("N", "PgDown"), "next step", "next"),
    (("P", "PgUp"), "previous step", "previous"),
    (("R",), "run this step", "run"),
    (("C",), "check my answer", "check"),
)
# The window's own keys a lesson uses, listed with the lesson's.
_BLINK_HINTS = (("\u2190 \u2192", "blink frame by frame"), ("Space", "play / pause"))
_VIEWS_MS = 1000  # how often views opened since (a dialog, a new plot) are looked for


def projector_palette() -> QPalette:
    """Black on white with a dark blue selection: what survives a washed-out projector."""
    pal = QPalette()
    black, white = QColor("black"), QColor("white")
    for role, colour in (
        (QPalette.ColorRole.Window, QColor("#f4f4f4")),
        (QPalette.ColorRole.WindowText, black),
        (QPalette.ColorRole.Base, white),
        (QPalette.ColorRole.AlternateBase, QColor("#e6e6e6")),
        (QPalette.ColorRole.Text, black),
        (QPalette.ColorRole.Button, QColor("#dcdcdc")),
        (QPalette.ColorRole.ButtonText, black),
        (QPalette.ColorRole.BrightText, QColor("#b00000")),
        (QPalette.ColorRole.Highlight, QColor("#002f87")),
        (QPalette.ColorRole.HighlightedText, white),
        (QPalette.ColorRole.ToolTipBase, QColor("#ffffc8")),
        (QPalette.ColorRole.ToolTipText, black),
        (QPalette.ColorRole.PlaceholderText, QColor("#444444")),
        (QPalette.ColorRole.Link, QColor("#0000b0")),
    ):
        pal.setColor(role, colour)
    # Greyed-out text stays readable (the default is too faint for a projector).
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):  # fmt: skip
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5a5a5a"))
    return pal


def _key_text(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


class PresentationMode(QObject):
    """The presentation mode of a :class:`~fluxion.app.main_window.MainWindow`.

    Parameters
    ----------
    window : MainWindow
        The window (its ``lesson_panel``, ``lesson_dock``, ``panels``,
        ``raise_step`` and ``settings`` are used).
    menu : QMenu
        The menu that gets the on/off action (View).

    Signals
    -------
    toggled(bool)
        The mode was turned on or off.
    """

    toggled = Signal(bool)

    def __init__(self, window: QMainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.on = False
        self.action = QAction("Presentation mode (projector)", window)
        self.action.setCheckable(True)
        self.action.setShortcuts([QKeySequence(k) for k in TOGGLE_KEYS])
        self.action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.action.setToolTip(
            "Larger text, thicker lines and markers, high contrast, and the lesson driven "
            "by keys: for a classroom projector"
        )
        self.action.toggled.connect(self.set_on)
        menu.addSeparator()
        menu.addAction(self.action)
        self.lesson_actions: dict[str, QAction] = {}
        for keys, what, name in LESSON_KEYS:
            act = QAction(f"Lesson: {what} (presentation mode)", window)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.setEnabled(False)
            act.triggered.connect(getattr(self, f"_{name}"))
            window.addAction(act)
            self.lesson_actions[name] = act
        self.enlarger = GraphicsEnlarger(Enlargement(), self)
        self._views_timer = QTimer(self)
        self._views_timer.setInterval(_VIEWS_MS)
        self._views_timer.timeout.connect(lambda: self.enlarger.watch(self._views()))
        self._font: QFont | None = None
        self._palette: QPalette | None = None
        window.installEventFilter(self)

    # -- on and off --------------------------------------------------------------
    def set_on(self, on: bool, remember: bool = True) -> None:
        """Turn the mode on or off (``remember``: keep the choice for the next start)."""
        on = bool(on)
        if on != self.on:
            self.on = on
            (self._enter if on else self._leave)()
            for act in self.lesson_actions.values():
                act.setEnabled(on)
            self._show_hints(on)
            self.toggled.emit(on)
        if self.action.isChecked() != on:
            self.action.blockSignals(True)
            self.action.setChecked(on)
            self.action.blockSignals(False)
        if remember:
            self.window.settings.set_presentation(on)

    def _enter(self) -> None:
        app = QApplication.instance()
        self._font, self._palette = QFont(app.font()), QPalette(app.palette())
        normal = self._font.pointSizeF() if self._font.pointSizeF() > 0 else 9.0
        big = QFont(self._font)
        big.setPointSizeF(round(normal * FONT_SCALE, 1))
        app.setFont(big)
        app.setPalette(projector_palette())
        self.enlarger.enlargement = Enlargement(
            normal_pt=normal, font_pt=big.pointSizeF(), font=FONT_SCALE
        )
        self.enlarger.start(self._views())
        self._views_timer.start()
        self.window.lesson_dock.show()
        self.window.lesson_dock.raise_()

    def _leave(self) -> None:
        self._views_timer.stop()
        self.enlarger.stop()
        app = QApplication.instance()
        if self._font is not None:
            app.setFont(self._font)
        if self._palette is not None:
            app.setPalette(self._palette)

    def _views(self) -> list[pg.GraphicsView]:
        return self.window.findChildren(pg.GraphicsView)

    def hint_text(self) -> str:
        """The keys of the lesson, as rich text for the Lesson panel."""
        parts = [
            f"<b>{' / '.join(html.escape(_key_text(k)) for k in keys)}</b> {html.escape(what)}"
            for keys, what, _name in LESSON_KEYS
        ]
        parts += [f"<b>{html.escape(k)}</b> {html.escape(w)}" for k, w in _BLINK_HINTS]
        parts.append(f"<b>{html.escape(TOGGLE_KEYS[0])}</b> leave presentation mode")
        return " &nbsp;\u00b7&nbsp; ".join(parts)

    def _show_hints(self, on: bool) -> None:
        keys = {name: _key_text(keys[0]) for keys, _w, name in LESSON_KEYS}
        self.window.lesson_panel.set_key_hints(self.hint_text() if on else "",
                                               keys if on else None)  # fmt: skip

    # -- the lesson's keys ------------------------------------------------------------
    def _next(self) -> None:
        self.window.lesson_panel.next_step()

    def _previous(self) -> None:
        self.window.lesson_panel.previous_step()

    def _check(self) -> None:
        self.window.lesson_panel.run_check()

    def _run(self) -> None:
        """Open the current step's panel and run it on every light, as its button does."""
        title = self.window.lesson_panel.step_panel()
        status = self.window.statusBar()
        if not title:
            status.showMessage("This step has no panel: read it, then go on.", 8000)
            return
        self.window.raise_step(title)
        panel = next((p for p in self.window.panels if p.title == title), None)
        if panel is None:
            return
        button = panel.run_all_button
        if button.isHidden() or not button.isEnabled():
            status.showMessage(f"{title}: this step is done by hand in its panel.", 8000)
            return
        status.showMessage(f"{title}: {button.text()}", 8000)
        button.click()

    # -- the window closing -------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        # The fonts and palette are the application's: give them back when the
        # window goes, but keep the choice for the next start.
        if obj is self.window and event.type() == QEvent.Type.Close and self.on:
            self.set_on(False, remember=False)
        return False
