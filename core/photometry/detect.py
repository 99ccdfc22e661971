"""Finding stars and measuring the seeing for the photometry step.

A thin wrapper of sep (SExtractor's background and extraction) and photutils'
``fit_fwhm``, enough for photometry to run on a frame without a source list.
``fluxion.core.detection`` is the full detection step with its own panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sep
from astropy.table import Table
from photutils.psf import fit_fwhm
from scipy.spatial import cKDTree

__all__ = ["FrameSky", "find_stars", "frame_sky", "measure_fwhm"]


@dataclass(frozen=True)
class FrameSky:
    """A smooth sky map and its noise, from sep's SExtractor-style mesh."""

    level: np.ndarray
    """Sky per pixel (same units as the image)."""
    rms: np.ndarray
    """Sky noise per pixel."""
    global_level: float
    global_rms: float


def _native(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image, dtype=np.float64)


def frame_sky(image: np.ndarray, mask: np.ndarray | None = None, box: int = 64) -> FrameSky:
    """Estimate the sky with sep on a ``box`` px mesh (masked pixels ignored)."""
    data = _native(image)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    data = np.where(bad, 0.0, data)
    box = int(max(8, min(box, min(data.shape) // 2 or 8)))
    bkg = sep.Background(data, mask=bad, bw=box, bh=box, fw=3, fh=3)
    return FrameSky(bkg.back(), bkg.rms(), float(bkg.globalback), float(bkg.globalrms))


def find_stars(
    image: np.ndarray,
    sky: FrameSky,
    *,
    threshold: float = 5.0,
    mask: np.ndarray | None = None,
    min_area: int = 5,
) -> Table:
    """Sources above ``threshold`` times the sky noise (sep.extract).

    Returns a table with x, y (0-based), flux (sep's isophotal flux, image
    units), peak and sep's flags, brightest first. An empty frame gives an
    empty table.
    """
    data = _native(image) - sky.level
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= mask
    data = np.where(bad, 0.0, data)
    # Crowded frames need a larger pixel stack than sep's default.
    sep.set_extract_pixstack(max(300000, data.size // 2))
    sep.set_sub_object_limit(4096)
    try:
        objs = sep.extract(
            data, threshold, err=np.ascontiguousarray(sky.rms), mask=bad, minarea=min_area
        )
    except Exception as exc:  # sep raises plain Exception on buffer overflows
        raise ValueError(f"source extraction failed: {exc}") from exc
    order = np.argsort(objs["flux"])[::-1]
    objs = objs[order]
    return Table(
        {
            "x": objs["x"].astype(np.float64),
            "y": objs["y"].astype(np.float64),
            "flux": objs["flux"].astype(np.float64),
            "peak": objs["peak"].astype(np.float64),
            "sep_flags": objs["flag"].astype(np.int32),
        }
    )


def isolated(x: np.ndarray, y: np.ndarray, distance: float) -> np.ndarray:
    """True for sources with no other source within ``distance`` px."""
    if len(x) < 2:
        return np.ones(len(x), dtype=bool)
    pts = np.c_[x, y]
    d, _ = cKDTree(pts).query(pts, k=2)
    return d[:, 1] > distance


def measure_fwhm(
    image: np.ndarray,
    sky: FrameSky,
    stars: Table,
    *,
    saturation: float | None = None,
    guess: float = 4.0,
    max_stars: int = 40,
) -> float:
    """Median FWHM (px) of bright, isolated, unsaturated stars.

    Fits photutils' circular Gaussian PRF; returns NaN when no star is usable.
    """
    if len(stars) == 0:
        return float("nan")
    ny, nx = image.shape
    x, y = np.asarray(stars["x"]), np.asarray(stars["y"])
    ok = (stars["sep_flags"] == 0) & isolated(x, y, 12.0)
    ok &= (x > 8) & (x < nx - 9) & (y > 8) & (y < ny - 9)
    if saturation is not None:
        ok &= np.asarray(stars["peak"]) + sky.global_level < 0.8 * saturation
    idx = np.flatnonzero(ok)[:max_stars]
    if idx.size == 0:
        return float("nan")
    data = _native(image) - sky.level
    fit = fit_fwhm(data, xypos=np.c_[x[idx], y[idx]], fwhm=guess, fit_shape=11)
    fwhm = np.asarray(fit, dtype=np.float64)
    fwhm = fwhm[np.isfinite(fwhm) & (fwhm > 0.5) & (fwhm < 50)]
    return float(np.median(fwhm)) if fwhm.size else float("nan")
