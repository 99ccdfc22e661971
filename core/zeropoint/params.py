"""Parameters of the photometric calibration step, with the metadata its panel is built from."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.params import param

__all__ = ["BANDS", "CATALOGS", "COLOUR_INDICES", "ZeroPointParams"]

CATALOGS = (
    "auto",
    "APASS",
    "ATLAS-RefCat2",
    "Pan-STARRS",
    "SDSS",
    "Gaia DR3 synthetic",
    "Gaia DR3",
)
BANDS = ("auto", "U", "B", "V", "R", "I", "u", "g", "r", "i", "z", "G")
COLOUR_INDICES = ("auto", "B-V", "V-R", "g-r", "r-i", "g-i", "BP-RP")


@dataclass(frozen=True)
class ZeroPointParams:
    """Parameters of the photometric calibration."""

    catalog: str = param(
        "auto",
        label="Catalog",
        help="Reference catalog the stars come from; decides the photometric system of its "
        "bands. 'auto' reads it from the catalog table.",
        choices=CATALOGS,
    )
    band: str = param(
        "auto",
        label="Band",
        help="Catalog band to calibrate to; 'auto' takes it from the frame's FILTER.",
        choices=BANDS,
    )
    clear_band: str = param(
        "R",
        label="Band for clear",
        help="Band that clear and unfiltered frames are calibrated to (use a colour term).",
        choices=BANDS[1:],
    )
    colour_index: str = param(
        "auto",
        label="Colour index",
        help="Catalog colour of the colour term; 'auto' is B-V for BVRI and g-r for ugriz.",
        choices=COLOUR_INDICES,
    )
    fit_colour_term: bool = param(
        True, label="Fit colour term", help="Fit the colour term k in m = m_inst + ZP + k*colour."
    )
    colour_term: float = param(
        0.0,
        label="Fixed colour term",
        help="Colour term applied when it is not fitted (e.g. from a night's fit).",
        minimum=-2.0,
        maximum=2.0,
    )
    spatial_order: int = param(
        0,
        label="Spatial order",
        help="Order of the polynomial of position across the field (0: a constant zero point).",
        minimum=0,
        maximum=3,
    )
    intrinsic_scatter: bool = param(
        True,
        label="Intrinsic scatter",
        help="Fit a scatter term beyond the stated errors, so the zero-point error includes it.",
    )
    solar_colours: bool = param(
        False,
        label="Solar colours",
        help="Calibrate only with stars of the Sun's colour (asteroids); all stars are used "
        "when too few remain.",
    )
    solar_tolerance: float = param(
        0.2,
        label="Solar tolerance",
        help="Largest difference from the Sun's colours.",
        unit="mag",
        minimum=0.02,
        maximum=1.0,
    )
    rejection_sigma: float = param(
        4.0,
        label="Rejection threshold",
        help="Stars off the fit by more than this are rejected one at a time, worst first.",
        unit="sigma",
        minimum=2.0,
        maximum=20.0,
    )
    min_stars: int = param(
        5,
        label="Minimum stars",
        help="A frame with fewer usable stars keeps instrumental magnitudes.",
        minimum=2,
        maximum=1000,
    )
    matching_radius: float = param(
        2.0,
        label="Matching radius",
        help="Largest distance between a source and its catalog star.",
        unit="arcsec",
        minimum=0.1,
        maximum=60.0,
    )
    blend_distance: float = param(
        2.0,
        label="Blend distance",
        help="Catalog stars closer than this to another are blends and not used "
        "(needs the frame's FWHM).",
        unit="FWHM",
        minimum=0.0,
        maximum=10.0,
    )
    min_snr: float = param(
        5.0,
        label="Minimum S/N",
        help="Sources measured with a lower signal-to-noise ratio are too faint to use.",
        minimum=0.0,
        maximum=1000.0,
    )
    faint_limit: float = param(
        99.0,
        label="Faint limit",
        help="Catalog stars fainter than this are not used.",
        unit="mag",
        minimum=0.0,
        maximum=99.0,
    )
    allowed_flags: int = param(
        0,
        label="Allowed flags",
        help="Photometry flag bits that do not exclude a star (saturated stars are always "
        "excluded).",
        minimum=0,
        maximum=255,
    )
