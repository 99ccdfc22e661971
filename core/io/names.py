"""The names a night's products take from its frames: the file name, made unique where names clash.

Products (a calibrated frame, a catalogue, a solution, a photometry table) are
named after their frame: ``Light_0001.fits`` gives ``Light_0001.ecsv``.
Capture programs file each night or target in its own folder, often with the
same file names (``2026-01-01/Light_0001.fits`` and ``2026-01-02/Light_0001.fits``,
``M67/n0001.fits`` and ``NGC188/n0001.fits``). A frame whose name no other
frame of the night shares keeps its name, so an ordinary night and the projects
already made are named as before; frames whose names clash are named by their
path below the deepest folder holding them all (``2026-01-01/Light_0001.fits``),
and their products are filed in the same sub-folders of the output. A user
browsing the output finds the input's folders again, under the same names, and
no prefix made up from a folder name can meet another frame's real name.

:func:`frame_names` is the one rule; :class:`FrameNames` carries its answer for
a night (the clashing frames only: nothing for an ordinary night) to every
place that names a product: the project's store, the commands' outputs, the
per-frame tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

from .folders import product_stem
from .rawfile import RAW_SUFFIXES

__all__ = ["FrameNames", "frame_key", "frame_names", "name_key"]

# The suffixes a frame's key drops. Only one family: were ``.fit`` or ``.fts``
# dropped too, ``x.fits`` and ``x.fts`` of one night would share their products,
# each overwriting the other's on every run.
_FITS_SUFFIXES = (".fits.fz", ".fits.gz", ".fits.bz2", ".fits")


def frame_key(frame: str | os.PathLike[str]) -> str:
    """The base name a frame's products take from its file name alone.

    ``light_0001.fits`` (also ``.fits.fz``, ``.fits.gz``) gives ``light_0001``;
    any other name is kept whole (``n0038.fit`` gives ``n0038.fit``). A name too
    long for the file system's limit once a product's suffix is added is
    shortened with a digest (:func:`fluxion.core.io.folders.product_stem`).
    """
    name = Path(frame).name
    lower = name.lower()
    for suffix in _FITS_SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return product_stem(name[: -len(suffix)])
    return product_stem(name)


# Every suffix some product name drops (a command's table of ``x.fit`` is
# ``x.ecsv``, as is that of ``x.fits``): frames alike without them clash.
_ANY_SUFFIXES = frozenset((".fits", ".fit", ".fts", ".fz", ".gz", ".bz2", *RAW_SUFFIXES))


def _bare(path: str) -> str:
    """A frame's file name without its image suffixes, case folded (``X.fit.gz`` -> ``x``).

    Case folded because macOS and Windows file systems take ``X.ecsv`` and
    ``x.ecsv`` for one file.
    """
    name = os.path.basename(path)
    while True:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in _ANY_SUFFIXES and stem:
            name = stem
        else:
            return name.casefold()


def name_key(name: str) -> str:
    """The product key of a frame's unique name: ``2026-01-01/x.fits`` -> ``2026-01-01/x``.

    The folders of a name (``/``-separated) are kept; its file name becomes
    its :func:`frame_key`.
    """
    parent, _, base = name.rpartition("/")
    key = frame_key(base)
    return f"{parent}/{key}" if parent else key


def _where(path: str | os.PathLike[str]) -> str:
    # abspath, not resolve: no file-system access, and a night given by a
    # relative path names its frames the same way from the same folder.
    return os.path.abspath(os.fspath(path))


def _below(paths: list[str]) -> list[str]:
    """Each path relative to the deepest folder holding them all, ``/``-separated."""
    folders = [os.path.dirname(p) for p in paths]
    try:
        root = os.path.commonpath(folders)
    except ValueError:  # different drives: each keeps its path without the drive
        return [PurePosixPath(*Path(p).parts[1:]).as_posix() for p in paths]
    return [Path(os.path.relpath(p, root)).as_posix() for p in paths]


def frame_names(paths: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """The unique names of the frames whose names clash, by absolute path.

    Two frames clash when a product of theirs could share a name: their file
    names are alike but for the image suffixes and the case (``x.fits`` in two
    folders, ``x.fits`` and ``x.fit``, ``X.fits`` and ``x.fits``).
    Each such frame is named by its path below the deepest folder holding the
    frames of that name. The key of a clashing frame is its folders and its
    :func:`frame_key`; were two still alike (``x.fits`` and ``x.fits.fz`` in one
    folder), :meth:`FrameNames.key` keeps their whole file names.

    Parameters
    ----------
    paths : iterable of path-like
        Every frame of the night (the same paths give the same names).

    Returns
    -------
    dict of str to str
        Absolute path -> name (``2026-01-01/Light_0001.fits``), for the
        clashing frames only; empty when every name is unique.
    """
    groups: dict[str, list[str]] = {}
    for p in dict.fromkeys(_where(p) for p in paths):
        groups.setdefault(_bare(p), []).append(p)
    names: dict[str, str] = {}
    for members in groups.values():
        if len(members) > 1:
            names.update(zip(members, _below(members), strict=True))
    return names


@dataclass(frozen=True)
class FrameNames:
    """The names of one night's frames and of their products (picklable, for worker processes).

    Build with :meth:`of` from every frame of the night; an empty one names
    every frame by its file name (the names of a night without clashes).

    Attributes
    ----------
    clashing : dict of str to str
        Absolute path -> unique name, for the frames whose names clash
        (:func:`frame_names`).
    """

    clashing: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, paths: Iterable[str | os.PathLike[str]]) -> FrameNames:
        """The names of the frames ``paths`` (a night's every frame)."""
        return cls(frame_names(paths))

    @classmethod
    def of_night(cls, frames: Iterable[Any]) -> FrameNames:
        """The names of a night's frames (FrameInfo): its usable frames of every type.

        ``fluxion run`` and the window name a project's products over the same
        frames, so each finds the products the other made.
        """
        return cls.of(f.path for f in frames if getattr(f, "usable", True))

    def file(self, frame: str | os.PathLike[str]) -> str:
        """The frame's unique name: its file name, or its path below the night's folder."""
        return self.clashing.get(_where(frame)) or Path(frame).name

    def folder(self, frame: str | os.PathLike[str]) -> str:
        """The output sub-folder of the frame's products (``""`` unless its name clashes)."""
        return self.file(frame).rpartition("/")[0]

    def key(self, frame: str | os.PathLike[str]) -> str:
        """The base of the frame's product names (``Light_0001``, ``2026-01-01/Light_0001``).

        Product names are this plus the product's suffix (``.ecsv``); a key
        with folders puts the product in those sub-folders of the output.
        """
        key = self._keys.get(_where(frame))
        return key if key is not None else frame_key(frame)

    @cached_property
    def _keys(self) -> dict[str, str]:
        keys = {p: name_key(n) for p, n in self.clashing.items()}
        counts: dict[str, int] = {}
        for k in keys.values():
            counts[k] = counts.get(k, 0) + 1
        # Two clashing frames of one folder (x.fits, x.fits.fz) keep whole names.
        return {p: (k if counts[k] == 1 else self.clashing[p]) for p, k in keys.items()}

    def __bool__(self) -> bool:
        return bool(self.clashing)
