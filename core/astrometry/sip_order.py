"""The SIP order a field's stars support, judged on stars left out of the fit.

A higher polynomial order always lowers the residuals of the stars it was fitted
to; whether it describes the field better shows only on stars it did not see.
K-fold cross-validation fits each order on all folds but one and measures the
left-out stars' residuals in units of their errors; the order with the smallest
held-out chi^2 is kept (the lowest on a tie). On the EY UMa thumbnail (26
stars, 0.1 px centroids) the held-out RMS is 0.10, 0.12 and 0.14 px for orders
1, 2 and 3: the recorded astrometry.net solution's second-order terms are not
supported by these stars.
"""

from __future__ import annotations

import numpy as np

from .wcsfit import (
    WcsFitError,
    _design,
    _excess_scatter,
    _max_order_for,
    _terms,
    fit_wcs,
    gnomonic,
    mean_direction,
)

__all__ = ["held_out_chi2", "choose_sip_order"]


def held_out_chi2(
    xy: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    image_shape: tuple[int, int],
    order: int,
    sigma: np.ndarray,
    folds: int = 10,
    crval: tuple[float, float] | None = None,
) -> float:
    """Mean held-out chi^2 per star of a fit of ``order`` (k-fold, no clipping).

    Parameters
    ----------
    xy, ra, dec : ndarray
        Matched stars (0-based px, degrees), outliers already removed.
    image_shape : (ny, nx)
        Frame shape.
    order : int
        SIP order (1: TAN).
    sigma : ndarray (N,)
        Per-axis position error of each star (px), the unexplained scatter
        included.
    folds : int
        Number of folds (at most one per star). Stars go to folds in turn,
        so the answer is repeatable.
    crval : (ra, dec), optional
        Tangent point (the full fit's); the stars' mean direction when None.

    Notes
    -----
    At a fixed tangent point TAN-SIP is a polynomial in the pixel offsets
    from CRPIX (see :mod:`~fluxion.core.astrometry.wcsfit`), so each fold is
    one weighted linear least-squares fit and its held-out residuals are
    read off the polynomial: no WCS is built (that was most of the hinted
    solve's fitting time).
    """
    n = len(xy)
    k = max(2, min(folds, n))
    fold = np.arange(n) % k
    ny, nx = image_shape
    order = max(int(order), 1)
    terms = _terms(order)
    if crval is None:
        crval = mean_direction(ra, dec)
    xi, eta = gnomonic(ra, dec, *crval)
    sky = np.column_stack([xi, eta])
    norm = max(nx, ny) / 2.0
    # 0-based pixels to offsets from CRPIX = ((nx + 1) / 2, (ny + 1) / 2), as fit_wcs.
    design = _design((xy[:, 0] + 0.5 - nx / 2.0) / norm, (xy[:, 1] + 0.5 - ny / 2.0) / norm, terms)
    weight = 1.0 / np.asarray(sigma, float)
    chi2 = np.zeros(n)
    for f in range(k):
        test = fold == f
        train = ~test
        if n - int(test.sum()) < 4 or _max_order_for(n - int(test.sum()), order) != order:
            return np.inf  # too few training stars for this order: it cannot be judged
        coef, *_ = np.linalg.lstsq(
            design[train] * weight[train, None], sky[train] * weight[train, None], rcond=None
        )
        cd = coef[1:3].T / norm  # d(xi, eta) / d(u, v) in degrees per pixel
        if abs(np.linalg.det(cd)) < 1e-20:
            raise WcsFitError("matched stars are degenerate (on a line?)")
        d = (sky[test] - design[test] @ coef) @ np.linalg.inv(cd).T
        chi2[test] = np.sum(d**2, axis=1) / sigma[test] ** 2
    return float(np.mean(chi2))


def choose_sip_order(
    xy: np.ndarray,
    ra: np.ndarray,
    dec: np.ndarray,
    *,
    image_shape: tuple[int, int],
    max_order: int,
    sigma: np.ndarray | None = None,
    folds: int = 10,
) -> tuple[int, dict[int, float]]:
    """The SIP order, up to ``max_order``, that best predicts held-out stars.

    Parameters
    ----------
    xy, ra, dec : ndarray
        Matched stars kept by the fit (0-based px, degrees).
    image_shape : (ny, nx)
        Frame shape.
    max_order : int
        Highest order tried (the user's setting).
    sigma : ndarray (N,), optional
        Per-axis position errors (px); the scatter they do not explain is
        added in quadrature, as the WCS fit does. Equal errors when None.
    folds : int
        Cross-validation folds.

    Returns
    -------
    order : int
        Chosen order (1 = TAN; ``max_order`` itself when it is below 2).
    scores : dict
        Held-out chi^2 per star for each order tried.
    """
    xy = np.asarray(xy, float).reshape(-1, 2)
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    top = _max_order_for(len(xy), max(int(max_order), 1))
    if top < 2:
        return 1, {}
    sig = np.ones(len(xy)) if sigma is None else np.asarray(sigma, float)
    try:
        # Its residuals and tangent point are wanted, not its inverse distortion.
        full = fit_wcs(
            xy, ra, dec, image_shape=image_shape, sip_order=top, clip_sigma=0.0, sigma=sig,
            inverse=False,
        )  # fmt: skip
    except WcsFitError:
        return 1, {}
    r = np.hypot(*full.residuals.T)
    if sigma is None:
        # Equal errors: the full fit's per-axis RMS is their size, so scores stay chi^2.
        sig = np.full(len(xy), max(full.rms_px / np.sqrt(2.0), 1e-6))
    sig = np.hypot(sig, _excess_scatter(r, sig, 2 * len(_terms(top))))
    # With many stars fewer folds still leave out enough of them each time
    # (ten, then thirty or more), at a half or a third of the fits: the
    # choice is the hinted solve's largest cost.
    n = len(xy)
    k = folds if n < 50 else min(folds, 5) if n < 100 else min(folds, 3)
    scores: dict[int, float] = {}
    for order in range(1, top + 1):
        try:
            scores[order] = held_out_chi2(
                xy, ra, dec, image_shape=image_shape, order=order, sigma=sig, folds=k,
                crval=tuple(full.wcs.wcs.crval),
            )  # fmt: skip
        except WcsFitError:
            scores[order] = np.inf
    best = min(scores, key=lambda o: (scores[o], o))
    return best, scores
