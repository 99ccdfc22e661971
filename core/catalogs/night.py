"""The reference catalog a night carries with it.

A night written by the simulator (``fluxion demo``, the classroom demo) holds
the stars it was made from in ``truth/reference_catalog.ecsv``, beside
``truth/night.json``. With that file the night solves and calibrates with no
network: the window and ``fluxion run`` both take it, through
:func:`night_catalog`, unless the user chose a catalog.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..simulation.writer import CATALOG_FILE, NIGHT_FILE, TRUTH_FOLDER

__all__ = ["night_catalog"]

# Folders above an input's folder that are searched too: a night opened at a
# sub-folder (``LIGHT/``) or file by file from a sub-folder still finds the
# truth at its top, and no search wanders far up a user's disk.
_LEVELS_UP = 2


def _folders(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    seen: dict[Path, None] = {}
    for raw in paths:
        p = Path(raw).resolve()
        start = p if p.is_dir() else p.parent
        for folder in (start, *start.parents[:_LEVELS_UP]):
            seen.setdefault(folder, None)
    return list(seen)


def night_catalog(paths: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The reference catalog of the night the ``paths`` belong to, or None.

    Parameters
    ----------
    paths : iterable of path-like
        The files and folders opened (frames or the night's folder).

    Returns
    -------
    Path or None
        ``truth/reference_catalog.ecsv`` (resolved) of the first of each
        path's folder and the two folders above it that holds a simulated
        night's truth (``truth/night.json`` and the catalog); None when none does.
    """
    for folder in _folders(paths):
        truth = folder / TRUTH_FOLDER
        catalog = truth / CATALOG_FILE
        if (truth / NIGHT_FILE).is_file() and catalog.is_file():
            return catalog
    return None
