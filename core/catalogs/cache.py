"""A disk cache of catalog answers, keyed by catalog and cone, with their age.

A field already fetched is never fetched again: a request is served from any
cached answer of the same catalog whose cone contains the requested one (and
went at least as faint). Offline, a cached answer is used whatever its age; the
age is returned so the GUI can show it.

Layout: ``<root>/<catalog slug>/<ra>_<dec>_r<radius>_m<limit>.ecsv``, the cone
being encoded in the name so that no separate index can go out of step with the
files. Tables are stored at the catalog's own epoch, before proper motion.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from astropy.table import Table

from ..io.fitsio import atomic_write_ecsv
from .base import Cone, select_cone

__all__ = ["CatalogCache", "CachedAnswer", "default_cache_dir"]

log = logging.getLogger(__name__)

_NAME = re.compile(
    r"^(?P<ra>[0-9.]+)_(?P<dec>[-+][0-9.]+)_r(?P<r>[0-9.]+)_m(?P<m>all|[-+]?[0-9.]+)\.ecsv$"
)


def default_cache_dir() -> Path:
    """``$FLUXION_CACHE_DIR`` or ``$XDG_CACHE_HOME/fluxion/catalogs`` (``~/.cache``)."""
    env = os.environ.get("FLUXION_CACHE_DIR")
    if env:
        return Path(env) / "catalogs"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fluxion" / "catalogs"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_") or "catalog"


@dataclass(frozen=True)
class CachedAnswer:
    """A cached catalog answer cut to the requested cone."""

    table: Table
    age_seconds: float
    path: Path
    cone: Cone


class CatalogCache:
    """Catalog answers on disk.

    Parameters
    ----------
    root : path, optional
        Folder of the cache; :func:`default_cache_dir` when None.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def _entries(self, source: str) -> list[tuple[Cone, Path]]:
        folder = self.root / _slug(source)
        if not folder.is_dir():
            return []
        out = []
        for p in folder.glob("*.ecsv"):
            m = _NAME.match(p.name)
            if not m:
                continue
            mag = None if m["m"] == "all" else float(m["m"])
            try:
                cone = Cone(float(m["ra"]), float(m["dec"]), float(m["r"]), mag)
            except ValueError:
                continue
            out.append((cone, p))
        return out

    def get(self, source: str, cone: Cone) -> CachedAnswer | None:
        """The cached answer of ``source`` covering ``cone``, youngest first; None if none."""
        best: tuple[float, Cone, Path] | None = None
        now = time.time()
        for cached, path in self._entries(source):
            if not cached.contains(cone):
                continue
            try:
                age = max(now - path.stat().st_mtime, 0.0)
            except OSError:
                continue
            if best is None or age < best[0]:
                best = (age, cached, path)
        if best is None:
            return None
        age, cached, path = best
        try:
            table = Table.read(path, format="ascii.ecsv")
        except Exception as exc:  # a damaged cache file is dropped, never fatal
            log.warning("cache file %s unreadable (%s); ignoring it", path, exc)
            return None
        return CachedAnswer(select_cone(table, cone), age, path, cached)

    def put(self, source: str, cone: Cone, table: Table) -> Path:
        """Store ``table`` as the answer of ``source`` for ``cone`` (atomically)."""
        folder = self.root / _slug(source)
        folder.mkdir(parents=True, exist_ok=True)
        mag = "all" if cone.mag_limit is None else f"{cone.mag_limit:.2f}"
        # The centre is rounded to 1e-5 deg in the name; the radius is rounded down by
        # more than that, so the stored cone never claims more sky than it holds.
        radius = max(int(cone.radius * 1e5) / 1e5 - 2e-5, 1e-5)
        name = f"{cone.ra:.5f}_{cone.dec:+.5f}_r{radius:.5f}_m{mag}.ecsv"
        path = folder / name
        return atomic_write_ecsv(path, table)

    def clear(self, source: str | None = None) -> int:
        """Remove cached answers (of one catalog, or all); returns how many."""
        n = 0
        sources = [source] if source else [p.name for p in self.root.glob("*") if p.is_dir()]
        for s in sources:
            for _, path in self._entries(s):
                path.unlink(missing_ok=True)
                n += 1
        return n
