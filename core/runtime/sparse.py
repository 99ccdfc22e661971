"""The True pixels of a frame-sized mask that has few of them.

Several steps look for the few pixels of a frame that pass a test (saturated
pixels, the stars' saturated cores). ``np.nonzero`` of a 1024 x 1024 mask
costs about 1.8 ms whatever it holds: it visits every pixel with a branch.
Reducing each row with ``any`` (a vectorised pass) and searching only the
rows that hold a True costs about a third of that when they are few.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sparse_nonzero"]


def sparse_nonzero(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """``np.nonzero(mask)``: the same index arrays, in the same (row-major) order.

    Parameters
    ----------
    mask : ndarray
        A boolean image; any other array goes to ``np.nonzero`` as it is.

    Returns
    -------
    tuple of ndarray
        (rows, cols) of the True pixels.
    """
    if mask.ndim != 2 or mask.dtype != bool:
        return np.nonzero(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if 2 * rows.size > mask.shape[0]:  # not sparse: the rows' search would cost as much
        return np.nonzero(mask)
    r, c = np.nonzero(mask[rows])
    return rows[r], c
