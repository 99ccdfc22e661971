"""Sizes of comparison candidates, to refuse galaxies and other extended sources.

A comparison star must be a point source: a galaxy's core (M94's nucleus in a
Seestar field) is bright and constant, so it passes every photometric test,
yet its light spreads beyond the aperture, so seeing changes move flux in and
out of it and its differential curve follows the seeing, not the sky. The
size measured here is the half-light radius (sep's ``flux_radius``, the
library's: SExtractor's FLUX_RADIUS), compared with the frame's stars: most
candidates are stars, so their median is the stellar size.
"""

from __future__ import annotations

import numpy as np
import sep

__all__ = ["source_sizes", "extended_sources"]


def source_sizes(image: np.ndarray, xy: np.ndarray, rmax: float) -> np.ndarray:
    """Half-light radius (px) of the source at each ``(x, y)`` of ``image``.

    Parameters
    ----------
    image : ndarray
        A light (any linear unit); its smooth background is taken out first.
    xy : ndarray, shape (n, 2)
        The sources' pixel positions.
    rmax : float
        Radius (px) of the circle whose half-flux radius is measured: several
        stellar FWHM, so that a star's light is all in it and a galaxy's
        spread shows.

    Returns
    -------
    ndarray (n,)
        The radii; NaN where the source is off the image or the flux is not
        positive.
    """
    data = np.ascontiguousarray(image, dtype=np.float64)
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        return np.zeros(0)
    sky = sep.Background(np.where(np.isfinite(data), data, 0.0), mask=~np.isfinite(data))
    data = np.where(np.isfinite(data), data - sky.back(), 0.0)
    radius, flag = sep.flux_radius(data, xy[:, 0], xy[:, 1], np.full(len(xy), float(rmax)), 0.5,
                                   subpix=5)  # fmt: skip
    radius = np.asarray(radius, dtype=float)
    bad = (flag != 0) | ~(radius > 0) | (radius >= rmax)
    return np.where(bad, np.nan, radius)


def extended_sources(sizes: np.ndarray, max_ratio: float = 1.5) -> np.ndarray:
    """Which sources are wider than the field's stars: ``size > max_ratio × median``.

    The median of the measured sizes stands for the stars' (they outnumber
    galaxies in any field photometry is done on). Seeing spreads stars' radii
    by about 10 %; 1.5 leaves room for that and for a faint star's noisier
    radius, while a galaxy core is twice the stars' or more.
    """
    sizes = np.asarray(sizes, dtype=float)
    if not np.any(np.isfinite(sizes)):
        return np.zeros(sizes.shape, dtype=bool)
    stellar = float(np.nanmedian(sizes))
    return np.isfinite(sizes) & (sizes > max_ratio * stellar)
