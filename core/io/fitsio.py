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
* The atomic product writers (:func:`atomic_write_fits`,
  :func:`atomic_write_hdulist`, :func:`atomic_write_text`, ...) live in
  :mod:`.atomic` and are re-exported here. Input files are never modified.

Problems are raised as :class:`FitsReadError` with a one-line, user-facing
message, which the checks of :mod:`.fitscheck` (file type, damaged or
truncated files, impossible sizes) word; the scanner turns them into
per-frame problems.
"""

from __future__ import annotations

import logging
import math
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..runtime.quiet import quiet
from .atomic import (
    atomic_write_bytes,
    atomic_write_ecsv,
    atomic_write_fits,
    atomic_write_hdulist,
    atomic_write_header,
    atomic_write_text,
)
from .cards import clean_header
from .fitscheck import (
    file_problem,
    open_problem,
    physical_memory,
    scaling_problem,
    short_file_problem,
    size_problem,
)

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
    "count_images",
    "open_image",
    "truncation_problem",
    "atomic_write_fits",
    "atomic_write_header",
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


# Called through this module's name when a frame is read, so that the size check
# can be tried with a small memory (tests/core/test_malformed_inputs.py).
_physical_memory = physical_memory


class FitsReadError(ValueError):
    """A file that cannot be used as an image; the message is one line for the user."""


def is_fits_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a FITS suffix (case-insensitive, compressed too)."""
    return str(path).lower().endswith(FITS_SUFFIXES)


def is_frame_name(path: str | os.PathLike[str]) -> bool:
    """True for the files a folder scan takes: FITS names and camera raw files (CR2, NEF...)."""
    from .rawfile import is_raw_name

    return is_fits_name(path) or is_raw_name(path)


def _is_raw(path: Path) -> bool:
    """A camera raw file, read through LibRaw (:mod:`.rawfile`) rather than astropy."""
    from .rawfile import is_raw_name

    return is_raw_name(path)


def _open(path: Path, memmap: bool | None = True) -> fits.HDUList:
    """Open lazily (memory-mapped by default), turning low-level failures into one line.

    ``memmap=None`` maps the file but lets astropy read scaled integers
    (BZERO/BSCALE/BLANK) out of the map, which ``True`` refuses.
    """
    problem = file_problem(path)
    if problem is not None:
        raise FitsReadError(problem)
    try:
        return fits.open(path, memmap=memmap, lazy_load_hdus=True, mode="readonly")
    except Exception as exc:  # noqa: BLE001 - corrupt files raise anything
        message = open_problem(path, exc)
        # astropy leaves the file it opened referenced from the traceback's frames;
        # freeing them closes it now, not at a later garbage collection (which
        # warns about an unclosed file in whatever code runs then).
        with quiet(ResourceWarning):
            traceback.clear_frames(exc.__traceback__)
    raise FitsReadError(message)


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
            problem = scaling_problem(hdu.header)
            if problem is not None:
                raise FitsReadError(problem)
            return i
        tables += isinstance(hdu, fits.BinTableHDU | fits.TableHDU)
        i += 1
    if tables:
        raise FitsReadError(f"no image: the file holds {tables} table(s) only")
    raise FitsReadError("no image data (no HDU with a 2-D image)")


def count_images(hdul: fits.HDUList) -> int:
    """Number of HDUs of an open file with image data (unassembled amplifier mosaics)."""
    with quiet():
        return sum(1 for hdu in hdul if _is_image(hdu))


def image_hdu_count(path: str | os.PathLike[str]) -> int:
    """Number of HDUs with image data, to warn about unassembled amplifier mosaics."""
    with quiet(), _open(Path(path)) as hdul:
        return count_images(hdul)


#: Header cards that name a part of an HDU's own pixels.
_PIXEL_SECTIONS = ("TRIMSEC", "DATASEC", "BIASSEC", "DETSEC", "CCDSEC")


def _merged_header(hdul: fits.HDUList, index: int) -> fits.Header:
    """The image HDU's header, completed by the primary header's cards.

    Multi-extension cameras (LCO Sinistro, mosaics) keep the observation facts
    (DATE-OBS, OBJECT, ...) in the primary header and the per-amplifier facts
    (GAIN, SATURATE) in each extension; the FITS INHERIT convention says the
    extension's own cards win.

    Pixel sections (TRIMSEC, DATASEC, BIASSEC, DETSEC, CCDSEC) are places in an
    HDU's own pixels: an extension that names any of its own (an amplifier's
    DATASEC and BIASSEC) takes none of the primary's, which describe the whole
    detector (a Sinistro's primary TRIMSEC [1:1024,1:1024] lies outside each
    544x522 amplifier).
    """
    header = hdul[index].header.copy()
    if index == 0:
        return clean_header(header)
    skip = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "XTENSION"}
    if any(key in header for key in _PIXEL_SECTIONS):
        skip.update(_PIXEL_SECTIONS)
    for card in hdul[0].header.cards:
        key = card.keyword
        if not key or key in ("COMMENT", "HISTORY") or key in skip:
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
    with open_image(path) as (header, index, _):
        return header, index


