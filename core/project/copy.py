"""Carry a project's products into a new folder ("Save project as").

A project's products (calibrated frames, sources, solutions, photometry,
magnitudes, masters, light curves) live in its folder; saving the project
into another folder without them left the new project empty: its light
curve fell back to differential magnitudes because the zero points were
behind. Only Fluxion's own products are copied, never the inputs (the demo
night keeps its project in the folder of its frames).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..runtime.pipeline import StepState
from .document import Project
from .products import STEP_FOLDERS

__all__ = ["PRODUCT_FOLDERS", "copy_products", "product_paths"]

#: Folders of products besides the per-frame steps' (the master frames).
PRODUCT_FOLDERS = (*STEP_FOLDERS.values(), "masters")


def product_paths(project: Project, folder: str | os.PathLike[str]) -> list[Path]:
    """The products of ``project`` in ``folder`` (folders and files, relative), that exist."""
    folder = Path(folder)
    names = set(PRODUCT_FOLDERS)
    for result in project.results.values():
        names.update(result.files)
    for target in project.targets:
        if target.get("light_curve"):
            names.add(str(target["light_curve"]))
    out = []
    for name in sorted(names):
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            continue  # a file elsewhere stays where it is
        if (folder / rel).exists():
            out.append(rel)
    return out


def copy_products(
    project: Project,
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    state: StepState | None = None,
) -> list[Path]:
    """Copy the products of ``project`` from ``source`` into ``target``; what was copied.

    Files already in ``target`` are replaced; the source is left as it was.
    """
    source, target = Path(source), Path(target)
    state = state if state is not None else StepState()
    paths = product_paths(project, source)
    for k, rel in enumerate(paths):
        state.progress(k / max(len(paths), 1), f"copying {rel}")
        src, dst = source / rel, target / rel
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    state.progress(1.0, f"{len(paths)} product(s) copied")
    return paths
