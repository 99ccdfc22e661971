"""Catalogue stars merged into the blends a frame sees them as.

Two stars closer than about twice the FWHM are one source to the detector:
one centroid between them, the sum of their fluxes. Comparing a detection with
either star alone would call the blend "brighter than its counterpart" and a
transient. As STDWeb does, catalogue stars closer than ``2 FWHM`` are merged
(friends of friends, so chains merge too) into one entry at their
flux-weighted centroid with their summed flux, and detections are matched to
the merged list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

__all__ = ["MergedCatalog", "merge_blends", "nearest_within"]


@dataclass(frozen=True)
class MergedCatalog:
    """Catalogue entries as the frame resolves them.

    Attributes
    ----------
    x, y : ndarray
        Flux-weighted centroid (px) of each entry.
    mag : ndarray
        Magnitude of the summed flux; NaN when no member has a magnitude.
    n_members : ndarray of int
        How many catalogue stars were merged into the entry.
    brightest : ndarray of int
        Row of the entry's brightest member in the input catalogue.
    """

    x: np.ndarray
    y: np.ndarray
    mag: np.ndarray
    n_members: np.ndarray
    brightest: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def merge_blends(x: np.ndarray, y: np.ndarray, mag: np.ndarray, radius: float) -> MergedCatalog:
    """Merge catalogue stars closer than ``radius`` (px) to one another.

    Parameters
    ----------
    x, y : ndarray
        Catalogue positions in the frame (px).
    mag : ndarray
        Their magnitudes (NaN allowed: such a star moves no centroid and adds
        no flux, but is still merged).
    radius : float
        Linking length, usually twice the frame's FWHM.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    mag = np.asarray(mag, dtype=float)
    n = len(x)
    if n == 0:
        empty = np.zeros(0)
        return MergedCatalog(empty, empty, empty, np.zeros(0, int), np.zeros(0, int))
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_groups, label = connected_components(graph, directed=False)
    flux = np.where(np.isfinite(mag), 10 ** (-0.4 * np.nan_to_num(mag, nan=99.0)), 0.0)
    total = np.bincount(label, flux, n_groups)
    count = np.bincount(label, minlength=n_groups)
    # A group whose members have no magnitude is placed at their plain mean.
    w = np.where(total[label] > 0, flux, 1.0)
    wsum = np.bincount(label, w, n_groups)
    cx = np.bincount(label, w * x, n_groups) / wsum
    cy = np.bincount(label, w * y, n_groups) / wsum
    with np.errstate(divide="ignore"):
        gmag = np.where(total > 0, -2.5 * np.log10(np.where(total > 0, total, 1.0)), np.nan)
    order = np.lexsort((-flux, label))
    first = np.ones(n, bool)
    first[1:] = label[order][1:] != label[order][:-1]
    brightest = np.empty(n_groups, int)
    brightest[label[order][first]] = order[first]
    return MergedCatalog(cx, cy, gmag, count, brightest)


def nearest_within(
    x: np.ndarray, y: np.ndarray, ref_x: np.ndarray, ref_y: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest reference point within ``radius`` (-1 if none) and its distance."""
    x = np.asarray(x, dtype=float)
    if len(ref_x) == 0 or len(x) == 0:
        return np.full(len(x), -1), np.full(len(x), np.inf)
    tree = cKDTree(np.column_stack([ref_x, ref_y]))
    dist, idx = tree.query(np.column_stack([x, y]), distance_upper_bound=radius)
    idx = np.where(np.isfinite(dist), idx, -1)
    return idx.astype(int), dist
