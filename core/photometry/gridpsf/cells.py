"""A grid of empirical PSFs: photutils' EPSFBuilder on the stars of each cell of the frame.

The frame is cut into cells, as many as keep enough clean stars in each
(an oversampled ePSF needs a few dozen), and an ePSF is built from the stars
of every cell, with Moffat wings (:func:`fluxion.core.photometry.epsf.build_epsf`).
The ePSFs sit at the cells' centres and are interpolated bilinearly between
them, as photutils' ``GriddedPSFModel`` does, so the grid can be written to
and read from its FITS format unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial import cKDTree

from ..epsf import build_epsf
from .field import PSFField, compress

__all__ = ["MIN_STARS_PER_CELL", "build_cells", "cell_grid"]

log = logging.getLogger(__name__)

MIN_STARS_PER_CELL = 25
"""Stars an ePSF of a cell is built from at least (borrowed from the nearest cells if need be).

EPSFBuilder fills a 2x oversampled grid from ~25 stars without holes its
smoothing would turn into a broader core; 4x needs ~60.
"""

MAX_CELLS = 5
"""Largest number of cells along an axis (25 ePSFs; finer grids hold too few stars)."""


def cell_grid(n_stars: int, shape: tuple[int, int]) -> tuple[int, int]:
    """(cells along x, along y): as many as leave ``MIN_STARS_PER_CELL`` stars each.

    The cells are as square as the frame allows; (1, 1) when there are too
    few stars for more than one.
    """
    ny, nx = shape
    total = max(n_stars // MIN_STARS_PER_CELL, 1)
    aspect = nx / max(ny, 1)
    gy = max(int(np.floor(np.sqrt(total / aspect))), 1)
    gx = max(int(np.floor(total / gy)), 1)
    return min(gx, MAX_CELLS), min(gy, MAX_CELLS)


def build_cells(
    image: np.ndarray,
    positions: np.ndarray,
    grid: tuple[int, int],
    *,
    size: int = 25,
    mask: np.ndarray | None = None,
) -> PSFField:
    """One ePSF per cell of a ``grid`` (gx, gy) over the frame, as a bilinear :class:`PSFField`.

    Parameters
    ----------
    image : ndarray
        Sky-subtracted frame, the PSF stars' neighbours subtracted.
    positions : ndarray, shape (N, 2)
        Clean PSF stars (x, y).
    grid : (int, int)
        Cells along x and y (see :func:`cell_grid`).
    size : int
        Cutout size of the ePSF (px); its wings follow a Moffat beyond.
    mask : ndarray of bool, optional
        Bad pixels.
    """
    ny, nx = image.shape
    gx, gy = grid
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    xs = (np.arange(gx) + 0.5) * nx / gx - 0.5
    ys = (np.arange(gy) + 0.5) * ny / gy - 0.5
    cx = np.clip((pos[:, 0] + 0.5) * gx / nx, 0, gx - 1e-9).astype(int)
    cy = np.clip((pos[:, 1] + 0.5) * gy / ny, 0, gy - 1e-9).astype(int)
    tree = cKDTree(pos)
    members = []
    for j in range(gy):
        for i in range(gx):
            own = np.flatnonzero((cx == i) & (cy == j))
            if len(own) < MIN_STARS_PER_CELL:
                # A sparse cell borrows the stars nearest to its centre.
                k = min(MIN_STARS_PER_CELL, len(pos))
                _, near = tree.query([xs[i], ys[j]], k=k)
                own = np.unique(np.concatenate([own, np.atleast_1d(near)]))
            members.append(own)
    fewest = min(len(m) for m in members)
    oversampling = 4 if fewest >= 60 else 2
    psfs = [
        build_epsf(image, pos[m], size=size, mask=mask, oversampling=oversampling, maxiters=3)
        for m in members
    ]
    cube = np.stack([p.data for p in psfs])
    # The node images are kept as they are (noise does not compress); the
    # SVD only rotates them into a basis whose first image is their mean.
    basis, weights = compress(cube, tolerance=0.0, max_basis=len(cube))
    centre = psfs[(gy // 2) * gx + gx // 2]
    log.debug("ePSF grid %d x %d from %d stars (fewest per cell %d)", gx, gy, len(pos), fewest)
    return PSFField(
        basis,
        weights.T.reshape(len(basis), gy, gx),
        xs,
        ys,
        oversampling,
        1,
        "cells",
        centre.fwhm,
        len(pos),
        centre.moffat_beta,
        (ny, nx),
    )
