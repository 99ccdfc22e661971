"""Parameters of the astrometry step; their metadata builds the Astrometry panel's form."""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.params import param

__all__ = ["CATALOG_CHOICES", "CENTROID_CHOICES", "SolveParams"]

# Catalog choices of the step; "Local file" uses ``catalog_file``.
CATALOG_CHOICES = (
    "Gaia DR3",
    "APASS DR9",
    "ATLAS-RefCat2",
    "Pan-STARRS DR1",
    "SDSS DR16",
    "2MASS",
    "Gaia DR3 synthetic photometry",
    "Gaia DR3 (archive)",
    "astrometry.net index files",
    "Local file",
)

#: How the solver's star positions are found: "auto" fits pixel-integrated
#: centroids below :data:`~.centroids.PRF_FWHM_LIMIT`, "detected" keeps the
#: detection's (windowed) centroids, "prf" always fits. Defined here rather
#: than in :mod:`.centroids` (which re-exports it) so that the parameters do
#: not import photutils.psf.
CENTROID_CHOICES = ("auto", "detected", "prf")


@dataclass(frozen=True)
class SolveParams:
    """Parameters of the astrometry step (they build the Astrometry panel's form)."""

    catalog: str = param(
        "Gaia DR3",
        label="Catalog",
        choices=CATALOG_CHOICES,
        help="Reference catalog; answers are cached on disk, so a field is fetched once.",
    )
    catalog_file: str = param(
        "",
        label="Catalog file",
        help="ECSV, FITS or CSV table with ra, dec (degrees) and a magnitude column, "
        "used when the catalog is 'Local file'.",
    )
    offline: bool = param(
        False, label="Offline", help="Use only local files and cached catalog answers."
    )
    pixel_scale: float = param(
        0.0,
        label="Pixel scale",
        unit="arcsec/px",
        minimum=0.0,
        maximum=3600.0,
        help="0: from the header (WCS, plate scale, or focal length and pixel size).",
        zero="from the header",
    )
    mag_limit: float = param(
        18.0,
        label="Magnitude limit",
        unit="mag",
        minimum=5.0,
        maximum=25.0,
        help="Faintest catalog stars fetched; about the faintest stars the frames show.",
    )
    search_radius: float = param(
        15.0,
        label="Search radius",
        unit="arcmin",
        minimum=0.0,
        maximum=600.0,
        help="How far the true field centre may be from the pointing hint.",
    )
    scale_tolerance: float = param(
        5.0,
        label="Scale uncertainty",
        unit="%",
        minimum=0.5,
        maximum=100.0,
        help="How far the real pixel scale may be from the guess (typed scales).",
    )
    sip_order: int = param(
        3,
        label="Distortion (SIP) order",
        minimum=0,
        maximum=5,
        help="Highest order tried: 0 or 1 plain TAN projection; 2-3 for most telescopes; "
        "more for wide fields. A lower order is used when stars left out of the fit "
        "are predicted better by it.",
    )
    max_sources: int = param(
        200, label="Sources used", minimum=10, maximum=5000, help="Brightest sources fitted."
    )
    centroids: str = param(
        "auto",
        label="Star centroids",
        choices=CENTROID_CHOICES,
        help="auto: a pixel-integrated Gaussian fit when the frame's FWHM is below 1.5 px "
        "(undersampled stars, whose detected centroids lean towards pixel centres), else the "
        "detected centroids; detected or prf: always that one.",
    )
    match_tolerance: float = param(
        2.5,
        label="Match radius",
        unit="px",
        minimum=0.3,
        maximum=20.0,
        help="Largest distance between a source and its catalog star in the first match.",
    )
    min_matches: int = param(
        8, label="Fewest matched stars", minimum=4, maximum=1000, help="Fewer: not solved."
    )
    max_rms: float = param(
        0.5,
        label="Largest accepted RMS",
        unit="px",
        minimum=0.01,
        maximum=10.0,
        help="Solutions with larger residuals are refused.",
    )
    search: bool = param(
        True,
        label="Search when the hint fails",
        help="Try every pixel scale from 0.1 to 30 arcsec/px (headers with a focal reducer, "
        "binning or a resampled frame are wrong) and a pointing up to the widest search "
        "radius from the header's.",
    )
    search_radius_max: float = param(
        5.0,
        label="Widest search",
        unit="deg",
        minimum=0.0,
        maximum=90.0,
        help="How far from the header's pointing the search goes (a local catalog file "
        "answers only where it has stars).",
    )
    time_limit: float = param(
        60.0,
        label="Search time limit",
        unit="s",
        minimum=1.0,
        maximum=3600.0,
        help="Longest search per frame, and the limit of a blind solve-field run.",
    )
    use_solve_field: bool = param(
        True,
        label="Local astrometry.net",
        help="When the hinted solve fails, run solve-field with the installed index files.",
    )
    use_nova: bool = param(
        False,
        label="nova.astrometry.net",
        help="When all else fails, send the source list to nova.astrometry.net (API key).",
    )
    keep_header_wcs: bool = param(
        False,
        label="Keep header WCS",
        help="Trust a WCS already in the frame's header instead of solving.",
    )
