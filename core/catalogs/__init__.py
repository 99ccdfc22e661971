"""Reference star catalogs: one cone-search interface, many sources, a disk cache.

>>> from fluxion.core.catalogs import Cone, CatalogChain, CatalogCache, VizierCatalog
>>> chain = CatalogChain([VizierCatalog("Gaia DR3")], cache=CatalogCache())
>>> answer = chain.query(Cone(135.6, 49.8, 0.3, mag_limit=16, epoch=2018.3))  # doctest: +SKIP

Every source returns an astropy Table in the schema described in
:mod:`fluxion.core.catalogs.base` (ra, dec, pm_ra, pm_dec, epoch, magnitudes and
errors in named bands).
"""

from .base import (
    CatalogError,
    CatalogSource,
    Cone,
    angular_separation_deg,
    apply_proper_motion,
    select_cone,
    standard_table,
)
from .cache import CachedAnswer, CatalogCache, default_cache_dir
from .chain import CatalogAnswer, CatalogChain
from .gaia import GaiaArchiveCatalog
from .index_files import IndexFileCatalog, find_index_files
from .local import LocalCatalog, normalise_table, read_catalog_file
from .vizier import VIZIER_CATALOGS, VizierCatalog, VizierSpec

__all__ = [
    "CatalogError",
    "CatalogSource",
    "Cone",
    "angular_separation_deg",
    "apply_proper_motion",
    "select_cone",
    "standard_table",
    "CachedAnswer",
    "CatalogCache",
    "default_cache_dir",
    "CatalogAnswer",
    "CatalogChain",
    "GaiaArchiveCatalog",
    "IndexFileCatalog",
    "find_index_files",
    "LocalCatalog",
    "normalise_table",
    "read_catalog_file",
    "VIZIER_CATALOGS",
    "VizierCatalog",
    "VizierSpec",
    "catalog_by_name",
    "CATALOG_NAMES",
]

CATALOG_NAMES = (*VIZIER_CATALOGS, GaiaArchiveCatalog.name, IndexFileCatalog.name)


def catalog_by_name(name: str) -> CatalogSource:
    """A source from its user-facing name, or a local catalog from a file path."""
    if name in VIZIER_CATALOGS:
        return VizierCatalog(name)
    if name == GaiaArchiveCatalog.name or name.lower() in ("gaia", "gaia archive"):
        return GaiaArchiveCatalog()
    if name == IndexFileCatalog.name or name.lower() in ("index", "index files"):
        return IndexFileCatalog()
    from pathlib import Path

    if Path(name).exists():
        return LocalCatalog(name)
    lowered = {k.lower(): k for k in VIZIER_CATALOGS}
    for key, real in lowered.items():
        if key.startswith(name.lower()):
            return VizierCatalog(real)
    raise CatalogError(
        f"unknown catalog {name!r}: give a file (ECSV/FITS/CSV) or one of "
        + ", ".join(CATALOG_NAMES)
    )
