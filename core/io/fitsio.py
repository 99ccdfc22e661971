"""Reading FITS images and writing products safely.

Every FITS file Fluxion touches goes through this module:

* :func:`read_header` finds the image HDU (the primary HDU, or the first image
  extension with 2-D data, including tile-compressed ``.fz`` extensions) and
  returns its header without reading pixels, so that scanning a night of 500
  large frames reads headers only.
* :func:`read_image` reads the pixels (memory-mapped where the file allows it),
  applies BZERO/BSCALE and returns a native byte-order array, because sep and
  several numpy paths refuse big-endian data.
* :func:`read_wcs` builds a celestial WCS after coercing numeric cards written
  as strings (``CRVAL1 = '123.4'``), which astropy would otherwise read as 0.
* :func:`atomic_write_fits`, :func:`atomic_write_hdulist` (image and extensions),
  :func:`atomic_write_text` and :func:`atomic_write_bytes` write products through
  a temporary file in the destination folder and :func:`os.replace`, so a crash
  never leaves a half-written product behind. Input files are never modified.

Problems are raised as :class:`FitsReadError` with a one-line, user-facing
message; the scanner turns them into per-frame problems.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import re
import stat
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..runtime.quiet import quiet
from .cards import clean_header, repair_in_place, writable_header

if TYPE_CHECKING:
    from astropy.table import Table

__all__ = [
    "FitsReadError",
    "file_problem",
    "FITS_SUFFIXES",
    "is_frame_name",
    "is_fits_name",
    "read_header",
    "read_frame",
    "read_image",
    "read_wcs",
    "card_float",
    "image_hdu_count",
    "truncation_problem",
    "atomic_write_fits",
    "atomic_write_hdulist",
    "atomic_write_text",
    "atomic_write_ecsv",
    "atomic_write_bytes",
]

log = logging.getLogger(__name__)

# Names a folder scan picks up (compared lower-case, longest first matters not:
# we test with str.endswith on the whole lower-cased name).
FITS_SUFFIXES = tuple(
    base + comp
    for base in (".fits", ".fit", ".fts", ".fz")
    for comp in ("", ".gz", ".bz2", ".fz")
    if not (base == ".fz" and comp == ".fz")
)

# WCS cards that must be numbers. Some writers put them in quotes; astropy's
# WCS parser then silently uses its defaults (0 or 1), which gives a WCS that
# looks valid and points at the wrong sky.
_WCS_NUMERIC_PREFIXES = (
    "CRVAL",
    "CRPIX",
    "CDELT",
    "CROTA",
    "CD1_",
    "CD2_",
    "PC1_",
    "PC2_",
    "PV1_",
    "PV2_",
    "A_",
    "B_",
    "AP_",
    "BP_",
    "EQUINOX",
    "EPOCH",
    "LONPOLE",
    "LATPOLE",
    "MJD-OBS",
)


_BLOCK = 2880


class FitsReadError(ValueError):
    """A file that cannot be used as an image; the message is one line for the user."""


def is_fits_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a FITS suffix (case-insensitive, compressed too)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def is_frame_name(path: str | os.PathLike[str]) -> bool:
    """True for the files a folder scan takes: FITS names and camera raw files (CR2, NEF...)."""
    from .rawfile import is_raw_name

    return is_fits_name(path) or is_raw_name(path)


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be opened as a file, in one line, or None when it can.

    Checked before opening: a FIFO would block the open forever, /dev/zero
    would be read without end, and a symbolic link loop or a broken link must
    not be called a missing file.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link points back to itself)"
        if p.is_symlink():
            return f"a broken symbolic link (to {os.readlink(p)}, which does not exist)"
        if exc.errno == errno.ENOENT:
            return f"no such file: {p}"
        if exc.errno == errno.ENAMETOOLONG:
            return "the file name is too long for this system"
        return f"cannot read the file ({exc.strerror or exc})"
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return f"{p} is a folder, not a FITS file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if st.st_size == 0:
        return "empty file (0 bytes)"
    if not os.access(p, os.R_OK):
        return "permission denied: the file cannot be read"
    return None


def _is_raw(path: Path) -> bool:
    """A camera raw file, read through LibRaw (:mod:`.rawfile`) rather than astropy."""
    from .rawfile import is_raw_name

    return is_raw_name(path)


def _open(path: Path, memmap: bool = True) -> fits.HDUList:
    """Open lazily (memory-mapped by default), turning low-level failures into one line."""
    problem = file_problem(path)
    if problem is not None:
        raise FitsReadError(problem)
    try:
        return fits.open(path, memmap=memmap, lazy_load_hdus=True, mode="readonly")
    except Exception as exc:  # noqa: BLE001 - corrupt files raise anything
        message = _diagnose(path, exc)
        # astropy leaves the file it opened referenced from the traceback's frames;
        # freeing them closes it now, not at a later garbage collection (which
        # warns about an unclosed file in whatever code runs then).
        with quiet(ResourceWarning):
            traceback.clear_frames(exc.__traceback__)
    raise FitsReadError(message)


# Pixel types the FITS standard allows.
_BITPIX = (8, 16, 32, 64, -32, -64)
# astropy's advice to programmers, not to users.
_ASTROPY_HINT = re.compile(r"\s*If this is really a FITS file.*$", re.S)


def _raw_cards(head: bytes) -> dict[str, str] | None:
    """Keyword -> value text of the first header in ``head``, or None without an END card."""
    cards: dict[str, str] = {}
    for i in range(0, len(head) - 79, 80):
        c = head[i : i + 80].decode("latin-1")
        key = c[:8].strip()
        if key == "END" and not c[8:].strip():
            return cards
        if c[8:10] == "= ":
            cards.setdefault(key, c[10:].split("/", 1)[0].strip())
    return None


def _structure_problem(cards: dict[str, str]) -> str | None:
    """What is wrong with BITPIX and NAXISn of a header's raw cards, or None."""
    bitpix = cards.get("BITPIX")
    if bitpix is None:
        return "the header has no BITPIX card"
    try:
        if int(bitpix) not in _BITPIX:
            raise ValueError
    except ValueError:
        return f"BITPIX = {bitpix} is not a FITS pixel type (8, 16, 32, 64, -32 or -64)"
    text = cards.get("NAXIS")
    try:
        naxis = int(text or "")
        if not 0 <= naxis <= 999:
            raise ValueError
    except ValueError:
        return f"NAXIS = {text} is not a number of axes" if text else "the header has no NAXIS"
    for i in range(1, naxis + 1):
        value = cards.get(f"NAXIS{i}")
        if value is None:
            return f"NAXIS = {naxis} but the header has no NAXIS{i}"
        try:
            if int(value) < 0:
                raise ValueError
        except ValueError:
            return f"NAXIS{i} = {value} is not a size in pixels"
    return None


