"""The limb-darkened transit light curve (batman) and the planet's geometry.

batman (Kreidberg 2015, PASP 127, 1161) computes the flux blocked by an opaque
disc crossing a quadratically limb-darkened star (Mandel & Agol 2002). The
orbit is circular (the period is fixed from an ephemeris; a single transit
does not constrain eccentricity). Long exposures are integrated over the
exposure (Kipping 2010) by batman's supersampling, one sample per 30 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["TransitShape", "TransitCurve", "inclination", "impact_parameter", "durations"]

_SUPERSAMPLE_S = 30.0


@dataclass(frozen=True)
class TransitShape:
    """Parameters of one transit.

    Attributes
    ----------
    tmid : float
        Mid-transit time (the light curve's time scale, BJD_TDB).
    rp_rs : float
        Planet-to-star radius ratio.
    a_rs : float
        Semi-major axis in stellar radii.
    b : float
        Impact parameter (sky-projected distance at conjunction, stellar radii).
    u1, u2 : float
        Quadratic limb-darkening coefficients.
    period : float
        Orbital period (days), fixed.
    """

    tmid: float
    rp_rs: float
    a_rs: float
    b: float
    u1: float
    u2: float
    period: float

    @property
    def inc_deg(self) -> float:
        """Orbital inclination (deg)."""
        return inclination(self.a_rs, self.b)

    @property
    def depth(self) -> float:
        """Fractional flux loss at mid-transit (limb darkening included)."""
        return float(1.0 - TransitCurve(np.array([self.tmid])).flux(self)[0])


def inclination(a_rs: float, b: float) -> float:
    """Inclination (deg) of a circular orbit from a/Rs and the impact parameter."""
    return math.degrees(math.acos(min(max(b / a_rs, -1.0), 1.0)))


def impact_parameter(a_rs: float, inc_deg: float) -> float:
    """Impact parameter of a circular orbit from a/Rs and the inclination (deg)."""
    return float(a_rs * math.cos(math.radians(inc_deg)))


def durations(shape: TransitShape) -> tuple[float, float]:
    """Total (first to fourth contact) and ingress durations (days), circular orbit.

    Seager & Mallen-Ornelas (2003), eq. 3; the ingress from the same geometry.
    NaN when the planet misses the star.
    """
    k, a, b, p = shape.rp_rs, shape.a_rs, shape.b, shape.period
    sini = math.sin(math.radians(shape.inc_deg))

    def span(r: float) -> float:
        x = (r**2 - b**2) ** 0.5 / (a * sini) if r > b else float("nan")
        return p / math.pi * math.asin(min(x, 1.0)) if x == x else float("nan")

    total = span(1.0 + k)
    full = span(1.0 - k) if 1.0 - k > b else 0.0
    ingress = 0.5 * (total - full) if full == full else float("nan")
    return total, ingress


class TransitCurve:
    """batman's model on fixed times, evaluated for many parameter sets.

    batman prepares the times once (``TransitModel``); each evaluation then
    only changes the parameters, which is what a fit or a sampler needs.

    Parameters
    ----------
    t : ndarray
        Mid-exposure times (days).
    exposure_s : float, optional
        Exposure time (s); the model is averaged over it when longer than 30 s.
    """

    def __init__(self, t: np.ndarray, exposure_s: float | None = None) -> None:
        import batman

        self.t = np.ascontiguousarray(t, dtype=float)
        self._params = batman.TransitParams()
        p = self._params
        p.t0, p.per, p.rp, p.a, p.inc, p.ecc, p.w = 0.0, 1.0, 0.1, 10.0, 90.0, 0.0, 90.0
        p.u, p.limb_dark = [0.4, 0.2], "quadratic"
        p.t0 = float(np.median(self.t)) if self.t.size else 0.0
        n = 1
        if exposure_s is not None and exposure_s > _SUPERSAMPLE_S:
            n = int(math.ceil(exposure_s / _SUPERSAMPLE_S))
        kwargs = (
            {"supersample_factor": n, "exp_time": exposure_s / 86400.0}
            if exposure_s is not None and n > 1
            else {}
        )
        self._model = batman.TransitModel(p, self.t, **kwargs)

    def flux(self, shape: TransitShape) -> np.ndarray:
        """Relative flux (1 out of transit) at the times."""
        p = self._params
        p.t0 = shape.tmid
        p.per = shape.period
        p.rp = max(shape.rp_rs, 0.0)
        p.a = shape.a_rs
        p.inc = inclination(shape.a_rs, shape.b)
        p.u = [shape.u1, shape.u2]
        return np.asarray(self._model.light_curve(p), dtype=float)
