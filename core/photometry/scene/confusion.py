"""How well each star's PSF fits the residual in its footprint: a per-star confusion error.

A star with an undetected neighbour ~2.5 px away (case B: 12 % of the
stars, the neighbour carrying ~7 % of their flux) takes part of that
light into its flux; its marginal error, which only knows the stars in
the table, is then too small (pulls 1.6-2.0, where the others' are
0.99-1.04). The fit cannot see the light it absorbed, but the part of
the neighbour the PSF cannot follow stays in the residual: a reduced
chi-square of the residual weighted by the star's PSF (DAOPHOT's chi,
crowdsource's rchi2) can rise above what the noise gives. In case B it
does so only weakly (:func:`.forced.position_errors`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .design import SceneDesign

__all__ = ["psf_weighted_chi2"]


def psf_weighted_chi2(
    design: SceneDesign, columns: np.ndarray, chi2: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each column's information-weighted mean chi-square, and the mean the noise alone gives.

    Parameters
    ----------
    design : SceneDesign
        The design whose ``columns`` are the stars' PSF stamps.
    columns : ndarray of int
        The PSF column of each star.
    chi2 : ndarray
        The residual squared over its expected variance (0 without weight).
    weight : ndarray
        Inverse variance per pixel (0 without weight).

    Returns
    -------
    rchi2 : ndarray
        ``sum(w chi2) / sum(w)`` over the stamp with ``w = P^2 / var``,
        the pixels weighted by what they tell of the star's flux.
    expected : ndarray
        Its expectation for a star alone with pure noise, ``1 - sum(h^2)``
        with ``h = w / sum(w)`` the pixels' leverage: fitting the flux takes
        one degree of freedom, mostly from the pixels the weight favours.
    """
    npix = design.shape[0] * design.shape[1]
    indptr = design.indptr.astype(np.int32)
    p2 = design.vals.astype(np.float64) ** 2

    def project(vals: np.ndarray, image: np.ndarray) -> np.ndarray:
        mat = sp.csc_array((vals, design.rows, indptr), shape=(npix, design.n_columns))
        return (mat.T @ image.ravel())[columns]

    w = weight.ravel()
    den = project(p2, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        rchi2 = project(p2, w * chi2.ravel()) / den
        expected = 1.0 - project(p2 * p2, w * w) / den**2
    return rchi2, expected
