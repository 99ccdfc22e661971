"""Where the scene's stars lie against each other: saturated regions, neighbours, doubles.

Geometry the fitter asks of its star lists between passes (no fitting here).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import center_of_mass, label
from scipy.ndimage import sum as ndi_sum
from scipy.spatial import cKDTree

__all__ = ["has_neighbour", "saturated_stars", "unique_stars"]


def saturated_stars(img: np.ndarray, sat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre and a rough flux of every connected saturated region."""
    labels, n = label(sat)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    idx = np.arange(1, n + 1)
    com = np.array(center_of_mass(sat, labels, idx)).reshape(-1, 2)
    flux = np.asarray(ndi_sum(img, labels, idx), dtype=np.float64) * 2.0
    return com[:, 1], com[:, 0], flux


def has_neighbour(x: np.ndarray, y: np.ndarray, radius: float) -> np.ndarray:
    """True for stars with another star closer than ``radius``."""
    out = np.zeros(len(x), dtype=bool)
    if len(x) > 1:
        pairs = cKDTree(np.c_[x, y]).query_pairs(radius, output_type="ndarray")
        out[pairs.ravel()] = True
    return out


def unique_stars(x: np.ndarray, y: np.ndarray, flux: np.ndarray, radius: float) -> np.ndarray:
    """False for the fainter of two stars closer than ``radius`` (one star found twice)."""
    keep = np.ones(len(x), bool)
    if len(x) < 2:
        return keep
    pairs = cKDTree(np.c_[x, y]).query_pairs(radius, output_type="ndarray")
    if len(pairs):
        drop = np.where(flux[pairs[:, 0]] >= flux[pairs[:, 1]], pairs[:, 1], pairs[:, 0])
        keep[drop] = False
    return keep