@contextmanager
def open_image(
    path: str | os.PathLike[str],
) -> Iterator[tuple[fits.Header, int, fits.HDUList | None]]:
    """A file's image header, opened once and kept open for further checks.

    What :func:`read_header` gives, plus the open (memory-mapped) HDU list, so
    that a caller checking the file (truncation, a pixel sample, the number of
    image extensions) does not open it again. Closed on leaving the block.

    Parameters
    ----------
    path : str or path-like
        A FITS file, possibly compressed, or a camera raw file.

    Yields
    ------
    header : astropy.io.fits.Header
        As :func:`read_header`.
    hdu : int
        Index of the image HDU.
    hdul : astropy.io.fits.HDUList or None
        The open file; None for a camera raw file (LibRaw has no HDUs).

    Raises
    ------
    FitsReadError
        As :func:`read_header`, on entering the block.
    """
    p = Path(path)
    if _is_raw(p):
        from .rawfile import read_raw_header

        yield read_raw_header(p), 0, None
        return
    # Non-standard cards (ESO-LOG, MIDAS) make astropy warn at parse time; they
    # are harmless for us and must not become errors under strict warning filters.
    with quiet():
        hdul = _open(p)
    try:
        with quiet():
            try:
                index = _find_image_hdu(hdul)
                header = _merged_header(hdul, index)
            except FitsReadError:
                raise
            except Exception as exc:  # noqa: BLE001 - corrupt headers raise anything
                raise FitsReadError(f"corrupt FITS header ({type(exc).__name__}: {exc})") from exc
        yield header, index, hdul
    finally:
        hdul.close()


def truncation_problem(path: str | os.PathLike[str], hdu: int) -> str | None:
    """A one-line message when the file is shorter than its header promises.

    Only uncompressed files are checked: it costs one ``stat`` and no pixel read.
    """
    p = Path(path)
    if _is_raw(p):
        return None  # LibRaw says what is wrong with a raw file when it reads it
    with quiet(), _open(p) as hdul:
        return short_file_problem(p, hdul, hdu)


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
    """A frame's pixels and header, opening the file once.

    What :func:`read_header` and :func:`read_image` give together, for a
    caller that needs both (each of those opens the file on its own). The
    pixels are read through a memory map (several times faster than reading
    plain floating-point data in); scaled integers (uint16 with BZERO) are
    scaled by astropy out of the same map, as fast as reading them in.

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
        # One open for header and pixels: memmap=None, not True, so that astropy
        # scales integers out of the map instead of asking for a second open.
        hdul = _open(p, memmap=None)
    try:
        with quiet():
            index = _find_image_hdu(hdul) if hdu is None else int(hdu)
            image_hdu = _hdu(hdul, index)
            try:
                header = _merged_header(hdul, index)
            except Exception as exc:  # noqa: BLE001 - corrupt headers raise anything
                raise FitsReadError(f"corrupt FITS header ({type(exc).__name__}: {exc})") from exc
            # The sizes the header claims are checked before any pixel is allocated.
            problem = size_problem(image_hdu.header, _physical_memory()) or short_file_problem(
                p, hdul, index
            )
            if problem is not None:
                raise FitsReadError(problem)
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
        unsigned = _unsigned16(image_hdu, dtype)
        if unsigned is not None:
            return unsigned
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


def _unsigned16(
    image_hdu: fits.hdu.base._BaseHDU, dtype: np.dtype | type | None
) -> np.ndarray | None:
    """A 16-bit unsigned camera's pixels (BITPIX 16, BZERO 32768) as floats; None for others.

    astropy makes such a frame unsigned by adding 32768 to a copy of the
    signed integers, which is then converted again to the floats asked for.
    Adding 32768 to a 16-bit two's complement number is flipping its top bit:
    the unsigned integers come from one XOR of the raw values (read as astropy
    reads them), and the floats from those, the same numbers in one pass less.
    """
    if dtype is None or np.dtype(dtype).kind != "f":
        return None
    if type(image_hdu) not in (fits.PrimaryHDU, fits.ImageHDU):
        return None
    h = image_hdu.header
    bzero, bscale = h.get("BZERO"), h.get("BSCALE", 1)
    if h.get("BITPIX") != 16 or "BLANK" in h or h.get("NAXIS") != 2:
        return None
    if isinstance(bzero, bool) or bzero != 32768 or isinstance(bscale, bool) or bscale != 1:
        return None
    offset = getattr(image_hdu, "_data_offset", None)
    if offset is None or image_hdu.shape != (h["NAXIS2"], h["NAXIS1"]):
        return None
    # astropy's own raw read (a view of the memory map for a plain file).
    raw = image_hdu._get_raw_data(image_hdu.shape, ">u2", offset)
    if raw is None:
        return None
    return np.bitwise_xor(raw, np.uint16(0x8000)).astype(dtype, order="C")


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
    """``header``, or when a WCS number card holds a string, a copy with it as a float.

    The copy is made only when a card needs it: most headers have none, and
    copying one parses every card.
    """
    fixes: dict[str, float] = {}
    for card in header.cards:
        key = card.keyword
        if not key.startswith(_WCS_NUMERIC_PREFIXES):
            continue
        value = card.value
        if not isinstance(value, str) or (key.startswith("EPOCH") and not value.strip()):
            continue
        try:
            fixes[key] = float(value.strip().replace("D", "E"))
        except ValueError:
            continue
    if not fixes:
        return header
    fixed = header.copy()
    for key, number in fixes.items():
        fixed[key] = number
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
    ctypes = [str(header.get(f"CTYPE{i}", "")).upper() for i in (1, 2)]
    if not any(c.startswith(("RA", "DEC", "GLON", "GLAT", "ELON", "ELAT")) for c in ctypes):
        return None
    fixed = _coerce_numeric_cards(header)
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
