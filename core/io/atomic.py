"""Writing products atomically.

Every product Fluxion writes (FITS images and extensions, tables, text,
bytes) goes through a temporary file in the destination folder and
:func:`os.replace`, so a crash, a full disk or a failed write never leaves a
half-written product behind: the old file (or none) stays in place.

* :func:`atomic_write_fits` writes one image with its header.
* :func:`atomic_write_hdulist` writes a multi-extension FITS file.
* :func:`atomic_write_text`, :func:`atomic_write_ecsv` and
  :func:`atomic_write_bytes` write text, ECSV tables and raw bytes.

Each file is made durable (``fsync``) before it replaces the old one, unless
it is written inside :func:`durable_batch`: the products of one frame (a
dozen files) are then made durable together when the batch ends, with one
sync of their file system instead of one a file (about 6 ms each). A killed
program still never leaves a half-written product, since a file replaces the
old one only once it is whole; the batch's end is where the caller may say
the products are finished (and record them).

The functions are re-exported by :mod:`.fitsio`, where callers have always
found them.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from astropy.io import fits

from ..runtime.quiet import quiet
from .cards import repair_in_place, writable_header
from .imagebytes import image_list_chunks, primary_chunks

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = [
    "durable_batch",
    "atomic_write_fits",
    "atomic_write_header",
    "atomic_write_hdulist",
    "atomic_write_image",
    "atomic_write_text",
    "atomic_write_ecsv",
    "atomic_write_bytes",
    "append_durably",
    "sync_now",
]


log = logging.getLogger(__name__)

# The files written in the current durable batch (None: no batch, each file
# is synced as it is written). A context variable: each thread (and each task
# of an executor thread, between set and reset) has its own batch.
_BATCH: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar(
    "durable_batch", default=None
)


@contextmanager
def durable_batch() -> Iterator[None]:
    """Make every product written inside durable together, when the block ends.

    Inside, the atomic writers still replace a product only with a whole
    file, but do not sync each file; at the end (also when the block raises)
    the files written are synced at once: on Linux by one ``syncfs`` of each
    file system they are on, elsewhere file by file. A batch inside another
    joins it (the outer one syncs).
    """
    if _BATCH.get() is not None:
        yield
        return
    written: list[Path] = []
    token = _BATCH.set(written)
    try:
        yield
    finally:
        _BATCH.reset(token)
        _sync(written)


def _fsync(fd: int) -> None:
    """``os.fsync``: one file's data and size to disk."""
    os.fsync(fd)


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(fd)`` (one file system's dirty data to disk), or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def _sync(paths: list[Path]) -> None:
    """Make the files ``paths`` (written, replaced, not yet synced) durable."""
    if not paths:
        return
    syncfs = _syncfs()
    pending = list(dict.fromkeys(paths))
    if syncfs is not None:
        done: set[int] = set()
        left = []
        for path in pending:
            try:
                dev = os.stat(path.parent).st_dev
            except OSError:
                continue  # the folder is gone: nothing of it to sync
            if dev in done:
                continue
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                ok = syncfs(fd) == 0
            finally:
                os.close(fd)
            if ok:
                done.add(dev)
            else:
                left.append(path)
        pending = left
    for path in pending:
        # Writable: Windows flushes only files opened for writing.
        try:
            with open(path, "r+b") as fh:
                _fsync(fh.fileno())
        except FileNotFoundError:
            continue  # replaced or removed since: its successor was synced in turn
        except OSError as exc:
            log.warning("%s: not synced to disk: %s", path, exc)


def sync_now(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Make ``paths`` durable now, also inside a :func:`durable_batch`.

    For a file that something is about to rely on before the batch ends (a
    journal is removed only once the snapshot that replaces it is on disk).
    """
    _sync([Path(p) for p in paths])


def append_durably(path: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` (whole lines) to ``path``, made durable as the atomic writers' files are.

    Synced at once, or with the :func:`durable_batch` it is written in. A
    crash can leave the last line cut short; readers skip a line that does
    not parse, and the next append starts on a new line.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = _BATCH.get()
    with open(path, "a+b") as fh:  # writes go to the end whatever the position
        if fh.seek(0, os.SEEK_END) > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":  # a line cut short by a crash stays on its own
                text = "\n" + text
        fh.write(text.encode("utf-8", errors="backslashreplace"))
        fh.flush()
        if batch is None:
            _fsync(fh.fileno())
    if batch is not None:
        batch.append(path)


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new temporary file (descriptor, name) in the folder of ``path``, made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name adds about 14 characters: a product named near the
    # file system's 255-byte limit gets a shortened prefix, not ENAMETOOLONG.
    prefix = "." + path.name
    while len(os.fsencode(prefix)) > 200:
        prefix = prefix[: len(prefix) - 8]
    fd, tmp = tempfile.mkstemp(prefix=prefix + ".", suffix=".tmp", dir=path.parent)
    # mkstemp makes owner-only files; products are ordinary files others may read.
    os.chmod(tmp, 0o644)
    return fd, tmp


def _write_atomically(dest: Path, write: Callable[[IO], object], mode: str, **open_kw) -> Path:
    """Run ``write`` on a temporary file beside ``dest``, then replace ``dest`` with it.

    The one code path of every product writer: a crash or an error leaves the
    old file (or none) in place, never a half-written one.
    """
    batch = _BATCH.get()
    fd, tmp = _temp_beside(dest)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            write(fh)
            fh.flush()
            if batch is None:
                _fsync(fh.fileno())
        os.replace(tmp, dest)
        if batch is not None:
            batch.append(dest)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_cause(exc)
        if cause is not None and cause is not exc:
            # astropy's clean-up after a failed write raises its own error
            # ("'list' object has no attribute '_file'"), hiding a full disk.
            raise cause from exc
        raise
    return dest


def _os_cause(exc: BaseException) -> OSError | None:
    """The OSError (a full disk, a lost drive) among ``exc`` and what it was raised during."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError):
            return e
        e = e.__cause__ or e.__context__
    return None


def _write_fits(dest: Path, writeto: Callable[[IO], object]) -> Path:
    """Write a FITS file atomically; a comment too long for its card is cut without a warning.

    astropy cuts such a comment as it writes (the value is kept); raw frames'
    headers carry many, and the products' headers copy them.
    """
    with quiet(fits.verify.VerifyWarning, "Card is too long, comment will be truncated"):
        return _write_atomically(dest, writeto, "wb")


def atomic_write_fits(
    path: str | os.PathLike[str],
    data: np.ndarray | None,
    header: fits.Header | None = None,
) -> Path:
    """Write a FITS image atomically (temporary file in the same folder, then replace).

    Parameters
    ----------
    path : str or path-like
        Destination; an existing file is replaced in one step.
    data : numpy.ndarray or None
        The image; None writes a header-only file.
    header : astropy.io.fits.Header, optional
        Cards to write with it. Cards astropy refuses to write (a raw frame's
        header may carry some) are repaired in a cleaned copy, see
        :func:`.cards.writable_header`.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    # astropy verifies every card as it writes: a header is checked again
    # (and repaired) only when that fails, not before every write.
    data = None if data is None else np.asarray(data)
    try:
        return _write_fits(Path(path), fits.PrimaryHDU(data, header).writeto)
    except Exception:  # noqa: BLE001 - cards astropy refuses raise anything; repaired below
        fixed = writable_header(header)
        if fixed is header:
            raise
    return _write_fits(Path(path), fits.PrimaryHDU(data, fixed).writeto)


def atomic_write_hdulist(path: str | os.PathLike[str], hdulist: fits.HDUList) -> Path:
    """Write a multi-extension FITS file atomically (temporary file, then replace).

    Parameters
    ----------
    path : str or path-like
        Destination; an existing file is replaced in one step. Missing
        folders are created.
    hdulist : astropy.io.fits.HDUList
        Primary HDU and extensions (e.g. a calibrated image and its ``MASK``).
        Cards astropy refuses to write are repaired in place
        (:func:`.cards.repair_in_place`) and the file written again.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    # Plain images (a calibrated light and its mask) are laid out here, each
    # card verified once per process: the same bytes as astropy's writer.
    with quiet(fits.verify.VerifyWarning, "Card is too long, comment will be truncated"):
        chunks = image_list_chunks(hdulist)
    if chunks is not None:
        return _write_atomically(Path(path), lambda fh: [fh.write(c) for c in chunks], "wb")
    try:
        return _write_fits(Path(path), hdulist.writeto)
    except Exception:  # noqa: BLE001 - cards astropy refuses raise anything; repaired below
        # A header copied from a raw frame may carry cards astropy refuses to write.
        repaired = [repair_in_place(hdu.header) for hdu in hdulist]  # every HDU's
        if not any(repaired):
            raise
    return _write_fits(Path(path), hdulist.writeto)


def atomic_write_image(
    path: str | os.PathLike[str],
    data: np.ndarray,
    header: fits.Header,
    extensions: list[fits.ImageHDU] | tuple = (),
) -> Path:
    """``atomic_write_hdulist(path, HDUList([PrimaryHDU(data, header), *extensions]))``.

    The same file, without astropy's copies of ``header`` when its structure
    is plain (see :func:`.imagebytes.primary_chunks`); ``header`` is left as
    it was.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    with quiet(fits.verify.VerifyWarning, "Card is too long, comment will be truncated"):
        chunks = primary_chunks(data, header, extensions)
    if chunks is not None:
        return _write_atomically(Path(path), lambda fh: [fh.write(c) for c in chunks], "wb")
    hdulist = fits.HDUList([fits.PrimaryHDU(data, header=header), *extensions])
    return atomic_write_hdulist(path, hdulist)


# The cards astropy puts before a header-only primary HDU's own.
_NO_DATA = (
    ("SIMPLE", True, "conforms to FITS standard"),
    ("BITPIX", 8, "array data type"),
    ("NAXIS", 0, "number of array dimensions"),
)
_END = "END" + " " * 77


def atomic_write_header(
    path: str | os.PathLike[str], cards: fits.Header | Iterable[fits.Card]
) -> Path:
    """Write a header-only FITS file (as astrometry.net's ``.wcs``) atomically.

    The same bytes as ``fits.PrimaryHDU(header=...).writeto``, made from the
    cards' own images: astropy's HDU (a copy of the header, verified card by
    card) took longer than the rest of writing a plate solution. Cards astropy
    refuses go through :func:`atomic_write_hdulist`, which repairs them.

    Parameters
    ----------
    path : str or path-like
    cards : astropy.io.fits.Header or iterable of astropy.io.fits.Card
        The cards after ``SIMPLE``, ``BITPIX`` and ``NAXIS`` (none of those).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    cards = list(cards.cards if isinstance(cards, fits.Header) else cards)
    with quiet(fits.verify.VerifyWarning, "Card is too long, comment will be truncated"):
        try:
            if any(c.keyword in ("SIMPLE", "BITPIX", "NAXIS", "END") for c in cards):
                raise ValueError("the cards of a primary HDU's structure are astropy's to write")
            text = "".join(fits.Card(*c).image for c in _NO_DATA)
            text += "".join(c.image for c in cards) + _END
            data = (text + " " * (-len(text) % 2880)).encode("ascii")
        except Exception:  # noqa: BLE001 - astropy's writer says (or repairs) what is wrong
            header = fits.Header(cards)
            return atomic_write_hdulist(path, fits.HDUList([fits.PrimaryHDU(header=header)]))
    return atomic_write_bytes(path, data)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write bytes atomically (temporary file in the same folder, then replace).

    For a product whose bytes the caller also needs (e.g. to record their
    digest) without reading the file back.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    return _write_atomically(Path(path), lambda fh: fh.write(data), "wb")


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write a text file atomically (temporary file in the same folder, then replace).

    Parameters
    ----------
    path : str or path-like
        Destination; an existing file is replaced in one step.
    text : str
        The content.
    encoding : str, optional
        Text encoding, UTF-8 by default.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    # A file name that is not valid UTF-8 (its bytes kept as surrogates) is
    # written escaped, so that the table stays readable text.
    return _write_atomically(
        Path(path),
        lambda fh: fh.write(text),
        "w",
        encoding=encoding,
        newline="",
        errors="backslashreplace",
    )


def atomic_write_ecsv(path: str | os.PathLike[str], table: Table) -> Path:
    """Write ``table`` as ECSV atomically (see :func:`atomic_write_text`).

    The whole text is made first, so a table that cannot be written leaves
    an earlier file intact. ECSV's remarks about meta it cannot represent
    exactly are silenced: the columns, which carry the results, are exact.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    from .ecsv import ecsv_text

    return atomic_write_text(path, ecsv_text(table))
