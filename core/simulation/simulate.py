"""A simulated night at the telescope, with the truth alongside.

:func:`make_night` builds a :class:`Night` in memory: a star field with a
reference catalog, the camera (bias pattern, dark current with hot pixels,
flat field with vignetting and dust), a TAN(-SIP) WCS per frame, airmass from
the site and time, and three kinds of variable source (an asteroid, an
eclipsing binary, a transiting planet). Frames are drawn on request, each from
its own random stream, so any frame is reproducible alone and frames can be
drawn in parallel. :func:`simulate_night` writes the raw frames as a capture
program would, with the truth in ``truth/``.

Every later step (calibration, detection, astrometry, photometry, tracking,
light curves) is scored against this truth, and ``fluxion demo`` shows it to a
classroom, so the defaults aim at a realistic night with a 20 cm class
telescope: a few hundred stars, 30 two-minute frames, an asteroid moving
~3 px per frame.

Conventions: pixel coordinates are 0-based with x along columns (FITS pixel
(1, 1) is (0, 0)); truth fluxes are electrons in the frame after atmospheric
extinction, before the flat field (what a calibrated frame in electrons shows).
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from astropy.io import fits
from astropy.wcs import WCS

from ..runtime.params import param
from ..runtime.pipeline import StepState
from .night import ASTEROID_ID, Night
from .writer import LAYOUTS, NightTruth, write_night

__all__ = [
    "ASTEROID_ID",
    "NightConfig",
    "Night",
    "NightTruth",
    "make_night",
    "read_truth_wcs",
    "simulate_night",
]


@dataclass(frozen=True)
class NightConfig:
    """Everything that defines a simulated night; same config and seed, same bytes."""

    seed: int = param(2713, label="Seed", help="Random seed; same seed, same night.")
    n_frames: int = param(30, label="Light frames", minimum=1, maximum=2000)
    shape: tuple[int, int] = param((1024, 1024), label="Frame size", unit="px", help="(ny, nx)")
    exptime: float = param(120.0, label="Exposure", unit="s", minimum=0.001)
    interval: float = param(
        180.0, label="Cadence", unit="s", help="Time between the starts of two lights."
    )
    filter: str = param("V", label="Filter", choices=("V", "B"))
    object_name: str = param("Cygnus field", label="Object")
    start: str = param("2024-09-10T23:00:00", label="Start", help="UTC start of the first light.")
    ra: float = param(310.0, label="Field RA", unit="deg", minimum=0.0, maximum=360.0)
    dec: float = param(40.0, label="Field Dec", unit="deg", minimum=-90.0, maximum=90.0)
    site_lat: float = param(47.0, label="Site latitude", unit="deg", minimum=-90, maximum=90)
    site_lon: float = param(8.0, label="Site longitude", unit="deg", help="East positive.")
    site_elev: float = param(500.0, label="Site elevation", unit="m")
    pixel_scale: float = param(1.2, label="Pixel scale", unit="arcsec/px", minimum=0.05)
    pixel_size: float = param(9.0, label="Pixel size", unit="um", minimum=1.0)
    rotation: float = param(0.6, label="Field rotation", unit="deg", help="PA of +y, E of N.")
    sip: bool = param(True, label="Distortion", help="Add SIP (barrel) distortion to the WCS.")
    sip_corner_shift: float = param(1.5, label="Distortion at corners", unit="px")
    write_wcs: bool = param(False, label="WCS in headers", help="Write the exact WCS in lights.")
    pointing_error: float = param(
        90.0, label="Pointing error", unit="arcsec", help="Offset of the header RA/DEC."
    )
    drift: float = param(0.3, label="Tracking drift", unit="px/frame", minimum=0.0)
    jitter: float = param(0.4, label="Pointing jitter", unit="px", minimum=0.0)
    field_rotation: float = param(
        0.0, label="Field rotation over the night", unit="deg",
        help="The field turns about the frame centre by this much from the first light "
        "to the last, steadily, as on an alt-azimuth mount without a derotator.",
    )  # fmt: skip
    star_density: float = param(1.0, label="Star density", unit="1/arcmin^2", minimum=0.0)
    mag_bright: float = param(9.0, label="Brightest star", unit="mag")
    mag_faint: float = param(19.5, label="Faintest star", unit="mag")
    lf_slope: float = param(0.3, label="Luminosity function slope", unit="dex/mag")
    zero_point: float = param(
        22.0, label="Zero point", unit="mag", help="Magnitude giving 1 e-/s above the atmosphere."
    )
    extinction: float = param(0.2, label="Extinction", unit="mag/airmass", minimum=0.0)
    sky_brightness: float = param(20.0, label="Sky brightness", unit="mag/arcsec^2")
    sky_gradient: float = param(0.05, label="Sky gradient", help="Fractional change across.")
    scintillation_aperture: float = param(
        0.0, label="Scintillation aperture", unit="mm", minimum=0.0,
        help="The stars twinkle as through a telescope of this aperture: each star's flux in "
        "each light is multiplied by 1 + sigma N(0, 1), sigma from Young's formula with "
        "Osborn et al.'s factor 1.5 at the light's airmass and the site's elevation, and the "
        "lights carry APTDIA; 0: no scintillation (and no APTDIA).",
    )  # fmt: skip
    clouds: float = param(
        0.0, label="Passing clouds", unit="mag", minimum=0.0,
        help="Typical light lost to thin clouds drifting through (grey, the same for every "
        "star of a frame, changing from frame to frame); 0: a clear night.",
    )  # fmt: skip
    twilight: float = param(
        0.0, label="Dawn at the end", unit="mag", minimum=0.0,
        help="How much brighter the sky is at the last light than in the dark: dawn "
        "brightens it e-fold every twilight_duration / 3 before the end; 0: no dawn.",
    )  # fmt: skip
    twilight_duration: float = param(
        30.0, label="Dawn duration", unit="min", minimum=1.0,
        help="Time before the last light over which dawn brightens the sky.",
    )  # fmt: skip
    psf: str = param("moffat", label="PSF", choices=("moffat", "gaussian"))
    moffat_beta: float = param(3.0, label="Moffat beta", minimum=1.5, maximum=20.0)
    fwhm: float = param(3.0, label="FWHM", unit="px", minimum=0.8)
    fwhm_variation: float = param(0.08, label="Seeing variation", help="Frame-to-frame rms.")
    field_varying_psf: bool = param(
        False, label="PSF varies across field",
        help="Wider and elongated towards the corners, both growing as the square of the "
        "distance from the centre (field curvature and astigmatism).",
    )  # fmt: skip
    field_psf_variation: float = param(0.25, label="FWHM increase at corners", minimum=0.0)
    field_psf_ellipticity: float = param(
        0.3, label="Ellipticity at corners", minimum=0.0, maximum=0.9,
        help="1 - b/a of the stars in the corners (0 on the axis), major axis along the radius.",
    )  # fmt: skip
    gain: float = param(1.5, label="Gain", unit="e-/ADU", minimum=0.01)
    read_noise: float = param(7.0, label="Read noise", unit="e-", minimum=0.0)
    bias_level: float = param(1000.0, label="Bias level", unit="ADU", minimum=0.0)
    bias_column_rms: float = param(2.0, label="Bias column pattern", unit="ADU", minimum=0.0)
    dark_current: float = param(0.02, label="Dark current", unit="e-/s", minimum=0.0)
    hot_pixel_fraction: float = param(2e-4, label="Hot pixels", minimum=0.0, maximum=0.1)
    warm_pixel_fraction: float = param(
        0.0, label="Warm pixels", minimum=0.0, maximum=0.2,
        help="Pixels with a warm tail of dark current (real cameras: about 0.01), "
        "their number falling as 1/rate above the lowest rate.",
    )  # fmt: skip
    warm_pixel_rate: float = param(
        0.3, label="Warm pixels' lowest rate", unit="e-/s", minimum=0.0,
        help="Excess dark rate of the least warm pixel of the tail.",
    )  # fmt: skip
    saturation: float = param(60000.0, label="Saturation", unit="ADU", maximum=65535.0)
    full_well: float = param(
        0.0,
        label="Full well",
        unit="e-",
        minimum=0.0,
        help="Charge a pixel holds before it bleeds along its column; 0: no bleeding.",
    )
    ccd_temp: float = param(-10.0, label="Sensor temperature", unit="C")
    vignetting: float = param(0.15, label="Vignetting", help="Light lost in the corners.")
    n_dust: int = param(3, label="Dust donuts", minimum=0)
    prnu: float = param(0.005, label="Pixel response rms", minimum=0.0)
    flat_level: float = param(25000.0, label="Flat level", unit="ADU")
    flat_exptime: float = param(3.0, label="Flat exposure", unit="s")
    cosmic_ray_rate: float = param(6.0, label="Cosmic rays", unit="1/(Mpx min)", minimum=0.0)
    layout: str = param(
        "flat",
        label="Folder layout",
        choices=LAYOUTS,
        help="How the frames are filed: flat (one folder), nina (a date folder with LIGHT/, "
        "DARK/, FLAT/, BIAS/ and NINA's file names), observatory (zero/, dark/, flat/ and a "
        "folder per target, numbered files and no IMAGETYP card: typed by folder only).",
    )
    n_bias: int = param(5, label="Bias frames", minimum=0)
    n_dark: int = param(5, label="Dark frames", minimum=0)
    n_flat: int = param(5, label="Flat frames", minimum=0)
    asteroid: bool = param(True, label="Asteroid")
    asteroid_mag: float = param(15.5, label="Asteroid V", unit="mag")
    asteroid_rate: float = param(1.2, label="Asteroid rate", unit="arcsec/min", minimum=0.0)
    asteroid_pa: float = param(110.0, label="Asteroid direction", unit="deg", help="E of N.")
    asteroid_curvature: float = param(
        2.0, label="Asteroid path curvature", unit="arcsec/h^2", help="Sideways acceleration."
    )
    asteroid_period: float = param(2.7, label="Asteroid rotation period", unit="h", minimum=0.01)
    asteroid_amplitude: float = param(0.3, label="Asteroid light-curve amplitude", unit="mag")
    asteroid_epoch: float = param(
        0.0, label="Asteroid rotation epoch", unit="JD",
        help="JD (light-time corrected) of zero rotational phase, so that nights of one "
        "asteroid share its rotation; 0 draws a phase for the night.",
    )  # fmt: skip
    asteroid_delta: float = param(
        0.0, label="Asteroid distance", unit="au", minimum=0.0,
        help="Distance from the observer: the rotation is seen delta / c late (light time); "
        "0 leaves light time out.",
    )  # fmt: skip
    nova: bool = param(
        True, label="Nova", help="A new star, not in the catalogue, brightening over the night."
    )
    nova_mag_start: float = param(17.0, label="Nova V at the first light", unit="mag")
    nova_mag_end: float = param(14.5, label="Nova V at the last light", unit="mag")
    outburst: bool = param(
        True, label="Outbursting star",
        help="A catalogued star (a dwarf nova) that brightens during the night.",
    )  # fmt: skip
    outburst_mag: float = param(16.0, label="Outbursting star V in quiescence", unit="mag")
    outburst_amplitude: float = param(3.0, label="Outburst amplitude", unit="mag")
    outburst_start: float = param(
        0.4, label="Outburst start", help="Fraction of the night.", minimum=0.0, maximum=1.0
    )
    outburst_rise: float = param(10.0, label="Outburst rise", unit="min", minimum=0.0)
    n_galaxies: int = param(
        0, label="Galaxies", minimum=0, help="Exponential discs, not in the star catalogue."
    )
    galaxy_mag_bright: float = param(13.5, label="Brightest galaxy V", unit="mag")
    galaxy_mag_faint: float = param(16.5, label="Faintest galaxy V", unit="mag")
    supernova: bool = param(
        False, label="Supernova", help="A supernova in the brightest galaxy, off its nucleus."
    )
    supernova_mag: float = param(16.0, label="Supernova V", unit="mag")
    eclipsing_mag: float = param(12.8, label="Eclipsing binary V", unit="mag")
    eclipsing_period: float = param(0.61, label="Eclipsing binary period", unit="d")
    eclipsing_depth: float = param(0.5, label="Primary eclipse depth", help="Flux fraction.")
    eclipsing_secondary: float = param(0.12, label="Secondary eclipse depth")
    eclipsing_duration: float = param(75.0, label="Eclipse duration", unit="min")
    transit_mag: float = param(12.5, label="Transit host V", unit="mag")
    transit_depth: float = param(0.01, label="Transit depth", help="Flux fraction.")
    transit_duration: float = param(55.0, label="Transit duration", unit="min")
    transit_ingress: float = param(8.0, label="Transit ingress", unit="min")
    transit_u1: float = param(
        0.465, label="Transit host limb darkening u1",
        help="Quadratic limb darkening of the host (V band, Sun-like: Claret & Bloemen 2011); "
        "the transit is batman's with these contacts and depth, not a trapezoid.",
    )  # fmt: skip
    transit_u2: float = param(0.256, label="Transit host limb darkening u2")
    transit_period: float = param(3.0, label="Transit period", unit="d", minimum=0.2)
    transit_phase: float = param(
        0.45, label="Transit mid-time", minimum=0.0, maximum=1.0,
        help="When the transit's middle falls, as a fraction of the night (first to last light).",
    )  # fmt: skip
    eclipse_phase: float = param(
        0.65, label="Primary eclipse time", minimum=0.0, maximum=1.0,
        help="When the primary eclipse's minimum falls, as a fraction of the night.",
    )  # fmt: skip
    # Header traps real capture programs write; the defaults write none.
    date_obs_utc_offset: float = param(
        0.0,
        label="DATE-OBS UTC offset",
        unit="h",
        minimum=-14.0,
        maximum=14.0,
        help="Write DATE-OBS as local time with this offset ('...-0700' for -7); 0 writes UTC.",
    )
    mjd_obs_decimals: int = param(
        -1,
        label="MJD-OBS decimals",
        minimum=-1,
        maximum=12,
        help="Also write MJD-OBS (exposure start) rounded to this many decimals; -1 writes none.",
    )
    gain_card: str = param(
        "e-/ADU",
        label="GAIN card",
        choices=("e-/ADU", "ZWO setting"),
        help="'ZWO setting': GAIN is the camera's gain setting and INSTRUME a ZWO camera, "
        "with no EGAIN, as ZWO capture programs write; the true gain is in night.json.",
    )
    gain_setting: int = param(80, label="ZWO gain setting", minimum=0, maximum=600)
    bayer_pattern: str = param(
        "none",
        label="Colour filter array",
        choices=("none", "RGGB", "BGGR", "GRBG", "GBRG"),
        help="A one-shot-colour camera with this Bayer pattern (written as BAYERPAT); the "
        "stars' and the sky's colours reach each channel through its own zero point and "
        "colour term; none: a monochrome camera behind the filter.",
    )
    channel_zero_points: tuple[float, float, float] = param(
        (21.2, 22.0, 21.3),
        label="Channel zero points (R, G, B)",
        unit="mag",
        help="Magnitude giving 1 e-/s over a sensor covered by the channel's filter.",
    )
    channel_colour_terms: tuple[float, float, float] = param(
        (0.08, -0.1, 0.15),
        label="Channel colour terms (R, G, B)",
        help="k in m_R = R + k (B-V), m_G = V + k (B-V), m_B = B + k (B-V).",
    )
    binning: int = param(
        1,
        label="Binning in the header",
        minimum=1,
        maximum=8,
        help="On-chip binning written as CCDSUM/XBINNING, with PIXSCAL of the unbinned detector "
        "(pixel scale / binning); pixel scale and pixel size describe the binned pixels.",
    )

    def __post_init__(self) -> None:
        # JSON and the command line give lists; the frozen field stays a tuple.
        object.__setattr__(self, "shape", tuple(int(v) for v in self.shape))
        for name in ("channel_zero_points", "channel_colour_terms"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 3:
                raise ValueError(f"{name} must give R, G and B, got {value}")
            object.__setattr__(self, name, value)
        if self.bayer_pattern not in ("none", "RGGB", "BGGR", "GRBG", "GBRG"):
            raise ValueError(
                f"bayer_pattern must be none or a 2x2 pattern, got {self.bayer_pattern!r}"
            )
        if len(self.shape) != 2:
            raise ValueError(f"shape must be (ny, nx), got {self.shape}")
        ny, nx = self.shape
        if ny < 16 or nx < 16:
            raise ValueError(f"shape must be at least 16 x 16 px, got {self.shape}")
        if self.n_frames < 1:
            raise ValueError("n_frames must be at least 1")
        if self.interval < self.exptime:
            raise ValueError("interval (cadence) must be at least the exposure time")
        if self.psf not in ("moffat", "gaussian"):
            raise ValueError(f"psf must be 'moffat' or 'gaussian', got {self.psf!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.filter not in ("V", "B"):
            raise ValueError(f"filter must be 'V' or 'B', got {self.filter!r}")
        if not 0 < self.saturation <= 65535:
            raise ValueError("saturation must be in 1..65535 ADU")
        if self.mag_faint <= self.mag_bright:
            raise ValueError("mag_faint must be fainter (larger) than mag_bright")
        if self.gain_card not in ("e-/ADU", "ZWO setting"):
            raise ValueError(f"gain_card must be 'e-/ADU' or 'ZWO setting', got {self.gain_card!r}")


def make_night(config: NightConfig = NightConfig()) -> Night:  # noqa: B008 (frozen)
    """Build a simulated night in memory; frames are drawn when asked for.

    Parameters
    ----------
    config : NightConfig
        What to simulate.

    Returns
    -------
    Night
        Catalog, camera, times, WCS and the frame factories.
    """
    return Night(config)


def simulate_night(
    outdir: str | Path,
    config: NightConfig = NightConfig(),  # noqa: B008 (frozen)
    state: StepState | None = None,
    executor: Executor | None = None,
) -> NightTruth:
    """Simulate a night and write it as a capture program would.

    Writes ``light_0001.fits`` ..., ``bias_0001.fits`` ..., ``dark_0001.fits`` ...,
    ``flat_<filter>_0001.fits`` ... (16-bit, BZERO=32768) into ``outdir`` (or in
    the sub-folders of ``config.layout``, see
    :func:`fluxion.core.simulation.writer.frame_paths`) and, in ``outdir/truth``,
    ``reference_catalog.ecsv``, one ``light_0001.ecsv`` truth table and one
    header-only ``light_0001.wcs.fits`` per light, and ``night.json`` (config,
    camera facts, per-frame time, airmass, FWHM and asteroid position). Every
    file is written atomically.

    Parameters
    ----------
    outdir : path
        Folder to write (created if needed).
    config : NightConfig
        What to simulate.
    state : StepState, optional
        Progress and cancellation.
    executor : concurrent.futures.Executor, optional
        Draws and writes frames in parallel; a thread pool of the machine's
        cores is used when not given.

    Returns
    -------
    NightTruth
        The written paths and a one-line summary.
    """
    state = state or StepState()
    state.progress(0.0, "building the night")
    night = make_night(config)
    return write_night(night, Path(outdir), state=state.sub(0.02, 1.0), executor=executor)


def read_truth_wcs(path: str | Path) -> WCS:
    """Read a header-only ``truth/light_NNNN.wcs.fits`` as a WCS with its image size.

    A data-less FITS header says NAXIS = 0, which astropy reports as "more WCS
    axes than image axes"; the image size is in IMAGEW / IMAGEH instead (the
    astrometry.net convention), so it is put back before building the WCS.
    """
    header = fits.getheader(path)
    header["NAXIS"] = 2
    header["NAXIS1"] = header["IMAGEW"]
    header["NAXIS2"] = header["IMAGEH"]
    return WCS(header)
