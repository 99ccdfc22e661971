"""Known variable stars from the AAVSO Variable Star indeX (VSX), through VizieR.

VSX is VizieR's catalogue ``B/vsx/vsx``; :func:`vsx_variables` asks it for
the variables in a field (astroquery.vizier, as the reference catalogues
are asked) and keeps each answer in the catalogue cache
(:class:`~fluxion.core.catalogs.cache.CatalogCache`), so a field is asked
once and known offline after. :func:`mark_known` names the VSX variable at
each star of a field.
"""

from __future__ import annotations

import logging
import os

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

from ..catalogs.base import CatalogError, Cone, angular_separation_deg
from ..catalogs.cache import CatalogCache
from ..catalogs.vizier import _describe, _read_votable
from ..runtime.network import SERVICE_TIMEOUT_S

__all__ = ["VSX_TABLE", "field_cone", "mark_known", "vsx_variables"]

log = logging.getLogger(__name__)

#: VizieR's identifier of the VSX table.
VSX_TABLE = "B/vsx/vsx"
_SOURCE = "VSX"
_COLUMNS = ("Name", "Type", "max", "min", "n_max", "Period")


def _standard(raw: Table) -> Table:
    """VizieR's VSX rows as ``name, ra, dec, type, max, min, band, period`` (days)."""
    out = Table()
    ra = "_RAJ2000" if "_RAJ2000" in raw.colnames else "RAJ2000"
    dec = "_DEJ2000" if "_DEJ2000" in raw.colnames else "DEJ2000"
    out["name"] = [str(v).strip() for v in raw["Name"]] if len(raw) else np.zeros(0, str)
    out["ra"] = np.asarray(raw[ra], dtype=float)
    out["dec"] = np.asarray(raw[dec], dtype=float)

    def col(name: str, kind: str):
        if name not in raw.colnames:
            return np.full(len(raw), np.nan if kind == "f" else "")
        values = raw[name]
        if kind == "f":
            return np.asarray(np.ma.filled(np.ma.asarray(values, dtype=float), np.nan), float)
        return np.array([str(v).strip() if v is not np.ma.masked else "" for v in values])

    out["type"] = col("Type", "s")
    out["max"] = col("max", "f")
    out["min"] = col("min", "f")
    out["band"] = col("n_max", "s")
    out["period"] = col("Period", "f")
    out["ra"].unit = out["dec"].unit = "deg"
    out["period"].unit = "d"
    out.meta["source"] = _SOURCE
    return out


def vsx_variables(
    ra: float,
    dec: float,
    radius: float,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    offline: bool = False,
    server: str = "vizier.cds.unistra.fr",
    timeout: float = SERVICE_TIMEOUT_S,
) -> Table:
    """The VSX variables within ``radius`` degrees of (``ra``, ``dec``).

    A cached answer covering the field is used first (any age); otherwise
    VizieR is asked and the answer cached.

    Returns
    -------
    Table
        ``name``, ``ra``, ``dec`` (deg), ``type``, ``max``, ``min``, ``band``
        (of the magnitudes), ``period`` (days, NaN when none).

    Raises
    ------
    CatalogError
        When VizieR cannot answer and nothing is cached (offline: nothing cached).
    """
    cone = Cone(float(ra) % 360.0, float(dec), float(radius))
    cache = CatalogCache(cache_dir)
    cached = cache.get(_SOURCE, cone)
    if cached is not None:
        return cached.table
    if offline:
        raise CatalogError(f"VSX: no cached answer for this field and offline ({cone})")
    from astroquery.vizier import Vizier

    viz = Vizier(
        columns=["_RAJ2000", "_DEJ2000", *_COLUMNS],
        catalog=VSX_TABLE,
        timeout=timeout,
        vizier_server=server,
        row_limit=-1,
    )
    centre = SkyCoord(cone.ra * u.deg, cone.dec * u.deg, frame="icrs")
    try:
        # Caching is ours (the catalogue cache), not astroquery's.
        response = viz.query_region_async(
            centre, radius=cone.radius * u.deg, frame="icrs", cache=False
        )
        response.raise_for_status()
    except Exception as exc:  # requests and astroquery errors alike
        raise CatalogError(f"VSX: VizieR query failed: {_describe(exc)}") from exc
    raw = _read_votable(response.content, VSX_TABLE, _SOURCE)
    if raw is None:  # VizieR found no variable there
        raw = Table({"Name": np.zeros(0, str), "_RAJ2000": np.zeros(0), "_DEJ2000": np.zeros(0)})
    table = _standard(raw)
    try:
        cache.put(_SOURCE, cone, table)
    except OSError as exc:  # a cache that cannot be written loses only the cache
        log.warning("VSX answer not cached: %s", exc)
    return table


def mark_known(
    ra: np.ndarray, dec: np.ndarray, vsx: Table, radius_arcsec: float = 5.0
) -> tuple[list[str], np.ndarray]:
    """The VSX variable at each star (nearest within ``radius_arcsec``).

    Returns
    -------
    names : list of str
        Per star, ``'NAME (TYPE)'`` or '' where VSX has none.
    index : ndarray of int
        Per star, the row of ``vsx`` (-1 for none).
    """
    ra = np.asarray(ra, float)
    dec = np.asarray(dec, float)
    names = [""] * len(ra)
    index = np.full(len(ra), -1, dtype=int)
    if len(vsx) == 0 or len(ra) == 0:
        return names, index
    vra = np.asarray(vsx["ra"], float)
    vdec = np.asarray(vsx["dec"], float)
    for j in np.flatnonzero(np.isfinite(ra) & np.isfinite(dec)):
        sep = angular_separation_deg(ra[j], dec[j], vra, vdec) * 3600.0
        k = int(np.argmin(sep))
        if sep[k] <= radius_arcsec:
            index[j] = k
            kind = str(vsx["type"][k]).strip()
            names[j] = f"{vsx['name'][k]} ({kind})" if kind else str(vsx["name"][k])
    return names, index


def field_cone(
    ra: np.ndarray, dec: np.ndarray, margin_deg: float = 0.01
) -> tuple[float, float, float]:
    """Centre and radius (deg) of a cone holding every star at (``ra``, ``dec``)."""
    ok = np.isfinite(ra) & np.isfinite(dec)
    if not ok.any():
        raise ValueError("no star has a sky position: solve the frames first")
    r0 = float(np.degrees(np.arctan2(np.mean(np.sin(np.radians(ra[ok]))),
                                     np.mean(np.cos(np.radians(ra[ok])))))) % 360.0  # fmt: skip
    d0 = float(np.median(dec[ok]))
    radius = float(np.max(angular_separation_deg(r0, d0, ra[ok], dec[ok]))) + margin_deg
    return r0, d0, radius
