"""Finding the frames of a night in a folder and its sub-folders.

Capture programs write a night as a tree: NINA and SGP one folder per frame
type (``LIGHT/ DARK/ FLAT/ BIAS/``, often under a date folder), observatories
``zero/ flat/ <target>/``. Opening the top folder finds every FITS file below
it. Three kinds of sub-folder are not entered, so that a night whose products
live inside it is not read back as raw frames:

* hidden folders (``.git``, ``.cache``: their names start with a dot);
* Fluxion projects: a folder holding ``project.json``;
* folders Fluxion made for its products: they hold the marker file
  :data:`OUTPUT_MARKER`, written by :func:`prepare_output_folder` (every
  ``--out`` folder, the masters, the simulator's truth).

A folder named on the command line or opened in the window is always read,
whatever it is (``fluxion detect CALIBRATED/`` reads calibrated frames); the
rules apply only to the folders found below it. Products written before the
marker existed are recognised by their headers instead
(:func:`fluxion.core.io.sequence.scan`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .fitsio import atomic_write_text, is_frame_name

__all__ = [
    "OUTPUT_MARKER",
    "PROJECT_FILE",
    "FolderWalk",
    "expand_paths",
    "mark_output_folder",
    "prepare_output_folder",
    "product_stem",
    "skip_reason",
    "walk_inputs",
]

#: The file a Fluxion project folder holds.
PROJECT_FILE = "project.json"
#: The file that marks a folder Fluxion made for its products.
OUTPUT_MARKER = ".fluxion-output"
_MARKER_TEXT = (
    "This folder holds products written by Fluxion. Opening a folder above it "
    "does not read them as raw frames; delete this file to change that.\n"
)


# Bytes of a product's base name: file systems allow 255 per name, and a
# product adds its own suffix (".diagnostics.fits") and the temporary name more.
_LONGEST_STEM = 160


def product_stem(stem: str) -> str:
    """A frame's base name as its products are named: shortened, uniquely, when too long.

    A 250-character frame name would make its products' names pass the file
    system's limit; it keeps its first characters and gains a digest of the
    whole name, so two long names that start alike still differ.
    """
    if len(os.fsencode(stem)) <= _LONGEST_STEM:
        return stem
    import hashlib

    digest = hashlib.sha256(os.fsencode(stem)).hexdigest()[:12]
    head = stem
    while len(os.fsencode(head)) > _LONGEST_STEM - 13:
        head = head[:-1]
    return f"{head}-{digest}"


def skip_reason(folder: Path) -> str | None:
    """Why a sub-folder found while descending is not entered, or None to enter it."""
    if folder.name.startswith("."):
        return "hidden folder"
    if (folder / PROJECT_FILE).is_file():
        return "a Fluxion project"
    if (folder / OUTPUT_MARKER).is_file():
        return "Fluxion products"
    return None


def prepare_output_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` for a command's products and mark it as Fluxion's.

    The marker is written only into a folder Fluxion makes now, or finds
    empty or already marked: a folder of the user's own (the night itself,
    given as ``--out``) is never marked, so it is never skipped later.

    Returns
    -------
    Path
        The folder.
    """
    path = Path(folder)
    fresh = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    if fresh or not any(path.iterdir()):
        mark_output_folder(path)
    return path


def mark_output_folder(folder: str | os.PathLike[str]) -> None:
    """Mark an existing folder as holding Fluxion's products (see :func:`skip_reason`)."""
    marker = Path(folder) / OUTPUT_MARKER
    if not marker.is_file():
        atomic_write_text(marker, _MARKER_TEXT)


@dataclass
class FolderWalk:
    """What :func:`walk_inputs` found.

    Attributes
    ----------
    files : list of Path
        FITS files in folders (and files named explicitly), in order, no duplicates.
    below : set of Path
        Those of ``files`` found in a sub-folder of a folder given.
    skipped : list of (Path, str)
        Sub-folders not entered, and why.
    """

    files: list[Path] = field(default_factory=list)
    below: set[Path] = field(default_factory=set)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _fits_files(folder: Path, names: Iterable[str]) -> list[Path]:
    # Anything with a FITS name but a folder is taken: a FIFO, a device, a
    # broken link or a link loop is then reported by name with its cause
    # (fitsio.file_problem), not silently left out of the night.
    return [
        folder / n
        for n in sorted(names)
        if is_frame_name(n) and not n.startswith(".") and not (folder / n).is_dir()
    ]


def walk_inputs(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> FolderWalk:
    """The FITS files in files and folders, descending into sub-folders by default.

    Files named explicitly are kept whatever their suffix, so that a non-FITS
    file given by the user is reported; inside folders only FITS names
    (``.fits .fit .fts .fz`` and their ``.gz``/``.bz2`` forms, any case) are
    taken. Sub-folders are entered unless ``recursive`` is False or
    :func:`skip_reason` gives a reason; symbolic links to folders are
    followed, each real folder once.
    """
    walk = FolderWalk()
    seen: dict[Path, None] = {}

    def add(p: Path, below: bool) -> None:
        if p not in seen:
            seen[p] = None
            walk.files.append(p)
            if below:
                walk.below.add(p)

    for raw in paths:
        top = Path(raw)
        if not top.is_dir():
            add(top, False)
            continue
        if not recursive:
            for f in _fits_files(top, (e.name for e in os.scandir(top))):
                add(f, False)
            continue
        visited: set[str] = set()
        for root, dirs, names in os.walk(top, followlinks=True):
            here = Path(root)
            real = os.path.realpath(here)
            if real in visited:  # a link back up the tree
                dirs[:] = []
                continue
            visited.add(real)
            keep = []
            for d in sorted(dirs):
                reason = skip_reason(here / d)
                if reason is None:
                    keep.append(d)
                else:
                    walk.skipped.append((here / d, reason))
            dirs[:] = keep
            for f in _fits_files(here, names):
                add(f, here != top)
    return walk


def expand_paths(paths: Iterable[str | os.PathLike[str]], recursive: bool = True) -> list[Path]:
    """Files to scan: folders expanded to the FITS files in them and below them.

    See :func:`walk_inputs`. Duplicates are dropped, order is kept.
    """
    return walk_inputs(paths, recursive=recursive).files
