"""An earlier project of the same night, found again when its frames are opened once more.

An unsaved project keeps its products in a folder of its own under the user's
projects folder (the window's ``user_projects_folder``). Opening the same
night again used to start a new project beside it (``night-2``, ``night-3``):
the steps already run were not reused and their ticks were gone, with no word
about it. The night's earlier project is the one whose inputs are exactly the
frames opened now; a night that gained or lost a frame since is another
project, as before (its products would not match frame for frame).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from .document import PROJECT_FILE, Project, ProjectError

__all__ = ["earlier_project"]

log = logging.getLogger(__name__)


def earlier_project(
    inputs: Iterable[str | os.PathLike[str]], projects_folder: str | os.PathLike[str]
) -> Project | None:
    """The most recently saved project under ``projects_folder`` over exactly ``inputs``.

    Parameters
    ----------
    inputs : iterable of path-like
        The frames opened now.
    projects_folder : path-like
        The folder whose sub-folders hold unsaved projects' products.

    Returns
    -------
    Project or None
        The project, loaded; None when no project there has these inputs.
        A damaged project file is passed over (and logged), never raised.
    """
    wanted = {Path(p).resolve() for p in inputs}
    root = Path(projects_folder)
    if not wanted or not root.is_dir():
        return None
    found: list[tuple[float, Project]] = []
    for file in root.glob(f"*/{PROJECT_FILE}"):
        try:
            project = Project.load(file.parent)
            mtime = file.stat().st_mtime
        except (ProjectError, OSError) as exc:
            log.info("%s passed over: %s", file, exc)
            continue
        if set(project.inputs) == wanted:
            found.append((mtime, project))
    if not found:
        return None
    return max(found, key=lambda item: item[0])[1]
