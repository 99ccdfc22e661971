"""The one interface every reference catalog follows, and its table schema.

A source answers a :class:`Cone` (centre, radius, magnitude limit) with an
astropy Table in one schema, whatever the service calls its columns:

``ra``, ``dec``
    degrees (ICRS), at the epoch given in ``meta["epoch"]`` once proper motion
    was applied (see :func:`apply_proper_motion`), else at the catalog epoch;
``pm_ra``, ``pm_dec``
    proper motion in mas/yr (``pm_ra`` includes cos(dec)); NaN where unknown;
``epoch``
    the catalog's reference epoch as a Julian year (e.g. 2016.0 for Gaia DR3);
``ra_err``, ``dec_err``
    position uncertainty in arcsec on the sky (``ra_err`` with cos(dec)) at the
    catalog epoch; NaN where the catalog does not say;
``<band>``, ``<band>_err``
    magnitudes and their errors in named bands (``B``, ``V``, ``g``, ``r``,
    ``i``, ``z``, ``y``, ``J``, ``H``, ``K``, ``G``, ``BP``, ``RP``, ...).

``meta`` carries ``source`` (the catalog's name), ``bands`` (the band columns
present) and ``mag_band`` (the band the magnitude limit was applied to).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.time import Time

from ..runtime.network import ServiceError

__all__ = [
    "CatalogError",
    "Cone",
    "CatalogSource",
    "standard_table",
    "apply_proper_motion",
    "select_cone",
    "angular_separation_deg",
    "MAGNITUDE_COLUMNS",
    "UNNAMED_BAND",
]

log = logging.getLogger(__name__)

#: The band of a catalog's magnitude column that names none (a file with
#: ``ra, dec, mag``): its magnitudes are taken to be in the frames' band.
UNNAMED_BAND = "mag"
#: What a catalog file's magnitude columns may be called, said the same way in
#: the commands' help and in the error for a file without one.
MAGNITUDE_COLUMNS = (
    "a magnitude column: 'mag' (in the frames' band), or one per band named "
    "<band>mag or <band> (Vmag, V, r'mag, mag_V, phot_g_mean_mag)"
)

# The band a magnitude limit applies to when nobody says: the visual-ish bands
# most frames are taken in come first.
_PREFERRED_BANDS = ("V", "r", "G", "g", "R", "VT", "i", "B", "J")


class CatalogError(ServiceError):
    """A catalog could not answer: time-out, HTTP error, malformed reply, missing file.

    The message is meant for the user as it is (what failed and why);
    ``failure`` holds the network cause when there is one.
    """


@dataclass(frozen=True)
class Cone:
    """A region of sky to fetch reference stars for.

    Parameters
    ----------
    ra, dec : float
        Centre in degrees (ICRS).
    radius : float
        Radius in degrees.
    mag_limit : float, optional
        Faintest magnitude kept in the catalog's main band; None keeps all.
    epoch : float, optional
        Julian year to move stars to with their proper motions (the frame's
        time of observation); None keeps the catalog epoch.
    """

    ra: float
    dec: float
    radius: float
    mag_limit: float | None = None
    epoch: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.ra) and np.isfinite(self.dec) and -90 <= self.dec <= 90):
            raise ValueError(f"cone centre must be finite degrees, got ({self.ra}, {self.dec})")
        if not (np.isfinite(self.radius) and 0 < self.radius <= 90):
            raise ValueError(f"cone radius must be in (0, 90] degrees, got {self.radius}")
        object.__setattr__(self, "ra", float(self.ra) % 360.0)

    def contains(self, other: Cone) -> bool:
        """True when ``other`` lies inside this cone and needs no fainter stars."""
        sep = float(angular_separation_deg(self.ra, self.dec, other.ra, other.dec))
        if sep + other.radius > self.radius + 1e-9:
            return False
        if self.mag_limit is None:
            return True
        return other.mag_limit is not None and other.mag_limit <= self.mag_limit


class CatalogSource(ABC):
    """A reference catalog that answers cone searches.

    Subclasses set :attr:`name` (shown to the user and used as the cache key)
    and implement :meth:`query`. Network sources set :attr:`online` so that the
    chain can skip them when the user works offline.
    """

    name: str = "catalog"
    online: bool = False

    @abstractmethod
    def query(self, cone: Cone) -> Table:
        """Stars inside ``cone`` in the schema of this module, as a new table.

        The table is the caller's: :class:`~.chain.CatalogChain` moves its
        stars to the observation's epoch in place (a source's own table, or
        one it hands out again, must be copied, as :func:`select_cone` does).

        Raises
        ------
        CatalogError
            When the catalog cannot answer; the message says why.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def angular_separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle distance in degrees (Vincenty formula, stable at all distances)."""
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(a, dtype=float)) for a in (ra1, dec1, ra2, dec2))
    dra = ra2 - ra1
    num = np.hypot(
        np.cos(dec2) * np.sin(dra),
        np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra),
    )
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den))


def _column(table: Table, name: str | None) -> np.ndarray | None:
    if name is None or name not in table.colnames:
        return None
    col = table[name]
    data: np.ndarray = np.ma.filled(np.ma.asarray(col, dtype=float), np.nan)
    return np.asarray(data, dtype=float)


def standard_table(
    raw: Table,
    *,
    source: str,
    ra: str,
    dec: str,
    bands: Mapping[str, tuple[str, str | None]],
    pm_ra: str | None = None,
    pm_dec: str | None = None,
    epoch: float | str = 2000.0,
    mag_band: str | None = None,
    extra: Iterable[str] = (),
    pos_err: tuple[str | None, str | None] = (None, None),
    pos_err_unit: str = "arcsec",
    pos_err_nobs: str | None = None,
) -> Table:
    """Map a service's table onto the schema of this module.

    Parameters
    ----------
    raw : Table
        The table as the service returned it.
    source : str
        Catalog name stored in ``meta["source"]``.
    ra, dec : str
        Names of the position columns (degrees).
    bands : mapping
        ``band -> (magnitude column, error column or None)``; bands whose
        magnitude column is absent are left out.
    pm_ra, pm_dec : str, optional
        Proper-motion columns in mas/yr (``pm_ra`` with cos(dec)).
    epoch : float or str
        Catalog epoch as a Julian year, or the name of a per-row epoch column.
    mag_band : str, optional
        The band a magnitude limit applies to; the first band present if None.
    extra : iterable of str
        Further columns copied as they are (identifiers, flags).
    pos_err : (str or None, str or None)
        Columns of the RA (with cos(dec)) and Dec position uncertainties.
    pos_err_unit : str
        Their unit when the columns carry none ("arcsec", "mas", "deg").
    pos_err_nobs : str, optional
        Column of the number of independent observations when ``pos_err``
        is the scatter of one observation (APASS), not the error of the
        catalog's mean position: it is divided by the square root.
    """
    ra_v, dec_v = _column(raw, ra), _column(raw, dec)
    if ra_v is None or dec_v is None:
        raise CatalogError(
            f"{source}: reply has no {ra!r}/{dec!r} position columns "
            f"(columns: {', '.join(raw.colnames[:12])})"
        )
    n = len(raw)
    out = Table()
    out["ra"] = ra_v
    out["dec"] = dec_v
    out["ra"].unit = out["dec"].unit = "deg"
    nan = np.full(n, np.nan)
    pmr, pmd = _column(raw, pm_ra), _column(raw, pm_dec)
    out["pm_ra"] = pmr if pmr is not None else nan
    out["pm_dec"] = pmd if pmd is not None else nan.copy()
    out["pm_ra"].unit = out["pm_dec"].unit = "mas / yr"
    if isinstance(epoch, str):
        ep = _column(raw, epoch)
        out["epoch"] = ep if ep is not None else np.full(n, 2000.0)
    else:
        out["epoch"] = np.full(n, float(epoch))
    for name, col in zip(("ra_err", "dec_err"), pos_err, strict=True):
        err = _column(raw, col)
        if err is None:
            out[name] = nan.copy()
        else:
            unit = getattr(raw[col], "unit", None) or u.Unit(pos_err_unit)
            out[name] = err * float(u.Unit(unit).to(u.arcsec))
            nobs = _column(raw, pos_err_nobs)
            if nobs is not None:
                out[name] /= np.sqrt(np.where(nobs >= 1, nobs, 1.0))
        out[name].unit = "arcsec"
    present = []
    for band, (mag_col, err_col) in bands.items():
        mag = _column(raw, mag_col)
        if mag is None:
            continue
        err = _column(raw, err_col)
        out[band] = mag
        out[f"{band}_err"] = err if err is not None else np.full(n, np.nan)
        out[band].unit = out[f"{band}_err"].unit = "mag"
        present.append(band)
    for name in extra:
        if name in raw.colnames:
            out[name] = raw[name]
    good = np.isfinite(out["ra"]) & np.isfinite(out["dec"])
    out = out[good]
    out.meta["source"] = source
    out.meta["bands"] = present
    if mag_band not in present:
        preferred = [b for b in _PREFERRED_BANDS if b in present]
        mag_band = preferred[0] if preferred else (present[0] if present else None)
    out.meta["mag_band"] = mag_band
    return out


def select_cone(table: Table, cone: Cone) -> Table:
    """Rows of a schema table inside ``cone`` and brighter than its limit, brightest first."""
    sep = angular_separation_deg(cone.ra, cone.dec, table["ra"], table["dec"])
    keep = sep <= cone.radius
    band = table.meta.get("mag_band")
    if cone.mag_limit is not None and band in table.colnames:
        mag = np.asarray(table[band], dtype=float)
        # Stars without a magnitude in the main band stay: they still pin the astrometry.
        keep &= ~(mag > cone.mag_limit)
    rows = np.flatnonzero(keep)
    if band in table.colnames and len(rows):
        mag = np.asarray(table[band], dtype=float)[rows]
        rows = rows[np.argsort(np.where(np.isfinite(mag), mag, np.inf), kind="stable")]
    # The rows taken once, in their order (a cut then a sort copied the table twice).
    return table[rows]


def apply_proper_motion(table: Table, epoch: float | Time | None, *, copy: bool = True) -> Table:
    """Move stars to ``epoch`` (Julian year or Time) with their proper motions.

    A linear motion on the tangent plane is exact to well below a milliarcsecond
    over decades for all but the nearest stars, so the full space-motion
    treatment (``SkyCoord.apply_space_motion``, which needs parallax and radial
    velocity) is not worth its cost here. Rows without proper motion are left as
    they are. Returns a new table with ``meta["epoch"]`` set; with ``copy=False``
    ``table`` itself, its ``ra``, ``dec`` and ``epoch`` columns replaced (for a
    caller that owns it: the copy of every column was most of the cost).
    """
    out = table.copy() if copy else table
    if epoch is None:
        return out
    year = float(epoch.jyear) if isinstance(epoch, Time) else float(epoch)
    pmr = np.nan_to_num(np.asarray(out["pm_ra"], dtype=float))
    pmd = np.nan_to_num(np.asarray(out["pm_dec"], dtype=float))
    dt = year - np.asarray(out["epoch"], dtype=float)
    dec = np.asarray(out["dec"], dtype=float)
    cosd = np.maximum(np.cos(np.radians(dec)), 1e-9)
    out["ra"] = (np.asarray(out["ra"], dtype=float) + pmr * dt / 3.6e6 / cosd) % 360.0
    out["dec"] = np.clip(dec + pmd * dt / 3.6e6, -90.0, 90.0)
    out["ra"].unit = out["dec"].unit = "deg"
    moved = (pmr != 0) | (pmd != 0)
    out["epoch"] = np.where(moved, year, out["epoch"])
    out.meta["epoch"] = year
    return out
