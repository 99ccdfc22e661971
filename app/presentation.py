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
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QKeySequence, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QToolBar, QWidget

from fluxion.widgets.projector import Enlargement, GraphicsEnlarger

if TYPE_CHECKING:  # the window imports this module
    from .main_window import MainWindow

__all__ = [
    "FONT_SCALE",
    "LESSON_KEYS",
    "SMALL_SCREEN_FONT_SCALE",
    "TOGGLE_KEYS",
    "PresentationMode",
    "font_scale_for",
    "projector_palette",
]

TOGGLE_KEYS = ("F5", "Ctrl+Shift+P")
#: Text is this many times its normal size; on a screen under 900 px high (an older
#: projector's 1366x768 or 1280x800) a little less, so that the lesson still fits.
FONT_SCALE = 1.6
SMALL_SCREEN_FONT_SCALE = 1.4
_SMALL_SCREEN_PX = 900
#: (keys, what it does, the button it stands for) of the lesson in presentation mode.
LESSON_KEYS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("N", "PgDown"), "next step", "next"),
    (("P", "PgUp"), "previous step", "previous"),
    (("R",), "run this step", "run"),
    (("C",), "check my answer", "check"),
)
# The window's own keys a lesson uses, listed with the lesson's.
_BLINK_HINTS = (("\u2190 \u2192", "blink"), ("Space", "play / pause"))
_LESSON_SHARE = 0.32  # of the window's width, for the Lesson dock
_STEP_SHARE = 0.3  # at least, for the step panel's dock
_VIEWS_MS = 1000  # how often views opened since (a dialog, a new plot) are looked for
_FILL_MS = 300  # after asking to be maximised, when to check that the window filled the screen


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


def font_scale_for(screen_height: int) -> float:
    """How much larger text is drawn on a screen ``screen_height`` px high."""
    return FONT_SCALE if screen_height >= _SMALL_SCREEN_PX else SMALL_SCREEN_FONT_SCALE


