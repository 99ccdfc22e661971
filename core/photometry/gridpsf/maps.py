"""What the Photometry panel draws about a frame's PSF across the field.

A grid of the PSFs at ``nodes`` x ``nodes`` positions tiled into one image,
the same tiles minus their mean (photutils ``plot_grid(deltas=True)``), and
maps of the FWHM, ellipticity and orientation on a finer mesh. Computed in a
worker: each map point is a profile fit (:func:`.shape.psf_shape`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..epsf import EffectivePSF
from .field import PSFField, as_field
from .shape import psf_shape

__all__ = ["PSFMaps", "psf_maps"]


@dataclass(frozen=True)
class PSFMaps:
    """Tiles of the PSF across the frame and its shape maps."""

    tiles: np.ndarray
    """(gy * t, gx * t) mosaic of the PSFs (each scaled to its peak), row 0 at the bottom (y)."""
    deltas: np.ndarray
    """The same mosaic of each PSF minus the mean PSF (in units of the mean's peak)."""
    tile: int
    """Tile size (samples)."""
    xs: np.ndarray
    """(gx,) x of the tiles' PSFs (px)."""
    ys: np.ndarray
    map_x: np.ndarray
    """(mx,) x of the shape maps' columns (px)."""
    map_y: np.ndarray
    fwhm: np.ndarray
    """(my, mx) FWHM (px)."""
    ellipticity: np.ndarray
    """(my, mx) 1 - b/a."""
    theta: np.ndarray
    """(my, mx) major axis angle from +x (degrees)."""
    label: str
    varies: bool

    @property
    def fwhm_range(self) -> tuple[float, float]:
        return float(np.nanmin(self.fwhm)), float(np.nanmax(self.fwhm))

    @property
    def ellipticity_range(self) -> tuple[float, float]:
        return float(np.nanmin(self.ellipticity)), float(np.nanmax(self.ellipticity))


def psf_maps(
    psf: EffectivePSF | PSFField,
    shape: tuple[int, int],
    *,
    nodes: int = 5,
    mesh: int = 9,
    half_width: float = 4.0,
) -> PSFMaps:
    """Tiles and shape maps of ``psf`` over a frame of ``shape`` (ny, nx).

    Parameters
    ----------
    nodes : int
        PSFs per axis in the mosaic (a grid's own nodes when it has fewer).
    mesh : int
        Points per axis of the shape maps (1 for a constant PSF).
    half_width : float
        Half-width of each tile in FWHMs of the central PSF.
    """
    field = as_field(psf)
    ny, nx = shape
    if field.varies:
        gx = min(nodes, len(field.xs)) if field.order == 1 else nodes
        gy = min(nodes, len(field.ys)) if field.order == 1 else nodes
        xs = np.linspace(0.0, nx - 1.0, gx) if field.order != 1 else _spread(field.xs, gx)
        ys = np.linspace(0.0, ny - 1.0, gy) if field.order != 1 else _spread(field.ys, gy)
    else:
        xs, ys = np.array([(nx - 1) / 2.0]), np.array([(ny - 1) / 2.0])
    k = field.oversampling
    n = field.basis.shape[1]
    c = (n - 1) // 2
    fwhm0 = field.fwhm if np.isfinite(field.fwhm) and field.fwhm > 0 else 3.0
    h = int(min(c, np.ceil(half_width * fwhm0 * k)))
    t = 2 * h + 1
    images = np.stack(
        [[field.image_at(x, y)[c - h : c + h + 1, c - h : c + h + 1] for x in xs] for y in ys]
    )
    mean = images.mean(axis=(0, 1))
    peak = float(mean.max()) or 1.0
    tiles = np.zeros((len(ys) * t, len(xs) * t))
    deltas = np.zeros_like(tiles)
    for j in range(len(ys)):
        for i in range(len(xs)):
            img = images[j, i]
            tiles[j * t : (j + 1) * t, i * t : (i + 1) * t] = img / (float(img.max()) or 1.0)
            deltas[j * t : (j + 1) * t, i * t : (i + 1) * t] = (img - mean) / peak
    m = mesh if field.varies else 1
    map_x = np.linspace(0.0, nx - 1.0, m) if m > 1 else np.array([(nx - 1) / 2.0])
    map_y = np.linspace(0.0, ny - 1.0, m) if m > 1 else np.array([(ny - 1) / 2.0])
    fwhm = np.full((len(map_y), len(map_x)), np.nan)
    ell = np.full_like(fwhm, np.nan)
    theta = np.full_like(fwhm, np.nan)
    for j, y in enumerate(map_y):
        for i, x in enumerate(map_x):
            try:
                s = psf_shape(field.image_at(x, y), k)
            except (ValueError, RuntimeError):
                continue
            fwhm[j, i], ell[j, i], theta[j, i] = s.fwhm, s.ellipticity, s.theta
    chosen = field.meta.get("chosen") if field.varies else None
    label = f"{field.kind}" + (f" ({chosen})" if chosen else "")
    return PSFMaps(
        tiles, deltas, t, xs, ys, map_x, map_y, fwhm, ell, theta, label, bool(field.varies)
    )


def _spread(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``values`` spread from first to last."""
    idx = np.unique(np.round(np.linspace(0, len(values) - 1, n)).astype(int))
    return values[idx]
