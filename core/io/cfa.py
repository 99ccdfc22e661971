"""Colour-filter-array (Bayer) frames: the pattern of the stored pixels and each channel's grid.

One-shot-colour cameras (``BAYERPAT = 'GRBG'``, 'RGGB', ...) put a red, two
green and a blue filter over each 2 x 2 block of pixels. The pattern names
the block's colours row by row from the first pixel: ``GRBG`` is green, red
on the first row and blue, green on the second.

What a header says needs three corrections before it describes the array as
Fluxion reads it (row 0 first, ``data[y, x]``):

* ``XBAYROFF``/``YBAYROFF`` (INDI, SharpCap; ``BAYOFFX``/``BAYOFFY`` in
  N.I.N.A.): the pattern starts that many columns/rows later (a subframe
  read from an odd row).
* ``ROWORDER = 'BOTTOM-UP'``: the writer gave the pattern for the image read
  top-down but stored its rows bottom-up, so the array's first row is the
  image's last one (Siril's and CCDCiel's convention, which N.I.N.A.,
  SharpCap, KStars, PixInsight and ASTAP follow). Without the card, and with
  ``'TOP-DOWN'``, the pattern is that of the first stored row: the Seestar
  S50 writes no ROWORDER and its two greens (the pixels of equal level on the
  sky) are where ``GRBG`` puts them in the stored rows.
* A camera profile (``resources/profiles/camera-*.json``, ``bayer_pattern``)
  gives the pattern of a colour camera that does not write one.

A frame already debayered (``NAXIS = 3``) is not a mosaic.

Channels: ``R`` and ``B``, ``G1`` (the green on the red pixels' rows) and
``G2`` (the green on the blue pixels' rows). Each is one pixel in every
2 x 2 block, a grid of its own: :func:`channel_view` gives it as an image
whose pixel (i, j) is the frame's pixel (2 i + dy, 2 j + dx).

:func:`bin_cfa` sums the two green pixels of each block: the two sit on the
block's diagonal in every pattern, so their sum is one pixel per block whose
light centre is the block's centre whatever the star's colour (a sum of all
four leans towards the red or blue pixel: a quarter of a pixel for a red
star). Positions measured on it go back to the frame's pixels through
:func:`unbinned_xy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from .fitsio import card_float

__all__ = [
    "CHANNELS",
    "PATTERNS",
    "CfaReading",
    "bin_cfa",
    "cfa_pattern",
    "channel_mask",
    "channel_offsets",
    "channel_positions",
    "channel_view",
    "normalise_pattern",
    "read_cfa",
    "set_cfa_cards",
    "shift_pattern",
    "unbinned_xy",
]

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
#: The four pixel grids of a Bayer mosaic.
CHANNELS = ("R", "G1", "G2", "B")
# Cards that name the pattern, and the offset cards in (x, y) pairs.
_PATTERN_CARDS = ("BAYERPAT", "COLORTYP", "CFATYPE")
_OFFSET_CARDS = (("XBAYROFF", "YBAYROFF"), ("BAYOFFX", "BAYOFFY"))


def normalise_pattern(value: object) -> str | None:
    """``'grbg '`` -> ``'GRBG'``; None for anything that is not a 2x2 Bayer pattern."""
    if not isinstance(value, str):
        return None
    text = value.strip().upper()
    return text if text in PATTERNS else None


def shift_pattern(pattern: str, dx: int = 0, dy: int = 0) -> str:
    """The pattern of the same mosaic read from ``dx`` columns and ``dy`` rows further on."""
    p = pattern.upper()
    if p not in PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}; one of {', '.join(PATTERNS)}")
    block = [[p[0], p[1]], [p[2], p[3]]]
    return "".join(block[(r + dy) % 2][(c + dx) % 2] for r in (0, 1) for c in (0, 1))


def channel_offsets(pattern: str) -> dict[str, tuple[int, int]]:
    """(dy, dx) of each channel's first pixel: ``R``, ``G1`` (on the red rows), ``G2``, ``B``."""
    p = shift_pattern(pattern)  # checks the name
    where = {(r, c): p[2 * r + c] for r in (0, 1) for c in (0, 1)}
    red = next(k for k, v in where.items() if v == "R")
    blue = next(k for k, v in where.items() if v == "B")
    return {
        "R": red,
        "G1": (red[0], 1 - red[1]),
        "G2": (blue[0], 1 - blue[1]),
        "B": blue,
    }


