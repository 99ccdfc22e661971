"""A step panel whose one run covers the project's whole night, in a worker.

The Field and Transients panels both measure every light of a project from its
products (calibrated lights, detections, solutions): one button starts the run
in a worker, Cancel stops it, Export writes what it found, and the results sit
in tabs under the form. This base holds that shared machinery once.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QWidget,
)

from ..workers import ErrorInfo, Task
from .base import StepPanel, frame_names
from .standalone import exec_shown

__all__ = ["ProjectRunPanel", "show_on_project"]


class ProjectRunPanel(StepPanel):
    """Run over the project's night in a worker, with Cancel, Export and result tabs.

    Subclasses set :attr:`run_text`, :attr:`needs_products` and
    :attr:`export_title`, build their result widgets (the list of what was
    found with :meth:`_list_table`), call :meth:`_add_tabs` and start their
    run with :meth:`_submit`; they provide ``export(folder)`` and ``_on_row``.
    """

    #: The run button's text.
    run_text = "Run"
    #: Said when the night has no project products to work from.
    needs_products = "Run calibration, detection and astrometry on all lights first."
    #: Title of the folder dialog of Export.
    export_title = "Export into a folder"

    def __init__(self, session, image_view=None, parent: QWidget | None = None) -> None:
        super().__init__(session, image_view, parent)
        for w in (self.run_button, self.redo_box, self.plot):
            w.setVisible(False)
        self.run_all_button.setText(self.run_text)
        self.task: Task | None = None
        self.export_button = QPushButton("Export...")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._ask_export)

    def _ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.export_title)
        if folder:
            self.export(Path(folder))

    def export(self, folder: Path) -> Task | None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _on_row(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _list_table(self, columns: Sequence[str]) -> QTableWidget:
        """The read-only list of what the run found, one row selected at a time (``_on_row``)."""
        self.table = QTableWidget(0, len(columns))
        self.table.setHorizontalHeaderLabels(list(columns))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._on_row)
        return self.table

    def _fill_list(self, rows: Sequence[Sequence[str]]) -> None:
        """Put ``rows`` (the cells' texts) in the list, without selecting anything."""
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(v))
        self.table.blockSignals(False)

    def _selected_row(self) -> int | None:
        """The list's selected row, or None."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def frame_index(self, file: str) -> int | None:
        """The sequence's index of the light of unique name ``file`` (None when not open)."""
        seq = self.session.sequence
        if seq is None:
            return None
        names = frame_names(self.session)
        return next((i for i, f in enumerate(seq.frames) if names.file(f.path) == file), None)

    def _add_tabs(self, tabs: QTabWidget) -> None:
        """Export above the result text (Cancel is beside the run), the result tabs below it."""
        self.tabs = tabs
        layout = self.layout()
        buttons = QHBoxLayout()
        buttons.addWidget(self.export_button)
        layout.insertLayout(layout.indexOf(self.result_label), buttons)
        layout.addWidget(tabs, 4)
        self.scroll_form()

    def run_current(self) -> Task | None:
        return self.run_all()

    def _submit(
        self,
        work: Callable[..., Any],
        *,
        name: str,
        running: str,
        failure: str,
        done: Callable[[Any], None],
    ) -> Task | None:
        """Start ``work(project, params, executor, state)`` in a worker.

        ``running`` is said while it runs, ``failure`` before the cause when
        it fails, and ``done`` receives its result on the GUI thread.
        """
        if self.session.sequence is None:
            self.result_label.setText("Open a night first.")
            return None
        if self.session.project.folder is None:
            self.result_label.setText(self.needs_products)
            return None
        self.keep_params_and_store()
        # A copy: the window goes on changing its project (targets, frame,
        # parameters) while the run reads this one.
        project = copy.deepcopy(self.session.project)
        self.task = self.session.workers.submit(
            work, project, self.params(), self.session.workers.frame_executor,
            name=name, key=f"panel:{self.step}",
        )  # fmt: skip
        self.result_label.setText(running)
        self.task.result.connect(done)
        self.task.error.connect(lambda info: self._failed(info, failure))
        self.task.cancelled.connect(lambda: self.result_label.setText("Cancelled."))
        return self.task

    def cancel_run(self) -> None:
        """Stop the run (the panel's Cancel)."""
        self.cancel()

    def _failed(self, info: ErrorInfo, what: str) -> None:
        self.result_label.setText(f"{what}: {info.text()}")

    def _export_task(self, write: Callable[..., dict], *args: Any, name: str) -> Task:
        """Run ``write(*args)`` (which returns the written paths) in a worker and say where."""
        folder = args[-1]
        task = self.session.workers.submit(write, *args, name=name, pass_state=False)
        task.result.connect(lambda paths: self.result_label.setText(
            self.result_label.text() + "\nExported " + ", ".join(p.name for p in paths.values())
            + f" to {folder}"))  # fmt: skip
        task.error.connect(lambda info: self._failed(info, "The export failed"))
        return task


def show_on_project(panel_type: type[ProjectRunPanel], argv: list[str] | None) -> int:
    """Open one panel alone on a project folder given on the command line (manual use)."""
    from PySide6.QtWidgets import QApplication

    from fluxion.core.io.sequence import Sequence
    from fluxion.core.project.document import Project

    from ..session import Session
    from ..workers import WorkerPool

    args = list(argv or sys.argv)[1:]
    if not args:
        print(f"usage: python -m {panel_type.__module__} PROJECT_FOLDER")
        return 2
    app = QApplication.instance() or QApplication(sys.argv)
    workers = WorkerPool()
    session = Session(workers)
    project = Project.load(Path(args[0]))
    session.set_sequence(Sequence.from_paths([Path(p) for p in project.inputs]), project)
    return exec_shown(app, panel_type(session), workers, (800, 900))
