"""The status bar's task progress with Cancel, and the one place errors are shown."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QWidget,
)

from .workers import ErrorInfo, Task, WorkerPool

__all__ = ["TaskProgress", "ErrorBar"]


class TaskProgress(QWidget):
    """Progress of the newest running task, with a Cancel button; hidden when idle."""

    def __init__(self, workers: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running task at its next checkpoint")
        self.cancel_button.clicked.connect(self.cancel)
        # A click does not take the keyboard focus (Tab still reaches the button):
        # the button hides when the task ends, and Qt then gave the focus to the
        # next widget in the chain, the blink bar's frames/s box.
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self._focus_before: QWidget | None = None
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._on_focus)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label)
        lay.addWidget(self.bar)
        lay.addWidget(self.cancel_button)
        self._workers = workers
        self.task: Task | None = None
        workers.task_started.connect(self._follow)
        workers.task_finished.connect(self._on_finished)
        self.setVisible(False)

    def _follow(self, task: Task) -> None:
        self.task = task
        task.progress.connect(lambda f, m, t=task: self._on_progress(t, f, m))
        self.label.setText(task.name)
        self.bar.setValue(0)
        self.setVisible(True)

    def _on_progress(self, task: Task, fraction: float, message: str) -> None:
        if task is self.task:
            self.bar.setValue(int(round(fraction * 1000)))
            self.label.setText(f"{task.name}: {message}" if message else task.name)

    def _on_finished(self, task: Task) -> None:
        if task is not self.task:
            return
        running = self._workers.running()
        if running:
            self._follow(running[-1])
        else:
            self.task = None
            self._hide()

    def _on_focus(self, old: QWidget | None, new: QWidget | None) -> None:
        if new is not None and shiboken6.isValid(self) and self.isAncestorOf(new):
            if old is not None and not self.isAncestorOf(old):
                self._focus_before = old

    def _hide(self) -> None:
        """Hide; the keyboard focus, if here (Tab, then Space on Cancel), goes back
        to where it was rather than to whatever widget comes next."""
        focus = QApplication.focusWidget()
        had_focus = focus is not None and self.isAncestorOf(focus)
        self.setVisible(False)
        if had_focus:
            before = self._focus_before
            if before is not None and shiboken6.isValid(before) and before.isVisible():
                before.setFocus(Qt.FocusReason.OtherFocusReason)
            else:
                self.window().setFocus(Qt.FocusReason.OtherFocusReason)

    def cancel(self) -> None:
        """Cancel the task shown."""
        if self.task is not None:
            self.task.cancel()
            self.label.setText(f"{self.task.name}: cancelling...")


class ErrorBar(QWidget):
    """A dismissable bar showing the last error: what failed, why, what to do next."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoFillBackground(True)
        self.setStyleSheet("ErrorBar { background: #7a2020; } QLabel { color: white; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.details_button = QPushButton("Details...")
        self.details_button.clicked.connect(self._details)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.details_button)
        lay.addWidget(close)
        self.info: ErrorInfo | None = None
        self.setVisible(False)

    def show_error(self, info: ErrorInfo) -> None:
        """Show ``info`` (replacing an older error)."""
        self.info = info
        self.label.setText(info.text())
        self.details_button.setVisible(bool(info.details))
        self.setVisible(True)

    def _details(self) -> None:
        if self.info is None:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Error details", self.info.text(), parent=self)
        box.setDetailedText(self.info.details)
        box.exec()
