"""Colour-filter-array (Bayer) frames: a luminance image for detection and astrometry.

One-shot-colour cameras (``BAYERPAT = 'GRBG'``, 'RGGB', ...) put a red, two
green and a blue filter over each 2 x 2 block of pixels. Detected as they
are, stars come out as checkerboards whose centroids lean towards the
pixels of the star's colour. The two green pixels of each 2 x 2 block sit
on its diagonal in every pattern, so their sum is one pixel per block whose
light centre is the block's centre whatever the star's colour (a sum of all
four leans towards the red or blue pixel: a quarter of a pixel for a red
star). Positions measured on it are turned back into the frame's pixels by
:func:`unbinned_xy`.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits

__all__ = ["cfa_pattern", "bin_cfa", "unbinned_xy"]

_PATTERNS = {"RGGB", "BGGR", "GRBG", "GBRG"}


def cfa_pattern(header: fits.Header) -> str | None:
    """The frame's Bayer pattern ('GRBG', ...) when it is a raw colour frame, else None.

    A frame already debayered or combined has NAXIS = 3 or no BAYERPAT card.
    """
    if int(header.get("NAXIS", 2)) != 2:
        return None
    value = str(header.get("BAYERPAT", header.get("COLORTYP", ""))).strip().upper()
    return value if value in _PATTERNS else None


def bin_cfa(image: np.ndarray, pattern: str = "GRBG") -> np.ndarray:
    """The sum of the two green pixels of each 2 x 2 block, as float32.

    An odd last row or column is dropped.
    """
    pattern = pattern.upper()
    if pattern not in _PATTERNS:
        raise ValueError(f"unknown Bayer pattern {pattern!r}")
    ny, nx = (s - s % 2 for s in image.shape)
    a = np.asarray(image[:ny, :nx], dtype=np.float32)
    if pattern in ("GRBG", "GBRG"):  # greens at (0, 0) and (1, 1) of each block
        return a[0::2, 0::2] + a[1::2, 1::2]
    return a[0::2, 1::2] + a[1::2, 0::2]  # RGGB, BGGR: greens at (0, 1) and (1, 0)


def unbinned_xy(x: np.ndarray, y: np.ndarray, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """0-based positions on a ``factor``-binned image in the unbinned frame's pixels.

    Binned pixel 0 spans unbinned pixels 0 .. factor - 1, whose centre is
    (factor - 1) / 2.
    """
    off = (factor - 1) / 2.0
    return factor * np.asarray(x, float) + off, factor * np.asarray(y, float) + off
