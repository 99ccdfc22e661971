"""From a light curve and an ephemeris to a :class:`~.fit.FitSetup`: starts and priors.

* The mid-time starts at the ephemeris' prediction for the night.
* Rp/Rs starts from the archive's value, or from the depth seen in the data.
* a/Rs and the impact parameter start from the archive; without it, from a
  Sun-like star's density and b = 0.3. With ``geometry="auto"`` (the
  default) they are priors when the archive gives both with their errors,
  held at the archive's values when it gives them without errors, and free
  when it gives none. One night's transit, often with a short baseline,
  measures the mid-time and the depth but hardly the durations' shape: a
  loose prior lets a/Rs and b trade off against a residual baseline trend.
  On the real TrES-1 night (tests/real/test_real_transit.py) the archive's
  a/Rs 10.48 without an error, given a 10 % prior, ran to 8.7 and took the
  mid-time 13 min (5 sigma) early; held, it is 2 min off. Held, their errors
  are not in the fit's: Rp/Rs's pulls then widen with the archive's error
  (1.4 for TrES-1's a/Rs +- 0.18 and b +- 0.09), the depth's hardly (1.06).
  With ``geometry="prior"`` the
  archive's a/Rs and inclination become Gaussian priors (a single ground-based
  transit constrains them poorly, and Rp/Rs correlates with both); with
  ``"free"`` they are only starting points; with ``"fixed"`` they are held.
* Limb darkening from the tables (:mod:`.limb_darkening`) as a prior, held
  fixed, or free.
"""

from __future__ import annotations

import math

import numpy as np

from .data import TransitData
from .ephemeris import Ephemeris
from .fit import FitSetup
from .limb_darkening import LimbDarkening
from .model import impact_parameter
from .stellar_density import StellarDensityPrior, a_rs_from_density, a_rs_prior_from_star

__all__ = [
    "GEOMETRY_MODES", "make_setup", "a_rs_from_density", "resolved_geometry", "density_prior",
]  # fmt: skip

#: How the archive's a/Rs and inclination enter the fit (see the module).
GEOMETRY_MODES = ("auto", "prior", "free", "fixed")

# Relative prior width on a/Rs when the archive gives the value but no error.
_A_RS_REL = 0.10
# Prior width on b when the archive's inclination has no error.
_B_SIGMA = 0.15


def resolved_geometry(geometry: str, eph: Ephemeris) -> str:
    """``"auto"`` made concrete (see the module): prior, fixed or free."""
    if geometry != "auto":
        return geometry
    if eph.a_rs is None or eph.inc_deg is None:
        return "free"
    return "prior" if eph.a_rs_err and eph.inc_err else "fixed"


def density_prior(eph: Ephemeris, geometry: str, star: dict) -> StellarDensityPrior | None:
    """The prior on a/Rs from the star's density when nothing gives a/Rs (see the module).

    Only without the archive's or the user's a/Rs, with the geometry free
    (``"auto"`` or ``"free"``), and with the star's Teff and log g known.
    """
    if eph.a_rs is not None or resolved_geometry(geometry, eph) != "free":
        return None
    return a_rs_prior_from_star(eph.period, star.get("teff"), star.get("logg"), star.get("feh"))


def _depth_guess(data: TransitData, tmid: float, half_width: float) -> float:
    inside = np.abs(data.t - tmid) < 0.5 * half_width
    outside = np.abs(data.t - tmid) > half_width
    if inside.sum() < 3 or outside.sum() < 3:
        return 0.01
    return float(np.clip(np.median(data.flux[outside]) - np.median(data.flux[inside]), 1e-4, 0.25))


