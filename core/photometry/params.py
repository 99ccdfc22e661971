"""Parameters of the photometry step, with the metadata the panel is built from."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.params import param

__all__ = ["CHANNEL_SETS", "METHODS", "PSF_VARIATIONS", "PhotometryParams"]

METHODS = ("aperture", "psf", "crowded")
PSF_VARIATIONS = ("auto", "constant")
#: What a colour-filter-array frame is measured in (see ``photometry.channels``).
CHANNEL_SETS = ("RGB", "RGB+L", "L", "G", "RGGB", "mono")


@dataclass(frozen=True)
class PhotometryParams:
    """How to measure the stars of a frame."""

    method: str = param(
        "aperture",
        label="Method",
        help="aperture: circular apertures with a local sky; psf: PSF fits of each star "
        "(grouped when close); crowded: fit the whole scene at once (crowdsource).",
        choices=METHODS,
    )
    channels: str = param(
        "RGB",
        label="Colour channels",
        help="Colour (Bayer) frames: each channel measured on its own pixels. RGB: red, "
        "green (both greens) and blue rows; RGB+L: and the luminance, all pixels, for "
        "faint targets; L or G alone; RGGB: the two greens apart; mono: the mosaic as a "
        "monochrome frame. Monochrome frames ignore it.",
        choices=CHANNEL_SETS,
    )
    fwhm: float = param(
        0.0,
        label="FWHM",
        help="Seeing; 0 measures it on the frame's bright stars.",
        unit="px",
        minimum=0.0,
        maximum=50.0,
        zero="measured",
    )
    detection_threshold: float = param(
        5.0,
        label="Detection threshold",
        help="Stars are searched above this significance when no positions are given.",
        unit="sigma",
        minimum=1.5,
        maximum=100.0,
    )
    aperture_radius: float = param(
        0.0,
        label="Aperture radius",
        help="Fixed radius; 0 chooses it from the curve of growth.",
        unit="px",
        minimum=0.0,
        maximum=200.0,
        zero="auto",
    )
    aperture_radius_fwhm: float = param(
        0.0,
        label="Aperture radius (FWHM)",
        help="Fixed radius in units of the FWHM; used when > 0 and no radius in px is set.",
        unit="FWHM",
        minimum=0.0,
        maximum=20.0,
        zero="not used",
    )
    annulus_inner: float = param(
        5.0,
        label="Sky annulus inner",
        help="Inner radius of the sky annulus.",
        unit="FWHM",
        minimum=1.0,
        maximum=50.0,
    )
    annulus_outer: float = param(
        8.0,
        label="Sky annulus outer",
        help="Outer radius of the sky annulus.",
        unit="FWHM",
        minimum=1.5,
        maximum=80.0,
    )
    growth_min_fraction: float = param(
        0.7,
        label="Curve of growth: flux fraction",
        help="The radius must hold at least this fraction of the plateau flux (PP: 0.7).",
        minimum=0.3,
        maximum=0.99,
    )
    growth_max_difference: float = param(
        0.05,
        label="Curve of growth: target vs field",
        help="Largest allowed difference between target and field curves (PP: 0.05).",
        minimum=0.005,
        maximum=0.5,
    )
    aperture_correction: bool = param(
        True,
        label="Aperture correction",
        help="Scale aperture fluxes to the plateau of the field stars' curve of growth, "
        "so that they estimate total fluxes.",
    )
    psf_model: str = param(
        "moffat",
        label="PSF model",
        help="moffat or gaussian: pixel-integrated profile fitted to the bright isolated "
        "stars; empirical: photutils ePSF of those stars with Moffat wings (needs many "
        "stars and is slower).",
        choices=("moffat", "gaussian", "empirical"),
    )
    psf_variation: str = param(
        "auto",
        label="PSF across the field",
        help="auto: a PSF that changes across the frame (profile shape as polynomials in x, y, "
        "or for the empirical PSF an ePSF per cell) when it fits held-out stars better than "
        "one PSF; constant: one PSF for the whole frame.",
        choices=PSF_VARIATIONS,
    )
    psf_file: str = param(
        "",
        label="PSF grid file",
        help="A GriddedPSFModel FITS file (STPSF/WebbPSF, or a grid Fluxion wrote) used instead "
        "of a PSF built from the frame's stars; empty builds it (PSF and crowded methods).",
    )
    psf_size: int = param(
        25,
        label="PSF stamp",
        help="Size of the empirical PSF stamp; the wings beyond it follow a Moffat fit.",
        unit="px",
        minimum=9,
        maximum=101,
    )
    fit_size: int = param(
        15,
        label="Fit box",
        help="Size of the box fitted around each star (PSF method); odd.",
        unit="px",
        minimum=3,
        maximum=51,
    )
    forced: bool = param(
        False,
        label="Forced photometry",
        help="With given positions, fit fluxes only and keep the positions fixed.",
    )
    group_distance: float = param(
        2.0,
        label="Group distance",
        help="Stars closer than this are fitted together (PSF method).",
        unit="FWHM",
        minimum=0.0,
        maximum=10.0,
    )
    iterations: int = param(
        4,
        label="Iterations",
        help="Scene-fitting passes (crowded method): find, fit, centroid, PSF, sky.",
        minimum=1,
        maximum=20,
    )
    sky_mesh: int = param(
        20,
        label="Sky mesh",
        help="Residual-sky cell after the second pass, smoothed where flat (crowded method).",
        unit="px",
        minimum=4,
        maximum=512,
    )
    psf_refit: bool = param(
        True,
        label="Refine PSF",
        help="Re-estimate the PSF from the best stars after each pass (crowded method).",
    )