def _diagnose(path: Path, exc: BaseException) -> str:
    """The user's reason why astropy could not open ``path``."""
    name = path.name.lower()
    if name.endswith((".gz", ".bz2")):
        import bz2
        import gzip

        opener = gzip.open if name.endswith(".gz") else bz2.open
        try:
            with opener(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except EOFError:
            return "the compressed file is cut short (truncated download or copy?)"
        except (OSError, ValueError) as err:
            return f"the compressed file is damaged ({err})"
    else:
        try:
            with open(path, "rb") as fh:
                head = fh.read(_BLOCK * 36)
        except OSError as err:
            return f"cannot read the file ({err.strerror or err})"
        if not head.startswith(b"SIMPLE  ="):
            return "not a FITS file (it does not begin with SIMPLE = T)"
        cards = _raw_cards(head)
        if cards is None:
            return "the header has no END card (the file is cut short or not FITS)"
        problem = _structure_problem(cards)
        if problem is not None:
            return problem
    text = _ASTROPY_HINT.sub("", str(exc)).strip() or type(exc).__name__
    return f"not a readable FITS file ({text})"


def _is_image(hdu: fits.hdu.base._BaseHDU) -> bool:
    """True for image HDUs (plain or tile-compressed) with at least 2 non-empty axes."""
    if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
        return False
    h = hdu.header
    naxis = int(h.get("NAXIS", 0) or 0)
    if naxis < 2:
        return False
    return all(int(h.get(f"NAXIS{i}", 0) or 0) > 0 for i in range(1, naxis + 1))


def _find_image_hdu(hdul: fits.HDUList) -> int:
    """Index of the primary HDU or the first image extension holding 2-D (or more) data."""
    i = 0
    tables = 0
    while True:
        try:
            hdu = hdul[i]
        except IndexError:
            break
        if _is_image(hdu):
            _check_scaling(hdu.header)
            return i
        tables += isinstance(hdu, fits.BinTableHDU | fits.TableHDU)
        i += 1
    if tables:
        raise FitsReadError(f"no image: the file holds {tables} table(s) only")
    raise FitsReadError("no image data (no HDU with a 2-D image)")


def _check_scaling(h: fits.Header) -> None:
    """Raise when BITPIX, BZERO or BSCALE cannot give pixel values."""
    bitpix = h.get("BITPIX")
    if isinstance(bitpix, bool) or bitpix not in _BITPIX:
        raise FitsReadError(
            f"BITPIX = {bitpix} is not a FITS pixel type (8, 16, 32, 64, -32 or -64)"
        )
    for key in ("BZERO", "BSCALE"):
        value = h.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise FitsReadError(f"{key} = {value!r} is not a number")
    if h.get("BSCALE") == 0:
        raise FitsReadError("BSCALE = 0 would make every pixel the same value")


def image_hdu_count(path: str | os.PathLike[str]) -> int:
    """Number of HDUs with image data, to warn about unassembled amplifier mosaics."""
    with quiet(), _open(Path(path)) as hdul:
        return sum(1 for hdu in hdul if _is_image(hdu))


def _is_scaled(hdu: fits.hdu.base._BaseHDU) -> bool:
    """True for image HDUs whose pixels need BZERO/BSCALE/BLANK applied.

    Tile-compressed images count too: astropy 8 refuses to decompress scaled
    integers (e.g. Rice-compressed unsigned 16-bit frames) from a memory map.
    """
    h = hdu.header
    return any(k in h for k in ("BZERO", "BSCALE", "BLANK"))


def _merged_header(hdul: fits.HDUList, index: int) -> fits.Header:
    """The image HDU's header, completed by the primary header's cards.

    Multi-extension cameras (LCO Sinistro, mosaics) keep the observation facts
    (DATE-OBS, OBJECT, ...) in the primary header and the per-amplifier facts
    (GAIN, SATURATE) in each extension; the FITS INHERIT convention says the
    extension's own cards win.
    """
    header = hdul[index].header.copy()
    if index == 0:
        return clean_header(header)
    structural = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "XTENSION"}
    for card in hdul[0].header.cards:
        key = card.keyword
        if not key or key in ("COMMENT", "HISTORY") or key in structural:
            continue
        if key.startswith("NAXIS") or key in header:
            continue
        header.append(card, end=True)
    return clean_header(header)


