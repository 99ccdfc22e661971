"""The sources a plate solve matches: clean, brightest first, with honest position errors.

:func:`prepare_sources` turns a detection table into :class:`PreparedSources`;
:func:`catalog_sigma_px` gives the catalog side of each pair's error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from .inputs import star_like

__all__ = ["PreparedSources", "catalog_sigma_px", "centroid_sigma", "prepare_sources"]


@dataclass(frozen=True)
class PreparedSources:
    """Sources ready for matching (see :func:`prepare_sources`).

    Attributes
    ----------
    table : Table
        The usable sources, brightest first.
    xy : ndarray (N, 2)
        Their positions (0-based px).
    sigma : ndarray or None
        Their per-axis centroid errors (px).
    how : dict
        ``{"centroids": ...}`` for the result.
    notes : tuple of str
        Messages about the centroids, for the user.
    """

    table: Table
    xy: np.ndarray
    sigma: np.ndarray | None
    how: dict
    notes: tuple[str, ...]


def _brightest(sources: Table, n: int) -> Table:
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)
        order = np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")
        sources = sources[order]
    return sources[:n]


def _good_sources(sources: Table) -> Table:
    keep = np.isfinite(np.asarray(sources["x"], float)) & np.isfinite(
        np.asarray(sources["y"], float)
    )
    if "flags" in sources.colnames:
        # Saturated, truncated or blended sources centre badly: keep them out of the fit.
        from ..detection.extract import SourceFlags

        bad = int(SourceFlags.SATURATED | SourceFlags.TRUNCATED)
        keep &= (np.asarray(sources["flags"], int) & bad) == 0
    # Cosmic rays, hot pixels, bleeds and tracks must not crowd the brightest stars.
    keep &= star_like(sources)
    return sources[keep]


def centroid_sigma(sources: Table) -> np.ndarray | None:
    """Centroid uncertainty of each source (px), per axis; None when nothing says.

    A pixel-integrated fit's own errors (``x_err``, ``y_err``, from the fit's
    covariance) where it ran; elsewhere FWHM / SNR, how a centroid's error
    scales with the PSF width and the signal-to-noise ratio (about twice
    the error of a Gaussian fit, so such stars are not over-weighted). The
    floor stands for what no SNR removes; what else scatters the positions
    is estimated by the WCS fit itself.
    """
    n = len(sources)
    sig = np.full(n, np.nan)
    if "snr" in sources.colnames:
        snr = np.asarray(sources["snr"], float)
        fwhm = np.asarray(sources["fwhm"], float) if "fwhm" in sources.colnames else np.full(n, 3.0)
        good = np.isfinite(fwhm) & (fwhm > 0)
        fwhm = np.where(good, fwhm, np.median(fwhm[good]) if good.any() else 3.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = fwhm / snr
    if "x_err" in sources.colnames and "y_err" in sources.colnames:
        ex, ey = (np.asarray(sources[c], float) for c in ("x_err", "y_err"))
        fitted = np.sqrt(0.5 * (ex**2 + ey**2))
        sig = np.where(np.isfinite(fitted) & (fitted > 0), fitted, sig)
    elif "snr" not in sources.colnames:
        return None
    # Unknown or absurd (a fit that did not pin the star): one pixel, i.e. barely counted.
    sig = np.where(np.isfinite(sig) & (sig > 0), np.minimum(sig, 1.0), 1.0)
    return np.hypot(sig, 0.01)


def catalog_sigma_px(cat: Table, arcsec_per_px: float) -> np.ndarray:
    """Per-axis position error of each catalog star in pixels (0 where unknown)."""
    if "ra_err" not in cat.colnames or "dec_err" not in cat.colnames:
        return np.zeros(len(cat))
    era, ede = (np.asarray(cat[c], float) for c in ("ra_err", "dec_err"))
    per_axis = np.sqrt(0.5 * (era**2 + ede**2)) / arcsec_per_px
    return np.where(np.isfinite(per_axis), per_axis, 0.0)


def prepare_sources(sources: Table, max_sources: int, min_matches: int) -> PreparedSources:
    """The sources the matcher uses: clean, brightest first, with their errors.

    Parameters
    ----------
    sources : Table
        Detected sources with x, y (0-based px) and, where known, flux, snr,
        fwhm, x_err/y_err and flags.
    max_sources : int
        How many of the brightest usable sources to keep.
    min_matches : int
        Matches a solution needs; fewer usable sources are refused.

    Raises
    ------
    ValueError
        The table has no x or y column, or too few usable sources; the
        message says which.
    """
    for col in ("x", "y"):
        if col not in sources.colnames:
            raise ValueError(f"source table has no {col!r} column")
    good = _brightest(_good_sources(sources), max_sources)
    # Which centroids these are (set by centroids_for_solving), told to the user.
    how = {"centroids": str(sources.meta.get("centroids", "detected"))}
    note = sources.meta.get("centroids_note")
    notes = (str(note),) if note else ()
    if len(good) < max(min_matches, 3):
        raise ValueError(f"only {len(good)} usable sources detected; at least {min_matches} needed")
    xy = np.column_stack([np.asarray(good["x"], float), np.asarray(good["y"], float)])
    return PreparedSources(good, xy, centroid_sigma(good), how, notes)