def make_setup(
    data: TransitData,
    eph: Ephemeris,
    ld: LimbDarkening,
    *,
    geometry: str = "auto",
    limb_darkening: str = "prior",
    tmid_start: float | None = None,
    density: StellarDensityPrior | None = None,
) -> FitSetup:
    """The fit's free parameters, starting values, priors and limits.

    Parameters
    ----------
    data : TransitData
    eph : Ephemeris
    ld : LimbDarkening
    geometry : {"auto", "prior", "free", "fixed"}
        How the archive's a/Rs and inclination are used (see the module).
    limb_darkening : {"prior", "free", "fixed"}
    tmid_start : float, optional
        Start of the mid-time instead of the ephemeris' prediction.
    density : StellarDensityPrior, optional
        a/Rs from the star's density (:func:`density_prior`): the prior on a/Rs
        when neither the archive nor the user gives a/Rs.
    """
    if geometry not in GEOMETRY_MODES:
        raise ValueError(f"geometry must be auto, prior, free or fixed, not {geometry!r}")
    geometry = resolved_geometry(geometry, eph)
    if limb_darkening not in ("prior", "free", "fixed"):
        raise ValueError(f"limb_darkening must be prior, free or fixed, not {limb_darkening!r}")
    mid = 0.5 * (data.t[0] + data.t[-1])
    tc = eph.predict(mid).tc if tmid_start is None else float(tmid_start)
    a_rs = eph.a_rs if eph.a_rs else a_rs_from_density(eph.period)
    if not eph.a_rs and density is not None:
        a_rs = density.a_rs
    b = 0.3
    if eph.inc_deg is not None and eph.a_rs:
        b = min(max(impact_parameter(a_rs, eph.inc_deg), 0.0), 0.95)
    total_h = eph.duration_h if eph.duration_h else eph.period / math.pi / a_rs * 24.0
    rp = eph.rp_rs if eph.rp_rs else math.sqrt(_depth_guess(data, tc, total_h / 48.0))
    start = {"tmid": tc, "rp_rs": rp, "a_rs": a_rs, "b": b, "u1": ld.u1, "u2": ld.u2}
    free = ["tmid", "rp_rs"]
    priors: dict[str, tuple[float, float]] = {}
    has_geometry = eph.a_rs is not None
    if geometry == "fixed" and not has_geometry:
        raise ValueError("geometry 'fixed' needs a/Rs and the inclination from an archive")
    if geometry != "fixed":
        free += ["a_rs", "b"]
        if geometry == "prior" and has_geometry:
            priors["a_rs"] = (a_rs, eph.a_rs_err or _A_RS_REL * a_rs)
            if eph.inc_deg is not None:
                b_err = _B_SIGMA
                if eph.inc_err:
                    b_err = max(a_rs * math.radians(eph.inc_err) * math.sin(
                        math.radians(eph.inc_deg)), 0.05)  # fmt: skip
                priors["b"] = (b, b_err)
        elif not has_geometry and density is not None:
            priors["a_rs"] = (density.a_rs, density.a_rs_err)
    if limb_darkening != "fixed":
        free += ["u1", "u2"]
        if limb_darkening == "prior":
            priors["u1"] = (ld.u1, ld.u1_err)
            priors["u2"] = (ld.u2, ld.u2_err)
    # The mid-time may move by up to half a transit from where it starts, and
    # stays inside the observed span.
    half = max(total_h / 24.0 / 2.0, 1.0 / 24.0)
    window = (max(tc - half, data.t[0]), min(tc + half, data.t[-1]))
    if window[0] >= window[1]:
        raise ValueError(
            f"the predicted transit (BJD_TDB {tc:.4f}) is not in the light curve "
            f"({data.t[0]:.4f} to {data.t[-1]:.4f}): check the ephemeris or the times"
        )
    # Without priors on a/Rs and b the sampler's prior is uniform in the
    # transit's durations, which the light curve measures (fit.duration_log_jacobian).
    unconstrained = "a_rs" in free and "a_rs" not in priors and "b" not in priors
    return FitSetup(
        period=eph.period, start=start, free=tuple(free), priors=priors,
        tmid_window=window, exposure_s=data.exposure_s, duration_prior=unconstrained,
    )  # fmt: skip
