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
import threading
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np
import sep
from astropy.table import Table

from ..calibration.masks import MaskBits
from ..runtime.params import param
from ..runtime.pipeline import StepState
from .measure import SourceFlags, frame_fwhm, measure_sources

__all__ = [
    "DetectionError",
    "DetectionParams",
    "DetectionResult",
    "Detection",
    "SkyBackground",
    "SourceFlags",
    "measure_background",
]

log = logging.getLogger(__name__)

# sep's pixel stack bounds the size of the largest object it can follow; the
# default (300 000) overflows on 4k x 4k frames with bright extended stars. It
# is allocated and cleared on every extraction (0.06 s at 3 million pixels,
# four times a 1k x 1k frame's whole extraction), so it is grown only for a
# frame that overflows it, and only for that extraction.
_PIXSTACK_LOCK = threading.Lock()

# Gaussian sigma per unit FWHM.
_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


#: Kernels of the detection filter; "matched" is a Gaussian of the frame's own FWHM.
DETECTION_FILTERS = ("matched", "gaussian", "pyramid", "none")

# Defaults chosen on simulated nights of FWHM 2, 3 and 5 px and on real frames
# against SExtractor (tests/benchmarks/bench_detection_completeness.py and
# bench_detection_sextractor.py print the tables): at S/N 4.5 of the filtered
# image about 80% of the stars of S/N 5-7 are found at any FWHM, with under 1%
# false detections at FWHM 2-3 px (the rest at 5 px are mostly unresolved pairs).
THRESHOLD_DEFAULT = 4.5
MIN_AREA_DEFAULT = 3
# SExtractor's DETECT_THRESH: with a narrow filter (stars under 2 px, where
# S/N 4.5 of the filtered image would ask more of a pixel than 1.5 sigma) the
# depth stays what it always was.
PIXEL_THRESHOLD_DEFAULT = 1.5

# The quick first pass of the matched filter only needs the stars bright
# enough for the FWHM (S/N >= fwhm_min_snr, 20 by default); at 13.3 filtered
# sigma (5 pixel sigma through the pyramid, whose noise factor is 0.375) it
# finds them without the cost of measuring every faint source.
_FIRST_PASS_THRESHOLD = 5.0 / 0.375


class DetectionError(ValueError):
    """The frame cannot be searched (no valid pixels, wrong shape)."""