def read_header(path: str | os.PathLike[str]) -> tuple[fits.Header, int]:
    """Read the header of a file's image HDU without reading its pixels.

    Parameters
    ----------
    path : str or path-like
        A FITS file, possibly ``.gz``/``.bz2`` compressed or tile-compressed.

    Returns
    -------
    header : astropy.io.fits.Header
        The image HDU's header; for an extension, completed by the primary
        header's cards that the extension does not set.
    hdu : int
        Index of the image HDU in the file.

    Raises
    ------
    FitsReadError
        When the file is missing, empty, not FITS, or has no 2-D image.
    """
    p = Path(path)
    if _is_raw(p):
        from .rawfile import read_raw_header

        return read_raw_header(p), 0
    # Non-standard cards (ESO-LOG, MIDAS) make astropy warn at parse time; they
    # are harmless for us and must not become errors under strict warning filters.
    with quiet():
        with _open(p) as hdul:
            try:
                index = _find_image_hdu(hdul)
                return _merged_header(hdul, index), index
            except FitsReadError:
                raise
            except Exception as exc:  # noqa: BLE001 - corrupt headers raise anything
                raise FitsReadError(f"corrupt FITS header ({type(exc).__name__}: {exc})") from exc


def _short_file(p: Path, hdul: fits.HDUList, index: int) -> str | None:
    """The truncation message when an uncompressed file is shorter than its header says."""
    if p.name.lower().endswith((".gz", ".bz2", ".zip")):
        return None
    hdu = hdul[index]
    # hdul.fileinfo would format the whole header again, which raises on a card
    # astropy cannot parse; the data's offset and size are all that is needed.
    offset = getattr(hdu, "_data_offset", None)
    if offset is None or isinstance(hdu, fits.CompImageHDU):
        return None
    expected = int(offset) + int(hdu.size)
    actual = p.stat().st_size
    if actual < expected:
        return f"truncated file: {actual} bytes, the header needs {expected}"
    return None


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def _too_large(header: fits.Header) -> str | None:
    """A message when the image the header claims could not be held in memory.

    A compressed file's header may claim any size; it is compared with the
    computer's memory (in float64, as photometry reads it) before a byte is
    allocated.
    """
    dims = [int(header.get(f"NAXIS{i}", 0) or 0) for i in (1, 2)]
    claimed = dims[0] * dims[1] * 8
    if claimed > _physical_memory() // 2:
        gib = claimed / (1 << 30)
        return (
            f"the header claims a {dims[0]} x {dims[1]} image ({gib:.1f} GiB as numbers), "
            "more than this computer can hold"
        )
    return None


