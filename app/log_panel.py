"""The log panel: the engine's logging records, delivered to the GUI thread by a signal."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QPlainTextEdit, QWidget

__all__ = ["QtLogHandler", "LogPanel"]

MAX_LINES = 5000


class _Bridge(QObject):
    record = Signal(str, int)


class QtLogHandler(logging.Handler):
    """A logging handler that forwards formatted records as a Qt signal (thread-safe)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.bridge = _Bridge()
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.bridge.record.emit(self.format(record), record.levelno)
        except RuntimeError:
            pass  # the panel was deleted while a worker still logged


class LogPanel(QPlainTextEdit):
    """Read-only view of the ``fluxion`` logger's records.

    The handler is attached on construction and removed by :meth:`detach`
    (called when the window closes) so closed windows stop receiving records.
    """

    def __init__(self, logger: str = "fluxion", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        self.setFont(QFont("monospace"))
        self._logger = logging.getLogger(logger)
        if self._logger.level == logging.NOTSET or self._logger.level > logging.INFO:
            self._logger.setLevel(logging.INFO)
        self.handler = QtLogHandler()
        self.handler.bridge.record.connect(self._append)
        self._logger.addHandler(self.handler)

    def _append(self, text: str, level: int) -> None:
        if level >= logging.ERROR:
            text = f"!! {text}"
        self.appendPlainText(text)

    def detach(self) -> None:
        """Stop listening to the logger."""
        self._logger.removeHandler(self.handler)
