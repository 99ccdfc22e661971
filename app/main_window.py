"""The main window: start page, viewer, frame list, header, log, blink, step panels, projects."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QSpinBox,
    QStackedWidget,
    QTabBar,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fluxion.widgets.flow_layout import WrappingStrip
from fluxion.widgets.folded_tabs import fold_tab_bar, is_folded, unfold_tab_bar
from fluxion.widgets.frame_table import FrameTable
from fluxion.widgets.image_view import ImageView

from .help import HelpDialog, help_html, shortcut_rows
from .lesson_panel import LessonPanel
from .log_panel import LogPanel
from .panels import PANELS, StepPanel
from .panels.base import fitted, scrolling
from .panels.calibration import CalibrationPanel
from .presentation import PresentationMode
from .project_actions import ProjectActions
from .run_notes import RunNotes
from .run_steps import NightSteps
from .session import DisplayFrame, Session
from .settings import Settings
from .start_page import StartPage
from .status import ErrorBar, TaskProgress
from .workers import ErrorInfo, Task, WorkerPool

__all__ = ["MainWindow"]

log = logging.getLogger("fluxion.app")

# The narrowest a step dock may be made (its panel scrolls sideways below its own width).
STEP_DOCK_MIN_WIDTH = 320
#: The left docks' width while the Lesson is in front (a quarter of the window at most).
LESSON_DOCK_WIDTH = 340

# The step dock opens on the first step of the chain until the user picks another.
STARTING_STEP = CalibrationPanel.title


def _texts(bar: QTabBar) -> set[str]:
    return {bar.tabText(i) for i in range(bar.count())}


class MainWindow(ProjectActions, QMainWindow):
    """Fluxion's window. ``settings`` defaults to the user's QSettings."""

    _error_key: str | None = None  # the key of the task whose error is shown

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Fluxion")
        self.settings = settings or Settings()
        self.workers = WorkerPool(parent=self)
        self.session = Session(self.workers, self)
        self.session.settings = self.settings

        self.start_page = StartPage()
        self.image_view = ImageView()
        self.error_bar = ErrorBar()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.image_view)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.error_bar)
        lay.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.frame_table = FrameTable()
        self.header_view = QPlainTextEdit()
        self.header_view.setReadOnly(True)
        self.header_view.setStyleSheet("font-family: monospace;")
        # A FITS card is 80 columns: wrapped in a narrow dock it reads as a column of
        # fragments; unwrapped, the keyword and value stay on one line (scroll sideways).
        self.header_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_panel = LogPanel()
        self.frames_dock = self._dock(
            "Frames", self.frame_table, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        # What `fluxion run` said about the night, in front when a project keeps it; its
        # tab next to Frames', so both stay in sight when the tab bar scrolls.
        self.run_notes = RunNotes(self.session)
        self.run_dock = self._dock("Run", self.run_notes, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.tabifyDockWidget(self.frames_dock, self.run_dock)
        self.header_dock = self._dock(
            "Header", self.header_view, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.log_dock = self._dock("Log", self.log_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.frames_dock, self.header_dock)
        self.lesson_panel = LessonPanel(self.session)
        # Scrolling, so that its width does not take the image's room beside the frames.
        self.lesson_dock = self._dock(
            "Lesson", scrolling(self.lesson_panel), Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self.tabifyDockWidget(self.frames_dock, self.lesson_dock)
        self.run_notes.shown.connect(self.run_dock.raise_)
        self.frames_dock.raise_()
        # The lesson's text and answer fields want more room than the frame list.
        self._frames_width: int | None = None
        self.lesson_dock.visibilityChanged.connect(self._fit_lesson_dock)
        self.panels: list[StepPanel] = []
        self.current_step = STARTING_STEP
        self.panel_docks: list[QDockWidget] = []
        for cls in PANELS:
            self.add_panel(cls)
        self._link_panels()

        self.frame_label = QLabel()
        self.task_progress = TaskProgress(self.workers)
        self.statusBar().addWidget(self.frame_label, 1)
        self.statusBar().addPermanentWidget(self.task_progress)
        self.blink_timer = QTimer(self)
        self.blink_timer.timeout.connect(lambda: self.session.next(wrap=True))
        self._build_blink_bar()
        self._build_steps_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self.presentation = PresentationMode(self, self.view_menu)
        self.presentation.set_on(self.settings.presentation())
        self.show_start_page()

    # -- construction ---------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        # Qt makes new tab bars (or reuses old ones) when docks are moved or tabified.
        dock.dockLocationChanged.connect(lambda _a: self.unelide_tabs())
        dock.topLevelChanged.connect(lambda _f: self.unelide_tabs())
        return dock

    def _link_panels(self) -> None:
        """The Transit panel fits the Light curve panel's current curve."""
        from .panels.lightcurve import LightCurvePanel
        from .panels.transit import TransitPanel

        curve = next((p for p in self.panels if isinstance(p, LightCurvePanel)), None)
        transit = next((p for p in self.panels if isinstance(p, TransitPanel)), None)
        if curve is None or transit is None:
            return

        def source():
            run = curve.run
            return None if run is None else (run.table, curve.rows)

        transit.set_source(source)

    def add_panel(self, cls: type[StepPanel]) -> StepPanel:
        """Create a step panel in the step dock area (tabbed with the others)."""
        panel = cls(self.session, self.image_view)
        # In a scroll area: a tall panel scrolls on a 768-pixel screen instead of
        # making the whole window taller than the screen.
        scroll = scrolling(fitted(panel))
        # Not narrower than a form needs (a saved layout, a drag), within what a
        # 1366-pixel screen leaves beside the frame list and the image.
        scroll.setMinimumWidth(min(panel.minimumSizeHint().width(), STEP_DOCK_MIN_WIDTH))
        dock = self._dock(cls.title, scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        if self.panel_docks:
            self.tabifyDockWidget(self.panel_docks[0], dock)
        panel.step_finished.connect(self._autosave)
        dock.visibilityChanged.connect(lambda shown, t=cls.title: self._note_step(t, shown))
        panel.set_in_front(False)  # until the dock shows its tab
        dock.visibilityChanged.connect(panel.set_in_front)
        self.panels.append(panel)
        self.panel_docks.append(dock)
        return panel

    def _build_blink_bar(self) -> None:
        bar = QToolBar("Blink")
        bar.setObjectName("toolbar_blink")
        self.addToolBar(bar)
        self.prev_action = bar.addAction("< Previous", self.session.previous)
        self.prev_action.setToolTip("Previous frame (A or Left)")
        self.play_action = bar.addAction("Play", self.toggle_play)
        self.play_action.setCheckable(True)
        self.play_action.setToolTip("Blink through the light frames (Space)")
        self.next_action = bar.addAction("Next >", self.session.next)
        self.next_action.setToolTip("Next frame (D or Right)")
        self.rate_box = QSpinBox()
        self.rate_box.setRange(1, 30)
        self.rate_box.setValue(4)
        self.rate_box.setSuffix(" frames/s")
        self.rate_box.valueChanged.connect(self._set_rate)
        bar.addWidget(self.rate_box)
        self.fixed_stretch_box = QCheckBox("Fixed stretch")
        self.fixed_stretch_box.setToolTip(
            "Keep the display limits when changing frames, so changes stand out"
        )
        bar.addWidget(self.fixed_stretch_box)
        for keys, slot, what in (
            (("A", "Left"), self.session.previous, "Previous light"),
            (("D", "Right"), self.session.next, "Next light"),
            (("Space",), self.toggle_play, "Play or pause the blink"),
        ):
            act = QAction(what, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)

    def _build_steps_bar(self) -> None:
        """Every step by name across the top, the one shown pressed, a tick on the done.

        The step dock's own tabs cannot show nine names in a third of the window.
        """
        # On a row of its own, and wrapping rather than hiding steps behind an
        # arrow when the names do not fit (twice the scale on a laptop screen).
        self.addToolBarBreak()
        bar = QToolBar("Steps")
        bar.setObjectName("toolbar_steps")
        self.addToolBar(bar)
        strip = WrappingStrip()
        bar.addWidget(strip)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.step_actions: dict[str, QAction] = {}
        self.step_buttons: dict[str, QToolButton] = {}
        for n, panel in enumerate(self.panels, start=1):
            act = QAction(panel.title, self)
            act.triggered.connect(lambda _c=False, t=panel.title: self.raise_step(t))
            act.setCheckable(True)
            act.setToolTip(f"Step {n}: {panel.title}")
            group.addAction(act)
            button = QToolButton()
            button.setDefaultAction(act)
            strip.add(button)
            self.step_actions[panel.title] = act
            self.step_buttons[panel.title] = button
            panel.step_finished.connect(lambda _s: self._mark_done_steps())
        self._mark_done_steps()

    def _mark_done_steps(self) -> None:
        """A tick before each step the project has a result of."""
        done = set(self.session.project.results)
        for panel in self.panels:
            act = self.step_actions.get(panel.title)
            if act is not None:
                finished = panel.step in done
                act.setText(("\u2713 " if finished else "") + panel.title)
                act.setToolTip(f"{panel.title}: " + ("done" if finished else "not run yet"))

    def _build_menus(self) -> None:
        m = self.menuBar().addMenu("&File")
        m.addAction("Open &folder...", QKeySequence.StandardKey.Open, self.choose_folder)
        m.addAction("Open &project...", self.choose_project)
        self.recent_menu = m.addMenu("Recent projects")
        m.addAction("Classroom &demo", self.start_demo)
        self.class_sheet_action = m.addAction(
            "&Class sheet of a folder of projects...", self._class_sheet
        )
        m.addSeparator()
        m.addAction("&Save project", QKeySequence.StandardKey.Save, self.save_project)
        m.addAction("Save project &as...", QKeySequence.StandardKey.SaveAs, self.save_project_as)
        m.addAction("&Observing site...", self.edit_site)
        m.addSeparator()
        quit_action = m.addAction("&Quit", self.close)
        # The platform's Quit keys and Ctrl+Q always: some platform themes (a bare X
        # server, offscreen) define no Quit key at all.
        quit_keys = [*QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)]
        if QKeySequence("Ctrl+Q") not in quit_keys:
            quit_keys.append(QKeySequence("Ctrl+Q"))
        quit_action.setShortcuts(quit_keys)
        quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        v = self.view_menu = self.menuBar().addMenu("&View")
        docks = (self.frames_dock, self.header_dock, self.lesson_dock, self.log_dock)
        for dock in (*docks, *self.panel_docks):
            v.addAction(dock.toggleViewAction())
        v.addSeparator()
        self.step_all_action = v.addAction("Step through bias, dark and flat frames too")
        self.step_all_action.setCheckable(True)
        self.step_all_action.setToolTip(
            "Previous, Next and Play go through the light frames only unless this is on; "
            "any frame can always be picked in the frame list"
        )
        self.step_all_action.toggled.connect(self._set_step_all)
        self._build_run_menu()
        h = self.menuBar().addMenu("&Help")
        h.addAction("Shortcuts and &steps", QKeySequence.StandardKey.HelpContents, self.show_help)

    def _build_run_menu(self) -> None:
        """Run > Every step on all lights, one after the other, and its Stop."""
        self.night_steps = NightSteps(
            self.panels, self.raise_step, self.session.status_message.emit, self
        )
        r = self.menuBar().addMenu("&Run")
        self.run_steps_action = r.addAction("&Every step on all lights", self.night_steps.start)
        self.run_steps_action.setShortcut(QKeySequence("Ctrl+R"))
        self.run_steps_action.setToolTip(
            "Calibration, Detection, Astrometry, Photometry and Zero point on every light, "
            "each when the one before has finished"
        )
        self.stop_steps_action = r.addAction("&Stop the steps", self.night_steps.stop)
        self.stop_steps_action.setEnabled(False)

        def running(on: bool) -> None:
            self.run_steps_action.setEnabled(not on)
            self.stop_steps_action.setEnabled(on)

        self.night_steps.running_changed.connect(running)

    def _class_sheet(self) -> None:
        """File > Class sheet: the Lesson dock shows the progress and where the sheet is."""
        self.lesson_dock.show()
        self.lesson_dock.raise_()
        self.lesson_panel.class_sheet.choose_and_make(self)

    def show_help(self) -> HelpDialog:
        """Help > Shortcuts and steps (non-modal; deleted when closed)."""
        actions = [*self.actions(), *self.image_view.actions()]
        for menu in self.menuBar().findChildren(QMenu):
            actions.extend(menu.actions())
        steps = [(p.title, (type(p).__doc__ or "").strip().splitlines()[0]) for p in self.panels]
        dialog = HelpDialog(help_html(shortcut_rows(actions), steps), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _connect(self) -> None:
        s = self.start_page
        s.open_folder_requested.connect(self.choose_folder)
        s.open_project_requested.connect(self.choose_project)
        s.demo_requested.connect(self.start_demo)
        s.recent_requested.connect(self.open_path)
        self.workers.error.connect(self.show_error)
        self.workers.task_started.connect(self._watch_task)
        self.session.sequence_changed.connect(self._on_sequence)
        self.session.frame_ready.connect(self._show_frame)
        self.session.current_changed.connect(self.frame_table.select_row)
        self.session.project_changed.connect(self._on_project)
        self.frame_table.frame_selected.connect(self.session.go_to)
        self.session.frame_column_changed.connect(self.frame_table.frame_model.set_extra_column)
        self.session.status_message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.image_view.limits_method_changed.connect(self.session.set_limits_method)
        self.lesson_panel.open_panel.connect(self.raise_step)

    def _restore_settings(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1400, 900)
        self._fit_screen()
        state = self.settings.window_state()
        self._needs_default_layout = state is None or not self.restoreState(state)
        if self._needs_default_layout:
            # first start: the log waits in the View menu, so the image gets the height
            self.log_dock.hide()
        self.raise_step(self.settings.last_step() or STARTING_STEP)
        d = self.settings.display_defaults()
        try:
            self.image_view.set_stretch(str(d["stretch"]))
            self.image_view.set_colormap(str(d["colormap"]))
            self.session.limits_method = str(d["limits"])
            self.image_view.set_limits_method(str(d["limits"]))
        except ValueError as exc:  # settings from another version: keep the defaults
            log.warning("ignoring display settings: %s", exc)
        self._refresh_recent()

    def _fit_screen(self) -> None:
        """Keep the window on its screen: a 1366x768 laptop shows the status bar and the
        step tabs (a size saved on a larger monitor, or the default, would hide them)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        room = screen.availableGeometry()
        w, h = min(self.width(), room.width()), min(self.height(), room.height())
        if (w, h) != (self.width(), self.height()):
            self.resize(w, h)
        if not room.contains(self.frameGeometry().topLeft()):
            self.move(room.topLeft())

    def _fit_lesson_dock(self, shown: bool) -> None:
        """Widen the left docks while the Lesson is in front, narrow them after.

        The frame list is a sixth of the window; the lesson's answer fields were a
        few characters wide in it at 1366x768 (a quarter of the window, at most
        LESSON_DOCK_WIDTH px, is given to them).
        """
        if self.lesson_dock.isFloating() or self.presentation_on():
            return
        horizontal = Qt.Orientation.Horizontal
        if shown:
            wanted = min(LESSON_DOCK_WIDTH, self.width() // 4)
            if self.lesson_dock.width() < wanted:
                self._frames_width = self.lesson_dock.width()
                self.resizeDocks([self.lesson_dock], [wanted], horizontal)
        elif self._frames_width is not None and not self.lesson_dock.isHidden():
            width, self._frames_width = self._frames_width, None
            # Once the dock now in front is shown (a hidden dock is not resized).
            QTimer.singleShot(0, lambda: self._narrow_left(width))

    def _narrow_left(self, width: int) -> None:
        front = [d for d in (self.frames_dock, self.header_dock) if d.isVisible()]
        if front and not self.lesson_dock.visibleRegion().isEmpty():
            return  # the Lesson came back to the front meanwhile
        if front:
            self.resizeDocks(front[:1], [width], Qt.Orientation.Horizontal)

    def presentation_on(self) -> bool:
        """Whether presentation mode is on (it sizes the Lesson dock itself)."""
        presentation = getattr(self, "presentation", None)
        return presentation is not None and presentation.on

    # -- showing --------------------------------------------------------------
    def raise_step(self, title: str) -> None:
        """Bring the step panel of this title to the front of the step dock."""
        for panel, dock in zip(self.panels, self.panel_docks, strict=True):
            if panel.title == title:
                if dock.isHidden():
                    dock.show()  # closed with its x: the Steps bar brings it back
                dock.raise_()
                self.current_step = title
                act = getattr(self, "step_actions", {}).get(title)
                if act is not None:
                    act.setChecked(True)
                return

    def _note_step(self, title: str, shown: bool) -> None:
        if shown:
            self.current_step = title
            act = getattr(self, "step_actions", {}).get(title)
            if act is not None:
                act.setChecked(True)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.unelide_tabs()
        if self._needs_default_layout:
            self._needs_default_layout = False
            # Dock sizes only hold once the window has its real width; a user's
            # own layout (restored from the settings) wins from then on.
            width = self.width()
            horizontal = Qt.Orientation.Horizontal
            bars = [b for b in self.findChildren(QTabBar) if "Frames" in _texts(b)]
            tabs = max([b.sizeHint().width() for b in bars if b.isVisible()], default=0)
            left = min(max(int(0.16 * width), tabs), width // 4)
            # Wide enough for Frames, Run, Header and Lesson: no tab behind a scroll arrow.
            self.resizeDocks([self.frames_dock], [left], horizontal)
            self.resizeDocks(self.panel_docks[:1], [int(0.33 * width)], horizontal)

    def unelide_tabs(self) -> None:
        """Whole names with scroll arrows on the dock tabs (Qt makes new tab bars when the
        layout changes): eight step tabs do not fit a third of the window, and whole names
        read better than "Cali...", "Det...", "Astr..."."""
        for bar in self.findChildren(QTabBar):
            if not is_folded(bar):
                bar.setElideMode(Qt.TextElideMode.ElideNone)
                bar.setUsesScrollButtons(True)
        QTimer.singleShot(0, self._hide_stale_tab_bars)

    def _hide_stale_tab_bars(self) -> None:
        """Hide a dock tab bar Qt left behind when more docks were tabified: it showed
        "Frame statistics | Calibration" in the middle of the start page; and the step
        docks' own tab strip, which repeated the Steps bar and was cut off at 1366 px."""
        bars = [b for b in self.findChildren(QTabBar) if b.parent() is self and b.isVisible()]
        names = [{b.tabText(i) for i in range(b.count())} for b in bars]
        steps = {p.title for p in self.panels}
        for bar, mine in zip(bars, names, strict=True):
            if any(mine < other for other in names):
                bar.hide()
            elif mine and mine <= steps:
                fold_tab_bar(bar)  # the Steps bar chooses the step
            elif is_folded(bar):
                unfold_tab_bar(bar)  # reused by Qt for other docks

    def show_start_page(self) -> None:
        self.stack.setCurrentWidget(self.start_page)

    def _on_sequence(self) -> None:
        seq = self.session.sequence
        self.frame_table.set_frames(seq.frames if seq is not None else [])
        self.stack.setCurrentWidget(self.image_view)
        self._update_title()

    def _show_frame(self, frame: DisplayFrame) -> None:
        fixed = self.fixed_stretch_box.isChecked() and self.image_view.data is not None
        self.image_view.set_image(
            frame.data,
            limits=None if fixed else frame.limits,
            wcs=frame.wcs,
            histogram=frame.histogram,
            preview=frame.preview,
            colour=frame.colour,
            pattern=frame.pattern,
        )
        seq = self.session.sequence
        info = seq[frame.index] if seq is not None else None
        name = self.session.frame_names().file(info.path) if info is not None else ""
        lights = self.session.light_indices()
        # The frame table's row number, and the light number the Targets and Light
        # curve panels use, so "light 5" can be found in the list.
        which = (
            f" (light {lights.index(frame.index) + 1} of {len(lights)})"
            if info is not None and info.type == "light" and frame.index in lights
            else f" ({info.type})"
            if info is not None
            else ""
        )
        self.frame_label.setText(f"Frame {frame.index + 1} / {len(self.session)}{which}   {name}")
        self.header_view.setPlainText(frame.header.tostring(sep="\n", padding=False))

    def _on_project(self) -> None:
        d = self.session.project.display
        try:
            if "stretch" in d:
                self.image_view.set_stretch(str(d["stretch"]))
            if "colormap" in d:
                self.image_view.set_colormap(str(d["colormap"]))
            if "contrast" in d and "bias" in d:
                self.image_view.set_contrast_bias(float(d["contrast"]), float(d["bias"]))
        except (TypeError, ValueError) as exc:
            log.warning("ignoring the project's display settings: %s", exc)
        self._update_title()
        self._mark_done_steps()

    def _update_title(self) -> None:
        p = self.session.project
        where = f" - {p.folder}" if p.folder is not None else " (unsaved)"
        self.setWindowTitle(f"Fluxion - {p.name}{where}")

    def _watch_task(self, task: Task) -> None:
        """A task that succeeds where the error shown failed takes the error bar away."""
        if not task.quiet:
            task.result.connect(lambda _r, t=task: self._succeeded(t))
            task.error.connect(lambda _i, t=task: setattr(self, "_error_key", t.key))

    def _succeeded(self, task: Task) -> None:
        info = self.error_bar.info
        if info is None or not self.error_bar.isVisible():
            return
        same_key = task.key is not None and task.key == self._error_key
        if same_key or task.name == info.task:
            self.error_bar.hide()

    def show_error(self, info: ErrorInfo) -> None:
        """The one place errors are shown (also logged by the worker pool)."""
        self.error_bar.show_error(info)

    # -- blink ----------------------------------------------------------------
    def toggle_play(self) -> None:
        """Start or stop blinking; blinking fixes the stretch so changes stand out."""
        playing = not self.blink_timer.isActive()
        if playing:
            self.fixed_stretch_box.setChecked(True)
            self._set_rate(self.rate_box.value())
            self.blink_timer.start()
        else:
            self.blink_timer.stop()
        self.play_action.setChecked(playing)
        self.play_action.setText("Pause" if playing else "Play")

    def _set_step_all(self, on: bool) -> None:
        self.session.step_all_frames = bool(on)

    def _set_rate(self, fps: int) -> None:
        self.blink_timer.setInterval(int(1000 / max(fps, 1)))

    # -- closing --------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        self.blink_timer.stop()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.set_last_step(self.current_step)
        self.settings.set_display_defaults(self.image_view.display_settings())
        self.settings.sync()
        self.workers.shutdown(wait=True)
        self.log_panel.detach()
        super().closeEvent(event)
