"""Where each step's per-frame products live in a project folder, and whether they are current.

Every step that works frame by frame (calibration, detection, astrometry,
photometry, photometric calibration) writes one product per frame into its own
folder of the project, named after the frame (``light_0001.ecsv``; frames whose
file names clash have theirs in sub-folders named as their own folders,
:mod:`fluxion.core.io.names`). The window's
panels and the headless ``fluxion run`` read and write the same files, so a
project opened in the GUI shows exactly what the run left.

A product is *current* when it was made from the same inputs with the same
parameters: each step folder keeps an index mapping the frame to the
fingerprint of what made it. The product is written first and the index
after, both durably, so a run killed between the two simply redoes that
frame; a product whose fingerprint differs is redone, never trusted.

The index is ``index.json`` (a snapshot, written atomically) and
``index.jsonl``, a journal of the records since: one ``[frame, fingerprint]``
line appended per product (``null``: forgotten). Rewriting the whole index
for every product made a night's recording quadratic in its length; the
journal is folded into the snapshot when it outgrows it, so the cost of a
record stays constant. Read them with :meth:`ProductStore.frames_done` and
:meth:`ProductStore.fingerprint_of`, not from the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..io.atomic import append_durably, sync_now
from ..io.digest import content_digest
from ..io.ecsv_read import read_ecsv
from ..io.fitsio import atomic_write_ecsv, atomic_write_fits, atomic_write_text, read_wcs
from ..io.names import FrameNames, frame_key
from ..runtime.quiet import quiet

__all__ = [
    "INDEX_FILES",
    "STEP_FOLDERS",
    "ProductStore",
    "content_digest",
    "fingerprint",
    "FrameNames",
    "frame_key",
    "product_intact",
    "solution_wcs",
]


def solution_wcs(header: fits.Header) -> WCS | None:
    """The WCS of a header-only solution file (``.wcs.fits``), or None when it has none.

    Such a header has no image, so its size comes from astrometry.net's
    ``IMAGEW``/``IMAGEH`` cards (a WCS with SIP needs it). ``header`` is
    changed in place.
    """
    if "IMAGEW" in header:
        header["NAXIS"] = 2
        header["NAXIS1"], header["NAXIS2"] = header["IMAGEW"], header["IMAGEH"]
    return read_wcs(header)


# step name -> folder inside the project. The order is the order of the chain.
STEP_FOLDERS: dict[str, str] = {
    "calibration": "calibrated",
    "detection": "sources",
    "astrometry": "wcs",
    "photometry": "photometry",
    "zeropoint": "magnitudes",
}


#: A step folder's index: the snapshot and the journal of records since.
INDEX_FILES = ("index.json", "index.jsonl")

# Fewest journal lines folded into the snapshot (a short night never rewrites it).
_JOURNAL_MIN = 64


def _replay(journal: Path, index: dict[str, str]) -> int:
    """Apply ``journal``'s records to ``index``; the number of its lines.

    A line that does not parse (cut short by a crash) is skipped: that
    frame's product is simply not current.
    """
    try:
        lines = journal.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    _apply(lines, index)
    return len(lines)


def _apply(lines: list[str], index: dict[str, str]) -> None:
    """Apply journal ``lines`` to ``index`` (:func:`_replay`)."""
    for line in lines:
        try:
            key, fp = json.loads(line)
        except (ValueError, TypeError):
            continue
        if not isinstance(key, str):
            continue
        if fp is None:
            index.pop(key, None)
        elif isinstance(fp, str):
            index[key] = fp


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class _IndexReader:
    """Each step folder's index as this process last read it, and how far into its journal.

    Every frame of a night run on a worker reads the index of each step (a
    worker's :class:`ProductStore` lives for one frame), and the journal grows
    by a few records a frame: reading it whole every time made a night's
    reading quadratic in its length. The journal is only ever appended to,
    or removed once a new snapshot holds its records, so while the snapshot
    is the same file (inode, time, size) and the journal the same file (its
    inode, and the last line read still where it was), only the lines
    appended since are read. Whole lines only: a last line without its end
    (being written, or cut short by a crash) is applied to the answer, not
    kept, and read again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # folder -> (snapshot stat, journal inode, bytes read, last line read, index, lines)
        self._seen: dict[Path, tuple[Any, int, int, bytes, dict[str, str], int]] = {}

    def read(self, folder: Path) -> tuple[dict[str, str], int]:
        """``folder``'s index (a copy the caller may change) and its journal's number of lines."""
        snap_stat = _stat(folder / INDEX_FILES[0])
        with self._lock:
            seen = self._seen.get(folder)
            try:
                with open(folder / INDEX_FILES[1], "rb") as fh:
                    ino = os.fstat(fh.fileno()).st_ino
                    reuse = seen is not None and seen[0] == snap_stat and seen[1] == ino
                    if seen is not None and reuse:
                        fh.seek(seen[2] - len(seen[3]))
                        data = fh.read()
                        # Still the journal read before (an inode is soon reused).
                        reuse = data.startswith(seen[3])
                        data = data[len(seen[3]) :]
                    if seen is None or not reuse:
                        fh.seek(0)
                        data = fh.read()
                        seen = (snap_stat, ino, 0, b"", self._snapshot(folder), 0)
            except OSError:  # no journal: the snapshot alone
                if seen is None or seen[0] != snap_stat or seen[1] != -1:
                    seen = (snap_stat, -1, 0, b"", self._snapshot(folder), 0)
                    self._seen[folder] = seen
                return dict(seen[4]), seen[5]
            end = data.rfind(b"\n") + 1
            _, _, offset, last, index, lines = seen
            if end:
                whole = data[:end].decode("utf-8", errors="replace").splitlines()
                _apply(whole, index)
                lines += len(whole)
                offset += end
                last = data[data.rfind(b"\n", 0, end - 1) + 1 : end]
            self._seen[folder] = (snap_stat, ino, offset, last, index, lines)
            answer = dict(index)
        tail = data[end:].decode("utf-8", errors="replace").splitlines()
        _apply(tail, answer)
        return answer, lines + len(tail)

    @staticmethod
    def _snapshot(folder: Path) -> dict[str, str]:
        try:
            return dict(json.loads((folder / INDEX_FILES[0]).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return {}


_READER = _IndexReader()


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able parts (parameters, upstream fingerprints, file facts).

    Paths are replaced by (name, size, content digest), so a changed input file
    changes the fingerprint (also one replaced by a copy of the same size and
    time), while a moved project does not.
    """
    text = json.dumps([_norm(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Values JSON writes as they are: a part's leaves are mostly these (a list of
# positions is thousands of floats), so they are told by their exact type
# first. Subclasses (numpy's float64, an enum's int) take the long way.
_LEAF_TYPES = frozenset((str, int, float, bool, type(None)))


def _norm(v: Any) -> Any:
    """``v`` as :func:`fingerprint` hashes it: paths as file facts, numpy scalars as Python's."""
    if type(v) in _LEAF_TYPES:
        return v
    if isinstance(v, os.PathLike):
        p = Path(v)
        try:
            st = p.stat()
        except OSError:
            return [p.name, None, None]
        try:
            return [p.name, st.st_size, content_digest(p)]
        except OSError:  # a folder, an unreadable file: its facts only
            return [p.name, st.st_size, int(st.st_mtime)]
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, list | tuple):
        return [x if type(x) in _LEAF_TYPES else _norm(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def product_intact(path: str | os.PathLike[str]) -> bool:
    """Whether a product file looks whole, from a few bytes (no parsing).

    A FITS product is whole 2880-byte blocks beginning with ``SIMPLE``; an
    ECSV table begins with its marker and ends with a line end; JSON and text
    products are not empty. Products are written atomically, so a failing
    check means damage from outside (a disk error, an edit, a truncating copy).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(9)
            if p.name.lower().endswith((".fits", ".fit")):
                return head == b"SIMPLE  =" and size % 2880 == 0
            if p.name.lower().endswith(".ecsv"):
                fh.seek(-1, os.SEEK_END)
                return head.startswith(b"# %ECSV") and fh.read(1) == b"\n"
            return size > 0
    except OSError:
        return False


class ProductStore:
    """The per-frame products of a project folder.

    Parameters
    ----------
    folder : path-like
        The project folder; step folders are created inside it when written.
    names : FrameNames, optional
        The names of the night's frames (:meth:`FrameNames.of` every frame):
        frames whose file names clash have their products in sub-folders named
        as their own folders. Without it, every product is named after its
        frame's file name.
    """

    def __init__(self, folder: str | os.PathLike[str], names: FrameNames | None = None) -> None:
        self.folder = Path(folder)
        self.names = names if names is not None else FrameNames()
        self._lock = threading.Lock()
        self._indexes: dict[str, dict[str, str]] = {}
        self._journal: dict[str, int] = {}  # lines in each step's journal

    # -- paths ------------------------------------------------------------------
    def step_folder(self, step: str) -> Path:
        """The folder of ``step``'s products."""
        try:
            return self.folder / STEP_FOLDERS[step]
        except KeyError:
            raise ValueError(f"unknown step {step!r}; known: {', '.join(STEP_FOLDERS)}") from None

    def path(self, step: str, frame: str | os.PathLike[str], suffix: str) -> Path:
        """Path of ``frame``'s product of ``step`` with ``suffix`` (".ecsv", ".fits")."""
        return self.step_folder(step) / f"{self.key(frame)}{suffix}"

    def key(self, frame: str | os.PathLike[str]) -> str:
        """The base of ``frame``'s product names, as the index knows it (:meth:`FrameNames.key`)."""
        return self.names.key(frame)

    # -- index of fingerprints ---------------------------------------------------
    def _index(self, step: str) -> dict[str, str]:
        if step not in self._indexes:
            self._indexes[step], self._journal[step] = _READER.read(self.step_folder(step))
        return self._indexes[step]

    def _mark(self, step: str, frame: str | os.PathLike[str], fp: str) -> None:
        with self._lock:
            index = self._index(step)
            key = self.key(frame)
            index[key] = fp
            self._append(step, [[key, fp]])

    def _append(self, step: str, records: list[list[Any]]) -> None:
        """Journal ``records`` (already in the index); fold the journal in when it outgrows it."""
        folder = self.step_folder(step)
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        append_durably(folder / INDEX_FILES[1], text)
        self._journal[step] = self._journal.get(step, 0) + len(records)
        index = self._indexes[step]
        # Folded once it is longer than half the index (and a few dozen lines): the
        # snapshots written then grow geometrically, so the night's recording
        # writes a few times its index in all, not once per record.
        if self._journal[step] > max(_JOURNAL_MIN, len(index) // 2):
            # The journal as it is on disk, in its order: records another store of
            # the project appended (a window beside a run) are folded in, not lost.
            _replay(folder / INDEX_FILES[1], index)
            snapshot = atomic_write_text(
                folder / INDEX_FILES[0], json.dumps(index, indent=1, sort_keys=True)
            )
            # The journal goes only once the snapshot holding its records is on disk;
            # a crash between the two replays records the snapshot already has.
            sync_now([snapshot])
            (folder / INDEX_FILES[1]).unlink(missing_ok=True)
            self._journal[step] = 0

    def record(self, step: str, frame: str | os.PathLike[str], fp: str) -> None:
        """Record ``frame``'s product of ``step``, written by the caller, as made with ``fp``.

        For products the store cannot write itself (a calibrated frame with its
        MASK extension, a solution with its quality cards); write the file
        atomically at :meth:`path` first, then record it.
        """
        self._mark(step, frame, fp)

    def fingerprint_of(self, step: str, frame: str | os.PathLike[str]) -> str | None:
        """The fingerprint ``frame``'s product of ``step`` was made with, if any."""
        with self._lock:
            return self._index(step).get(self.key(frame))

    def is_current(
        self, step: str, frame: str | os.PathLike[str], fp: str, suffix: str = ".ecsv"
    ) -> bool:
        """Whether the product is whole and was made with fingerprint ``fp``.

        A product damaged since it was written (cut short, overwritten) is not
        current: the step makes it again instead of failing on it every run.
        """
        if self.fingerprint_of(step, frame) != fp:
            return False
        return product_intact(self.path(step, frame, suffix))

    def frames_done(self, step: str) -> list[str]:
        """Frame keys that have a product of ``step`` recorded in the index."""
        with self._lock:
            return sorted(self._index(step))

    # -- tables -------------------------------------------------------------------
    def write_table(
        self, step: str, frame: str | os.PathLike[str], table: Table, fp: str = ""
    ) -> Path:
        """Write ``frame``'s table product of ``step`` as ECSV (atomically) and record it."""
        path = self.path(step, frame, ".ecsv")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_ecsv(path, table)
        self._mark(step, frame, fp)
        return path

    def read_table(self, step: str, frame: str | os.PathLike[str]) -> Table | None:
        """``frame``'s table product of ``step``, or None when there is none."""
        path = self.path(step, frame, ".ecsv")
        if not path.exists():
            return None
        return read_ecsv(path)

    # -- images -------------------------------------------------------------------
    def write_image(
        self,
        step: str,
        frame: str | os.PathLike[str],
        data: np.ndarray,
        header: fits.Header | None = None,
        fp: str = "",
    ) -> Path:
        """Write ``frame``'s image product of ``step`` as FITS (atomically) and record it."""
        path = self.path(step, frame, ".fits")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_fits(path, data, header)
        self._mark(step, frame, fp)
        return path

    # -- WCS ------------------------------------------------------------------------
    def write_wcs(
        self, frame: str | os.PathLike[str], wcs: WCS, shape: tuple[int, int], fp: str = ""
    ) -> Path:
        """Write ``frame``'s astrometric solution as a header-only FITS file and record it."""
        header = wcs.to_header(relax=True)
        header["IMAGEH"], header["IMAGEW"] = int(shape[0]), int(shape[1])
        path = self.path("astrometry", frame, ".wcs.fits")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_fits(path, None, header)
        self._mark("astrometry", frame, fp)
        return path

    def read_wcs(self, frame: str | os.PathLike[str]) -> WCS | None:
        """``frame``'s astrometric solution, or None when it was not solved."""
        path = self.path("astrometry", frame, ".wcs.fits")
        if not path.exists():
            return None
        with quiet():
            return solution_wcs(fits.getheader(path))

    def forget(self, step: str, frames: Iterable[str | os.PathLike[str]] | None = None) -> None:
        """Drop ``frames`` (all when None) from ``step``'s index so they are redone."""
        with self._lock:
            index = self._index(step)
            keys = list(index) if frames is None else [self.key(f) for f in frames]
            gone = [k for k in keys if index.pop(k, None) is not None]
            if gone:
                self._append(step, [[k, None] for k in gone])
