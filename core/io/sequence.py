"""Scanning folders into frames, grouping them, and a lazy image sequence.

* :func:`scan` expands folders into FITS files, their sub-folders included
  (:mod:`fluxion.core.io.folders` says which are left out), reads every
  header once (in parallel when an executor is given) and returns
  :class:`FrameInfo` objects sorted by mid-exposure time, then name. Bad
  files never stop a scan. Where no header gives a usable gain (a ZWO GAIN
  setting, an implausible card), the gain is measured from a few of the
  frames (:mod:`fluxion.core.io.gainfit`).
* :func:`group_frames` sorts frames into calibration and science groups.
* :class:`Sequence` holds frames and reads pixels on demand, keeping recently
  used images in a cache bounded in bytes, so a night of 500 frames of
  4k x 4k never needs 500 x 64 MB of memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from collections.abc import Sequence as SequenceABC
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits

from ..runtime.pipeline import StepState
from .fitsio import read_header, read_image, read_wcs
from .folders import expand_paths, walk_inputs
from .frames import FrameInfo, frame_info

if TYPE_CHECKING:
    # Only an annotation here: astropy.wcs imports astropy.coordinates.
    from astropy.wcs import WCS

__all__ = [
    "FrameInfo",
    "FrameGroups",
    "Sequence",
    "expand_paths",
    "group_frames",
    "scan",
]

DEFAULT_CACHE_BYTES = 1 << 30

log = logging.getLogger(__name__)


def _sort_key(f: FrameInfo) -> tuple[int, float, str]:
    return (0, f.jd, str(f.path)) if f.jd is not None else (1, 0.0, str(f.path))


def scan(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    state: StepState | None = None,
    executor: Executor | None = None,
    recursive: bool = True,
    measure_gain: bool = True,
) -> list[FrameInfo]:
    """Read the header facts of every frame in files and folders.

    Parameters
    ----------
    paths : path or iterable of paths
        FITS files and folders.
    state : StepState, optional
        Progress and cancellation.
    executor : concurrent.futures.Executor, optional
        Reads headers in parallel; sequential when None.
    recursive : bool, optional
        Also scan sub-folders (the default), except hidden ones, Fluxion
        projects and Fluxion's product folders.
    measure_gain : bool, optional
        Measure the gain from the frames' pixels for frames whose headers give
        none (:func:`fluxion.core.io.gainfit.complete_gains`; a few frames read).

    Returns
    -------
    list of FrameInfo
        Sorted by mid-exposure time, then file name; frames without a time last.
        Unreadable files are included with type ``'unknown'`` and a problem.
        Files found in sub-folders whose headers say Fluxion wrote them (a
        master, a calibrated light) are left out: they are products, not frames.
    """
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    walk = walk_inputs(paths, recursive=recursive)
    files = walk.files
    for folder, reason in walk.skipped:
        log.info("%s not scanned: %s", folder, reason)

    def hint(f: Path) -> str | None:
        # A sub-folder's name may say the frame type (DARK/, zero/); the
        # opened folder's name is the night's.
        return f.parent.name if f in walk.below else None

    if state is not None:
        state.progress(0.0, f"reading {len(files)} headers")
    tick = state.counter(len(files), "headers") if state is not None else None
    frames: list[FrameInfo] = []
    if executor is None:
        for f in files:
            frames.append(frame_info(f, hint(f)))
            if tick is not None:
                tick()
    else:
        futures: list[Future[FrameInfo]] = [executor.submit(frame_info, f, hint(f)) for f in files]
        try:
            for fut in futures:
                frames.append(fut.result())
                if tick is not None:
                    tick()
        finally:
            for fut in futures:
                fut.cancel()
    products = [f for f in frames if f.product and f.path in walk.below]
    if products:
        log.info("%d Fluxion products in sub-folders not scanned as frames", len(products))
        frames = [f for f in frames if not (f.product and f.path in walk.below)]
    frames.sort(key=_sort_key)
    if measure_gain and any(f.usable and f.gain is None for f in frames):
        # Only a night without gains in its headers pays for the gain fit's
        # imports (scipy.ndimage, astropy.stats).
        from .gainfit import complete_gains

        frames = complete_gains(frames, state)
    return frames


@dataclass
class FrameGroups:
    """Frames sorted into calibration and science groups.

    Attributes
    ----------
    bias : list of FrameInfo
    darks : dict of float to list of FrameInfo
        By exposure time in seconds (None when unknown).
    flats : dict of str to list of FrameInfo
        By filter (None when unknown).
    lights : dict of (str, str) to list of FrameInfo
        By (object, filter).
    unknown : list of FrameInfo
        Unusable or unclassified frames.
    """

    bias: list[FrameInfo] = field(default_factory=list)
    darks: dict[float | None, list[FrameInfo]] = field(default_factory=dict)
    flats: dict[str | None, list[FrameInfo]] = field(default_factory=dict)
    lights: dict[tuple[str | None, str | None], list[FrameInfo]] = field(default_factory=dict)
    unknown: list[FrameInfo] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of frames per type."""
        return {
            "bias": len(self.bias),
            "dark": sum(map(len, self.darks.values())),
            "flat": sum(map(len, self.flats.values())),
            "light": sum(map(len, self.lights.values())),
            "unknown": len(self.unknown),
        }


