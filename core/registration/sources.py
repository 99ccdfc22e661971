"""The stars a frame is registered on: bright, clean detections with their centroid errors.

Detection is the project's own (:class:`~fluxion.core.detection.extract.Detection`,
sep with a filter matched to the frame's FWHM) at a high threshold: a few
dozen to a few hundred well-measured stars place a frame far better than
thousands of faint ones, whose centroids add noise and whose false
detections add confusion.

A one-shot-colour frame (a Bayer colour filter array, ``BAYERPAT``) is
detected on its 2x2 super-pixels: each holds one red, one blue and two green
pixels, so the binned image is a plain luminance image on which the CFA's
checkerboard no longer looks like structure to the detector. Positions are
then given back in the full frame's pixels (a super-pixel's centre is the
middle of its four pixels). This is the simplest correct treatment: the
centroid of a star of a few super-pixels is as good as the full-resolution
one to within the colour of the star, which is the same in every frame.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numpy as np

from ..io.cfa import cfa_pattern

__all__ = ["RegistrationSources", "cfa_pattern", "registration_sources", "sources_from_table"]

log = logging.getLogger(__name__)


@functools.cache
def _bad_flags() -> int:
    """The flags of sources whose centroid cannot be trusted for registration.

    Detection is imported here, where sources are chosen (on the workers), not
    with :class:`RegistrationSources`: the process that only receives a
    frame's stars (unpickled) does not pay for sep and the detection's fits.
    """
    from ..detection.measure import SourceFlags

    return int(
        SourceFlags.TRUNCATED
        | SourceFlags.SATURATED
        | SourceFlags.SINGULAR
        | SourceFlags.DEBLEND_OVERFLOW
        | SourceFlags.CENTROID_ISOPHOTAL
    )


#: Floor on a star's centroid error (px): pixel phase and PSF asymmetry.
CENTROID_FLOOR = 0.01
# Gaussian sigma per unit FWHM.
_FWHM_TO_SIGMA = 1.0 / 2.3548


@dataclass(frozen=True)
class RegistrationSources:
    """Stars of one frame for registration, brightest first.

    Attributes
    ----------
    xy : ndarray (N, 2)
        0-based pixel positions in the full frame.
    flux : ndarray (N,)
    sigma : ndarray (N,)
        1-sigma centroid error per axis (px).
    fwhm : float
        The frame's FWHM (px, full-frame pixels); NaN when unknown.
    """

    xy: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    fwhm: float = float("nan")

    def __len__(self) -> int:
        return len(self.xy)

    @classmethod
    def empty(cls) -> RegistrationSources:
        return cls(np.zeros((0, 2)), np.zeros(0), np.zeros(0))


def sources_from_table(
    table, fwhm: float | None = None, max_sources: int = 400, min_snr: float = 0.0
):
    """:class:`RegistrationSources` from a detection table (x, y, flux, flags[, snr]).

    Sources below ``min_snr`` are left out: a detection list made for
    completeness reaches S/N 5, whose centroids (FWHM / S/N, a pixel) would
    only add noise to the transforms.
    """
    if table is None or len(table) == 0:
        return RegistrationSources.empty()
    flags = np.asarray(table["flags"], dtype=np.int64) if "flags" in table.colnames else None
    ok = np.ones(len(table), bool) if flags is None else (flags & _bad_flags()) == 0
    x = np.asarray(table["x"], dtype=float)
    y = np.asarray(table["y"], dtype=float)
    flux = np.asarray(table["flux"], dtype=float)
    ok &= np.isfinite(x) & np.isfinite(y) & np.isfinite(flux) & (flux > 0)
    if fwhm is None:
        fwhm = float(table.meta.get("fwhm", np.nan)) if hasattr(table, "meta") else np.nan
    if "snr" in table.colnames:
        snr = np.asarray(table["snr"], dtype=float)
    elif "flux_err" in table.colnames:
        snr = flux / np.asarray(table["flux_err"], dtype=float)
    else:
        snr = np.full(len(table), 100.0)
    ok &= np.isfinite(snr) & (snr > max(min_snr, 0.0))
    order = np.argsort(-flux[ok])[:max_sources]
    width = fwhm if np.isfinite(fwhm) and fwhm > 0 else 3.0
    # A centroid's error per axis is about the PSF's sigma over the S/N.
    sigma = np.hypot(width * _FWHM_TO_SIGMA / snr[ok][order], CENTROID_FLOOR)
    xy = np.column_stack([x[ok][order], y[ok][order]])
    return RegistrationSources(xy, flux[ok][order], sigma, float(fwhm))


def _bin2(image: np.ndarray) -> np.ndarray:
    ny, nx = image.shape
    a = np.asarray(image[: ny // 2 * 2, : nx // 2 * 2], dtype=np.float32)
    return a.reshape(ny // 2, 2, nx // 2, 2).sum(axis=(1, 3))


def registration_sources(
    image: np.ndarray,
    *,
    cfa: str | None = None,
    threshold: float = 5.0,
    max_sources: int = 400,
) -> RegistrationSources:
    """Detect the stars a frame is registered on.

    Parameters
    ----------
    image : ndarray
        The frame (raw or calibrated).
    cfa : str, optional
        Bayer pattern (e.g. ``"GRBG"``) of a one-shot-colour frame: detect on
        2x2 super-pixels.
    threshold : float
        Detection threshold, times the unfiltered pixel noise (the Detection
        step's ``pixel_threshold`` alone).
    max_sources : int
        The brightest this many are kept.
    """
    from ..detection.extract import Detection, DetectionError, DetectionParams

    data = np.asarray(image, dtype=np.float32)
    binned = cfa is not None and min(data.shape) >= 4
    if binned:
        data = _bin2(data)
    try:
        params = DetectionParams(snr_threshold=math.inf, pixel_threshold=threshold)
        found = Detection(params)(data)
    except DetectionError as exc:
        log.warning("registration: no detection: %s", exc)
        return RegistrationSources.empty()
    s = sources_from_table(found.sources, fwhm=found.fwhm, max_sources=max_sources)
    if not binned:
        return s
    # Super-pixel (i, j) covers full pixels 2i, 2i + 1: its centre is 2i + 0.5.
    return RegistrationSources(2.0 * s.xy + 0.5, s.flux, 2.0 * s.sigma, 2.0 * s.fwhm)
