"""A night's scintillation for its light curves: the aperture, the site and each light's airmass.

The formula and what it stands for are in
:mod:`fluxion.core.photometry.scintillation`; here the night's facts are
gathered: the telescope's aperture (given by the observer, else the first
light's header), the site's height, and each light's airmass from the
target's (or the pointing's) position, the site and the time, else the
headers' AIRMASS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.time import Time

from ..io.frames import FrameInfo
from ..photometry.scintillation import Scintillation
from .differential import light_curve_times

if TYPE_CHECKING:
    # A name only: targets.inputs imports the chain's solver, which a run's
    # main process (its light curve's scintillation) does not otherwise need.
    from ..targets.inputs import TargetFrames

__all__ = ["frame_scintillation", "lights_scintillation", "site_height"]


def site_height(frame: FrameInfo) -> float | None:
    """The site's height (m) when the header gives it; None when it was defaulted to 0 m.

    Scintillation falls with height (e-fold per 8 km): an unknown height is
    taken as sea level, the most scintillation, and the note says so.
    """
    if frame.site is None or "height default" in frame.sources.get("site", ""):
        return None
    return float(frame.site[2])


def lights_scintillation(
    frames: TargetFrames,
    target: SkyCoord | None = None,
    location: EarthLocation | None = None,
    diameter_m: float | None = None,
) -> Scintillation:
    """Each light's scintillation, or why it is left out.

    Parameters
    ----------
    frames : TargetFrames
        The lights.
    target : SkyCoord, optional
        Where the airmass is computed; default: the first light's pointing.
    location : EarthLocation, optional
        The site; default: the headers' (``frames.location``).
    diameter_m : float, optional
        The telescope's aperture (m); default: the first light's header
        (APTDIA, APTAREA). Unknown: the result says it is left out.
    """
    info = frames.sequence[frames.indices[0]]
    source = "given"
    if diameter_m is None and info.aperture_mm:
        diameter_m = info.aperture_mm / 1000.0
        source = f"header {info.sources.get('aperture_mm', '')}".strip()
    # The caller's site (the observer's) has a known height; the headers' may not.
    altitude = site_height(info) if location is None else float(location.height.to_value(u.m))
    location = location if location is not None else frames.location
    where = target if target is not None else frames.pointing()
    if where is None or location is None:
        # The headers' AIRMASS, where they have one.
        airmass = np.array(
            [frames.sequence[k].airmass or np.nan for k in frames.indices], dtype=float
        )
    else:
        airmass = np.asarray(light_curve_times(frames.times, where, location)["airmass"], float)
    return Scintillation.for_night(
        diameter_m, airmass, info.exptime, altitude, diameter_source=source
    )


def frame_scintillation(frame: FrameInfo, where: SkyCoord | None) -> Scintillation:
    """One frame's scintillation (one value), from its header's aperture, site and time.

    The airmass is the header's, else computed for ``where`` (the frame's
    centre on the sky) from the header's site and mid-exposure time.
    """
    airmass = frame.airmass
    if airmass is None and where is not None and frame.site is not None and frame.time is not None:
        location = EarthLocation.from_geodetic(*frame.site)
        airmass = float(light_curve_times(Time([frame.time]), where, location)["airmass"][0])
    diameter = frame.aperture_mm / 1000.0 if frame.aperture_mm else None
    return Scintillation.for_night(
        diameter,
        np.array([np.nan if airmass is None else airmass], dtype=float),
        frame.exptime,
        site_height(frame),
        diameter_source=f"header {frame.sources.get('aperture_mm', '')}".strip(),
    )
