"""Source detection with sep: sky background and noise, sources, FWHM per frame.

The step follows SExtractor's recipe as sep implements it: a mesh background
and rms map, a filtered threshold detection with deblending, then per source a
windowed centroid (XWIN/YWIN), a Kron flux (FLUX_AUTO) and a half-light radius.
The frame's FWHM is the median over unsaturated, isolated, well-exposed stars.

By default the detection filter is matched to the frame: a quick first pass
(SExtractor's 3x3 pyramid) measures the stars' FWHM, and the real pass smooths
with a Gaussian of that FWHM, the filter that maximises a point source's S/N
(the filtered peak's S/N then equals that of a PSF fit at the star's position).
This is what SExtractor users do by hand with a second run.

The threshold is a signal-to-noise ratio of the *filtered* image: the filtered
sky noise is the pixel noise times ``sqrt(sum k^2) / sum k`` for a kernel ``k``
(white noise, as SExtractor assumes). A threshold per unfiltered pixel alone
(SExtractor's DETECT_THRESH) means a different depth for every kernel width:
with a Gaussian matched to a 3.3 px star, 1.5 pixel sigma is 7.4 sigma of the
filtered image, with one matched to a 1.8 px star 4 sigma (SExtractor's
defaults, 1.5 sigma through its 3x3 pyramid, are S/N 4 of the filtered image).
A pixel is taken when it passes the lower of the two, S/N 4.5 or 1.5 pixel
sigma: the S/N sets the depth of frames with wide stars, the pixel threshold
keeps that of sharp and undersampled ones.

Typical use::

    step = Detection(DetectionParams(snr_threshold=6.0))
    result = step(image, mask=mask, gain=1.6, state=state)
    result.sources        # astropy Table: x, y, flux, flux_err, fwhm, flags, ...
    result.fwhm, result.sky, result.sky_noise

Coordinates are 0-based pixels, ``x`` along columns, as numpy and sep use them.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.table import Table

from ..runtime.pipeline import StepState
from .background import (
    SkyBackground,
    measure_background,
    native_float32,
    sep_background,
    split_mask,
)
from .edges import level_edges
from .firstpass import first_pass_profile
from .fwhm import MoffatProfile
from .measure import SourceFlags, frame_fwhm, measure_sources
from .params import (
    DETECTION_FILTERS,
    MIN_AREA_DEFAULT,
    PIXEL_THRESHOLD_DEFAULT,
    THRESHOLD_DEFAULT,
    DetectionError,
    DetectionParams,
)
from .sepextract import extract_objects, gaussian_kernel, noise_factor, pyramid_kernel

__all__ = [
    "DetectionError",
    "DetectionParams",
    "DetectionResult",
    "Detection",
    "SkyBackground",
    "SourceFlags",
    "measure_background",
    # Re-exported from their own modules, where they used to live.
    "DETECTION_FILTERS",
    "MIN_AREA_DEFAULT",
    "PIXEL_THRESHOLD_DEFAULT",
    "THRESHOLD_DEFAULT",
    "gaussian_kernel",
    "noise_factor",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionResult:
    """The sources of one frame and the frame's seeing and sky.

    Attributes
    ----------
    sources : Table
        One row per source, columns ``id, x, y, x_iso, y_iso, flux, flux_err,
        fwhm, a, b, theta, peak, npix, snr, flags``; 0-based pixels, ``x``
        along columns; flux in image units; ``flags`` are :class:`SourceFlags`.
        The frame values below are repeated in ``sources.meta``.
    fwhm : float
        Median FWHM of unflagged isolated stars (px); NaN when there are none.
    fwhm_spread : float
        Robust standard deviation (MAD) of those stars' FWHM (px).
    n_fwhm_stars : int
        How many stars the FWHM is measured on.
    sky, sky_noise : float
        Global sky level and noise (image units).
    background : SkyBackground
        The background model; its maps are kept only when asked for.
    filter_fwhm : float
        FWHM (px) of the Gaussian detection filter, measured on the frame for
        the matched filter; NaN for the pyramid or no filter.
    """

    sources: Table
    fwhm: float
    fwhm_spread: float
    n_fwhm_stars: int
    sky: float
    sky_noise: float
    background: SkyBackground = field(repr=False)
    filter_fwhm: float = math.nan

    @property
    def n_sources(self) -> int:
        """Number of detected sources."""
        return len(self.sources)


class Detection:
    """Find the sources of a frame and measure its sky and FWHM.

    Parameters
    ----------
    params : DetectionParams, optional
        Defaults: a Gaussian filter matched to the frame's FWHM, S/N 4.5 in the
        filtered image, 3 px, SExtractor's 64 px mesh.
    """

    def __init__(self, params: DetectionParams | None = None) -> None:
        self.params = params if params is not None else DetectionParams()
        p = self.params
        if p.noise not in ("global", "local"):
            raise ValueError(f"noise must be 'global' or 'local', not {p.noise!r}")
        if p.detection_filter not in DETECTION_FILTERS:
            raise ValueError(f"unknown detection filter {p.detection_filter!r}")

    def __call__(
        self,
        image: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        gain: float | None = None,
        saturation: float | None = None,
        keep_background: bool = False,
        state: StepState | None = None,
    ) -> DetectionResult:
        """Detect and measure the sources of one frame.

        Parameters
        ----------
        image : ndarray
            2-D frame, not background-subtracted (calibrated or raw).
        mask : ndarray, optional
            Pixels to ignore (bool), or a :class:`MaskBits` bitmask in which
            SATURATED flags sources and the other bits are ignored.
        gain : float, optional
            e-/image unit; adds the sources' Poisson noise to ``flux_err``.
        saturation : float, optional
            Pixels at or above this level (image units) flag their source
            SATURATED.
        keep_background : bool
            Keep the background and rms maps in the result.
        state : StepState, optional
            Progress and cancellation.
        """
        p = self.params
        image = np.asarray(image)
        if image.ndim != 2:
            raise DetectionError(f"expected a 2-D image, got shape {image.shape}")
        state = state if state is not None else StepState()
        state.progress(0.0, "background")
        data = native_float32(image)
        bad, saturated = split_mask(data, mask)
        if saturation is not None:
            hot = np.isfinite(data) & (data >= saturation)
            saturated = hot if saturated is None else (saturated | hot)
        sky, bkg = sep_background(data, bad, p.mesh_size, p.filter_size, keep_background)
        if sky.back is not None:
            # The kept map holds the very float32 values sep's subfrom would
            # interpolate again (the same pixels after, a frame's spline saved).
            data -= sky.back
        else:
            bkg.subfrom(data)
        data[bad] = 0.0
        # Edge rows and columns the mesh cannot follow would be a row of detections.
        edges = level_edges(data, bad, sky.noise, max(1, min(p.mesh_size, *data.shape) // 2))
        if p.noise == "global":
            err: float | np.ndarray = sky.noise
        else:
            err = sky.rms if sky.rms is not None else bkg.rms(dtype=np.float32)
        kernel, filter_fwhm, profile = self._kernel(data, bad, err, state)
        state.progress(0.4, "extraction")
        objects, segmap = extract_objects(
            data, bad, err, p.snr_threshold, p.pixel_threshold, p.min_area, kernel, p
        )
        state.progress(0.6, f"measuring {len(objects)} sources")
        # The matched filter's FWHM is the stars' own: it bounds the centroid window.
        psf = filter_fwhm if p.detection_filter == "matched" else None
        sources = measure_sources(data, bad, err, gain, objects, segmap, saturated, p, psf)
        state.progress(0.9, "frame FWHM")
        # The matched filter's first pass fitted the same bright stars'
        # profile: the fit starts there (a few steps instead of a dozen).
        fwhm, spread, n_stars, beta = frame_fwhm(data, bad, sources, p, start=profile)
        meta = {
            "fwhm": fwhm,
            "fwhm_spread": spread,
            "n_fwhm_stars": n_stars,
            "moffat_beta": beta,
            "filter_fwhm": filter_fwhm,
            "sky": sky.level,
            "sky_noise": sky.noise,
            "n_sources": len(sources),
            "edge_bands": edges.describe(),
        }
        sources.meta.update(meta)
        state.progress(1.0, f"{len(sources)} sources, FWHM {fwhm:.2f} px")
        return DetectionResult(
            sources=sources,
            fwhm=fwhm,
            fwhm_spread=spread,
            n_fwhm_stars=n_stars,
            sky=sky.level,
            sky_noise=sky.noise,
            background=sky,
            filter_fwhm=filter_fwhm,
        )

    def _kernel(
        self, data: np.ndarray, bad: np.ndarray, err: float | np.ndarray, state: StepState
    ) -> tuple[np.ndarray | None, float, MoffatProfile | None]:
        """The detection kernel, for a Gaussian one its FWHM (px), and the stars'
        profile when the matched filter's first pass fitted it."""
        p = self.params
        if p.detection_filter == "none":
            return None, math.nan, None
        if p.detection_filter == "pyramid":
            return pyramid_kernel(), math.nan, None
        if p.detection_filter == "gaussian":
            return gaussian_kernel(p.filter_fwhm), p.filter_fwhm, None
        state.progress(0.3, "first pass for the FWHM")
        fwhm, profile = first_pass_profile(data, bad, err, p)
        if not math.isfinite(fwhm):
            log.info("no star for the matched filter's FWHM; using %.2f px", p.filter_fwhm)
            fwhm = p.filter_fwhm
        # Stay inside the parameter's range: a frame of galaxies or trails can
        # give a wild value, and a huge kernel only costs time.
        fwhm = float(np.clip(fwhm, 0.5, 20.0))
        state.check()
        return gaussian_kernel(fwhm), fwhm, profile

    def map(
        self,
        frames: list[tuple[np.ndarray, np.ndarray | None]],
        *,
        executor: Executor | None = None,
        state: StepState | None = None,
        **kwargs: Any,
    ) -> list[DetectionResult]:
        """Run on several in-memory ``(image, mask)`` pairs, in parallel.

        For frames on disk use :func:`fluxion.core.detection.batch.detect_files`,
        which reads them lazily and keeps going past a bad frame.
        """
        state = state if state is not None else StepState()
        tick = state.counter(len(frames), "detecting")

        def one(item: tuple[np.ndarray, np.ndarray | None]) -> DetectionResult:
            state.check()
            out = self(item[0], item[1], **kwargs)
            tick()
            return out

        if executor is None:
            return [one(f) for f in frames]
        return list(executor.map(one, frames))