@dataclass(frozen=True)
class DetectionParams:
    """Parameters of :class:`Detection`."""

    snr_threshold: float = param(
        THRESHOLD_DEFAULT,
        label="Detection threshold",
        help="A source is a group of connected pixels of the filtered image this many "
        "times the filtered image's sky noise above the sky. With the matched filter "
        "this is about the least PSF-fit S/N of a point source that is found, whatever "
        "the seeing. SExtractor's default (DETECT_THRESH 1.5 through its 3x3 filter) "
        "is 4.",
        unit="S/N",
        minimum=1.0,
        maximum=10000.0,
    )
    pixel_threshold: float = param(
        PIXEL_THRESHOLD_DEFAULT,
        label="Pixel threshold",
        help="Times the unfiltered pixel noise, as SExtractor's DETECT_THRESH. A pixel of "
        "the filtered image is in a source when it passes the lower of the two "
        "thresholds: with a narrow filter (stars under 2 px) this one sets the depth, "
        "with a wide one the S/N does.",
        unit="sigma",
        minimum=0.5,
        maximum=10000.0,
    )
    min_area: int = param(
        MIN_AREA_DEFAULT,
        label="Minimum area",
        help="Fewest connected pixels above the threshold for a source.",
        unit="px",
        minimum=1,
        maximum=10000,
    )
    mesh_size: int = param(
        64,
        label="Background mesh",
        help="Size of the boxes in which the sky level and noise are estimated; "
        "larger than the stars, smaller than sky gradients.",
        unit="px",
        minimum=8,
        maximum=4096,
    )
    filter_size: int = param(
        3,
        label="Background filter",
        help="Median filter over the background mesh, in meshes; removes "
        "boxes spoiled by bright stars.",
        unit="meshes",
        minimum=1,
        maximum=15,
    )
    noise: str = param(
        "global",
        label="Noise for threshold",
        help="'global': one sky noise for the frame (SExtractor's default); "
        "'local': the rms map, for frames with uneven noise. The threshold means "
        "the same in both.",
        choices=("global", "local"),
    )
    detection_filter: str = param(
        "matched",
        label="Detection filter",
        help="Kernel that smooths the image before thresholding. 'matched': a Gaussian "
        "of the frame's own FWHM, measured on the bright stars in a quick first pass "
        "(best for stars); 'gaussian': a Gaussian of the Filter FWHM; 'pyramid': "
        "SExtractor's 3x3 default; 'none'.",
        choices=DETECTION_FILTERS,
    )
    filter_fwhm: float = param(
        3.0,
        label="Filter FWHM",
        help="FWHM of the 'gaussian' detection filter, and of the 'matched' one when "
        "the first pass finds no star to measure; about the stars' FWHM is best.",
        unit="px",
        minimum=0.5,
        maximum=20.0,
    )
    deblend_levels: int = param(
        32,
        label="Deblending levels",
        help="Number of thresholds used to split blended sources.",
        minimum=1,
        maximum=256,
    )
    # Below SExtractor's 0.005: at S/N 4.5 of the filtered image a bright star's
    # isophote reaches stars 13 px away, and a 150 times fainter one (0.7% of
    # the blend) was merged into it; 0.001 splits it off and adds no false
    # detections on the simulated nights.
    deblend_contrast: float = param(
        0.001,
        label="Deblending contrast",
        help="Smallest flux fraction of a branch to count as a separate source; 1 turns "
        "deblending off.",
        minimum=0.0,
        maximum=1.0,
    )
    isolation_radius: float = param(
        10.0,
        label="Isolation radius",
        help="Stars with a neighbour closer than this are flagged CROWDED and are not "
        "used for the frame FWHM.",
        unit="px",
        minimum=0.0,
        maximum=200.0,
    )
    kron_min_radius: float = param(
        3.5,
        label="Least Kron radius",
        help="Smallest Kron aperture radius, for faint or tiny sources "
        "(SExtractor's PHOT_AUTOPARAMS second value).",
        unit="px",
        minimum=0.0,
        maximum=50.0,
    )
    mask_neighbours: bool = param(
        True,
        label="Mask neighbours",
        help="Leave other sources' pixels out of each source's Kron aperture and "
        "half-light radius.",
    )
    fwhm_min_snr: float = param(
        20.0,
        label="FWHM star S/N",
        help="Least signal-to-noise of the stars used for the frame FWHM.",
        minimum=1.0,
        maximum=10000.0,
    )


@dataclass(frozen=True)
class SkyBackground:
    """sep's background model of a frame.

    Attributes
    ----------
    level : float
        Global sky level (median of the mesh), image units.
    noise : float
        Global sky noise (rms), image units.
    back, rms : ndarray or None
        The smooth background and rms maps (float32), when kept.
    """

    level: float
    noise: float
    back: np.ndarray | None = field(default=None, repr=False)
    rms: np.ndarray | None = field(default=None, repr=False)


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


def _native_float32(image: np.ndarray) -> np.ndarray:
    """A C-contiguous, native byte order float32 copy, as sep requires."""
    return np.array(image, dtype=np.float32, order="C", copy=True)


