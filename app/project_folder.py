"""Where an unsaved project's products go: the user's projects folder, never the frames'."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from fluxion.core.project.document import Project

__all__ = ["default_project_folder", "night_name", "user_projects_folder"]


def user_projects_folder() -> Path:
    """Where unsaved projects keep their products: ``$FLUXION_PROJECTS``, else
    ``~/Fluxion/projects``."""
    env = os.environ.get("FLUXION_PROJECTS", "").strip()
    return Path(env).expanduser() if env else Path.home() / "Fluxion" / "projects"


def default_project_folder(project: Project) -> Path:
    """Where an unsaved project goes when a step first writes products.

    The demo night's own folder for the demo (Fluxion wrote it) when it can
    be written; else a new folder under :func:`user_projects_folder` named
    after the night. Never beside or inside the user's data: an observer's
    night folder may be read-only, shared, or a card, and products appearing
    next to it unasked were a surprise. The window says where they go.
    """
    name = project.name if project.name not in ("", "untitled") else ""
    if project.inputs:
        parent = Path(project.inputs[0]).resolve().parent
        if (parent / "truth" / "night.json").is_file() and os.access(parent, os.W_OK):
            return parent  # the simulated demo night
        name = name or parent.name
    safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "untitled"
    base = user_projects_folder() / safe
    folder, k = base, 2
    while (folder / "project.json").exists():  # another project's: never mixed
        folder, k = base.with_name(f"{base.name}-{k}"), k + 1
    return folder


def night_name(opened: Sequence[Path], frames: Sequence[Path]) -> str:
    """The name of a night the user opened: the folder chosen, else the frames' common folder.

    A night filed in sub-folders (``night/darks``, ``night/lights``) is named
    after the folder the user opened, not after the first frame's sub-folder
    ("darks" named the project, its products' folder and the window's title).
    """
    if len(opened) == 1 and Path(opened[0]).is_dir():
        return Path(opened[0]).resolve().name
    parents = [str(Path(f).resolve().parent) for f in frames]
    return Path(os.path.commonpath(parents)).name if parents else ""