def group_frames(frames: Iterable[FrameInfo]) -> FrameGroups:
    """Group frames by type: darks by exposure, flats by filter, lights by target and filter.

    Darks' exposure times are rounded to the millisecond so that 180.0 and
    180.0004 s land together.
    """
    g = FrameGroups()
    for f in frames:
        if f.type == "bias":
            g.bias.append(f)
        elif f.type == "dark":
            key = None if f.exptime is None else round(f.exptime, 3)
            g.darks.setdefault(key, []).append(f)
        elif f.type == "flat":
            g.flats.setdefault(f.filter, []).append(f)
        elif f.type == "light":
            g.lights.setdefault((f.object, f.filter), []).append(f)
        else:
            g.unknown.append(f)
    return g


class Sequence:
    """Frames whose pixels are read on demand, with a bounded LRU pixel cache.

    Parameters
    ----------
    frames : sequence of FrameInfo
        The frames, in order.
    cache_bytes : int, optional
        Most bytes of pixels kept in memory (default 1 GiB). An image larger
        than this is returned but not cached.
    executor : concurrent.futures.Executor, optional
        Used by :meth:`prefetch` to read ahead.

    Notes
    -----
    Thread-safe: several workers may call :meth:`data` at once. Returned
    arrays are read-only views of the cache; copy before modifying.
    """

    def __init__(
        self,
        frames: SequenceABC[FrameInfo],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        executor: Executor | None = None,
    ) -> None:
        self.frames: list[FrameInfo] = list(frames)
        self.cache_bytes = int(cache_bytes)
        self._executor = executor
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()
        # One lock per frame so two threads asking for the same frame read it once.
        self._frame_locks: dict[int, threading.Lock] = {}
        self._headers: dict[int, fits.Header] = {}

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[str | os.PathLike[str]],
        state: StepState | None = None,
        executor: Executor | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        recursive: bool = True,
    ) -> Sequence:
        """Scan ``paths`` (sub-folders unless ``recursive`` is False); keep the usable frames."""
        frames = [
            f for f in scan(paths, state=state, executor=executor, recursive=recursive) if f.usable
        ]
        return cls(frames, cache_bytes=cache_bytes, executor=executor)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> FrameInfo:
        return self.frames[i]

    @property
    def cached_bytes(self) -> int:
        """Bytes of pixels currently cached (never above ``cache_bytes``)."""
        with self._lock:
            return self._cached_bytes

    def _frame_lock(self, i: int) -> threading.Lock:
        with self._lock:
            return self._frame_locks.setdefault(i, threading.Lock())

    def data(self, i: int) -> np.ndarray:
        """The image of frame ``i`` as float32 (read-only; copy to modify).

        Raises
        ------
        fluxion.core.io.fitsio.FitsReadError
            When the file cannot be read.
        """
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        with self._frame_lock(i):
            with self._lock:
                hit = self._cache.get(i)
                if hit is not None:
                    self._cache.move_to_end(i)
                    return hit
            f = self.frames[i]
            arr = read_image(f.path, hdu=f.hdu if f.hdu >= 0 else None, dtype=np.float32)
            arr.setflags(write=False)
            self._store(i, arr)
            return arr

    def _store(self, i: int, arr: np.ndarray) -> None:
        size = arr.nbytes
        if size > self.cache_bytes:
            return
        with self._lock:
            if i in self._cache:
                return
            while self._cache and self._cached_bytes + size > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
            self._cache[i] = arr
            self._cached_bytes += size

    def clear_cache(self) -> None:
        """Drop every cached image."""
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0

    def header(self, i: int) -> fits.Header:
        """The full header of frame ``i`` (cached; headers are small)."""
        with self._lock:
            h = self._headers.get(i)
        if h is None:
            h, _ = read_header(self.frames[i].path)
            with self._lock:
                self._headers[i] = h
        return h

    def wcs(self, i: int) -> WCS | None:
        """The celestial WCS in frame ``i``'s header, or None."""
        return read_wcs(self.header(i))

    def prefetch(self, i: int) -> Future[np.ndarray] | None:
        """Start reading frame ``i`` in the background (needs an executor)."""
        if self._executor is None or not 0 <= i < len(self.frames):
            return None
        with self._lock:
            if i in self._cache:
                return None
        return self._executor.submit(self.data, i)
