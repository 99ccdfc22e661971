"""The main window's file actions: opening folders, projects and the demo, saving projects.

A mixin of :class:`fluxion.app.main_window.MainWindow`, kept apart so the window's
layout and its file handling each stay one idea. It uses the window's
``session``, ``settings``, ``workers``, ``image_view``, ``start_page``,
``recent_menu``, ``show_error`` and ``_update_title``.
"""

from __future__ import annotations

import logging
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu

from fluxion.core.project.copy import copy_products
from fluxion.core.project.document import Project, ProjectError, is_project

from .demo import demo_inputs, generate_demo
from .site_dialog import SiteDialog, header_site_count
from .workers import ErrorInfo, Task, WorkerPool, describe_error

if TYPE_CHECKING:
    from fluxion.widgets.image_view import ImageView

    from .session import Session
    from .settings import Settings
    from .start_page import StartPage

__all__ = ["ProjectActions"]

log = logging.getLogger("fluxion.app")


class ProjectActions(QMainWindow):
    """Open and save actions of the main window (a mixin: no state of its own)."""

    # The window's, made by MainWindow.__init__ (declared for the type checker).
    session: Session
    settings: Settings
    workers: WorkerPool
    image_view: ImageView
    start_page: StartPage
    recent_menu: QMenu

    if TYPE_CHECKING:

        def show_error(self, info: ErrorInfo) -> None: ...

        def _update_title(self) -> None: ...

    # -- opening --------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of FITS frames", self.settings.last_folder()
        )
        if folder:
            self.settings.set_last_folder(folder)
            self.open_path(folder)

    def choose_project(self) -> None:
        file, _ = QFileDialog.getOpenFileName(
            self, "Open a Fluxion project", self.settings.last_folder(), "Project (project.json)"
        )
        if file:
            self.open_path(file)

    def open_path(self, path: str | os.PathLike[str]) -> Task | None:
        """Open a project (folder or project.json), a folder of FITS, or a FITS file."""
        p = Path(path)
        if not p.exists():
            self.show_error(
                ErrorInfo("Opening", f"{p} does not exist", "Check the path and try again.")
            )
            return None
        if is_project(p):
            return self.open_project(p)
        return self.session.open_paths([p])

    def open_project(self, path: str | os.PathLike[str]) -> Task | None:
        """Open a saved project: its inputs, parameters, targets and results."""
        try:
            project = Project.load(path)
        except ProjectError as exc:
            self.show_error(describe_error("Opening the project", exc))
            return None
        missing = [p for p in project.inputs if not p.exists()]
        present = [p for p in project.inputs if p.exists()]
        if missing:
            log.warning("%d input files are missing, e.g. %s", len(missing), missing[0])
        if not present:
            self.show_error(
                ErrorInfo(
                    "Opening the project",
                    "none of its input files exist any more",
                    "Move the data back, or open the folder of frames and save a new project.",
                )
            )
            return None
        if project.folder is not None:  # a project read from a folder has it
            self.settings.add_recent_project(project.folder)
        self._refresh_recent()
        return self.session.open_paths(present, project)

    def start_demo(self, folder: str | os.PathLike[str] | None = None, config=None) -> Task:
        """Simulate the classroom demo night in a worker, then open it."""
        task = self.workers.submit(
            generate_demo, folder, config, name="Simulating the classroom demo", key="demo"
        )
        task.result.connect(lambda out: self.session.open_paths(demo_inputs(out)))
        return task

    # -- projects -------------------------------------------------------------
    def save_project(self) -> Path | None:
        """Save to the project's folder (asks for one the first time)."""
        if self.session.project.folder is None:
            return self.save_project_as()
        return self._save(None)

    def save_project_as(self, folder: str | os.PathLike[str] | None = None) -> Path | None:
        """Save into a chosen folder, which becomes the project's folder."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(
                self, "Choose the project folder", self.settings.last_folder()
            )
            if not folder:
                return None
        return self._save(folder)

    def _save(self, folder: str | os.PathLike[str] | None) -> Path | None:
        project = self.session.project
        project.display.update(self.image_view.display_settings())
        old = project.folder
        try:
            file = project.save(folder)
        except (ProjectError, OSError) as exc:
            self.show_error(describe_error("Saving the project", exc))
            return None
        if old is not None and old.resolve() != file.parent.resolve():
            # "Save as": the products go along, or the new project starts empty.
            task = self.workers.submit(
                copy_products, project, old, file.parent,
                name=f"Copying the products to {file.parent.name}", key="save-as",
            )  # fmt: skip
            task.result.connect(
                lambda done, f=file.parent: self.session.status_message.emit(
                    f"{len(done)} product folder(s) and file(s) copied to {f}"
                )
            )
        self.settings.add_recent_project(file.parent)
        self._refresh_recent()
        self._update_title()
        log.info("project saved to %s", file)
        return file

    def edit_site(self) -> SiteDialog:
        """File > Observing site: the project's site, for lights whose headers give none."""
        frames = self.session.sequence.frames if self.session.sequence is not None else []
        dialog = SiteDialog(self.session.project.site, frames, self)
        dialog.accepted.connect(lambda: self._site_chosen(dialog.site))
        dialog.open()
        return dialog

    def _site_chosen(self, site) -> None:
        self.session.set_site(site)
        if site is None:
            said = "Observing site: none (the headers' only)"
        else:
            own, n = header_site_count(
                self.session.sequence.frames if self.session.sequence else []
            )
            said = f"Observing site {site.describe()}, for {n - own} of {n} lights"
        self.session.status_message.emit(
            f"{said}; run the Light curve (and Field, Transit) again to use it"
        )
        log.info("%s", said)
        self._autosave("site")

    def _autosave(self, step: str) -> None:
        if self.session.project.folder is not None:
            self._save(None)

    def _refresh_recent(self) -> None:
        recent = self.settings.recent_projects()
        self.start_page.set_recent(recent)
        self.recent_menu.clear()
        for f in recent:
            self.recent_menu.addAction(f, partial(self.open_path, f))
        self.recent_menu.setEnabled(bool(recent))
