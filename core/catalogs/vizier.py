"""Reference catalogs served by VizieR, through astroquery.vizier.

Positions are taken from VizieR's computed ``_RAJ2000``/``_DEJ2000`` columns:
VizieR moves every catalog to J2000 itself (with proper motion where the
catalog has it), so all catalogs arrive at one epoch and our own proper-motion
step (:func:`~fluxion.core.catalogs.base.apply_proper_motion`) starts from 2000.0
for all of them. (They are FK5 J2000, which differs from ICRS by under 25 mas:
far below what plate solving or photometry can see.)
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io.votable import parse as parse_votable
from astropy.table import Table

from ..runtime.network import SERVICE_TIMEOUT_S, network_failure
from .base import CatalogError, CatalogSource, Cone, select_cone, standard_table
from .local import position_error_columns

__all__ = ["VizierSpec", "VIZIER_CATALOGS", "VizierCatalog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VizierSpec:
    """How one VizieR table maps onto the catalog schema.

    Parameters
    ----------
    name : str
        Name shown to the user and used as cache key.
    table : str
        VizieR table identifier, e.g. ``"II/336/apass9"``.
    bands : dict
        ``band -> (magnitude column, error column)``.
    mag_band : str
        Band the magnitude limit is applied to (server side).
    pm : tuple of str, optional
        Proper-motion columns (mas/yr, RA one with cos(dec)).
    extra : tuple of str
        Identifier columns kept as they are.
    """

    name: str
    table: str
    bands: dict[str, tuple[str, str | None]]
    mag_band: str
    pm: tuple[str, str] | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)


def _e(col: str) -> tuple[str, str]:
    return col, f"e_{col}"


VIZIER_CATALOGS: dict[str, VizierSpec] = {
    s.name: s
    for s in (
        VizierSpec(
            "APASS DR9",
            "II/336/apass9",
            {
                "B": _e("Bmag"),
                "V": _e("Vmag"),
                "g": _e("g'mag"),
                "r": _e("r'mag"),
                "i": _e("i'mag"),
            },
            "V",
        ),
        VizierSpec(
            "Pan-STARRS DR1",
            "II/349/ps1",
            {b: _e(f"{b}mag") for b in "grizy"},
            "r",
            extra=("objID",),
        ),
        VizierSpec(
            "SDSS DR16",
            "V/154/sdss16",
            {b: _e(f"{b}mag") for b in "ugriz"},
            "r",
            extra=("objID",),
        ),
        VizierSpec(
            "ATLAS-RefCat2",
            "J/ApJ/867/105/refcat2",
            {
                **{b: _e(f"{b}mag") for b in "griz"},
                "G": _e("Gmag"),
                "BP": _e("BPmag"),
                "RP": _e("RPmag"),
                "J": _e("Jmag"),
                "H": _e("Hmag"),
                "K": _e("Kmag"),
            },
            "r",
            pm=("pmRA", "pmDE"),
        ),
        VizierSpec(
            "2MASS",
            "II/246/out",
            {"J": _e("Jmag"), "H": _e("Hmag"), "K": _e("Kmag")},
            "J",
            extra=("2MASS",),
        ),
        VizierSpec(
            "Gaia DR3 synthetic photometry",
            "I/360/syntphot",
            {
                **{b: _e(f"{b}mag") for b in "UBVRI"},
                **{f"{b}_sdss": _e(f"{b}mag") for b in "ugriz"},
            },
            "V",
            extra=("Source",),
        ),
        VizierSpec(
            "Gaia DR3",
            "I/355/gaiadr3",
            {"G": _e("Gmag"), "BP": _e("BPmag"), "RP": _e("RPmag")},
            "G",
            pm=("pmRA", "pmDE"),
            extra=("Source",),
        ),
    )
}


class VizierCatalog(CatalogSource):
    """A cone search on one VizieR table.

    Parameters
    ----------
    spec : VizierSpec or str
        The table to query, or the name of one of :data:`VIZIER_CATALOGS`.
    server : str
        VizieR mirror host (astroquery's ``vizier_server``); tests point it at
        a local replay server.
    timeout : float
        Seconds before the request is given up.
    row_limit : int
        Most rows fetched; the brightest are kept when the server sorts them.
    """

    online = True

    def __init__(
        self,
        spec: VizierSpec | str,
        *,
        server: str = "vizier.cds.unistra.fr",
        timeout: float = SERVICE_TIMEOUT_S,
        row_limit: int = 20000,
    ) -> None:
        if isinstance(spec, str):
            try:
                spec = VIZIER_CATALOGS[spec]
            except KeyError:
                raise ValueError(
                    f"unknown VizieR catalog {spec!r}; known: {', '.join(VIZIER_CATALOGS)}"
                ) from None
        self.spec = spec
        self.name = spec.name
        self.server = server
        self.timeout = float(timeout)
        self.row_limit = int(row_limit)

    def query(self, cone: Cone) -> Table:
        """Stars in ``cone`` from VizieR, in the catalog schema."""
        from astroquery.vizier import Vizier

        spec = self.spec
        mag_col = spec.bands[spec.mag_band][0]
        filters = {} if cone.mag_limit is None else {mag_col: f"<{cone.mag_limit:g}"}
        viz = Vizier(
            columns=["*", "_RAJ2000", "_DEJ2000"],
            column_filters=filters,
            catalog=spec.table,
            timeout=self.timeout,
            vizier_server=self.server,
            row_limit=self.row_limit,
        )
        centre = SkyCoord(cone.ra * u.deg, cone.dec * u.deg, frame="icrs")
        try:
            # Caching is ours (fluxion.core.catalogs.cache), not astroquery's.
            response = viz.query_region_async(
                centre, radius=cone.radius * u.deg, frame="icrs", cache=False
            )
            response.raise_for_status()
        except Exception as exc:  # requests and astroquery errors alike
            failure = network_failure(exc)
            why = f"VizieR {failure.text}" if failure else f"VizieR query failed: {_describe(exc)}"
            raise CatalogError(f"{self.name}: {why}", service=self.name, failure=failure) from exc
        raw = _read_votable(response.content, spec.table, self.name)
        if raw is None:
            log.info("%s: VizieR returned no rows for %s", self.name, cone)
            raw = Table({"_RAJ2000": np.zeros(0), "_DEJ2000": np.zeros(0)})
        out = standard_table(
            raw,
            source=self.name,
            ra="_RAJ2000",
            dec="_DEJ2000",
            bands=spec.bands,
            pm_ra=spec.pm[0] if spec.pm else None,
            pm_dec=spec.pm[1] if spec.pm else None,
            epoch=2000.0,
            mag_band=spec.mag_band,
            extra=spec.extra,
            # VizieR columns carry units (APASS e_RAJ2000 in arcsec, Gaia e_RA_ICRS in mas).
            pos_err=position_error_columns(raw.colnames),
            # APASS's e_RAJ2000 is one night's scatter (see catalogs.local).
            pos_err_nobs="nobs" if spec.table.startswith("II/336") else None,
        )
        return select_cone(out, cone)


def _read_votable(content: bytes, name: str, source: str) -> Table | None:
    """The reply's table for ``name``; None when VizieR found no rows.

    The VOTable is parsed here rather than by astroquery so that VizieR's own
    error reports (``INFO name="Error"``, ``QUERY_STATUS=ERROR``), which
    astroquery turns into an empty result, reach the user as errors.
    """
    if not content.lstrip().startswith(b"<"):
        head = content[:80].decode("utf-8", errors="replace").strip()
        raise CatalogError(f"{source}: VizieR sent something that is not a VOTable: {head!r}")
    try:
        vot = parse_votable(io.BytesIO(content), verify="ignore")
    except Exception as exc:
        raise CatalogError(f"{source}: malformed VizieR reply ({exc})") from exc
    infos = list(vot.infos)
    for res in vot.resources:
        infos.extend(res.infos)
    errors = [
        str(i.value).strip()
        for i in infos
        if i.name == "Error" or (i.name == "QUERY_STATUS" and i.value == "ERROR")
    ]
    errors = [e for e in errors if e and e != "ERROR"]
    tables = list(vot.iter_tables())
    if errors and not tables:
        raise CatalogError(f"{source}: VizieR reports an error: {errors[0]}")
    if not tables:
        return None
    chosen = next((t for t in tables if t.name == name), None)
    if chosen is None:
        chosen = next((t for t in tables if (t.name or "").startswith(name)), tables[0])
    try:
        return chosen.to_table(use_names_over_ids=True)
    except Exception as exc:
        raise CatalogError(f"{source}: malformed VizieR table ({exc})") from exc


def _describe(exc: Exception) -> str:
    """One line naming a failure that is not the network's."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'malformed reply'}"
