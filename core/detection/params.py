"""Parameters of the detection step (:class:`~fluxion.core.detection.extract.Detection`).

The thresholds, filter and deblending settings, with the defaults chosen on
simulated nights and against SExtractor, and the step's error type.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.params import param

__all__ = [
    "DETECTION_FILTERS",
    "MIN_AREA_DEFAULT",
    "PIXEL_THRESHOLD_DEFAULT",
    "THRESHOLD_DEFAULT",
    "DetectionError",
    "DetectionParams",
]

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
