"""Pixel-scale and pointing guesses for a hinted solve, and where each came from.

The scale comes, in order of trust, from the user, from a WCS already in the
header, from a plate-scale card (PIXSCALE, SECPIX, SCALE), or from the focal
length and pixel size (``206.265 * pixel_um / focal_mm``; reducers and binning
make that one the vaguest, hence its wider tolerance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from fluxion.core.runtime.quiet import quiet

__all__ = [
    "ScaleGuess",
    "scale_from_optics",
    "scale_from_wcs_header",
    "guess_scale",
    "header_wcs",
]

_ARCSEC_PER_RADIAN = 206264.80624709636


@dataclass(frozen=True)
class ScaleGuess:
    """A pixel scale with its uncertainty and origin.

    Attributes
    ----------
    arcsec_per_px : float
        Best guess.
    tolerance : float
        Fractional uncertainty (0.05 = 5 %).
    source : str
        Where it came from, for the user ("user", "header WCS", "FOCALLEN x XPIXSZ").
    """

    arcsec_per_px: float
    tolerance: float
    source: str

    def __post_init__(self) -> None:
        if not (np.isfinite(self.arcsec_per_px) and self.arcsec_per_px > 0):
            raise ValueError(f"pixel scale must be positive, got {self.arcsec_per_px}")
        if not 0 <= self.tolerance < 10:
            raise ValueError(f"scale tolerance must be a fraction in [0, 10), got {self.tolerance}")

    @classmethod
    def from_range(cls, low: float, high: float, source: str = "user range") -> ScaleGuess:
        """The guess covering ``low..high`` arcsec/px (geometric middle)."""
        if not 0 < low <= high:
            raise ValueError(f"scale range must satisfy 0 < low <= high, got {low}, {high}")
        mid = math.sqrt(low * high)
        return cls(mid, high / mid - 1.0, source)

    @property
    def low(self) -> float:
        return self.arcsec_per_px / (1.0 + self.tolerance)

    @property
    def high(self) -> float:
        return self.arcsec_per_px * (1.0 + self.tolerance)


def scale_from_optics(
    focal_length_mm: float | None, pixel_size_um: float | None, binning: int = 1
) -> float | None:
    """arcsec/px from focal length (mm) and pixel size (um, before binning)."""
    if not focal_length_mm or not pixel_size_um or focal_length_mm <= 0 or pixel_size_um <= 0:
        return None
    return _ARCSEC_PER_RADIAN * pixel_size_um * max(int(binning), 1) * 1e-3 / focal_length_mm


def header_wcs(header: fits.Header) -> WCS | None:
    """The celestial WCS of a header, or None when there is none usable."""
    if not any(k in header for k in ("CTYPE1", "CD1_1", "PC1_1")):
        return None
    try:
        with quiet(FITSFixedWarning):
            w = WCS(header, naxis=2, relax=True)
    except Exception:  # a broken WCS is simply no WCS here
        return None
    if not w.has_celestial or not w.wcs.ctype[0].startswith("RA"):
        return None
    return w.celestial


def scale_from_wcs_header(header: fits.Header) -> float | None:
    """arcsec/px of a WCS in the header, or None."""
    w = header_wcs(header)
    if w is None:
        return None
    m = w.pixel_scale_matrix
    det = abs(float(np.linalg.det(m)))
    return math.sqrt(det) * 3600.0 if det > 0 else None


def _card(header: fits.Header, *names: str) -> float | None:
    for n in names:
        v = header.get(n)
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if np.isfinite(f) and f > 0:
            return f
    return None


def guess_scale(
    header: fits.Header | None = None,
    *,
    user_scale: float | None = None,
    user_tolerance: float = 0.05,
    focal_length_mm: float | None = None,
    pixel_size_um: float | None = None,
    binning: int = 1,
) -> ScaleGuess | None:
    """The best pixel-scale guess available, or None.

    Parameters
    ----------
    header : Header, optional
        Frame header (WCS, PIXSCALE/SECPIX, FOCALLEN, XPIXSZ, XBINNING).
    user_scale : float, optional
        Scale typed by the user (arcsec/px); wins over everything.
    user_tolerance : float
        Its fractional uncertainty.
    focal_length_mm, pixel_size_um, binning : optional
        Instrument facts (from the instrument profile or normalised header).
    """
    if user_scale:
        return ScaleGuess(float(user_scale), user_tolerance, "user")
    if header is not None:
        s = scale_from_wcs_header(header)
        if s:
            return ScaleGuess(s, 0.02, "header WCS")
        s = _card(header, "PIXSCALE", "SECPIX", "SCALE", "PIXSCAL1")
        if s:
            return ScaleGuess(s, 0.05, "header plate scale")
        focal_length_mm = focal_length_mm or _card(header, "FOCALLEN", "FOCAL")
        if pixel_size_um is None:
            pixel_size_um = _card(header, "XPIXSZ", "PIXSIZE1", "PIXSIZE")
            # MaxIm DL and most capture programs write XPIXSZ after binning.
            binning = 1
    s = scale_from_optics(focal_length_mm, pixel_size_um, binning)
    if s:
        return ScaleGuess(s, 0.10, "focal length and pixel size")
    return None
