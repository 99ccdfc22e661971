"""A planet's linear ephemeris: predicted mid-times and observed minus calculated.

``Tc(E) = T0 + E P``; the prediction's error grows with the number of orbits
since T0: ``sigma(E)^2 = sigma_T0^2 + (E sigma_P)^2``. The ephemeris may carry
what an archive knows about the planet and its star (a/Rs, inclination,
Rp/Rs, the star's Teff, log g, [Fe/H], position), which the fit uses as
starting points and priors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["Ephemeris", "TransitPrediction", "EphemerisError"]


class EphemerisError(ValueError):
    """The ephemeris is missing or cannot be obtained; the message says what to do."""


@dataclass(frozen=True)
class TransitPrediction:
    """The predicted transit nearest to an observation.

    Attributes
    ----------
    epoch : int
        Orbits since the ephemeris' T0.
    tc : float
        Predicted mid-time (BJD_TDB).
    tc_err : float
        Its 1-sigma error (days).
    """

    epoch: int
    tc: float
    tc_err: float


@dataclass(frozen=True)
class Ephemeris:
    """Period, reference mid-time and what else is known about the system.

    Attributes
    ----------
    period, period_err : float
        Orbital period and its error (days).
    t0, t0_err : float
        A reference mid-transit time (BJD_TDB) and its error (days).
    source : str
        Where it came from (``"user"``, ``"NASA Exoplanet Archive"``, ``"cache"``).
    name : str
        The planet's name, when known.
    rp_rs, a_rs, inc_deg, duration_h, depth : float or None
        Published geometry (used as starting points; a/Rs and inclination as priors).
    rp_rs_err, a_rs_err, inc_err : float or None
        Their errors.
    teff, logg, feh : float or None
        The host star's parameters, for limb darkening.
    ra, dec : float or None
        The host's position (deg), for BJD when a light curve has none.
    v_mag : float or None
        The host's V magnitude.
    geometry_source : str
        Where a/Rs and the inclination came from when not from ``source``
        (``"the command line"``); empty: from ``source``.
    """

    period: float
    t0: float
    period_err: float = 0.0
    t0_err: float = 0.0
    source: str = "user"
    name: str = ""
    rp_rs: float | None = None
    rp_rs_err: float | None = None
    a_rs: float | None = None
    a_rs_err: float | None = None
    inc_deg: float | None = None
    inc_err: float | None = None
    duration_h: float | None = None
    depth: float | None = None
    teff: float | None = None
    logg: float | None = None
    feh: float | None = None
    ra: float | None = None
    dec: float | None = None
    v_mag: float | None = None
    geometry_source: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.period) and self.period > 0):
            raise EphemerisError(f"the period must be a positive number of days, not {self.period}")
        if not math.isfinite(self.t0):
            raise EphemerisError(f"T0 must be a BJD_TDB, not {self.t0}")
        if self.t0 < 2_400_000.0:
            raise EphemerisError(
                f"T0 = {self.t0} looks like a reduced date: give the full BJD_TDB (2 4xx xxx.x)"
            )

    def predict(self, t: float) -> TransitPrediction:
        """The predicted transit nearest to time ``t`` (BJD_TDB)."""
        epoch = int(round((t - self.t0) / self.period))
        tc = self.t0 + epoch * self.period
        err = math.hypot(self.t0_err or 0.0, epoch * (self.period_err or 0.0))
        return TransitPrediction(epoch, tc, err)

    def o_minus_c(self, tmid: float, tmid_err: float) -> dict[str, float]:
        """Observed minus calculated mid-time (minutes) and its error, and the epoch."""
        p = self.predict(tmid)
        oc = (tmid - p.tc) * 1440.0
        err = math.hypot(tmid_err, p.tc_err) * 1440.0
        return {"epoch": p.epoch, "tc_predicted": p.tc, "tc_predicted_err": p.tc_err,
                "o_minus_c_min": oc, "o_minus_c_err_min": err}  # fmt: skip

    def to_dict(self) -> dict:
        """Plain values for a JSON report."""
        return asdict(self)
