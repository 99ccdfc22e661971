"""Pixel-scale guesses for a hinted solve, and where each came from.

The scale comes from the user when given, else from the header's own hint
(:func:`fluxion.core.io.pixscale.pixel_scale_hint`: a WCS already in the
header, a plate-scale card times the binning when it counts unbinned pixels,
or the focal length and pixel size), with that hint's tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..io.headers import normalise_header
from ..io.pixscale import ScaleHint
from ..runtime.quiet import quiet

__all__ = [
    "ScaleGuess",
    "from_hint",
    "guess_scale",
    "header_wcs",
]


@dataclass(frozen=True)
class ScaleGuess(ScaleHint):
    """A pixel scale the solver searches around: a checked :class:`ScaleHint`.

    Attributes
    ----------
    arcsec_per_px : float
        Best guess.
    tolerance : float
        Fractional uncertainty (0.05 = 5 %).
    source : str
        Where it came from, for the user ("user", "header WCS", "FOCALLEN x XPIXSZ").
    """

    def __post_init__(self) -> None:
        if not (np.isfinite(self.arcsec_per_px) and self.arcsec_per_px > 0):
            raise ValueError(f"pixel scale must be positive, got {self.arcsec_per_px}")
        if not 0 <= self.tolerance < 10:
            raise ValueError(f"scale tolerance must be a fraction in [0, 10), got {self.tolerance}")


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


def guess_scale(
    header: fits.Header | None = None,
    *,
    user_scale: float | None = None,
    user_tolerance: float = 0.05,
    hint: ScaleHint | None = None,
) -> ScaleGuess | None:
    """The best pixel-scale guess available, or None.

    Parameters
    ----------
    header : Header, optional
        Frame header, read for its scale hint when ``hint`` is not given.
    user_scale : float, optional
        Scale typed by the user (arcsec/px); wins over everything.
    user_tolerance : float
        Its fractional uncertainty.
    hint : ScaleHint, optional
        The header's hint already read (``HeaderFacts.pixel_scale``).
    """
    if user_scale:
        return ScaleGuess(float(user_scale), user_tolerance, "user")
    if hint is None and header is not None:
        hint = normalise_header(header).pixel_scale
    return from_hint(hint)


def from_hint(hint: ScaleHint | None) -> ScaleGuess | None:
    """The solver's guess from a header hint (None stays None)."""
    if hint is None:
        return None
    return ScaleGuess(hint.arcsec_per_px, hint.tolerance, hint.source)
