"""What the transient searches need of a frame, as plain data any chain can fill."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from astropy.wcs import WCS

from ..photometry.epsf import EffectivePSF, analytic_psf

__all__ = ["TransientFrame", "frame_psf"]


@dataclass(frozen=True)
class TransientFrame:
    """One calibrated frame with its solution, sources and calibration.

    Attributes
    ----------
    image : ndarray
        Calibrated pixels (image units, sky not subtracted).
    mask : ndarray of bool or None
        Pixels no measurement may use (saturated ones included).
    wcs : WCS
        The frame's astrometric solution.
    sources : Table
        The frame's detections (:class:`~fluxion.core.detection.extract.Detection`),
        with ``meta['fwhm']`` and, when fitted, ``meta['moffat_beta']``.
    file : str
        File name, for the tables.
    index : int
        Position in the sequence.
    jd_utc : float
        Mid-exposure JD (UTC).
    gain : float or None
        e- per image unit.
    zero_point, zero_point_err : float
        Calibrated magnitude of unit flux (NaN when not calibrated).
    saturated : ndarray of bool or None
        Saturated pixels (for rejecting residuals around saturated stars).
    """

    image: np.ndarray = field(repr=False)
    mask: np.ndarray | None = field(repr=False)
    wcs: WCS = field(repr=False)
    sources: Table = field(repr=False)
    file: str = ""
    index: int = 0
    jd_utc: float = math.nan
    gain: float | None = None
    zero_point: float = math.nan
    zero_point_err: float = math.nan
    saturated: np.ndarray | None = field(default=None, repr=False)

    @property
    def fwhm(self) -> float:
        """The frame's FWHM (px) from its detections."""
        return float(self.sources.meta.get("fwhm", math.nan))

    @property
    def bad(self) -> np.ndarray:
        """Bad pixels as a bool array (none when there is no mask)."""
        if self.mask is None:
            return ~np.isfinite(self.image)
        return np.asarray(self.mask, bool) | ~np.isfinite(self.image)


def frame_psf(sources: Table, fallback_fwhm: float = 3.0) -> EffectivePSF:
    """The frame's PSF: the Moffat profile fitted to its stacked stars by detection.

    Detection fits a Moffat (FWHM and beta) to the frame's clean isolated
    stars (:func:`fluxion.core.detection.measure.frame_fwhm`); that is the
    frame's own PSF at the precision the transient searches need, at no
    further cost. Without a fit (too few stars) a Moffat of beta 3 and the
    ``fallback_fwhm`` is used.
    """
    fwhm = float(sources.meta.get("fwhm", math.nan))
    beta = float(sources.meta.get("moffat_beta", math.nan))
    if not math.isfinite(fwhm) or fwhm <= 0:
        fwhm = fallback_fwhm
    if not math.isfinite(beta) or beta <= 1.0:
        beta = 3.0
    size = int(min(max(8 * fwhm, 15), 63)) | 1
    return analytic_psf("moffat", fwhm, beta=beta, size=size)
