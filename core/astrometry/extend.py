"""The WCS fit of a match, extended to every star the first fit can reach.

:func:`fit_and_extend` fits the matched pairs, re-matches every source through
that WCS (the first, affine match misses stars in the corners of a distorted
field) and refits, choosing the distortion order on held-out stars.
"""

from __future__ import annotations

import logging

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

from .matching import Match
from .sip_order import choose_sip_order
from .wcsfit import WcsFit, fit_wcs, with_inverse_sip

__all__ = ["SIP_COVERAGE", "fit_and_extend", "frame_coverage"]

log = logging.getLogger(__name__)

# Fraction of a frame's 4 x 4 cells holding matched stars below which a
# distortion polynomial is not fitted.
SIP_COVERAGE = 0.7


def frame_coverage(xy: np.ndarray, shape: tuple[int, int], cells: int = 4) -> float:
    """Fraction of the frame's ``cells`` x ``cells`` grid that holds at least one of ``xy``."""
    ny, nx = shape
    if len(xy) == 0 or nx <= 0 or ny <= 0:
        return 0.0
    i = np.clip((np.asarray(xy[:, 0]) / nx * cells).astype(int), 0, cells - 1)
    j = np.clip((np.asarray(xy[:, 1]) / ny * cells).astype(int), 0, cells - 1)
    return len(set(zip(i.tolist(), j.tolist(), strict=True))) / cells**2


def fit_and_extend(
    xy: np.ndarray,
    sigma: np.ndarray | None,
    cat_sigma: np.ndarray,
    cat: Table,
    match: Match,
    shape: tuple[int, int],
    max_order: int,
    sip_order: int | None = None,
    *,
    reference: np.ndarray | None = None,
) -> tuple[WcsFit, np.ndarray, np.ndarray]:
    """Fit on the first matches, then re-match every source through the WCS and refit.

    The first match is affine, so stars near the corners of a distorted
    field can be missed; once a SIP fit exists they are found. Each pair
    is weighted by its centroid and catalog errors in quadrature. A given
    ``sip_order`` (the previous frame's) is fitted as it is; otherwise the
    order is chosen on held-out stars, up to ``max_order``.

    Parameters
    ----------
    xy : ndarray (N, 2)
        Source positions (0-based px).
    sigma : ndarray or None
        Per-axis centroid error of each source (px).
    cat_sigma : ndarray
        Per-axis position error of each catalog star (px).
    cat : Table
        Catalog stars (ra, dec in degrees).
    match : Match
        The matcher's pairs.
    shape : (ny, nx)
        Frame shape.
    max_order : int
        Highest SIP order to fit.
    sip_order : int, optional
        Order to fit as it is.
    reference : ndarray of bool, optional
        The catalog stars fit to be reference stars (not moved by a blend);
        all by default. The others are left out while at least 8 pairs remain.

    Returns
    -------
    fit : WcsFit
    src_i, cat_i : ndarray
        The pairs fitted (indices into ``xy`` and ``cat``).
    """

    def pair_sigma(src_i: np.ndarray, cat_i: np.ndarray) -> np.ndarray | None:
        return None if sigma is None else np.hypot(sigma[src_i], cat_sigma[cat_i])

    ra_c = np.asarray(cat["ra"], float)
    dec_c = np.asarray(cat["dec"], float)

    last: list[WcsFit] = []

    def refit(src_i: np.ndarray, cat_i: np.ndarray, order: int) -> WcsFit:
        sig = pair_sigma(src_i, cat_i)
        # CRVAL starts where the last fit put it: the same point, in fewer steps.
        crval = None
        if last:
            ra0, dec0 = last[-1].wcs.wcs.crval
            crval = (float(ra0), float(dec0))
        # The inverse distortion only for the fit returned (below), not every step's.
        fit = fit_wcs(
            xy[src_i], ra_c[cat_i], dec_c[cat_i], image_shape=shape, sip_order=order, sigma=sig,
            crval=crval, inverse=False,
        )  # fmt: skip
        last.append(fit)
        return fit

    def rematch(fit: WcsFit, src_i: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Every source within reach of a catalog star through ``fit``; None when too few."""
        px, py = fit.wcs.all_world2pix(ra_c, dec_c, 0, quiet=True)
        inside = np.isfinite(px) & np.isfinite(py) & usable
        tree = cKDTree(np.column_stack([px[inside], py[inside]]))
        d, k = tree.query(xy, distance_upper_bound=max(5.0 * fit.rms_px, 1.0))
        ok = np.isfinite(d)
        src_new = np.nonzero(ok)[0]
        cat_new = np.nonzero(inside)[0][k[ok]]
        _, first = np.unique(cat_new, return_index=True)
        src_new, cat_new = src_new[first], cat_new[first]
        if len(src_new) < len(src_i) // 2 or len(src_new) < 4:
            return None
        return src_new, cat_new

    top = max_order if sip_order is None else min(max_order, max(int(sip_order), 1))
    src_i, cat_i = match.source_index, match.catalog_index
    usable = np.ones(len(cat), bool) if reference is None else np.asarray(reference, bool)
    if np.count_nonzero(usable[cat_i]) >= 8:
        src_i, cat_i = src_i[usable[cat_i]], cat_i[usable[cat_i]]
    else:
        usable = np.ones(len(cat), bool)
    asked = min(top, 1) if len(src_i) < 12 else top
    fit = refit(src_i, cat_i, asked)
    for _ in range(2):
        pairs = rematch(fit, src_i)
        if pairs is None:
            break
        if asked == top and np.array_equal(pairs[0], src_i) and np.array_equal(pairs[1], cat_i):
            # The fit finds its own pairs again: refitting them from its CRVAL
            # gives the same fit (CRVAL moves under 1e-11 degrees), at the cost
            # of a fit a frame.
            break
        src_i, cat_i = pairs
        asked = top
        fit = refit(src_i, cat_i, top)
    if fit.sip_order >= 2 and frame_coverage(xy[src_i][fit.used], shape) < SIP_COVERAGE:
        # A distortion polynomial fitted on part of the frame runs wild
        # over the rest (1-7 px on simulated frames whose catalog covered a
        # third of them): stars that do not cover the frame get a plain TAN.
        fit = refit(src_i, cat_i, 1)
    if fit.sip_order >= 2 and sip_order is None:
        # The setting is the highest order; the stars left out of the fit
        # say whether the field supports it (see sip_order).
        keep = fit.used
        sig = pair_sigma(src_i, cat_i)
        order, scores = choose_sip_order(
            xy[src_i][keep],
            ra_c[cat_i][keep],
            dec_c[cat_i][keep],
            image_shape=shape,
            max_order=fit.sip_order,
            sigma=None if sig is None else sig[keep],
        )
        if order < fit.sip_order:
            log.info("SIP order %d chosen on held-out stars (chi^2 %s)", order, scores)
            fit = refit(src_i, cat_i, order)
    # The pairs were gathered through fits of other orders (or pulled by a
    # star the final fit rejects): a good star missed then is matched again
    # through the final fit, so no early fit loses it for good.
    pairs = rematch(fit, src_i)
    if pairs is not None and not (
        np.array_equal(pairs[0], src_i) and np.array_equal(pairs[1], cat_i)
    ):
        final = refit(*pairs, fit.sip_order)
        if final.n_used >= fit.n_used:
            fit, (src_i, cat_i) = final, pairs
    return with_inverse_sip(fit), src_i, cat_i
