"""Which detections the plate solver may trust: star-like sources and the stars' FWHM.

Real frames carry detections no catalog holds: cosmic rays and hot pixels
(one or a few pixels, sharper than any star the optics make), bleeding
saturated stars and cosmic-ray tracks (long along one axis). On a simulated
1.1 arcsec/px frame with 500 cosmic rays per Mpx and minute, 2e-3 hot
pixels, heavy vignetting and stars bleeding below the ADC's saturation (so
nothing flags them), half of the sources bright enough for the FWHM were
not stars (median width 0.51 px against the stars' 1.69 px): the frame's
FWHM came out 1.56 px and, a little more, would have switched on the
undersampled-frame centroids for well-sampled stars. The bright end is
what the matcher uses, and a bleed's centroid or a track's is not a star's.

Sources are kept out of the solve when

* elongated and long: axis ratio a/b above :data:`MAX_ELONGATION` and a
  semi-major axis over three of the stars' FWHMs (bleeds, tracks, trails;
  a close pair of undersampled stars, as on the EY UMa thumbnail, is
  elongated but short, and the catalog holds its light centre well enough:
  leaving such pairs out moved that frame's centre by 0.18 arcsec);
* sharper or far wider than the stars: width below half or above three
  times the stars' FWHM (pieces of a bleed column, galaxies), on frames
  whose stars are resolved (1.5 px or more; an undersampled star's light
  is in one or two pixels, like a hot pixel's, and on the EY UMa thumbnail
  the cut moved the centre by 0.1-0.2 arcsec).

The stars' FWHM is found iteratively: the median width of the sources at
least half as wide as the last estimate, starting from all clean ones; a
population of sharp impostors falls away in a step or two, while a frame
whose stars really are undersampled (the EY UMa thumbnail, 0.6 px) keeps
its width.
"""

from __future__ import annotations

import math

import numpy as np
from astropy.table import Table

__all__ = ["MAX_ELONGATION", "star_like", "stars_fwhm"]

#: Axis ratio above which a source is not taken for a star.
MAX_ELONGATION = 3.0
_SHARP = 0.5  # fraction of the stars' FWHM below which a source is an impostor
_WIDE = 3.0  # times the stars' FWHM above which a source is a bleed's piece or a galaxy
# Stars narrower than this (px) can be as sharp as a hot pixel, and their
# measured widths scatter (0.6 to 9 px on the EY UMa thumbnail): no width cuts.
_RESOLVED = 1.5


def _column(sources: Table, name: str) -> np.ndarray | None:
    if name not in sources.colnames:
        return None
    return np.asarray(sources[name], float)


def stars_fwhm(sources: Table, min_snr: float = 20.0) -> float:
    """The stars' FWHM (px) from the widths of clean, bright, round sources; NaN when unknown.

    Parameters
    ----------
    sources : Table
        Detected sources with ``fwhm`` (and, when present, ``flags``, ``snr``,
        ``a``, ``b``).
    min_snr : float
        Faintest sources whose width counts.
    """
    width = _column(sources, "fwhm")
    if width is None or not len(sources):
        return math.nan
    ok = np.isfinite(width) & (width > 0)
    if "flags" in sources.colnames:
        ok &= np.asarray(sources["flags"], int) == 0
    snr = _column(sources, "snr")
    if snr is not None and np.sum(ok & (snr >= min_snr)) >= 5:
        ok &= snr >= min_snr
    a, b = _column(sources, "a"), _column(sources, "b")
    if a is not None and b is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ok &= ~(a / b > MAX_ELONGATION)
    w = width[ok]
    if not len(w):
        return math.nan
    fwhm = float(np.median(w))
    for _ in range(10):
        kept = w[w >= _SHARP * fwhm]
        new = float(np.median(kept)) if len(kept) else fwhm
        if abs(new - fwhm) <= 1e-3 * fwhm:
            break
        fwhm = new
    return fwhm


def star_like(sources: Table, fwhm: float | None = None) -> np.ndarray:
    """Boolean mask of the sources that may be stars (see the module).

    Parameters
    ----------
    sources : Table
        Detected sources.
    fwhm : float, optional
        The stars' FWHM; :func:`stars_fwhm` of ``sources`` by default.
    """
    keep = np.ones(len(sources), bool)
    fwhm = stars_fwhm(sources) if fwhm is None else fwhm
    if not math.isfinite(fwhm):
        return keep
    a, b = _column(sources, "a"), _column(sources, "b")
    if a is not None and b is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            keep &= ~((a / b > MAX_ELONGATION) & (a > 3.0 * fwhm))
    width = _column(sources, "fwhm")
    if width is not None and fwhm >= _RESOLVED:
        keep &= ~(width < _SHARP * fwhm) & ~(width > _WIDE * fwhm)
    return keep
