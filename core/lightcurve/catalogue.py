"""Catalogue magnitudes of comparison stars, from a frame's photometric calibration.

The zero-point step matches every frame's stars with a reference catalogue
and keeps the stars its fit used (:class:`fluxion.core.zeropoint.ZeroPointResult`,
``stars``). Those stars, with their catalogue magnitudes, are comparison stars
of known brightness: an ensemble of them puts a target's light curve on the
catalogue's scale, as the AAVSO and ALCDEF reports ask, without the aperture
correction a per-frame zero point would need (target and comparison stars are
measured through the same aperture).

:func:`catalogue_comparison` turns one calibrated frame's stars into the
candidate list of :func:`fluxion.core.lightcurve.run.assemble_light_curve`,
with each star's name, sky position and catalogue magnitude kept for the
reports (:func:`comparison_records`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from scipy.spatial import cKDTree

__all__ = ["CatalogueComparison", "catalogue_comparison", "comparison_records", "star_name"]


@dataclass(frozen=True)
class CatalogueComparison:
    """Comparison candidates of known catalogue magnitude.

    Attributes
    ----------
    xy : ndarray, shape (n, 2)
        Positions in the pixels the candidates were given in.
    mag, mag_err : ndarray, shape (n,)
        Catalogue magnitudes in ``band`` and their errors.
    ra, dec : ndarray, shape (n,)
        Sky positions (deg).
    names : list of str
        The catalogue's identifier, or a position-based name (``J...``).
    band : str
        The magnitudes' band (the zero point's).
    source : str
        Where they come from (the calibrated frame), for the log and reports.
    """

    xy: np.ndarray
    mag: np.ndarray
    mag_err: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    names: list[str]
    band: str
    source: str

    def __len__(self) -> int:
        return len(self.mag)


def star_name(ra: float, dec: float) -> str:
    """A position-based name ``JHHMMSS.s+DDMMSS`` (16 characters, fits AAVSO's 20)."""
    if not (np.isfinite(ra) and np.isfinite(dec)):
        return "na"
    h = (ra % 360.0) / 15.0
    hh, rem = divmod(h * 3600.0, 3600.0)
    mm, ss = divmod(rem, 60.0)
    if round(ss, 1) >= 60.0:  # 59.96 s rounds to the next minute, not to "60.0"
        ss, mm = 0.0, mm + 1
        if mm >= 60:
            mm, hh = 0, (hh + 1) % 24
    sign = "-" if dec < 0 else "+"
    d = abs(dec) * 3600.0
    dd, rem = divmod(round(d), 3600)
    dm, ds = divmod(rem, 60)
    return f"J{int(hh):02d}{int(mm):02d}{ss:04.1f}{sign}{int(dd):02d}{int(dm):02d}{int(ds):02d}"


def catalogue_comparison(
    stars: Table,
    sources: Table | None = None,
    *,
    band: str = "",
    isolation_radius: float = 0.0,
    source: str = "",
) -> CatalogueComparison:
    """The stars a zero-point fit used, as comparison candidates.

    Parameters
    ----------
    stars : Table
        The zero-point step's matched stars (``x``, ``y``, ``ra``, ``dec``,
        ``mag_catalog``, ``mag_catalog_err``, ``used``, optionally ``catalog_id``).
        Only stars the fit kept are taken: those it rejected as outliers may
        vary, be blended or have a wrong catalogue magnitude.
    sources : Table, optional
        Every source measured in that frame (``x``, ``y``): a star with another
        source closer than ``isolation_radius`` px is left out, since its
        neighbour's light falls in the aperture or the sky annulus.
    band, source : str
        Recorded in the result.

    Returns
    -------
    CatalogueComparison
        Possibly empty.
    """
    if len(stars) == 0 or "used" not in stars.colnames:
        keep = np.zeros(len(stars), bool)
    else:
        keep = np.asarray(stars["used"], bool).copy()
    x = np.asarray(stars["x"], float) if len(stars) else np.empty(0)
    y = np.asarray(stars["y"], float) if len(stars) else np.empty(0)
    mag = np.asarray(stars["mag_catalog"], float) if len(stars) else np.empty(0)
    keep &= np.isfinite(x) & np.isfinite(y) & np.isfinite(mag)
    if sources is not None and isolation_radius > 0 and len(sources) > 1 and keep.any():
        sx, sy = np.asarray(sources["x"], float), np.asarray(sources["y"], float)
        ok = np.isfinite(sx) & np.isfinite(sy)
        tree = cKDTree(np.column_stack([sx[ok], sy[ok]]))
        # The nearest source is the star itself (distance ~0); the second is its neighbour.
        dist, _ = tree.query(np.column_stack([x, y]), k=2)
        keep &= dist[:, 1] >= isolation_radius
    rows = np.flatnonzero(keep)
    ra = np.asarray(stars["ra"], float)[rows] if len(rows) else np.empty(0)
    dec = np.asarray(stars["dec"], float)[rows] if len(rows) else np.empty(0)
    ids = (
        [str(v).strip() for v in stars["catalog_id"][rows]]
        if "catalog_id" in stars.colnames
        else [""] * len(rows)
    )
    names = [
        i if i and i != "--" else star_name(r, d) for i, r, d in zip(ids, ra, dec, strict=True)
    ]
    err = (
        np.asarray(stars["mag_catalog_err"], float)[rows]
        if "mag_catalog_err" in stars.colnames
        else np.full(len(rows), np.nan)
    )
    return CatalogueComparison(
        xy=np.column_stack([x[rows], y[rows]]).reshape(-1, 2),
        mag=mag[rows],
        mag_err=err,
        ra=ra,
        dec=dec,
        names=names,
        band=band,
        source=source,
    )


def comparison_records(
    cat: CatalogueComparison, comparison: Sequence[int], check: int | None
) -> list[dict[str, object]]:
    """The chosen stars as the light-curve table's metadata keeps them.

    One dict per star, comparison stars first (``role`` ``C1``, ``C2`` ...),
    then the check star (``K``): ``name``, ``ra``, ``dec``, ``mag``,
    ``mag_err`` (catalogue, in ``cat.band``). Plain Python values, so that
    the ECSV header keeps them.
    """
    chosen = [(f"C{n + 1}", int(k)) for n, k in enumerate(comparison)]
    if check is not None:
        chosen.append(("K", int(check)))

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return [
        {
            "role": role,
            "name": cat.names[k],
            "ra": num(cat.ra[k]),
            "dec": num(cat.dec[k]),
            "mag": num(cat.mag[k]),
            "mag_err": num(cat.mag_err[k]),
        }
        for role, k in chosen
    ]