def channel_view(image: np.ndarray, pattern: str, channel: str) -> np.ndarray:
    """The pixels of one channel (``R``, ``G1``, ``G2``, ``B``) as an image of their own (a view).

    Pixel (i, j) of the result is the frame's pixel (2 i + dy, 2 j + dx) with
    (dy, dx) from :func:`channel_offsets`.
    """
    offsets = channel_offsets(pattern)
    if channel not in offsets:
        raise ValueError(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")
    dy, dx = offsets[channel]
    return np.asarray(image)[dy::2, dx::2]


def channel_mask(shape: tuple[int, int], pattern: str, channel: str) -> np.ndarray:
    """True on the pixels of ``channel``; ``G`` is both greens."""
    mask = np.zeros(shape, dtype=bool)
    names = ("G1", "G2") if channel == "G" else (channel,)
    offsets = channel_offsets(pattern)
    for name in names:
        if name not in offsets:
            raise ValueError(f"unknown channel {channel!r}; one of R, G, G1, G2, B")
        dy, dx = offsets[name]
        mask[dy::2, dx::2] = True
    return mask


@dataclass(frozen=True)
class CfaReading:
    """The Bayer pattern of a frame's stored pixels and where it came from.

    Attributes
    ----------
    pattern : str or None
        ``'RGGB'``, ``'BGGR'``, ``'GRBG'`` or ``'GBRG'`` as the array is read
        (row 0 first); None for a monochrome or debayered frame.
    source : str or None
        The cards or profile it came from, with the corrections applied
        (``"BAYERPAT 'RGGB', ROWORDER BOTTOM-UP (rows flipped)"``).
    problems : tuple of str
        Cards that could not be used.
    """

    pattern: str | None
    source: str | None = None
    problems: tuple[str, ...] = ()


def _header_pattern(header: fits.Header) -> tuple[str | None, str | None, list[str]]:
    problems: list[str] = []
    for key in _PATTERN_CARDS:
        if key not in header or not str(header[key]).strip():
            continue
        value = normalise_pattern(header[key])
        if value is None:
            # COLORTYP is also used for 'MONO' or 'RGB'; only an unknown
            # 2x2-looking value is worth a word.
            text = str(header[key]).strip().upper()
            if len(text) == 4 and set(text) <= set("RGBCMY"):
                problems.append(f"{key}={header[key]!r} is not a Bayer pattern Fluxion reads")
            continue
        return value, f"{key} {value!r}", problems
    return None, None, problems


def _offsets(header: fits.Header) -> tuple[int, int, str]:
    for kx, ky in _OFFSET_CARDS:
        x = card_float(header[kx]) if kx in header else None
        y = card_float(header[ky]) if ky in header else None
        if x is None and y is None:
            continue
        dx, dy = int(round(x or 0.0)), int(round(y or 0.0))
        said = ", ".join(f"{k}={v}" for k, v in ((kx, dx), (ky, dy)) if v % 2)
        return dx, dy, said
    return 0, 0, ""


def read_cfa(
    header: fits.Header,
    shape: tuple[int, int] | None = None,
    *,
    camera_pattern: str | None = None,
    camera_name: str | None = None,
) -> CfaReading:
    """The Bayer pattern of the stored array, from the header's cards or the camera profile.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The image header.
    shape : (ny, nx), optional
        The image shape; NAXIS2 when not given. A bottom-up frame of an odd
        number of rows keeps its pattern (its last row is an even one).
    camera_pattern, camera_name : str, optional
        The camera profile's pattern and name, used when no card gives one.
    """
    naxis = int(header.get("NAXIS", 2) or 0)
    if naxis != 2 and not (naxis == 3 and int(header.get("NAXIS3", 1) or 1) == 1):
        return CfaReading(None)
    pattern, source, problems = _header_pattern(header)
    if pattern is None:
        pattern = normalise_pattern(camera_pattern)
        if pattern is None:
            return CfaReading(None, None, tuple(problems))
        source = f"{camera_name or 'camera'} profile {pattern!r}"
    dx, dy, said = _offsets(header)
    if said:
        pattern = shift_pattern(pattern, dx, dy)
        source = f"{source}, {said}"
    order = str(header.get("ROWORDER", "")).strip().upper()
    if order == "BOTTOM-UP":
        ny = shape[0] if shape is not None else int(header.get("NAXIS2", 0) or 0)
        # The first stored row is the image's last, row ny - 1 of the pattern.
        pattern = shift_pattern(pattern, 0, ny - 1)
        if (ny - 1) % 2:
            source = f"{source}, ROWORDER BOTTOM-UP (rows flipped)"
        else:
            source = f"{source}, ROWORDER BOTTOM-UP (odd row count: unchanged)"
    elif order and order != "TOP-DOWN":
        problems.append(f"ROWORDER={header['ROWORDER']!r} is neither TOP-DOWN nor BOTTOM-UP")
    return CfaReading(pattern, source, tuple(problems))


def set_cfa_cards(header: fits.Header, pattern: str | None, ny: int) -> None:
    """Write ``pattern``, the pattern of an array of ``ny`` rows, into ``header`` (in place).

    The offset cards go (the pattern already starts where the array does)
    and BAYERPAT is written so that :func:`read_cfa` gives ``pattern`` back
    under the header's ROWORDER. ``None`` removes the pattern cards: the
    array is measured as monochrome.
    """
    for key in ("BAYERPAT", "CFATYPE", *(k for pair in _OFFSET_CARDS for k in pair)):
        header.remove(key, ignore_missing=True, remove_all=True)
    if normalise_pattern(header.get("COLORTYP")) is not None:
        header.remove("COLORTYP", remove_all=True)
    if pattern is None:
        return
    written = pattern
    if str(header.get("ROWORDER", "")).strip().upper() == "BOTTOM-UP":
        written = shift_pattern(pattern, 0, ny - 1)
    header["BAYERPAT"] = (written, "Bayer pattern (rows as ROWORDER says)")


def cfa_pattern(header: fits.Header | None) -> str | None:
    """The Bayer pattern of a raw colour frame's stored pixels ('GRBG', ...), else None.

    The header's cards only (see :func:`read_cfa`); a frame's
    :attr:`~fluxion.core.io.frames.FrameInfo.cfa` also knows the camera
    profiles and a pattern the user set.
    """
    if header is None:
        return None
    return read_cfa(header).pattern


def bin_cfa(image: np.ndarray, pattern: str = "GRBG") -> np.ndarray:
    """The sum of the two green pixels of each 2 x 2 block, as float32.

    An odd last row or column is dropped.
    """
    offsets = channel_offsets(pattern)
    ny, nx = (s - s % 2 for s in image.shape)
    a = np.asarray(image[:ny, :nx], dtype=np.float32)
    (y1, x1), (y2, x2) = offsets["G1"], offsets["G2"]
    return a[y1::2, x1::2] + a[y2::2, x2::2]


def unbinned_xy(x: np.ndarray, y: np.ndarray, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """0-based positions on a ``factor``-binned image in the unbinned frame's pixels.

    Binned pixel 0 spans unbinned pixels 0 .. factor - 1, whose centre is
    (factor - 1) / 2.
    """
    off = (factor - 1) / 2.0
    return factor * np.asarray(x, float) + off, factor * np.asarray(y, float) + off


def channel_positions(
    x: np.ndarray, y: np.ndarray, offset: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Frame positions (x, y) on the grid of a channel whose first pixel is at (dy, dx)."""
    dy, dx = offset
    return (np.asarray(x, float) - dx) / 2.0, (np.asarray(y, float) - dy) / 2.0
