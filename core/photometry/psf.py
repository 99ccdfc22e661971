"""PSF photometry with photutils: noise-weighted fits, grouped neighbours, forced mode.

photutils' ``PSFPhotometry`` does the fitting and the grouping; this module
chooses the weights. The fit is weighted by the expected noise (sky + model +
read noise): a first pass weights with the observed pixels, the second with
the first pass's model, because weights from the data itself bias faint
fluxes low.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from astropy.utils.exceptions import AstropyUserWarning
from photutils.psf import PSFPhotometry, SourceGrouper

from .epsf import EffectivePSF
from .flags import PhotometryFlag as F
from .noise import NoiseModel

__all__ = ["PSFFit", "fit_psf_photometry"]

# photutils flag bits (photutils.psf.PSF_FLAGS) mapped onto ours.
_PARTIAL, _OUTSIDE, _NEGATIVE, _NO_CONVERGENCE, _NO_COVARIANCE = 1, 2, 4, 8, 16
_FAILED = 64 | 128 | 256 | 512 | 1024


@dataclass(frozen=True)
class PSFFit:
    """Result of :func:`fit_psf_photometry`."""

    table: Table
    """x, y, flux, flux_err, flags, x_err, y_err, qfit, group_id, group_size."""
    model: np.ndarray
    """Model image of the fitted stars (no sky)."""


def _run(phot: PSFPhotometry, data, error, mask, init: Table) -> Table:
    with warnings.catch_warnings():
        # photutils warns for every group it finds large and for fits that
        # hit the iteration limit; both are reported through the flags.
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        return phot(data, error=error, mask=mask, init_params=init)


def fit_psf_photometry(
    image: np.ndarray,
    positions: np.ndarray,
    psf: EffectivePSF,
    *,
    sky: np.ndarray | float,
    noise: NoiseModel,
    mask: np.ndarray | None = None,
    fit_size: int = 15,
    group_distance: float = 0.0,
    forced: bool = False,
    variance: np.ndarray | None = None,
) -> PSFFit:
    """Fit the PSF to every star (photutils PSFPhotometry), weighted by the noise.

    Parameters
    ----------
    image : ndarray
        Frame in electrons, sky not subtracted.
    positions : ndarray, shape (N, 2)
        Starting (x, y); kept fixed when ``forced``.
    psf : EffectivePSF
        The PSF.
    sky : ndarray or float
        Sky in electrons per pixel, subtracted before the fit.
    noise : NoiseModel
        For the read noise of the weights.
    mask : ndarray of bool, optional
        Pixels left out of the fit (bad, saturated).
    fit_size : int
        Odd size of the fitted box (px).
    group_distance : float
        Stars closer than this (px) are fitted together; 0 fits each alone.
    forced : bool
        Fit fluxes only, at the given positions.
    variance : ndarray, optional
        Per-pixel variance (e-^2) replacing the noise model.
    """
    fit_size = int(fit_size) | 1
    data = np.asarray(image, dtype=np.float64) - sky
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    model_psf = psf.image_psf()
    if forced:
        model_psf.x_0.fixed = True
        model_psf.y_0.fixed = True
    grouper = SourceGrouper(min_separation=group_distance) if group_distance > 0 else None
    phot = PSFPhotometry(
        model_psf,
        fit_size,
        grouper=grouper,
        aperture_radius=max(1.5 * psf.fwhm, 2.0),
        xy_bounds=None if forced else 2.0,
        group_warning_threshold=50,
    )
    init = Table({"x": pos[:, 0], "y": pos[:, 1]})
    sky_arr = np.broadcast_to(np.asarray(sky, dtype=np.float64), data.shape)
    var = variance if variance is not None else noise.variance(sky_arr + np.maximum(data, 0))
    res = _run(phot, data, np.sqrt(var), mask, init)
    if variance is None:
        # Second pass: weights from the expected signal (sky + first-pass model).
        model = phot.make_model_image(data.shape, psf_shape=(psf.size, psf.size))
        var = noise.variance(sky_arr + np.maximum(model, 0))
        init = Table({"x": res["x_fit"], "y": res["y_fit"], "flux": res["flux_fit"]})
        bad_init = ~np.isfinite(init["flux"]) | ~np.isfinite(init["x"])
        init["x"][bad_init] = pos[bad_init, 0]
        init["y"][bad_init] = pos[bad_init, 1]
        init["flux"][bad_init] = 1.0
        res = _run(phot, data, np.sqrt(var), mask, init)
    model = phot.make_model_image(data.shape, psf_shape=(psf.size, psf.size))
    pflags = np.asarray(res["flags"], dtype=np.int64)
    flags = np.zeros(len(res), dtype=np.int32)
    flags[(pflags & _PARTIAL) != 0] |= F.MASKED
    flags[(pflags & (_OUTSIDE | _FAILED)) != 0] |= F.FIT_FAILED
    flags[(pflags & _NEGATIVE) != 0] |= F.NEGATIVE_FLUX
    flags[(pflags & _NO_CONVERGENCE) != 0] |= F.POOR_FIT
    table = Table()
    table["x"] = np.asarray(res["x_fit"], dtype=np.float64)
    table["y"] = np.asarray(res["y_fit"], dtype=np.float64)
    table["flux"] = np.asarray(res["flux_fit"], dtype=np.float64)
    table["flux_err"] = np.asarray(res["flux_err"], dtype=np.float64)
    table["flags"] = flags
    for src, dst in (("x_err", "x_err"), ("y_err", "y_err"), ("qfit", "qfit")):
        table[dst] = np.asarray(res[src], dtype=np.float64)
    table["group_id"] = np.asarray(res["group_id"], dtype=np.int64)
    table["group_size"] = np.asarray(res["group_size"], dtype=np.int64)
    return PSFFit(table=table, model=model)
