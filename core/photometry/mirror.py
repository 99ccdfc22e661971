"""Masked pixels of an aperture replaced by their mirror images through the star's centre.

A masked pixel (a hot pixel, a bad column) in a star's aperture takes its
share of the star's light out of the sum: a bright star with one hot pixel
3.6 px from its centre lost ~0.6 % of its flux, by an amount that changes
with the star's place in its pixel, and was flagged MASKED in every light,
so a night's best comparison star was never used. SExtractor's default
(``MASK_TYPE CORRECT``) replaces such a pixel by the one symmetric to it
about the star's centre; a star's profile is symmetric, so the sum is the
star's whole light again. sep and photutils leave the pixel out (no such
option), hence this by hand, with the same exact-overlap sums
(:func:`~fluxion.core.photometry.sums.circle_sums`) as the apertures.

A star is corrected only when every masked pixel meeting its aperture has a
good mirror inside the frame; otherwise it is left as it was (and stays
flagged): a masked core mirrors onto masked pixels.
"""

from __future__ import annotations

import numpy as np

from .sums import circle_sums

__all__ = ["mirrored_masked_sums"]


def mirrored_masked_sums(
    clean: np.ndarray, bad: np.ndarray, positions: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The light and area the masked pixels of each aperture take out, from their mirrors.

    Parameters
    ----------
    clean : ndarray
        The frame, 0 at bad pixels.
    bad : ndarray of bool
        The bad (masked) pixels.
    positions : ndarray, shape (N, 2)
        The apertures' centres (x, y; 0-based, integer at pixel centres).
    radius : float
        The aperture radius (px).

    Returns
    -------
    ndarray, ndarray
        For each aperture, the sum of the mirror pixels' values over the
        masked pixels' exact overlaps with the circle, and those overlaps'
        area (px^2); both NaN where a masked pixel's mirror is bad or off
        the frame. Add them to the aperture's good-pixel sum and area.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    ny, nx = bad.shape
    half = int(np.ceil(radius + 1.0))
    add_sum = np.zeros(len(pos))
    add_area = np.zeros(len(pos))
    for i, (x, y) in enumerate(pos):
        if not (np.isfinite(x) and np.isfinite(y)):
            add_sum[i] = add_area[i] = np.nan
            continue
        x0, y0 = max(int(round(x)) - half, 0), max(int(round(y)) - half, 0)
        x1, y1 = min(int(round(x)) + half + 1, nx), min(int(round(y)) + half + 1, ny)
        if x0 >= x1 or y0 >= y1:
            add_sum[i] = add_area[i] = np.nan
            continue
        rows, cols = np.nonzero(bad[y0:y1, x0:x1])
        if rows.size == 0:
            continue
        py, px = rows + y0, cols + x0
        # Pixels that do not meet the circle need no mirror (their overlap is 0).
        meets = np.hypot(np.maximum(np.abs(px - x) - 0.5, 0), np.maximum(np.abs(py - y) - 0.5, 0))
        needed = meets < radius
        rows, cols, py, px = rows[needed], cols[needed], py[needed], px[needed]
        mirror = _mirror_values(clean, bad, 2.0 * x - px, 2.0 * y - py)
        if rows.size == 0 or not np.all(np.isfinite(mirror)):
            add_sum[i] = add_area[i] = 0.0 if rows.size == 0 else np.nan
            continue
        values = np.zeros((y1 - y0, x1 - x0))
        values[rows, cols] = mirror
        ones = np.zeros_like(values)
        ones[rows, cols] = 1.0
        local = np.array([[x - x0, y - y0]])
        add_sum[i] = circle_sums(values, local, radius)[0]
        add_area[i] = circle_sums(ones, local, radius)[0]
    return add_sum, add_area


def _mirror_values(
    clean: np.ndarray, bad: np.ndarray, mx: np.ndarray, my: np.ndarray
) -> np.ndarray:
    """The frame at the mirror points (mx, my): bilinear between the four pixels around each.

    The nearest pixel alone is up to half a pixel from the mirror point, which
    in a star's wing is ~30 % of the pixel's light (a 0.2 % scatter of a bright
    star's flux); bilinear weights leave a second-order error. Where one of the
    four is bad the nearest pixel is taken; NaN where that is bad or off the frame.
    """
    ny, nx = bad.shape
    out = np.full(mx.shape, np.nan)
    nearest_x, nearest_y = np.rint(mx).astype(np.intp), np.rint(my).astype(np.intp)
    on = (nearest_x >= 0) & (nearest_x < nx) & (nearest_y >= 0) & (nearest_y < ny)
    ok = on.copy()
    ok[on] = ~bad[nearest_y[on], nearest_x[on]]
    out[ok] = clean[nearest_y[ok], nearest_x[ok]]
    ix, iy = np.floor(mx).astype(np.intp), np.floor(my).astype(np.intp)
    four = ok & (ix >= 0) & (ix + 1 < nx) & (iy >= 0) & (iy + 1 < ny)
    j = np.flatnonzero(four)
    if j.size:
        x0, y0 = ix[j], iy[j]
        quad = np.stack([bad[y0, x0], bad[y0, x0 + 1], bad[y0 + 1, x0], bad[y0 + 1, x0 + 1]])
        j, x0, y0 = j[~quad.any(axis=0)], x0[~quad.any(axis=0)], y0[~quad.any(axis=0)]
        fx, fy = mx[j] - x0, my[j] - y0
        out[j] = (
            clean[y0, x0] * (1 - fx) * (1 - fy)
            + clean[y0, x0 + 1] * fx * (1 - fy)
            + clean[y0 + 1, x0] * (1 - fx) * fy
            + clean[y0 + 1, x0 + 1] * fx * fy
        )
    return out