def _key_text(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def _application() -> QApplication:
    """The running application (a window exists, so there is one)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("presentation mode needs a QApplication")
    return app


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

    def __init__(self, window: MainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.on = False
        self.font_scale = FONT_SCALE
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
        # The keys, in one line along the bottom of the window: readable from the back.
        self.hints = QLabel(self.hint_text())
        self.hints.setTextFormat(Qt.TextFormat.RichText)
        self.hints_bar = QToolBar("Presentation keys", window)
        self.hints_bar.setObjectName("toolbar_presentation_keys")
        self.hints_bar.setMovable(False)
        self.hints_bar.addWidget(self.hints)
        window.addToolBar(Qt.ToolBarArea.BottomToolBarArea, self.hints_bar)
        self.hints_bar.hide()
        self.enlarger = GraphicsEnlarger(Enlargement(), self)
        self._views_timer = QTimer(self)
        self._views_timer.setInterval(_VIEWS_MS)
        self._views_timer.timeout.connect(lambda: self.enlarger.watch(self._views()))
        self._font: QFont | None = None
        self._palette: QPalette | None = None
        # the window's docks as they were, put back on leaving
        self._layout: QByteArray | None = None
        self._was_maximised = False
        # the window's size and place before, put back on leaving
        self._geometry: QByteArray | None = None
        # Widgets whose font is their own (a style sheet's family, a set font):
        # they do not follow the application's, so they are enlarged one by one.
        self._own_fonts: list[tuple[QWidget, str, QFont]] = []
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
        # As the user left it, before the larger fonts grow the window's minimum size.
        self._was_maximised = bool(self.window.windowState() & Qt.WindowState.WindowMaximized)
        self._geometry = self.window.saveGeometry()
        app = _application()
        self._font, self._palette = QFont(app.font()), QPalette(app.palette())
        normal = self._font.pointSizeF() if self._font.pointSizeF() > 0 else 9.0
        screen = self.window.screen() or QApplication.primaryScreen()
        self.font_scale = font_scale_for(screen.size().height() if screen else 1080)
        big = QFont(self._font)
        big.setPointSizeF(round(normal * self.font_scale, 1))
        app.setFont(big)
        app.setPalette(projector_palette())
        self.enlarger.enlargement = Enlargement(
            normal_pt=normal, font_pt=big.pointSizeF(), font=self.font_scale
        )
        self.enlarger.start(self._views())
        self._views_timer.start()
        self._enlarge_own_fonts(big.pointSizeF())
        self.window.image_view.set_compact(True)
        self._layout = self.window.saveState()
        self._maximise()
        self.window.lesson_dock.show()
        self.window.lesson_dock.raise_()
        # Once the window has its real width (at start, after it is shown).
        QTimer.singleShot(0, self._widen_lesson)

    def _maximise(self) -> None:
        """The whole screen for the room (the window as it was is put back on leaving)."""
        window = self.window
        state = window.windowState()
        if not self._was_maximised:
            # Applied when the window shows, if it is not shown yet (mode remembered).
            window.setWindowState(state | Qt.WindowState.WindowMaximized)
            if window.isVisible():
                QTimer.singleShot(_FILL_MS, self._fill_screen)

    def _fill_screen(self) -> None:
        """Where no window manager maximises (a bare X server, a kiosk), size it by hand."""
        screen = self.window.screen()
        if not self.on or screen is None:
            return
        room = screen.availableGeometry()
        frame = self.window.frameGeometry()
        if frame.width() < room.width() - 2 or frame.height() < room.height() - 2:
            self.window.setGeometry(room)

    def _restore_size(self) -> None:
        window = self.window
        if self._was_maximised:
            return
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMaximized)
        if self._geometry is not None:
            window.restoreGeometry(self._geometry)

    def _widen_lesson(self) -> None:
        """The lesson is what the room reads: give its dock a third of the window."""
        if self.on:
            width = int(_LESSON_SHARE * self.window.width())
            docks, widths = [self.window.lesson_dock], [width]
            step_dock = next((d for d in self.window.panel_docks if d.isVisible()), None)
            if step_dock is not None and step_dock.width() < _STEP_SHARE * self.window.width():
                # The panel's form with large text, where a wide screen has the room.
                docks.append(step_dock)
                widths.append(int(_STEP_SHARE * self.window.width()))
            self.window.resizeDocks(docks, widths, Qt.Orientation.Horizontal)
            self.window.unelide_tabs()

    def _enlarge_own_fonts(self, point_size: float) -> None:
        self._own_fonts = []
        for widget in self.window.findChildren(QWidget):
            sheet = widget.styleSheet()
            if "font-family" in sheet and "font-size" not in sheet:
                self._own_fonts.append((widget, sheet, QFont(widget.font())))
                widget.setStyleSheet(f"{sheet} font-size: {point_size:g}pt;")
            elif widget.testAttribute(Qt.WidgetAttribute.WA_SetFont) and not sheet:
                self._own_fonts.append((widget, sheet, QFont(widget.font())))
                font = QFont(widget.font())
                font.setPointSizeF(point_size)
                widget.setFont(font)

    def _leave(self) -> None:
        self._views_timer.stop()
        self.enlarger.stop()
        app = _application()
        if self._font is not None:
            app.setFont(self._font)
        if self._palette is not None:
            app.setPalette(self._palette)
        self.window.image_view.set_compact(False)
        self._settle()
        # Again once the normal font has reached every widget (it is delivered as
        # events): a style sheet's font and the docks' sizes follow their parents'.
        QTimer.singleShot(0, self._settle)

    def _settle(self) -> None:
        """Give back the widgets' own fonts and the window's layout (when the mode is off)."""
        if self.on:
            return
        for widget, sheet, font in self._own_fonts:
            try:
                if sheet:
                    widget.setStyleSheet(sheet)
                else:
                    widget.setFont(font)
            except RuntimeError:  # the widget has been deleted since
                continue
        if self._layout is not None:
            self.window.restoreState(self._layout)
            self.window.unelide_tabs()
        # After the fonts: with the large ones the window could not be as small as it was.
        self._restore_size()

    def _views(self) -> list[pg.GraphicsView]:
        return self.window.findChildren(pg.GraphicsView)

    def hint_text(self) -> str:
        """The keys of the lesson, as rich text for the Lesson panel."""
        parts = [
            f"<b>{' / '.join(html.escape(_key_text(k)) for k in keys)}</b> {html.escape(what)}"
            for keys, what, _name in LESSON_KEYS
        ]
        parts += [f"<b>{html.escape(k)}</b> {html.escape(w)}" for k, w in _BLINK_HINTS]
        parts.append(f"<b>{html.escape(TOGGLE_KEYS[0])}</b> leave")
        return " &nbsp;\u00b7&nbsp; ".join(parts)

    def _show_hints(self, on: bool) -> None:
        self.hints_bar.setVisible(on)
        keys = {name: _key_text(keys[0]) for keys, _w, name in LESSON_KEYS}
        self.window.lesson_panel.set_keys(keys if on else None)

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
