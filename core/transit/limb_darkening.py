"""Quadratic limb darkening of the host star from its filter and parameters.

The coefficients are interpolated (linearly in Teff, log g and [M/H]) in the
quadratic table of Claret & Bloemen (2011, A&A 529, A75: ATLAS atmospheres,
least-squares fit, microturbulence 2 km/s), of which the project keeps a
subset in ``resources/limb_darkening_claret2011.ecsv``. Tables such as LDTk's
need PHOENIX spectra from the internet; a tabulated law works offline, and the
fit treats it as a prior, not as the truth:

* the prior's width is the spread of the table over the star's parameter
  errors (Monte Carlo), plus 0.05 in each coefficient for the difference
  between model atmospheres and real stars (Claret & Bloemen 2011 against
  PHOENIX; Espinoza & Jordan 2015 find offsets of this size in Kepler data);
* filters the table does not know (clear, ``Filter 2``, a luminance filter)
  get the mean of V and R with a prior of 0.2, so the light curve decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from astropy.table import Table
from scipy.interpolate import RegularGridInterpolator

from ..runtime.quiet import quiet

__all__ = ["LimbDarkening", "limb_darkening", "table_band"]

_TABLE = "limb_darkening_claret2011.ecsv"
#: Model-atmosphere systematic error added to every tabulated coefficient.
MODEL_SIGMA = 0.05
#: Prior width for a filter the table does not know.
UNKNOWN_FILTER_SIGMA = 0.2

# Filter names as observers and headers write them -> the table's band.
_ALIASES = {
    "U": "U", "B": "B", "V": "V", "R": "R", "RC": "R", "I": "I", "IC": "I",
    "SU": "up", "U'": "up", "UP": "up", "SG": "gp", "G'": "gp", "GP": "gp", "G": "gp",
    "SR": "rp", "R'": "rp", "RP": "rp", "SI": "ip", "I'": "ip", "IP": "ip",
    "SZ": "zp", "Z'": "zp", "ZP": "zp", "Z": "zp",
    "JOHNSON V": "V", "JOHNSON B": "B", "COUSINS R": "R", "COUSINS I": "I",
    "SLOAN G": "gp", "SLOAN R": "rp", "SLOAN I": "ip", "SLOAN Z": "zp",
}  # fmt: skip


@dataclass(frozen=True)
class LimbDarkening:
    """Quadratic coefficients with their prior widths.

    Attributes
    ----------
    u1, u2 : float
        Coefficients of I(mu)/I(1) = 1 - u1 (1 - mu) - u2 (1 - mu)^2.
    u1_err, u2_err : float
        Prior widths (1 sigma).
    band : str
        Table band used (``"V+R"`` for an unknown filter).
    source : str
        Where the numbers come from, for the report.
    """

    u1: float
    u2: float
    u1_err: float
    u2_err: float
    band: str
    source: str

    def to_dict(self) -> dict[str, float | str]:
        """Plain values for a JSON report."""
        return {
            "u1": self.u1, "u2": self.u2, "u1_err": self.u1_err, "u2_err": self.u2_err,
            "band": self.band, "source": self.source,
        }  # fmt: skip


def table_band(filter_name: str | None) -> str | None:
    """The table's band for a filter name, or None when the table has none."""
    if not filter_name:
        return None
    key = " ".join(str(filter_name).strip().upper().split())
    return _ALIASES.get(key)


@lru_cache(maxsize=1)
def _grids() -> dict[str, tuple[RegularGridInterpolator, RegularGridInterpolator]]:
    path = resources.files("fluxion.resources").joinpath(_TABLE)
    with resources.as_file(path) as p, quiet():
        t = Table.read(p, format="ascii.ecsv")
    out = {}
    for band in sorted(set(t["band"])):
        sub = t[t["band"] == band]
        axes = [np.unique(np.asarray(sub[c], float)) for c in ("teff", "logg", "feh")]
        shape = tuple(a.size for a in axes)
        idx = tuple(
            np.searchsorted(a, np.asarray(sub[c], float))
            for a, c in zip(axes, ("teff", "logg", "feh"), strict=True)
        )
        grids = []
        for name in ("u1", "u2"):
            values = np.full(shape, np.nan)
            values[idx] = np.asarray(sub[name], float)
            grids.append(RegularGridInterpolator(axes, values, bounds_error=False, fill_value=None))
        out[band] = (grids[0], grids[1])
    return out


def _clip_to_grid(band: str, teff, logg, feh):
    axes = _grids()[band][0].grid
    return (
        np.clip(teff, axes[0][0], axes[0][-1]),
        np.clip(logg, axes[1][0], axes[1][-1]),
        np.clip(feh, axes[2][0], axes[2][-1]),
    )


def _interpolate(band: str, teff, logg, feh) -> tuple[np.ndarray, np.ndarray]:
    g1, g2 = _grids()[band]
    pts = np.column_stack(np.broadcast_arrays(*_clip_to_grid(band, teff, logg, feh)))
    return g1(pts), g2(pts)


def limb_darkening(
    filter_name: str | None,
    teff: float | None = None,
    logg: float | None = None,
    feh: float | None = None,
    *,
    teff_err: float = 100.0,
    logg_err: float = 0.1,
    feh_err: float = 0.1,
    n_draws: int = 2000,
) -> LimbDarkening:
    """Quadratic coefficients and their prior for a filter and a star.

    Parameters
    ----------
    filter_name : str or None
        The frames' filter (``V``, ``R``, ``Rc``, ``SR``, ``r'``, ``Sloan r`` ...).
    teff, logg, feh : float, optional
        The host star's effective temperature (K), surface gravity (cgs) and
        metallicity; a Sun-like dwarf (5750 K, 4.5, 0.0) when unknown, with
        wide errors.
    teff_err, logg_err, feh_err : float
        Their errors, propagated by drawing from them.
    n_draws : int
        Draws for that propagation.

    Returns
    -------
    LimbDarkening
    """
    known = teff is not None
    teff = 5750.0 if teff is None else float(teff)
    logg = 4.5 if logg is None else float(logg)
    feh = 0.0 if feh is None else float(feh)
    if not known:
        teff_err, logg_err, feh_err = 750.0, 0.3, 0.3
    band = table_band(filter_name)
    rng = np.random.default_rng(20110101)  # fixed: the prior must not change between runs
    draws = (
        rng.normal(teff, teff_err, n_draws),
        rng.normal(logg, logg_err, n_draws),
        rng.normal(feh, feh_err, n_draws),
    )
    star = f"Teff {teff:.0f} K, log g {logg:.2f}, [M/H] {feh:+.2f}"
    if band is None:
        a1, a2 = _interpolate("V", *draws)
        b1, b2 = _interpolate("R", *draws)
        u1, u2 = 0.5 * (a1 + b1), 0.5 * (a2 + b2)
        sigma = UNKNOWN_FILTER_SIGMA
        label = "V+R"
        source = (
            f"filter {filter_name!r} not in the table: mean of V and R of Claret & Bloemen "
            f"(2011) for {star}, prior width {sigma}"
        )
    else:
        u1, u2 = _interpolate(band, *draws)
        sigma = MODEL_SIGMA
        label = band
        source = f"Claret & Bloemen (2011) quadratic, band {band}, {star}"
    return LimbDarkening(
        u1=float(np.mean(u1)),
        u2=float(np.mean(u2)),
        u1_err=float(np.hypot(np.std(u1), sigma)),
        u2_err=float(np.hypot(np.std(u2), sigma)),
        band=label,
        source=source,
    )
