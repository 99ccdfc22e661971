"""Differential light curves: ensemble magnitudes, calibrated magnitudes, times.

* :func:`differential_magnitudes` divides the target's flux by the summed flux
  of a comparison ensemble, frame by frame, and propagates both errors. When
  the ensemble changes from frame to frame (a moving target leaves some
  comparison stars behind), each member is normalised by its own median flux,
  or by its catalogue magnitude when given, so that frames with different
  ensembles stay on one scale.
* :func:`calibrated_magnitudes` applies per-frame zero points.
* :func:`light_curve_times` gives mid-exposure JD(UTC), BJD_TDB (astropy's
  barycentric light-travel time for the target's coordinates and the site)
  and the airmass.

All functions work on plain arrays; :mod:`fluxion.core.lightcurve.run` measures
those arrays on a sequence of frames.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from astropy import constants as const
from astropy import units as u
from astropy.coordinates import (
    AltAz,
    EarthLocation,
    SkyCoord,
    UnitSphericalRepresentation,
    get_body_barycentric,
)
from astropy.table import QTable, Table
from astropy.time import Time, TimeDelta
from astropy.utils import iers

from ..photometry.noise import MAG_PER_LN

__all__ = [
    "Differential",
    "differential_magnitudes",
    "calibrated_magnitudes",
    "light_curve_times",
    "LIGHT_CURVE_COLUMNS",
]

#: Columns of a light-curve table, in order, as written by ``fluxion lightcurve``.
LIGHT_CURVE_COLUMNS = (
    "file", "jd_utc", "bjd_tdb", "mag", "mag_err", "flux", "flux_err",
    "x", "y", "ra", "dec", "flags",
)  # fmt: skip


@dataclass(frozen=True)
class Differential:
    """A differential light curve.

    Attributes
    ----------
    mag, mag_err : ndarray
        Magnitude of the target relative to the ensemble (plus the ensemble's
        catalogue magnitude when comparison magnitudes were given), and its
        random error: the target's and the ensemble's photometric noise.
    ensemble_flux, ensemble_err : ndarray
        Summed flux of the comparison stars used in each frame.
    n_comparison : ndarray of int
        Number of comparison stars used in each frame.
    offset_err : float
        Systematic error of the magnitude scale (from the comparison
        magnitudes' errors); 0 for purely differential magnitudes.
    """

    mag: np.ndarray
    mag_err: np.ndarray
    ensemble_flux: np.ndarray
    ensemble_err: np.ndarray
    n_comparison: np.ndarray
    offset_err: float


def differential_magnitudes(
    target_flux: np.ndarray,
    target_err: np.ndarray,
    comparison_flux: np.ndarray,
    comparison_err: np.ndarray,
    *,
    comparison_mag: np.ndarray | None = None,
    comparison_mag_err: np.ndarray | None = None,
) -> Differential:
    """Magnitudes of a target against an ensemble of comparison stars.

    Parameters
    ----------
    target_flux, target_err : ndarray, shape (n_frames,)
        The target's flux and 1-sigma error in each frame.
    comparison_flux, comparison_err : ndarray, shape (n_frames, n_comparison)
        The comparison stars' fluxes; NaN where a star is not usable in a
        frame (off the field, flagged). The ensemble of each frame is the sum
        over the usable stars.
    comparison_mag, comparison_mag_err : ndarray, shape (n_comparison,), optional
        Catalogue magnitudes of the comparison stars. With them the result is
        on the catalogue's scale; without them it is the target's instrumental
        magnitude (``-2.5 log10 flux``) with each frame's change of the
        ensemble against its median over the frames taken out.

    Returns
    -------
    Differential
    """
    ft = np.asarray(target_flux, dtype=float)
    et = np.asarray(target_err, dtype=float)
    fc = np.atleast_2d(np.asarray(comparison_flux, dtype=float))
    ec = np.atleast_2d(np.asarray(comparison_err, dtype=float))
    if fc.shape[0] != ft.size:
        fc, ec = fc.T, ec.T
    if fc.shape[0] != ft.size or fc.shape != ec.shape:
        raise ValueError(
            f"comparison fluxes {fc.shape} do not match {ft.size} frames of the target"
        )
    usable = np.isfinite(fc) & (fc > 0) & np.isfinite(ec)
    fc = np.where(usable, fc, 0.0)
    ec = np.where(usable, ec, 0.0)
    # Each member's reference brightness on the output scale: its catalogue
    # magnitude, or its own median flux (so that a frame missing one member is
    # rescaled by what that member would have contributed).
    if comparison_mag is not None:
        ref_flux = 10 ** (-0.4 * np.asarray(comparison_mag, dtype=float))
        offset_err = _ensemble_mag_err(ref_flux, comparison_mag_err)
    else:
        with np.errstate(invalid="ignore"):
            ref_flux = np.nanmedian(np.where(usable, fc, np.nan), axis=0)
        ref_flux = np.where(np.isfinite(ref_flux), ref_flux, 0.0)
        offset_err = 0.0
    ens = fc.sum(axis=1)
    ens_err = np.sqrt((ec**2).sum(axis=1))
    ens_ref = (usable * ref_flux[None, :]).sum(axis=1)
    n_comp = usable.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        good = (ft > 0) & (ens > 0) & (ens_ref > 0)
        mag = np.where(good, -2.5 * np.log10(ft / ens * ens_ref), np.nan)
        mag_err = np.where(
            good, MAG_PER_LN * np.sqrt((et / ft) ** 2 + (ens_err / ens) ** 2), np.nan
        )
    return Differential(mag, mag_err, ens, ens_err, n_comp, offset_err)


def _ensemble_mag_err(ref_flux: np.ndarray, mag_err: np.ndarray | None) -> float:
    """Error of the ensemble's catalogue magnitude from its members' errors."""
    if mag_err is None:
        return 0.0
    err = np.nan_to_num(np.asarray(mag_err, dtype=float))
    return float(np.sqrt(np.sum((ref_flux * err) ** 2)) / np.sum(ref_flux))


def calibrated_magnitudes(
    flux: np.ndarray,
    flux_err: np.ndarray,
    zero_point: np.ndarray | float,
    zero_point_err: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitudes from instrumental fluxes and per-frame zero points.

    ``mag = zero_point - 2.5 log10(flux)``, with ``flux`` in the units the zero
    point was fitted in (electrons, or electrons per second). The error adds
    the zero point's error in quadrature.
    """
    f = np.asarray(flux, dtype=float)
    e = np.asarray(flux_err, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(f > 0, np.asarray(zero_point) - 2.5 * np.log10(f), np.nan)
        err = np.where(
            f > 0, np.hypot(MAG_PER_LN * e / f, np.asarray(zero_point_err, dtype=float)), np.nan
        )
    return mag, err


def light_curve_times(
    times: Time,
    target: SkyCoord,
    location: EarthLocation | None = None,
) -> Table:
    """Mid-exposure JD(UTC), BJD_TDB and airmass of each frame.

    Parameters
    ----------
    times : astropy.time.Time
        Mid-exposure times (any scale).
    target : SkyCoord
        The target; scalar for a fixed target, one per frame for a moving one.
    location : EarthLocation, optional
        The site. Without it BJD_TDB is computed for the geocentre (error up
        to 21 ms, the Earth's radius in light time) and airmass is NaN.

    Returns
    -------
    Table
        Columns ``jd_utc``, ``bjd_tdb`` (days) and ``airmass``.
    """
    t = Time(times)
    if location is None:
        bjd = (t.tdb + _geocentre_light_time(t, target)).jd
        airmass = np.full(len(t), np.nan)
    else:
        with _LOCK, iers.earth_orientation_table.set(_no_earth_orientation()):
            ltt = t.light_travel_time(target, kind="barycentric", location=location)
            bjd = (t.tdb + ltt).jd
            altaz = target.transform_to(AltAz(obstime=t, location=location))
            alt = np.asarray(altaz.alt.deg, dtype=float) * np.ones(len(t))
            airmass = _airmass(alt)
    table = Table()
    table["jd_utc"] = t.utc.jd
    table["bjd_tdb"] = np.asarray(bjd, dtype=float) * np.ones(len(t))
    table["airmass"] = airmass
    return table


# Our own blocks take turns with the Earth-orientation table they set (astropy's
# is one for the process).
_LOCK = threading.Lock()
_NO_EOP: list[iers.IERS] = []


def _no_earth_orientation() -> iers.IERS:
    """An Earth-orientation table of zeros: UT1 = UTC, no polar motion, at all times.

    What the site's terms need of the Earth's orientation is far coarser than
    the IERS tables give: |UT1 - UTC| < 0.9 s turns the Earth by at most 13",
    which moves the site by 0.4 km (1.4 microseconds of light time in BJD)
    and the target's altitude by 13" (5e-4 in airmass at airmass 3); polar
    motion (< 1") less still. Reading the tables costs 1-3 s the first time in
    a process (and may want a download); this table costs nothing.
    """
    if not _NO_EOP:
        zeros = [0.0, 0.0]
        _NO_EOP.append(
            iers.IERS(
                QTable(
                    {
                        "MJD": [0.0, 1e6] * u.d,
                        "UT1_UTC": zeros * u.s,
                        "PM_x": zeros * u.arcsec,
                        "PM_y": zeros * u.arcsec,
                    }
                )
            )
        )
    return _NO_EOP[0]


def _geocentre_light_time(t: Time, target: SkyCoord) -> TimeDelta:
    """Light time from the geocentre to the barycentre along ``target``'s direction.

    What ``Time.light_travel_time`` gives for a location at the geocentre
    (the same to 1e-12 s), without the Earth-rotation transform it makes of
    that location: the rotation of a point at the Earth's centre is the point
    itself, yet it reads the IERS tables (polar motion), 1-3 s of parsing the
    first time in a process, for nothing.
    """
    earth = get_body_barycentric("earth", t.tdb)  # the built-in (ERFA) ephemeris
    direction = target.icrs.represent_as(UnitSphericalRepresentation).to_cartesian()
    return TimeDelta(earth.dot(direction) / const.c, scale="tdb")


def _airmass(alt_deg: np.ndarray) -> np.ndarray:
    """Airmass from altitude by Young (1994, Appl. Opt. 33, 1108).

    sec z overestimates by 1 % at airmass 3 and diverges at the horizon;
    Young's formula holds to 0.0037 down to the horizon. Below it: NaN.
    """
    z = np.radians(90.0 - alt_deg)
    c = np.cos(z)
    num = 1.002432 * c**2 + 0.148386 * c + 0.0096467
    den = c**3 + 0.149864 * c**2 + 0.0102963 * c + 0.000303978
    return np.where(alt_deg > 0, num / den, np.nan)
