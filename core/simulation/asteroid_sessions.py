"""Light curves of a rotating asteroid over several nights, as a photometrist measures them.

A multi-night period test needs nights days apart with the asteroid's
rotation carried across them: the rotation (the night simulator's own
double-peaked shape, :func:`~fluxion.core.simulation.variables.rotation_magnitude_offset`)
runs from a fixed epoch in the asteroid's own time, so each night sees it
light time (delta / c) late; the brightness follows the geometry, H + 5
log10(r delta) and the H-G phase function (Bowell et al. 1989); each point
has the noise of an aperture measurement with the night's camera (the CCD
equation) and of the comparison stars. Times are the night's frames
(:class:`~fluxion.core.simulation.simulate.NightConfig`'s start, cadence
and exposure).
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from ..field.noise import MAG_PER_LN
from ..rotation.phase import hg_phase_magnitude
from ..rotation.sessions import LIGHT_TIME_DAYS_PER_AU
from . import variables as _var
from .simulate import NightConfig

__all__ = ["rotation_session"]


def rotation_session(
    config: NightConfig,
    *,
    period_h: float,
    amplitude: float,
    epoch_jd: float,
    h_mag: float,
    r: float,
    delta: float,
    phase_deg: float,
    g: float = 0.15,
    aperture_radius: float = 5.0,
    comparison_noise: float = 0.003,
    seed: int = 0,
) -> Table:
    """One night's light curve of the asteroid: ``jd_utc``, ``mag``, ``mag_err``, geometry.

    Parameters
    ----------
    config : NightConfig
        The night: start, frames, cadence, exposure, camera, sky.
    period_h, amplitude : float
        Rotation period (h) and peak-to-peak amplitude (mag).
    epoch_jd : float
        JD of zero rotational phase in the asteroid's own (light-time corrected) time.
    h_mag : float
        Absolute magnitude H.
    r, delta, phase_deg : float
        Heliocentric and geocentric distances (au) and phase angle (deg)
        of the night (constant over a few hours).
    g : float
        Slope parameter of the phase function.
    aperture_radius : float
        px; with the night's seeing and sky it sets the noise.
    comparison_noise : float
        The comparison ensemble's own noise (mag), added in quadrature.
    seed : int
    """
    c = config
    rng = np.random.default_rng([seed, c.seed, 0xA57])
    start = Time(c.start, scale="utc")
    jd = (start + (np.arange(c.n_frames) * c.interval + 0.5 * c.exptime) * u.s).jd
    emitted = jd - delta * LIGHT_TIME_DAYS_PER_AU
    rotation = _var.rotation_magnitude_offset(emitted, epoch_jd, period_h / 24.0, amplitude)
    mean = h_mag + 5.0 * np.log10(r * delta) + float(hg_phase_magnitude(phase_deg, g))
    true = mean + rotation
    flux = 10 ** (-0.4 * (true - c.zero_point)) * c.exptime
    area = np.pi * aperture_radius**2
    sky = 10 ** (-0.4 * (c.sky_brightness - c.zero_point)) * c.pixel_scale**2 * c.exptime
    sigma = np.sqrt(
        (flux + area * (sky + c.read_noise**2)) / flux**2 + (comparison_noise / MAG_PER_LN) ** 2
    )
    measured = flux * (1.0 + sigma * rng.standard_normal(len(jd)))
    out = Table()
    out["jd_utc"] = jd
    out["mag"] = c.zero_point - 2.5 * np.log10(measured / c.exptime)
    out["mag_err"] = MAG_PER_LN * sigma
    out["r"] = np.full(len(jd), r)
    out["delta"] = np.full(len(jd), delta)
    out["phase"] = np.full(len(jd), phase_deg)
    out["true_mag"] = true
    out.meta.update(target="simulated asteroid", filter=c.filter, period_h=period_h)
    return out
