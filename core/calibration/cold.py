"""Cold (dead) pixels of a master flat: a response below a fraction of the local flat.

The local flat is a coarse median of the flat (every 8th pixel, 5 x 5 nodes)
interpolated back to every pixel (``ndimage.zoom``, order 1). Interpolating
the whole frame costs more than everything else here, yet only the few
pixels far below their neighbours can be cold. A pixel's local value is a
convex combination of the coarse nodes around its 8 x 8 tile (the tile's and
its neighbours', 3 x 3 at most), so a pixel above ``cold_flat`` times their
largest value is not cold; only the tiles that hold other pixels are
interpolated, each from its 3 x 3 nodes. The zoom factor is exactly 1/8, so
a tile's interpolation coordinates are the same dyadic numbers as in the
whole frame's, and its values the same bits: the mask is exactly the whole
interpolation's, which is computed instead when too many tiles need it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["cold_pixels"]

_STEP = 8
# Beyond this share of the tiles to interpolate one by one, the whole frame is cheaper.
_MOST_TILES = 0.02


def _local_flat(coarse: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The coarse flat interpolated to every pixel of a frame of ``shape``."""
    local = ndimage.zoom(coarse, _STEP, order=1, mode="nearest", grid_mode=True)
    local = local[: shape[0], : shape[1]]
    pad = ((0, shape[0] - local.shape[0]), (0, shape[1] - local.shape[1]))
    return np.pad(local, pad, mode="edge")


def cold_pixels(flat: np.ndarray, cold_flat: float = 0.5) -> np.ndarray:
    """Where ``flat`` is not above ``cold_flat`` times its local (median-smoothed) level.

    Parameters
    ----------
    flat : ndarray
        A master flat (2-D), mean 1.
    cold_flat : float
        The fraction of the local flat below which a pixel is cold.

    Returns
    -------
    ndarray of bool
        True for a cold pixel, and where the flat or its local level is NaN.
    """
    ny, nx = flat.shape
    # A coarse median of the flat follows vignetting and dust, not single pixels.
    coarse = ndimage.median_filter(flat[::_STEP, ::_STEP], size=5, mode="nearest")
    cy, cx = coarse.shape
    with np.errstate(invalid="ignore", over="ignore"):
        # The largest node each tile's pixels are interpolated from, times cold_flat
        # (rounding is monotonic: no pixel's own threshold is above it), with a margin.
        top = cold_flat * ndimage.maximum_filter(coarse, size=3, mode="nearest")
        top = top + np.abs(top) * np.float32(1e-5)
        # A NaN or infinite node anywhere near: every pixel of the tile is looked at.
        odd = ndimage.maximum_filter((~np.isfinite(coarse)).view(np.uint8), size=3)
        top[odd.astype(bool) | ~np.isfinite(top)] = np.inf
        tiles = np.repeat(np.repeat(top, _STEP, axis=0), _STEP, axis=1)[:ny, :nx]
        candidate = ~(flat > tiles)
    cold = np.zeros((ny, nx), bool)
    if not candidate.any():
        return cold
    # The tiles holding a candidate (reduceat: the last tile may be partial).
    edges_y, edges_x = np.arange(0, ny, _STEP), np.arange(0, nx, _STEP)
    held = np.logical_or.reduceat(np.logical_or.reduceat(candidate, edges_y, 0), edges_x, 1)
    keys = np.flatnonzero(held)
    with np.errstate(invalid="ignore"):
        if keys.size > _MOST_TILES * cy * cx:
            return ~(flat > cold_flat * _local_flat(coarse, (ny, nx)))
        for ty, tx in zip(*np.divmod(keys, cx), strict=True):
            y0, x0 = max(ty - 1, 0), max(tx - 1, 0)
            block = ndimage.zoom(
                coarse[y0 : ty + 2, x0 : tx + 2], _STEP, order=1, mode="nearest", grid_mode=True
            )
            oy, ox = (ty - y0) * _STEP, (tx - x0) * _STEP
            fy, fx = ty * _STEP, tx * _STEP
            here = flat[fy : fy + _STEP, fx : fx + _STEP]
            local = block[oy : oy + here.shape[0], ox : ox + here.shape[1]]
            cold[fy : fy + _STEP, fx : fx + _STEP] = ~(here > cold_flat * local)
    return cold
