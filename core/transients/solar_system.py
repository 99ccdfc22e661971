"""Known Solar System objects among the candidates (SkyBoT).

An asteroid is the commonest impostor: a point source with no catalogue
counterpart. SkyBoT lists the known ones in the field at one epoch with their
apparent motion (:func:`fluxion.core.targets.ephemerides.known_objects_in_field`);
over a night a main-belt asteroid's path is straight to well under an arcsec,
so one query at the middle of the sequence, moved along each object's rate,
gives its place in every frame. A candidate within ``radius`` (10 arcsec, as
STDWeb uses, which also covers SkyBoT's typical position errors) of a known
object at the frame's time is that object.
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

__all__ = ["known_positions", "match_known_objects", "SOLAR_SYSTEM_RADIUS"]

#: Largest distance (arcsec) at which a candidate is taken for a known object.
SOLAR_SYSTEM_RADIUS = 10.0


def known_positions(known: Table, jd: float) -> SkyCoord:
    """Where each known object is at ``jd`` (UTC), moved along its SkyBoT rate.

    ``known`` is :func:`~fluxion.core.targets.ephemerides.known_objects_in_field`'s
    table, whose ``meta['epoch_jd']`` is the epoch of its positions;
    ``ra_rate`` includes the cos(dec) factor.
    """
    epoch = float(known.meta.get("epoch_jd", jd))
    hours = (float(jd) - epoch) * 24.0
    start = SkyCoord(
        np.asarray(known["ra"], dtype=float) * u.deg, np.asarray(known["dec"], dtype=float) * u.deg
    )
    east = np.nan_to_num(np.asarray(known["ra_rate"], dtype=float)) * hours
    north = np.nan_to_num(np.asarray(known["dec_rate"], dtype=float)) * hours
    return start.spherical_offsets_by(east * u.arcsec, north * u.arcsec)


def match_known_objects(
    ra: np.ndarray,
    dec: np.ndarray,
    jd: np.ndarray,
    known: Table | None,
    radius: float = SOLAR_SYSTEM_RADIUS,
) -> np.ndarray:
    """The name of the known object at each position and time ('' where none).

    Parameters
    ----------
    ra, dec : ndarray
        Candidate positions (deg).
    jd : ndarray
        Their frames' mid-exposure JD (UTC).
    known : Table or None
        SkyBoT's answer; None or empty matches nothing.
    radius : float
        Matching radius (arcsec).
    """
    ra = np.atleast_1d(np.asarray(ra, dtype=float))
    names = np.full(len(ra), "", dtype=object)
    if known is None or len(known) == 0 or len(ra) == 0:
        return names.astype(str)
    dec = np.atleast_1d(np.asarray(dec, dtype=float))
    jd = np.broadcast_to(np.asarray(jd, dtype=float), ra.shape)
    label = [
        f"{int(n)} {nm}" if int(n) > 0 and str(n) not in str(nm) else str(nm)
        for n, nm in zip(known["number"], known["name"], strict=True)
    ]
    for t in np.unique(jd[np.isfinite(jd)]):
        rows = np.flatnonzero(jd == t)
        where = known_positions(known, t)
        cand = SkyCoord(ra[rows] * u.deg, dec[rows] * u.deg)
        idx, sep, _ = cand.match_to_catalog_sky(where)
        near = sep.arcsec <= radius
        for r, k in zip(rows[near], np.atleast_1d(idx)[near], strict=True):
            names[r] = label[int(k)]
    return names.astype(str)