def _split_mask(image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels to ignore and pixels to flag as saturated.

    A boolean mask means "ignore". An integer mask holds :class:`MaskBits`:
    saturated pixels stay in the detection (a saturated star is still a
    star, and masking its core would split it into a ring) but flag their
    source; every other bit is ignored. Non-finite pixels are always ignored.
    """
    bad = ~np.isfinite(image)
    saturated = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != image.shape:
            raise DetectionError(f"mask shape {mask.shape} differs from image shape {image.shape}")
        if mask.dtype == bool:
            bad |= mask
        else:
            bits = mask.astype(np.int64, copy=False)
            saturated = (bits & MaskBits.SATURATED) != 0
            bad |= (bits & ~np.int64(MaskBits.SATURATED)) != 0
    return bad, saturated


def measure_background(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    mesh_size: int = 64,
    filter_size: int = 3,
    keep_maps: bool = True,
) -> SkyBackground:
    """sep's (SExtractor's) mesh background and rms of a frame.

    Parameters
    ----------
    image : ndarray
        2-D image; any dtype or byte order (a float32 copy is made).
    mask : ndarray, optional
        Pixels to ignore (bool) or a :class:`MaskBits` bitmask.
    mesh_size, filter_size : int
        Box size (px) and median filter size (meshes).
    keep_maps : bool
        Return the full-size background and rms maps.
    """
    data = _native_float32(image)
    bad, _ = _split_mask(data, mask)
    return _background(data, bad, mesh_size, filter_size, keep_maps)[0]


def _background(
    data: np.ndarray, bad: np.ndarray, mesh_size: int, filter_size: int, keep_maps: bool
) -> tuple[SkyBackground, sep.Background]:
    if bad.all():
        raise DetectionError("the frame has no valid pixels (all masked or NaN)")
    data[bad] = 0.0
    ny, nx = data.shape
    bw, bh = min(mesh_size, nx), min(mesh_size, ny)
    bkg = sep.Background(data, mask=bad, bw=bw, bh=bh, fw=filter_size, fh=filter_size)
    sky = SkyBackground(
        level=float(bkg.globalback),
        noise=float(bkg.globalrms),
        back=bkg.back(dtype=np.float32) if keep_maps else None,
        rms=bkg.rms(dtype=np.float32) if keep_maps else None,
    )
    return sky, bkg


def _pyramid_kernel() -> np.ndarray:
    # SExtractor's default.conv, also sep's default kernel.
    return np.array([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])


def gaussian_kernel(fwhm: float) -> np.ndarray:
    """A Gaussian detection kernel of the given FWHM (px), out to 2 FWHM."""
    sigma = fwhm * _FWHM_TO_SIGMA
    half = max(1, int(math.ceil(2.0 * fwhm)))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1]
    return np.exp(-0.5 * (xx**2 + yy**2) / sigma**2)


def noise_factor(kernel: np.ndarray | None) -> float:
    """Noise of the filtered image per unit pixel noise: ``sqrt(sum k^2) / sum k``.

    sep normalises the kernel to unit sum, so white noise of rms 1 comes out
    with this rms (0.375 for SExtractor's 3x3 pyramid, ``1 / (sqrt(4 pi) sigma)``
    for a wide Gaussian of width sigma).
    """
    if kernel is None:
        return 1.0
    k = np.asarray(kernel, dtype=np.float64)
    return float(math.sqrt(np.sum(k**2)) / np.sum(k))


def _extract(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    snr_threshold: float,
    pixel_threshold: float,
    min_area: int,
    kernel: np.ndarray | None,
    p: DetectionParams,
) -> tuple[np.ndarray, np.ndarray]:
    args = (data, bad, err, snr_threshold, pixel_threshold, min_area, kernel, p)
    try:
        return _sep_extract(*args)
    except Exception as exc:
        if "pixel buffer full" not in str(exc):
            raise
    # sep's stack is one setting for the process: grown for this frame (until
    # it holds every pixel of the frame), put back after.
    with _PIXSTACK_LOCK:
        default = sep.get_extract_pixstack()
        size = default
        try:
            while True:
                size = min(10 * size, max(data.size, default + 1))
                sep.set_extract_pixstack(size)
                try:
                    return _sep_extract(*args)
                except Exception as exc:
                    if "pixel buffer full" not in str(exc) or size >= data.size:
                        raise
        finally:
            sep.set_extract_pixstack(default)


def _sep_extract(
    data: np.ndarray,
    bad: np.ndarray,
    err: float | np.ndarray,
    snr_threshold: float,
    pixel_threshold: float,
    min_area: int,
    kernel: np.ndarray | None,
    p: DetectionParams,
) -> tuple[np.ndarray, np.ndarray]:
    # sep compares the filtered image with threshold x err, err being the
    # pixel noise (a number or the rms map): the kernel's noise factor turns
    # the filtered image's S/N into that unit.
    return sep.extract(
        data,
        min(snr_threshold * noise_factor(kernel), pixel_threshold),
        err=err,
        mask=bad,
        minarea=min_area,
        filter_kernel=kernel,
        # 'conv' with the scaled threshold means the same with a number and with
        # an rms map; sep's 'matched' treatment applies only to a noise array.
        filter_type="conv",
        deblend_nthresh=p.deblend_levels,
        deblend_cont=p.deblend_contrast,
        segmentation_map=True,
    )


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
        data = _native_float32(image)
        bad, saturated = _split_mask(data, mask)
        if saturation is not None:
            hot = np.isfinite(data) & (data >= saturation)
            saturated = hot if saturated is None else (saturated | hot)
        sky, bkg = _background(data, bad, p.mesh_size, p.filter_size, keep_background)
        bkg.subfrom(data)
        data[bad] = 0.0
        if p.noise == "global":
            err: float | np.ndarray = sky.noise
        else:
            err = sky.rms if sky.rms is not None else bkg.rms(dtype=np.float32)
        kernel, filter_fwhm = self._kernel(data, bad, err, state)
        state.progress(0.4, "extraction")
        objects, segmap = _extract(
            data, bad, err, p.snr_threshold, p.pixel_threshold, p.min_area, kernel, p
        )
        state.progress(0.6, f"measuring {len(objects)} sources")
        # The matched filter's FWHM is the stars' own: it bounds the centroid window.
        psf = filter_fwhm if p.detection_filter == "matched" else None
        sources = measure_sources(data, bad, err, gain, objects, segmap, saturated, p, psf)
        state.progress(0.9, "frame FWHM")
        fwhm, spread, n_stars, beta = frame_fwhm(data, bad, sources, p)
        meta = {
            "fwhm": fwhm,
            "fwhm_spread": spread,
            "n_fwhm_stars": n_stars,
            "moffat_beta": beta,
            "filter_fwhm": filter_fwhm,
            "sky": sky.level,
            "sky_noise": sky.noise,
            "n_sources": len(sources),
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
    ) -> tuple[np.ndarray | None, float]:
        """The detection kernel and, for a Gaussian one, its FWHM (px)."""
        p = self.params
        if p.detection_filter == "none":
            return None, math.nan
        if p.detection_filter == "pyramid":
            return _pyramid_kernel(), math.nan
        if p.detection_filter == "gaussian":
            return gaussian_kernel(p.filter_fwhm), p.filter_fwhm
        state.progress(0.3, "first pass for the FWHM")
        # As the real pass's threshold would be through the pyramid, and never
        # below the FWHM stars' need.
        pyramid = _pyramid_kernel()
        wanted = min(p.snr_threshold, p.pixel_threshold / noise_factor(pyramid))
        objects, segmap = _extract(
            data, bad, err, max(wanted, _FIRST_PASS_THRESHOLD), math.inf, 5, pyramid, p
        )
        first = measure_sources(data, bad, err, None, objects, segmap, None, p)
        fwhm = frame_fwhm(data, bad, first, p)[0]
        if not math.isfinite(fwhm):
            log.info("no star for the matched filter's FWHM; using %.2f px", p.filter_fwhm)
            fwhm = p.filter_fwhm
        # Stay inside the parameter's range: a frame of galaxies or trails can
        # give a wild value, and a huge kernel only costs time.
        fwhm = float(np.clip(fwhm, 0.5, 20.0))
        state.check()
        return gaussian_kernel(fwhm), fwhm

    def map(
        self,
        frames: list[tuple[np.ndarray, np.ndarray | None]],
        *,
        executor: Executor | None = None,
        state: StepState | None = None,
        **kwargs: object,
    ) -> list[DetectionResult]:
        """Run on several in-memory ``(image, mask)`` pairs, in parallel.

        For frames on disk use :func:`fluxion.core.detection.batch.detect_files`,
        which reads them lazily and keeps going past a bad frame.
        """
        state = state if state is not None else StepState()
        tick = state.counter(len(frames), "detecting")

        def one(item: tuple[np.ndarray, np.ndarray | None]) -> DetectionResult:
            state.check()
            out = self(item[0], item[1], **kwargs)  # type: ignore[arg-type]
            tick()
            return out

        if executor is None:
            return [one(f) for f in frames]
        return list(executor.map(one, frames))
