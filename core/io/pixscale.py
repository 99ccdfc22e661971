"""The header's pixel-scale hint: arcsec per pixel of the frame as stored, and its source.

Headers say the scale in three ways, tried in this order:

1. a celestial WCS (CD or CDELT/PC matrix): the frame's own pixels;
2. a plate-scale card (``PIXSCALE``, ``PIXSCAL``, ``SECPIX``, ``SCALE``, or the
   per-axis ``PIXSCAL1/2``, ``SECPIX1/2``), which some writers give for the
   unbinned detector (the Photometry Pipeline's telescope table, several
   observatory pipelines) and others for the binned frame (LCO's PIXSCALE);
3. the focal length and the pixel size (``FOCALLEN`` x ``XPIXSZ``), where
   MaxIm DL, N.I.N.A., SGP, TheSkyX and the Seestar write the pixel size after
   binning (their comments say "after binning", "with binning", "binned").

Whether a card counts unbinned pixels is read from its comment ("unbinned",
"before binning", "1x1" or "binned", "after/with binning"), else from the
profile's ``plate_scale`` / ``pixel_size`` convention ("binned", "unbinned").
When neither says and the frame is binned, the focal length and pixel size
decide when present; otherwise the hint covers both readings (a range of the
binning factor) and says so, rather than being wrong by that factor.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Self

import numpy as np
from astropy.io import fits

from .fitsio import card_float, read_wcs

__all__ = ["ScaleHint", "pixel_scale_hint", "ARCSEC_PER_RADIAN"]

ARCSEC_PER_RADIAN = 206264.80624709636

# Fractional uncertainty of each kind of hint: a WCS is a fit; a plate-scale
# card is nominal; focal length and pixel size ignore reducers and back focus.
_TOL_WCS, _TOL_CARD, _TOL_OPTICS = 0.02, 0.05, 0.10
# A plate-scale card and the optics agree on one binning reading when within this.
_OPTICS_AGREE = 0.25

_PLATE_CARDS: tuple[tuple[str, ...], ...] = (
    ("PIXSCALE",),
    ("PIXSCAL",),
    ("SECPIX",),
    ("PIXSCAL1", "PIXSCAL2"),
    ("SECPIX1", "SECPIX2"),
    ("SCALE",),
)
_FOCAL_CARDS = ("FOCALLEN", "FOCAL", "FOCLEN")
_PIXEL_CARDS = (("XPIXSZ", "YPIXSZ"), ("PIXSIZE1", "PIXSIZE2"), ("PIXSIZE",), ("XPIXELSZ",))

_UNBINNED = re.compile(r"unbinned|before binning|without binning|1x1|detector pixel", re.I)
_BINNED = re.compile(r"after binn|with binn|binning included|incl\w* binn|\bbinned", re.I)


@dataclass(frozen=True)
class ScaleHint:
    """A pixel scale from the header.

    Attributes
    ----------
    arcsec_per_px : float
        Scale of the frame's pixels as stored (binning included).
    tolerance : float
        Fractional uncertainty: the true scale is within
        ``arcsec_per_px / (1 + tolerance) .. arcsec_per_px * (1 + tolerance)``.
    source : str
        The cards and the reasoning, e.g. ``"PIXSCAL 0.4 unbinned x CCDSUM 3"``.
    """

    arcsec_per_px: float
    tolerance: float
    source: str

    @classmethod
    def from_range(cls, low: float, high: float, source: str = "user range") -> Self:
        """The hint covering ``low..high`` arcsec/px (geometric middle)."""
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


def _positive(header: fits.Header, key: str) -> float | None:
    f = card_float(header[key]) if key in header else None
    return f if f is not None and f > 0 else None


def _card_pair(header: fits.Header, keys: tuple[str, ...]) -> tuple[float, str, str] | None:
    """(value, card names, comments) of a scale or size card, per-axis cards averaged."""
    values = [(k, _positive(header, k)) for k in keys]
    found = [(k, v) for k, v in values if v is not None]
    if not found or found[0][0] != keys[0]:
        return None
    comments = " ".join(str(header.comments[k]) for k, _ in found)
    value = float(np.mean([v for _, v in found]))
    return value, "/".join(k for k, _ in found), comments


def _unbinned(comment: str, convention: str) -> bool | None:
    """True: the card counts unbinned pixels; False: binned; None: nobody says."""
    if _UNBINNED.search(comment):
        return True
    if _BINNED.search(comment):
        return False
    if convention in ("binned", "unbinned"):
        return convention == "unbinned"
    return None


def _from_wcs(header: fits.Header) -> ScaleHint | None:
    w = read_wcs(header)
    if w is None:
        return None
    try:
        det = abs(float(np.linalg.det(w.pixel_scale_matrix)))
    except (ValueError, np.linalg.LinAlgError):
        return None
    if not (math.isfinite(det) and det > 0):
        return None
    return ScaleHint(math.sqrt(det) * 3600.0, _TOL_WCS, "header WCS")


def _optics(
    header: fits.Header, binning: int, convention: str
) -> tuple[float, str, bool | None] | None:
    """(arcsec/px of the frame, source, whether the pixel-size reading is known)."""
    focal = next((_positive(header, k) for k in _FOCAL_CARDS if _positive(header, k)), None)
    focal_key = next((k for k in _FOCAL_CARDS if _positive(header, k)), "")
    pixel = next((p for keys in _PIXEL_CARDS if (p := _card_pair(header, keys))), None)
    if focal is None or pixel is None:
        return None
    size, size_keys, comment = pixel
    unbinned = _unbinned(comment, convention)
    # MaxIm DL, N.I.N.A., SGP, TheSkyX (SBIGFITSEXT) and the Seestar all write the
    # pixel size after binning: that is the reading when nothing says otherwise.
    factor = binning if unbinned else 1
    scale = ARCSEC_PER_RADIAN * size * factor * 1e-3 / focal
    how = f" unbinned x binning {binning}" if unbinned and binning > 1 else ""
    return scale, f"{focal_key} {focal:g} mm and {size_keys} {size:g} um{how}", unbinned


def pixel_scale_hint(
    header: fits.Header,
    binning: int = 1,
    *,
    plate_scale_convention: str = "auto",
    pixel_size_convention: str = "auto",
) -> ScaleHint | None:
    """The header's pixel scale (arcsec per stored pixel) and where it came from, or None.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The frame's header.
    binning : int
        On-chip binning of the frame (x), from XBINNING/CCDSUM/BINNING.
    plate_scale_convention, pixel_size_convention : {"auto", "binned", "unbinned"}
        What the writer's plate-scale and pixel-size cards count, when their
        comments do not say (the header profile's conventions).

    Returns
    -------
    ScaleHint or None
    """
    binning = max(int(binning), 1)
    wcs = _from_wcs(header)
    if wcs is not None:
        return wcs
    optics = _optics(header, binning, pixel_size_convention)
    for keys in _PLATE_CARDS:
        card = _card_pair(header, keys)
        if card is None:
            continue
        value, names, comment = card
        unbinned = _unbinned(comment, plate_scale_convention)
        if binning == 1:
            return ScaleHint(value, _TOL_CARD, f"{names} {value:g}")
        if unbinned is None and optics is not None:
            # The optics tell which reading is meant, when they match one of them.
            for reading in (False, True):
                s = value * (binning if reading else 1)
                if abs(s / optics[0] - 1.0) < _OPTICS_AGREE:
                    unbinned = reading
                    break
        if unbinned is None:
            low, high = value, value * binning
            return ScaleHint.from_range(
                low,
                high,
                f"{names} {value:g}, binned or unbinned not said: {low:g}-{high:g} with binning "
                f"{binning}",
            )
        if unbinned:
            return ScaleHint(
                value * binning, _TOL_CARD, f"{names} {value:g} unbinned x binning {binning}"
            )
        return ScaleHint(value, _TOL_CARD, f"{names} {value:g} (binned)")
    if optics is not None:
        return ScaleHint(optics[0], _TOL_OPTICS, optics[1])
    return None
