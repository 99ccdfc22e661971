"""A DSLR raw file of a simulated frame: an uncompressed Adobe DNG of the Bayer mosaic.

Cameras write their own raw formats (CR2, NEF, ARW); DNG is the one with an
open specification (Adobe DNG 1.4) that LibRaw reads as it reads them, so a
simulated colour light written as a DNG goes through the same reader
(:mod:`fluxion.core.io.rawfile`) as a camera's file. The file holds what a
camera's does and nothing more: the 16-bit mosaic as the sensor gave it
(black level included), the colour pattern, black and white levels, make and
model, and in its EXIF directory the exposure time, ISO and the time the
exposure began (local camera time, to the second, as cameras keep it).

No TIFF library is a dependency of the project, and the file is a few tags
around one strip of pixels, so it is written here with :mod:`struct`.
"""

from __future__ import annotations

import datetime as _dt
import os
import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..io.cfa import normalise_pattern

__all__ = ["write_dng"]

# TIFF field types.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZES = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SRATIONAL: 8}
_CFA_CODES = {"R": 0, "G": 1, "B": 2}


def _pack_values(kind: int, values) -> bytes:
    if kind == _ASCII:
        return values.encode("ascii") + b"\0"
    if kind == _BYTE:
        return bytes(values)
    if kind == _SHORT:
        return struct.pack(f"<{len(values)}H", *values)
    if kind == _LONG:
        return struct.pack(f"<{len(values)}I", *values)
    out = b""
    for v in values:  # (numerator, denominator)
        out += struct.pack("<ii" if kind == _SRATIONAL else "<II", *v)
    return out


def _ifd(entries: Sequence[tuple[int, int, object]], offset: int) -> tuple[bytes, bytes]:
    """An IFD at ``offset`` (its tags sorted) and the out-of-line values that follow it."""
    entries = sorted(entries, key=lambda e: e[0])
    head = struct.pack("<H", len(entries))
    extra = b""
    extra_at = offset + 2 + 12 * len(entries) + 4
    for tag, kind, values in entries:
        data = _pack_values(kind, values)
        count = len(data) // _SIZES[kind]
        if len(data) <= 4:
            head += struct.pack("<HHI", tag, kind, count) + data.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, kind, count, extra_at + len(extra))
            extra += data + (b"\0" if len(data) % 2 else b"")
    return head + struct.pack("<I", 0), extra


def write_dng(
    path: str | os.PathLike[str],
    mosaic: np.ndarray,
    pattern: str,
    *,
    black_level: int,
    white_level: int,
    exptime: float,
    iso: int,
    start: _dt.datetime,
    make: str = "Fluxion",
    model: str = "Simulated DSLR",
) -> Path:
    """Write ``mosaic`` (rows top-down, uint16 counts) as an uncompressed DNG.

    Parameters
    ----------
    path : path-like
        The file to write (``.dng``).
    mosaic : ndarray (ny, nx)
        The sensor's counts, black level included; clipped to 0..65535.
    pattern : str
        The Bayer pattern of the first row ('RGGB', ...).
    black_level, white_level : int
        The sensor's black level and saturation (counts).
    exptime : float
        Exposure (s).
    iso : int
        ISO setting.
    start : datetime
        Start of the exposure as the camera's clock has it (no time zone).
    make, model : str
        The camera.

    Returns
    -------
    Path
    """
    p = normalise_pattern(pattern)
    if p is None:
        raise ValueError(f"not a 2x2 Bayer pattern: {pattern!r}")
    data = np.clip(np.rint(np.asarray(mosaic, dtype=np.float64)), 0, 65535).astype("<u2")
    ny, nx = data.shape
    stamp = start.strftime("%Y:%m:%d %H:%M:%S")
    shutter = Fraction(exptime).limit_denominator(100000)
    exif = [
        (33434, _RATIONAL, [(shutter.numerator, shutter.denominator)]),
        (34855, _SHORT, [int(iso)]),
        (36867, _ASCII, stamp),
    ]
    main = [
        (254, _LONG, [0]),
        (256, _LONG, [nx]),
        (257, _LONG, [ny]),
        (258, _SHORT, [16]),
        (259, _SHORT, [1]),
        (262, _SHORT, [32803]),  # colour filter array
        (271, _ASCII, make),
        (272, _ASCII, model),
        (273, _LONG, [0]),  # strip offset, set below
        (274, _SHORT, [1]),
        (277, _SHORT, [1]),
        (278, _LONG, [ny]),
        (279, _LONG, [data.nbytes]),
        (284, _SHORT, [1]),
        (306, _ASCII, stamp),
        (33421, _SHORT, [2, 2]),
        (33422, _BYTE, [_CFA_CODES[c] for c in p]),
        (34665, _LONG, [0]),  # EXIF directory, set below
        (50706, _BYTE, [1, 4, 0, 0]),
        (50708, _ASCII, f"{make} {model}"),
        (50714, _LONG, [int(black_level)]),
        (50717, _LONG, [int(white_level)]),
        # An identity-like colour matrix (sRGB D65): the reader needs one, the
        # photometry never uses it.
        (
            50721,
            _SRATIONAL,
            [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)],
        ),
        (50778, _SHORT, [21]),
    ]

    def layout(strip_at: int, exif_at: int) -> tuple[bytes, bytes]:
        entries = [
            (t, k, [strip_at] if t == 273 else [exif_at] if t == 34665 else v) for t, k, v in main
        ]
        return _ifd(entries, 8)

    head, extra = layout(0, 0)
    exif_at = 8 + len(head) + len(extra)
    exif_head, exif_extra = _ifd(exif, exif_at)
    strip_at = exif_at + len(exif_head) + len(exif_extra)
    strip_at += strip_at % 2
    head, extra = layout(strip_at, exif_at)
    blob = b"II*\0" + struct.pack("<I", 8) + head + extra + exif_head + exif_extra
    blob = blob.ljust(strip_at, b"\0") + data.tobytes()
    out = Path(path)
    out.write_bytes(blob)
    return out
