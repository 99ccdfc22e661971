"""Circular-aperture sums, areas and peaks of many stars at once, in C.

photutils' ``aperture_photometry`` and ``area_overlap`` build a mask object
per star and radius in Python: for the curve of growth's 20 radii over a few
hundred stars that was most of a frame's photometry time. sep's
``sum_circle`` with ``subpix=0`` computes the same exact pixel-circle
overlaps in one C loop per radius (equal to photutils' ``method='exact'``
to 1e-8 of the sum), with the same pixel convention (0-based, integer
coordinates at pixel centres).
"""

from __future__ import annotations

import numpy as np
import sep
from scipy.spatial import cKDTree

__all__ = [
    "circle_areas",
    "circle_frame_areas",
    "circle_peaks",
    "circle_reaches",
    "circles_holding",
    "circle_sums",
    "circle_sums_radii",
]


def _xy(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    return np.ascontiguousarray(pos[:, 0]), np.ascontiguousarray(pos[:, 1])


# Pixel types sep reads as they are (it sums in double precision): a mask of
# valid pixels stays one byte a pixel instead of a float64 frame (128 MB at 4096^2).
_SEP_TYPES = (np.float64, np.float32, np.int32, np.bool_, np.uint8)


def _for_sep(image: np.ndarray) -> np.ndarray:
    """``image`` as sep reads it: C-contiguous, native order, a type it knows (else float64)."""
    data = np.asarray(image)
    if data.dtype.type not in _SEP_TYPES or not data.dtype.isnative:
        return np.ascontiguousarray(data, dtype=np.float64)
    return np.ascontiguousarray(data)


def circle_sums(image: np.ndarray, positions: np.ndarray, radius: float) -> np.ndarray:
    """Exact-overlap sums of ``image`` in circles of ``radius`` (photutils' 'exact').

    ``image`` holds zeros where pixels are bad (they add nothing, as
    photutils' mask makes them); parts of a circle off the frame add nothing,
    and a circle wholly off it gives NaN.
    """
    return circle_sums_radii(image, positions, np.array([float(radius)]))[:, 0]


def circle_sums_radii(image: np.ndarray, positions: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """:func:`circle_sums` of every position at every radius, shape (N, len(radii)).

    One call of sep for all of them (a curve of growth's 20 radii were 20
    calls whose Python cost exceeded the sums at the small radii); each
    circle's sum is sep's own for that circle alone, to the bit.
    """
    x, y = _xy(positions)
    r = np.asarray(radii, dtype=np.float64).ravel()
    if x.size == 0 or r.size == 0:
        return np.zeros((x.size, r.size))
    data = _for_sep(image)
    far = np.float64(-1e6)  # sep is given finite positions; NaN ones come back NaN below
    xs = np.repeat(np.where(np.isfinite(x), x, far), r.size)
    ys = np.repeat(np.where(np.isfinite(y), y, far), r.size)
    total, _, _ = sep.sum_circle(data, xs, ys, np.tile(r, x.size), subpix=0)
    total = np.asarray(total, dtype=np.float64).reshape(x.size, r.size)
    # photutils gives NaN for an aperture whose bounding box (its pixel
    # corners rounded outwards) misses the frame; sep gives 0.
    ny, nx = data.shape
    xc, yc = x[:, None], y[:, None]
    with np.errstate(invalid="ignore"):
        off = (
            (np.ceil(xc + r + 0.5) <= 0)
            | (np.floor(xc - r + 0.5) >= nx)
            | (np.ceil(yc + r + 0.5) <= 0)
            | (np.floor(yc - r + 0.5) >= ny)
            | ~np.isfinite(xc)
            | ~np.isfinite(yc)
        )
    total[off] = np.nan
    return total


def circle_areas(valid: np.ndarray, positions: np.ndarray, radius: float) -> np.ndarray:
    """Area (px) of each circle over the ``valid`` pixels (photutils' ``area_overlap``)."""
    return circle_sums(valid, positions, radius)


def circle_frame_areas(shape: tuple[int, int], positions: np.ndarray, radius: float) -> np.ndarray:
    """Area (px) of each circle on a frame of ``shape``: ``circle_areas`` of a frame of ones.

    Each circle is measured on a small frame of ones that holds every pixel
    of the whole frame its box meets (the frame's edge where it is), not on
    a whole frame of ones (for a 4096^2 frame 128 MB written per call). The
    cut-out's offsets are whole pixels, by which a position moves exactly, so
    every pixel's overlap and the sums are the same to the bit.
    """
    x, y = _xy(positions)
    if x.size == 0:
        return np.zeros(0)
    ny, nx = shape
    side = 2 * int(np.ceil(radius)) + 6
    wy, wx = min(ny, side), min(nx, side)
    with np.errstate(invalid="ignore"):
        x0 = np.clip(np.floor(np.nan_to_num(x) - radius) - 2, 0, nx - wx)
        y0 = np.clip(np.floor(np.nan_to_num(y) - radius) - 2, 0, ny - wy)
    # A circle wholly off the frame is wholly off its cut-out too: NaN, as circle_sums says.
    return circle_sums(np.ones((wy, wx)), np.c_[x - x0, y - y0], radius)


def circle_peaks(
    image: np.ndarray, bad: np.ndarray, positions: np.ndarray, radius: float
) -> np.ndarray:
    """Largest good pixel whose centre lies within ``radius`` of each position.

    What photutils' ``ApertureStats(...).max`` gives (its statistics use
    the pixels whose centres are inside, 'center'); NaN when there is none.
    """
    x, y = _xy(positions)
    peaks = np.full(x.size, np.nan)
    if x.size == 0:
        return peaks
    ny, nx = image.shape
    reach = int(np.ceil(radius)) + 1
    offsets = np.arange(-reach, reach + 1)
    finite = np.isfinite(x) & np.isfinite(y)
    xi = np.round(np.where(finite, x, -1e9)).astype(np.int64)
    yi = np.round(np.where(finite, y, -1e9)).astype(np.int64)
    cols = xi[:, None] + offsets[None, :]
    rows = yi[:, None] + offsets[None, :]
    dx2 = (x[:, None, None] - cols[:, None, :]) ** 2
    dy2 = (y[:, None, None] - rows[:, :, None]) ** 2
    inside = dx2 + dy2 < radius * radius
    inside &= ((rows >= 0) & (rows < ny))[:, :, None] & ((cols >= 0) & (cols < nx))[:, None, :]
    r = np.clip(rows, 0, ny - 1)[:, :, None]
    c = np.clip(cols, 0, nx - 1)[:, None, :]
    inside &= ~np.asarray(bad, bool)[r, c]
    values = np.where(inside, np.asarray(image, dtype=np.float64)[r, c], -np.inf)
    best = values.reshape(x.size, -1).max(axis=1)
    return np.where(np.isfinite(best), best, np.nan)


def circle_reaches(
    image: np.ndarray, bad: np.ndarray, positions: np.ndarray, radius: float, level: float
) -> np.ndarray:
    """Whether :func:`circle_peaks` of each position is at or above ``level``.

    The same test, from the other side: the frame's good pixels at or above
    ``level`` (a saturated star's few) are found once and each circle asks
    whether one of their centres is within ``radius``; gathering every
    circle's box to take its maximum cost more than the rest of the flags.
    """
    rows, cols = np.nonzero((np.asarray(image) >= level) & ~np.asarray(bad, bool))
    return circles_holding(rows, cols, positions, radius)


def circles_holding(
    rows: np.ndarray, cols: np.ndarray, positions: np.ndarray, radius: float
) -> np.ndarray:
    """Whether a pixel (rows, cols) has its centre strictly within ``radius`` of each position."""
    x, y = _xy(positions)
    hit = np.zeros(x.size, dtype=bool)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if rows.size == 0 or finite.size == 0:
        return hit
    tree = cKDTree(np.c_[cols, rows].astype(np.float64))
    # The tree's candidates (within a hair more), then circle_peaks' own strict
    # test; the lists only for the circles the tree says hold one (a loop over
    # thousands of empty lists cost more than the tree).
    reach = radius * (1 + 1e-9) + 1e-9
    at = np.c_[x[finite], y[finite]]
    some = tree.query_ball_point(at, reach, return_length=True) > 0
    if not some.any():
        return hit
    near = tree.query_ball_point(at[some], reach)
    for k, found in zip(finite[some].tolist(), near, strict=True):
        j = np.asarray(found)
        d2 = (x[k] - cols[j]) ** 2 + (y[k] - rows[j]) ** 2
        hit[k] = bool(np.any(d2 < radius * radius))
    return hit