def truncation_problem(path: str | os.PathLike[str], hdu: int) -> str | None:
    """A one-line message when the file is shorter than its header promises.

    Only uncompressed files are checked: it costs one ``stat`` and no pixel read.
    """
    p = Path(path)
    if _is_raw(p):
        return None  # LibRaw says what is wrong with a raw file when it reads it
    with quiet(), _open(p) as hdul:
        return _short_file(p, hdul, hdu)


def read_image(
    path: str | os.PathLike[str],
    hdu: int | None = None,
    dtype: np.dtype | type | None = np.float32,
) -> np.ndarray:
    """Read a 2-D image in native byte order.

    Parameters
    ----------
    path : str or path-like
        The FITS file.
    hdu : int, optional
        HDU index; by default the one :func:`read_header` finds.
    dtype : numpy dtype, optional
        Output type (default float32, exact for 16-bit cameras). ``None`` keeps
        the file's type after BZERO/BSCALE (e.g. uint16), in native byte order.

    Returns
    -------
    numpy.ndarray
        A 2-D array that owns its memory (the file is closed on return).

    Raises
    ------
    FitsReadError
        When the file cannot be read, is truncated, or the image is not 2-D.
    """
    return read_frame(path, hdu, dtype)[0]


def read_frame(
    path: str | os.PathLike[str],
    hdu: int | None = None,
    dtype: np.dtype | type | None = np.float32,
) -> tuple[np.ndarray, fits.Header, int]:
    """A frame's pixels and header, opening the file once (twice for scaled integers).

    What :func:`read_header` and :func:`read_image` give together, for a
    caller that needs both (each of those opens the file on its own). Plain
    floating-point data is read through a memory map (several times faster
    than reading it in); scaled integers (uint16 with BZERO), which astropy
    cannot map, are read in by a second open, as :func:`read_image` does.

    Parameters
    ----------
    path : str or path-like
        The FITS file.
    hdu : int, optional
        HDU index; by default the first image HDU.
    dtype : numpy dtype, optional
        As :func:`read_image`.

    Returns
    -------
    data : numpy.ndarray
        As :func:`read_image`.
    header : astropy.io.fits.Header
        As :func:`read_header` (an extension's completed by the primary's cards).
    hdu : int
        Index of the image HDU.

    Raises
    ------
    FitsReadError
        When the file cannot be read, is truncated, or the image is not 2-D.
    """
    p = Path(path)
    if _is_raw(p):
        from .rawfile import read_raw

        data, header = read_raw(p)
        target = data.dtype if dtype is None else np.dtype(dtype)
        return data.astype(target, copy=False), header, 0
    with quiet():
        hdul = _open(p)
    try:
        with quiet():
            index = _find_image_hdu(hdul) if hdu is None else int(hdu)
            image_hdu = _hdu(hdul, index)
            try:
                header = _merged_header(hdul, index)
            except Exception as exc:  # noqa: BLE001 - corrupt headers raise anything
                raise FitsReadError(f"corrupt FITS header ({type(exc).__name__}: {exc})") from exc
            # The sizes the header claims are checked before any pixel is allocated.
            problem = _too_large(image_hdu.header) or _short_file(p, hdul, index)
            if problem is not None:
                raise FitsReadError(problem)
        if _is_scaled(image_hdu):
            # astropy refuses to memory-map scaled integers (its sections too):
            # they are read in by a second open; the header is kept from the first.
            hdul.close()
            with quiet():
                hdul = _open(p, memmap=False)
                image_hdu = _hdu(hdul, index)
        return _pixels(image_hdu, index, dtype), header, index
    finally:
        hdul.close()


def _hdu(hdul: fits.HDUList, index: int) -> fits.hdu.base._BaseHDU:
    try:
        return hdul[index]
    except IndexError as exc:
        raise FitsReadError(f"no HDU {index} in file") from exc


