"""Simulated transit light curves with known truth, for testing the transit fit.

A night of differential photometry of a transiting planet: batman's
limb-darkened transit, an airmass curve from a real site and target, a
differential-extinction trend in airmass, seeing that follows the airmass
with a random walk (and, optionally, a flux term in it), white noise at a
chosen level and, optionally, correlated noise (an AR(1) process) of a chosen
amplitude. The truth is returned beside the table, so a fit's pulls can be
measured over many noise draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.table import Table
from astropy.time import Time

from ..lightcurve.differential import light_curve_times
from ..transit.model import TransitCurve, TransitShape

__all__ = ["TransitNight", "simulate_transit_light_curve"]


@dataclass(frozen=True)
class TransitNight:
    """What a simulated transit night is made of (defaults: TrES-1 b-like).

    Times are BJD_TDB; ``cadence_s`` between exposures of ``exposure_s``.
    ``extinction_slope`` is the relative flux change per unit airmass (the
    colour difference between target and comparisons), ``fwhm_slope`` per
    unit of FWHM (px) above its median; ``noise`` the white noise per point
    (relative flux), ``red_noise`` the rms of an AR(1) component with
    correlation time ``red_time_min``.
    """

    shape: TransitShape = TransitShape(2456095.674, 0.138, 10.5, 0.2, 0.50, 0.20, 3.0300689)
    before_h: float = 1.5
    after_h: float = 1.5
    cadence_s: float = 180.0
    exposure_s: float = 60.0
    noise: float = 0.003
    extinction_slope: float = -0.01
    fwhm_slope: float = 0.0
    red_noise: float = 0.0
    red_time_min: float = 15.0
    ra_deg: float = 286.0408755
    dec_deg: float = 36.632536
    site: tuple[float, float, float] = (-76.937, 38.981, 20.0)  # lon, lat (deg), height (m)


def simulate_transit_light_curve(
    night: TransitNight | None = None, seed: int | None = None
) -> tuple[Table, dict]:
    """A light-curve table (``bjd_tdb``, ``flux``, ``flux_err``, ``airmass``, ``fwhm``) and truth.

    Parameters
    ----------
    night : TransitNight, optional
    seed : int, optional
        Seed of the noise draw (the times, airmass and seeing stay the same).

    Returns
    -------
    table : Table
    truth : dict
        The transit's parameters, its depth and the noise levels.
    """
    n = night or TransitNight()
    s = n.shape
    half_total = 0.06  # days of a typical transit half-width; the span is set around it
    start = s.tmid - half_total - n.before_h / 24.0
    stop = s.tmid + half_total + n.after_h / 24.0
    t = np.arange(start, stop, n.cadence_s / 86400.0)
    site = EarthLocation.from_geodetic(n.site[0] * u.deg, n.site[1] * u.deg, n.site[2] * u.m)
    target = SkyCoord(n.ra_deg * u.deg, n.dec_deg * u.deg)
    # The airmass needs UTC; BJD_TDB and JD_UTC differ by minutes, irrelevant to the airmass.
    airmass = np.asarray(light_curve_times(Time(t, format="jd", scale="tdb"), target, site)
                         ["airmass"], dtype=float)  # fmt: skip
    rng_fixed = np.random.default_rng(20120617)
    walk = np.cumsum(rng_fixed.normal(0.0, 0.05, t.size))
    fwhm = 3.0 * airmass**0.6 + walk - np.mean(walk)
    rng = np.random.default_rng(seed)
    transit = TransitCurve(t, n.exposure_s).flux(s)
    trend = (1.0 + n.extinction_slope * (airmass - np.median(airmass))
             + n.fwhm_slope * (fwhm - np.median(fwhm)))  # fmt: skip
    red = np.zeros(t.size)
    if n.red_noise > 0:
        rho = np.exp(-n.cadence_s / 60.0 / n.red_time_min)
        e = rng.normal(0.0, 1.0, t.size)
        red[0] = e[0]
        for i in range(1, t.size):
            red[i] = rho * red[i - 1] + np.sqrt(1 - rho**2) * e[i]
        red *= n.red_noise
    flux = transit * trend * (1.0 + red) + rng.normal(0.0, n.noise, t.size)
    table = Table()
    table["bjd_tdb"] = t
    table["flux"] = flux
    table["flux_err"] = np.full(t.size, n.noise)
    table["airmass"] = airmass
    table["fwhm"] = fwhm
    table.meta["exposure_s"] = n.exposure_s
    truth = {
        "tmid": s.tmid, "rp_rs": s.rp_rs, "a_rs": s.a_rs, "b": s.b, "inc_deg": s.inc_deg,
        "u1": s.u1, "u2": s.u2, "period": s.period, "depth": s.depth, "noise": n.noise,
        "red_noise": n.red_noise,
    }  # fmt: skip
    return table, truth
