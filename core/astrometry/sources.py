"""The sources a plate solve matches: clean, brightest first, with honest position errors.

:func:`prepare_sources` turns a detection table into :class:`PreparedSources`;
:func:`catalog_sigma_px` gives the catalog side of each pair's error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table

from .inputs import star_like

__all__ = [
    "PreparedSources",
    "blend_shift_px",
    "catalog_sigma_px",
    "centroid_sigma",
    "frame_fwhm",
    "prepare_sources",
]


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
    fwhm : float
        The frame's FWHM (px; NaN when unknown): how close catalog neighbours
        blend (:func:`blend_shift_px`).
    """

    table: Table
    xy: np.ndarray
    sigma: np.ndarray | None
    how: dict
    notes: tuple[str, ...]
    fwhm: float = float("nan")


def _brightest_rows(sources: Table, rows: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` brightest of ``rows`` (indices into ``sources``), brightest first."""
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)[rows]
        order = np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")
        rows = rows[order]
    return rows[:n]


def _good_rows(sources: Table) -> np.ndarray:
    """Indices of the sources fit to be matched (finite, unflagged, star-like)."""
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
    return np.flatnonzero(keep)


# Per-axis centroid error of a detected (windowed) centroid in units of
# FWHM / SNR: 0.43 on simulated frames of known truth (isolated stars, SNR
# 5-300, 20 frames; pull widths 0.8-1.1 with it, 0.4 with 1.0). The floor is
# what the brightest stars scatter by there (0.004-0.007 px); what real frames
# add beyond it is estimated by the WCS fit itself (its excess scatter).
_CENTROID_PER_FWHM_SNR = 0.43
_CENTROID_FLOOR_PX = 0.004


def centroid_sigma(sources: Table) -> np.ndarray | None:
    """Centroid uncertainty of each source (px), per axis; None when nothing says.

    A pixel-integrated fit's own errors (``x_err``, ``y_err``, from the fit's
    covariance) where it ran; elsewhere 0.43 FWHM / SNR, how a centroid's
    error scales with the PSF width and the signal-to-noise ratio, calibrated
    on simulated stars. The floor stands for what no SNR removes; what else
    scatters the positions (blends: :func:`blend_shift_px`, cosmic rays,
    seeing) is estimated by the WCS fit itself.
    """
    n = len(sources)
    sig = np.full(n, np.nan)
    if "snr" in sources.colnames:
        snr = np.asarray(sources["snr"], float)
        fwhm = np.asarray(sources["fwhm"], float) if "fwhm" in sources.colnames else np.full(n, 3.0)
        good = np.isfinite(fwhm) & (fwhm > 0)
        fwhm = np.where(good, fwhm, np.median(fwhm[good]) if good.any() else 3.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            sig = _CENTROID_PER_FWHM_SNR * fwhm / snr
    if "x_err" in sources.colnames and "y_err" in sources.colnames:
        ex, ey = (np.asarray(sources[c], float) for c in ("x_err", "y_err"))
        fitted = np.sqrt(0.5 * (ex**2 + ey**2))
        sig = np.where(np.isfinite(fitted) & (fitted > 0), fitted, sig)
    elif "snr" not in sources.colnames:
        return None
    # Unknown or absurd (a fit that did not pin the star): one pixel, i.e. barely counted.
    sig = np.where(np.isfinite(sig) & (sig > 0), np.minimum(sig, 1.0), 1.0)
    return np.hypot(sig, _CENTROID_FLOOR_PX)


def frame_fwhm(sources: Table) -> float:
    """The frame's FWHM (px) from a source table: its ``fwhm`` meta, else the median; NaN."""
    fwhm = sources.meta.get("fwhm")
    if fwhm is None and "fwhm" in sources.colnames:
        values = np.asarray(sources["fwhm"], float)
        values = values[np.isfinite(values) & (values > 0)]
        fwhm = float(np.median(values)) if len(values) else None
    try:
        fwhm = float(fwhm)
    except (TypeError, ValueError):
        return float("nan")
    return fwhm if np.isfinite(fwhm) and fwhm > 0 else float("nan")


def blend_shift_px(xy: np.ndarray, mag: np.ndarray, fwhm: float) -> np.ndarray:
    """How far its catalog neighbours pull each star's centroid (px): a blend's error.

    A neighbour ``d`` px away with ``q`` times the star's flux moves an
    unresolved centroid by ``q / (1 + q) d`` toward it (the flux-weighted
    mean); a resolved one less, here by ``exp(-d^2 / (2 FWHM^2))``, which
    brings the pulls of blended simulated stars from 4-6 to about 1.5. A
    centroid cannot see its blend (its shape stays round to a few percent),
    but the catalog can.

    Parameters
    ----------
    xy : ndarray (N, 2)
        Catalog stars on the frame's pixel grid (any offset; the scale matters).
    mag : ndarray (N,)
        Their magnitudes in one band (NaN: unknown, neither pulled nor pulling).
    fwhm : float
        The frame's FWHM (px); NaN or <= 0 gives zeros.
    """
    n = len(xy)
    shift = np.zeros(n)
    mag = np.asarray(mag, float)
    if n < 2 or not (np.isfinite(fwhm) and fwhm > 0):
        return shift
    from scipy.spatial import cKDTree

    known = np.nonzero(np.isfinite(mag) & np.all(np.isfinite(xy), axis=1))[0]
    if len(known) < 2:
        return shift
    pairs = cKDTree(xy[known]).query_pairs(3.0 * fwhm, output_type="ndarray")
    if len(pairs) == 0:
        return shift
    i, j = known[pairs[:, 0]], known[pairs[:, 1]]
    d = np.hypot(*(xy[i] - xy[j]).T)
    fade = d * np.exp(-(d**2) / (2.0 * fwhm**2))
    q_ij = 10.0 ** (-0.4 * (mag[j] - mag[i]))  # j's flux over i's
    # Both directions: j pulls i by q_ij / (1 + q_ij), i pulls j by the inverse.
    np.add.at(shift, i, q_ij / (1.0 + q_ij) * fade)
    np.add.at(shift, j, 1.0 / (1.0 + q_ij) * fade)
    return shift


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
    # One copy of the table: the rows kept, brightest first.
    good = sources[_brightest_rows(sources, _good_rows(sources), max_sources)]
    # Which centroids these are (set by centroids_for_solving), told to the user.
    how = {"centroids": str(sources.meta.get("centroids", "detected"))}
    note = sources.meta.get("centroids_note")
    notes = (str(note),) if note else ()
    if len(good) < max(min_matches, 3):
        raise ValueError(f"only {len(good)} usable sources detected; at least {min_matches} needed")
    xy = np.column_stack([np.asarray(good["x"], float), np.asarray(good["y"], float)])
    return PreparedSources(good, xy, centroid_sigma(good), how, notes, frame_fwhm(sources))
