"""The plate solver's stars of a colour-filter-array (one-shot-colour) frame.

A Bayer mosaic searched as it is looks like a checkerboard to the detector:
on a ZWO Seestar frame it finds some 60 sources where the green pixels show
a thousand. The solver's stars are therefore measured on the sum of each
2 x 2 block's two green pixels (:func:`fluxion.core.io.cfa.bin_cfa`, whose
light centre is the block's centre whatever the star's colour) and put back
in the frame's pixels. ``fluxion solve`` and the project chain both use
:func:`green_sources`, so a frame solves the same way in either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from astropy.table import Table

from ..io.cfa import bin_cfa, channel_offsets, unbinned_xy
from .centroids import centroids_for_solving

__all__ = ["bin_cfa_mask", "green_sources", "unbinned_sources"]

_NOTE = "stars measured on the green pixels of the colour-filter array"


def bin_cfa_mask(mask: np.ndarray, pattern: str) -> np.ndarray:
    """A frame's mask on :func:`~fluxion.core.io.cfa.bin_cfa`'s grid: either green pixel's bits.

    Boolean masks stay boolean; bit masks (``MaskBits``) keep their bits, so
    that a saturated green pixel still flags its star.
    """
    offsets = channel_offsets(pattern)
    ny, nx = (s - s % 2 for s in mask.shape)
    m = np.asarray(mask)[:ny, :nx]
    (y1, x1), (y2, x2) = offsets["G1"], offsets["G2"]
    return m[y1::2, x1::2] | m[y2::2, x2::2]


def unbinned_sources(table: Table, factor: int = 2) -> Table:
    """Sources measured on a ``factor``-binned image, in the unbinned frame's pixels."""
    out = table.copy()
    out.meta = dict(table.meta)
    out["x"], out["y"] = unbinned_xy(out["x"], out["y"], factor)
    for name in ("fwhm", "x_err", "y_err", "a", "b"):
        if name in out.colnames:
            out[name] = np.asarray(out[name], float) * factor
    if "fwhm" in out.meta:
        out.meta["fwhm"] = float(out.meta["fwhm"]) * factor
    prior = out.meta.get("centroids_note")
    out.meta["centroids_note"] = f"{prior}; {_NOTE}" if prior else _NOTE
    return out


def green_sources(
    image: np.ndarray,
    pattern: str,
    detect: Callable[[np.ndarray, np.ndarray | None], Table],
    choice: str = "auto",
    *,
    max_sources: int | None = None,
    mask: np.ndarray | None = None,
    gain: float | None = None,
) -> Table:
    """Sources of a mosaic frame found and centred on its green pixels, in the frame's pixels.

    Parameters
    ----------
    image : ndarray
        The mosaic as stored (row 0 first).
    pattern : str
        Its Bayer pattern ('GRBG', ...), as the array is read.
    detect : callable
        ``detect(binned, binned_mask) -> Table`` of sources (x, y, flux, ...).
    choice : str
        Centroids to use (see :func:`~fluxion.core.astrometry.centroids.centroids_for_solving`).
    max_sources : int, optional
        Brightest sources refined.
    mask : ndarray, optional
        The frame's bad pixels (bool or a bit mask).
    gain : float, optional
        e- per ADU: a sum of pixels keeps the gain of its pixels.
    """
    binned = bin_cfa(image, pattern)
    bmask = None if mask is None else bin_cfa_mask(mask, pattern)
    found = detect(binned, bmask)
    fit_mask = None if bmask is None else bmask != 0
    table = centroids_for_solving(
        binned, found, choice, max_sources=max_sources, mask=fit_mask, gain=gain
    )
    return unbinned_sources(table, 2)
