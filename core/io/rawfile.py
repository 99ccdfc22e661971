"""DSLR and mirrorless raw files (CR2, CR3, NEF, ARW, DNG, ...) read as frames like any FITS.

A camera's raw file holds the sensor's colour-filter-array mosaic as it was
read out. LibRaw, through rawpy, decodes every maker's format; this module
turns what it gives into the frame Fluxion reads from a FITS file: the
mosaic's visible area (the masked border of optical-black pixels left
out) as counts, black level included as a FITS camera's bias is, and a
header of the cards the rest of Fluxion reads:

* ``BAYERPAT`` from the file's colour pattern of the first visible row
  (``ROWORDER = 'TOP-DOWN'``: the array's row 0 is the sensor's top row);
* ``BLKLEVEL`` (the black level, a mean of the channels' when they differ)
  and ``SATURATE`` (LibRaw's white level: the largest count);
* ``EXPTIME`` (s) and ``ISOSPEED`` from EXIF, ``INSTRUME`` (make and model);
* ``DATE-OBS``: EXIF's DateTimeOriginal, when the exposure began by the
  camera's clock, to the second. Cameras keep no time zone; the clock is
  taken to be UTC (set the camera's clock to UTC for timing work), which the
  card's comment says.

Only 2 x 2 Bayer sensors are frames here: Fujifilm's X-Trans (6 x 6) and
Foveon sensors are refused with the reason, as are files LibRaw cannot read.
The white balance and colour matrices are never applied: photometry works
on the counts (:mod:`fluxion.core.photometry.channels`).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from .cards import fits_text

__all__ = ["RAW_SUFFIXES", "is_raw_name", "read_raw", "read_raw_header"]

#: File name endings of camera raw formats (compared lower-case).
RAW_SUFFIXES = (
    ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".orf",
    ".rw2", ".raf", ".pef", ".srw", ".erf", ".kdc", ".mrw", ".3fr", ".iiq", ".x3f",
)  # fmt: skip


def is_raw_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name has a camera raw suffix (any case)."""
    return str(path).lower().endswith(RAW_SUFFIXES)


def _open(path: Path):
    from .fitsio import FitsReadError, file_problem

    try:
        import rawpy
    except ImportError as exc:  # a broken install: rawpy is a dependency
        raise FitsReadError("camera raw files need the rawpy package (pip install rawpy)") from exc
    problem = file_problem(path)
    if problem:
        raise FitsReadError(problem)
    if path.stat().st_size == 0:
        raise FitsReadError("empty file (0 bytes)")
    try:
        return rawpy.imread(str(path))
    except Exception as exc:  # noqa: BLE001 - LibRaw raises its own error types
        raise FitsReadError(
            f"not a raw file LibRaw can read ({type(exc).__name__}: {exc})"
        ) from exc


def _pattern(raw) -> str:
    """The 2 x 2 colour pattern of the visible mosaic's first rows and columns."""
    from .fitsio import FitsReadError

    desc = raw.color_desc.decode("ascii", "replace")
    colors = np.asarray(raw.raw_colors_visible)
    if colors.ndim != 2 or colors.shape[0] < 6 or colors.shape[1] < 6:
        raise FitsReadError("no colour-filter-array mosaic in the raw file")
    block = colors[:2, :2]
    # A Bayer sensor repeats its 2 x 2 block; X-Trans repeats 6 x 6.
    tiled = np.tile(block, (3, 3))
    if not np.array_equal(colors[:6, :6], tiled):
        raise FitsReadError(
            "the sensor's colour filter array is not a 2x2 Bayer pattern "
            "(X-Trans?); it cannot be measured by channel"
        )
    letters = "".join(desc[int(c)] if int(c) < len(desc) else "?" for c in block.ravel())
    if sorted(letters) != ["B", "G", "G", "R"]:
        raise FitsReadError(f"the raw file's colour pattern {letters!r} is not red, green, blue")
    return letters


def _header(raw, path: Path) -> fits.Header:
    from .cfa import set_cfa_cards

    ny, nx = int(raw.sizes.height), int(raw.sizes.width)
    h = fits.Header()
    h["NAXIS"] = 2
    h["NAXIS1"] = nx
    h["NAXIS2"] = ny
    h["BITPIX"] = 16
    other = raw.other
    h["EXPTIME"] = (float(other.shutter_speed), "[s] exposure time (EXIF)")
    if other.iso_speed:
        h["ISOSPEED"] = (float(other.iso_speed), "ISO setting (EXIF)")
    stamp = other.timestamp
    if isinstance(stamp, _dt.datetime) and stamp.year > 1970:
        h["DATE-OBS"] = (
            stamp.strftime("%Y-%m-%dT%H:%M:%S"),
            "exposure start, camera clock taken as UTC",
        )
    black = [float(b) for b in raw.black_level_per_channel]
    h["BLKLEVEL"] = (float(np.mean(black)), "[adu] black level (LibRaw)")
    h["SATURATE"] = (float(raw.white_level), "[adu] white level (LibRaw)")
    if other.focal_length:
        h["FOCALLEN"] = (float(other.focal_length), "[mm] focal length (EXIF)")
    h["IMAGETYP"] = "Light Frame"
    h["RAWFILE"] = (fits_text(path.name), "camera raw file read through LibRaw")
    h["ROWORDER"] = ("TOP-DOWN", "row 0 is the sensor's top row")
    set_cfa_cards(h, _pattern(raw), ny)
    return h


def read_raw_header(path: str | os.PathLike[str]) -> fits.Header:
    """The header of a raw file as :func:`read_raw` gives it, without keeping the pixels.

    Raises
    ------
    fluxion.core.io.fitsio.FitsReadError
        When the file is missing, unreadable or not a Bayer mosaic.
    """
    with _open(Path(path)) as raw:
        return _header(raw, Path(path))


def read_raw(path: str | os.PathLike[str]) -> tuple[np.ndarray, fits.Header]:
    """A raw file's visible mosaic (uint16 counts, row 0 the sensor's top) and its header.

    Raises
    ------
    fluxion.core.io.fitsio.FitsReadError
        When the file is missing, unreadable or not a Bayer mosaic.
    """
    from .fitsio import FitsReadError

    p = Path(path)
    with _open(p) as raw:
        try:
            data = np.array(raw.raw_image_visible, dtype=np.uint16, order="C", copy=True)
        except Exception as exc:  # noqa: BLE001 - LibRaw raises its own error types
            raise FitsReadError(
                f"cannot unpack the raw file ({type(exc).__name__}: {exc})"
            ) from exc
        if data.ndim != 2:
            raise FitsReadError(
                f"the raw image has shape {data.shape}: not a single-plane colour mosaic (Foveon?)"
            )
        header = _header(raw, p)
        if (header["NAXIS2"], header["NAXIS1"]) != data.shape:
            raise FitsReadError(f"the raw file's visible area is not its {data.shape} pixels")
    return data, header
