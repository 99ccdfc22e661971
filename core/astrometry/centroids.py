"""Centroids of undersampled stars from a pixel-integrated Gaussian fit.

When the FWHM is about one pixel or less, windowed and quadratic centroids
are pulled towards the centre of the brightest pixel (a star's light falls
into one or two pixels, whose centres are all such centroids can see). A
Gaussian integrated over each pixel (photutils ``CircularGaussianPRF``)
models exactly that sampling, so its fitted position is not pulled. On the
EY UMa thumbnail (FWHM ~0.6 px, 9 arcsec/px) it takes the RMS of a TAN fit
against ATLAS-RefCat2 from 0.28 px to ~0.1 px.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import CircularGaussianPRF, PSFPhotometry

from fluxion.core.quiet import quiet

__all__ = [
    "CENTROID_CHOICES",
    "PRF_FWHM_LIMIT",
    "centroid_method",
    "centroids_for_solving",
    "prf_centroids",
    "sources_fwhm",
]

log = logging.getLogger(__name__)

#: How the solver's star positions are found: "auto" fits pixel-integrated
#: centroids below :data:`PRF_FWHM_LIMIT`, "detected" keeps the detection's
#: (windowed) centroids, "prf" always fits.
CENTROID_CHOICES = ("auto", "detected", "prf")

#: Frame FWHM (px) below which "auto" fits pixel-integrated centroids. From
#: about 1.5 px down, a star's light falls mostly into two or three pixels
#: per axis and windowed centroids are pulled towards pixel centres; above
#: it they are as good as a fit and cost nothing.
PRF_FWHM_LIMIT = 1.5


def prf_centroids(
    data: np.ndarray,
    sources: Table,
    *,
    fit_shape: int = 5,
    fwhm: float = 1.0,
    mask: np.ndarray | None = None,
) -> Table:
    """``sources`` with x, y refined by a pixel-integrated Gaussian fit.

    Parameters
    ----------
    data : ndarray
        The image (background is removed here as a sigma-clipped median,
        enough on the few pixels of an undersampled star).
    sources : Table
        Detected sources with x, y (0-based px).
    fit_shape : int
        Side of the fitted box (px, odd).
    fwhm : float
        Starting FWHM (px); the FWHM is fitted per star.
    mask : ndarray of bool, optional
        Pixels left out of the fit (True: bad); non-finite pixels always are.

    Returns
    -------
    Table
        A copy of ``sources``: x, y replaced where the fit converged to
        within one pixel of the start
        (positive flux), ``x_err``/``y_err`` (px, NaN where
        the detected position was kept), ``fwhm`` the fitted FWHM there.
    """
    out = sources.copy()
    if not len(out):
        return out
    image = np.asarray(data, float)
    bad = ~np.isfinite(image)
    if mask is not None:
        bad |= np.asarray(mask, bool)
    _, median, _ = sigma_clipped_stats(image, mask=bad, maxiters=3)
    model = CircularGaussianPRF(fwhm=fwhm)
    model.fwhm.fixed = False  # the sampling is what matters; let each star say its width
    phot = PSFPhotometry(model, fit_shape=(fit_shape, fit_shape), aperture_radius=fit_shape / 2)
    x0, y0 = np.asarray(out["x"], float), np.asarray(out["y"], float)
    # Faint stars may not converge: they are flagged and keep their detected position.
    with quiet(AstropyUserWarning, "One or more fit"):
        fitted = phot(
            image - median, mask=bad if bad.any() else None, init_params=Table({"x": x0, "y": y0})
        )
    x, y = np.asarray(fitted["x_fit"], float), np.asarray(fitted["y_fit"], float)
    converged = (np.asarray(fitted["flags"], int) & (4 | 8)) == 0  # positive flux, converged
    ok = converged & np.isfinite(x) & np.isfinite(y) & (np.hypot(x - x0, y - y0) < 1.0)
    out["x"] = np.where(ok, x, x0)
    out["y"] = np.where(ok, y, y0)
    out["x_err"] = np.where(ok, np.asarray(fitted["x_err"], float), np.nan)
    out["y_err"] = np.where(ok, np.asarray(fitted["y_err"], float), np.nan)
    if "fwhm" in out.colnames:
        out["fwhm"] = np.where(ok, np.asarray(fitted["fwhm_fit"], float), out["fwhm"])
    return out


def sources_fwhm(sources: Table) -> float:
    """The frame's FWHM (px) as detection measured it; NaN when unknown.

    Fluxion's detection puts it in the table's meta; a table from elsewhere
    may only have a per-source ``fwhm`` column, whose median then stands in.
    """
    value = sources.meta.get("fwhm")
    try:
        fwhm = float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        fwhm = math.nan
    if not math.isfinite(fwhm) and "fwhm" in sources.colnames and len(sources):
        col = np.asarray(sources["fwhm"], float)
        col = col[np.isfinite(col) & (col > 0)]
        fwhm = float(np.median(col)) if len(col) else math.nan
    return fwhm


def centroid_method(choice: str, fwhm: float) -> str:
    """ "prf" or "detected": which centroids the solver uses for ``choice`` at ``fwhm`` px.

    Raises
    ------
    ValueError
        ``choice`` is not one of :data:`CENTROID_CHOICES`.
    """
    if choice not in CENTROID_CHOICES:
        raise ValueError(f"centroids must be one of {', '.join(CENTROID_CHOICES)}, not {choice!r}")
    if choice == "auto":
        return "prf" if math.isfinite(fwhm) and fwhm < PRF_FWHM_LIMIT else "detected"
    return choice


def centroids_for_solving(
    data: np.ndarray | None,
    sources: Table,
    choice: str = "auto",
    *,
    max_sources: int | None = None,
    mask: np.ndarray | None = None,
) -> Table:
    """The sources with the centroids the plate solver should use.

    Parameters
    ----------
    data : ndarray or None
        The frame the sources were detected in; None keeps the detected
        centroids (nothing to fit on).
    sources : Table
        Detected sources (x, y, flux; ``meta["fwhm"]`` the frame's FWHM).
    choice : {"auto", "detected", "prf"}
        See :data:`CENTROID_CHOICES`.
    max_sources : int, optional
        Only the brightest unsaturated sources this many are refined: the
        solver fits no more than its ``max_sources``, and a fit per star is
        what costs time.
    mask : ndarray of bool, optional
        Bad pixels of ``data``.

    Returns
    -------
    Table
        A copy of ``sources``; ``meta["centroids"]`` says which centroids
        it holds ("prf" or "detected") and ``meta["centroids_note"]`` why,
        in words for the user.
    """
    fwhm = sources_fwhm(sources)
    method = centroid_method(choice, fwhm)
    out = sources.copy(copy_data=False)
    out.meta = dict(sources.meta)
    why = f"frame FWHM {fwhm:.2f} px" if math.isfinite(fwhm) else "frame FWHM unknown"
    if method == "detected" or data is None or not len(sources):
        if method == "prf" and data is None:
            why += "; no image to fit"
        out.meta["centroids"] = "detected"
        out.meta["centroids_note"] = f"detected centroids ({why})"
        return out
    rows = _brightest_usable(sources, max_sources)
    start = fwhm if math.isfinite(fwhm) and fwhm > 0 else 1.0
    try:
        refined = prf_centroids(data, sources[rows], fwhm=start, mask=mask)
    except Exception as exc:  # a failed fit must not cost the frame its solution
        log.warning("pixel-integrated centroids failed, detected ones kept: %s", exc)
        out.meta["centroids"] = "detected"
        out.meta["centroids_note"] = f"detected centroids (the PSF fit failed: {exc})"
        return out
    out = sources.copy()
    out.meta = dict(sources.meta)
    # The fitted width goes too: the solver weights each star by FWHM / SNR, and
    # the detection's second-moment widths of one- or two-pixel stars scatter
    # widely (0.6 to 9 px on the EY UMa thumbnail), which weights the fit badly.
    for name in ("x", "y", "fwhm"):
        if name not in out.colnames:
            continue
        col = np.asarray(out[name], float).copy()
        col[rows] = np.asarray(refined[name], float)
        out[name] = col
    n_fit = int(np.isfinite(np.asarray(refined["x_err"], float)).sum())
    out.meta["centroids"] = "prf"
    out.meta["centroids_note"] = (
        f"pixel-integrated Gaussian centroids for {n_fit} of {len(rows)} stars ({why})"
    )
    return out


def _brightest_usable(sources: Table, n: int | None) -> np.ndarray:
    """Row indices of the ``n`` brightest sources that the solver would keep."""
    keep = np.isfinite(np.asarray(sources["x"], float)) & np.isfinite(
        np.asarray(sources["y"], float)
    )
    if "flags" in sources.colnames:
        from ..detection import SourceFlags

        bad = int(SourceFlags.SATURATED | SourceFlags.TRUNCATED)
        keep &= (np.asarray(sources["flags"], int) & bad) == 0
    rows = np.nonzero(keep)[0]
    if "flux" in sources.colnames:
        flux = np.asarray(sources["flux"], float)[rows]
        rows = rows[np.argsort(-np.where(np.isfinite(flux), flux, -np.inf), kind="stable")]
    return np.sort(rows[:n]) if n is not None else rows
