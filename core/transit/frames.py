"""From a night's frames to a transit light curve: positions, darks, photometry choice.

The lights are followed through their WCS or, without one, through the
registration (:func:`fluxion.core.targets.inputs.target_frames`); the target
and the comparison candidates are given (or found) in the first light,
centroided there, and carried into every light. A master dark (and flat) may
be applied on the fly; the photometry is then chosen by
:func:`~.photometry.transit_photometry`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.coordinates import EarthLocation, SkyCoord

from ..lightcurve.run import LightCurveParams, measure_frames
from ..lightcurve.scintillation import lights_scintillation
from ..photometry.noise import NoiseModel
from ..runtime.pipeline import StepState
from ..targets.inputs import TargetFrames
from .ephemeris import Ephemeris
from .photometry import PhotometryChoice, refine_positions, transit_photometry

__all__ = ["frames_light_curve", "read_region_positions"]


def read_region_positions(text: str) -> np.ndarray:
    """(x, y) of a DS9 region file's circles, 0-based (DS9's image/physical are 1-based).

    Commented-out regions (``#circle(...)``) are left out.
    """
    import re

    rows = [
        (float(m.group(1)) - 1.0, float(m.group(2)) - 1.0)
        for m in re.finditer(r"^\s*circle\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,", text, re.M)
    ]
    return np.array(rows, dtype=float).reshape(-1, 2)


def frames_light_curve(
    frames: TargetFrames,
    target_xy: Sequence[float],
    eph: Ephemeris,
    *,
    candidates_xy: np.ndarray | None = None,
    dark: np.ndarray | None = None,
    flat: np.ndarray | None = None,
    target: SkyCoord | None = None,
    location: EarthLocation | None = None,
    diameter_m: float | None = None,
    state: StepState | None = None,
) -> PhotometryChoice:
    """The target's light curve with the aperture and ensemble chosen on the night.

    Parameters
    ----------
    frames : TargetFrames
        The lights with their WCS or registration.
    target_xy : (x, y)
        The target in the first light (0-based px); centroided there.
    eph : Ephemeris
        Where the transit is expected.
    candidates_xy : ndarray, optional
        Comparison candidates in the first light; default: its bright isolated stars.
    dark, flat : ndarray, optional
        Master dark (ADU, at the lights' exposure) and normalised flat applied on the fly.
    target, location : optional
        The target's sky position and the site, for BJD_TDB and airmass;
        default: the WCS's position of the target and the headers' site.
    diameter_m : float, optional
        The telescope's aperture (m), for scintillation; default: the first
        light's header (APTDIA, APTAREA). Unknown: scintillation is left out
        of the errors and the light curve's meta says so.
    state : StepState, optional
    """
    gain = frames.gain()

    def electrons(i: int) -> np.ndarray:
        image = frames.image(i)
        if dark is not None:
            image = image - dark
        if flat is not None:
            image = image / flat
        return image * gain

    first = electrons(0)
    xy0 = refine_positions(first, np.asarray(target_xy, dtype=float).reshape(1, 2))[0]
    cands = frames.stars if candidates_xy is None else np.asarray(candidates_xy, float)
    cands = refine_positions(first, cands.reshape(-1, 2))
    cands = cands[np.hypot(cands[:, 0] - xy0[0], cands[:, 1] - xy0[1]) > 3.0]
    if len(cands) == 0:
        raise ValueError("no comparison star: the first light has no other bright isolated star")
    target_path = frames.in_every_light(xy0)[:, 0, :]
    star_xy = frames.in_every_light(cands)
    if target is None and frames.wcs is not None:
        target = frames.wcs[0].pixel_to_world(xy0[0], xy0[1])
    if location is None:
        location = frames.location
    # The night's FWHM from a few lights spread over it.
    probe = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), 7)).astype(int))
    m = measure_frames(lambda k: electrons(int(probe[k])), target_path[probe], star_xy[probe],
                       LightCurveParams(5.0, 15.0, 25.0), noise=NoiseModel())  # fmt: skip
    if m.fwhm is None:  # measure_frames measures every frame's FWHM
        raise RuntimeError("the probe frames' FWHM was not measured")
    fwhm = float(np.nanmedian(m.fwhm)) if np.any(np.isfinite(m.fwhm)) else 3.0
    info = frames.sequence[frames.indices[0]]
    scint = lights_scintillation(frames, target, location, diameter_m)
    choice = transit_photometry(
        electrons, frames.times, target_path, star_xy, eph, fwhm=fwhm, star_positions=cands,
        target=target, location=location, files=frames.files, noise=NoiseModel(), state=state,
        scintillation=scint,
    )  # fmt: skip
    meta = choice.light_curve.meta
    meta["target_xy_first_light"] = [float(xy0[0]), float(xy0[1])]
    if info.exptime:
        meta["exposure_s"] = float(info.exptime)
    if info.filter:
        meta["filter"] = str(info.filter)
    return choice
