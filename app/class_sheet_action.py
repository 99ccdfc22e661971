"""The teacher's class sheet from the window: a folder of students' projects, checked.

The same work as ``fluxion check FOLDER --out FOLDER/class_sheet``: every
project in the folder is checked against its night's truth in a worker
(:func:`fluxion.app.commands.check.check_class_into`), then the sheet's plots
are drawn on the GUI thread (pyqtgraph) and the page is opened in the browser.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from .class_sheet import write_class_sheet
from .commands.check import check_class_into
from .workers import ErrorInfo, Task, WorkerPool

__all__ = ["SHEET_FOLDER", "ClassSheetMaker"]

#: Where the sheet goes, inside the folder of the students' projects.
SHEET_FOLDER = "class_sheet"


class ClassSheetMaker(QObject):
    """Asks for the class folder, checks it in a worker, writes and opens the sheet.

    Signals
    -------
    message(str)
        What happened, for the user (where the sheet is, or why there is none).
    done(object)
        The sheet's page (a Path) once written.
    """

    message = Signal(str)
    done = Signal(object)

    def __init__(self, workers: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.workers = workers
        self.task: Task | None = None
        #: Open the page in the browser once written (off in tests).
        self.open_page = True

    def choose_and_make(self, parent: QWidget | None = None) -> Task | None:
        """Ask for the folder of the students' projects, then :meth:`make` the sheet."""
        folder = QFileDialog.getExistingDirectory(
            parent, "Folder of the students' projects", str(Path.home())
        )
        return self.make(Path(folder)) if folder else None

    def make(self, folder: str | os.PathLike[str]) -> Task:
        """Check every project in ``folder`` and write the sheet into its ``class_sheet``."""
        folder = Path(folder)
        out = folder / SHEET_FOLDER
        self.message.emit(f"Checking the projects in {folder}...")
        self.task = self.workers.submit(
            check_class_into, folder, out, name="Checking the class", key="class-sheet"
        )
        self.task.result.connect(lambda res, o=out: self._checked(o, *res))
        self.task.error.connect(self._failed)
        return self.task

    def _checked(self, out: Path, table, problems: list[str]) -> None:
        # Drawn here: pyqtgraph's plots are widgets, which live on the GUI thread.
        try:
            page = write_class_sheet(out, table, problems)
        except OSError as exc:
            self.message.emit(f"The class sheet could not be written into {out}: {exc}")
            return
        if page is None:
            self.message.emit(f"Class summary written into {out} (no plots: Qt cannot draw).")
            return
        skipped = f"; {len(problems)} project(s) not checked" if problems else ""
        self.message.emit(f"Class sheet: {page}{skipped}.")
        if self.open_page:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(page)))
        self.done.emit(page)

    def _failed(self, info: ErrorInfo) -> None:
        self.message.emit(f"No class sheet: {info.message}")
