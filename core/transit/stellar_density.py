"""a/Rs from the host star's spectroscopic parameters, for a fit without published geometry.

A single night's transit measures its durations poorly when the baseline
around it is short, and with a/Rs and b free the fit lengthens or shortens
the transit to follow correlated noise next to ingress or egress; the
mid-time moves with it. On TrES-1's night (tres1-oscaar, one hour before
ingress, fifteen minutes after egress) a dip of 1 % in the hour before
ingress made a 3.2 h transit of the published 2.5 h (a/Rs 7.6 +- 1.2 for
10.5) and put the mid-time 13 min (5 sigma) early.

The star's mean density fixes a/Rs through Kepler's third law,
``(a/Rs)^3 = G rho P^2 / (3 pi)``, and its effective temperature, surface
gravity and metallicity give the density through the empirical mass and
radius calibration of detached eclipsing binaries (Torres, Andersen &
Gimenez 2010, A&ARv 18, 67, table 4): ``log M`` and ``log R`` are
polynomials in ``X = log Teff - 4.1``, ``log g`` and [Fe/H], with a scatter
of 0.027 dex in mass and 0.014 dex in radius. The prior's width adds that
scatter to the stellar parameters' errors (typical spectroscopic ones when
none are given) propagated to log rho. As EXOFAST does, the density then
constrains the geometry of a transit the night alone cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "StellarDensityPrior", "a_rs_from_density", "torres_mass_radius", "a_rs_prior_from_star",
]  # fmt: skip

# Torres et al. (2010), table 4: log M = a . terms, log R = b . terms.
_LOG_M = (1.5689, 1.3787, 0.4243, 1.139, -0.1425, 0.01969, 0.1010)
_LOG_R = (2.4427, 0.6679, 0.1771, 0.705, -0.21415, 0.02306, 0.04173)
# The calibration's own scatter about the binaries (dex).
_SCATTER_LOG_M, _SCATTER_LOG_R = 0.027, 0.014
#: Errors assumed for a star given without them: typical of spectroscopic
#: analyses of planet hosts (Torres et al. 2012, ApJ 757, 161: 50-100 K,
#: 0.1 dex in log g and [Fe/H]).
DEFAULT_ERRORS = {"teff": 100.0, "logg": 0.1, "feh": 0.1}
#: Where the calibration holds (its binaries: 0.6 Msun and up, log g 3.3-5).
_TEFF_RANGE, _LOGG_RANGE = (4000.0, 10000.0), (3.0, 5.0)


def a_rs_from_density(period_days: float, density_solar: float = 1.0) -> float:
    """a/Rs of a circular orbit around a star of the given mean density (Sun = 1).

    Kepler's third law, (a/Rs)^3 = G rho P^2 / (3 pi); 4.2 P^(2/3) for the Sun.
    """
    g, rho_sun = 6.674e-11, 1408.0
    p = period_days * 86400.0
    return float((g * density_solar * rho_sun * p**2 / (3.0 * math.pi)) ** (1.0 / 3.0))


def _poly(c: tuple[float, ...], teff: float, logg: float, feh: float) -> float:
    x = math.log10(teff) - 4.1
    return (c[0] + c[1] * x + c[2] * x**2 + c[3] * x**3 + c[4] * logg**2 + c[5] * logg**3
            + c[6] * feh)  # fmt: skip


def torres_mass_radius(teff: float, logg: float, feh: float = 0.0) -> tuple[float, float]:
    """Mass and radius (solar units) of a star from Torres et al. (2010)'s calibration."""
    return 10.0 ** _poly(_LOG_M, teff, logg, feh), 10.0 ** _poly(_LOG_R, teff, logg, feh)


def _log_density(teff: float, logg: float, feh: float) -> float:
    return _poly(_LOG_M, teff, logg, feh) - 3.0 * _poly(_LOG_R, teff, logg, feh)


@dataclass(frozen=True)
class StellarDensityPrior:
    """a/Rs and its 1-sigma error from the star's density, and what they came from.

    Attributes
    ----------
    a_rs, a_rs_err : float
    density : float
        Mean density (solar units).
    note : str
        The star's parameters and errors used, for the fit's notes.
    """

    a_rs: float
    a_rs_err: float
    density: float
    note: str


def a_rs_prior_from_star(
    period_days: float,
    teff: float | None,
    logg: float | None,
    feh: float | None = None,
    errors: dict[str, float] | None = None,
) -> StellarDensityPrior | None:
    """a/Rs of a circular orbit from the star's Teff, log g and [Fe/H], with its error.

    Parameters
    ----------
    period_days : float
    teff, logg, feh : float or None
        The host's effective temperature (K), surface gravity (cgs dex) and
        metallicity (dex; 0 when not given).
    errors : dict, optional
        ``teff``, ``logg``, ``feh`` errors; missing ones from :data:`DEFAULT_ERRORS`.

    Returns
    -------
    StellarDensityPrior or None
        None without Teff or log g, or outside the calibration's range.
    """
    if teff is None or logg is None or not (math.isfinite(teff) and math.isfinite(logg)):
        return None
    if not (_TEFF_RANGE[0] <= teff <= _TEFF_RANGE[1] and _LOGG_RANGE[0] <= logg <= _LOGG_RANGE[1]):
        return None
    fe = 0.0 if feh is None or not math.isfinite(feh) else float(feh)
    err = {**DEFAULT_ERRORS, **(errors or {})}
    value = {"teff": float(teff), "logg": float(logg), "feh": fe}
    log_rho = _log_density(**value)
    # The stellar parameters' errors propagated linearly (central differences),
    # the calibration's scatter in mass and radius added in quadrature.
    var = _SCATTER_LOG_M**2 + (3.0 * _SCATTER_LOG_R) ** 2
    for k, h in (("teff", 1.0), ("logg", 1e-3), ("feh", 1e-3)):
        up, dn = dict(value), dict(value)
        up[k] += h
        dn[k] -= h
        var += ((_log_density(**up) - _log_density(**dn)) / (2 * h) * err[k]) ** 2
    density = 10.0**log_rho
    a_rs = a_rs_from_density(period_days, density)
    # a/Rs goes as rho^(1/3): its relative error is ln(10)/3 of log rho's.
    a_err = a_rs * math.log(10.0) / 3.0 * math.sqrt(var)
    note = (
        f"a/Rs {a_rs:.2f} +/- {a_err:.2f} from the star's density {density:.2f} solar "
        f"(Teff {teff:.0f} +/- {err['teff']:.0f} K, log g {logg:.2f} +/- {err['logg']:.2f}, "
        f"[Fe/H] {fe:.2f} +/- {err['feh']:.2f}; Torres et al. 2010) as a prior"
    )
    return StellarDensityPrior(float(a_rs), float(a_err), float(density), note)