def _pixels(
    image_hdu: fits.hdu.base._BaseHDU, index: int, dtype: np.dtype | type | None
) -> np.ndarray:
    """The HDU's 2-D pixels as an array that owns its memory, in native byte order."""
    # Pixels are read outside the warnings lock so that threads read in parallel.
    try:
        data = image_hdu.data
    except (TypeError, ValueError, OSError, EOFError) as exc:
        # A short file makes numpy complain that the buffer is too small.
        raise FitsReadError(f"cannot read pixels, file truncated? ({exc})") from exc
    except MemoryError as exc:
        raise FitsReadError("not enough memory to read the image") from exc
    except Exception as exc:  # noqa: BLE001 - cfitsio's decompression errors have their own type
        if isinstance(image_hdu, fits.CompImageHDU):
            raise FitsReadError(f"the compressed image is damaged ({exc})") from exc
        raise FitsReadError(f"cannot read pixels ({type(exc).__name__}: {exc})") from exc
    if data is None:
        raise FitsReadError(f"HDU {index} has no data")
    if data.ndim != 2:
        raise FitsReadError(f"image has {data.ndim} dimensions {data.shape}; a 2-D frame is needed")
    target = data.dtype.newbyteorder("=") if dtype is None else np.dtype(dtype)
    # np.array (not asarray) copies out of the memory map so the result
    # stays valid after the file is closed, and converts byte order.
    return np.array(data, dtype=target, order="C", copy=True)


def card_float(value: Any) -> float | None:
    """A card value as a finite float (``53.9``, ``'53.9'``, ``'1.2D3'``), else None.

    Booleans are not numbers here: ``T`` is not 1.
    """
    if isinstance(value, bool):
        return None
    try:
        f = float(value.strip().replace("D", "E")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _coerce_numeric_cards(header: fits.Header) -> fits.Header:
    """A copy of ``header`` in which string-valued WCS number cards become floats."""
    fixed = header.copy()
    for card in header.cards:
        key = card.keyword
        if not isinstance(card.value, str) or not key.startswith(_WCS_NUMERIC_PREFIXES):
            continue
        if key.startswith("EPOCH") and not card.value.strip():
            continue
        try:
            fixed[key] = float(card.value.strip().replace("D", "E"))
        except ValueError:
            continue
    return fixed


def read_wcs(header: fits.Header) -> WCS | None:
    """The celestial WCS of a header, or None when it has none.

    String-valued numeric cards are coerced first (``CRVAL1 = '123.4'``);
    non-celestial or broken WCS give None rather than a WCS that maps every
    pixel to (0, 0).

    Parameters
    ----------
    header : astropy.io.fits.Header
        An image header.

    Returns
    -------
    astropy.wcs.WCS or None
        A 2-D celestial WCS (SIP distortion kept), or None.
    """
    fixed = _coerce_numeric_cards(header)
    ctypes = [str(fixed.get(f"CTYPE{i}", "")).upper() for i in (1, 2)]
    if not any(c.startswith(("RA", "DEC", "GLON", "GLAT", "ELON", "ELAT")) for c in ctypes):
        return None
    try:
        # FITSFixedWarning reports fixes of old DATE-OBS forms etc.; harmless.
        with quiet(FITSFixedWarning), quiet(fits.verify.VerifyWarning):
            wcs = WCS(fixed, naxis=2, relax=True)
    except Exception as exc:  # noqa: BLE001 - malformed WCS raises many types
        log.info("WCS not usable: %s", exc)
        return None
    if not wcs.has_celestial:
        return None
    cel = wcs.celestial
    if not np.all(np.isfinite(cel.wcs.crval)) or np.linalg.det(cel.pixel_scale_matrix) == 0:
        return None
    return cel


def _temp_beside(path: Path) -> tuple[int, str]:
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


def _write_atomically(dest: Path, write: Callable[[IO], None], mode: str, **open_kw) -> Path:
    """Run ``write`` on a temporary file beside ``dest``, then replace ``dest`` with it.

    The one code path of every product writer: a crash or an error leaves the
    old file (or none) in place, never a half-written one.
    """
    fd, tmp = _temp_beside(dest)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
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
        Cards to write with it.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    hdu = fits.PrimaryHDU(
        data=None if data is None else np.asarray(data), header=writable_header(header)
    )
    return _write_atomically(Path(path), hdu.writeto, "wb")


def atomic_write_hdulist(path: str | os.PathLike[str], hdulist: fits.HDUList) -> Path:
    """Write a multi-extension FITS file atomically (temporary file, then replace).

    Parameters
    ----------
    path : str or path-like
        Destination; an existing file is replaced in one step. Missing
        folders are created.
    hdulist : astropy.io.fits.HDUList
        Primary HDU and extensions (e.g. a calibrated image and its ``MASK``).

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    # A header copied from a raw frame may carry cards astropy refuses to write.
    for hdu in hdulist:
        repair_in_place(hdu.header)
    return _write_atomically(Path(path), hdulist.writeto, "wb")


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
    import io

    buf = io.StringIO()
    with quiet():
        table.write(buf, format="ascii.ecsv")
    return atomic_write_text(path, buf.getvalue())
